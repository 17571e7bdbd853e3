"""Free TCP ports for the processes the tests start.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the
same range it draws from for every outgoing connection. Between picking such a
port and the child process binding it, any client connection in the test run
can take it as its local port, and the child then fails with EADDRINUSE (seen
in CI: a cluster broker could not start). Ports below the ephemeral range are
never used for outgoing connections, so a port picked there stays free unless
another listener takes it; picks are also remembered so one test process never
hands the same port out twice.
"""
from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

# Kafka-free and well clear of the usual service ports; the top end is cut to
# the start of the ephemeral range when that starts lower.
_LOW = 20000
_HIGH = 32000
_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """A listener could bind `port` now (with SO_REUSEADDR, as the servers the
    tests start do: a port held only by connections in TIME_WAIT counts as free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now, outside the ephemeral range, not handed out before."""
    high = min(_HIGH, _ephemeral_start())
    with _lock:
        for _ in range(1000):
            port = random.randrange(_LOW, high)
            if port not in _handed_out and port_is_free(port, host):
                _handed_out.add(port)
                return port
    # Fall back to the kernel's choice rather than fail the test set-up.
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports."""
    return [free_port(host) for _ in range(count)]
