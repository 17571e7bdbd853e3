"""Server limits without a broker: the idle reaper at connections.max.idle.ms=0
(Kafka: idle expiry on, every idle connection closed; -1 turns it off) must close
idle connections without spinning, and small frames must never wait on a pool
exhausted by a large unfinished one."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import uvloop

from kwire.net.server import Server


async def _echo(frame: bytes, _host: str, _lease: object) -> list[bytes]:
    return [frame[4:8]]  # the correlation id


def _frame(correlation_id: int, size: int = 10) -> bytes:
    payload = struct.pack(">hhih", 18, 0, correlation_id, 0).ljust(size, b"\0")
    return struct.pack(">i", len(payload)) + payload


async def test_idle_zero_closes_idle_connections_without_spinning() -> None:
    server = Server(_echo, "127.0.0.1", 0, 1 << 20, 100, max_idle_ms=0)
    _, port = await server.start()
    try:
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        assert time.process_time() - cpu < 0.1, "reaper spins with no connections"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(1), 2.0) == b""  # reaped
        writer.close()
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        assert time.process_time() - cpu < 0.1, "reaper spins after a close"
        assert server.connection_count == 0
    finally:
        await server.close(grace_seconds=1.0)


async def test_small_frames_proceed_while_a_large_frame_holds_the_pool() -> None:
    server = Server(_echo, "127.0.0.1", 0, 8 << 20, 100, max_idle_ms=-1,
                    queued_max_request_bytes=1 << 20)
    _, port = await server.start()
    try:
        # Two 4 MiB frames, sent in part and never finished: the first takes the
        # whole pool (non-strict), the second waits for memory.
        hogs = []
        for i in range(2):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(_frame(i, 4 << 20)[: 1 << 20])
            hogs.append((r, w))
        await asyncio.sleep(0.2)
        assert server.request_pool.out_of_memory
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for cid in range(5):
            writer.write(_frame(100 + cid))
            size = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), 2.0))[0]
            assert await reader.readexactly(size) == struct.pack(">i", 100 + cid)
        writer.close()
        for _r, w in hogs:
            w.close()
        await asyncio.sleep(0.2)
        assert server.request_pool.used == 0
    finally:
        await server.close(grace_seconds=1.0)


def test_a_client_reset_while_its_request_is_served_is_no_error() -> None:
    """A client that resets its connection while the broker still works on its
    request (a producer giving up on a broker, a killed client) ends that
    connection quietly; with uvloop, as kwire runs, a write to the closed
    transport raised and asyncio logged it as an unhandled exception."""

    async def scenario() -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))

        async def slow(frame: bytes, _host: str, _lease: object) -> list[bytes]:
            await asyncio.sleep(0.3)
            return [frame[4:8]]

        server = Server(slow, "127.0.0.1", 0, 1 << 20, 100, max_idle_ms=-1)
        _, port = await server.start()
        try:
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(_frame(7))
            await asyncio.sleep(0.05)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # RST
            await asyncio.sleep(0.6)
            assert server.connection_count == 0
        finally:
            await server.close(grace_seconds=1.0)
        return errors

    errors = uvloop.run(scenario())
    assert not errors, [ctx.get("exception") or ctx.get("message") for ctx in errors]
