"""The shards of a coordinator: one per partition of its internal topic that this
broker leads, as Kafka's coordinator runtime keeps them. A shard is created when
the broker gains the partition and loaded (its partition replayed) in the
background; it is retired when the broker loses the partition. The group and
transaction coordinators keep their shards in one of these."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger("kwire.coordinator")

S = TypeVar("S")


class Shards(Generic[S]):
    def __init__(self, topic: str, new_shard: Callable[[int], S],
                 load: Callable[[S], Coroutine[Any, Any, None]],
                 retire: Callable[[S], Coroutine[Any, Any, None]]) -> None:
        self._topic = topic
        self._new_shard = new_shard
        self._load = load
        self._retire = retire
        self.held: dict[int, S] = {}
        self._loads: dict[int, asyncio.Task[None]] = {}

    async def change(self, gained: Iterable[int], lost: Iterable[int]) -> None:
        """This broker now leads (`gained`) or no longer leads (`lost`) these
        partitions: retire their shards, or create them and start their loads
        (calls for a loading shard wait for it)."""
        for index in lost:
            shard = self.held.pop(index, None)
            if shard is not None:
                await self._retire(shard)
        for index in gained:
            if index in self.held:
                continue
            shard = self._new_shard(index)
            self.held[index] = shard
            task = asyncio.get_running_loop().create_task(self._load(shard))
            self._loads[index] = task
            task.add_done_callback(functools.partial(self._load_done, index))

    def _load_done(self, index: int, task: asyncio.Task[None]) -> None:
        if self._loads.get(index) is task:
            del self._loads[index]
        if not task.cancelled() and task.exception() is not None:
            log.error("loading the coordinator of %s-%d failed", self._topic, index,
                      exc_info=task.exception())

    async def wait_loaded(self) -> None:
        """Wait for the loads in progress."""
        while self._loads:
            await asyncio.gather(*list(self._loads.values()), return_exceptions=True)

    def cancel_loads(self) -> None:
        for task in list(self._loads.values()):
            task.cancel()
