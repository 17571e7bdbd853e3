"""The parts of the transaction protocol that cross brokers: a transaction's
commit and abort markers, and the check of a transactional write with the
transaction coordinator.

- A marker is written by the partition's leader: at once for a partition this
  broker leads (`write_local_marker`, which the WriteTxnMarkers handler uses
  too), through a WriteTxnMarkers request for one another broker leads, as
  Kafka's TransactionMarkerChannelManager sends them. A marker in a
  `__consumer_offsets` partition also completes the transaction's pending
  offsets in the group coordinator (Kafka's onTransactionCompleted).
- Before a producer's first transactional write to a partition in a
  transaction (Produce, TxnOffsetCommit), the partition's leader asks the
  transaction coordinator whether the partition was added to the transaction
  under that producer id and epoch (KIP-890 part 1, Kafka's
  AddPartitionsToTxnManager): at once when this broker coordinates the
  transactional id, else through AddPartitionsToTxn with verify_only. A write
  that was not added would otherwise leave a transaction no marker ever ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kwire.broker.inter_broker import InterBrokerClient, TxnMarker
from kwire.coordinator.group.manager import OFFSETS_TOPIC
from kwire.coordinator.txn.manager import TRANSACTION_STATE_TOPIC
from kwire.errors import ErrorCode, KwireError

if TYPE_CHECKING:
    from kwire.broker.partitions import Partition
    from kwire.broker.services import Broker

log = logging.getLogger("kwire.transactions")

TopicPartitionKey = tuple[str, int]
# The answers of a verification that mean the coordinator could not be asked or
# could not tell yet; the caller retries (Kafka's ReplicaManager maps them to
# NOT_ENOUGH_REPLICAS on a Produce, the coordinator runtime to
# COORDINATOR_NOT_AVAILABLE on a TxnOffsetCommit).
COORDINATOR_UNREACHABLE = frozenset({
    ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NETWORK_EXCEPTION,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR})


async def write_local_marker(broker: Broker, topic: str, index: int, producer_id: int,
                             producer_epoch: int, coordinator_epoch: int, commit: bool
                             ) -> ErrorCode:
    """Append a marker to a partition this broker leads (or the error why not). In
    `__consumer_offsets` the producer's pending offsets are completed before the
    answer, so its next transaction cannot begin first; their failure is the
    partition's error."""
    partition = broker.replicas.get_partition_or_error(topic, index)
    if isinstance(partition, ErrorCode):
        return partition
    code = await partition.write_txn_marker(producer_id, producer_epoch, coordinator_epoch,
                                            commit, broker.now_ms())
    if code != ErrorCode.NONE or topic != OFFSETS_TOPIC:
        return code
    try:
        await broker.groups.on_transaction_completed(index, producer_id, commit)
    except KwireError as exc:
        return ErrorCode(exc.error_code)
    except Exception:
        log.exception("completing the offsets of producer %d in %s-%d failed",
                      producer_id, topic, index)
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return ErrorCode.NONE


class TxnRouter:
    """Markers to partition leaders, and partition checks with coordinators."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._client = InterBrokerClient()

    async def write_markers(self, producer_id: int, producer_epoch: int,
                            coordinator_epoch: int, commit: bool,
                            partitions: Sequence[TopicPartitionKey]
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

    async def verify(self, transactional_id: str, producer_id: int, producer_epoch: int,
                     partition: Partition) -> ErrorCode:
        """May the producer write transactionally to `partition`? NONE when it has a
        transaction open there under this epoch or the coordinator says the
        partition is in its transaction; else the coordinator's answer as Kafka's
        AddPartitionsToTxnManager passes it on (PRODUCER_FENCED is told as
        INVALID_PRODUCER_EPOCH, which producers expect here; a partition not in
        the transaction is INVALID_TXN_STATE for transaction version 1 clients).
        transaction.partition.verification.enable=false skips the check."""
        if (not self._broker.config["transaction.partition.verification.enable"]
                or partition.in_transaction(producer_id, producer_epoch)):
            return ErrorCode.NONE
        tp = (partition.tp.topic, partition.tp.partition)
        code = await self._ask_coordinator(transactional_id, producer_id, producer_epoch, tp)
        if code == ErrorCode.PRODUCER_FENCED:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if code == ErrorCode.TRANSACTION_ABORTABLE:
            return ErrorCode.INVALID_TXN_STATE
        return code

    async def _ask_coordinator(self, transactional_id: str, producer_id: int,
                               producer_epoch: int, tp: TopicPartitionKey) -> ErrorCode:
        broker = self._broker
        txns = broker.transactions
        if broker.internal_topic_partitions(TRANSACTION_STATE_TOPIC) is None:
            # No transaction has ever begun: this one certainly has not.
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        shard = txns.partition_for(transactional_id)
        if broker.replicas.leader_of(TRANSACTION_STATE_TOPIC, shard) == broker.node.node_id:
            try:
                found = await txns.verify_partitions(transactional_id, producer_id,
                                                     producer_epoch, [tp])
            except KwireError as exc:
                return exc.error_code
            return found[tp]
        node = broker.leader_node(TRANSACTION_STATE_TOPIC, shard)
        if node is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        answer = await self._client.verify_partitions(
            node.host, node.port, transactional_id, producer_id, producer_epoch, [tp])
        return answer[tp]

    async def close(self) -> None:
        await self._client.close()
