"""Connections to bookies: one TCP connection per bookie, v2 frames, requests matched by key.

v2 has no transaction id, so a response is matched to its request by
(op, ledger, entry), the way the Java client does. Two requests with the same key
are never in flight on one connection: a second one waits behind the first.
Responses may come in any order.

`BookieClient.request` is not a coroutine: it returns a future at once, so the
writer can keep many adds in flight with one callback each instead of a task
each. Every call has a deadline (the add or read timeout); a call that passes it
fails with BookieTimeout, and its late answer, if any, is dropped. The
connection is made on demand; while it is being made requests queue behind
it. When it fails or drops, every call on it fails at once (a dead bookie fails
its callers promptly instead of leaving them to time out) and the next request
reconnects. A bookie whose connection failed or timed out recently counts as
down, so placement skips it when choosing ensembles.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kwire.log.bookkeeper.api import BookieError
from kwire.log.bookkeeper.wire import FrameDecoder, Response, decode_response

log = logging.getLogger("kwire.log.bookkeeper")

RequestKey = tuple[int, int, int]  # (op, ledger_id, entry_id)
Resolver = Callable[[str], Awaitable[tuple[str, int]]]


class BookieTimeout(BookieError):
    """A bookie did not answer within the call's timeout."""


class BookieUnavailable(BookieError):
    """The connection to a bookie failed or dropped."""


@dataclass(eq=False, slots=True)
class _Call:
    key: RequestKey
    parts: Sequence[bytes | memoryview]
    future: asyncio.Future[Response]
    timer: asyncio.TimerHandle | None = None
    sent: bool = field(default=False)


def _retrieve(fut: asyncio.Future[Response]) -> None:
    if not fut.cancelled():
        fut.exception()


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: BookieClient) -> None:
        self._owner = owner
        self._decoder = FrameDecoder()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
            for frame in frames:
                self._owner._on_response(self, decode_response(frame))
        except ValueError as exc:
            self._owner._on_lost(self, BookieUnavailable(f"bad frame from bookie: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._on_lost(self, BookieUnavailable(
            f"connection to bookie {self._owner.bookie_id} lost"
            + (f": {exc}" if exc else "")))


