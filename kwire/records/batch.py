"""A view of Kafka record batch v2 (magic 2) headers, and the checks Produce needs.

This module owns the batch header layout (apache/kafka DefaultRecordBatch.java):
parsing it, validating a produced batch the way Kafka does, rewriting the fields
the broker assigns (base offset, partition leader epoch, LogAppendTime), and
walking stored batches for reads and torn-tail recovery. It never decodes the
records inside a batch (that is `kwire.records.builder`, for tests and internal
topics): the produce path stores client bytes as they came.

Layout, big-endian, 61 bytes:

    baseOffset int64 @0 | batchLength int32 @8 (bytes after this field)
    partitionLeaderEpoch int32 @12 | magic int8 @16
    crc uint32 @17 (CRC-32C of attributes @21 .. end of batch)
    attributes int16 @21 | lastOffsetDelta int32 @23
    baseTimestamp int64 @27 | maxTimestamp int64 @35
    producerId int64 @43 | producerEpoch int16 @51 | baseSequence int32 @53
    recordsCount int32 @57
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c

from kwire.errors import ErrorCode

Buffer = bytes | bytearray | memoryview

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes batchLength does not count
MAGIC_V2 = 2
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
INT32_MAX = 2**31 - 1

# Field offsets for the in-place rewrites.
_BASE_OFFSET_AT = 0
_LENGTH_AT = 8
_LEADER_EPOCH_AT = 12
_MAGIC_AT = 16
_CRC_AT = 17
_ATTRIBUTES_AT = 21
_MAX_TIMESTAMP_AT = 35

# Kafka's LegacyRecord.RECORD_OVERHEAD_V0: ByteBufferLogInputStream refuses a smaller
# batchLength as corrupt before it even looks at the magic byte.
_MIN_BATCH_LENGTH = 14

# Attribute bits. Bit 6 (delete horizon, KIP-534) is only ever preserved here.
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

_HEADER = struct.Struct(">qiibIhiqqqhii")
_INT32 = struct.Struct(">i")
# baseOffset, batchLength, partitionLeaderEpoch, magic, crc: what valid_prefix reads first.
_PREFIX = struct.Struct(">qiibI")
_LAST_DELTA_AT = 23
_INT64 = struct.Struct(">q")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
assert _HEADER.size == BATCH_HEADER_SIZE


class Compression(enum.IntEnum):
    """Attributes bits 0-2 (Kafka's CompressionType ids)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class InvalidBatch(Exception):
    """A batch Kafka would refuse; `error_code` goes in the partition's produce response.

    Kafka answers such a refusal with no error_message and a log_start_offset of
    -1 (the exceptions ReplicaManager names: corrupt or too large records, and
    ProduceRequest.validateRecords' refusals); `message` is for kwire's log."""

    # Whether Kafka answers it with the partition's log start offset (see FailedAppend).
    with_log_start_offset = False
    # Whether Kafka answers it with `message` as the error_message (see InvalidMagic).
    with_message = False

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class FailedAppend(InvalidBatch):
    """A refusal raised inside UnifiedLog.append or LogValidator as an exception
    ReplicaManager does not name (InvalidRecordException and the like): Kafka
    answers it through processFailedRecord, with the partition's log start offset."""

    with_log_start_offset = True


class InvalidMagic(InvalidBatch):
    """A magic byte above 2: it fails ProduceRequest's batch iteration with a
    CorruptRecordException whose message Kafka answers, the one refusal it words."""

    with_message = True


class BatchError(InvalidBatch):
    """The bytes do not hold a batch header at all (too short to parse)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CORRUPT_MESSAGE, message)


def increment_sequence(sequence: int, increment: int) -> int:
    """Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from 2**31-1 to 0."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


@dataclass(frozen=True, slots=True)
class BatchHeader:
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

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

    @property
    def compression_id(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def compression(self) -> Compression:
        """Raises ValueError for ids 5-7, as Kafka's CompressionType.forId does."""
        return Compression(self.attributes & COMPRESSION_MASK)

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return increment_sequence(self.base_sequence, self.last_offset_delta)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id > NO_PRODUCER_ID


def parse_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """The header of the batch at `buf[pos:]`; the batch body need not be present."""
    if len(buf) - pos < BATCH_HEADER_SIZE:
        raise BatchError(
            f"record batch header needs {BATCH_HEADER_SIZE} bytes, {len(buf) - pos} available"
        )
    return BatchHeader(*_HEADER.unpack_from(buf, pos))


def pack_header(buf: bytearray, pos: int, header: BatchHeader) -> None:
    """Write every header field as given (the CRC too; see `update_crc`)."""
    _HEADER.pack_into(
        buf,
        pos,
        header.base_offset,
        header.batch_length,
        header.partition_leader_epoch,
        header.magic,
        header.crc,
        header.attributes,
        header.last_offset_delta,
        header.base_timestamp,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        header.records_count,
    )


def update_crc(buf: bytearray, pos: int) -> None:
    """Recompute and store the CRC of the batch at `pos` (its length field must be set)."""
    (length,) = _INT32.unpack_from(buf, pos + _LENGTH_AT)
    _UINT32.pack_into(buf, pos + _CRC_AT, compute_crc(buf, pos, length + LOG_OVERHEAD))


def compute_crc(buf: Buffer, pos: int, size: int) -> int:
    """CRC-32C over attributes..end of the batch of `size` bytes at `pos`."""
    view = memoryview(buf)[pos + _ATTRIBUTES_AT : pos + size]
    return int(crc32c.crc32c(view))


def _next_batch_size(buf: Buffer, pos: int) -> int | None:
    """Kafka's ByteBufferLogInputStream.nextBatchSize + nextBatch: the size of the
    complete batch at `pos`, None when the bytes there end before one does, and
    CORRUPT_MESSAGE for a length or magic no batch can have."""
    remaining = len(buf) - pos
    if remaining < LOG_OVERHEAD:
        return None
    (length,) = _INT32.unpack_from(buf, pos + _LENGTH_AT)
    if length < _MIN_BATCH_LENGTH:
        raise InvalidBatch(
            ErrorCode.CORRUPT_MESSAGE,
            f"Record size {length} is less than the minimum record overhead ({_MIN_BATCH_LENGTH})",
        )
    if remaining < _MAGIC_AT + 1:
        return None
    magic = buf[pos + _MAGIC_AT]
    if magic > MAGIC_V2:  # a signed int8 < 0 reads as > 127 here
        raise InvalidMagic(ErrorCode.CORRUPT_MESSAGE, f"Invalid magic found in record: {magic}")
    size: int = length + LOG_OVERHEAD
    return size if remaining >= size else None


def validate_produce_batch(
    buf: Buffer,
    *,
    produce_version: int | None = None,
    max_message_bytes: int | None = None,
) -> BatchHeader:
    """Check the records of one produce partition (Produce v3+) as Kafka does, in
    Kafka's order: ProduceRequest.validateRecords, then UnifiedLog.
    analyzeAndValidateRecords, then LogValidator.validateBatch (origin CLIENT).

    Returns the header of the one batch. Kafka silently drops a trailing partial
    batch (UnifiedLog.trimInvalidBytes), so store `buf[:header.size]`, not `buf`.
    `produce_version` enables the zstd-before-v7 check; `max_message_bytes` is the
    topic's max.message.bytes. Raises InvalidBatch with the code Kafka answers.
    """
    size = _next_batch_size(buf, 0)
    if size is None:
        raise InvalidBatch(
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    if buf[_MAGIC_AT] != MAGIC_V2:
        raise InvalidBatch(
            ErrorCode.INVALID_RECORD,
            "Produce requests are only allowed to contain record batches with magic version 2",
        )
    if size < BATCH_HEADER_SIZE:
        # Kafka's DefaultRecordBatch.isValid fails on this; we refuse before reading
        # header fields that are not there.
        raise InvalidBatch(
            ErrorCode.CORRUPT_MESSAGE,
            f"Record batch size {size} is smaller than the batch overhead {BATCH_HEADER_SIZE}",
        )
    header = parse_header(buf)
    if (
        produce_version is not None
        and produce_version < 7
        and header.compression_id == Compression.ZSTD
    ):
        # KIP-110: zstd needs Produce v7.
        raise InvalidBatch(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"Produce requests with version {produce_version} are not allowed to use ZStandard",
        )
    if _next_batch_size(buf, size) is not None:
        raise InvalidBatch(
            ErrorCode.INVALID_RECORD,
            "Produce requests are only allowed to contain exactly one record batch per partition",
        )
    _check_log_append(buf, header, max_message_bytes)
    _check_batch_fields(header)
    return header


def _check_log_append(buf: Buffer, header: BatchHeader, max_message_bytes: int | None) -> None:
    """UnifiedLog.analyzeAndValidateRecords for a client append."""
    if header.base_offset != 0:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD,
            f"The baseOffset of the record batch should be 0, but it is {header.base_offset}",
        )
    if max_message_bytes is not None and header.size > max_message_bytes:
        raise InvalidBatch(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"The record batch size is {header.size} bytes which exceeds the maximum "
            f"configured value of {max_message_bytes}.",
        )
    if compute_crc(buf, 0, header.size) != header.crc:
        raise InvalidBatch(
            ErrorCode.CORRUPT_MESSAGE, f"Record is corrupt (stored crc = {header.crc})"
        )
    if header.compression_id > Compression.ZSTD:
        # Kafka's CompressionType.forId throws IllegalArgumentException here, which
        # ReplicaManager answers as UNKNOWN_SERVER_ERROR for the partition.
        raise FailedAppend(
            ErrorCode.UNKNOWN_SERVER_ERROR,
            f"Unknown compression type id: {header.compression_id}",
        )


def _check_batch_fields(header: BatchHeader) -> None:
    """LogValidator.validateBatch for origin CLIENT and magic 2."""
    count_from_offsets = header.last_offset_delta + 1
    if count_from_offsets <= 0:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD,
            f"Batch has an invalid offset range: [{header.base_offset}, {header.last_offset}]",
        )
    if header.records_count <= 0:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD,
            f"Invalid reported count for record batch: {header.records_count}",
        )
    if count_from_offsets != header.records_count:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD,
            f"Inconsistent batch offset range [{header.base_offset}, {header.last_offset}] "
            f"and count of records {header.records_count}",
        )
    if header.is_control:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD, "Clients are not allowed to write control records"
        )
    if header.has_producer_id and header.base_sequence < 0:
        raise FailedAppend(
            ErrorCode.INVALID_RECORD,
            f"Invalid sequence number {header.base_sequence} in record batch "
            f"with producerId {header.producer_id}",
        )


