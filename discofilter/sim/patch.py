"""PATCH semantics: JSON merge patch, strategic merge patch (the subset kubectl uses), JSON patch.

All three are pure functions from (current object, patch) to a new object; they never mutate
their inputs, because stored objects are shared with the event history.

* JSON merge patch (RFC 7386): maps merge recursively, ``null`` deletes, anything else replaces.
* Strategic merge patch: merge patch, plus lists of objects merged by their patch merge key for
  the lists kubectl apply touches in built-in kinds (containers by ``name``, ports by
  ``containerPort``/``port``, env by ``name``, conditions by ``type``...), ``$patch: delete`` /
  ``$patch: replace`` inside maps, and the ``$setElementOrder/``, ``$retainKeys`` and
  ``$deleteFromPrimitiveList/`` directives (order directives are accepted and ignored: the
  emulator keeps the existing order, then appends new items — what kube-apiserver does when
  the patch lists every element, which kubectl's order directive always does).
  That covers ``kubectl label``, ``annotate``, ``apply`` (client-side) and ``edit``.
* JSON patch (RFC 6902): add, remove, replace, move, copy, test.
"""

from __future__ import annotations

import copy
from typing import Any

# Patch merge keys of list fields in the built-in kinds (from the Go struct tags
# `patchMergeKey`). Lists not named here are replaced wholesale, as kube does for atomic lists.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "tolerations": "key",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
# `ports` merges by containerPort inside containers, by port in a Service spec.
_PORTS_KEYS = ("containerPort", "port")


class PatchError(ValueError):
    """The patch document is malformed or a JSON-patch ``test`` failed."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch (see the module docstring for the subset); returns a new value."""
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target)
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(v, list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, dict):
            merged = _smp_map(cur if isinstance(cur, dict) else {}, v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _smp_list(k, cur if isinstance(cur, list) else [], v)
        else:
            out[k] = v
    if "$retainKeys" in patch and isinstance(patch["$retainKeys"], list):
        keep = set(patch["$retainKeys"])
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        for key in _PORTS_KEYS:
            if all(isinstance(i, dict) and key in i for i in items if i):
                return key
        return None
    return MERGE_KEYS.get(field)


def _smp_list(field: str, target: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, patch) if patch else None
    if key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [i for i in patch if not (isinstance(i, dict) and "$patch" in i)]
        return copy.deepcopy(patch)
    if any(i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if "$patch" not in i]
    out = [i for i in target]
    index = {i.get(key): n for n, i in enumerate(out) if isinstance(i, dict)}
    for item in patch:
        k = item.get(key)
        if item.get("$patch") == "delete":
            if k in index:
                out[index[k]] = None
            continue
        if k in index and out[index[k]] is not None:
            out[index[k]] = _smp_map(out[index[k]], item)
        else:
            index[k] = len(out)
            out.append(_smp_map({}, item))
    return [i for i in out if i is not None]


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch; returns a new value."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            if kind == "move":
                doc, value = _remove(doc, src)
            else:
                value = copy.deepcopy(_get(doc, src))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test operation failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"invalid JSON pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _parent(doc: Any, path: list[str]) -> Any:
    cur = doc
    for part in path[:-1]:
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return cur


def _get(doc: Any, path: list[str]) -> Any:
    if not path:
        return doc
    parent = _parent(doc, path)
    last = path[-1]
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError) as e:
        raise PatchError(f"path /{'/'.join(path)} does not exist") from e


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _parent(doc, path)
    last = path[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, doc
    parent = _parent(doc, path)
    last = path[-1]
    try:
        value = parent.pop(int(last)) if isinstance(parent, list) else parent.pop(last)
    except (KeyError, IndexError, ValueError) as e:
        raise PatchError(f"path /{'/'.join(path)} does not exist") from e
    return doc, value
