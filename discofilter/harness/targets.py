"""The modes a run measures, each one a URL the clients watch through.

    direct            the upstream itself (the reference: "upstream events" are what it sees)
    discofilter       ``discofilter serve`` with churn control (the product as shipped)
    discofilter-nocc  ``discofilter serve`` with churn control off (filtering alone)
    kubectl-proxy     ``kubectl proxy`` (Go), the pass-through reference for a proxy's cost

Every proxy is its own child process, so its CPU seconds and RSS are its own. A mode that cannot
start (kubectl absent, a proxy that fails its readiness check) is *skipped with the reason* in
results.json rather than failing the whole run: the other modes still measured the same churn.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from discofilter.harness.processes import (
    Child,
    free_port,
    python_module_argv,
    spawn,
    wait_http_ready,
    write_kubeconfig,
)

DIRECT = "direct"
DISCOFILTER = "discofilter"
DISCOFILTER_NOCC = "discofilter-nocc"
KUBECTL_PROXY = "kubectl-proxy"
MODES = (DIRECT, DISCOFILTER, DISCOFILTER_NOCC, KUBECTL_PROXY)
FILTERED_MODES = frozenset({DISCOFILTER, DISCOFILTER_NOCC})


# A rule for every resource whose policy does nothing switches coalescing off
# (coalesce.policy: "a matching rule whose policy does nothing switches coalescing off").
CHURN_CONTROL_OFF: dict[str, Any] = {
    "rules": [{"resource": "*", "windowSeconds": 0, "maxEventsPerSecond": 0, "maxHoldSeconds": 0}]
}


@dataclass(slots=True)
class Target:
    mode: str
    url: str = ""
    child: Child | None = None
    status: str = "ok"
    """ok | skipped | failed."""
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        return self.mode in FILTERED_MODES


def proxy_config(
    discovery_selectors: list[dict[str, Any]],
    churn_control: bool,
    always_enrolled: list[str] | None = None,
) -> dict[str, Any]:
    """The ``discofilter serve --config`` document for one mode.

    Selectors go in Istio's ``discoverySelectors`` shape (exactly what the scenario declares), so
    ``In``/``NotIn`` expressions need no translation to the string syntax.
    """
    doc: dict[str, Any] = {"discoverySelectors": discovery_selectors}
    if always_enrolled is not None:
        doc["alwaysEnrolled"] = list(always_enrolled)
    if not churn_control:
        doc["churnControl"] = CHURN_CONTROL_OFF
    return doc


async def start_discofilter(
    mode: str,
    session: aiohttp.ClientSession,
    upstream_url: str,
    discovery_selectors: list[dict[str, Any]],
    work_dir: Path,
    *,
    kubeconfig: str | None = None,
    always_enrolled: list[str] | None = None,
    extra_args: list[str] | None = None,
) -> Target:
    """``discofilter serve`` for ``mode``; ``extra_args`` go on its command line as they are."""
    port = free_port()
    cfg_path = work_dir / f"{mode}.yaml"
    doc = proxy_config(discovery_selectors, mode == DISCOFILTER, always_enrolled)
    cfg_path.write_text(yaml.safe_dump(doc))
    admin_port = free_port()
    args = ["serve", "--listen", f"127.0.0.1:{port}", "--config", str(cfg_path)]
    # The admin listener serves /metrics: the proxy's own count of slow clients it cut off.
    args += ["--admin-listen", f"127.0.0.1:{admin_port}"]
    args += ["--kubeconfig", kubeconfig] if kubeconfig else ["--upstream", upstream_url]
    args += extra_args or []
    child = await spawn(mode, python_module_argv("discofilter", *args))
    extra = {"admin_url": f"http://127.0.0.1:{admin_port}"}
    return await _until_ready(session, Target(mode, f"http://127.0.0.1:{port}", child, extra=extra))


def kubectl_path() -> str | None:
    return shutil.which("kubectl")


async def start_kubectl_proxy(
    session: aiohttp.ClientSession,
    upstream_url: str,
    work_dir: Path,
    *,
    kubeconfig: str | None = None,
) -> Target:
    kubectl = kubectl_path()
    if kubectl is None:
        return Target(KUBECTL_PROXY, status="skipped", reason="kubectl not found on PATH")
    kc = kubeconfig or str(write_kubeconfig(work_dir / "kubeconfig-upstream", upstream_url))
    port = free_port()
    # --accept-hosts/--reject-paths defaults would refuse nothing we send; keep them default.
    argv = [kubectl, "proxy", f"--port={port}", "--address=127.0.0.1", f"--kubeconfig={kc}"]
    child = await spawn(KUBECTL_PROXY, argv)
    return await _until_ready(session, Target(KUBECTL_PROXY, f"http://127.0.0.1:{port}", child))


async def _until_ready(session: aiohttp.ClientSession, t: Target) -> Target:
    """``t`` once its proxy answers a LIST; marked failed (and stopped) if it never does."""
    child = t.child
    if child is None:
        return t
    try:
        await wait_http_ready(session, t.url + "/api/v1/namespaces?limit=1", child)
    except RuntimeError as e:
        await child.stop()
        t.status, t.reason = "failed", str(e)[-500:]
    return t
