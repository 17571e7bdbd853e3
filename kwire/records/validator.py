"""Record-level checks of a produced v2 batch, and broker-side recompression:
the part of Kafka's LogValidator that looks inside the batch.

Theory of operation. Kafka's LogValidator walks every record of every produced
batch: a compacted topic refuses a record without a key (INVALID_RECORD), a
CreateTime topic refuses a timestamp outside [now - message.timestamp.before.max.ms,
now + message.timestamp.after.max.ms], a LogAppendTime topic refuses a batch
the producer already marked LogAppendTime (both INVALID_TIMESTAMP). Each bad
record is named by its index in the batch (`RecordError`), and the whole batch
is refused. When the topic's compression.type names a codec other than the
batch's, Kafka rebuilds the batch (`buildRecordsAndAssignOffsets`): same
producer id, epoch, base sequence and transactional flag, each record's key,
value, headers and timestamp, offsets renumbered from 0, the first record's
timestamp as base timestamp, the largest as max timestamp, a new CRC.

kwire keeps the produce hot path free of record decoding, so `needs_records`
decides from the header alone whether each record must be read: for a
compacted topic, a batch marked LogAppendTime by its producer, a finite
message.timestamp.before.max.ms, or a header max timestamp past
now + message.timestamp.after.max.ms. A codec change alone re-encodes the
records' bytes as they are (`_recompress`): a producer's batch already has the
shape Kafka's rebuild gives it. The differences from Kafka: a batch whose
header claims a max timestamp in range while a record's own timestamp is later
(a header no client writes) is stored as it came, and a batch whose offset
deltas do not run from 0 keeps them when re-encoded.

Pure: no I/O, no asyncio. Messages are Kafka 4.4's, word for word.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from kwire.errors import ErrorCode
from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    NO_PARTITION_LEADER_EPOCH,
    TIMESTAMP_TYPE_BIT,
    TRANSACTIONAL_BIT,
    BatchError,
    BatchHeader,
    Buffer,
    Compression,
    FailedAppend,
    pack_header,
    update_crc,
)
from kwire.records.builder import read_varint, write_varint
from kwire.records.compression import compress, decompress

LONG_MAX = 2**63 - 1
NO_TIMESTAMP = -1  # RecordBatch.NO_TIMESTAMP: a record without a timestamp is never refused
_ATTRIBUTES_AT = 21
_INT16 = struct.Struct(">h")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the topic asks of a produced batch (its LogConfig)."""

    compacted: bool = False  # cleanup.policy contains compact
    log_append_time: bool = False  # message.timestamp.type=LogAppendTime
    timestamp_before_max_ms: int = LONG_MAX  # message.timestamp.before.max.ms
    timestamp_after_max_ms: int = 3_600_000  # message.timestamp.after.max.ms (Kafka 4.x default)
    target: Compression | None = None  # compression.type; None is "producer"
    level: int | None = None  # compression.<codec>.level for the target codec


@dataclass(frozen=True, slots=True)
class RecordError:
    """Kafka's ProduceResponse.RecordError: the record's index in the batch."""

    batch_index: int
    message: str

    def __str__(self) -> str:
        return f"RecordError(batchIndex={self.batch_index}, message='{self.message}')"


class RecordValidationError(FailedAppend):
    """Kafka's RecordValidationException: the batch is refused with
    `error_code`, `message` (the one refusal Kafka sends as error_message), and
    one RecordError per bad record."""

    def __init__(self, error_code: ErrorCode, message: str,
                 record_errors: tuple[RecordError, ...]) -> None:
        super().__init__(error_code, message)
        self.record_errors = record_errors


@dataclass(frozen=True, slots=True)
class _Record:
    """One record as read from the payload: `body` is key..headers, raw."""

    offset_delta: int
    timestamp: int
    key_size: int  # -1 for a null key
    value_size: int
    body: memoryview


def _int64(n: int) -> int:
    """Java long arithmetic: Kafka computes the bounds and differences in int64."""
    return (n + 2**63) % 2**64 - 2**63


def target_codec(header: BatchHeader, settings: Settings) -> Compression:
    return header.compression if settings.target is None else settings.target


