"""Kubernetes Events about an object a source refused (``kubectl describe`` shows them).

One Warning Event per distinct refusal: its name is ``<object>.<hash of uid, resourceVersion
and reason>``, so a refusal seen again (a relist, a second worker, a restart) POSTs the same name
and gets ``409 AlreadyExists``, which counts as done. Posting is best effort: a failure (no RBAC
for ``events``, the API server away) is logged once per refusal and never blocks the source.
The message is capped at 1 KiB (the API server accepts more, ``kubectl describe`` shows a line).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

import orjson

from discofilter.errors import UpstreamError
from discofilter.upstream.client import Upstream

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
COMPONENT = "discofilter"


def event_body(obj: dict[str, Any], reason: str, message: str, now: datetime) -> dict[str, Any]:
    """The core/v1 Event about ``obj`` (a decoded object with kind/apiVersion/metadata)."""
    meta = obj.get("metadata") or {}
    uid, rv = str(meta.get("uid", "")), str(meta.get("resourceVersion", ""))
    digest = hashlib.sha256(f"{uid}\0{rv}\0{reason}\0{message}".encode()).hexdigest()[:16]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    instance = os.environ.get("POD_NAME") or socket.gethostname()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta.get('name', 'object')}.{digest}",
            "namespace": meta.get("namespace", ""),
        },
        "involvedObject": {
            "apiVersion": obj.get("apiVersion", "v1"),
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": uid,
            "resourceVersion": rv,
        },
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": "Warning",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Posts Events with the proxy's own identity (needs ``create`` on ``events``)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.posted = 0
        """Events the API server accepted or already had (tests and /metrics)."""

    async def warn(self, obj: dict[str, Any], reason: str, message: str) -> bool:
        body = event_body(obj, reason, message, datetime.now(UTC))
        ns = body["metadata"]["namespace"]
        try:
            resp = await self.upstream.request(
                "POST", f"/api/v1/namespaces/{ns}/events",
                {"Content-Type": "application/json", "Accept": "application/json"},
                orjson.dumps(body), own=True, decompress=True,
            )  # fmt: skip
            try:
                text = await resp.read()
            finally:
                resp.release()
        except UpstreamError as e:
            log.warning("cannot post a Kubernetes Event", extra={"reason": reason, "error": str(e)})
            return False
        if resp.status in (200, 201, 409):
            self.posted += 1
            return True
        log.warning(
            "the API server refused a Kubernetes Event",
            extra={
                "reason": reason,
                "status": resp.status,
                "body": text[:200].decode("utf-8", "replace"),
            },
        )
        return False
