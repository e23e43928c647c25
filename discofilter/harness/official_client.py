"""The official ``kubernetes`` Python client as a benchmark watcher, in its own process.

Run as ``python -m discofilter.harness.official_client --url URL --kinds pods,... --out FILE``.
Each kind gets a thread doing what a controller written with the official client does: LIST,
then ``watch.Watch().stream(list_xxx_for_all_namespaces, resource_version=...,
allow_watch_bookmarks=True)`` with full model deserialization (the client's default — its real
cost), relisting when the stream raises 410.

Why a separate process: the client deserializes every event into generated model classes
(1.6 ms per 7.8 KB pod event on the CI box); in the harness's process that would hold the GIL
and distort the latency the aiohttp watchers measure. ``time.monotonic`` is CLOCK_MONOTONIC,
shared by every process on the host, so receive times still join with the direct watcher's.

Protocol with the harness: one JSON progress line per 0.5 s on stdout
(``{"max_rv": {kind: int}, "events": {kind: int}}``, events without bookmarks); on a ``stop``
line (or EOF) on stdin it stops, writes ``{kind: {t, type, namespace, rv, nbytes, state,
counters}}`` to ``--out`` and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from discofilter.harness.list_calls import bind_list_calls
from discofilter.model import rv_int
from discofilter.watchclient import EventLog

# 0.5 s: fast enough for a 1 s progress display, cheap enough to be noise.
PROGRESS_INTERVAL_S = 0.5


def _list_funcs(api_client: Any) -> dict[str, Callable[..., Any]]:
    from kubernetes import client

    return bind_list_calls(client, api_client)


class OfficialWatcher:
    """LIST + official ``Watch.stream`` for one kind, in a thread."""

    def __init__(self, func: Callable[..., Any], kind: str, watch_timeout_s: int = 300) -> None:
        self.func = func
        self.kind = kind
        self.watch_timeout_s = watch_timeout_s
        self.log = EventLog()
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, str], tuple[str, str]] = {}
        """(namespace, name) -> (uid, resourceVersion); guarded by ``lock``."""
        self.max_rv = -1
        self.events = 0
        """ADDED/MODIFIED/DELETED received (bookmarks excluded: the harness waits for quiet)."""
        self.counters = {"lists": 0, "relists_410": 0, "errors": 0, "stream_ends": 0}
        self.stopping = threading.Event()
        self.watch: Any = None

    def _list(self) -> str:
        items: dict[tuple[str, str], tuple[str, str]] = {}
        cont = None
        while True:
            kw: dict[str, Any] = {"limit": 500, "_preload_content": False}
            if cont:
                kw["_continue"] = cont
            doc = orjson.loads(self.func(**kw).data)
            for obj in doc.get("items") or ():
                m = obj.get("metadata") or {}
                items[(m.get("namespace", ""), m.get("name", ""))] = (
                    m.get("uid", ""),
                    m.get("resourceVersion", ""),
                )
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                rv = str((doc.get("metadata") or {}).get("resourceVersion", ""))
                break
        with self.lock:
            self.cache = items
        self.counters["lists"] += 1
        self.max_rv = max(self.max_rv, rv_int(rv))
        return rv

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        rv = ""
        need_list = True
        while not self.stopping.is_set():
            try:
                if need_list:
                    rv = self._list()
                    need_list = False
                self.watch = watch.Watch()
                for ev in self.watch.stream(
                    self.func,
                    resource_version=rv,
                    allow_watch_bookmarks=True,
                    timeout_seconds=self.watch_timeout_s,
                ):
                    now = time.monotonic()
                    raw = ev["raw_object"]
                    m = raw.get("metadata") or {}
                    ev_rv = m.get("resourceVersion", "")
                    ns = m.get("namespace", "")
                    # The client hides the wire bytes; re-encoding compactly is within a few % of
                    # what a compact JSON upstream sent.
                    self.log.append(now, ev["type"], ns, ev_rv, len(orjson.dumps(raw)) + 30)
                    if ev["type"] != "BOOKMARK":
                        self.events += 1
                    with self.lock:
                        if ev["type"] == "DELETED":
                            self.cache.pop((ns, m.get("name", "")), None)
                        elif ev["type"] != "BOOKMARK":
                            self.cache[(ns, m.get("name", ""))] = (m.get("uid", ""), ev_rv)
                    if ev_rv:
                        rv = ev_rv
                        self.max_rv = max(self.max_rv, rv_int(ev_rv))
                    if self.stopping.is_set():
                        break
                self.counters["stream_ends"] += 1
            except ApiException as e:
                if e.status == 410:
                    self.counters["relists_410"] += 1
                    need_list = True
                else:
                    self.counters["errors"] += 1
                    self.stopping.wait(0.2)
            except Exception:
                self.counters["errors"] += 1
                self.stopping.wait(0.2)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            state = [[k[0], k[1], v[0], v[1]] for k, v in self.cache.items()]
        return {
            "t": self.log.t,
            "type": self.log.type,
            "namespace": self.log.namespace,
            "rv": self.log.rv,
            "nbytes": self.log.nbytes,
            "state": state,
            "counters": self.counters,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="discofilter.harness.official_client")
    p.add_argument("--url", required=True)
    p.add_argument("--kinds", default="pods")
    p.add_argument("--out", required=True)
    p.add_argument("--watch-timeout", type=int, default=300)
    a = p.parse_args(argv)

    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = a.url.rstrip("/")
    api = client.ApiClient(cfg)
    funcs = _list_funcs(api)
    watchers = [OfficialWatcher(funcs[k], k, a.watch_timeout) for k in a.kinds.split(",") if k]
    threads = [threading.Thread(target=w.run, daemon=True) for w in watchers]
    for t in threads:
        t.start()

    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not stop.wait(PROGRESS_INTERVAL_S):
        prog = {
            "max_rv": {w.kind: w.max_rv for w in watchers},
            "events": {w.kind: w.events for w in watchers},
        }
        sys.stdout.write(orjson.dumps(prog).decode() + "\n")
        sys.stdout.flush()
    for w in watchers:
        w.stopping.set()
        if w.watch is not None:
            w.watch.stop()
    with open(a.out, "wb") as f:
        f.write(orjson.dumps({w.kind: w.dump() for w in watchers}))
    # Threads may be blocked in a socket read until the next event or timeoutSeconds; they are
    # daemons, and their state is already written.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