def needs_records(header: BatchHeader, settings: Settings, now_ms: int) -> bool:
    """Whether each record must be read to validate this batch (see the module
    docstring); a codec change alone does not need it."""
    if settings.compacted or header.is_log_append_time:
        # A producer's LogAppendTime mark is refused on a LogAppendTime topic and
        # undone (every record takes the batch's max timestamp) on a CreateTime one.
        return True
    if settings.log_append_time:
        return False
    if settings.timestamp_before_max_ms < LONG_MAX:
        return True
    return _int64(header.max_timestamp - now_ms) > settings.timestamp_after_max_ms


def validate(
    batch: bytearray, header: BatchHeader, settings: Settings, now_ms: int, partition: str
) -> bytearray:
    """The batch to append: `batch` itself, or a rebuilt one in the target codec.

    `partition` is "<topic>-<index>", as Kafka names it in messages. Raises
    RecordValidationError when a record is refused, BatchError when the
    records cannot be read.
    """
    codec = target_codec(header, settings)
    if not needs_records(header, settings, now_ms):
        return batch if codec == header.compression else _recompress(batch, header, settings)
    records = list(_read_records(batch, header))
    _check(records, header, settings, now_ms, partition)
    if codec == header.compression:
        if header.is_log_append_time:  # a CreateTime topic: _check refuses it elsewhere
            _clear_log_append_time(batch)
        return batch
    return _rebuild(records, header, settings, codec)


def _read_records(batch: Buffer, header: BatchHeader) -> Iterator[_Record]:
    payload = memoryview(decompress(header.compression, memoryview(batch)[BATCH_HEADER_SIZE:
                                                                         header.size]))
    # DefaultRecordBatch: in a LogAppendTime batch every record reads the batch's
    # max timestamp.
    append_time = header.max_timestamp if header.is_log_append_time else None
    pos = 0
    for _ in range(header.records_count):
        length, pos = read_varint(payload, pos)
        end = pos + length
        if length < 1 or end > len(payload):
            raise BatchError("record length runs past the end of the records")
        timestamp_delta, field = read_varint(payload, pos + 1)  # + 1: attributes byte
        offset_delta, field = read_varint(payload, field)
        body_at = field
        key_size, field = read_varint(payload, field)
        field += max(key_size, 0)
        if field > end:
            raise BatchError("record key runs past the record length")
        value_size, _ = read_varint(payload, field)
        timestamp = (append_time if append_time is not None
                     else header.base_timestamp + timestamp_delta)
        yield _Record(offset_delta, timestamp, key_size, value_size, payload[body_at:end])
        pos = end
    if pos != len(payload):
        raise BatchError("bytes left after the last record")


def _check(records: list[_Record], header: BatchHeader, settings: Settings, now_ms: int,
           partition: str) -> None:
    """LogValidator.validateRecord for each record, then processRecordErrors."""
    errors: list[RecordError] = []
    any_timestamp_error = False
    low = _int64(now_ms - settings.timestamp_before_max_ms)
    high = _int64(now_ms + settings.timestamp_after_max_ms)
    for index, record in enumerate(records):
        if settings.compacted and record.key_size < 0:
            errors.append(RecordError(index, "Compacted topic cannot accept message without key "
                                             f"in topic partition {partition}"))
            continue
        message = None
        if not settings.log_append_time and record.timestamp != NO_TIMESTAMP:
            diff = _int64(now_ms - record.timestamp)
            if diff > settings.timestamp_before_max_ms or _int64(-diff) > \
                    settings.timestamp_after_max_ms:
                message = (f"Timestamp {record.timestamp} of message with offset "
                           f"{header.base_offset + record.offset_delta} is out of range. "
                           f"The timestamp should be within [{low}, {high}]")
        elif header.is_log_append_time:
            message = (f"Invalid timestamp type in message {_describe(record, header)}. "
                       "Producer should not set timestamp type to LogAppendTime.")
        if message is not None:
            errors.append(RecordError(index, message))
            any_timestamp_error = True
    if not errors:
        return
    if any_timestamp_error:
        raise RecordValidationError(
            ErrorCode.INVALID_TIMESTAMP,
            "One or more records have been rejected due to invalid timestamp", tuple(errors))
    shown = ", ".join(str(e) for e in errors[:3])
    raise RecordValidationError(
        ErrorCode.INVALID_RECORD,
        f"One or more records have been rejected due to {len(errors)} record errors in total, "
        f"and only showing the first three errors at most: [{shown}]", tuple(errors))


