"""Record batches (magic v2) built and read by the harness itself, independent of
the broker under test: scenarios need exact bytes, including broken ones (bad
CRC, wrong magic, lying record counts), and both brokers must get the same.

Decoding turns fetched bytes into logical content (offsets, epochs, producer
fields, records after decompression) so a broker that recompresses with another
library build still compares equal where Kafka's semantics are equal; the raw
CRC and batch length are left out on purpose (compressed sizes legitimately
differ), `crc_ok` stays in.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from typing import Any

import cramjam
import crc32c
import lz4.frame
import zstandard

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
FIXED_TIMESTAMP = 1_700_000_000_000  # CreateTime of every record the harness writes


def _varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _bytes_field(b: bytes | None) -> bytes:
    return _varint(-1) if b is None else _varint(len(b)) + b


def _record(i: int, key: bytes | None, value: bytes | None,
            headers: tuple[tuple[str, bytes | None], ...]) -> bytes:
    body = b"\x00" + _varint(0) + _varint(i) + _bytes_field(key) + _bytes_field(value)
    body += _varint(len(headers))
    for hk, hv in headers:
        body += _bytes_field(hk.encode()) + _bytes_field(hv)
    return _varint(len(body)) + body


def compress(codec: int, data: bytes) -> bytes:
    if codec == GZIP:
        return gzip.compress(data, mtime=0)
    if codec == SNAPPY:  # Kafka's snappy is the xerial framing
        return _xerial(data)
    if codec == LZ4:
        return bytes(lz4.frame.compress(data))
    if codec == ZSTD:
        return zstandard.ZstdCompressor().compress(data)
    return data


def _xerial(data: bytes) -> bytes:
    block = bytes(cramjam.snappy.compress_raw(data))
    head = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    return head + struct.pack(">i", len(block)) + block


def decompress(codec: int, data: bytes) -> bytes:
    if codec == GZIP:
        return gzip.decompress(data)
    if codec == SNAPPY:
        if data.startswith(b"\x82SNAPPY\x00"):
            pos, out = 16, bytearray()
            while pos < len(data):
                (n,) = struct.unpack_from(">i", data, pos)
                out += bytes(cramjam.snappy.decompress_raw(data[pos + 4:pos + 4 + n]))
                pos += 4 + n
            return bytes(out)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == LZ4:
        return bytes(lz4.frame.decompress(data))
    if codec == ZSTD:
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


@dataclass(frozen=True)
class Batch:
    """What to put in one batch; the defaults give a valid non-idempotent batch."""

    records: tuple[tuple[bytes | None, bytes | None], ...] = ((b"k", b"v"),)
    headers: tuple[tuple[str, bytes | None], ...] = ()
    codec: int = NONE
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    transactional: bool = False
    control: bool = False
    magic: int = 2
    base_offset: int = 0
    partition_leader_epoch: int = -1
    timestamp: int = FIXED_TIMESTAMP
    bad_crc: bool = False
    count_override: int | None = None  # lie about the record count
    last_offset_delta_override: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # offset_deltas: per-record override

    def encode(self) -> bytes:
        deltas = self.extra.get("offset_deltas") or range(len(self.records))  # lie if asked
        recs = b"".join(_record(d, k, v, self.headers)
                        for d, (k, v) in zip(deltas, self.records, strict=True))
        payload = compress(self.codec, recs)
        attrs = self.codec | (0x10 if self.transactional else 0) | (0x20 if self.control else 0)
        last_delta = (self.last_offset_delta_override if self.last_offset_delta_override
                      is not None else max(len(self.records) - 1, 0))
        count = self.count_override if self.count_override is not None else len(self.records)
        after_crc = struct.pack(">hiqqqhii", attrs, last_delta, self.timestamp, self.timestamp,
                                self.producer_id, self.producer_epoch, self.base_sequence,
                                count) + payload
        crc = crc32c.crc32c(after_crc) ^ (0xFFFFFFFF if self.bad_crc else 0)
        tail = struct.pack(">ibI", self.partition_leader_epoch, self.magic, crc) + after_crc
        return struct.pack(">qi", self.base_offset, len(tail)) + tail


def batches(*items: Batch) -> bytes:
    return b"".join(b.encode() for b in items)


def decode_batches(data: bytes) -> list[dict[str, Any]]:
    """Logical content of every batch in `data` (see the module docstring)."""
    out: list[dict[str, Any]] = []
    pos = 0
    while pos < len(data):
        if pos + 17 > len(data):
            out.append({"partial_tail_bytes": len(data) - pos})
            break
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        magic = data[pos + 16]
        if end > len(data):
            out.append({"partial_tail_bytes": len(data) - pos})
            break
        if magic != 2:
            out.append({"base_offset": base_offset, "magic": magic, "raw": data[pos:end].hex()})
            pos = end
            continue
        (ple,) = struct.unpack_from(">i", data, pos + 12)
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        (attrs, last_delta, base_ts, max_ts, pid, pepoch, bseq, count) = struct.unpack_from(
            ">hiqqqhii", data, pos + 21)
        codec = attrs & 0x7
        batch: dict[str, Any] = {
            "base_offset": base_offset, "partition_leader_epoch": ple, "magic": magic,
            "crc_ok": crc32c.crc32c(data[pos + 21:end]) == crc,
            "codec": codec, "timestamp_type": (attrs >> 3) & 1,
            "transactional": bool(attrs & 0x10), "control": bool(attrs & 0x20),
            "last_offset_delta": last_delta, "base_timestamp": base_ts, "max_timestamp": max_ts,
            "producer_id": pid, "producer_epoch": pepoch, "base_sequence": bseq,
            "record_count": count,
        }
        try:
            batch["records"] = _decode_records(decompress(codec, data[pos + 61:end]), count)
        except Exception as exc:  # noqa: BLE001 - undecodable content is compared as such
            batch["records"] = f"<undecodable: {type(exc).__name__}>"
        out.append(batch)
        pos = end
    return out


def _decode_records(buf: bytes, count: int) -> list[dict[str, Any]]:
    recs = []
    pos = 0
    for _ in range(count):
        length, pos = _read_varint(buf, pos)
        end = pos + length
        pos += 1  # attributes
        ts_delta, pos = _read_varint(buf, pos)
        off_delta, pos = _read_varint(buf, pos)
        key, pos = _read_bytes(buf, pos)
        value, pos = _read_bytes(buf, pos)
        nh, pos = _read_varint(buf, pos)
        headers = []
        for _ in range(nh):
            hk, pos = _read_bytes(buf, pos)
            hv, pos = _read_bytes(buf, pos)
            headers.append([hk, hv])
        recs.append({"offset_delta": off_delta, "timestamp_delta": ts_delta,
                     "key": key, "value": value, "headers": headers})
        pos = end
    return recs


def _read_bytes(buf: bytes, pos: int) -> tuple[str | None, int]:
    n, pos = _read_varint(buf, pos)
    if n < 0:
        return None, pos
    return buf[pos:pos + n].decode("latin-1"), pos + n
