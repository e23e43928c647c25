"""A minimal Envoy-like ADS client, so that istiod's pushes in the istiod benchmark are real.

Policy and reasons: with no proxy connected istiod computes push contexts but sends nothing
(`pilot_xds_pushes` stays 0), which hides the part of its cost that grows with the mesh. This
client does what a sidecar's Envoy does at the xDS level, and nothing more: one ADS stream on
istiod's plaintext gRPC port, CDS as a wildcard subscription, then EDS for every `outbound|`
cluster CDS names, ACKing each response (the nonce and version sent back). No Envoy protos are
installed, so the four message fields used are encoded and decoded by hand (protobuf wire
format: varints and length-delimited fields); the rest of each response is counted, not read.

Counters (the invariant: updated only by the reader thread, read after `close()` or as
monotonic snapshots): responses and bytes per type URL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
MAX_MESSAGE = 512 * 2**20


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings and embedded messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of one message level; unknown types end the walk."""
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
            yield number, wire, value
        elif wire == 2:
            size, i = _read_varint(buf, i)
            yield number, wire, buf[i : i + size]
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            return


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def discovery_request(
    node_id: str, type_url: str, names: list[str], version: str = "", nonce: str = ""
) -> bytes:
    """envoy.service.discovery.v3.DiscoveryRequest: version_info=1, node=2 (Node.id=1,
    Node.cluster=2), resource_names=3, type_url=4, response_nonce=5."""
    node = _field(1, node_id.encode()) + _field(2, b"bench.sidecar")
    msg = _field(1, version.encode()) + _field(2, node)
    for name in names:
        msg += _field(3, name.encode())
    return msg + _field(4, type_url.encode()) + _field(5, nonce.encode())


def parse_response(buf: bytes) -> tuple[str, str, str, list[bytes]]:
    """DiscoveryResponse -> (version_info=1, type_url=4, nonce=5, resources=2 as Any.value)."""
    version = type_url = nonce = ""
    resources: list[bytes] = []
    for number, wire, value in _fields(buf):
        if wire != 2 or not isinstance(value, bytes):
            continue
        if number == 1:
            version = value.decode()
        elif number == 4:
            type_url = value.decode()
        elif number == 5:
            nonce = value.decode()
        elif number == 2:
            for n, w, v in _fields(value):  # google.protobuf.Any: type_url=1, value=2
                if n == 2 and w == 2 and isinstance(v, bytes):
                    resources.append(v)
    return version, type_url, nonce, resources


def resource_name(resource: bytes) -> str:
    """Cluster.name and ClusterLoadAssignment.cluster_name are both field 1."""
    for number, wire, value in _fields(resource):
        if number == 1 and wire == 2 and isinstance(value, bytes):
            return value.decode()
    return ""


class Sidecar:
    """One ADS stream to istiod, ACKing everything, counting what it receives."""

    def __init__(self, grpc_addr: str, node_id: str) -> None:
        self.node_id = node_id
        self.responses: dict[str, int] = {CDS: 0, EDS: 0}
        self.bytes: dict[str, int] = {CDS: 0, EDS: 0}
        self.clusters: list[str] = []
        self._out: queue.Queue[bytes | None] = queue.Queue()
        # gRPC's default 4 MiB receive cap is below one CDS response of a few thousand services
        # (the direct istiod at tier M/L sends every Service's clusters); Envoy has no such cap.
        self._channel = grpc.insecure_channel(
            grpc_addr, options=[("grpc.max_receive_message_length", MAX_MESSAGE)]
        )
        call = self._channel.stream_stream(
            ADS, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        self._stream = call(self._requests())
        self._out.put(discovery_request(node_id, CDS, []))
        self.error: str = ""
        self._reader = threading.Thread(target=self._read, name=f"ads-{node_id}", daemon=True)
        self._reader.start()

    def _requests(self) -> Iterator[bytes]:
        while (item := self._out.get()) is not None:
            yield item

    def _read(self) -> None:
        try:
            for raw in self._stream:
                version, type_url, nonce, resources = parse_response(raw)
                self.responses[type_url] = self.responses.get(type_url, 0) + 1
                self.bytes[type_url] = self.bytes.get(type_url, 0) + len(raw)
                if type_url == CDS:
                    self.clusters = sorted(
                        n for n in map(resource_name, resources) if n.startswith("outbound|")
                    )
                    self._out.put(discovery_request(self.node_id, CDS, [], version, nonce))
                    # Envoy (re)subscribes EDS for the clusters of each CDS update.
                    self._out.put(discovery_request(self.node_id, EDS, self.clusters))
                elif type_url == EDS:
                    self._out.put(
                        discovery_request(self.node_id, EDS, self.clusters, version, nonce)
                    )
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = f"{e.code()}: {e.details()}"

    def close(self) -> None:
        self._out.put(None)
        self._stream.cancel()
        self._reader.join(5)
        self._channel.close()
