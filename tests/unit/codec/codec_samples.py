"""Realistic Kubernetes objects for codec tests and the micro-benchmark (no I/O)."""

from __future__ import annotations

from typing import Any

import orjson


def make_pod(namespace: str, name: str, rv: str = "1000", uid: str | None = None) -> dict[str, Any]:
    """A pod shaped like a real kube-apiserver answer (~6.5 KB as JSON, managedFields included)."""
    uid = uid or f"uid-{namespace}-{name}"
    labels = {"app": name.rsplit("-", 2)[0], "pod-template-hash": "5d8f7c9b6d", "tier": "backend"}
    container = {
        "name": "app",
        "image": "registry.example.com/team/app:v1.2.3",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": f"VAR_{i}", "value": f"value-{i}-" + "x" * 20} for i in range(45)],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    managed = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-05-01T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}},
                "f:spec": {
                    "f:containers": {'k:{"name":"app"}': {f"f:env{i}": {} for i in range(42)}}
                },
            },
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-05-01T10:00:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {f"f:c{i}": {} for i in range(60)}},
            "subresource": "status",
        },
    ]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "generateName": name.rsplit("-", 1)[0] + "-",
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": rv,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T09:59:00Z"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": name.rsplit("-", 1)[0],
                    "uid": "0b8f4c4e-8e6f-4d7c-9a0e-2f1e3d4c5b6a",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": managed,
        },
        "spec": {
            "containers": [container],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": "node-17.example.internal",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2024-05-01T10:00:05Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": "10.0.17.4",
            "podIP": "10.244.17.33",
            "podIPs": [{"ip": "10.244.17.33"}],
            "startTime": "2024-05-01T10:00:00Z",
            "containerStatuses": [
                {
                    "name": "app",
                    "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}},
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.example.com/team/app:v1.2.3",
                    "imageID": "registry.example.com/team/app@sha256:" + "ab" * 32,
                    "containerID": "containerd://" + "cd" * 32,
                    "started": True,
                }
            ],
            "qosClass": "Burstable",
        },
    }


def json_event(type_: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


def bookmark(rv: str, initial_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta}


def table_event(type_: str, namespace: str, name: str, rv: str, columns: bool) -> bytes:
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "rows": [
            {
                "cells": [name, "1/1", "Running", 0, "5m"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
                },
            }
        ],
    }
    if columns:
        table["columnDefinitions"] = [
            {"name": n, "type": "string", "format": "", "description": "", "priority": 0}
            for n in ("Name", "Ready", "Status", "Restarts", "Age")
        ]
    return json_event(type_, table)
