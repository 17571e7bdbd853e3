"""Waiting in tests on the in-memory ZooKeeper (fake_zk.py), bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], turns: int = 500,
                     timeout_s: float = 3.0) -> None:
    """Let the loop run until `condition` holds: loop turns first (the fake's
    watches need only those), then short waits for a retry's backoff."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")
