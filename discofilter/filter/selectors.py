"""Kubernetes label and field selectors (pure).

Two surface syntaxes share one model:

* the string syntax of ``kubectl -l`` / ``?labelSelector=`` (``a=b,c!=d,e in (x,y),!f,g``);
* the structured ``metav1.LabelSelector`` that Istio's ``discoverySelectors`` uses
  (``matchLabels`` AND ``matchExpressions`` with In/NotIn/Exists/DoesNotExist).

Both parse into a ``Selector``: a tuple of ``Requirement`` that must all hold (AND). A
``SelectorSet`` ORs several selectors, which is exactly Istio's discoverySelectors semantics.

Semantics follow k8s.io/apimachinery/pkg/labels:
* ``!=`` and ``notin`` match objects that lack the key;
* ``gt``/``lt`` need the key and an integer value;
* an empty Selector matches everything; an empty SelectorSet matches nothing (Istio treats an
  *absent* discoverySelectors as "all namespaces"; callers decide which they mean).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from discofilter.errors import SelectorError

# Operators, spelled as in apimachinery's selection package.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS1123_SUBDOMAIN_RE = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def validate_label_key(key: str) -> None:
    """Raise SelectorError unless ``key`` is a qualified name (optional DNS prefix + name)."""
    if not key:
        raise SelectorError("label key must not be empty")
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.match(prefix)):
        raise SelectorError(f"invalid label key {key!r}: prefix must be a DNS-1123 subdomain")
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f"invalid label key {key!r}: name part must be at most 63 characters of "
            "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        )


def validate_label_value(value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(
            f"invalid label value {value!r}: at most 63 characters of alphanumerics, "
            "'-', '_' or '.', starting and ending with an alphanumeric"
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_EQUALS, NOT_IN):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels:
                return False
            try:
                have = int(labels[self.key])
            except ValueError:
                return False
            want = int(self.values[0])
            return have > want if op == GREATER_THAN else have < want
        raise AssertionError(f"unknown operator {op}")  # unreachable: parse validates

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({','.join(sorted(self.values))})"
        if op == GREATER_THAN:
            return f"{self.key}>{self.values[0]}"
        if op == LESS_THAN:
            return f"{self.key}<{self.values[0]}"
        return f"{self.key}{op}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class Selector:
    """An AND of requirements. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


