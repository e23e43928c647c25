"""Kubernetes types with a special JSON form in protobuf, and RFC 3339 time (pure).

``meta.v1.Time`` is RFC 3339 in JSON with second precision (Go's ``time.RFC3339``), and
seconds + nanos in protobuf; ``MicroTime`` keeps six fraction digits in JSON. ``IntOrString``
is a bare number or a string in JSON; ``Quantity`` its canonical string; ``FieldsV1`` the JSON
object whose compact bytes are its protobuf field 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from discofilter.errors import CodecError

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
TIME = _META + "Time"
MICROTIME = _META + "MicroTime"
FIELDSV1 = _META + "FieldsV1"
INTSTR = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$"
)


def parse_time(value: str) -> tuple[int, int]:
    """RFC 3339 → (seconds since epoch, nanos)."""
    m = _RFC3339.match(value)
    if m is None:
        raise CodecError(f"not an RFC 3339 time: {value[:40]!r}")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    except ValueError as e:
        raise CodecError(f"not an RFC 3339 time: {value[:40]!r}") from e
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        dt -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    delta = dt - _EPOCH
    nanos = int((frac or "0").ljust(9, "0"))
    return delta.days * 86400 + delta.seconds, nanos


def format_time(seconds: int, nanos: int = 0, micro: bool = False) -> str:
    """(seconds, nanos) → RFC 3339 as Go writes Time (no fraction) or MicroTime (6 digits)."""
    dt = _EPOCH + timedelta(seconds=seconds)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
