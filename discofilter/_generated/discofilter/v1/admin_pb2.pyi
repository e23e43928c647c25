import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ("all_namespaces", "scope")
    ALL_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    all_namespaces: bool
    scope: str
    def __init__(self, all_namespaces: _Optional[bool] = ..., scope: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("version", "started_at", "upstream_reachable", "namespaces_synced", "not_ready_reason", "selectors", "select_all", "always_enrolled", "namespaces", "namespaces_total", "namespaces_enrolled", "streams", "counters", "selectors_source", "scope")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_REACHABLE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_SYNCED_FIELD_NUMBER: _ClassVar[int]
    NOT_READY_REASON_FIELD_NUMBER: _ClassVar[int]
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    SELECT_ALL_FIELD_NUMBER: _ClassVar[int]
    ALWAYS_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SELECTORS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    version: str
    started_at: _timestamp_pb2.Timestamp
    upstream_reachable: bool
    namespaces_synced: bool
    not_ready_reason: str
    selectors: _containers.RepeatedScalarFieldContainer[str]
    select_all: bool
    always_enrolled: _containers.RepeatedScalarFieldContainer[str]
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceStatus]
    namespaces_total: int
    namespaces_enrolled: int
    streams: _containers.RepeatedCompositeFieldContainer[StreamStatus]
    counters: _containers.RepeatedCompositeFieldContainer[KindCounters]
    selectors_source: SelectorsSource
    scope: str
    def __init__(self, version: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., upstream_reachable: _Optional[bool] = ..., namespaces_synced: _Optional[bool] = ..., not_ready_reason: _Optional[str] = ..., selectors: _Optional[_Iterable[str]] = ..., select_all: _Optional[bool] = ..., always_enrolled: _Optional[_Iterable[str]] = ..., namespaces: _Optional[_Iterable[_Union[NamespaceStatus, _Mapping]]] = ..., namespaces_total: _Optional[int] = ..., namespaces_enrolled: _Optional[int] = ..., streams: _Optional[_Iterable[_Union[StreamStatus, _Mapping]]] = ..., counters: _Optional[_Iterable[_Union[KindCounters, _Mapping]]] = ..., selectors_source: _Optional[_Union[SelectorsSource, _Mapping]] = ..., scope: _Optional[str] = ...) -> None: ...

class SelectorsSource(_message.Message):
    __slots__ = ("source", "healthy", "error", "resource_version", "seen_resource_version")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEEN_RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    source: str
    healthy: bool
    error: str
    resource_version: str
    seen_resource_version: str
    def __init__(self, source: _Optional[str] = ..., healthy: _Optional[bool] = ..., error: _Optional[str] = ..., resource_version: _Optional[str] = ..., seen_resource_version: _Optional[str] = ...) -> None: ...

class NamespaceStatus(_message.Message):
    __slots__ = ("name", "enrolled", "matching_term", "labels", "churn_per_second")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    MATCHING_TERM_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CHURN_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    name: str
    enrolled: bool
    matching_term: str
    labels: _containers.ScalarMap[str, str]
    churn_per_second: float
    def __init__(self, name: _Optional[str] = ..., enrolled: _Optional[bool] = ..., matching_term: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., churn_per_second: _Optional[float] = ...) -> None: ...

class StreamStatus(_message.Message):
    __slots__ = ("id", "user_agent", "remote", "resource", "verb", "content_type", "opened_at", "events_in", "events_out")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    REMOTE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    VERB_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_IN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_agent: str
    remote: str
    resource: str
    verb: str
    content_type: str
    opened_at: _timestamp_pb2.Timestamp
    events_in: int
    events_out: int
    def __init__(self, id: _Optional[str] = ..., user_agent: _Optional[str] = ..., remote: _Optional[str] = ..., resource: _Optional[str] = ..., verb: _Optional[str] = ..., content_type: _Optional[str] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events_in: _Optional[int] = ..., events_out: _Optional[int] = ...) -> None: ...

class KindCounters(_message.Message):
    __slots__ = ("kind", "events_in", "events_out", "events_coalesced", "events_suppressed", "bytes_in", "bytes_out", "upstream_reconnects", "slow_client_closures")
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENTS_IN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OUT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_COALESCED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    SLOW_CLIENT_CLOSURES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    events_in: int
    events_out: int
    events_coalesced: int
    events_suppressed: int
    bytes_in: int
    bytes_out: int
    upstream_reconnects: int
    slow_client_closures: int
    def __init__(self, kind: _Optional[str] = ..., events_in: _Optional[int] = ..., events_out: _Optional[int] = ..., events_coalesced: _Optional[int] = ..., events_suppressed: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., upstream_reconnects: _Optional[int] = ..., slow_client_closures: _Optional[int] = ...) -> None: ...

