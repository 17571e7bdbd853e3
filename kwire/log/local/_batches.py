"""The record-batch facts the log relies on, from `kwire.records.batch`.

The log never decodes records: it reads a batch's header to learn its offsets,
size and max timestamp, checks the CRC when recovering a torn tail, and writes
the assigned base offset and partition leader epoch. This module adds the one
check only the log needs — whether a header can start a stored batch.
"""

from __future__ import annotations

from kwire.records.batch import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchError,
    BatchHeader,
    Buffer,
    assign_offsets,
    compute_crc,
    parse_header,
    valid_prefix,
)

# parse_header raises this when fewer than a header's bytes remain.
HeaderError = BatchError

__all__ = [
    "BATCH_HEADER_SIZE", "INT32_MAX", "LOG_OVERHEAD", "MAGIC_V2", "BatchHeader", "Buffer",
    "HeaderError", "assign_offsets", "compute_crc", "header_problem", "parse_appended_batch",
    "parse_header", "valid_prefix",
]


def header_problem(header: BatchHeader) -> str | None:
    """Why this header cannot start a stored batch, or None if it can."""
    if header.magic != MAGIC_V2:
        return f"magic {header.magic}"
    if header.size < BATCH_HEADER_SIZE:
        return f"batch length {header.batch_length} shorter than a header"
    if header.last_offset_delta < 0:
        return f"last offset delta {header.last_offset_delta}"
    return None


def parse_appended_batch(batch: Buffer, owner: object) -> BatchHeader:
    """The header of the one v2 batch an append hands the log; ValueError naming
    `owner` (the partition) when `batch` is not exactly one such batch."""
    header = parse_header(batch)
    problem = header_problem(header)
    if problem is None and header.size != len(batch):
        problem = f"batch length says {header.size} bytes, got {len(batch)}"
    if problem is not None:
        raise ValueError(f"{owner}: not one v2 record batch: {problem}")
    return header
