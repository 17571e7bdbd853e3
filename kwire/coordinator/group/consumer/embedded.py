"""The classic consumer's embedded protocol (Kafka's ConsumerProtocol), as a consumer
group with classic members needs it: a JoinGroup's subscription is read, and a
SyncGroup is answered with an assignment in the member's own protocol version.

    ConsumerProtocolSubscription  v0  topics [string], user_data bytes?
                                  v1  + owned_partitions [topic string, partitions [int32]]
                                  v2  + generation_id int32
                                  v3  + rack_id string?
    ConsumerProtocolAssignment    v0+ assigned_partitions [topic string, partitions [int32]],
                                      user_data bytes?

Each starts with an int16 version; newer versions than kwire knows are read as the
newest it knows (Kafka's rule: later fields are ignored).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_NEWEST_SUBSCRIPTION = 3


class EmbeddedProtocolError(ValueError):
    """The metadata is not a ConsumerProtocol subscription or assignment (Kafka's
    SchemaException)."""


@dataclass(frozen=True)
class Subscription:
    version: int
    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    generation_id: int = -1
    rack_id: str | None = None


@dataclass(frozen=True)
class Assignment:
    version: int
    partitions: tuple[tuple[str, tuple[int, ...]], ...]
    user_data: bytes | None = None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise EmbeddedProtocolError("truncated consumer protocol data")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        try:
            return self.take(n).decode()
        except UnicodeDecodeError as exc:
            raise EmbeddedProtocolError("bad string in consumer protocol data") from exc

    def bytes_(self) -> bytes | None:
        n = self.int32()
        return None if n < 0 else self.take(n)

    def count(self) -> int:
        n = self.int32()
        if n < 0:
            raise EmbeddedProtocolError("negative array length")
        return n

    def topic_partitions(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        out = []
        for _ in range(self.count()):
            topic = self.string() or ""
            out.append((topic, tuple(self.int32() for _ in range(self.count()))))
        return tuple(out)


def parse_subscription(data: bytes) -> Subscription:
    r = _Reader(data)
    version = r.int16()
    if version < 0:
        raise EmbeddedProtocolError(f"subscription version {version}")
    read_as = min(version, _NEWEST_SUBSCRIPTION)
    topics = tuple(r.string() or "" for _ in range(r.count()))
    user_data = r.bytes_()
    owned = r.topic_partitions() if read_as >= 1 else ()
    generation = r.int32() if read_as >= 2 else -1
    rack = r.string() if read_as >= 3 else None
    return Subscription(version, topics, user_data, owned, generation, rack)


def parse_assignment(data: bytes) -> Assignment:
    r = _Reader(data)
    version = r.int16()
    if version < 0:
        raise EmbeddedProtocolError(f"assignment version {version}")
    return Assignment(version, r.topic_partitions(), r.bytes_())


def protocol_version(metadata: bytes) -> int:
    """The version a member's subscription is written in (Kafka's deserializeVersion)."""
    return _Reader(metadata).int16()


def encode_assignment(partitions: Mapping[str, Sequence[int]], version: int) -> bytes:
    """A ConsumerProtocolAssignment without user data, at the member's version."""
    out = bytearray(struct.pack(">hi", max(version, 0), len(partitions)))
    for topic in sorted(partitions):
        name = topic.encode()
        parts = sorted(partitions[topic])
        out += struct.pack(">h", len(name)) + name + struct.pack(">i", len(parts))
        out += b"".join(struct.pack(">i", p) for p in parts)
    out += struct.pack(">i", -1)
    return bytes(out)
