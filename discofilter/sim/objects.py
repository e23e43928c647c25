"""Object factories: realistic Kubernetes objects, as kube-apiserver would serve them (pure).

Why realistic: the proxy's costs scale with bytes and nesting, so benchmark objects must look
like production ones. A pod here is ~6 KB of JSON (``objectSizes.podBytes`` pads it to an exact
target): managedFields from two managers, owner references, an app container with probes and
resources, and in mesh namespaces the istio-proxy sidecar, the istio-init container, the
``sidecar.istio.io/status`` annotation and Istio's labels; status carries the five standard
conditions, containerStatuses, hostIP(s) and podIP(s). EndpointSlices carry real endpoint
structure (addresses, conditions, nodeName, targetRef, zone) and named ports.

Factories return fresh dicts without uid/resourceVersion/creationTimestamp: the store stamps
those. Identity-dependent fields (IPs, node names) come from the ``index`` argument, so one
seed gives the same cluster every time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from discofilter.sim.pod_parts import (
    MF_TIME,
    app_container,
    conditions,
    container_status,
    istio_init,
    istio_proxy,
    managed_fields,
)

Obj = dict[str, Any]

PADDING_ANNOTATION = "sim.discofilter.io/padding"
GROUP_LABEL = "sim.discofilter.io/group"
"""Label on every scenario namespace naming its namespace group (how churn finds its groups)."""

_SIDECAR_STATUS = orjson.dumps(
    {
        "initContainers": ["istio-init"],
        "containers": ["istio-proxy"],
        "volumes": [
            "workload-socket",
            "credential-socket",
            "workload-certs",
            "istio-envoy",
            "istio-data",
            "istio-podinfo",
            "istio-token",
            "istiod-ca-cert",
        ],
        "imagePullSecrets": None,
        "revision": "default",
    }
).decode()


def ip_of(index: int, base: int = 10) -> str:
    """A deterministic IPv4 address in ``base``.0.0.0/8 for object number ``index``."""
    return f"{base}.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255 or 1}"


def node_name(index: int) -> str:
    return f"node-{index:05d}"


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": {}, "status": {}}


def node(index: int) -> Obj:
    name = node_name(index)
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m5.2xlarge",
                "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}",
            },
        },
        "spec": {"podCIDR": f"10.{128 + (index >> 8) % 128}.{index & 255}.0/24"},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7910m", "memory": "31Gi", "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": MF_TIME,
                    "lastTransitionTime": MF_TIME,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip_of(index, 172)},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.0",
                "containerRuntimeVersion": "containerd://1.7.20",
                "osImage": "Ubuntu 22.04.4 LTS",
                "kernelVersion": "6.5.0-1024-aws",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


def pod(
    name: str,
    namespace: str,
    index: int,
    *,
    mesh: bool,
    app: str = "app",
    nodes: int = 1,
    target_bytes: int = 0,
) -> Obj:
    """A running Deployment-owned pod; ``target_bytes`` pads its JSON to about that size.

    Constant subtrees (containers, volumes, managedFields, conditions...) are shared between
    pods of the same app: stored objects are immutable, and sharing is what lets 150k pods fit
    in ~1 GB instead of ~15 GB of Python dicts. Only metadata, and the top level of spec and
    status, are per pod.
    """
    tpl = _pod_template(mesh, app, target_bytes)
    host_index = index % max(1, nodes)
    ip = ip_of(index)
    host_ip = ip_of(host_index, 172)
    meta: Obj = {"name": name, "generateName": name.rsplit("-", 1)[0] + "-", "namespace": namespace}
    meta.update(tpl["metadata"])
    spec = dict(tpl["spec"])
    spec["nodeName"] = node_name(host_index)
    status = dict(tpl["status"])
    status.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}], podIP=ip, podIPs=[{"ip": ip}])
    return {"metadata": meta, "spec": spec, "status": status}


@cache
def _pod_template(mesh: bool, app: str, target_bytes: int) -> Obj:
    labels = {"app": app, "pod-template-hash": "7d9c6b5f48"}
    annotations: dict[str, str] = {}
    containers = [app_container(app)]
    init: list[Obj] = []
    volumes: list[Obj] = [
        {
            "name": "kube-api-access",
            "projected": {
                "defaultMode": 420,
                "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}],
            },
        }
    ]
    statuses = [container_status(app, containers[0]["image"], True, 0)]
    if mesh:
        labels.update(
            {
                "security.istio.io/tlsMode": "istio",
                "service.istio.io/canonical-name": app,
                "service.istio.io/canonical-revision": "latest",
            }
        )
        annotations.update(
            {
                "sidecar.istio.io/status": _SIDECAR_STATUS,
                "kubectl.kubernetes.io/default-container": app,
                "istio.io/rev": "default",
            }
        )
        containers.append(istio_proxy())
        init.append(istio_init())
        volumes += [
            {"name": v, "emptyDir": {}}
            for v in (
                "workload-socket",
                "credential-socket",
                "workload-certs",
                "istio-envoy",
                "istio-data",
            )
        ]
        statuses.append(container_status("istio-proxy", "docker.io/istio/proxyv2:1.23.0", True, 0))
    spec: Obj = {
        "volumes": volumes,
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "nodeName": node_name(0),
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if init:
        spec["initContainers"] = init
    meta: Obj = {
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"{app}-7d9c6b5f48",
                "uid": "0b6f3c1e-5d1a-4a8e-9f2b-3c4d5e6f7a8b",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": managed_fields(mesh),
    }
    if annotations:
        meta["annotations"] = annotations
    tpl: Obj = {
        "metadata": meta,
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": conditions(True),
            "hostIP": ip_of(0, 172),
            "hostIPs": [{"ip": ip_of(0, 172)}],
            "podIP": ip_of(0),
            "podIPs": [{"ip": ip_of(0)}],
            "startTime": MF_TIME,
            "containerStatuses": statuses,
            "qosClass": "Burstable",
        },
    }
    if target_bytes:
        sample = dict(
            tpl, metadata=dict(meta, name=f"{app}-7d9c6b5f48-xxxxx", namespace="namespace-0000")
        )
        pad(sample, target_bytes)
        if "annotations" in sample["metadata"]:
            meta["annotations"] = sample["metadata"]["annotations"]
    return tpl


def pad(obj: Obj, target_bytes: int) -> None:
    """Grow ``obj``'s JSON to ~``target_bytes`` with a padding annotation (no-op if larger)."""
    # 200 bytes of slack for the fields the store adds (uid, resourceVersion, timestamps).
    missing = target_bytes - len(orjson.dumps(obj)) - 200
    if missing > 40:
        meta = obj["metadata"]
        meta.setdefault("annotations", {})[PADDING_ANNOTATION] = "x" * (missing - 40)


