"""Record-level timestamp lookups inside one stored v2 batch, for ListOffsets.

The log picks the batch from its header; these functions find the record in it,
with Kafka's semantics:

- by timestamp: FileRecords.searchForTimestamp takes the first record, in offset
  order, whose timestamp is >= the target (and whose offset is >= the log start
  offset), and answers that record's offset and timestamp.
- max timestamp (-3, KIP-734): RecordBatch.offsetOfMaxTimestamp takes the first
  record, in offset order, whose timestamp equals the batch's max timestamp.

A record's timestamp is baseTimestamp + timestampDelta, except in a
LogAppendTime batch (attributes bit 3), where every record's timestamp is the
batch's maxTimestamp (DefaultRecordBatch's iterator). Offsets are baseOffset +
offsetDelta, read from each record: a compacted batch may have gaps, so the
first record is not always at baseOffset.

Records are read only as far as needed, and only their length, timestampDelta
and offsetDelta varints: key, value and headers are skipped by the length.
Compressed payloads are decompressed whole first (`kwire.records.compression`).

Control batches: Kafka's searches do not skip them (a transaction marker's
record has a timestamp and an offset like any other), but by default these
functions answer None for one; pass skip_control=False for Kafka's behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator

from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    MAGIC_V2,
    BatchError,
    Buffer,
    Compression,
    parse_header,
)
from kwire.records.builder import read_varint
from kwire.records.compression import decompress


def record_timestamps(batch: Buffer) -> Iterator[tuple[int, int]]:
    """(offset, timestamp) of each record of the v2 batch at the start of `batch`,
    in offset order, with Kafka's timestamp rules (see the module docstring).

    Raises BatchError if the batch is truncated, not magic 2, uses an unknown
    codec, or its records do not parse as far as they are read.
    """
    header = parse_header(batch)
    if header.magic != MAGIC_V2:
        raise BatchError(f"record batch has magic {header.magic}, not {MAGIC_V2}")
    if header.size < BATCH_HEADER_SIZE or len(batch) < header.size:
        raise BatchError(f"batch of {header.size} bytes, {len(batch)} available")
    try:
        codec = header.compression
    except ValueError as exc:
        raise BatchError(f"unknown compression type id {header.compression_id}") from exc
    body = memoryview(batch)[BATCH_HEADER_SIZE : header.size]
    payload: Buffer = body if codec == Compression.NONE else decompress(codec, body)
    log_append_time = header.max_timestamp if header.is_log_append_time else None
    end = len(payload)
    pos = 0
    for _ in range(header.records_count):
        length, pos = read_varint(payload, pos)
        record_end = pos + length
        if length < 1 or record_end > end:
            raise BatchError("record length runs past the end of the records")
        # pos + 1 skips the record's attributes byte.
        timestamp_delta, field = read_varint(payload, pos + 1)
        offset_delta, field = read_varint(payload, field)
        if field > record_end:
            raise BatchError("record fields run past the record length")
        timestamp = (
            log_append_time
            if log_append_time is not None
            else header.base_timestamp + timestamp_delta
        )
        yield header.base_offset + offset_delta, timestamp
        pos = record_end


def first_record_at_or_after(
    batch: Buffer, timestamp: int, *, min_offset: int = 0, skip_control: bool = True
) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record, by offset, whose timestamp is >=
    `timestamp` and whose offset is >= `min_offset` (the log start offset, which
    may lie inside the batch); None if there is none, or for a control batch
    unless `skip_control` is False."""
    if skip_control and parse_header(batch).is_control:
        return None
    for offset, record_timestamp in record_timestamps(batch):
        if record_timestamp >= timestamp and offset >= min_offset:
            return offset, record_timestamp
    return None


def max_timestamp_record(batch: Buffer, *, skip_control: bool = True) -> tuple[int, int] | None:
    """(offset, timestamp) of the record with the largest timestamp, the first by
    offset if several share it; None for a batch without records, or for a control
    batch unless `skip_control` is False.

    Kafka answers the header's maxTimestamp with the offset of the first record
    carrying it; its broker always stores the true maximum there, so this takes
    the maximum from the records themselves.
    """
    header = parse_header(batch)
    if skip_control and header.is_control:
        return None
    if header.is_log_append_time:
        # Every record carries the batch's maxTimestamp: the first record wins.
        return next(record_timestamps(batch), None)
    best: tuple[int, int] | None = None
    for offset, record_timestamp in record_timestamps(batch):
        if best is None or record_timestamp > best[1]:
            best = offset, record_timestamp
    return best
