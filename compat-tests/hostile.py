"""Raw-socket helpers for test_hostile_clients.py: the few requests those tests
send by hand (Produce v3, Fetch v4, Metadata v1), so a test controls exactly
what a hostile client does with its socket (never reading, stalling mid-frame).
"""

from __future__ import annotations

import socket
import struct
import time

import psutil

from kwire.records.builder import build_batch


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api_key: int, version: int, correlation_id: int, body: bytes,
          client: str = "hostile") -> bytes:
    payload = struct.pack(">hhi", api_key, version, correlation_id) + _str(client) + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def recv_response(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def fetch_v4_discard(sock: socket.socket) -> int:
    """Read one Fetch v4 response without keeping it; returns its records size."""
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    head = recv_exact(sock, min(size, 4096))
    scratch = memoryview(bytearray(1 << 20))
    left = size - len(head)
    while left:
        n = sock.recv_into(scratch, min(left, len(scratch)))
        if not n:
            raise ConnectionError("broker closed the connection")
        left -= n
    return fetch_v4_records_size(head)


def metadata_v1(correlation_id: int, topic: str | None = None) -> bytes:
    body = struct.pack(">i", -1) if topic is None else struct.pack(">i", 1) + _str(topic)
    return frame(3, 1, correlation_id, body)


def produce_v3(correlation_id: int, topic: str, records: bytes, acks: int = 1) -> bytes:
    body = struct.pack(">hhi", -1, acks, 30_000)  # null transactional id, acks, timeout
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1)
    body += struct.pack(">ii", 0, len(records)) + records
    return frame(0, 3, correlation_id, body)


def fetch_v4(correlation_id: int, topic: str, offset: int = 0, max_bytes: int = 2**31 - 1,
             partition_max_bytes: int = 2**31 - 1, max_wait_ms: int = 0) -> bytes:
    # replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level
    body = struct.pack(">iiiib", -1, max_wait_ms, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqi", 0, offset, partition_max_bytes)
    return frame(1, 4, correlation_id, body)


def fetch_v4_records_size(response: bytes) -> int:
    """Bytes of records in a one-partition Fetch v4 response body."""
    pos = 4 + 4 + 4  # correlation id, throttle time, topic count
    (name_len,) = struct.unpack_from(">h", response, pos)
    pos += 2 + name_len + 4  # name, partition count
    pos += 4 + 2 + 8 + 8  # index, error, high watermark, last stable offset
    (aborted,) = struct.unpack_from(">i", response, pos)
    pos += 4 + max(aborted, 0) * 16
    (size,) = struct.unpack_from(">i", response, pos)
    return int(size)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def fill_topic(port: int, topic: str, total_bytes: int, batch_bytes: int = 900_000) -> int:
    """Produce about `total_bytes` in batches of `batch_bytes` to partition 0 of
    `topic` (auto-created); returns the bytes stored."""
    batch = build_batch([(None, b"x" * batch_bytes, [])], base_timestamp=int(time.time() * 1000))
    stored = 0
    with connect(port, timeout=30) as sock:
        sock.sendall(metadata_v1(1, topic))  # auto-creates the topic
        recv_response(sock)
        i = 0
        while stored < total_bytes:
            i += 1
            sock.sendall(produce_v3(100 + i, topic, batch))
            resp = recv_response(sock)
            # correlation id, topic count, name, partition count, index, error code
            pos = 4 + 4 + 2 + len(topic.encode()) + 4 + 4
            (error,) = struct.unpack_from(">h", resp, pos)
            if error in (3, 5) and i < 50:  # the auto-created topic is not ready yet
                time.sleep(0.1)
                continue
            if error:
                raise AssertionError(f"produce failed with error {error}")
            stored += len(batch)
    return stored


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)
