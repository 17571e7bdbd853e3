"""The BookKeeper test environment itself: real bookies register, the Java client
round-trips a ledger through them, and a crashed bookie comes back.

If these fail, every cluster-storage test would fail for reasons that have
nothing to do with kwire; this file says so first.
"""

from __future__ import annotations

import time

import pytest
from bk_java import BkJava
from bookkeeper_env import BookKeeperEnv

pytestmark = pytest.mark.java


def test_four_bookies_registered(bookkeeper: BookKeeperEnv) -> None:
    assert len(bookkeeper.bookies) >= 4
    assert set(bookkeeper.bookie_ids) <= set(bookkeeper.registered_bookies())
    assert bookkeeper.registered_bookies(readonly=True) == []
    assert bookkeeper.metadata_service_uri == (
        f"zk+hierarchical://{bookkeeper.zk_connect}{bookkeeper.ledgers_root}")
    a, b = bookkeeper.new_chroot(), bookkeeper.new_chroot()
    assert a != b and bookkeeper.zk.exists(a) and bookkeeper.zk.exists(b)


def test_java_write_read_round_trip(bookkeeper: BookKeeperEnv, bk_java: BkJava) -> None:
    uri = bookkeeper.metadata_service_uri
    lid = bk_java.write(uri, 3, 2, 2, "CRC32C", "secret", 50)
    dump = bk_java.read(uri, lid, "CRC32C", "secret")
    assert dump.entries == [BkJava.payload(i) for i in range(50)]
    md = dump.metadata
    assert (md["state"], md["lastEntryId"], md["digestType"]) == ("CLOSED", 49, "CRC32C")
    assert (md["ensembleSize"], md["writeQuorumSize"], md["ackQuorumSize"]) == (3, 2, 2)
    assert md["length"] == sum(len(BkJava.payload(i)) for i in range(50))
    first, ensemble = dump.ensembles[0]
    assert first == 0 and set(ensemble) <= set(bookkeeper.bookie_ids)


def test_kill9_and_restart_bookie(bookkeeper: BookKeeperEnv) -> None:
    victim = bookkeeper.bookies[0]
    try:
        bookkeeper.kill9(0)
        assert not victim.running
        start = time.monotonic()
        bookkeeper.restart(0, timeout=30)
        assert time.monotonic() - start < 30
        assert victim.running and victim.id in bookkeeper.registered_bookies()
    finally:
        bookkeeper.heal()
