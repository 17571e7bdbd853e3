"""An in-memory `LedgerClient` (kwire/log/bookkeeper/api.py) for unit tests of the
ledger-chain log: real fencing semantics, no bookies.

What it models (bookkeeper.md §3):
- a ledger is written by the handle that created it; entry ids in call order;
  adds complete in entry order, and once one fails every later one fails too;
- `open(recovery=True)` of an OPEN ledger fences it: the writer's adds not yet
  acknowledged, and every later one, fail with LedgerFenced; the ledger is
  closed at the last entry stored (an entry that reached the bookies counts,
  acknowledged or not, as BookKeeper's recovery would find it);
- CLOSED is final: `close` records lastEntryId = the writer's last confirmed
  entry, and nothing above it is ever read.

Fault injection: `fail_adds(n)` makes the next n adds fail (BookieError by
default; `stored=True` lets the failed entries reach "some bookies", so a
recovery finds them); `hold_adds()` keeps adds stored but unacknowledged until
`release_adds()`; `fail_next_close` / `fail_next_create` fail the next close /
create. `reads` and `entries_read` count read calls and entries read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from kwire.log.bookkeeper.api import (
    BookieError,
    LedgerClosed,
    LedgerConfig,
    LedgerError,
    LedgerFenced,
    NoSuchLedger,
)


@dataclass
class StoredLedger:
    ledger_id: int
    password: bytes
    custom_metadata: dict[str, bytes]
    entries: list[bytes] = field(default_factory=list)  # what reached the bookies
    closed: bool = False
    last_entry_id: int = -1  # when closed
    fenced: bool = False
    lac: int = -1  # the writer's last add confirmed


@dataclass
class _Add:
    entry_id: int
    future: asyncio.Future[int]
    error: LedgerError | None  # decided at add time by fault injection


class MemoryReadHandle:
    def __init__(self, client: MemoryLedgerClient, ledger: StoredLedger) -> None:
        self._client = client
        self._ledger = ledger

    @property
    def ledger_id(self) -> int:
        return self._ledger.ledger_id

    @property
    def last_add_confirmed(self) -> int:
        return self._ledger.last_entry_id if self._ledger.closed else self._ledger.lac

    @property
    def length(self) -> int:
        return sum(len(e) for e in self._ledger.entries[: self.last_add_confirmed + 1])

    async def read(self, first: int, last: int) -> list[bytes]:
        return self._client.read(self._ledger.ledger_id, first, last, self.last_add_confirmed)


class MemoryWriteHandle(MemoryReadHandle):
    def __init__(self, client: MemoryLedgerClient, ledger: StoredLedger) -> None:
        super().__init__(client, ledger)
        self._next_entry = 0
        self._pending: list[_Add] = []
        self._failed: LedgerError | None = None
        self._closed = False

    @property
    def last_add_confirmed(self) -> int:
        return self._ledger.lac

    def add(self, payload: bytes) -> asyncio.Future[int]:
        client, ledger = self._client, self._ledger
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry_id = self._next_entry
        self._next_entry += 1
        client.adds += 1
        error: LedgerError | None = None
        if self._closed or ledger.closed and not ledger.fenced:
            error = LedgerClosed(f"ledger {ledger.ledger_id} is closed")
        elif ledger.fenced:
            error = LedgerFenced(f"ledger {ledger.ledger_id} is fenced")
        elif self._failed is not None:
            error = self._failed
        elif client.fail_next_adds > 0:
            client.fail_next_adds -= 1
            error = client.add_error
            if client.failed_adds_stored:
                ledger.entries.append(payload)
        elif ledger.ledger_id not in client.ledgers:
            error = BookieError(f"ledger {ledger.ledger_id} was deleted")
        else:
            ledger.entries.append(payload)
        self._pending.append(_Add(entry_id, future, error))
        if not client.holding:
            asyncio.get_running_loop().call_soon(self._complete)
        else:
            client.held.append(self)
        return future

    def _complete(self) -> None:
        """Settle pending adds in entry order, as far as nothing holds them back."""
        ledger = self._ledger
        while self._pending:
            add = self._pending.pop(0)
            error = add.error or self._failed
            if error is None and ledger.fenced:
                error = LedgerFenced(f"ledger {ledger.ledger_id} is fenced")
            if error is not None:
                self._failed = self._failed or error
                if not add.future.done():
                    add.future.set_exception(error)
                continue
            ledger.lac = add.entry_id
            if not add.future.done():
                add.future.set_result(add.entry_id)

    async def close(self) -> int:
        client, ledger = self._client, self._ledger
        self._complete()  # adds in flight finish first
        if client.fail_next_close is not None:
            error, client.fail_next_close = client.fail_next_close, None
            raise error
        if ledger.fenced or (ledger.closed and ledger.last_entry_id != ledger.lac):
            raise LedgerFenced(f"ledger {ledger.ledger_id} was recovered by another client")
        self._closed = True
        ledger.closed = True
        ledger.last_entry_id = ledger.lac
        client.closes += 1
        return ledger.lac


class MemoryLedgerClient:
    def __init__(self) -> None:
        self.ledgers: dict[int, StoredLedger] = {}
        self._next_id = 1
        self.created: list[int] = []
        self.deleted: list[int] = []
        self.adds = 0
        self.closes = 0
        self.reads = 0
        self.entries_read = 0
        self.fail_next_adds = 0
        self.failed_adds_stored = False
        self.add_error: LedgerError = BookieError("injected bookie failure")
        self.fail_next_close: LedgerError | None = None
        self.fail_next_create: LedgerError | None = None
        self.holding = False
        self.held: list[MemoryWriteHandle] = []

    # ---- fault injection ---------------------------------------------------------------

    def fail_adds(self, n: int = 1, *, error: LedgerError | None = None,
                  stored: bool = False) -> None:
        self.fail_next_adds = n
        self.failed_adds_stored = stored
        if error is not None:
            self.add_error = error

    def hold_adds(self) -> None:
        self.holding = True

    def release_adds(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for handle in dict.fromkeys(held):
            handle._complete()

    # ---- LedgerClient ------------------------------------------------------------------

    async def create(self, config: LedgerConfig,
                     custom_metadata: Mapping[str, bytes] | None = None) -> MemoryWriteHandle:
        if self.fail_next_create is not None:
            error, self.fail_next_create = self.fail_next_create, None
            raise error
        ledger_id = self._next_id
        self._next_id += 1
        ledger = StoredLedger(ledger_id, config.password, dict(custom_metadata or {}))
        self.ledgers[ledger_id] = ledger
        self.created.append(ledger_id)
        return MemoryWriteHandle(self, ledger)

    async def open(self, ledger_id: int, password: bytes, *,
                   recovery: bool) -> MemoryReadHandle:
        ledger = self.ledgers.get(ledger_id)
        if ledger is None:
            raise NoSuchLedger(f"no ledger {ledger_id}")
        if recovery and not ledger.closed:
            ledger.fenced = True
            ledger.closed = True
            ledger.last_entry_id = len(ledger.entries) - 1
        return MemoryReadHandle(self, ledger)

    async def delete(self, ledger_id: int) -> None:
        if self.ledgers.pop(ledger_id, None) is not None:
            self.deleted.append(ledger_id)

    async def close(self) -> None:
        pass

    def read(self, ledger_id: int, first: int, last: int, lac: int) -> list[bytes]:
        ledger = self.ledgers.get(ledger_id)
        if ledger is None:
            raise NoSuchLedger(f"no ledger {ledger_id}")
        if first < 0 or last > lac or first > last:
            raise BookieError(f"ledger {ledger_id}: read {first}..{last} beyond LAC {lac}")
        self.reads += 1
        self.entries_read += last - first + 1
        return ledger.entries[first:last + 1]

    def live(self) -> set[int]:
        return set(self.ledgers)