class WatchDecisionsRequest(_message.Message):
    __slots__ = ("kinds", "namespaces", "actions", "replay_recent")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_RECENT_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    actions: _containers.RepeatedScalarFieldContainer[Decision.Action]
    replay_recent: bool
    def __init__(self, kinds: _Optional[_Iterable[str]] = ..., namespaces: _Optional[_Iterable[str]] = ..., actions: _Optional[_Iterable[_Union[Decision.Action, str]]] = ..., replay_recent: _Optional[bool] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("at", "stream_id", "kind", "namespace", "name", "event_type", "action", "reason", "resource_version")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[Decision.Action]
        FORWARDED: _ClassVar[Decision.Action]
        FILTERED: _ClassVar[Decision.Action]
        COALESCED: _ClassVar[Decision.Action]
        SYNTHESIZED: _ClassVar[Decision.Action]
        EXPIRED: _ClassVar[Decision.Action]
    ACTION_UNSPECIFIED: Decision.Action
    FORWARDED: Decision.Action
    FILTERED: Decision.Action
    COALESCED: Decision.Action
    SYNTHESIZED: Decision.Action
    EXPIRED: Decision.Action
    AT_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    stream_id: str
    kind: str
    namespace: str
    name: str
    event_type: str
    action: Decision.Action
    reason: str
    resource_version: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stream_id: _Optional[str] = ..., kind: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., event_type: _Optional[str] = ..., action: _Optional[_Union[Decision.Action, str]] = ..., reason: _Optional[str] = ..., resource_version: _Optional[str] = ...) -> None: ...

class ExplainSelectorsRequest(_message.Message):
    __slots__ = ("selectors", "discovery_selectors_yaml", "select_all")
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_SELECTORS_YAML_FIELD_NUMBER: _ClassVar[int]
    SELECT_ALL_FIELD_NUMBER: _ClassVar[int]
    selectors: _containers.RepeatedScalarFieldContainer[str]
    discovery_selectors_yaml: str
    select_all: bool
    def __init__(self, selectors: _Optional[_Iterable[str]] = ..., discovery_selectors_yaml: _Optional[str] = ..., select_all: _Optional[bool] = ...) -> None: ...

class NamespaceExplanation(_message.Message):
    __slots__ = ("name", "enrolled_before", "enrolled_after", "term_before", "term_after", "change", "churn_per_second", "churn_share")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AFTER_FIELD_NUMBER: _ClassVar[int]
    TERM_BEFORE_FIELD_NUMBER: _ClassVar[int]
    TERM_AFTER_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHURN_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CHURN_SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    enrolled_before: bool
    enrolled_after: bool
    term_before: str
    term_after: str
    change: str
    churn_per_second: float
    churn_share: float
    def __init__(self, name: _Optional[str] = ..., enrolled_before: _Optional[bool] = ..., enrolled_after: _Optional[bool] = ..., term_before: _Optional[str] = ..., term_after: _Optional[str] = ..., change: _Optional[str] = ..., churn_per_second: _Optional[float] = ..., churn_share: _Optional[float] = ...) -> None: ...

class ExplainSelectorsResponse(_message.Message):
    __slots__ = ("namespaces", "added", "removed", "enrolled_before", "enrolled_after", "total_churn_per_second", "churn_share_before", "churn_share_after", "added_churn_share", "removed_churn_share")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AFTER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHURN_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    CHURN_SHARE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CHURN_SHARE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ADDED_CHURN_SHARE_FIELD_NUMBER: _ClassVar[int]
    REMOVED_CHURN_SHARE_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceExplanation]
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    enrolled_before: int
    enrolled_after: int
    total_churn_per_second: float
    churn_share_before: float
    churn_share_after: float
    added_churn_share: float
    removed_churn_share: float
    def __init__(self, namespaces: _Optional[_Iterable[_Union[NamespaceExplanation, _Mapping]]] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., enrolled_before: _Optional[int] = ..., enrolled_after: _Optional[int] = ..., total_churn_per_second: _Optional[float] = ..., churn_share_before: _Optional[float] = ..., churn_share_after: _Optional[float] = ..., added_churn_share: _Optional[float] = ..., removed_churn_share: _Optional[float] = ...) -> None: ...
