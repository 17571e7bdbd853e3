"""Kafka's group metadata hash (KIP-1101): Utils.computeTopicHash and computeGroupHash.

A consumer group stores the hash of its subscribed topics in ConsumerGroupMetadataValue
(tag 0) and bumps its epoch when the hash changes. Kafka hashes with hash4j's XXH3-64
(seed 0) over a stream of values; hash4j writes every int and long little-endian, and a
string as its UTF-16LE code units followed by its length in code units (int32). Computing
the same numbers as Kafka lets a group written by one broker be taken over by the other
without a needless rebalance.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence

import xxhash

TOPIC_HASH_MAGIC_BYTE = 0
_UINT64 = (1 << 64) - 1


def _java_sort_key(s: str) -> bytes:
    # Java's String.compareTo orders by UTF-16 code units, not code points.
    return s.encode("utf-16-be", "surrogatepass")


def _put_string(buf: bytearray, s: str) -> None:
    units = s.encode("utf-16-le", "surrogatepass")
    buf += units
    buf += struct.pack("<i", len(units) // 2)


def _signed(h: int) -> int:
    return h - (1 << 64) if h >= 1 << 63 else h


def topic_hash(topic_id: uuid.UUID, name: str, partition_racks: Sequence[Iterable[str]]) -> int:
    """Utils.computeTopicHash of an existing topic: `partition_racks[i]` holds the racks
    of partition i's replicas (empty lists when brokers have no rack; the length is the
    partition count). Kafka answers 0 for a topic missing from the metadata."""
    buf = bytearray([TOPIC_HASH_MAGIC_BYTE])
    buf += struct.pack(">Q", topic_id.int >> 64)[::-1]  # putLong(msb), little-endian
    buf += struct.pack(">Q", topic_id.int & _UINT64)[::-1]
    _put_string(buf, name)
    buf += struct.pack("<i", len(partition_racks))
    for partition, racks in enumerate(partition_racks):
        buf += struct.pack("<i", partition)
        for rack in sorted(racks, key=_java_sort_key):
            buf += struct.pack("<i", len(rack.encode("utf-16-le", "surrogatepass")) // 2)
            _put_string(buf, rack)
    return _signed(xxhash.xxh3_64_intdigest(bytes(buf)))


def group_hash(topic_hashes: Mapping[str, int]) -> int:
    """Utils.computeGroupHash: topic name -> topic hash, hashed in name order; 0 when empty."""
    if not topic_hashes:
        return 0
    buf = bytearray()
    for name in sorted(topic_hashes, key=_java_sort_key):
        buf += struct.pack("<q", topic_hashes[name])
    return _signed(xxhash.xxh3_64_intdigest(bytes(buf)))
