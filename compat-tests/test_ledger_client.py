"""kwire's BookKeeper ledger client against real Apache BookKeeper 4.17.3 bookies.

Create/add/close/read, pipelined adds, open with recovery fencing a live writer,
kill -9 of a bookie in the middle of pipelined adds (an ensemble change with a
fourth bookie to spare), and interop both ways with the Java client: kwire's
ledgers read by Java (digests checked, metadata parsed by Java) and Java's
ledgers read and recovered by kwire. The `bookkeeper` fixture (conftest.py) is
ZooKeeper + 4 bookies shared by the session; a test that kills a bookie heals
the env afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bk_java import BkJava
from bookkeeper_env import BookKeeperEnv

from kwire.log.bookkeeper.api import (
    DigestType,
    LedgerConfig,
    LedgerFenced,
    WriteHandle,
)
from kwire.log.bookkeeper.client import BookKeeperClient
from kwire.log.bookkeeper.metadata import LedgerState, decode_ledger_metadata, ledger_path
from kwire.zookeeper import ZooKeeper

pytestmark = pytest.mark.java

JAVA_DIGEST = {DigestType.CRC32C: "CRC32C", DigestType.CRC32: "CRC32",
               DigestType.HMAC: "MAC", DigestType.DUMMY: "DUMMY"}


@pytest.fixture
async def zk(bookkeeper: BookKeeperEnv) -> AsyncIterator[ZooKeeper]:
    session = ZooKeeper(bookkeeper.zk_connect)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


@pytest.fixture
async def client(zk: ZooKeeper, bookkeeper: BookKeeperEnv) -> AsyncIterator[BookKeeperClient]:
    c = BookKeeperClient(zk, bookkeeper.ledgers_root, add_timeout_ms=3000,
                         read_timeout_ms=3000)
    try:
        yield c
    finally:
        await c.close()


async def _metadata(zk: ZooKeeper, env: BookKeeperEnv, ledger_id: int):  # type: ignore[no-untyped-def]
    data, _ = await zk.get(ledger_path(env.ledgers_root, ledger_id))
    return decode_ledger_metadata(data)


async def test_create_add_close_read(client: BookKeeperClient, zk: ZooKeeper,
                                     bookkeeper: BookKeeperEnv) -> None:
    writer = await client.create(LedgerConfig(3, 2, 2))
    for i in range(20):
        assert await writer.add(b"one-%d" % i) == i
    assert await writer.read(0, 19) == [b"one-%d" % i for i in range(20)]
    # another client, no recovery: the LAC the bookies hold (entry 19 carried LAC 18)
    live = await client.open(writer.ledger_id, b"", recovery=False)
    assert (live.last_add_confirmed, await live.read(18, 18)) == (18, [b"one-18"])
    assert await writer.close() == 19
    md = await _metadata(zk, bookkeeper, writer.ledger_id)
    assert (md.state, md.last_entry_id, md.length) == (LedgerState.CLOSED, 19, writer.length)
    assert set(md.last_segment.ensemble) <= set(bookkeeper.bookie_ids)
    reader = await client.open(writer.ledger_id, b"", recovery=False)
    assert await reader.read(0, 19) == [b"one-%d" % i for i in range(20)]


async def test_pipelined_adds(client: BookKeeperClient) -> None:
    writer = await client.create(LedgerConfig(3, 3, 2))
    payloads = [bytes([i % 251]) * (100 + i) for i in range(2000)]
    ids = await asyncio.gather(*(writer.add(p) for p in payloads))
    assert ids == list(range(2000))
    assert writer.length == sum(map(len, payloads))
    await writer.close()
    reader = await client.open(writer.ledger_id, b"", recovery=False)
    assert await reader.read(0, 1999) == payloads


async def test_recovery_fences_a_live_writer(client: BookKeeperClient, zk: ZooKeeper,
                                             bookkeeper: BookKeeperEnv) -> None:
    writer = await client.create(LedgerConfig(3, 2, 2, password=b"pw"))
    acked: dict[int, bytes] = {}
    fenced = asyncio.Event()

    async def keep_writing() -> None:
        i = 0
        while True:
            batch = [(b"w-%d" % n, writer.add(b"w-%d" % n)) for n in range(i, i + 20)]
            i += 20
            for n, (payload, fut) in enumerate(batch):
                try:
                    acked[await fut] = payload
                except LedgerFenced:
                    await asyncio.gather(*(f for _, f in batch[n + 1:]), return_exceptions=True)
                    fenced.set()
                    return

    task = asyncio.create_task(keep_writing())
    while len(acked) < 200:
        await asyncio.sleep(0.01)
    other = BookKeeperClient(zk, bookkeeper.ledgers_root)
    try:
        reader = await other.open(writer.ledger_id, b"pw", recovery=True)
        async with asyncio.timeout(15):
            await fenced.wait()
            await task
        last = reader.last_add_confirmed
        assert acked and max(acked) <= last  # every acknowledged entry is in the ledger
        entries = await reader.read(0, last)
        assert all(entries[i] == payload for i, payload in acked.items())
        with pytest.raises(LedgerFenced):
            await writer.add(b"after")
        md = await _metadata(zk, bookkeeper, writer.ledger_id)
        assert (md.state, md.last_entry_id) == (LedgerState.CLOSED, last)
    finally:
        task.cancel()
        await other.close()


async def test_kill9_during_pipelined_adds_changes_the_ensemble(
        client: BookKeeperClient, zk: ZooKeeper, bookkeeper: BookKeeperEnv,
        bk_java: BkJava) -> None:
    writer = await client.create(LedgerConfig(3, 2, 2))
    victim_id = (await _metadata(zk, bookkeeper, writer.ledger_id)).last_segment.ensemble[0]
    victim = bookkeeper.bookie_ids.index(victim_id)
    try:
        futures: list[asyncio.Future[int]] = []
        for i in range(3000):
            futures.append(writer.add(b"k-%d" % i))  # type: ignore[arg-type]
            if i == 1000:
                await asyncio.gather(*futures[:500])
                bookkeeper.kill9(victim)
            if i % 100 == 0:
                await asyncio.sleep(0)
        async with asyncio.timeout(30):
            ids = await asyncio.gather(*futures)
        assert ids == list(range(3000))
        await writer.close()
        md = await _metadata(zk, bookkeeper, writer.ledger_id)
        assert len(md.segments) >= 2 and victim_id not in md.last_segment.ensemble
        reader = await client.open(writer.ledger_id, b"", recovery=False)
        assert await reader.read(0, 2999) == [b"k-%d" % i for i in range(3000)]
        dump = await asyncio.to_thread(bk_java.read, bookkeeper.metadata_service_uri,
                                       writer.ledger_id, "CRC32C", "")
        assert len(dump.entries) == 3000 and dump.entries[2999] == b"k-2999"
        assert len(dump.ensembles) == len(md.segments)
    finally:
        await asyncio.to_thread(bookkeeper.heal)


async def test_frozen_bookie_is_replaced_after_the_add_timeout(
        zk: ZooKeeper, bookkeeper: BookKeeperEnv) -> None:
    client = BookKeeperClient(zk, bookkeeper.ledgers_root, add_timeout_ms=1000,
                              read_timeout_ms=1000)
    writer = await client.create(LedgerConfig(3, 2, 2))
    try:
        await asyncio.gather(*(writer.add(b"f-%d" % i) for i in range(100)))
        frozen_id = (await _metadata(zk, bookkeeper, writer.ledger_id)).last_segment.ensemble[1]
        bookkeeper.stop(bookkeeper.bookie_ids.index(frozen_id))  # SIGSTOP: port open, silent
        start = asyncio.get_running_loop().time()
        async with asyncio.timeout(10):
            ids = await asyncio.gather(*(writer.add(b"f-%d" % i) for i in range(100, 200)))
        took = asyncio.get_running_loop().time() - start
        assert ids == list(range(100, 200))
        assert took < 1.0 + 2.0  # the add timeout, then one metadata CAS and the re-sends
        md = await _metadata(zk, bookkeeper, writer.ledger_id)
        assert frozen_id not in md.last_segment.ensemble
        await writer.close()
        reader = await client.open(writer.ledger_id, b"", recovery=False)
        assert await reader.read(0, 199) == [b"f-%d" % i for i in range(200)]
    finally:
        await client.close()
        await asyncio.to_thread(bookkeeper.heal)


async def _write(client: BookKeeperClient, config: LedgerConfig, n: int) -> WriteHandle:
    writer = await client.create(config)
    await asyncio.gather(*(writer.add(BkJava.payload(i)) for i in range(n)))
    return writer


@pytest.mark.parametrize("digest", list(DigestType))
async def test_java_reads_what_kwire_wrote(client: BookKeeperClient, bookkeeper: BookKeeperEnv,
                                           bk_java: BkJava, digest: DigestType) -> None:
    writer = await _write(client, LedgerConfig(3, 2, 2, digest, b"secret"), 40)
    await writer.close()
    dump = await asyncio.to_thread(bk_java.read, bookkeeper.metadata_service_uri,
                                   writer.ledger_id, JAVA_DIGEST[digest], "secret")
    assert dump.entries == [BkJava.payload(i) for i in range(40)]
    md = dump.metadata
    assert (md["state"], md["lastEntryId"], md["length"]) == ("CLOSED", 39, writer.length)
    assert md["digestType"] == JAVA_DIGEST[digest]
    assert (md["ensembleSize"], md["writeQuorumSize"], md["ackQuorumSize"]) == (3, 2, 2)


async def test_java_recovers_an_open_kwire_ledger_and_fences_kwire(
        client: BookKeeperClient, bookkeeper: BookKeeperEnv, bk_java: BkJava) -> None:
    writer = await _write(client, LedgerConfig(3, 2, 2, password=b"pw"), 30)
    dump = await asyncio.to_thread(bk_java.recover, bookkeeper.metadata_service_uri,
                                   writer.ledger_id, "CRC32C", "pw")
    assert dump.metadata["state"] == "CLOSED" and dump.metadata["lastEntryId"] == 29
    assert dump.entries == [BkJava.payload(i) for i in range(30)]
    with pytest.raises(LedgerFenced):
        await writer.add(b"after")


async def test_kwire_reads_and_recovers_what_java_wrote(
        client: BookKeeperClient, zk: ZooKeeper, bookkeeper: BookKeeperEnv,
        bk_java: BkJava) -> None:
    uri = bookkeeper.metadata_service_uri
    closed = await asyncio.to_thread(bk_java.write, uri, 3, 2, 2, "CRC32C", "pw", 50)
    reader = await client.open(closed, b"pw", recovery=False)
    assert (reader.last_add_confirmed, reader.length) == \
        (49, sum(len(BkJava.payload(i)) for i in range(50)))
    assert await reader.read(0, 49) == [BkJava.payload(i) for i in range(50)]
    md = await _metadata(zk, bookkeeper, closed)
    assert md.format_version == 3 and md.digest_type == DigestType.CRC32C

    left_open = await asyncio.to_thread(bk_java.write, uri, 3, 2, 2, "CRC32", "pw", 25,
                                         False)
    assert (await _metadata(zk, bookkeeper, left_open)).state == LedgerState.OPEN
    recovered = await client.open(left_open, b"pw", recovery=True)
    assert recovered.last_add_confirmed == 24
    assert await recovered.read(0, 24) == [BkJava.payload(i) for i in range(25)]
    dump = await asyncio.to_thread(bk_java.read, uri, left_open, "CRC32", "pw")
    assert dump.metadata["state"] == "CLOSED" and dump.metadata["lastEntryId"] == 24
    assert dump.metadata["length"] == recovered.length
