"""The TCP listener and one task per connection (asyncio streams on uvloop).

Each connection reads a 4-byte size, refuses sizes above
`socket.request.max.bytes` before reading (so nothing is allocated for them),
then hands the frame to the dispatcher and writes the answer. One request is
processed at a time per connection, so responses leave in request order, as
Kafka's SocketServer guarantees; a long-polling fetch therefore delays only
its own connection. Any framing or header violation closes that connection
with one log line; other connections never notice.

Memory bounds against hostile clients (Kafka's SocketServer/Selector rules):
- `queued.max.request.bytes`: a request frame larger than `SMALL_REQUEST_BYTES`
  reserves its size in a MemoryPool before its body is read; when the pool is
  exhausted the connection stops reading (TCP flow control holds the rest in
  the client's socket) until memory is released after a request is handled.
  Small frames never wait, so clients holding big unfinished frames cannot
  stall a well-behaved client's Metadata, heartbeats or small produces.
- Response budget: the bytes a response holds (Fetch batches) are leased from a
  second pool until the response has been handed to the socket in full; the
  Fetch handler shrinks its reads when the budget runs low.
- Write buffers: a connection's transport buffer is drained to empty before the
  next request is read, so a client that stops reading holds one response.
- `connections.max.idle.ms`: a connection with no read or write progress for
  that long is closed (Kafka's idle expiry, measured from the last progress),
  which also ends clients stuck mid-frame or never reading their answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable

from kwire.errors import ProtocolViolation
from kwire.net.memory_pool import MemoryPool, ResponseLease

log = logging.getLogger("kwire.net")

_SIZE = struct.Struct(">i")
# api_key + api_version + correlation_id + client_id length
_MIN_REQUEST_SIZE = 10
# Frames up to this size are read without waiting on queued.max.request.bytes:
# every Metadata, heartbeat, commit or small produce fits, and what they can hold
# is bounded per connection (this, plus the stream reader's own buffer limit).
SMALL_REQUEST_BYTES = 64 * 1024
# Large frames are read in pieces of at most this many bytes, so read progress
# is visible to the idle reaper and nothing beyond what arrived is buffered.
_READ_CHUNK = 1024 * 1024
# The idle reaper looks at least this often, and at most this rarely.
_MIN_REAP_TICK = 0.1
_MAX_REAP_TICK = 30.0

Dispatch = Callable[[bytes, str, ResponseLease], Awaitable[list[bytes] | None]]


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.host = peer[0] if isinstance(peer, tuple) else "unknown"
        self.busy = False  # a request is being handled (e.g. a long-polling fetch)
        self.closing = False
        self.last_active = time.monotonic()
        self.writing = False
        self.write_backlog = 0  # transport buffer size the reaper saw last


class Server:
    def __init__(
        self,
        dispatch: Dispatch,
        host: str,
        port: int,
        max_request_size: int,
        max_connections: int,
        max_idle_ms: int = 600_000,
        queued_max_request_bytes: int = -1,
        response_budget_bytes: int | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._host = host
        self._port = port
        self._max_request_size = max_request_size
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        # Kafka: a negative connections.max.idle.ms disables idle expiry.
        self._max_idle = max_idle_ms / 1000 if max_idle_ms >= 0 else None
        self._reaper: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.request_pool = MemoryPool(
            queued_max_request_bytes if queued_max_request_bytes > 0 else None)
        self.response_pool = MemoryPool(response_budget_bytes)
        self._memory_waiters: deque[asyncio.Future[None]] = deque()

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
        """connections.max.idle.ms: close connections without read or write progress
        for that long. Checks every quarter of the limit (within bounds), so a
        connection goes at most 1.25x the limit after its last progress; with no
        connections it sleeps until one arrives (0 never spins)."""
        tick = min(max(max_idle / 4, _MIN_REAP_TICK), _MAX_REAP_TICK)
        while True:
            if not self._connections:
                self._connected.clear()
                await self._connected.wait()
            await asyncio.sleep(tick)
            now = time.monotonic()
            cutoff = now - max_idle
            for conn, task in list(self._connections.items()):
                if conn.busy:
                    continue
                if conn.writing:
                    backlog = conn.writer.transport.get_write_buffer_size()
                    if backlog < conn.write_backlog:
                        conn.last_active = now  # the client read some of its response
                    conn.write_backlog = backlog
                if conn.last_active < cutoff:
                    log.info("closing %s: no progress for more than connections.max.idle.ms",
                             conn.peer)
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
        # Drain to empty: a response's buffers are held by the transport until their
        # last byte is sent, so only an empty buffer means its memory is free.
        writer.transport.set_write_buffer_limits(high=0)
        task = asyncio.current_task()
        assert task is not None
        self._connections[conn] = task
        self._connected.set()
        try:
            await self._serve(conn)
        finally:
            del self._connections[conn]
            if writer.transport.get_write_buffer_size():
                # close() would keep the unsent response queued (and its memory held)
                # for a peer that is gone or not reading: drop it.
                writer.transport.abort()
            else:
                writer.close()

    async def _serve(self, conn: Connection) -> None:
        reader = conn.reader
        try:
            while not conn.closing:
                head = await reader.readexactly(4)
                conn.last_active = time.monotonic()
                (size,) = _SIZE.unpack(head)
                if size < _MIN_REQUEST_SIZE or size > self._max_request_size:
                    log.warning(
                        "closing %s: request size %d outside %d..%d (socket.request.max.bytes)",
                        conn.peer, size, _MIN_REQUEST_SIZE, self._max_request_size,
                    )
                    return
                await self._handle_frame(conn, size)
        except ProtocolViolation as exc:
            log.warning("closing %s: %s", conn.peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # The stream reader keeps this exception, and its traceback holds this
            # frame: drop the traceback so no reference cycle keeps buffers alive
            # until the cyclic GC happens to run.
            exc.__traceback__ = None
        except asyncio.CancelledError:
            pass

    async def _handle_frame(self, conn: Connection, size: int) -> None:
        """Read one frame of `size` bytes, dispatch it, write the answer; the frame's
        bytes stay reserved in the request pool until it has been handled."""
        if size <= SMALL_REQUEST_BYTES:
            self.request_pool.force_allocate(size)
        else:
            await self._allocate_request(size)
        lease = ResponseLease(self.response_pool)
        try:
            frame = await self._read_frame(conn, size)
            conn.busy = True
            try:
                chunks = await self._dispatch(frame, conn.host, lease)
            finally:
                conn.busy = False
            del frame
            self._release_request(size)
            size = 0
            conn.last_active = time.monotonic()
            if chunks is not None:
                if conn.writer.transport.is_closing():
                    # The client went away (a reset) while its request was served:
                    # nothing to answer, and uvloop raises on a write to a closed
                    # transport. Ends this connection like any other disconnect.
                    raise ConnectionResetError(f"{conn.peer} closed the connection")
                # Chunks go out as they are: fetched batches are not copied. No
                # reference stays here while draining, so a connection that dies
                # mid-write frees them as soon as the transport does.
                total = sum(len(chunk) for chunk in chunks)
                conn.writer.writelines([_SIZE.pack(total), *chunks])
                del chunks
                conn.writing = True
                conn.write_backlog = conn.writer.transport.get_write_buffer_size()
                try:
                    await conn.writer.drain()
                finally:
                    conn.writing = False
                conn.last_active = time.monotonic()
        finally:
            if size:
                self._release_request(size)
            lease.release()

    async def _allocate_request(self, size: int) -> None:
        """Wait until the request pool grants `size` bytes (Kafka mutes the channel
        meanwhile: nothing more is read from it). Waiters are served in order."""
        if not self._memory_waiters and self.request_pool.try_allocate(size):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._memory_waiters.append(fut)
        try:
            while True:
                await fut
                if self.request_pool.try_allocate(size):
                    return
                fut = asyncio.get_running_loop().create_future()
                self._memory_waiters.appendleft(fut)
        finally:
            if fut in self._memory_waiters:
                self._memory_waiters.remove(fut)
            self._wake_memory_waiter()

    def _release_request(self, size: int) -> None:
        self.request_pool.release(size)
        self._wake_memory_waiter()

    def _wake_memory_waiter(self) -> None:
        while (self._memory_waiters and not self.request_pool.out_of_memory):
            fut = self._memory_waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def _read_frame(self, conn: Connection, size: int) -> bytes:
        if size <= SMALL_REQUEST_BYTES:
            return await conn.reader.readexactly(size)
        # read(n) hands over what the stream reader buffered (it pauses the socket
        # beyond its limit), so only bytes that really arrived are held.
        parts: list[bytes] = []
        remaining = size
        while remaining:
            part = await conn.reader.read(min(remaining, _READ_CHUNK))
            if not part:
                raise asyncio.IncompleteReadError(b"", remaining)
            parts.append(part)
            remaining -= len(part)
            conn.last_active = time.monotonic()
        return parts[0] if len(parts) == 1 else b"".join(parts)

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