@dataclass(frozen=True, slots=True)
class SelectorSet:
    """An OR of selectors (Istio discoverySelectors). The empty set matches nothing."""

    selectors: tuple[Selector, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return any(s.matches(labels) for s in self.selectors)

    def matching_term(self, labels: Mapping[str, str] | None) -> int | None:
        """Index of the first selector that matches, or None."""
        for i, s in enumerate(self.selectors):
            if s.matches(labels):
                return i
        return None


# --- string syntax -------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise SelectorError(f"unexpected character at position {pos} in selector {text!r}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


# Tokens that end a term or start an operator: never a key, and never a value (an empty
# value is legal for equality: "a=" means label a with value "").
_PUNCTUATION = frozenset(("!=", "==", "=", "!", "(", ")", ",", ">", "<"))


class _LabelSelectorParser:
    """A cursor over the tokens of one selector; each method parses one step of the grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def peek(self) -> str | None:
        return None if self.at_end() else self.tokens[self.i]

    def take(self) -> str:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def selector(self) -> Selector:
        reqs: list[Requirement] = []
        while not self.at_end():
            reqs.append(self.requirement())
            self.separator()
        return Selector(tuple(reqs))

    def separator(self) -> None:
        """After a requirement: the end of the text, or one ',' followed by another term."""
        if self.at_end():
            return
        if self.peek() != ",":
            raise SelectorError(f"expected ',' but found {self.peek()!r} in selector {self.text!r}")
        self.i += 1
        if self.at_end():
            raise SelectorError(f"trailing ',' in selector {self.text!r}")

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.i += 1
            if self.at_end():
                raise SelectorError(f"missing key after '!' in selector {self.text!r}")
            key = self.take()
            validate_label_key(key)
            return Requirement(key, DOES_NOT_EXIST)
        key = self.take()
        if key in _PUNCTUATION:
            raise SelectorError(f"expected a label key, found {key!r} in selector {self.text!r}")
        validate_label_key(key)
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, EXISTS)
        self.i += 1
        if op in ("=", "==", "!="):
            value = self.value()
            validate_label_value(value)
            return Requirement(key, op, (value,))
        if op in (">", "<"):
            return self.comparison(key, op)
        if op in (IN, NOT_IN):
            return self.set_requirement(key, op)
        raise SelectorError(
            f"unexpected {op!r} after key {key!r} in selector {self.text!r}; "
            "expected one of =, ==, !=, in, notin, >, <"
        )

    def value(self) -> str:
        tok = self.peek()
        if tok is None or tok in _PUNCTUATION:
            return ""
        self.i += 1
        return tok

    def comparison(self, key: str, op: str) -> Requirement:
        value = self.value()
        try:
            int(value)
        except ValueError:
            raise SelectorError(
                f"{key}{op}{value}: a '{op}' requirement needs an integer value"
            ) from None
        return Requirement(key, GREATER_THAN if op == ">" else LESS_THAN, (value,))

    def set_requirement(self, key: str, op: str) -> Requirement:
        if self.peek() != "(":
            raise SelectorError(f"expected '(' after {op!r} in selector {self.text!r}")
        self.i += 1
        values = self.value_list()
        for v in values:
            validate_label_value(v)
        if not values:
            raise SelectorError(f"{key} {op} (): the set of values must not be empty")
        return Requirement(key, op, tuple(sorted(set(values))))

    def value_list(self) -> list[str]:
        """The values after '(' up to and including ')'."""
        values: list[str] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise SelectorError(f"missing ')' in selector {self.text!r}")
            self.i += 1
            if tok == ")":
                return values
            if tok == ",":
                # "(a,,b)" and "(,a)" carry an empty value, which is legal
                values.append("")
                continue
            values.append(tok)
            if self.peek() == ",":
                self.i += 1
                if self.peek() == ")":
                    values.append("")


def parse_label_selector(text: str) -> Selector:
    """Parse the kubectl/``labelSelector=`` syntax. Raises SelectorError with the reason."""
    return _LabelSelectorParser(text).selector()


# --- structured metav1.LabelSelector (Istio discoverySelectors) ----------------------------

_STRUCT_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_label_selector(obj: Mapping[str, Any], where: str = "selector") -> Selector:
    """Convert a ``metav1.LabelSelector`` mapping (matchLabels + matchExpressions)."""
    if not isinstance(obj, Mapping):
        raise SelectorError(f"{where}: a LabelSelector must be a mapping, got {type(obj).__name__}")
    unknown = set(obj) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SelectorError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            "a LabelSelector has only matchLabels and matchExpressions"
        )
    reqs: list[Requirement] = []
    match_labels = obj.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError(f"{where}.matchLabels must be a mapping of label to value")
    for k, v in sorted(match_labels.items()):
        if not isinstance(k, str) or not isinstance(v, str):
            raise SelectorError(
                f"{where}.matchLabels: keys and values must be strings ({k!r}: {v!r})"
            )
        validate_label_key(k)
        validate_label_value(v)
        reqs.append(Requirement(k, EQUALS, (v,)))
    exprs = obj.get("matchExpressions") or []
    if not isinstance(exprs, Sequence) or isinstance(exprs, str):
        raise SelectorError(f"{where}.matchExpressions must be a list")
    for idx, expr in enumerate(exprs):
        here = f"{where}.matchExpressions[{idx}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{here} must be a mapping with key, operator and values")
        extra = set(expr) - {"key", "operator", "values"}
        if extra:
            raise SelectorError(f"{here}: unknown field(s) {', '.join(sorted(extra))}")
        key = expr.get("key")
        op_name = expr.get("operator")
        values = expr.get("values") or []
        if not isinstance(key, str):
            raise SelectorError(f"{here}.key must be a string")
        validate_label_key(key)
        if op_name not in _STRUCT_OPS:
            raise SelectorError(
                f"{here}.operator {op_name!r} is not one of In, NotIn, Exists, DoesNotExist"
            )
        if not isinstance(values, Sequence) or isinstance(values, str):
            raise SelectorError(f"{here}.values must be a list of strings")
        op = _STRUCT_OPS[op_name]
        if op in (IN, NOT_IN):
            if not values:
                raise SelectorError(f"{here}: operator {op_name} needs at least one value")
        elif values:
            raise SelectorError(f"{here}: operator {op_name} takes no values")
        for v in values:
            if not isinstance(v, str):
                raise SelectorError(f"{here}.values: {v!r} is not a string")
            validate_label_value(v)
        reqs.append(Requirement(key, op, tuple(sorted(set(values)))))
    return Selector(tuple(reqs))


def selector_set(selectors: Iterable[Selector]) -> SelectorSet:
    return SelectorSet(tuple(selectors))


# --- field selectors -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!=" ("==" is normalised to "=")
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        have = fields.get(self.field, "")
        return have == self.value if self.operator == EQUALS else have != self.value


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self.requirements)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(f"invalid escape sequence in field selector value {value!r}")
            out.append(value[i + 1])
            i += 2
            continue
        if c in ",=":
            raise SelectorError(f"unescaped {c!r} in field selector value {value!r}")
        out.append(c)
        i += 1
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``fieldSelector=`` syntax: comma-separated ``f=v``, ``f==v`` or ``f!=v``."""
    if not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        part = part.strip()
        if not part:
            raise SelectorError(f"empty term in field selector {text!r}")
        for op in ("!=", "==", "="):
            idx = _find_unescaped(part, op)
            if idx >= 0:
                field, value = part[:idx].strip(), part[idx + len(op) :].strip()
                if not field:
                    raise SelectorError(f"missing field name in field selector term {part!r}")
                reqs.append(
                    FieldRequirement(field, NOT_EQUALS if op == "!=" else EQUALS, _unescape(value))
                )
                break
        else:
            raise SelectorError(f"invalid field selector term {part!r}: expected f=v, f==v or f!=v")
    return FieldSelector(tuple(reqs))


def _find_unescaped(text: str, needle: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1
