"""The parts of a realistic pod: containers (the app's, Istio's sidecar and init), their
statuses, the pod conditions and the managedFields of its two managers (pure; ``objects.pod``
assembles them).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

MF_TIME = "2024-06-01T10:00:00Z"
"""The one timestamp of every generated managedFields entry, condition and start time."""


def _resources(limits: tuple[str, str], requests: tuple[str, str]) -> Obj:
    """A container's ``resources``: (cpu, memory) limits and requests."""
    return {
        "limits": {"cpu": limits[0], "memory": limits[1]},
        "requests": {"cpu": requests[0], "memory": requests[1]},
    }


def _http_probe(path: str, port: int, *, period: int, timeout: int, failures: int) -> Obj:
    """An HTTP readiness probe as the API server returns it (defaults filled in)."""
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def _named(field: str, table: dict[str, str]) -> list[Obj]:
    """A Kubernetes list of named entries (env, volumeMounts) from a name → value table."""
    return [{"name": name, field: value} for name, value in table.items()]


_ISTIO_ENV = {
    "PILOT_CERT_PROVIDER": "istiod",
    "CA_ADDR": "istiod.istio-system.svc:15012",
    "ISTIO_META_CLUSTER_ID": "Kubernetes",
    "ISTIO_META_MESH_ID": "cluster.local",
    "TRUST_DOMAIN": "cluster.local",
}
_ISTIO_MOUNTS = {
    "workload-socket": "/var/run/secrets/workload-spiffe-uds",
    "istiod-ca-cert": "/var/run/secrets/istio",
    "istio-data": "/var/lib/istio/data",
    "istio-envoy": "/etc/istio/proxy",
    "istio-token": "/var/run/secrets/tokens",
    "istio-podinfo": "/etc/istio/pod",
}


def _istio_resources() -> Obj:
    """Istio injects the same resources into its sidecar and its init container (a fresh
    mapping each call: callers mutate the pods they build)."""
    return _resources(limits=("2", "1Gi"), requests=("10m", "40Mi"))


def app_container(app: str) -> Obj:
    return {
        "name": app,
        "image": f"registry.example.com/{app}:v1.42.7",
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": [
            {
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            },
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
            },
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "resources": _resources(limits=("1", "512Mi"), requests=("100m", "128Mi")),
        "readinessProbe": _http_probe("/readyz", 8080, period=10, timeout=1, failures=3),
        "volumeMounts": [
            {
                "name": "kube-api-access",
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            }
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def istio_proxy() -> Obj:
    return {
        "name": "istio-proxy",
        "image": "docker.io/istio/proxyv2:1.23.0",
        "args": [
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning",
            "--log_output_level=default:info",
        ],
        "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
        "env": _named("value", _ISTIO_ENV),
        "resources": _istio_resources(),
        "readinessProbe": _http_probe("/healthz/ready", 15021, period=15, timeout=3, failures=4),
        "volumeMounts": _named("mountPath", _ISTIO_MOUNTS),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "runAsUser": 1337,
        },
    }


def istio_init() -> Obj:
    return {
        "name": "istio-init",
        "image": "docker.io/istio/proxyv2:1.23.0",
        "args": [
            "istio-iptables",
            "-p",
            "15001",
            "-z",
            "15006",
            "-u",
            "1337",
            "-m",
            "REDIRECT",
            "-i",
            "*",
            "-x",
            "",
            "-b",
            "*",
            "-d",
            "15090,15021,15020",
            "--log_output_level=default:info",
        ],
        "resources": _istio_resources(),
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "runAsUser": 0,
        },
    }


def container_status(name: str, image: str, ready: bool, restarts: int) -> Obj:
    return {
        "name": name,
        "state": {"running": {"startedAt": MF_TIME}},
        "lastState": {},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:" + "4f" * 32,
        "containerID": "containerd://" + "ab" * 32,
        "started": True,
    }


def conditions(ready: bool) -> list[Obj]:
    flag = "True" if ready else "False"
    return [
        {
            "type": "PodReadyToStartContainers",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": MF_TIME,
        },
        {
            "type": "Initialized",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": MF_TIME,
        },
        {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": MF_TIME},
        {
            "type": "ContainersReady",
            "status": flag,
            "lastProbeTime": None,
            "lastTransitionTime": MF_TIME,
        },
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": MF_TIME,
        },
    ]


def managed_fields(mesh: bool) -> list[Obj]:
    spec_fields: Obj = {
        "f:metadata": {
            "f:generateName": {},
            "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, 'k:{"uid":"0"}': {}},
        },
        "f:spec": {
            "f:containers": {
                'k:{"name":"app"}': {
                    ".": {},
                    "f:image": {},
                    "f:imagePullPolicy": {},
                    "f:name": {},
                    "f:ports": {},
                    "f:resources": {},
                }
            },
            "f:dnsPolicy": {},
            "f:enableServiceLinks": {},
            "f:restartPolicy": {},
            "f:schedulerName": {},
            "f:securityContext": {},
            "f:terminationGracePeriodSeconds": {},
        },
    }
    if mesh:
        spec_fields["f:metadata"]["f:annotations"] = {
            ".": {},
            "f:sidecar.istio.io/status": {},
            "f:kubectl.kubernetes.io/default-container": {},
        }
    status_fields: Obj = {
        "f:status": {
            "f:conditions": {
                'k:{"type":"ContainersReady"}': {
                    ".": {},
                    "f:lastProbeTime": {},
                    "f:lastTransitionTime": {},
                    "f:status": {},
                    "f:type": {},
                },
                'k:{"type":"Ready"}': {
                    ".": {},
                    "f:lastProbeTime": {},
                    "f:lastTransitionTime": {},
                    "f:status": {},
                    "f:type": {},
                },
            },
            "f:containerStatuses": {},
            "f:hostIP": {},
            "f:hostIPs": {},
            "f:phase": {},
            "f:podIP": {},
            "f:podIPs": {".": {}, 'k:{"ip":"0"}': {".": {}, "f:ip": {}}},
            "f:startTime": {},
        }
    }
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": MF_TIME,
            "fieldsType": "FieldsV1",
            "fieldsV1": spec_fields,
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": MF_TIME,
            "fieldsType": "FieldsV1",
            "fieldsV1": status_fields,
            "subresource": "status",
        },
    ]
