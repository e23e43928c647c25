"""Candidate selector sets for a dry-run, from flags or YAML text (pure: the CLI reads files).

Shared by ``discofilter selectors explain`` (``explain.command.selectors_from_file`` reads the
file) and the gRPC ``ExplainSelectors`` call. Accepted shapes, so an SRE can point the
dry-run at whatever file they already have:

* ``--selector`` strings in kubectl syntax, each one OR-term (as ``discofilter serve --selector``);
* a discofilter config file: top-level ``discoverySelectors`` (Istio's meshConfig shape);
* an Istio values/IstioOperator-style file: ``meshConfig.discoverySelectors`` (also under
  ``spec.meshConfig`` or ``values.meshConfig``);
* the ``mesh`` text of Istio's ``istio`` ConfigMap (a YAML document with ``discoverySelectors``);
* a bare YAML/JSON list of LabelSelectors.

A file with no ``discoverySelectors`` at all means "every namespace" (Istio semantics), returned
as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from discofilter.errors import ConfigError, SelectorError
from discofilter.filter.selectors import (
    Selector,
    SelectorSet,
    parse_label_selector,
    selector_from_label_selector,
)

_MISSING = object()


def from_strings(selectors: Sequence[str]) -> SelectorSet:
    """OR-terms in kubectl syntax."""
    return SelectorSet(tuple(parse_label_selector(s) for s in selectors))


def from_discovery_selectors(items: Any, where: str = "discoverySelectors") -> SelectorSet:
    """A list of metav1.LabelSelector mappings."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise SelectorError(f"{where} must be a list of LabelSelectors")
    out: list[Selector] = []
    for i, item in enumerate(items):
        out.append(selector_from_label_selector(item, f"{where}[{i}]"))
    return SelectorSet(tuple(out))


def _find_discovery_selectors(doc: Any) -> Any:
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, Mapping):
        return _MISSING
    if "discoverySelectors" in doc:
        return doc["discoverySelectors"]
    for path in (("meshConfig",), ("spec", "meshConfig"), ("values", "meshConfig")):
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and "discoverySelectors" in node:
            return node["discoverySelectors"]
    # Istio's `istio` ConfigMap (whole object, or just its data) carries meshConfig as text.
    data = doc.get("data")
    mesh = data.get("mesh") if isinstance(data, Mapping) else doc.get("mesh")
    if isinstance(mesh, str):
        return _find_discovery_selectors(yaml.safe_load(mesh))
    return _MISSING


def from_yaml_text(text: str, where: str = "selectors") -> SelectorSet | None:
    """Parse any accepted shape; None when it sets no discoverySelectors (= all namespaces)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from e
    found = _find_discovery_selectors(doc)
    if found is _MISSING or found is None:
        return None
    return from_discovery_selectors(found, f"{where}: discoverySelectors")


def combine(
    strings: Sequence[str] = (), file_sets: Sequence[SelectorSet | None] = ()
) -> SelectorSet | None:
    """OR together ``--selector`` strings and file sets; a file meaning "all" makes it all.

    Returns None (all namespaces) only when a file says so; with no input at all it returns an
    empty set, which callers must treat as "no candidate given".
    """
    terms: list[Selector] = list(from_strings(strings).selectors)
    for s in file_sets:
        if s is None:
            return None
        terms.extend(s.selectors)
    return SelectorSet(tuple(terms))
