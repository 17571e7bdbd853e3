"""Java's iteration orders, reproduced so the assignors hand out partitions as Kafka does.

Kafka's assignors walk `java.util.HashMap`/`HashSet` instances in places where the walk
order decides the result (which member gets an extra partition, which partitions are
revoked, in which order unassigned partitions are handed out). A HashMap iterates its
buckets in index order, and each bucket in insertion order; the bucket of a key is
`spread(hashCode) & (capacity - 1)`. So the order is a pure function of the keys'
Java hash codes, the table capacity and the insertion order, all computed here.

Not reproduced: treeified buckets (eight or more keys in one bucket of a table of at
least 64), whose iteration order differs; assignor inputs never come close.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

K = TypeVar("K")

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_DEFAULT_CAPACITY = 16


def _to_signed32(value: int) -> int:
    value &= _MASK32
    return value - (1 << 32) if value & 0x80000000 else value


def _to_signed64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value & (1 << 63) else value


def string_hash(value: str) -> int:
    """`String.hashCode()`: s[0]*31^(n-1) + ... over UTF-16 code units, in int32."""
    h = 0
    data = value.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & _MASK32
    return _to_signed32(h)


def uuid_hash(value: uuid.UUID) -> int:
    """`org.apache.kafka.common.Uuid.hashCode()`: the two halves of msb ^ lsb, xor-ed."""
    hilo = (value.int >> 64) ^ (value.int & _MASK64)
    return _to_signed32((hilo >> 32) ^ hilo)


def int_hash(value: int) -> int:
    """`Integer.hashCode()`."""
    return _to_signed32(value)


def uuid_sort_key(value: uuid.UUID) -> tuple[int, int]:
    """`Uuid.compareTo`: msb then lsb, each compared as a *signed* long (unlike `uuid.UUID`)."""
    return _to_signed64(value.int >> 64), _to_signed64(value.int)


def java_string_sort_key(value: str) -> bytes:
    """`String.compareTo` compares UTF-16 code units, which orders as UTF-16-BE bytes do
    (Python's `str` order, by code point, differs for characters above U+FFFF)."""
    return value.encode("utf-16-be")


def _spread(h: int) -> int:
    h &= _MASK32
    return h ^ (h >> 16)


def table_size_for(capacity: int) -> int:
    """`HashMap.tableSizeFor`: the smallest power of two >= capacity (at least 1)."""
    n = 1
    while n < capacity:
        n <<= 1
    return n


def capacity_after_puts(size: int) -> int:
    """Capacity of a `new HashMap<>()` (or `Collectors.toMap`) after `size` puts: it
    doubles from 16 whenever the size passes three quarters of the capacity."""
    capacity = _DEFAULT_CAPACITY
    while size > capacity * 3 // 4:
        capacity <<= 1
    return capacity


def capacity_of_copy(size: int) -> int:
    """Capacity of `new HashSet<>(collection)` on the JDK 17 Kafka runs on:
    `new HashMap<>(Math.max((int) (size / .75f) + 1, 16))`. (JDK 19+ sizes the copy
    with `HashMap.newHashMap(Math.max(size, 12))`, which differs when size is exactly
    three quarters of a power of two: 12, 24, 48, ...)"""
    return table_size_for(max(size * 4 // 3 + 1, _DEFAULT_CAPACITY))


def hash_order(keys: Iterable[K], hash_code: Callable[[K], int], capacity: int) -> list[K]:
    """The iteration order of a HashMap/HashSet of `capacity` buckets into which `keys`
    were inserted in the given order (duplicates keep their first position)."""
    mask = capacity - 1
    seen: dict[K, int] = {}
    for key in keys:
        if key not in seen:
            seen[key] = len(seen)
    return sorted(seen, key=lambda k: (_spread(hash_code(k)) & mask, seen[k]))


def put_order(keys: Iterable[K], hash_code: Callable[[K], int]) -> list[K]:
    """Iteration order of a `new HashMap<>()` filled by `put` in the given order."""
    unique = list(dict.fromkeys(keys))
    return hash_order(unique, hash_code, capacity_after_puts(len(unique)))


def copy_order(keys: Iterable[K], hash_code: Callable[[K], int]) -> list[K]:
    """Iteration order of `new HashSet<>(c)` where `c` iterates in the given order."""
    unique = list(dict.fromkeys(keys))
    return hash_order(unique, hash_code, capacity_of_copy(len(unique)))
