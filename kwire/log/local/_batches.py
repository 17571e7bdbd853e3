"""The few record-batch v2 header facts the log needs, private to kwire.log.

The log never decodes records: it reads a batch's header to learn its offsets,
size and max timestamp, checks the CRC when recovering a torn tail, and writes
the assigned base offset and partition leader epoch. `kwire.records.batch` owns
the full header view; the names here mirror it (`parse_header`, `BatchHeader`,
`compute_crc`, `assign_offsets`) so this module can be swapped for it by changing
imports only.

Layout, big-endian, 61 bytes (apache/kafka DefaultRecordBatch.java):
baseOffset int64 @0, batchLength int32 @8, partitionLeaderEpoch int32 @12,
magic int8 @16, crc uint32 @17 (CRC-32C of @21..end), attributes int16 @21,
lastOffsetDelta int32 @23, baseTimestamp int64 @27, maxTimestamp int64 @35, ...
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import crc32c

Buffer = bytes | bytearray | memoryview

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes batchLength does not count
MAGIC_V2 = 2
INT32_MAX = 2**31 - 1

_CRC_FROM = 21  # the CRC covers attributes..end; offset and epoch lie before it
# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp: the prefix of the header the log reads.
_PREFIX = struct.Struct(">qiibIhiqq")
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class BatchHeader:
    base_offset: int
    batch_length: int
    magic: int
    crc: int
    last_offset_delta: int
    max_timestamp: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1


class HeaderError(ValueError):
    """The bytes do not start with a usable v2 batch header."""


def parse_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """The header of the batch at `buf[pos:]`; the batch body need not be present."""
    if len(buf) - pos < BATCH_HEADER_SIZE:
        raise HeaderError(f"batch header needs {BATCH_HEADER_SIZE} bytes, got {len(buf) - pos}")
    base, length, _epoch, magic, crc, _attrs, delta, _base_ts, max_ts = _PREFIX.unpack_from(
        buf, pos
    )
    return BatchHeader(base, length, magic, crc, delta, max_ts)


def header_problem(header: BatchHeader) -> str | None:
    """Why this header cannot start a stored batch, or None if it can."""
    if header.magic != MAGIC_V2:
        return f"magic {header.magic}"
    if header.size < BATCH_HEADER_SIZE:
        return f"batch length {header.batch_length} shorter than a header"
    if header.last_offset_delta < 0:
        return f"last offset delta {header.last_offset_delta}"
    return None


def compute_crc(buf: Buffer, pos: int, size: int) -> int:
    """CRC-32C over attributes..end of the batch of `size` bytes at `pos`."""
    return int(crc32c.crc32c(memoryview(buf)[pos + _CRC_FROM : pos + size]))


def assign_offsets(buf: bytearray, pos: int, base_offset: int, leader_epoch: int) -> None:
    """Write the assigned base offset and partition leader epoch in place; both lie
    before the CRC'd range, so the stored CRC stays valid."""
    _INT64.pack_into(buf, pos, base_offset)
    _INT32.pack_into(buf, pos + 12, leader_epoch)
