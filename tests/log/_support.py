"""Helpers for the log tests: minimal valid v2 batches, reading batch headers
back out of read results, and running async tests without a plugin."""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

from kwire.log.local._batches import BatchHeader, compute_crc, parse_header

P = ParamSpec("P")

_HEADER = struct.Struct(">qiibIhiqqqhii")


def make_batch(
    records: int = 1,
    *,
    max_timestamp: int = 1_000,
    payload: bytes | None = None,
    payload_size: int = 20,
) -> bytearray:
    """A v2 batch with `records` records (as far as the header says; the log never
    decodes the record bytes, so they are filler) and a correct CRC."""
    if payload is None:
        payload = (bytes(range(256)) * (payload_size // 256 + 1))[:payload_size]
    body = payload
    batch = bytearray(
        _HEADER.pack(
            0,  # baseOffset, assigned by the log
            49 + len(body),  # batchLength: the header after the length field, plus records
            -1,  # partitionLeaderEpoch
            2,  # magic
            0,  # crc, patched below
            0,  # attributes
            records - 1,  # lastOffsetDelta
            max_timestamp,  # baseTimestamp
            max_timestamp,  # maxTimestamp
            -1,  # producerId
            -1,  # producerEpoch
            -1,  # baseSequence
            records,  # recordsCount
        )
    )
    batch += body
    struct.pack_into(">I", batch, 17, compute_crc(batch, 0, len(batch)))
    return batch


def headers(data: bytes) -> list[BatchHeader]:
    """Headers of the whole batches in `data` (asserting there is nothing else)."""
    out: list[BatchHeader] = []
    position = 0
    while position < len(data):
        header = parse_header(data, position)
        out.append(header)
        position += header.size
    assert position == len(data), "read returned a partial batch"
    return out


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper
