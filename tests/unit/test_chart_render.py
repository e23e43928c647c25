"""Render the chart with a real helm in both modes and validate every object.

helm comes from ``$DISCOFILTER_HELM`` or PATH (the real-peers build provides one); without it
these tests skip. Objects are validated by deserializing them into the official ``kubernetes``
client's models (required fields, types), plus the policy this chart promises.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from discofilter.classify import DEFAULT_NAMESPACED
from discofilter.config import Config, SharedWatchesConfig, load_config_text
from discofilter.config_checks import check_security
from tests.e2e.peers import missing_reason, peer_binary

CHART = Path(__file__).resolve().parents[2] / "charts" / "discofilter"
_PEER_HELM = peer_binary("helm")  # $DISCOFILTER_HELM, else the tests/peers build cache
HELM = str(_PEER_HELM) if _PEER_HELM else shutil.which("helm")

pytestmark = pytest.mark.skipif(
    not HELM, reason=f"no helm: {missing_reason('helm')}; nor is one on PATH"
)

MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}
# CRDs without a model in the kubernetes client: checked for the basics only.
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Certificate"),
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM
    return subprocess.run(
        [HELM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": "/tmp"},
    )


# A helm built without release ldflags assumes Kubernetes v1.20, below the chart's kubeVersion.
KUBE_VERSION = ["--kube-version", "1.30.0"]


def render(
    namespace: str, *sets: str, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``helm template`` with ``--set`` items and, optionally, a values file (``--set`` turns
    a float like 1.5 into a string, which the schema refuses: a values file keeps it a float)."""
    args = ["template", "df", str(CHART), "--namespace", namespace, *KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        if values is not None:
            yaml.safe_dump(values, f)
            f.flush()
            args += ["--values", f.name]
        proc = helm(*args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def validate(objs: list[dict[str, Any]]) -> None:
    api = ApiClient()
    for o in objs:
        key = (o.get("apiVersion"), o.get("kind"))
        assert o["metadata"]["name"], o
        if key in CUSTOM:
            assert o.get("spec"), o
            continue
        assert key in MODELS, f"unexpected object {key}"
        api._ApiClient__deserialize(o, MODELS[key])  # raises on a missing required field


def by_kind(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


BASE_RULES = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},  # the safety list
]
# What the proxy's own shared LIST+WATCHes need (templates/rbac.yaml says why these kinds).
SHARED_RULES = [
    {"apiGroups": [""], "resources": ["pods", "services", "endpoints"],
     "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["list", "watch"]},
    {"apiGroups": ["networking.istio.io", "security.istio.io", "telemetry.istio.io",
                   "extensions.istio.io"], "resources": ["*"], "verbs": ["list", "watch"]},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["*"],
     "verbs": ["list", "watch"]},
]  # fmt: skip


def test_lint_both_modes() -> None:
    assert helm("lint", str(CHART)).returncode == 0
    proc = helm("lint", str(CHART), "--namespace", "istio-system", "--set", "mode=sidecar")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_standalone_renders_valid_least_privilege_objects() -> None:
    objs = render("discofilter", "serviceMonitor.enabled=true")
    validate(objs)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(
        ["ConfigMap", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
         "Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"]
    )  # fmt: skip
    role = by_kind(objs, "ClusterRole")
    assert role["rules"] == BASE_RULES + SHARED_RULES  # shared watches: on by mode
    off = by_kind(
        render("discofilter", "config.safetyList=false", "config.sharedWatches.enabled=false"),
        "ClusterRole",
    )
    assert off["rules"] == BASE_RULES[:1]
    pod = by_kind(objs, "Deployment")["spec"]["template"]["spec"]
    assert not pod.get("hostNetwork")
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and sc["runAsNonRoot"] and sc["runAsUser"] != 0
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc["allowPrivilegeEscalation"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    cm = by_kind(objs, "ConfigMap")
    config = load_config_text(cm["data"]["config.yaml"], "rendered config.yaml")
    check_security(config)
    assert config.server.listen == "0.0.0.0:8443" and not config.server.sidecar
    secret = by_kind(objs, "Secret")
    assert secret["type"] == "kubernetes.io/tls"
    _verify_chain(secret, "df-discofilter.discofilter.svc")


def test_standalone_cert_manager() -> None:
    objs = render(
        "discofilter", "tls.source=certManager", "tls.certManager.issuerRef.name=ca-issuer"
    )
    validate(objs)
    cert = by_kind(objs, "Certificate")
    assert "df-discofilter.discofilter.svc" in cert["spec"]["dnsNames"]
    assert not [o for o in objs if o["kind"] == "Secret"]  # cert-manager writes it


def test_sidecar_renders_istio_kubeconfig_and_istiod_patch() -> None:
    objs = render("istio-system", "mode=sidecar")
    validate(objs)
    assert not [o for o in objs if o["kind"] in ("Deployment", "ClusterRole", "Service")]
    kc_secret = by_kind(objs, "Secret", "istio-kubeconfig")
    kubeconfig = yaml.safe_load(kc_secret["stringData"]["config"])
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:8443"
    user = kubeconfig["users"][0]["user"]
    assert user["tokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    tls = by_kind(objs, "Secret", "df-discofilter-tls")
    assert cluster["certificate-authority-data"] == tls["data"]["ca.crt"]
    _verify_chain(tls, "127.0.0.1")

    patch_cm = by_kind(objs, "ConfigMap", "df-discofilter-istiod")
    values = yaml.safe_load(patch_cm["data"]["istiod-values.yaml"])
    (c,) = values["pilot"]["initContainers"]
    assert c["restartPolicy"] == "Always" and c["startupProbe"]
    patch = yaml.safe_load(patch_cm["data"]["istiod-patch.yaml"])
    assert patch["spec"]["template"]["spec"]["initContainers"][0]["name"] == "discofilter"
    api = ApiClient()
    api._ApiClient__deserialize(c, "V1Container")
    for v in values["pilot"]["volumes"]:
        api._ApiClient__deserialize(v, "V1Volume")
    config = load_config_text(
        by_kind(objs, "ConfigMap", "df-discofilter-config")["data"]["config.yaml"]
    )
    check_security(config)
    assert config.server.listen == "127.0.0.1:8443"


def test_sidecar_non_native_patch_uses_containers() -> None:
    objs = render("istio-system", "mode=sidecar", "sidecar.native=false")
    validate(objs)
    patch_cm = by_kind(objs, "ConfigMap", "df-discofilter-istiod")
    spec = yaml.safe_load(patch_cm["data"]["istiod-patch.yaml"])["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert "restartPolicy" not in c and "initContainers" not in spec
    assert not [p for p in c["ports"] if p["name"] == "https"]  # loopback: nothing to declare


def test_standalone_istio_kubeconfig_points_at_service() -> None:
    objs = render("discofilter", "istioKubeconfig.enabled=true")
    validate(objs)
    secret = by_kind(objs, "Secret", "istio-kubeconfig")
    assert secret["metadata"]["namespace"] == "istio-system"
    kubeconfig = yaml.safe_load(secret["stringData"]["config"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == (
        "https://df-discofilter.discofilter.svc:443"
    )


@pytest.mark.parametrize(
    ("namespace", "sets", "message"),
    [
        ("default", ["mode=sidecar"], "istiod's namespace"),
        ("x", ["tls.source=secret"], "existingSecret"),
        ("x", ["config.server.listen=127.0.0.1:8443"], "must not be loopback"),
        ("x", ["mode=bogus"], "mode"),
        ("x", ["istioKubeconfig.enabled=true", "tls.source=certManager"], "tls.source=generate"),
        ("istio-system", ["mode=sidecar", "config.server.listen=0.0.0.0:8443"], "loopback"),
    ],
)
def test_refuses_broken_combinations(namespace: str, sets: list[str], message: str) -> None:
    args = ["template", "df", str(CHART), "--namespace", namespace, *KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def _verify_chain(secret: dict[str, Any], host: str) -> None:
    """A TLS handshake (in memory) with the Secret's key pair, verified against its ca.crt for
    ``host``: the certificate chains to the CA and names the host (DNS name or IP SAN)."""
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as d:
        crt, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        crt.write_text(data["tls.crt"])
        key.write_text(data["tls.key"])
        server.load_cert_chain(str(crt), str(key))
    client = ssl.create_default_context(cadata=data["ca.crt"])
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=host)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj, out, peer_in in (("c", c, c_out, s_in), ("s", srv, s_out, c_in)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            break
    assert all(done.values()), "TLS handshake did not complete"


def test_mesh_config_from_grants_only_that_configmap() -> None:
    objs = render("discofilter", "config.meshConfigFrom=configmap:istio-system/istio-canary")
    validate(objs)
    role = by_kind(objs, "Role")
    assert role["metadata"]["namespace"] == "istio-system"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["istio-canary"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]  # fmt: skip
    binding = by_kind(objs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "istio-system"
    assert binding["subjects"][0]["namespace"] == "discofilter"
    config = load_config_text(by_kind(objs, "ConfigMap")["data"]["config.yaml"], "config.yaml")
    assert config.enrollment.mesh_config_from == "configmap:istio-system/istio-canary"
    assert "Role" not in {o["kind"] for o in render("discofilter")}


def test_scopes_mesh_config_from_grants_each_configmap() -> None:
    objs = render(
        "discofilter", "config.meshConfigFrom=configmap:istio-system/istio",
        "config.scopes[0].name=team-b",
        "config.scopes[0].meshConfigFrom=configmap:istio-b/istio-b1",
        "config.scopes[1].name=team-c", "config.scopes[1].selectors[0]=mesh=c",
    )  # fmt: skip
    validate(objs)
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Role"}
    assert set(roles) == {"df-discofilter-mesh-config", "df-discofilter-mesh-config-team-b"}
    b = roles["df-discofilter-mesh-config-team-b"]
    assert b["metadata"]["namespace"] == "istio-b"
    assert b["rules"][0]["resourceNames"] == ["istio-b1"]
    binding = by_kind(objs, "RoleBinding", "df-discofilter-mesh-config-team-b")
    assert binding["roleRef"]["name"] == "df-discofilter-mesh-config-team-b"
    config = load_config_text(by_kind(objs, "ConfigMap")["data"]["config.yaml"], "config.yaml")
    assert [(s.name, s.mesh_config_from) for s in config.scopes] == [
        ("team-b", "configmap:istio-b/istio-b1"), ("team-c", None)
    ]  # fmt: skip


OPERATOR = (
    "podMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
)


@pytest.mark.parametrize(("mode", "namespace"), [("standalone", "discofilter"),
                                                  ("sidecar", "istio-system")])  # fmt: skip
def test_operator_conveniences_render_in_both_modes(mode: str, namespace: str) -> None:
    sets = [x for s in (f"mode={mode}", *OPERATOR) for x in ("--set", s)]
    assert helm("lint", str(CHART), "--namespace", namespace, *sets).returncode == 0
    objs = render(namespace, f"mode={mode}", *OPERATOR)
    validate(objs)
    pm = by_kind(objs, "PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "http-admin"
    want = (
        {"app": "istiod"}
        if mode == "sidecar"
        else {"app.kubernetes.io/name": "discofilter", "app.kubernetes.io/instance": "df"}
    )
    assert pm["spec"]["selector"]["matchLabels"] == want
    rule = by_kind(objs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "rules" / "discofilter.rules.yaml").read_text())
    dash = by_kind(objs, "ConfigMap", "df-discofilter-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["discofilter.json"]) == json.loads(
        (CHART / "dashboards" / "discofilter.json").read_text()
    )


def test_remote_access_exposes_only_the_tls_port() -> None:
    objs = render("discofilter", "remoteAccess.enabled=true", "tls.extraDnsNames={df.c2.example}")
    validate(objs)
    svc = by_kind(objs, "Service", "df-discofilter-remote")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert [p["name"] for p in svc["spec"]["ports"]] == ["https"]
    _verify_chain(by_kind(objs, "Secret"), "df.c2.example")  # the remote's name is in the cert
    assert "df-discofilter-remote" not in {
        o["metadata"]["name"] for o in render("discofilter") if o["kind"] == "Service"
    }


def test_pod_env_for_events_and_the_safety_list() -> None:
    def env(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        if kind == "Deployment":
            (c,) = by_kind(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
            return {e["name"]: e for e in c["env"]}
        patch = yaml.safe_load(by_kind(objs, "ConfigMap", "df-discofilter-istiod")["data"][
            "istiod-patch.yaml"])  # fmt: skip
        spec = patch["spec"]["template"]["spec"]
        (c,) = [c for c in spec.get("initContainers", []) + spec.get("containers", [])
                if c["name"] == "discofilter"]  # fmt: skip
        return {e["name"]: e for e in c["env"]}

    standalone = env(render("discofilter"), "Deployment")
    assert standalone["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "DISCOFILTER_ISTIOD_NAMESPACE" not in standalone  # not istiod's namespace
    sidecar = env(render("istio-system", "mode=sidecar"), "patch")
    ns = sidecar["DISCOFILTER_ISTIOD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert ns == "metadata.namespace"


def _config(objs: list[dict[str, Any]]) -> Config:
    cm = by_kind(objs, "ConfigMap", "df-discofilter-config")
    return load_config_text(cm["data"]["config.yaml"], "rendered config.yaml")


def _rules(objs: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The ClusterRole's rules, or None when no ClusterRole is rendered."""
    roles = [o for o in objs if o["kind"] == "ClusterRole"]
    return roles[0]["rules"] if roles else None


@pytest.mark.parametrize(
    ("namespace", "sets", "shared", "rules"),
    [
        # By mode: a standalone proxy is shared by istiod replicas and revisions...
        ("discofilter", [], True, BASE_RULES + SHARED_RULES),
        # ... `--set x=null` deletes the key: still by mode.
        ("discofilter", ["config.sharedWatches.enabled=null"], True, BASE_RULES + SHARED_RULES),
        # ... a sidecar serves one istiod (and runs as istiod's ServiceAccount: no ClusterRole).
        ("istio-system", ["mode=sidecar"], False, None),
        # An explicit value wins over the mode.
        ("discofilter", ["config.sharedWatches.enabled=false"], False, BASE_RULES),
        ("istio-system", ["mode=sidecar", "config.sharedWatches.enabled=true"], True, None),
        # Shared, but the operator manages RBAC.
        ("discofilter", ["rbac.create=false"], True, None),
    ],
    ids=["standalone", "standalone-null", "sidecar", "standalone-off", "sidecar-on", "no-rbac"],
)
def test_shared_watches_by_mode_and_override(
    namespace: str, sets: list[str], shared: bool, rules: list[dict[str, Any]] | None
) -> None:
    objs = render(namespace, *sets)
    validate(objs)
    config = _config(objs)
    check_security(config)
    assert config.shared_watches == SharedWatchesConfig(enabled=shared)
    assert _rules(objs) == rules


def test_shared_watches_values_reach_the_config() -> None:
    shared = {
        "windowEvents": 5000, "windowBytes": 33554432, "watcherFrames": 200,
        "watcherBytes": 1048576, "consistentReadTimeoutSeconds": 1.5, "bookmarkSeconds": 30.0,
        "idleSeconds": 42.5,
    }  # fmt: skip
    objs = render("discofilter", values={"config": {"sharedWatches": shared}})
    assert _config(objs).shared_watches == SharedWatchesConfig(
        enabled=True, window_events=5000, window_bytes=33554432, watcher_frames=200,
        watcher_bytes=1048576, consistent_read_timeout_seconds=1.5, bookmark_seconds=30.0,
        idle_seconds=42.5,
    )  # fmt: skip


def test_shared_rules_read_only_namespaced_kinds() -> None:
    """The shared-watch grant is list+watch only, on kinds the proxy filters (a cluster-scoped
    kind is passed through, never shared: granting it would be privilege for nothing), never
    Secrets or ConfigMaps, and no review rights (reviews go out with the caller's token)."""
    for rule in SHARED_RULES:
        assert rule["verbs"] == ["list", "watch"], rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert resource not in ("secrets", "configmaps"), rule
                if resource != "*":  # custom resources: namespaced per discovery
                    assert (group, resource) in DEFAULT_NAMESPACED, (group, resource)
                else:
                    assert group.endswith((".istio.io", "gateway.networking.k8s.io")), group
    granted = {r for rule in _rules(render("discofilter")) or [] for r in rule["resources"]}
    assert not granted & {"selfsubjectaccessreviews", "subjectaccessreviews", "tokenreviews"}


def test_extra_shared_watch_rules_are_appended() -> None:
    extra = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}
    objs = render(
        "discofilter", "rbac.extraSharedWatchRules[0].apiGroups[0]=",
        "rbac.extraSharedWatchRules[0].resources[0]=configmaps",
        "rbac.extraSharedWatchRules[0].verbs={list,watch}",
    )  # fmt: skip
    validate(objs)
    assert _rules(objs) == BASE_RULES + SHARED_RULES + [extra]


EXTRA_RULE = (
    "rbac.extraSharedWatchRules[0].apiGroups[0]=",
    "rbac.extraSharedWatchRules[0].resources[0]=configmaps",
    "rbac.extraSharedWatchRules[0].verbs[0]=list",
)


@pytest.mark.parametrize(
    ("namespace", "sets", "message"),
    [
        # Rules that would not be rendered are refused, not dropped silently.
        ("istio-system", ["mode=sidecar", *EXTRA_RULE], "rbac.extraSharedWatchRules"),
        ("x", ["config.sharedWatches.enabled=false", *EXTRA_RULE], "rbac.extraSharedWatchRules"),
        ("x", ["rbac.create=false", *EXTRA_RULE], "rbac.extraSharedWatchRules"),
        # The schema: read verbs only, bounds as config.py checks them.
        ("x", [*EXTRA_RULE[:2], "rbac.extraSharedWatchRules[0].verbs[0]=get"], "verbs"),
        ("x", ["config.sharedWatches.windowEvents=0"], "windowEvents"),
        ("x", ["config.sharedWatches.enabled=maybe"], "enabled"),
    ],
)
def test_refuses_shared_watch_mistakes(namespace: str, sets: list[str], message: str) -> None:
    args = ["template", "df", str(CHART), "--namespace", namespace, *KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def render_notes(namespace: str, *sets: str) -> str:
    """NOTES.txt as helm renders it at install. `helm template` skips NOTES.txt, and `helm
    install --dry-run` has no --kube-version for the chart's kubeVersion, so a copy of the chart
    turns the notes into a named template and renders that into a ConfigMap."""
    with tempfile.TemporaryDirectory() as d:
        chart = Path(d) / "discofilter"
        shutil.copytree(CHART, chart)
        notes = chart / "templates" / "NOTES.txt"
        define = '{{- define "test.notes" -}}\n' + notes.read_text() + "\n{{- end -}}\n"
        (chart / "templates" / "_test_notes.tpl").write_text(define)
        notes.unlink()
        (chart / "templates" / "test-notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: test-notes}\n"
            'data: {notes: {{ include "test.notes" . | quote }}}\n'
        )
        args = ["template", "df", str(chart), "--namespace", namespace, *KUBE_VERSION]
        args += ["--show-only", "templates/test-notes.yaml"]
        for s in sets:
            args += ["--set", s]
        proc = helm(*args)
    assert proc.returncode == 0, proc.stderr
    notes_text: str = yaml.safe_load(proc.stdout)["data"]["notes"]
    assert "discofilter" in notes_text and "Metrics:" in notes_text
    return notes_text


def test_notes_say_where_shared_watches_are_pointless_or_need_rbac() -> None:
    pointless = "nothing is shared"
    assert pointless in render_notes(
        "istio-system", "mode=sidecar", "config.sharedWatches.enabled=true"
    )
    sidecar = render_notes("istio-system", "mode=sidecar")
    assert pointless not in sidecar and "Shared watches are on" not in sidecar
    standalone = render_notes("discofilter")
    assert "Shared watches are on" in standalone and "rbac.create=false" not in standalone
    assert "rbac.create=false: grant" in render_notes("discofilter", "rbac.create=false")
    assert "Shared watches are on" not in render_notes(
        "discofilter", "config.sharedWatches.enabled=false"
    )


def test_restart_only_settings_roll_the_pods_and_live_ones_do_not() -> None:
    """``sharedWatches`` (like server, upstream, exemptResources) is read only at start: a
    ``helm upgrade`` that changes it must roll the pods, while a reloadable change (selectors,
    streams) must not restart anything."""

    def checksum(*sets: str) -> str:
        pod = by_kind(render("discofilter", *sets), "Deployment")["spec"]["template"]
        value: str = pod["metadata"]["annotations"]["discofilter.io/restart-config"]
        return value

    base = checksum()
    for live in ("config.selectors[0]=mesh=on", "config.streams.slowClientSeconds=5",
                 "podAnnotations.team=a"):  # fmt: skip
        assert checksum(live) == base, live
    for restart in ("config.sharedWatches.enabled=false", "config.sharedWatches.windowEvents=5",
                    "config.server.workers=2", "config.upstream.caFile=/ca.crt",
                    "config.exemptResources[0]=leases.coordination.k8s.io"):  # fmt: skip
        assert checksum(restart) != base, restart
