"""A tiny raw Fetch (v4, non-flexible) so tests can see the stored record batches
themselves, independent of any client library: which codec each batch carries
(attributes bits 0-2) and whether its CRC-32C is intact.

Used to check that a client really compressed with the codec asked for and that
the broker served the batch as the producer wrote it (compression.type=producer).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import crc32c

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass(frozen=True)
class BatchHeader:
    base_offset: int
    last_offset_delta: int
    magic: int
    codec: int
    timestamp_type: int
    crc_ok: bool
    records: int


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def fetch_batches(bootstrap: str, topic: str, partition: int, offset: int = 0,
                  max_bytes: int = 4 * 1024 * 1024, timeout: float = 10.0) -> list[BatchHeader]:
    """One Fetch v4 to the bootstrap broker (the leader on a single node)."""
    host, port = bootstrap.rsplit(":", 1)
    # replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level
    body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", partition, offset, max_bytes)
    header = struct.pack(">hhi", 1, 4, 7) + _str("compat-wire")
    req = header + body
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(req)) + req)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        resp = _recv_exact(sock, size)
    pos = 4  # correlation id
    pos += 4  # throttle_time_ms
    (ntopics,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    assert ntopics == 1, ntopics
    (tlen,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + tlen
    (nparts,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    assert nparts == 1, nparts
    p, err, _hw, _lso = struct.unpack_from(">ihqq", resp, pos)
    pos += 4 + 2 + 8 + 8
    assert err == 0, f"Fetch error code {err} for {topic}-{partition}"
    (naborted,) = struct.unpack_from(">i", resp, pos)
    pos += 4 + max(naborted, 0) * 16
    (rlen,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    records = resp[pos:pos + max(rlen, 0)]
    return parse_batches(records)


def parse_batches(data: bytes) -> list[BatchHeader]:
    """Record batch v2 headers; a truncated trailing batch (allowed in Fetch) is dropped."""
    out = []
    pos = 0
    while pos + 61 <= len(data):
        base_offset, batch_len = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + batch_len
        if end > len(data):
            break
        magic = data[pos + 16]
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        (attrs, last_delta) = struct.unpack_from(">hi", data, pos + 21)
        (count,) = struct.unpack_from(">i", data, pos + 57)
        out.append(BatchHeader(base_offset, last_delta, magic, attrs & 0x7, (attrs >> 3) & 1,
                               crc32c.crc32c(data[pos + 21:end]) == crc, count))
        pos = end
    return out
