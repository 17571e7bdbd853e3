"""What the writer, reader and recovery share: ZooKeeper, the bookie pool, placement, timeouts.

Placement (bookkeeper.md §2.1, §3.1): writable bookies are the children of
`<root>/available` except the `readonly` node; a bookie whose connection failed
recently (BookiePool.is_down) is skipped, since its znode outlives a kill -9 by
a ZooKeeper session timeout. When that leaves too few, each registered bookie
marked down is asked whether it serves again (a read of a ledger that cannot
exist: a live bookie answers at once, ENOLEDGER), so a bookie that restarted
is used right away rather than after the down mark wears off. A bookie id
resolves to the address of the `bookie-rpc` endpoint in its registration, or
to the id itself read as host:port.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from kwire.log.bookkeeper.api import BookieError, NoSuchLedger, NotEnoughBookies, Znodes
from kwire.log.bookkeeper.bookie import BookiePool
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    decode_bookie_address,
    decode_ledger_metadata,
    ledger_path,
)
from kwire.log.bookkeeper.wire import READENTRY, read_request
from kwire.zookeeper import NoNode

# The probe of a bookie marked down: a ledger id no ledger gets (ids are allocated
# from 0 up), and how long a bookie has to answer it.
_PROBE_LEDGER = 2**63 - 1
_PROBE_TIMEOUT_S = 1.0


class Placement:
    def __init__(self, zk: Znodes, ledgers_root: str, pool: BookiePool | None = None) -> None:
        self._zk = zk
        self._root = ledgers_root.rstrip("/")
        self.pool = pool
        self._random = random.Random()

    async def writable(self) -> list[str]:
        try:
            children = await self._zk.children(f"{self._root}/available")
        except NoNode:
            return []
        return sorted(c for c in children if c != "readonly")

    async def choose(self, count: int, exclude: set[str] | frozenset[str] = frozenset()
                     ) -> list[str]:
        """`count` distinct writable bookies, none in `exclude` or known to be down."""
        writable = await self.writable()
        candidates = [b for b in writable if b not in exclude
                      and not (self.pool is not None and self.pool.is_down(b))]
        if len(candidates) < count and self.pool is not None:
            down = [b for b in writable if b not in exclude and b not in candidates]
            answered = await asyncio.gather(*(self._serves(b) for b in down))
            candidates += [b for b, ok in zip(down, answered, strict=True) if ok]
        if len(candidates) < count:
            raise NotEnoughBookies(
                f"need {count} writable bookies, have {len(candidates)} usable "
                f"({len(writable)} registered, excluding {sorted(exclude)} and those down)")
        return self._random.sample(candidates, count)

    async def _serves(self, bookie_id: str) -> bool:
        """Whether a bookie marked down answers a read now (any answer will do: the
        ledger asked for cannot exist). An answer clears the down mark."""
        assert self.pool is not None
        try:
            await self.pool.get(bookie_id).request(
                (READENTRY, _PROBE_LEDGER, 0), (read_request(_PROBE_LEDGER, 0),),
                _PROBE_TIMEOUT_S)
        except BookieError:
            return False
        return True

    async def resolve(self, bookie_id: str) -> tuple[str, int]:
        for path in (f"{self._root}/available/{bookie_id}",
                     f"{self._root}/available/readonly/{bookie_id}"):
            try:
                data, _ = await self._zk.get(path)
            except NoNode:
                continue
            return decode_bookie_address(bookie_id, data)
        return decode_bookie_address(bookie_id, b"")


@dataclass(frozen=True, slots=True)
class ClientContext:
    zk: Znodes
    ledgers_root: str
    bookies: BookiePool
    placement: Placement
    add_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    max_ensemble_changes: int = 32
    recovery_read_batch: int = 8
    metadata_retries: int = 8

    def ledger_path(self, ledger_id: int) -> str:
        return ledger_path(self.ledgers_root, ledger_id)

    async def read_metadata(self, ledger_id: int) -> tuple[LedgerMetadata, int]:
        try:
            data, version = await self.zk.get(self.ledger_path(ledger_id))
        except NoNode:
            raise NoSuchLedger(f"ledger {ledger_id} does not exist") from None
        return decode_ledger_metadata(data), version
