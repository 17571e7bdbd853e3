"""The TCP listener and one task per connection (asyncio streams on uvloop).

Each connection reads a 4-byte size, refuses sizes above
`socket.request.max.bytes` before reading (so nothing is allocated for them),
then hands the frame to the dispatcher and writes the answer. One request is
processed at a time per connection, so responses leave in request order, as
Kafka's SocketServer guarantees; a long-polling fetch therefore delays only
its own connection. Any framing or header violation closes that connection
with one log line; other connections never notice.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable

from kwire.errors import ProtocolViolation

log = logging.getLogger("kwire.net")

_SIZE = struct.Struct(">i")
# api_key + api_version + correlation_id + client_id length
_MIN_REQUEST_SIZE = 10

Dispatch = Callable[[bytes, str], Awaitable[list[bytes] | None]]


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.host = peer[0] if isinstance(peer, tuple) else "unknown"
        self.busy = False
        self.closing = False
        self.last_active = time.monotonic()


class Server:
    def __init__(
        self,
        dispatch: Dispatch,
        host: str,
        port: int,
        max_request_size: int,
        max_connections: int,
        max_idle_ms: int = 600_000,
    ) -> None:
        self._dispatch = dispatch
        self._host = host
        self._port = port
        self._max_request_size = max_request_size
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        self._max_idle = max_idle_ms / 1000 if max_idle_ms >= 0 else None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, backlog=4096, reuse_address=True
        )
        sock = self._server.sockets[0]
        host, port = sock.getsockname()[:2]
        if self._max_idle is not None:
            self._reaper = asyncio.create_task(self._close_idle(self._max_idle))
        return str(host), int(port)

    async def _close_idle(self, max_idle: float) -> None:
        """connections.max.idle.ms: close connections with no request for that long."""
        while True:
            await asyncio.sleep(min(max_idle, 30.0))
            cutoff = time.monotonic() - max_idle
            for conn, task in list(self._connections.items()):
                if not conn.busy and conn.last_active < cutoff:
                    log.info("closing %s: idle for more than connections.max.idle.ms", conn.peer)
                    task.cancel()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        if len(self._connections) >= self._max_connections:
            log.warning("refusing %s: max.connections=%d reached", conn.peer, self._max_connections)
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        assert task is not None
        self._connections[conn] = task
        try:
            await self._serve(conn)
        finally:
            del self._connections[conn]
            writer.close()

    async def _serve(self, conn: Connection) -> None:
        reader, writer = conn.reader, conn.writer
        try:
            while not conn.closing:
                head = await reader.readexactly(4)
                (size,) = _SIZE.unpack(head)
                if size < _MIN_REQUEST_SIZE or size > self._max_request_size:
                    log.warning(
                        "closing %s: request size %d outside %d..%d (socket.request.max.bytes)",
                        conn.peer, size, _MIN_REQUEST_SIZE, self._max_request_size,
                    )
                    return
                frame = await reader.readexactly(size)
                conn.busy = True
                conn.last_active = time.monotonic()
                try:
                    chunks = await self._dispatch(frame, conn.host)
                    if chunks is not None:
                        # Chunks go out as they are: fetched batches are not copied.
                        size = sum(len(chunk) for chunk in chunks)
                        writer.writelines([_SIZE.pack(size), *chunks])
                        await writer.drain()
                finally:
                    conn.busy = False
                    conn.last_active = time.monotonic()
        except ProtocolViolation as exc:
            log.warning("closing %s: %s", conn.peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Stop accepting, let requests in flight finish, then close every connection."""
        if self._server is not None:
            self._server.close()
        if self._reaper is not None:
            self._reaper.cancel()
        for conn, task in list(self._connections.items()):
            conn.closing = True
            if not conn.busy:
                task.cancel()
        pending = list(self._connections.values())
        if pending:
            _done, still = await asyncio.wait(pending, timeout=grace_seconds)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