def assign_offsets(buf: bytearray, pos: int, base_offset: int, leader_epoch: int) -> None:
    """Write the broker-assigned base offset and partition leader epoch; both lie
    before the CRC'd range, so the stored CRC stays valid."""
    _INT64.pack_into(buf, pos + _BASE_OFFSET_AT, base_offset)
    _INT32.pack_into(buf, pos + _LEADER_EPOCH_AT, leader_epoch)


def set_log_append_time(buf: bytearray, pos: int, timestamp_ms: int) -> None:
    """Kafka's DefaultRecordBatch.setMaxTimestamp(LOG_APPEND_TIME, ts): set the
    timestamp-type bit (other attribute bits kept), overwrite maxTimestamp, leave
    baseTimestamp alone, and recompute the CRC, which covers both fields."""
    (attributes,) = _INT16.unpack_from(buf, pos + _ATTRIBUTES_AT)
    _INT16.pack_into(buf, pos + _ATTRIBUTES_AT, attributes | TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(buf, pos + _MAX_TIMESTAMP_AT, timestamp_ms)
    update_crc(buf, pos)


def iter_batches(buf: Buffer, start: int = 0) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each complete batch in concatenated stored batches.

    Stops without raising at the first place that does not hold a complete batch
    with a full header: a torn tail, or a length field too small to be a batch
    (zeroed pre-allocated space). Magic and CRC are not checked here; see
    `valid_prefix`.
    """
    pos = start
    end = len(buf)
    while end - pos >= BATCH_HEADER_SIZE:
        (length,) = _INT32.unpack_from(buf, pos + _LENGTH_AT)
        size = length + LOG_OVERHEAD
        if size < BATCH_HEADER_SIZE or size > end - pos:
            return
        yield pos, parse_header(buf, pos)
        pos += size


def valid_prefix(buf: Buffer, base_offset: int | None = None) -> tuple[int, str | None]:
    """(length, problem): how many leading bytes of `buf` are whole magic-2 batches
    whose CRC matches and, given `base_offset`, whose offsets run on from it with
    no gap; and why the run ended before the end of `buf`, or None when all that
    is left is too short to be a whole batch (a read cut at its size limit).

    The per-batch work is kept to two struct reads and one CRC-32C call: every
    fetch runs this over the bytes it serves.
    """
    view = memoryview(buf)
    pos = 0
    end = len(view)
    expected = base_offset
    while end - pos >= BATCH_HEADER_SIZE:
        base, length, _epoch, magic, crc = _PREFIX.unpack_from(view, pos)
        size = length + LOG_OVERHEAD
        if size > end - pos and size >= BATCH_HEADER_SIZE and magic == MAGIC_V2:
            return pos, None  # cut short by the read, not damaged
        (last_delta,) = _INT32.unpack_from(view, pos + _LAST_DELTA_AT)
        if magic != MAGIC_V2 or size < BATCH_HEADER_SIZE or last_delta < 0:
            return pos, "not a batch header"
        if expected is not None and base != expected:
            return pos, f"base offset {base}, expected {expected}"
        if crc32c.crc32c(view[pos + _ATTRIBUTES_AT:pos + size]) != crc:
            return pos, "CRC mismatch"
        expected = base + last_delta + 1
        pos += size
    return pos, None
