"""The HTTP admin app: ``/metrics``, ``/healthz``, ``/readyz``, ``/debug/enrollment``.

The server mounts it on its own admin listener (default 127.0.0.1:9090), never on the proxy
port: a Kubernetes client must not be able to reach ``/metrics`` by accident, and the proxy port
forwards every path to kube-apiserver (which has its own ``/healthz``).

* ``/healthz`` — liveness: 200 while the event loop answers. It never checks the upstream, so an
  API-server outage does not make the kubelet restart every proxy at once.
* ``/readyz`` — readiness: 200 iff the upstream is reachable and the namespace informer has
  synced (before that, filtered answers could wrongly omit namespaces: contract 1); 503
  otherwise. Like kube-apiserver, ``?verbose`` lists each check as ``[+]name ok`` /
  ``[-]name failed``.
* ``/metrics`` — Prometheus text format from the proxy's own registry.
* ``/debug/enrollment`` — JSON: selectors in effect and every namespace with its labels, whether
  it is enrolled and the term that matched, and its recent churn. ``?enrolled=true|false``
  filters; ``?scope=NAME`` shows that scope's view (``scope`` in the answer; an unknown scope
  is a 404).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from discofilter.admin.sources import source_json
from discofilter.admin.state import AdminState
from discofilter.metrics import Metrics

STATE_KEY = web.AppKey("discofilter_admin_state", AdminState)
METRICS_KEY = web.AppKey("discofilter_metrics", Metrics)


async def _metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS_KEY]
    resp = web.Response(body=m.exposition())
    # Set verbatim: aiohttp's content_type setter would drop the version/charset parameters.
    resp.headers["Content-Type"] = m.content_type
    return resp


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[STATE_KEY].readiness()
    checks = (
        ("upstream", ready.upstream_reachable),
        ("namespaces-synced", ready.namespaces_synced),
    )
    ok = ready.ready
    if "verbose" in request.query:
        lines = [
            f"[{'+' if passed else '-'}]{name} {'ok' if passed else 'failed'}"
            for name, passed in checks
        ]
        if not ok and ready.detail:
            lines.append(f"reason: {ready.detail}")
        lines.append("readyz check passed" if ok else "readyz check failed")
        text = "\n".join(lines) + "\n"
    else:
        text = "ok" if ok else f"not ready: {ready.detail or 'checks failed'}"
    return web.Response(text=text, status=200 if ok else 503)


def _bool_query(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise web.HTTPBadRequest(text=f"enrolled must be true or false, not {value!r}")


async def _debug_enrollment(request: web.Request) -> web.Response:
    name = request.query.get("scope", "")
    state = request.app[STATE_KEY].scoped(name)
    if state is None:
        raise web.HTTPNotFound(text=f"no scope named {name[:63]!r}\n")
    want = _bool_query(request.query.get("enrolled"))
    info = state.info()
    churn = state.churn()
    namespaces = state.namespaces()
    body: dict[str, Any] = {
        "scope": name,
        "selectors": list(info.selectors),
        "selectAll": state.selector_set() is None,
        "selectorsSource": source_json(info.selectors_source),
        "alwaysEnrolled": sorted(info.always_enrolled),
        "synced": state.readiness().namespaces_synced,
        "total": len(namespaces),
        "enrolled": sum(1 for ns in namespaces if ns.enrolled),
        "namespaces": [
            {
                "name": ns.name,
                "enrolled": ns.enrolled,
                "matchingTerm": ns.matching_term,
                "labels": dict(ns.labels),
                "churnPerSecond": round(churn.get(ns.name, 0.0), 3),
            }
            for ns in namespaces
            if want is None or ns.enrolled == want
        ],
    }
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_INDENT_2), content_type="application/json"
    )


def make_admin_app(state: AdminState, metrics: Metrics) -> web.Application:
    """The admin application; run it on its own listener (see the module docstring)."""
    app = web.Application()
    app[STATE_KEY] = state
    app[METRICS_KEY] = metrics
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/livez", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/debug/enrollment", _debug_enrollment)
    return app