class BookieClient:
    """The connection to one bookie, made on demand."""

    def __init__(self, bookie_id: str, resolve: Resolver, *, connect_timeout_s: float = 5.0,
                 down_for_s: float = 30.0) -> None:
        self.bookie_id = bookie_id
        self._resolve = resolve
        self._connect_timeout = connect_timeout_s
        self._down_for = down_for_s
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._calls: dict[RequestKey, _Call] = {}  # in flight, or queued for the connection
        self._blocked: dict[RequestKey, collections.deque[_Call]] = {}
        self._failed_at: float | None = None
        self._closed = False

    # ---- state --------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """The last connection attempt or call failed less than `down_for_s` ago."""
        return self._failed_at is not None and \
            time.monotonic() - self._failed_at < self._down_for

    def mark_failed(self) -> None:
        self._failed_at = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    # ---- requests -----------------------------------------------------------------------

    def request(self, key: RequestKey, parts: Sequence[bytes | memoryview],
                timeout_s: float) -> asyncio.Future[Response]:
        """Send one request frame (`parts` joined) and return the future of its answer.
        The future fails with BookieTimeout or BookieUnavailable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Response] = loop.create_future()
        if self._closed:
            fut.set_exception(BookieUnavailable(f"client of bookie {self.bookie_id} closed"))
            return fut
        fut.add_done_callback(_retrieve)  # an abandoned failed call logs nothing
        call = _Call(key, parts, fut)
        call.timer = loop.call_later(timeout_s, self._expire, call)
        if key in self._calls:
            self._blocked.setdefault(key, collections.deque()).append(call)
        else:
            self._start(call)
        return fut

    def _start(self, call: _Call) -> None:
        self._calls[call.key] = call
        transport = self._transport
        if transport is not None:
            transport.writelines(call.parts)
            call.sent = True
        elif self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    def _finish(self, call: _Call) -> None:
        """`call` is no longer in flight: start the next one with its key."""
        if call.timer is not None:
            call.timer.cancel()
        if self._calls.get(call.key) is call:
            del self._calls[call.key]
        waiting = self._blocked.get(call.key)
        while waiting:
            nxt = waiting.popleft()
            if not nxt.future.done():
                self._start(nxt)
                break
        if waiting is not None and not waiting:
            del self._blocked[call.key]

    def _expire(self, call: _Call) -> None:
        if call.future.done():
            return
        self.mark_failed()
        call.future.set_exception(BookieTimeout(
            f"bookie {self.bookie_id} did not answer {call.key} in time"))
        if self._calls.get(call.key) is call:
            self._finish(call)
        else:
            queue = self._blocked.get(call.key)
            if queue is not None and call in queue:
                queue.remove(call)

    # ---- connection ---------------------------------------------------------------------

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = await asyncio.wait_for(self._resolve(self.bookie_id),
                                                self._connect_timeout)
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), host, port),
                self._connect_timeout)
        except Exception as exc:  # refused, timed out, unresolvable (ZooKeeper down too)
            self._connecting = None
            self.mark_failed()
            self._fail_all(BookieUnavailable(f"cannot connect to bookie {self.bookie_id}: "
                                             f"{exc or type(exc).__name__}"))
            return
        self._connecting = None
        if self._closed:
            transport.close()
            return
        self._transport = transport  # (uvloop's transport is no asyncio.Transport subclass)
        self._protocol = protocol
        for call in list(self._calls.values()):
            if not call.sent and not call.future.done():
                transport.writelines(call.parts)
                call.sent = True

    def _on_response(self, protocol: _Protocol, response: Response) -> None:
        if protocol is not self._protocol:
            return
        call = self._calls.get(response.key)
        if call is None or not call.sent:
            return  # the answer to a call that timed out
        self._failed_at = None
        if not call.future.done():
            call.future.set_result(response)
        self._finish(call)

    def _on_lost(self, protocol: _Protocol, exc: BookieError) -> None:
        if protocol is not self._protocol:
            return
        transport = self._transport
        self._transport = None
        self._protocol = None
        if transport is not None:
            transport.abort()
        if not self._closed:
            self.mark_failed()
            log.info("%s", exc)
        self._fail_all(exc)

    def _fail_all(self, exc: BookieError) -> None:
        calls = list(self._calls.values())
        for queue in self._blocked.values():
            calls.extend(queue)
        self._calls.clear()
        self._blocked.clear()
        for call in calls:
            if call.timer is not None:
                call.timer.cancel()
            if not call.future.done():
                call.future.set_exception(exc)

    def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self._protocol is not None:
            self._on_lost(self._protocol, BookieUnavailable(
                f"client of bookie {self.bookie_id} closed"))
        self._fail_all(BookieUnavailable(f"client of bookie {self.bookie_id} closed"))


class BookiePool:
    """The BookieClient of each bookie id this ledger client talks to."""

    def __init__(self, resolve: Resolver, *, connect_timeout_s: float = 5.0,
                 down_for_s: float = 30.0) -> None:
        self._resolve = resolve
        self._connect_timeout = connect_timeout_s
        self._down_for = down_for_s
        self._clients: dict[str, BookieClient] = {}

    def get(self, bookie_id: str) -> BookieClient:
        client = self._clients.get(bookie_id)
        if client is None:
            client = BookieClient(bookie_id, self._resolve,
                                  connect_timeout_s=self._connect_timeout,
                                  down_for_s=self._down_for)
            self._clients[bookie_id] = client
        return client

    def is_down(self, bookie_id: str) -> bool:
        client = self._clients.get(bookie_id)
        return client is not None and client.down

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
