"""Churn made by real controllers: the driver writes only workload objects.

Policy and reasons (docs/istiod-bench.md, "cluster scale"):

* The driver never writes a Pod or an EndpointSlice. It creates Namespaces, Deployments,
  Services, CronJobs and kwok fake Nodes, then churns the workload objects only: Deployment
  rollout restarts (the template annotation `kubectl rollout restart` sets), scale up and back
  down, Services added and removed. kube-controller-manager's ReplicaSet, Job, CronJob and
  EndpointSlice controllers, kube-scheduler and kwok (tests/peers testcluster --controllers)
  turn that into the pod, status and slice writes istiod and discofilter see, with the sizes,
  field managers and interleavings of a real cluster.
* Shape: kube-burner's `cluster-density-v2` (per namespace: Deployments each behind a
  Service, rolled during the run) for the tenants, plus `node-density-churn`'s rhythm (a share
  of the pods replaced every interval) as the rollout rate; CronJobs every minute in batch
  tenants, as the issue asks. Differences from kube-burner: no Routes/Secrets/ConfigMaps
  (istiod does not watch them per tenant), and the rate is ops/s on one seeded schedule, not
  kube-burner's QPS/burst of object creation.
* Determinism: the operation sequence (which namespace, which op, which Deployment, scale
  amounts) is a function of the seed. What the controllers do with it (pod names, pod IPs,
  interleavings) is not, and the benchmark compares modes inside ONE run to make that moot.
* 80-95% of the churn outside the mesh: the namespace of each op is drawn uniformly, and
  `enrolled` namespaces are the first ones, so the share outside is 1 - enrolled/namespaces for
  Deployment and Service ops; CronJobs live only in batch tenants, all outside.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

LABEL = ("istio-injection", "enabled")
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
SCENARIOS = Path(__file__).resolve().parent / "scenarios" / "cluster"
"""Tier documents; a subdirectory because the sim scenarios test loads every scenarios/*.yaml."""
SETUP_WORKERS = 8
"""Concurrent creators at setup: the API server, not one HTTP round trip, should be the limit."""


@dataclass(frozen=True)
class Tier:
    """One scale tier (a bench/scenarios/cluster/*.yaml document)."""

    name: str
    seed: int
    namespaces: int
    enrolled: int
    deployments: int
    """Deployments per namespace, each behind its own Service."""
    replicas: int
    batch_tenants: int
    """Namespaces (outside the mesh) with a CronJob every minute."""
    big_rollout_replicas: int
    """One extra Deployment outside the mesh this size, rolled once mid-churn (0: none)."""
    nodes: int
    max_pods_per_node: int
    churn_seconds: float
    ops_per_second: float
    mix: dict[str, float]
    sidecars: int
    settle_seconds: float

    @property
    def pods(self) -> int:
        return self.namespaces * self.deployments * self.replicas + self.big_rollout_replicas

    @staticmethod
    def load(name_or_path: str) -> Tier:
        path = Path(name_or_path)
        if not path.exists():
            path = SCENARIOS / f"{name_or_path.lower()}.yaml"
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        c = doc["churn"]
        return Tier(
            name=doc["name"],
            seed=int(doc.get("seed", 1)),
            namespaces=int(doc["namespaces"]),
            enrolled=int(doc["enrolled"]),
            deployments=int(doc["deploymentsPerNamespace"]),
            replicas=int(doc["replicas"]),
            batch_tenants=int(doc.get("batchTenants", 0)),
            big_rollout_replicas=int(doc.get("bigRolloutReplicas", 0)),
            nodes=int(doc["nodes"]),
            max_pods_per_node=int(doc.get("maxPodsPerNode", 250)),
            churn_seconds=float(c["seconds"]),
            ops_per_second=float(c["opsPerSecond"]),
            mix={k: float(v) for k, v in c["mix"].items()},
            sidecars=int(doc.get("sidecarsPerIstiod", 20)),
            settle_seconds=float(doc.get("settleSeconds", 15)),
        )


def ns_name(i: int) -> str:
    return f"t-{i:04d}"


@dataclass
class Counters:
    ops: dict[str, int] = field(default_factory=dict)
    ops_in_mesh: int = 0
    ops_outside: int = 0
    writes: int = 0

    def count(self, op: str, in_mesh: bool, writes: int = 1) -> None:
        self.ops[op] = self.ops.get(op, 0) + 1
        self.writes += writes
        if in_mesh:
            self.ops_in_mesh += 1
        else:
            self.ops_outside += 1


class WorkloadChurn:
    """Sets a tier up and churns it through the workload APIs (sync client, one op at a time)."""

    def __init__(self, kubeconfig: Path, tier: Tier) -> None:
        self.tier = tier
        self.api = k8s_config.new_client_from_config(str(kubeconfig))
        # Setup is concurrent: the client's default pool of 4 connections would serialize it.
        self.api.rest_client.pool_manager.connection_pool_kw["maxsize"] = SETUP_WORKERS * 2
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self.batch = k8s.BatchV1Api(self.api)
        self.rand = random.Random(tier.seed)
        self.namespaces = [ns_name(i) for i in range(tier.namespaces)]
        self.enrolled = set(self.namespaces[: tier.enrolled])
        self.replicas: dict[tuple[str, str], int] = {}
        self.extra_services: list[tuple[str, str]] = []
        self.counters = Counters()
        self._extra_seq = 0
        self._cuts = self._cumulative(tier.mix)

    @staticmethod
    def _cumulative(mix: dict[str, float]) -> list[tuple[float, str]]:
        total = sum(mix.values())
        acc, out = 0.0, []
        for op in ("rollout", "scale", "service"):
            acc += mix.get(op, 0.0) / total
            out.append((acc, op))
        return out

    # ------------------------------------------------------------ setup

    def setup(self, progress: Callable[[str], None]) -> None:
        t = self.tier
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="istio-system")))
        self._parallel(self._create_node, [f"kwok-{i:03d}" for i in range(t.nodes)])
        progress(f"{t.nodes} kwok nodes")
        self._parallel(self._create_tenant, self.namespaces)
        progress(f"{t.namespaces} namespaces x {t.deployments} Deployments+Services")
        batch = self.namespaces[len(self.namespaces) - t.batch_tenants :]
        self._parallel(self._create_cronjob, batch)
        if t.big_rollout_replicas:
            ns = self.namespaces[-1]
            self._create_deployment(ns, "big", t.big_rollout_replicas)
            self._create_service(ns, "big", "big")
        progress(f"{len(batch)} CronJobs (every minute)")

    def _parallel(self, fn: Callable[[str], None], items: list[str]) -> None:
        with ThreadPoolExecutor(SETUP_WORKERS) as pool:
            for _ in pool.map(fn, items):  # re-raises the first failure
                pass

    def _create_node(self, name: str) -> None:
        pods = str(self.tier.max_pods_per_node)
        cap = {"cpu": "1000", "memory": "4Ti", "pods": pods}
        node = k8s.V1Node(
            metadata=k8s.V1ObjectMeta(
                name=name, annotations=KWOK_ANNOTATION, labels={"type": "kwok"}
            ),
            status=k8s.V1NodeStatus(allocatable=cap, capacity=cap),
        )
        self.core.create_node(node)

    def _create_tenant(self, ns: str) -> None:
        labels = dict([LABEL]) if ns in self.enrolled else {"team": "tenant"}
        meta = k8s.V1ObjectMeta(name=ns, labels=labels)
        self.core.create_namespace(k8s.V1Namespace(metadata=meta))
        for d in range(self.tier.deployments):
            app = f"app-{d}"
            self._create_deployment(ns, app, self.tier.replicas)
            self._create_service(ns, app, app)

    def _pod_template(self, app: str, restart: str = "Always") -> k8s.V1PodTemplateSpec:
        return k8s.V1PodTemplateSpec(
            metadata=k8s.V1ObjectMeta(labels={"app": app}),
            spec=k8s.V1PodSpec(
                containers=[
                    k8s.V1Container(
                        name="web",
                        image="example.invalid/web:1",
                        ports=[k8s.V1ContainerPort(container_port=8080, name="http")],
                    )
                ],
                termination_grace_period_seconds=0,
                restart_policy=restart,
            ),
        )

    def _create_deployment(self, ns: str, app: str, replicas: int) -> None:
        dep = k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name=app, labels={"app": app}),
            spec=k8s.V1DeploymentSpec(
                replicas=replicas,
                selector=k8s.V1LabelSelector(match_labels={"app": app}),
                template=self._pod_template(app),
            ),
        )
        self.apps.create_namespaced_deployment(ns, dep)
        self.replicas[(ns, app)] = replicas

    def _create_service(self, ns: str, name: str, app: str) -> None:
        svc = k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name=name),
            spec=k8s.V1ServiceSpec(
                selector={"app": app},
                ports=[k8s.V1ServicePort(name="http", port=80, target_port=8080)],
            ),
        )
        self.core.create_namespaced_service(ns, svc)

    def _create_cronjob(self, ns: str) -> None:
        template = self._pod_template("batch", restart="Never")
        cj = k8s.V1CronJob(
            metadata=k8s.V1ObjectMeta(name="every-minute"),
            spec=k8s.V1CronJobSpec(
                schedule="* * * * *",
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=1,
                job_template=k8s.V1JobTemplateSpec(
                    spec=k8s.V1JobSpec(
                        template=template, backoff_limit=0, ttl_seconds_after_finished=30
                    )
                ),
            ),
        )
        self.batch.create_namespaced_cron_job(ns, cj)

    # ------------------------------------------------------------ readiness

    def pods_ready(self) -> tuple[int, int]:
        """(ready replicas over all Deployments, desired replicas)."""
        ready = 0
        for page in self._pages(self.apps.list_deployment_for_all_namespaces):
            for d in page["items"]:
                ready += int((d.get("status") or {}).get("readyReplicas") or 0)
        return ready, sum(self.replicas.values())

    def rolled_out(self) -> bool:
        """Every Deployment at its generation with all replicas updated, ready and no extras."""
        for page in self._pages(self.apps.list_deployment_for_all_namespaces):
            for d in page["items"]:
                st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
                if st.get("observedGeneration", 0) < d["metadata"]["generation"]:
                    return False
                counts = (st.get("updatedReplicas"), st.get("readyReplicas"), st.get("replicas"))
                if any(int(c or 0) != want for c in counts):
                    return False
        return True

    def _pages(self, lister: Callable[..., Any], **kw: Any) -> Iterator[dict[str, Any]]:
        import json

        token = None
        while True:
            raw = lister(limit=500, _continue=token, _preload_content=False, **kw)
            doc: dict[str, Any] = json.loads(raw.data)
            yield doc
            token = doc["metadata"].get("continue")
            if not token:
                return

    # ------------------------------------------------------------ churn

    def one_op(self) -> None:
        ns = self.rand.choice(self.namespaces)
        app = f"app-{self.rand.randrange(self.tier.deployments)}"
        r = self.rand.random()
        op = next((name for cut, name in self._cuts if r < cut), "service")
        in_mesh = ns in self.enrolled
        if op == "rollout":
            self._restart(ns, app)
            self.counters.count("deployment-rollout", in_mesh)
        elif op == "scale":
            base = self.tier.replicas
            cur = self.replicas[(ns, app)]
            # Up by 1-3 from the base, or back down to it: the count never drifts.
            new = base if cur != base else base + self.rand.randint(1, 3)
            body = {"spec": {"replicas": new}}
            self.apps.patch_namespaced_deployment_scale(app, ns, body)
            self.replicas[(ns, app)] = new
            self.counters.count("deployment-scale", in_mesh)
        else:
            if self.extra_services and self.rand.random() < 0.5:
                sns, name = self.extra_services.pop(self.rand.randrange(len(self.extra_services)))
                self.core.delete_namespaced_service(name, sns)
                self.counters.count("service-delete", sns in self.enrolled)
            else:
                self._extra_seq += 1
                name = f"extra-{self._extra_seq}"
                self._create_service(ns, name, app)
                self.extra_services.append((ns, name))
                self.counters.count("service-create", in_mesh)

    def _restart(self, ns: str, app: str) -> None:
        stamp = f"{time.time():.3f}"
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        self.apps.patch_namespaced_deployment(app, ns, patch)

    def run(self, progress: Callable[[float, int], None]) -> float:
        """The tier's ops at its rate (paced); the big rollout at half time. Returns seconds."""
        t = self.tier
        start = time.monotonic()
        n = int(t.churn_seconds * t.ops_per_second)
        big_at = n // 2 if t.big_rollout_replicas else -1
        last_report = start
        for k in range(n):
            due = start + k / t.ops_per_second
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the writer, not waiting for an event
            try:
                if k == big_at:
                    self._restart(self.namespaces[-1], "big")
                    self.counters.count("big-rollout", False)
                self.one_op()
            except ApiException as e:
                raise RuntimeError(f"churn op failed: {e.status} {e.reason}: {e.body}") from e
            now = time.monotonic()
            if now - last_report >= 10:
                progress(now - start, k + 1)
                last_report = now
        return time.monotonic() - start
