"""The ``discoverySelectors`` of istiod's mesh config, parsed as istiod parses it (pure).

istiod reads the ``mesh`` key of its ``istio`` (or ``istio-<revision>``) ConfigMap in three
steps, and a value is good only when all three pass:

1. **YAML → JSON** (sigs.k8s.io/yaml, YAML 1.1 like PyYAML: ``yes``/``on`` are booleans; map
   keys that are not strings become their text, ``1`` → ``"1"``). An empty value is ``null``,
   which is the default mesh config: no discoverySelectors.
2. **JSON → MeshConfig proto** (golang/protobuf ``jsonpb``; a strict pass, then one that ignores
   unknown fields): a field may be spelled with its JSON name or its proto name —
   ``discoverySelectors`` or ``discovery_selectors``, the JSON name winning when both appear;
   the LabelSelector's fields are *declared* camelCase in istio.io/api, so ``match_labels`` is
   an unknown field there (ignored: the selector becomes empty and selects everything).
   ``null`` means "not set": a null field is absent, a null string (a label value, a key, an
   operator) is ``""``, a null list item is an empty LabelSelector (every namespace). Unknown
   fields are ignored; a value of the wrong JSON type (a number or boolean where a string
   goes, a mapping where a list goes) fails the whole document.
3. **LabelSelector → labels.Selector** (apimachinery ``LabelSelectorAsSelector``): label keys
   and values must be valid, the operator exactly ``In``/``NotIn``/``Exists``/``DoesNotExist``,
   ``In``/``NotIn`` with values and the others without. istiod logs an invalid selector and
   keeps its previous selectors.

Only ``discoverySelectors`` is checked field by field. A type error in *another* MeshConfig
field (``defaultConfig: 5``) makes istiod reject the whole value, while this parser accepts it.
Every case in ``tests/unit/istio/test_meshconfig.py`` was checked against istiod's own
``mesh.ApplyMeshConfigDefaults`` + ``labelselector.LabelSelectorAsSelector`` at the pinned
istio commit (docs/istio.md, "How the mesh value is read").

An absent and an empty list both mean "every namespace" (Go's ``len(nil) == len([]) == 0``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from discofilter.errors import ConfigError, SelectorError
from discofilter.filter.selectors import SelectorSet, selector_from_label_selector

MESH_KEY = "mesh"
"""The ConfigMap key istiod reads (``pilot-discovery --meshConfig`` mounts the same key)."""

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class MeshConfigError(ConfigError):
    """A mesh config value istiod would not apply (the message says where and why)."""


@dataclass(frozen=True, slots=True)
class MeshConfigRef:
    """Where to read the mesh config: ``configmap:NAMESPACE/NAME`` (key ``mesh``)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"configmap:{self.namespace}/{self.name}"

    @property
    def path(self) -> str:
        """The ConfigMap's API path."""
        return f"/api/v1/namespaces/{self.namespace}/configmaps/{self.name}"


def parse_ref(text: str, where: str = "meshConfigFrom") -> MeshConfigRef:
    """``configmap:istio-system/istio`` (or ``istio-<revision>``) → a ``MeshConfigRef``."""
    kind, sep, rest = text.partition(":")
    if not sep or kind != "configmap":
        raise ConfigError(
            f"{where}: {text!r} must look like configmap:NAMESPACE/NAME "
            "(e.g. configmap:istio-system/istio, or istio-<revision> for a revision)"
        )
    namespace, sep, name = rest.partition("/")
    if not sep or not _DNS1123_LABEL.match(namespace) or len(namespace) > 63:
        raise ConfigError(f"{where}: {namespace!r} is not a valid namespace name")
    if not _DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
        raise ConfigError(f"{where}: {name!r} is not a valid ConfigMap name")
    return MeshConfigRef(namespace, name)


@dataclass(frozen=True, slots=True)
class MeshSelectors:
    """The discoverySelectors of one good mesh value.

    ``selectors`` are the LabelSelectors in the canonical shape of the config file
    (``matchLabels``/``matchExpressions``), ready for ``EnrollmentConfig.discovery_selectors``;
    an empty tuple means every namespace.
    """

    selectors: tuple[Mapping[str, Any], ...]

    def selector_set(self) -> SelectorSet | None:
        if not self.selectors:
            return None
        return SelectorSet(
            tuple(
                selector_from_label_selector(s, f"discoverySelectors[{i}]")
                for i, s in enumerate(self.selectors)
            )
        )


