"""Topics a "consumer" protocol member subscribes to, read from its JoinGroup metadata.

Kafka's ClassicGroup.computeSubscribedTopics parses every member's metadata with
ConsumerProtocolSubscription version 0 — the prefix of all versions: an int16
version, then topics [string] and user_data (nullable bytes); later fields are
ignored. If any member's metadata does not parse, the group's topics are unknown.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

CONSUMER_PROTOCOL_TYPE = "consumer"


class _Truncated(Exception):
    pass


def _take(data: bytes, pos: int, n: int) -> bytes:
    if n < 0 or pos + n > len(data):
        raise _Truncated
    return data[pos : pos + n]


def parse_subscription_topics(metadata: bytes) -> list[str] | None:
    """The topics of one ConsumerProtocolSubscription, or None if it does not parse."""
    try:
        pos = 0
        (version,) = struct.unpack(">h", _take(metadata, pos, 2))
        pos += 2
        if version < 0:
            return None
        (count,) = struct.unpack(">i", _take(metadata, pos, 4))
        pos += 4
        if count < 0:
            return None
        topics: list[str] = []
        for _ in range(count):
            (n,) = struct.unpack(">h", _take(metadata, pos, 2))
            pos += 2
            topics.append(_take(metadata, pos, n).decode())
            pos += n
        (user_data_len,) = struct.unpack(">i", _take(metadata, pos, 4))
        pos += 4
        if user_data_len >= 0:
            _take(metadata, pos, user_data_len)
        return topics
    except (_Truncated, UnicodeDecodeError):
        return None


def subscribed_topics(
    protocol_type: str | None, protocol_name: str | None, metadatas: Iterable[bytes]
) -> frozenset[str] | None:
    """The union of the members' topics; None when unknown (Kafka's Optional.empty)."""
    if protocol_type != CONSUMER_PROTOCOL_TYPE:
        return None
    items = list(metadatas)
    if not items:
        return frozenset()
    if protocol_name is None:
        return None
    topics: set[str] = set()
    for metadata in items:
        parsed = parse_subscription_topics(metadata)
        if parsed is None:
            return None
        topics.update(parsed)
    return frozenset(topics)


def encode_subscription(topics: Iterable[str], version: int = 0) -> bytes:
    """A minimal ConsumerProtocolSubscription (v0 layout) — for tests and tools."""
    out = bytearray(struct.pack(">h", version))
    names = [t.encode() for t in topics]
    out += struct.pack(">i", len(names))
    for name in names:
        out += struct.pack(">h", len(name)) + name
    out += struct.pack(">i", -1)
    return bytes(out)
