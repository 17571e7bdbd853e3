"""Where the transaction coordinator's commit and abort markers go.

A marker is written by the partition's leader: a partition this broker leads
gets it at once (`write_local_marker`, which the WriteTxnMarkers handler uses
too), one led by another broker through a WriteTxnMarkers request to it, as
Kafka's TransactionMarkerChannelManager sends them. A marker in a
`__consumer_offsets` partition also completes the transaction's pending
offsets in the group coordinator (Kafka's onTransactionCompleted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kwire.broker.inter_broker import InterBrokerClient, TxnMarker
from kwire.coordinator.group.manager import OFFSETS_TOPIC
from kwire.errors import ErrorCode

if TYPE_CHECKING:
    from kwire.broker.services import Broker

TopicPartitionKey = tuple[str, int]


async def write_local_marker(broker: Broker, topic: str, index: int, producer_id: int,
                             producer_epoch: int, coordinator_epoch: int, commit: bool
                             ) -> ErrorCode:
    """Append a marker to a partition this broker leads (or the error why not)."""
    partition = broker.replicas.get_partition_or_error(topic, index)
    if isinstance(partition, ErrorCode):
        return partition
    code = await partition.write_txn_marker(producer_id, producer_epoch, coordinator_epoch,
                                            commit, broker.now_ms())
    if code == ErrorCode.NONE and topic == OFFSETS_TOPIC:
        await broker.groups.on_transaction_completed(index, producer_id, commit)
    return code


class MarkerRouter:
    """Writes one transaction's markers wherever its partitions are led."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._client = InterBrokerClient()

    async def write(self, producer_id: int, producer_epoch: int, coordinator_epoch: int,
                    commit: bool, partitions: Sequence[TopicPartitionKey]
                    ) -> dict[TopicPartitionKey, ErrorCode]:
        broker = self._broker
        results: dict[TopicPartitionKey, ErrorCode] = {}
        local: list[TopicPartitionKey] = []
        remote: dict[tuple[str, int], list[TopicPartitionKey]] = {}
        for tp in partitions:
            leader = broker.replicas.leader_of(*tp)
            if leader == broker.node.node_id:
                local.append(tp)
                continue
            node = broker.leader_node(*tp)
            if node is None:
                results[tp] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                               if not broker.partition_exists(*tp)
                               else ErrorCode.LEADER_NOT_AVAILABLE)
            else:
                remote.setdefault((node.host, node.port), []).append(tp)
        for tp in local:
            results[tp] = await write_local_marker(broker, tp[0], tp[1], producer_id,
                                                   producer_epoch, coordinator_epoch, commit)
        sent = await asyncio.gather(*(
            self._client.write_txn_markers(host, port, [TxnMarker(
                producer_id, producer_epoch, commit, coordinator_epoch, tuple(tps))])
            for (host, port), tps in remote.items()))
        for answer in sent:
            for (pid, topic, index), code in answer.items():
                if pid == producer_id:
                    results[(topic, index)] = code
        for tp in partitions:  # a broker that left a partition out of its answer
            results.setdefault(tp, ErrorCode.NETWORK_EXCEPTION)
        return results

    async def close(self) -> None:
        await self._client.close()
