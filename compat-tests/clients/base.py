"""The small client-neutral interface every adapter in this package implements.

Each adapter wraps one real Kafka client library (no mocks) behind the same
synchronous methods, so a scenario is written once and run against every
client. Values cross the interface as plain bytes/str/int tuples so that a
scenario can compare what different clients observe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Message:
    """One message to produce; timestamp_ms is an explicit CreateTime."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int


@dataclass(frozen=True)
class Record:
    """One record as a consumer observed it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    timestamp_type: int  # 0 CreateTime, 1 LogAppendTime (Kafka's attribute bit 3)


class Client(Protocol):
    name: str

    def create_topic(
        self, name: str, partitions: int = 1, configs: Mapping[str, str] | None = None
    ) -> None:
        """Create the topic and wait (bounded) until every partition has a leader."""

    def produce(
        self,
        topic: str,
        messages: Sequence[Message],
        codec: str = "none",
        idempotent: bool = True,
    ) -> list[tuple[int, int]]:
        """Produce with acks=all and the client's key partitioner; return the
        acknowledged (partition, offset) of each message, in input order."""

    def consume_partition(
        self, topic: str, partition: int, from_offset: int, count: int, timeout: float = 30.0
    ) -> list[Record]:
        """Assign (no group) + seek, read until `count` records or `timeout`."""

    def offsets_for_times(
        self, topic: str, timestamps: Mapping[int, int]
    ) -> dict[int, int | None]:
        """partition -> first offset with timestamp >= ts, or None if there is none."""

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """partition -> high watermark (ListOffsets latest)."""

    def delete_topic(self, name: str) -> None: ...

    def close(self) -> None: ...


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll pred until true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
            last_exc = None
        except Exception as exc:  # a not-yet-ready broker may answer with errors
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")


def norm_headers(headers: object) -> Headers:
    """Normalise a client's header list (None, list of tuples/lists) to a tuple of tuples."""
    if not headers:
        return ()
    return tuple((str(k), None if v is None else bytes(v)) for k, v in headers)  # type: ignore[union-attr]
