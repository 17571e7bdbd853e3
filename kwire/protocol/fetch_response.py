"""A dedicated encoder for Fetch responses (v4-18) that never copies record data.

The generic codec builds kio entities and writes them into one buffer, which
copies every fetched batch twice more. Here the fixed fields of each partition
are packed into a small chunk and the stored batches follow as their own chunk,
so the socket write takes the bytes read from the log as they are. Byte for
byte the output equals kio's (tests/protocol/test_fetch_response.py). Tagged
fields are written as Kafka writes them, only when not at their defaults: a
partition's DivergingEpoch (tag 0) and CurrentLeader (tag 1, KIP-951), and the
response's NodeEndpoints (tag 0, v16+, KIP-951).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_TOP_V7 = struct.Struct(">ihi")  # throttle_time_ms, error_code, session_id
_PARTITION = struct.Struct(">ihqqq")  # index, error, high watermark, LSO, log start
_ABORTED = struct.Struct(">qq")
_DIVERGING = struct.Struct(">iq")  # epoch, end offset
_LEADER = struct.Struct(">ii")  # leader id, leader epoch
_NO_TAGS = b"\x00"
_ZERO_UUID = uuid.UUID(int=0)

FIRST_FLEXIBLE = 12
FIRST_TOPIC_ID = 13
FIRST_NODE_ENDPOINTS = 16


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _array_len(n: int | None, flexible: bool) -> bytes:
    if flexible:
        return _uvarint(0 if n is None else n + 1)
    return _I32.pack(-1 if n is None else n)


def _string(s: str, flexible: bool) -> bytes:
    data = s.encode("utf-8")
    return (_uvarint(len(data) + 1) if flexible else _I16.pack(len(data))) + data


def _tag(tag: int, data: bytes) -> bytes:
    return _uvarint(tag) + _uvarint(len(data)) + data


def encode_fetch_response(version: int, body: Mapping[str, Any]) -> list[bytes]:
    """Chunks whose concatenation is the Fetch response body of `version`."""
    if not 4 <= version <= 18:
        raise ValueError(f"Fetch v{version} is not encoded here")
    flexible = version >= FIRST_FLEXIBLE
    chunks: list[bytes] = []
    head = bytearray()
    if version >= 7:
        head += _TOP_V7.pack(int(body["throttle_time"]), int(body["error_code"]),
                             int(body["session_id"]))
    else:
        head += _I32.pack(int(body["throttle_time"]))
    topics: Sequence[Mapping[str, Any]] = body["responses"]
    head += _array_len(len(topics), flexible)
    for topic in topics:
        if version >= FIRST_TOPIC_ID:
            head += (topic.get("topic_id") or _ZERO_UUID).bytes
        else:
            head += _string(topic["topic"], flexible)
        partitions: Sequence[Mapping[str, Any]] = topic["partitions"]
        head += _array_len(len(partitions), flexible)
        for p in partitions:
            head += _PARTITION.pack(
                int(p["partition_index"]), int(p["error_code"]), int(p["high_watermark"]),
                int(p["last_stable_offset"]), int(p["log_start_offset"]))
            if version < 5:
                del head[-8:]  # log_start_offset arrived in v5
            aborted = p.get("aborted_transactions")
            head += _array_len(None if aborted is None else len(aborted), flexible)
            for a in aborted or ():
                head += _ABORTED.pack(int(a["producer_id"]), int(a["first_offset"]))
                if flexible:
                    head += _NO_TAGS
            if version >= 11:
                head += _I32.pack(int(p["preferred_read_replica"]))
            # Stored batches as read: one bytes, or the slices of one long read.
            records: bytes | Sequence[bytes] | None = p["records"]
            if records is None:
                head += _uvarint(0) if flexible else _I32.pack(-1)
            else:
                parts = [records] if isinstance(records, bytes | bytearray) else records
                size = sum(len(part) for part in parts)
                head += _uvarint(size + 1) if flexible else _I32.pack(size)
                if size:
                    chunks.append(bytes(head))
                    chunks.extend(part for part in parts if part)
                    head = bytearray()
            if flexible:
                head += _partition_tags(p)
        if flexible:
            head += _NO_TAGS  # topic tagged fields
    if flexible:
        head += _response_tags(version, body)
    chunks.append(bytes(head))
    return chunks


def _partition_tags(p: Mapping[str, Any]) -> bytes:
    """A partition's tagged fields (v12+), in tag order: DivergingEpoch (tag 0),
    present when the fetcher's last fetched epoch ends before its fetch offset
    (KIP-320); CurrentLeader (tag 1) when it names a leader or epoch (KIP-951)."""
    diverging = p.get("diverging_epoch")
    leader = p.get("current_leader")
    if diverging is None and leader is None:
        return _NO_TAGS
    tags: list[bytes] = []
    if diverging is not None:
        tags.append(_tag(0, _DIVERGING.pack(int(diverging["epoch"]),
                                            int(diverging["end_offset"])) + _NO_TAGS))
    if leader is not None:
        leader_id, leader_epoch = int(leader["leader_id"]), int(leader["leader_epoch"])
        if (leader_id, leader_epoch) != (-1, -1):  # the default is not written
            tags.append(_tag(1, _LEADER.pack(leader_id, leader_epoch) + _NO_TAGS))
    return _uvarint(len(tags)) + b"".join(tags)


def _response_tags(version: int, body: Mapping[str, Any]) -> bytes:
    """The response's tagged fields: NodeEndpoints (tag 0, v16+) when not empty."""
    nodes: Sequence[Mapping[str, Any]] = body.get("node_endpoints") or ()
    if version < FIRST_NODE_ENDPOINTS or not nodes:
        return _NO_TAGS
    data = bytearray(_uvarint(len(nodes) + 1))
    for n in nodes:
        data += _I32.pack(int(n["node_id"])) + _string(n["host"], True)
        data += _I32.pack(int(n["port"]))
        rack = n.get("rack")
        data += _uvarint(0) if rack is None else _string(rack, True)
        data += _NO_TAGS
    return _uvarint(1) + _tag(0, bytes(data))
