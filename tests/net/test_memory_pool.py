"""MemoryPool (Kafka's non-strict SimpleMemoryPool) and ResponseLease bookkeeping."""

from __future__ import annotations

import pytest

from kwire.net.memory_pool import MemoryPool, ResponseLease


def test_non_strict_allocation_succeeds_while_any_memory_is_left() -> None:
    pool = MemoryPool(100)
    assert pool.try_allocate(60)
    assert pool.try_allocate(60)  # 40 left: granted, the pool dips to -20
    assert pool.available == -20 and pool.out_of_memory
    assert not pool.try_allocate(1)
    pool.release(60)
    assert pool.available == 40 and not pool.out_of_memory
    assert pool.try_allocate(1000)  # larger than the capacity: still read once memory is back


def test_unbounded_pool_never_refuses() -> None:
    pool = MemoryPool(None)
    assert pool.try_allocate(2**40) and pool.available is None and not pool.out_of_memory
    assert pool.grant(123) == 123


def test_forced_allocations_count_and_block_others() -> None:
    pool = MemoryPool(10)
    pool.force_allocate(15)
    assert not pool.try_allocate(1)
    assert pool.grant(5) == 0
    pool.release(15)
    assert pool.grant(50) == 10


def test_bad_sizes_are_refused() -> None:
    pool = MemoryPool(10)
    with pytest.raises(ValueError):
        MemoryPool(0)
    with pytest.raises(ValueError):
        pool.try_allocate(-1)
    with pytest.raises(ValueError):
        pool.release(1)


def test_lease_holds_what_reads_kept_and_releases_it_all() -> None:
    pool = MemoryPool(100)
    lease = ResponseLease(pool)
    granted = lease.grant(70)
    assert granted == 70
    lease.settle(granted, 20)  # the read returned less than granted
    assert pool.used == 20 == lease.held
    granted = lease.grant(200)
    assert granted == 80
    lease.settle(granted, 80)
    assert pool.available == 0
    other = ResponseLease(pool)
    assert other.grant(10) == 0
    other.settle(0, 30)  # KIP-74: the first batch is returned whole even with no budget
    assert pool.used == 130
    lease.release()
    other.release()
    assert pool.used == 0 and lease.held == 0 and other.held == 0
