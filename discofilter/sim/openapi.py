"""A minimal ``/openapi/v2`` document: just enough for ``kubectl apply`` (pure).

kubectl (1.27-1.33) downloads the OpenAPI v2 document before ``apply``/``create`` to decide how
to validate: when the PATCH operation of the object's group-version-kind lists a
``fieldValidation`` query parameter, it leaves validation to the server (the emulator accepts
and ignores the parameter); without a document it refuses to apply unless ``--validate=false``.
kubectl asks for the protobuf form (gnostic ``openapi.v2.Document``), so that is served here by
a ~20-line wire writer rather than a generated module: the document has only paths, and no
definitions, so kubectl computes its strategic merge patches from its compiled-in types — what
it does for any built-in kind the schema does not describe.

Field numbers are those of gnostic's OpenAPIv2.proto (Document.paths=8, Paths.path=2,
NamedPathItem.name/value=1/2, PathItem.patch=8, Operation.operation_id=5/parameters=8/
vendor_extension=13, ParametersItem.parameter=1, Parameter.non_body_parameter=2,
NonBodyParameter.query_parameter_sub_schema=3, QueryParameterSubSchema.in/name/type=2/4/6,
NamedAny.name/value=1/2, Any.yaml=2).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from discofilter.codec.wire import field_bytes
from discofilter.sim.resources import RESOURCES

PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _field(num: int, payload: bytes | str) -> bytes:
    return field_bytes(num, payload.encode() if isinstance(payload, str) else payload)


def _named_any(name: str, yaml: str) -> bytes:
    return _field(1, name) + _field(2, _field(2, yaml))


def _paths() -> list[tuple[str, str, str, str]]:
    """(path, group, version, kind) of every object URL that accepts PATCH."""
    out = []
    for resource, info in sorted(RESOURCES.items()):
        root = f"/apis/{info.group}/{info.version}" if info.group else "/api/v1"
        ns = "/namespaces/{namespace}" if info.namespaced else ""
        out.append((f"{root}{ns}/{resource}/{{name}}", info.group, info.version, info.kind))
    return out


@cache
def document_protobuf() -> bytes:
    path_items = b""
    for path, group, version, kind in _paths():
        query = _field(2, "query") + _field(4, "fieldValidation") + _field(6, "string")
        param = _field(1, _field(2, _field(3, query)))  # ParametersItem{Parameter{NonBody{Query}}}
        gvk = f'group: "{group}"\nkind: {kind}\nversion: {version}\n'
        op = (
            _field(5, f"patch{kind}")
            + _field(8, param)
            + _field(13, _named_any("x-kubernetes-action", "patch\n"))
            + _field(13, _named_any("x-kubernetes-group-version-kind", gvk))
        )
        path_items += _field(2, _field(1, path) + _field(2, _field(8, op)))
    info = _field(1, "Kubernetes") + _field(2, "v1.31.0")
    return _field(1, "2.0") + _field(2, info) + _field(8, path_items)


def document_json() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, group, version, kind in _paths():
        paths[path] = {
            "patch": {
                "operationId": f"patch{kind}",
                "parameters": [{"in": "query", "name": "fieldValidation", "type": "string"}],
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": group,
                    "kind": kind,
                    "version": version,
                },
            }
        }
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.31.0"}, "paths": paths}
