"""Byte budgets the network layer keeps so hostile clients cannot exhaust memory.

`MemoryPool` is Kafka's SimpleMemoryPool in non-strict mode, as SocketServer
uses it for `queued.max.request.bytes`: an allocation succeeds while *any*
memory is left, so the pool can dip below zero by at most one allocation
(bounded by `socket.request.max.bytes`), and a frame larger than what is left
still gets read once the pool recovers instead of waiting forever. When it
refuses, the caller stops reading until `release` gives memory back.

`ResponseLease` accounts the bytes one request's response holds (for Fetch: the
batches read from the log) in a second pool, the response budget. The server
opens a lease per request and releases it once the response has left for the
socket, and hands it to the dispatcher with the frame; the Fetch handler sees it
as its request's `ResponseBudget` (broker/context.py) and shrinks its reads when
many large fetches are in flight. Pure bookkeeping: no asyncio, no sockets.
"""

from __future__ import annotations


class MemoryPool:
    """A byte budget; `capacity` None means unbounded (Kafka's MemoryPool.NONE)."""

    def __init__(self, capacity: int | None) -> None:
        if capacity is not None and capacity <= 0:
            raise ValueError(f"pool capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.used = 0

    @property
    def available(self) -> int | None:
        """Bytes left (negative after non-strict overshoot); None when unbounded."""
        return None if self.capacity is None else self.capacity - self.used

    @property
    def out_of_memory(self) -> bool:
        return self.capacity is not None and self.used >= self.capacity

    def try_allocate(self, size: int) -> bool:
        """Take `size` bytes if any memory is left (non-strict); False otherwise."""
        if size < 0:
            raise ValueError(f"negative allocation {size}")
        if self.out_of_memory:
            return False
        self.used += size
        return True

    def force_allocate(self, size: int) -> None:
        """Take `size` bytes even past the capacity: for bytes that must be held
        anyway (a small request, the one batch KIP-74 always returns), so the
        pool still reflects what is really in memory."""
        if size < 0:
            raise ValueError(f"negative allocation {size}")
        self.used += size

    def grant(self, want: int) -> int:
        """Take up to `want` bytes, as many as are left (0 when none are)."""
        left = self.available
        granted = want if left is None else max(0, min(want, left))
        self.used += granted
        return granted

    def release(self, size: int) -> None:
        if size < 0 or size > self.used:
            raise ValueError(f"releasing {size} bytes of {self.used} allocated")
        self.used -= size


class ResponseLease:
    """The response bytes one request holds in the response budget, all released
    together once the response is written (or the connection is gone)."""

    def __init__(self, pool: MemoryPool) -> None:
        self._pool = pool
        self.held = 0

    def grant(self, want: int) -> int:
        """Reserve up to `want` bytes before a read; the read must then `settle`."""
        granted = self._pool.grant(want)
        self.held += granted
        return granted

    def settle(self, reserved: int, used: int) -> None:
        """After a read: keep `used` bytes of the `reserved` ones. `used` may exceed
        `reserved` (KIP-74's first batch is returned whole); that excess is held too."""
        if used > reserved:
            self._pool.force_allocate(used - reserved)
        else:
            self._pool.release(reserved - used)
        self.held += used - reserved

    def release(self) -> None:
        self._pool.release(self.held)
        self.held = 0

