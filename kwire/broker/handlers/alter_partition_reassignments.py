"""AlterPartitionReassignments (45): set partitions' replica lists.

In kwire's cluster mode the replicas are a leadership preference list over
shared ledgers, so a reassignment completes in its one metadata write (no
bytes move): the leader stays where it is if it is live and in the new list,
else the list's first live broker leads (kwire.cluster.controller.reassign).
Nothing is ever in progress, so a cancellation (replicas null) is always
NO_REASSIGNMENT_IN_PROGRESS.

Answered as Kafka 4.4.0 answers (compared with it on a single node):
- No topics at all: NONE with an empty error message "" (QuorumController
  answers an empty request with a fresh response, whose message is "").
- A timeout of 0 or less: REQUEST_TIMED_OUT for the whole request, no message
  (create_topics.controller_deadline_expired).
- Each entry is answered in request order, duplicates included, with
  ReplicationControlManager.alterPartitionReassignment's checks and texts in
  its order: "Unable to find a topic named X.", "Unable to find partition
  X:N.", a cancellation, then the list (validateManualPartitionAssignment:
  empty; then its brokers in id order, each known, each once), then, when the
  request disallows it (v1, KIP-860), a changed replication factor
  (INVALID_REPLICATION_FACTOR "The replication factor is changed from A to B").
  Kafka's "registered" broker is one in its metadata, live or not; kwire knows
  only live brokers, so it takes ZooKeeper-mode Kafka's rule: a broker the
  partition does not have yet must be live, one it has need not be.
- Valid entries for one partition given twice: the later target wins, and both
  are answered with its outcome; a cancellation next to a target is answered
  NO_REASSIGNMENT_IN_PROGRESS all the same (each entry is checked against the
  partition as the request found it).
- A broker that is not the controller answers as Kafka's ZooKeeper-mode
  controller did: NOT_CONTROLLER at the top level with Errors.java's message
  and no partitions, which Kafka's AdminClient retries on the new controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import default_message
from kwire.broker.handlers.create_topics import controller_deadline_expired
from kwire.broker.registry import handler
from kwire.cluster.admin import NotController
from kwire.cluster.api import ClusterMetadata, TopicIndex
from kwire.cluster.controller import ApiError
from kwire.errors import ErrorCode, KwireError, StorageError


@handler(45, "AlterPartitionReassignments", 0, 1)
async def alter_partition_reassignments(ctx: RequestContext, request: Any) -> dict[str, Any]:
    allow_rf_change = bool(getattr(request, "allow_replication_factor_change", True))
    if not request.topics:
        return _response(allow_rf_change, [], message="")
    if controller_deadline_expired(request.timeout):
        raise KwireError(ErrorCode.REQUEST_TIMED_OUT, None)
    if not ctx.broker.admin.is_controller():
        return _not_controller(allow_rf_change)
    snapshot = ctx.broker.snapshot()
    checked = [[_check(snapshot, t.name, p, allow_rf_change) for p in t.partitions]
               for t in request.topics]
    targets: dict[TopicIndex, tuple[int, ...] | None] = {}
    for t, partitions in zip(request.topics, checked, strict=True):
        for p, error in zip(t.partitions, partitions, strict=True):
            tp = (t.name, int(p.partition_index))
            if error is None and (p.replicas is not None or tp not in targets):
                # A target wins over a cancellation of the same partition (see _answer).
                targets[tp] = None if p.replicas is None else tuple(int(r) for r in p.replicas)
    try:
        results = await ctx.broker.reassign_partitions(targets) if targets else {}
    except NotController:  # deposed while deciding
        return _not_controller(allow_rf_change)
    except StorageError as exc:
        raise KwireError(ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) from exc
    return _response(allow_rf_change, [
        {"name": t.name, "partitions": [
            _partition(p.partition_index, error or _answer(
                (t.name, int(p.partition_index)), p.replicas is None, targets, results))
            for p, error in zip(t.partitions, partitions, strict=True)]}
        for t, partitions in zip(request.topics, checked, strict=True)])


def _answer(tp: TopicIndex, cancellation: bool,
            targets: Mapping[TopicIndex, tuple[int, ...] | None],
            results: Mapping[TopicIndex, ApiError]) -> ApiError:
    """A valid entry's outcome. Kafka checks every entry against the partition as
    it was before the request, so a cancellation next to a new target of the same
    partition still finds nothing in progress (and in kwire nothing ever is)."""
    if cancellation and targets[tp] is not None:
        return ApiError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)
    return results[tp]


def _check(snapshot: ClusterMetadata, topic: str, p: Any, allow_rf_change: bool
           ) -> ApiError | None:
    """The entry's error, or None when it goes to the controller."""
    metadata = snapshot.topics.get(topic)
    if metadata is None:
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        f"Unable to find a topic named {topic}.")
    index = int(p.partition_index)
    if not 0 <= index < len(metadata.partitions):
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        f"Unable to find partition {topic}:{index}.")
    if p.replicas is None:
        return None  # a cancellation: the controller answers it
    current = metadata.partitions[index].replicas
    replicas = [int(r) for r in p.replicas]
    if not replicas:
        return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        "The manual partition assignment includes an empty replica list.")
    live = {b.node_id for b in snapshot.brokers}
    previous: int | None = None
    for broker in sorted(replicas):
        if broker not in live and broker not in current:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"The manual partition assignment includes broker {broker}, "
                            "but no such broker is registered.")
        if broker == previous:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"The manual partition assignment includes the broker {broker} "
                            "more than once.")
        previous = broker
    if not allow_rf_change and len(replicas) != len(current):
        return ApiError(ErrorCode.INVALID_REPLICATION_FACTOR,
                        f"The replication factor is changed from {len(current)} to "
                        f"{len(replicas)}")
    return None


def _partition(index: int, error: ApiError) -> dict[str, Any]:
    return {"partition_index": index, "error_code": ErrorCode(error.error_code),
            "error_message": error.message}


def _not_controller(allow_rf_change: bool) -> dict[str, Any]:
    """KafkaController.processApiPartitionReassignment off the controller."""
    return _response(allow_rf_change, [], code=ErrorCode.NOT_CONTROLLER,
                     message=default_message(ErrorCode.NOT_CONTROLLER))


def _response(allow_rf_change: bool, responses: list[dict[str, Any]],
              code: ErrorCode = ErrorCode.NONE, message: str | None = None) -> dict[str, Any]:
    return {"throttle_time": 0, "allow_replication_factor_change": allow_rf_change,
            "error_code": code, "error_message": message, "responses": responses}
