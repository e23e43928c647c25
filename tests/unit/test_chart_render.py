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

from discofilter.config import load_config_text
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


def render(namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "df", str(CHART), "--namespace", namespace, *KUBE_VERSION]
    for s in sets:
        args += ["--set", s]
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
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},  # the safety list
    ]
    off = by_kind(render("discofilter", "config.safetyList=false"), "ClusterRole")
    assert off["rules"] == role["rules"][:1]
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
