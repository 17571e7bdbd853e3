"""DescribeProducers (61, KIP-664): the active producers of partitions this
broker leads, with their open transaction's first offset, as Kafka's
KafkaApis.handleDescribeProducersRequest answers them (kafka-transactions.sh
describe-producers, the Admin client's describeProducers).

Errors: an illegal topic name is INVALID_TOPIC_EXCEPTION with Topic.validate's
message, an unknown topic UNKNOWN_TOPIC_OR_PARTITION with Errors' default
message, for every partition asked; then per partition ReplicaManager's
getPartitionOrError without a message (unknown partition, or NOT_LEADER_OR_FOLLOWER
for one led elsewhere).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.partitions import Partition
from kwire.broker.producer_state import ProducerEntry
from kwire.broker.registry import handler
from kwire.broker.topics import invalid_reason
from kwire.errors import ErrorCode

_UNKNOWN_MESSAGE = "This server does not host this topic-partition."
_JAVA_HASHMAP_CAPACITY = 16
_JAVA_HASHMAP_LOAD = 0.75


@handler(61, "DescribeProducers", 0, 0)
async def describe_producers(ctx: RequestContext, request: Any) -> dict[str, Any]:
    snapshot = ctx.broker.snapshot()
    topics = []
    for t in request.topics:
        reason = invalid_reason(t.name)
        topic_error: tuple[ErrorCode, str | None] | None = None
        if reason is not None:
            topic_error = (ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
        elif t.name not in snapshot.topics:
            topic_error = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, _UNKNOWN_MESSAGE)
        partitions = []
        for index in t.partition_indexes:
            if topic_error is not None:
                partitions.append(_error(index, *topic_error))
                continue
            partition = ctx.broker.replicas.get_partition_or_error(t.name, int(index))
            if isinstance(partition, ErrorCode):
                partitions.append(_error(index, partition, None))
            else:
                partitions.append(_active_producers(partition, int(index)))
        topics.append({"name": t.name, "partitions": partitions})
    return {"throttle_time": 0, "topics": topics}


def _error(index: int, code: ErrorCode, message: str | None) -> dict[str, Any]:
    return {"partition_index": index, "error_code": code, "error_message": message,
            "active_producers": ()}


def _active_producers(partition: Partition, index: int) -> dict[str, Any]:
    state = partition.producers
    producers = [
        {"producer_id": pid, "producer_epoch": entry.producer_epoch,
         "last_sequence": entry.last_seq, "last_timestamp": entry.last_timestamp,
         "coordinator_epoch": entry.coordinator_epoch,
         "current_txn_start_offset": state.txns.current_txn_first_offset(pid)}
        for pid, entry in _java_hashmap_order(state.producers())
    ]
    return {"partition_index": index, "error_code": ErrorCode.NONE, "error_message": None,
            "active_producers": producers}


def _java_hashmap_order(producers: dict[int, ProducerEntry]) -> list[tuple[int, ProducerEntry]]:
    """The order Kafka lists them in: iteration of its HashMap<Long, entry>, by
    bucket (Long.hashCode spread as HashMap.hash does), insertion order within one."""
    capacity = _JAVA_HASHMAP_CAPACITY
    while len(producers) > capacity * _JAVA_HASHMAP_LOAD:
        capacity *= 2

    def bucket(pid: int) -> int:
        unsigned = pid & 0xFFFFFFFFFFFFFFFF
        h = (unsigned ^ (unsigned >> 32)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    items = list(producers.items())
    return sorted(items, key=lambda item: bucket(item[0]))  # stable: insertion order kept
