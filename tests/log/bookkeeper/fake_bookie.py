"""A fake bookie: an asyncio TCP server speaking the bookie v2 protocol, for unit tests.

It stores entries per ledger, records the master key of the first ADD, fences
on a fencing read (and then refuses plain adds with EFENCED but takes recovery
adds), and answers READ(-1) with its highest entry, as a real bookie does
(bookkeeper.md §1.6). Knobs make it misbehave: answer out of order, hold answers
until the test releases them, delay, drop (never answer), answer with a chosen
rc, freeze (stop answering everything), die (close the port and every
connection). `FakeCluster` puts a few of them behind a FakeZooKeeper registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from kwire.log.bookkeeper.client import BookKeeperClient
from kwire.log.bookkeeper.metadata import encode_bookie_service_info
from kwire.log.bookkeeper.wire import (
    ADDENTRY,
    EFENCED,
    ENOENTRY,
    ENOLEDGER,
    EOK,
    EUA,
    FLAG_DO_FENCING,
    FLAG_RECOVERY_ADD,
    LAST_ADD_CONFIRMED,
    FrameDecoder,
    Request,
    decode_request,
    encode_response,
)

from .fake_zk import FakeZooKeeper


@dataclass
class StoredLedger:
    master_key: bytes
    fenced: bool = False
    entries: dict[int, bytes] = field(default_factory=dict)


class _Conn(asyncio.Protocol):
    def __init__(self, bookie: FakeBookie) -> None:
        self.bookie = bookie
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.bookie.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bookie.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self.bookie.handle(self, decode_request(frame))

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class FakeBookie:
    def __init__(self, bookie_id: str | None = None) -> None:
        self._id = bookie_id
        self.port = 0
        self.ledgers: dict[int, StoredLedger] = {}
        self.requests: list[Request] = []
        self.connections: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        # knobs
        self.reorder = 0  # answer in reverse order, in groups of this many
        self.delay_s = 0.0
        self.frozen = False  # take requests, answer nothing (a stopped process)
        self.hold = False  # keep answers in `held` until release()
        self.hold_when: Callable[[Request], bool] | None = None  # hold only these
        self.held: list[tuple[_Conn, bytes]] = []
        self.drop: Callable[[Request], bool] | None = None  # True: never answer it
        self.answer_rc: Callable[[Request], int | None] | None = None  # rc instead of work
        self._reorder_buffer: list[tuple[_Conn, bytes]] = []

    @property
    def bookie_id(self) -> str:
        return self._id or f"127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeBookie:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def die(self) -> None:
        """The process is gone: its port refuses, its connections reset."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.connections.clear()
        await asyncio.sleep(0)

    async def restart(self) -> None:
        await self.start(self.port)

    # ---- the protocol -------------------------------------------------------------------

    def handle(self, conn: _Conn, req: Request) -> None:
        self.requests.append(req)
        if self.frozen or (self.drop is not None and self.drop(req)):
            return
        rc = self.answer_rc(req) if self.answer_rc is not None else None
        body = b""
        if rc is None:
            rc, body = self._add(req) if req.op == ADDENTRY else self._read(req)
        self._answer(conn, req, encode_response(req.op, rc, req.ledger_id, req.entry_id, body))

    def _add(self, req: Request) -> tuple[int, bytes]:
        ledger = self.ledgers.get(req.ledger_id)
        if ledger is not None and ledger.master_key != req.master_key:
            return EUA, b""
        if ledger is not None and ledger.fenced and not req.flags & FLAG_RECOVERY_ADD:
            return EFENCED, b""
        if ledger is None:
            ledger = self.ledgers[req.ledger_id] = StoredLedger(req.master_key or b"")
        ledger.entries[req.entry_id] = req.body
        return EOK, b""

    def _read(self, req: Request) -> tuple[int, bytes]:
        ledger = self.ledgers.get(req.ledger_id)
        if req.flags & FLAG_DO_FENCING:
            if req.master_key is None or (ledger is not None
                                          and ledger.master_key != req.master_key):
                return EUA, b""
            if ledger is None:
                ledger = self.ledgers[req.ledger_id] = StoredLedger(req.master_key)
            ledger.fenced = True
        if ledger is None:
            return ENOLEDGER, b""
        if req.entry_id == LAST_ADD_CONFIRMED:
            if not ledger.entries:
                return ENOENTRY, b""
            return EOK, ledger.entries[max(ledger.entries)]
        body = ledger.entries.get(req.entry_id)
        return (EOK, body) if body is not None else (ENOENTRY, b"")

    def _answer(self, conn: _Conn, req: Request, data: bytes) -> None:
        if self.hold or (self.hold_when is not None and self.hold_when(req)):
            self.held.append((conn, data))
        elif self.reorder > 1:
            self._reorder_buffer.append((conn, data))
            if len(self._reorder_buffer) >= self.reorder:
                batch, self._reorder_buffer = self._reorder_buffer, []
                for c, d in reversed(batch):
                    c.write(d)
        elif self.delay_s > 0:
            asyncio.get_running_loop().call_later(self.delay_s, conn.write, data)
        else:
            conn.write(data)

    def flush_reordered(self) -> None:
        batch, self._reorder_buffer = self._reorder_buffer, []
        for c, d in reversed(batch):
            c.write(d)

    def release(self, order: list[int] | None = None) -> None:
        """Send the held answers (in `order`, indexes into `held`) and stop holding."""
        held, self.held = self.held, []
        self.hold = False
        self.hold_when = None
        for i in order if order is not None else range(len(held)):
            conn, data = held[i]
            conn.write(data)

    def entry_ids(self, ledger_id: int) -> list[int]:
        ledger = self.ledgers.get(ledger_id)
        return sorted(ledger.entries) if ledger else []


class FakeCluster:
    """`count` fake bookies registered in a FakeZooKeeper under /ledgers/available."""

    def __init__(self, count: int, *, root: str = "/ledgers", named: bool = False) -> None:
        self.zk = FakeZooKeeper()
        self.root = root
        self.bookies = [FakeBookie(f"bookie-{i}" if named else None) for i in range(count)]
        self.clients: list[BookKeeperClient] = []

    async def __aenter__(self) -> FakeCluster:
        await self.zk.ensure_path(f"{self.root}/available/readonly")
        for bookie in self.bookies:
            await bookie.start()
            await self.zk.create(f"{self.root}/available/{bookie.bookie_id}",
                                 encode_bookie_service_info("127.0.0.1", bookie.port),
                                 ephemeral=True)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for client in self.clients:
            await client.close()
        for bookie in self.bookies:
            await bookie.die()

    def client(self, **kwargs: Any) -> BookKeeperClient:
        kwargs.setdefault("add_timeout_ms", 2000)
        kwargs.setdefault("read_timeout_ms", 2000)
        client = BookKeeperClient(self.zk, self.root, **kwargs)
        self.clients.append(client)
        return client

    def by_id(self, bookie_id: str) -> FakeBookie:
        return next(b for b in self.bookies if b.bookie_id == bookie_id)

    async def unregister(self, bookie: FakeBookie) -> None:
        await self.zk.delete(f"{self.root}/available/{bookie.bookie_id}")