def service(name: str, namespace: str, index: int, app: str = "app") -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": app},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090},
            ],
            "clusterIP": ip_of(index, 100),
            "clusterIPs": [ip_of(index, 100)],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


def _targets(namespace: str, pods: list[tuple[str, int]], nodes: int) -> list[Obj]:
    return [
        {
            "ip": ip_of(i),
            "nodeName": node_name(i % max(1, nodes)),
            "targetRef": {
                "kind": "Pod",
                "namespace": namespace,
                "name": p,
                "uid": f"00000000-0000-4000-8000-{i:012d}",
            },
        }
        for p, i in pods
    ]


def endpoints(name: str, namespace: str, pods: list[tuple[str, int]], nodes: int = 1) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "subsets": [
            {
                "addresses": _targets(namespace, pods, nodes),
                "ports": [
                    {"name": "http", "port": 8080, "protocol": "TCP"},
                    {"name": "metrics", "port": 9090, "protocol": "TCP"},
                ],
            }
        ]
        if pods
        else [],
    }


def endpointslice(
    service_name: str, namespace: str, suffix: str, pods: list[tuple[str, int]], nodes: int = 1
) -> Obj:
    eps = []
    for t in _targets(namespace, pods, nodes):
        eps.append(
            {
                "addresses": [t["ip"]],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": t["nodeName"],
                "targetRef": t["targetRef"],
                "zone": "zone-a",
            }
        )
    return {
        "metadata": {
            "name": f"{service_name}-{suffix}",
            "namespace": namespace,
            "generateName": f"{service_name}-",
            "labels": {
                "kubernetes.io/service-name": service_name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": service_name,
                    "uid": "5e6f7a8b-0b6f-4c1e-8d1a-4a8e9f2b3c4d",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 8080},
            {"name": "metrics", "protocol": "TCP", "port": 9090},
        ],
    }


def configmap(name: str, namespace: str, size: int = 512) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "data": {"config.yaml": "# generated by discofilter sim\n" + "k: v\n" * max(0, size // 5)},
    }


def secret(name: str, namespace: str, size: int = 256) -> Obj:
    import base64

    return {
        "metadata": {"name": name, "namespace": namespace},
        "data": {"token": base64.b64encode(b"s" * max(1, size)).decode()},
        "type": "Opaque",
    }
