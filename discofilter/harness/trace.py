"""Watch-stream traces: the recorder's format and plain ``kubectl get -w`` output (pure + file I/O).

Two formats are read, autodetected per document (so one file may even mix them):

* the project's recorder format — gzip-compressed JSON lines ``{"ts", "kind", "type", "object"}``,
  ``ts`` in seconds since the epoch;
* ``kubectl get <kind> -A -w --output-watch-events -o json`` — a stream of *concatenated,
  pretty-printed* JSON documents ``{"type", "object"}``, not one per line, without timestamps.
  Events are spaced evenly at ``rate`` events per second. Without ``--output-watch-events``
  kubectl prints bare objects: the first sighting of a key is ADDED, later ones MODIFIED.

Files are read gzip-compressed or plain (by the gzip magic bytes, not the file name).
``ConcatenatedJsonDecoder`` is incremental (``feed``/``flush``) so a trace of any size streams
through it and a document split anywhere across chunks decodes the same.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from discofilter.errors import CodecError

_GZIP_MAGIC = b"\x1f\x8b"
_WS = " \t\r\n"

# Kind (as in an object's "kind") -> the resource's plural short name used across the harness.
KIND_PLURALS = {
    "Pod": "pods",
    "Service": "services",
    "Endpoints": "endpoints",
    "EndpointSlice": "endpointslices",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Namespace": "namespaces",
    "Node": "nodes",
}


def plural(kind: str) -> str:
    """``Pod`` -> ``pods``; unknown kinds lower-cased with an ``s`` (Kubernetes' common rule)."""
    return KIND_PLURALS.get(kind, kind.lower() + "s")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    ts: float
    """Seconds: epoch time for recorded traces, offset from 0 for synthesized spacing."""
    kind: str
    """Plural short name (``pods``)."""
    type: str
    object: dict[str, Any]


class ConcatenatedJsonDecoder:
    """Incremental decoder of concatenated JSON documents (whitespace-separated or not)."""

    def __init__(self) -> None:
        self._buf = ""
        self._dec = json.JSONDecoder()

    def feed(self, text: str) -> list[Any]:
        """Add text; return every document now complete."""
        self._buf += text
        out: list[Any] = []
        # Only try when a closing brace arrived: a document can only end at one, and this keeps
        # re-parsing of a half-received 1 MiB object from going quadratic on small chunks.
        if "}" not in text and "]" not in text:
            return out
        pos = 0
        buf = self._buf
        n = len(buf)
        while True:
            while pos < n and buf[pos] in _WS:
                pos += 1
            if pos >= n:
                break
            try:
                doc, end = self._dec.raw_decode(buf, pos)
            except json.JSONDecodeError:
                break  # incomplete: wait for more text (flush() reports real garbage)
            out.append(doc)
            pos = end
        self._buf = buf[pos:]
        return out

    def flush(self) -> list[Any]:
        """End of input: return a last document, or raise CodecError on leftover bytes."""
        out: list[Any] = []
        rest = self._buf.strip()
        if rest:
            try:
                doc, end = self._dec.raw_decode(rest)
            except json.JSONDecodeError as e:
                raise CodecError(f"trace: truncated or invalid JSON near {rest[:60]!r}") from e
            if rest[end:].strip():
                raise CodecError(f"trace: trailing data {rest[end:][:60]!r}")
            out.append(doc)
        self._buf = ""
        return out


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_documents(path: Path, chunk_chars: int = 1 << 16) -> Iterator[Any]:
    """Every JSON document in ``path`` (gzip or plain, lines or concatenated)."""
    dec = ConcatenatedJsonDecoder()
    with _open_text(path) as f:
        while chunk := f.read(chunk_chars):
            yield from dec.feed(chunk)
    yield from dec.flush()


def events_from_documents(
    docs: Iterator[Any], *, rate: float = 100.0, kind: str | None = None
) -> Iterator[TraceEvent]:
    """Turn decoded documents into TraceEvents (see the module docstring for the rules)."""
    if rate <= 0:
        raise ValueError("rate must be > 0 events/s")
    seen: set[tuple[str, str, str]] = set()
    i = 0
    for doc in docs:
        if not isinstance(doc, dict):
            raise CodecError(f"trace: expected a JSON object, got {type(doc).__name__}")
        if "ts" in doc and "object" in doc:
            obj = doc["object"]
            yield TraceEvent(
                float(doc["ts"]), doc.get("kind") or _kind_of(obj, kind), doc["type"], obj
            )
            continue
        if "type" in doc and isinstance(doc.get("object"), dict):
            obj, type_ = doc["object"], doc["type"]
        elif "metadata" in doc:
            obj = doc
            meta = obj.get("metadata") or {}
            key = (_kind_of(obj, kind), meta.get("namespace", ""), meta.get("name", ""))
            type_ = "MODIFIED" if key in seen else "ADDED"
            seen.add(key)
        else:
            raise CodecError(f"trace: document is neither a watch event nor an object: {doc!r:.80}")
        yield TraceEvent(i / rate, _kind_of(obj, kind), type_, obj)
        i += 1


def _kind_of(obj: dict[str, Any], default: str | None) -> str:
    k = obj.get("kind")
    if k:
        return plural(str(k))
    if default:
        return default
    raise CodecError("trace: object without kind and no --kind given")


def read_trace(path: Path, *, rate: float = 100.0, kind: str | None = None) -> Iterator[TraceEvent]:
    """Events of a trace file in file order."""
    return events_from_documents(iter_documents(path), rate=rate, kind=kind)


class TraceWriter:
    """Writes the recorder format: gzip JSON lines ``{"ts", "kind", "type", "object"}``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = gzip.open(path, "wb", compresslevel=6)  # noqa: SIM115 - closed by close()
        self.count = 0

    def write(self, ts: float, kind: str, type_: str, obj: dict[str, Any]) -> None:
        line = {"ts": round(ts, 6), "kind": kind, "type": type_, "object": obj}
        self._f.write(orjson.dumps(line) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