def _clear_log_append_time(batch: bytearray) -> None:
    """Kafka's setMaxTimestamp(CREATE_TIME, max) on a producer's LogAppendTime
    batch: the max timestamp stays (every record read as it), the type becomes
    CreateTime, so records then read base timestamp + their deltas."""
    (attributes,) = _INT16.unpack_from(batch, _ATTRIBUTES_AT)
    _INT16.pack_into(batch, _ATTRIBUTES_AT, attributes & ~TIMESTAMP_TYPE_BIT)
    update_crc(batch, 0)


def _describe(record: _Record, header: BatchHeader) -> str:
    """DefaultRecord.toString."""
    return (f"DefaultRecord(offset={header.base_offset + record.offset_delta}, "
            f"timestamp={record.timestamp}, key={max(record.key_size, 0)} bytes, "
            f"value={max(record.value_size, 0)} bytes)")


def _recompress(batch: bytearray, header: BatchHeader, settings: Settings) -> bytearray:
    """The same records in the target codec, their bytes untouched.

    Kafka rebuilds every record (offset deltas from 0, the first record's
    timestamp as base); a producer's batch already has that shape, so only the
    payload is re-encoded here, which keeps the records loop out of the hot path
    (a batch that does not have that shape keeps its deltas, as kwire keeps them
    in batches it does not re-encode)."""
    codec = target_codec(header, settings)
    body = memoryview(batch)[BATCH_HEADER_SIZE:header.size]
    records = body if header.compression == Compression.NONE else decompress(
        header.compression, body)
    payload = compress(codec, records, settings.level)
    attributes = int(codec) | (header.attributes & TRANSACTIONAL_BIT)
    if settings.log_append_time:
        attributes |= TIMESTAMP_TYPE_BIT  # the partition stamps the append time itself
    return _with_payload(header, attributes, header.base_timestamp, header.max_timestamp,
                         header.records_count, payload)


def _with_payload(header: BatchHeader, attributes: int, base_timestamp: int,
                  max_timestamp: int, count: int, payload: bytes) -> bytearray:
    """A new batch with `header`'s producer fields around `payload` (CRC set)."""
    rebuilt = BatchHeader(
        base_offset=0,
        batch_length=BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload),
        partition_leader_epoch=NO_PARTITION_LEADER_EPOCH,
        magic=header.magic,
        crc=0,
        attributes=attributes,
        last_offset_delta=count - 1,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        records_count=count,
    )
    out = bytearray(rebuilt.size)
    pack_header(out, 0, rebuilt)
    out[BATCH_HEADER_SIZE:] = payload
    update_crc(out, 0)
    return out


def _rebuild(records: list[_Record], header: BatchHeader, settings: Settings,
             codec: Compression) -> bytearray:
    """MemoryRecordsBuilder as buildRecordsAndAssignOffsets drives it: offsets
    0..n-1 (the log assigns the base), base timestamp from the first record."""
    base_timestamp = records[0].timestamp
    body = bytearray()
    record = bytearray()
    for offset_delta, r in enumerate(records):
        record.clear()
        record.append(0)  # record attributes: unused
        write_varint(record, r.timestamp - base_timestamp)
        write_varint(record, offset_delta)
        record += r.body
        write_varint(body, len(record))
        body += record
    payload = compress(codec, body, settings.level)
    attributes = int(codec) | (header.attributes & TRANSACTIONAL_BIT)
    if settings.log_append_time:
        attributes |= TIMESTAMP_TYPE_BIT  # the partition stamps the append time itself
    return _with_payload(header, attributes, base_timestamp,
                         max(r.timestamp for r in records), len(records), payload)
