"""kwire's ledger client against bookies of the older supported line, BookKeeper
4.16.6 (the session's bookies are 4.17.3): a ZooKeeper and three 4.16.6 bookies
of their own, from that release's Maven Central jars. Pipelined adds, close and
read, then a takeover of a ledger whose writer is still live: recovery fences it
(its next add fails) and keeps every entry it had acknowledged."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bookkeeper_env import FETCH_SCRIPT, BookKeeperEnv, BookKeeperEnvError, find_java

from kwire.log.bookkeeper.api import LedgerConfig, LedgerFenced
from kwire.log.bookkeeper.client import BookKeeperClient
from kwire.zookeeper import ZooKeeper

pytestmark = [pytest.mark.java, pytest.mark.slow]

VERSION = "4.16.6"


@pytest.fixture(scope="module")
def bookies_416(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BookKeeperEnv]:
    try:
        find_java()
    except BookKeeperEnvError as e:
        pytest.skip(f"BookKeeper tests need Java: {e}")
    fetched = subprocess.run(["bash", str(FETCH_SCRIPT), VERSION], capture_output=True,
                             text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    libs = Path(fetched.stdout.strip().splitlines()[-1])
    assert any(libs.glob(f"bookkeeper-server-{VERSION}.jar")), libs
    env = BookKeeperEnv(bookies=3, base_dir=tmp_path_factory.mktemp("bk416"), libs=libs)
    env.start()
    try:
        yield env
    finally:
        env.shutdown()


async def test_ledger_client_against_416_bookies(bookies_416: BookKeeperEnv) -> None:
    zk = ZooKeeper(bookies_416.zk_connect)
    await zk.start()
    writer_side = BookKeeperClient(zk, bookies_416.ledgers_root, add_timeout_ms=3000)
    taker_side = BookKeeperClient(zk, bookies_416.ledgers_root, add_timeout_ms=3000)
    try:
        closed = await writer_side.create(LedgerConfig(3, 2, 2))
        ids = await asyncio.gather(*(closed.add(b"e-%d" % i) for i in range(500)))
        assert ids == list(range(500))
        assert await closed.close() == 499
        reader = await taker_side.open(closed.ledger_id, b"", recovery=False)
        assert await reader.read(0, 499) == [b"e-%d" % i for i in range(500)]

        live = await writer_side.create(LedgerConfig(3, 2, 2))
        acked = await asyncio.gather(*(live.add(b"l-%d" % i) for i in range(100)))
        recovered = await taker_side.open(live.ledger_id, b"", recovery=True)
        assert recovered.last_add_confirmed >= max(acked)  # nothing acknowledged is lost
        with pytest.raises(LedgerFenced):
            await live.add(b"after the takeover")
        assert await recovered.read(0, 99) == [b"l-%d" % i for i in range(100)]
    finally:
        await writer_side.close()
        await taker_side.close()
        await zk.stop()
