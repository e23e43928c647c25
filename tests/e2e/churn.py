"""Churn created through the real API with the `kubernetes` client: namespaces with and without
the enrollment label, pods, services and EndpointSlices (no controller runs, so the tests create
EndpointSlices themselves), relabels both ways, updates and deletes.
"""

from __future__ import annotations

from kubernetes import client as k8s

LABEL_KEY, LABEL_VALUE = "istio-injection", "enabled"


def make_namespace(api: k8s.ApiClient, name: str, *, enrolled: bool) -> None:
    labels = {LABEL_KEY: LABEL_VALUE} if enrolled else {"team": "batch"}
    k8s.CoreV1Api(api).create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels))
    )


def set_enrolled(api: k8s.ApiClient, name: str, enrolled: bool) -> None:
    # A JSON merge patch: null removes the label.
    patch = {"metadata": {"labels": {LABEL_KEY: LABEL_VALUE if enrolled else None}}}
    k8s.CoreV1Api(api).patch_namespace(name, patch)


def make_workload(api: k8s.ApiClient, ns: str, app: str, pods: int) -> None:
    core = k8s.CoreV1Api(api)
    for i in range(pods):
        core.create_namespaced_pod(
            ns,
            k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name=f"{app}-{i}", labels={"app": app}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="example/app:1")]),
            ),
        )
    core.create_namespaced_service(
        ns,
        k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name=app),
            spec=k8s.V1ServiceSpec(selector={"app": app}, ports=[k8s.V1ServicePort(port=80)]),
        ),
    )
    k8s.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        ns,
        k8s.V1EndpointSlice(
            metadata=k8s.V1ObjectMeta(name=f"{app}-x1", labels={"kubernetes.io/service-name": app}),
            address_type="IPv4",
            endpoints=[k8s.V1Endpoint(addresses=[f"10.1.0.{i + 1}"]) for i in range(pods)],
            ports=[k8s.DiscoveryV1EndpointPort(port=80, protocol="TCP")],
        ),
    )


def touch_pods(api: k8s.ApiClient, ns: str, app: str, pods: int, generation: int) -> None:
    core = k8s.CoreV1Api(api)
    for i in range(pods):
        core.patch_namespaced_pod(
            f"{app}-{i}", ns, {"metadata": {"annotations": {"gen": str(generation)}}}
        )


def delete_pod(api: k8s.ApiClient, ns: str, name: str) -> None:
    k8s.CoreV1Api(api).delete_namespaced_pod(name, ns, grace_period_seconds=0)
