"""Admin snapshots -> ``discofilter.v1`` protobuf messages (no I/O).

Kept apart from the gRPC servicer so the mapping is tested without a server, and so the servicer
reads as policy (what to answer) rather than field copying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from discofilter._generated.discofilter.v1 import admin_pb2 as pb
from discofilter.admin.state import AdminState, NamespaceView, StreamView
from discofilter.filter.dryrun import Comparison
from discofilter.telemetry.counters import KindCounters
from discofilter.telemetry.decisions import (
    COALESCED,
    EXPIRED,
    FILTERED,
    FORWARDED,
    SYNTHESIZED,
    Decision,
)

ACTION_TO_PB: dict[str, int] = {
    FORWARDED: pb.Decision.FORWARDED,
    FILTERED: pb.Decision.FILTERED,
    COALESCED: pb.Decision.COALESCED,
    SYNTHESIZED: pb.Decision.SYNTHESIZED,
    EXPIRED: pb.Decision.EXPIRED,
}
PB_TO_ACTION: dict[int, str] = {v: k for k, v in ACTION_TO_PB.items()}

M = TypeVar("M", bound=Message)


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def namespace_status(ns: NamespaceView, churn: Mapping[str, float]) -> pb.NamespaceStatus:
    return pb.NamespaceStatus(
        name=ns.name,
        enrolled=ns.enrolled,
        matching_term=ns.matching_term or "",
        labels=dict(ns.labels),
        churn_per_second=churn.get(ns.name, 0.0),
    )


def _copied(message: type[M], source: object, **converted: Any) -> M:
    """A message whose fields are the same-named attributes of ``source``, except those
    ``converted`` gives. A field added to the .proto without a source attribute fails here."""
    fields = {f.name: getattr(source, f.name) for f in message.DESCRIPTOR.fields}
    return message(**(fields | converted))


def stream_status(s: StreamView) -> pb.StreamStatus:
    return _copied(pb.StreamStatus, s, opened_at=timestamp(s.opened_at))


def kind_counters(c: KindCounters) -> pb.KindCounters:
    return _copied(pb.KindCounters, c)


def status_message(state: AdminState, all_namespaces: bool, scope: str = "") -> pb.StatusResponse:
    info = state.info()
    ready = state.readiness()
    namespaces: Sequence[NamespaceView] = state.namespaces()
    churn = state.churn()
    shown = [ns for ns in namespaces if all_namespaces or ns.enrolled]
    return pb.StatusResponse(
        version=info.version,
        scope=scope,
        started_at=timestamp(info.started_at),
        upstream_reachable=ready.upstream_reachable,
        namespaces_synced=ready.namespaces_synced,
        not_ready_reason="" if ready.ready else ready.detail,
        selectors=list(info.selectors),
        select_all=state.selector_set() is None,
        always_enrolled=sorted(info.always_enrolled),
        namespaces=[namespace_status(ns, churn) for ns in shown],
        namespaces_total=len(namespaces),
        namespaces_enrolled=sum(1 for ns in namespaces if ns.enrolled),
        streams=[stream_status(s) for s in state.streams()],
        counters=[kind_counters(c) for c in state.counters()],
        selectors_source=pb.SelectorsSource(
            source=info.selectors_source.source,
            healthy=info.selectors_source.healthy,
            error=info.selectors_source.error,
            resource_version=info.selectors_source.resource_version,
            seen_resource_version=info.selectors_source.seen_resource_version,
        ),
    )


def decision(d: Decision) -> pb.Decision:
    return pb.Decision(
        at=timestamp(d.at),
        stream_id=d.stream_id,
        kind=d.kind,
        namespace=d.namespace,
        name=d.name,
        event_type=d.event_type,
        action=ACTION_TO_PB.get(d.action, pb.Decision.ACTION_UNSPECIFIED),  # type: ignore[arg-type]
        reason=d.reason,
        resource_version=d.resource_version,
    )


def explain_response(cmp: Comparison) -> pb.ExplainSelectorsResponse:
    return pb.ExplainSelectorsResponse(
        namespaces=[
            pb.NamespaceExplanation(
                name=r.name,
                enrolled_before=r.before,
                enrolled_after=r.after,
                term_before=r.term_before or "",
                term_after=r.term_after or "",
                change=r.change,
                churn_per_second=r.facts.churn,
                churn_share=cmp.churn_share(r),
            )
            for r in cmp.rows
        ],
        added=cmp.added,
        removed=cmp.removed,
        enrolled_before=cmp.enrolled_before,
        enrolled_after=cmp.enrolled_after,
        total_churn_per_second=cmp.total_churn,
        churn_share_before=cmp.churn_share_before,
        churn_share_after=cmp.churn_share_after,
        added_churn_share=cmp.added_churn_share,
        removed_churn_share=cmp.removed_churn_share,
    )
