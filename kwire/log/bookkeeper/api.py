"""The ledger-client seam: what the ledger-chain partition log needs from BookKeeper.

A ledger is an append-only sequence of entries (ids 0, 1, 2, ...) written by
exactly one writer and replicated on bookies: an ensemble of E bookies, each
entry on a write quorum of W of them, acknowledged once an ack quorum of A has
it (bookkeeper.md §3). A ledger is never reopened for writing: a new owner
opens the previous writer's ledger *with recovery*, which fences it (the old
writer's next add fails with LedgerFenced) and closes it at the last entry an
ack quorum holds; then it creates a ledger of its own.

`kwire.log.bookkeeper.client.BookKeeperClient` implements this over the bookie
protocol and ZooKeeper; the unit tests have an in-memory one.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kwire.zookeeper import Znodes as Znodes  # the ZooKeeper calls ledgers need


class DigestType(enum.IntEnum):
    """LedgerMetadataFormat.DigestType numbers."""

    CRC32 = 1
    HMAC = 2
    CRC32C = 3
    DUMMY = 4


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """How new ledgers are made (kwire's `bookkeeper.*` broker configs)."""

    ensemble_size: int = 3  # bookkeeper.ensemble.size
    write_quorum: int = 2  # bookkeeper.write.quorum.size
    ack_quorum: int = 2  # bookkeeper.ack.quorum.size
    digest_type: DigestType = DigestType.CRC32C  # bookkeeper.digest.type
    password: bytes = b""  # bookkeeper.password


class LedgerError(Exception):
    """A ledger operation failed."""


class LedgerFenced(LedgerError):
    """This writer lost the ledger: a bookie answered EFENCED or EUA, or the ledger's
    metadata is no longer OPEN or changed under a compare-and-set. Another owner
    has taken over; the writer must stop and acknowledge nothing more."""


class LedgerClosed(LedgerError):
    """The ledger was closed; no more adds."""


class NotEnoughBookies(LedgerError):
    """Fewer writable bookies than the ensemble (or a replacement) needs."""


class NoSuchLedger(LedgerError):
    """No metadata znode for this ledger id."""


class BookieError(LedgerError):
    """Bookies failed or timed out and the operation could not be completed."""


class DigestMismatch(LedgerError):
    """An entry came back with a digest that does not match its bytes."""


class LedgerUnauthorized(LedgerError):
    """The password does not match the ledger's (its metadata, or a bookie answered
    EUA to a fencing read)."""


class LedgerHandle(Protocol):
    """A ledger open for reading (by its writer, or after open)."""

    @property
    def ledger_id(self) -> int: ...

    @property
    def last_add_confirmed(self) -> int:
        """The last entry known to be held by an ack quorum, every earlier one too
        (for a closed ledger: its last entry id; -1 when empty)."""
        ...

    @property
    def length(self) -> int:
        """Bytes of payload up to and including `last_add_confirmed`."""
        ...

    async def read(self, first: int, last: int) -> list[bytes]:
        """Payloads of entries `first..last` (inclusive, all <= last_add_confirmed),
        digest-checked, in order."""
        ...


class WriteHandle(LedgerHandle, Protocol):
    """A ledger this client created and writes."""

    def add(self, payload: bytes) -> Awaitable[int]:
        """Queue `payload` as the next entry. The entry id is taken at call time,
        so concurrent callers get ids in call order. The result completes when an
        ack quorum holds the entry *and* every earlier entry has completed; it
        fails with LedgerFenced, LedgerClosed or BookieError. Once one add fails,
        every later one fails too."""
        ...

    async def close(self) -> int:
        """Wait for adds in flight, then mark the ledger CLOSED at
        `last_add_confirmed` (compare-and-set); returns the last entry id. Entries
        above it that reached some bookies are outside the ledger for good."""
        ...


class LedgerClient(Protocol):
    async def create(self, config: LedgerConfig,
                     custom_metadata: Mapping[str, bytes] | None = None) -> WriteHandle: ...

    async def open(self, ledger_id: int, password: bytes, *, recovery: bool) -> LedgerHandle:
        """Open a ledger to read it. With `recovery` (a takeover), fence its writer
        and close it at the last entry an ack quorum holds (bookkeeper.md §3.5);
        without, the ledger must already be closed, or reads stop at the
        last-add-confirmed the bookies report."""
        ...

    async def delete(self, ledger_id: int) -> None:
        """Remove the ledger's metadata (bookies reclaim its entries later);
        a ledger that does not exist is not an error."""
        ...

    async def close(self) -> None: ...


def completed(value: int) -> asyncio.Future[int]:
    """An already-completed add result (for implementations that know at once)."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    fut.set_result(value)
    return fut
