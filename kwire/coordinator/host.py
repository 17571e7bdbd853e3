"""What a coordinator's driver needs from the broker that runs it: the internal
topic its state lives in (Kafka's coordinator runtime has the same seam as its
PartitionWriter and CoordinatorLoader). The broker implements it; a coordinator
never sees `Broker`, so in cluster mode a shard can be loaded wherever this
broker leads the internal topic's partition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from kwire.errors import ErrorCode
from kwire.log.api import PartitionLog


class InternalTopicHost(Protocol):
    def now_ms(self) -> int:
        """Wall-clock milliseconds (the broker's clock, injectable in tests)."""
        ...

    def internal_topic_partitions(self, name: str) -> int | None:
        """How many partitions the topic has, or None when it does not exist."""
        ...

    async def create_internal_topic(
        self, name: str, partitions: int, configs: Mapping[str, str]
    ) -> None:
        """Create the topic, marked internal, and open its partitions."""
        ...

    def internal_log(self, name: str, index: int) -> PartitionLog | None:
        """The partition's log, to replay; None when the partition is not open."""
        ...

    async def append_internal(self, name: str, index: int, batch: bytearray,
                              now_ms: int) -> ErrorCode:
        """Append one batch the coordinator built; the error code of the append."""
        ...
