"""``discofilter record``: record timestamped watch streams from any cluster into a trace.

For each kind: LIST (every item written as an ADDED event stamped with the list's arrival time —
the replay's starting state), then WATCH from the list's resourceVersion with bookmarks, writing
each ADDED/MODIFIED/DELETED event with its receive time (epoch seconds). A 410 relists and writes
the list again (the replayer treats ADDED of an existing object as an update); a stream the server
ends is resumed from the newest resourceVersion. BOOKMARKs are not written: they carry no object.

Output: gzip JSON lines ``{"ts", "kind", "type", "object"}`` (see ``trace.py``). Secrets are
recorded only when asked for with ``--kinds`` (they are not in the default set): a trace is a copy
of cluster data and should be treated like one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from discofilter.harness.kubeapi import api_client, list_funcs
from discofilter.harness.trace import TraceWriter

log = logging.getLogger(__name__)

DEFAULT_KINDS = ("pods", "services", "endpointslices", "namespaces")


class _Gone(Exception):
    pass


async def _list(
    func: Callable[..., Awaitable[Any]], kind: str, out: TraceWriter, counts: Counter[str]
) -> str:
    cont: str | None = None
    while True:
        kw: dict[str, Any] = {"limit": 500, "_preload_content": False}
        if cont:
            kw["_continue"] = cont
        resp = await func(**kw)
        doc = orjson.loads(await resp.read())
        now = time.time()
        for obj in doc.get("items") or ():
            out.write(now, kind, "ADDED", obj)
            counts[f"{kind}/LIST"] += 1
        meta = doc.get("metadata") or {}
        cont = meta.get("continue")
        if not cont:
            return str(meta.get("resourceVersion", ""))


async def _watch(
    func: Callable[..., Awaitable[Any]],
    kind: str,
    rv: str,
    out: TraceWriter,
    counts: Counter[str],
) -> str:
    resp = await func(
        watch=True,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=300,
        _preload_content=False,
    )
    buf = bytearray()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(resp.release)
        async for chunk in resp.content.iter_any():
            buf += chunk
            while (nl := buf.find(b"\n")) >= 0:
                line, buf = bytes(buf[:nl]), buf[nl + 1 :]
                if not line.strip():
                    continue
                ev = orjson.loads(line)
                obj = ev.get("object") or {}
                if ev.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    counts[f"{kind}/ERROR"] += 1
                    continue
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = new_rv
                if ev.get("type") == "BOOKMARK":
                    continue
                out.write(time.time(), kind, ev["type"], obj)
                counts[f"{kind}/{ev['type']}"] += 1
    return rv


async def record_kind(
    func: Callable[..., Awaitable[Any]], kind: str, out: TraceWriter, counts: Counter[str]
) -> None:
    """LIST+WATCH one kind into ``out`` until cancelled."""
    need_list = True
    rv = ""
    while True:
        try:
            if need_list:
                rv = await _list(func, kind, out, counts)
                need_list = False
            rv = await _watch(func, kind, rv, out, counts)
        except _Gone:
            counts[f"{kind}/relists"] += 1
            need_list = True
        except asyncio.CancelledError:
            raise
        except Exception as e:
            status = getattr(e, "status", None)
            if status == 410:
                need_list = True
                continue
            log.warning("record %s: %s; retrying in 1 s", kind, e)
            counts[f"{kind}/errors"] += 1
            await asyncio.sleep(1.0)


async def record(
    kubeconfig: str | None,
    context: str | None,
    kinds: list[str],
    duration_s: float,
    out_path: Path,
) -> Counter[str]:
    """Record ``kinds`` for ``duration_s`` seconds into ``out_path``; return per-kind counts."""
    api = await api_client(kubeconfig, context)
    funcs = list_funcs(api)
    unknown = [k for k in kinds if k not in funcs]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; known: {', '.join(sorted(funcs))}")
    counts: Counter[str] = Counter()
    try:
        with TraceWriter(out_path) as out:
            tasks = [asyncio.create_task(record_kind(funcs[k], k, out, counts)) for k in kinds]
            try:
                await asyncio.sleep(duration_s)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await api.close()
    return counts
