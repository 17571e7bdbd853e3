"""The PartitionLog contract (tests/log/test_contract.py), every test of it, run
against the ledger-chain log on the session's real ZooKeeper and real bookies.

The contract tests are reused, not copied: each is run here with an `Env` whose
store is a `BookKeeperLogStore` over a real ZooKeeper session (its own chroot
per test) and the real ledger client, and whose `restart()` closes that store
and opens the partition from a new store with a new session and client — a
takeover by another broker. Each test runs on its own event loop (the contract
tests' own style), so the sessions and bookie connections are made and closed
inside it.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from bookkeeper_env import BookKeeperEnv

from kwire.log.api import LogConfig, LogStore, PartitionLog, TopicPartition
from kwire.log.bookkeeper.api import LedgerConfig
from kwire.log.bookkeeper.client import BookKeeperClient
from kwire.log.bookkeeper.store import BookKeeperLogStore
from kwire.zookeeper import ZooKeeper

# tests/ is no package: its `log` package is what pytest imports the contract from.
_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from log import test_contract as contract  # noqa: E402

pytestmark = pytest.mark.java

# name -> the undecorated `async def test_x(env)` of the contract suite.
CONTRACT_TESTS: dict[str, Callable[[Any], Awaitable[None]]] = {
    name: fn.__wrapped__ for name, fn in vars(contract).items()
    if name.startswith("test_") and callable(fn) and hasattr(fn, "__wrapped__")
}


class RealEnv(contract.Env):
    """contract.Env over real ZooKeeper and bookies: one session and ledger client
    per store, started on the test's event loop at first use."""

    def __init__(self, bookkeeper: BookKeeperEnv, tmp_path: Path) -> None:
        self.bookkeeper = bookkeeper
        self.root = f"{bookkeeper.new_chroot()}/logs"
        self._sessions: list[tuple[ZooKeeper, BookKeeperClient]] = []
        self._started = 0
        super().__init__("real", tmp_path)

    def _new_store(self) -> LogStore:
        zk = ZooKeeper(self.bookkeeper.zk_connect, session_timeout_ms=10_000)
        ledgers = BookKeeperClient(zk, self.bookkeeper.ledgers_root,
                                   add_timeout_ms=5000, read_timeout_ms=5000)
        self._sessions.append((zk, ledgers))
        return BookKeeperLogStore(zk, ledgers, self.root, LedgerConfig(), self.clock.wall_ms)

    async def _start_sessions(self) -> None:
        while self._started < len(self._sessions):
            await self._sessions[self._started][0].start()
            self._started += 1

    async def open(self, config: LogConfig = contract.CONFIG,
                   tp: TopicPartition = contract.TP) -> PartitionLog:
        await self._start_sessions()
        return await super().open(config, tp)

    async def restart(self) -> None:
        await self.store.close()
        self.store = self._new_store()

    async def aclose(self) -> None:
        try:
            if self._started:
                await self.store.close()
        finally:
            for zk, ledgers in self._sessions[: self._started]:
                await ledgers.close()
                await zk.stop()


def test_every_contract_test_is_reused() -> None:
    assert len(CONTRACT_TESTS) >= 20
    for fn in CONTRACT_TESTS.values():
        assert list(inspect.signature(fn).parameters) == ["env"]


@pytest.mark.parametrize("name", sorted(CONTRACT_TESTS))
def test_contract_on_real_bookies(name: str, bookkeeper: BookKeeperEnv, tmp_path: Path) -> None:
    env = RealEnv(bookkeeper, tmp_path)

    async def run() -> None:
        try:
            await CONTRACT_TESTS[name](env)
        finally:
            await env.aclose()

    asyncio.run(run())


def test_takeover_fences_the_old_owner_on_real_bookies(bookkeeper: BookKeeperEnv,
                                                       tmp_path: Path) -> None:
    """Beyond the contract: a second broker's open recovers the first one's open
    ledger at the bookies (no clean close: as after a crash), the first one's next
    append is refused with LogFenced, and every acknowledged batch is there."""
    from kwire.log.api import LogFenced

    env = RealEnv(bookkeeper, tmp_path)

    async def run() -> None:
        try:
            old = await env.open()
            acked = [await old.append(contract.make_batch(2), 0) for _ in range(20)]
            pending = [asyncio.ensure_future(old.append(contract.make_batch(1), 0))
                       for _ in range(10)]
            env.store = env._new_store()  # another broker; the old store is not closed
            new = await env.open()
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
            with pytest.raises(LogFenced):
                await old.append(contract.make_batch(1), 0)
            end = new.offsets().log_end_offset
            # What the old owner had acknowledged is all there; appends in flight at the
            # takeover are there exactly when they reached the ledger before the fence.
            assert end >= acked[-1].last_offset + 1
            done = [o for o in outcomes if not isinstance(o, BaseException)]
            assert all(o.base_offset < end for o in done)
            assert [h.base_offset for h in await contract.read_all(new)][:20] == \
                [r.base_offset for r in acked]
            assert (await new.append(contract.make_batch(1), 0)).base_offset == end
            await old.close()
        finally:
            await env.aclose()

    asyncio.run(run())
