"""Where a group or a transactional id is coordinated, asked the way a client asks:
raw FindCoordinator requests, so that tests need no client library for it."""

from __future__ import annotations

import socket
import struct
import time


def find_coordinator_at(bootstrap: str, key: str, timeout: float = 30.0, key_type: int = 0
                        ) -> tuple[int, str]:
    """(node id, "host:port") of the coordinator of a group (key_type 0) or a
    transactional id (1), by FindCoordinator v1 to the brokers of `bootstrap` in
    turn, retrying errors (the internal topic being created or loaded, a broker
    just gone) for up to `timeout` s."""
    encoded = key.encode()
    client_id = b"compat-find-coordinator"
    request = (struct.pack(">hhih", 10, 1, 1, len(client_id)) + client_id
               + struct.pack(">h", len(encoded)) + encoded + struct.pack(">b", key_type))
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        for address in bootstrap.split(","):
            host, port = address.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=5) as sock:
                    sock.sendall(struct.pack(">i", len(request)) + request)
                    data = b""
                    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("connection closed")
                        data += chunk
            except OSError as exc:
                last = f"{address}: {exc}"
                continue
            # correlation id, throttle_time_ms, error_code, error_message (nullable)
            _corr, _throttle, error, msg_len = struct.unpack_from(">iihh", data, 4)
            pos = 16 + max(msg_len, 0)
            node_id, host_len = struct.unpack_from(">ih", data, pos)
            found_host = data[pos + 6:pos + 6 + host_len].decode()
            (found_port,) = struct.unpack_from(">i", data, pos + 6 + host_len)
            if error == 0:
                return node_id, f"{found_host}:{found_port}"
            last = f"{address}: error code {error}"
        if time.monotonic() > deadline:
            raise AssertionError(f"FindCoordinator({key!r}, key_type={key_type}) failed for "
                                 f"{timeout:.0f} s: {last}")
        time.sleep(0.2)