def _json_key(key: Any) -> str:
    """A YAML map key as sigs.k8s.io/yaml writes it into JSON (Go's fmt of the scalar)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _to_json(value: Any) -> Any:
    """Step 1: the YAML tree as the JSON tree istiod decodes (string keys everywhere)."""
    if isinstance(value, Mapping):
        return {_json_key(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _field(obj: Mapping[str, Any], json_name: str, proto_name: str) -> Any:
    """jsonpb's lookup: the proto name, overridden by the JSON name; null is "not set"."""
    value = obj.get(proto_name)
    if json_name in obj:
        value = obj[json_name]
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""  # jsonpb: a null string is the empty string
    if not isinstance(value, str):
        raise MeshConfigError(f"{where}: expected a string, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _label_selector(obj: Any, where: str) -> dict[str, Any]:
    """Step 2 for one ``istio.mesh.v1alpha1.LabelSelector``: the canonical mapping."""
    if obj is None:
        return {}  # jsonpb: a null list item is an empty message, which selects everything
    if not isinstance(obj, Mapping):
        raise MeshConfigError(f"{where}: expected a LabelSelector mapping, got {_json_type(obj)}")
    out: dict[str, Any] = {}
    labels = obj.get("matchLabels")  # declared camelCase: no second spelling
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise MeshConfigError(
                f"{where}.matchLabels: expected a mapping, got {_json_type(labels)}"
            )
        out["matchLabels"] = {
            k: _string(v, f"{where}.matchLabels[{k!r}]") for k, v in labels.items()
        }
    exprs = obj.get("matchExpressions")
    if exprs is not None:
        if not isinstance(exprs, list):
            raise MeshConfigError(
                f"{where}.matchExpressions: expected a list, got {_json_type(exprs)}"
            )
        out["matchExpressions"] = [
            _requirement(e, f"{where}.matchExpressions[{i}]") for i, e in enumerate(exprs)
        ]
    return out


def _requirement(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise MeshConfigError(f"{where}: expected a mapping with key, operator, values")
    out: dict[str, Any] = {}
    for name in ("key", "operator"):
        out[name] = _string(obj.get(name), f"{where}.{name}")
    values = obj.get("values")
    if values is not None:
        if not isinstance(values, list):
            raise MeshConfigError(f"{where}.values: expected a list, got {_json_type(values)}")
        out["values"] = [_string(v, f"{where}.values[{i}]") for i, v in enumerate(values)]
    return out


def parse_mesh(text: str, where: str = MESH_KEY) -> MeshSelectors:
    """The discoverySelectors of a ``mesh`` value; raises ``MeshConfigError`` naming the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise MeshConfigError(f"{where}: not valid YAML: {e}") from e
    doc = _to_json(doc)
    if doc is None:
        return MeshSelectors(())  # an empty value is the default mesh config
    if not isinstance(doc, Mapping):
        raise MeshConfigError(f"{where}: a mesh config is a mapping, not {_json_type(doc)}")
    items = _field(doc, "discoverySelectors", "discovery_selectors")
    if items is None:
        return MeshSelectors(())
    if not isinstance(items, list):
        raise MeshConfigError(
            f"{where}: discoverySelectors: expected a list, got {_json_type(items)}"
        )
    selectors = tuple(
        _label_selector(item, f"{where}: discoverySelectors[{i}]") for i, item in enumerate(items)
    )
    # Step 3: apimachinery's validation, as the config file's discoverySelectors get it.
    for i, sel in enumerate(selectors):
        try:
            selector_from_label_selector(sel, f"{where}: discoverySelectors[{i}]")
        except SelectorError as e:
            here = f"{where}: discoverySelectors[{i}]"
            msg = str(e) if str(e).startswith(here) else f"{here}: {e}"
            raise MeshConfigError(msg) from e
    return MeshSelectors(selectors)
