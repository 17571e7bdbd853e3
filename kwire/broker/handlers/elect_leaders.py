"""ElectLeaders (43): leadership to each partition's preferred replica
(election type PREFERRED, 0), or to a live replica where a partition has no
live leader (UNCLEAN, 1; see kwire.cluster.admin.unclean_election).

Answered as Kafka 4.4.0 answers (compared with it on a single node):
- A timeout of 0 or less fails the whole request with REQUEST_TIMED_OUT, no
  message, at the top level and for every partition named (the controller
  event's deadline had passed: create_topics.controller_deadline_expired);
  an empty `topic_partitions` list is answered NONE and empty all the same.
- An election type other than 0 or 1: INVALID_REQUEST "Unknown election type N"
  for the whole request.
- Named partitions are answered entry by entry in request order, duplicates
  included (each gets its partition's one result): an unknown topic "No such
  topic as X", an unknown partition "No such partition as X-N",
  ELECTION_NOT_NEEDED and PREFERRED_LEADER_NOT_AVAILABLE with Errors.java's
  default messages (ReplicationControlManager.electLeader builds them as
  `new ApiError(error)`), NONE for a partition elected.
- `topic_partitions` null means every partition: every topic is listed, with
  only the partitions elected or failed (those needing no election are left
  out, as Kafka leaves them out).
- A broker that is not the controller answers as Kafka's ZooKeeper-mode
  controller did (KafkaController.processReplicaLeaderElection): NOT_CONTROLLER,
  no message, for every partition named (or every partition it knows, for
  null), the top-level code NONE. Kafka's AdminClient does not retry that; the
  Java tool reports it per partition. (KRaft brokers forward the request to the
  controller instead, so 4.4.0 itself never answers NOT_CONTROLLER.)
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

PREFERRED, UNCLEAN = 0, 1

# Errors the controller answers with Errors.java's own message (`new ApiError(error)`).
_DEFAULT_MESSAGE_CODES = (ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                          ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE)


@handler(43, "ElectLeaders", 0, 2)
async def elect_leaders(ctx: RequestContext, request: Any) -> dict[str, Any]:
    named = request.topic_partitions
    if named is not None and not named:
        return _response([])
    if controller_deadline_expired(request.timeout):
        raise KwireError(ErrorCode.REQUEST_TIMED_OUT, None)
    snapshot = ctx.broker.snapshot()
    try:
        return await _elect(ctx, request, named, snapshot)
    except NotController:  # not the controller, or deposed while deciding
        return _not_controller(named, snapshot)
    except StorageError as exc:
        raise KwireError(ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) from exc


async def _elect(ctx: RequestContext, request: Any, named: Any, snapshot: ClusterMetadata
                 ) -> dict[str, Any]:
    broker = ctx.broker
    if not broker.admin.is_controller():
        raise NotController()
    # v0 has no election type: it elects the preferred replica.
    election_type = int(getattr(request, "election_type", PREFERRED))
    if election_type not in (PREFERRED, UNCLEAN):
        raise KwireError(ErrorCode.INVALID_REQUEST, f"Unknown election type {election_type}")
    unclean = election_type == UNCLEAN
    if named is None:
        results = await broker.elect_leaders(unclean, None)
        return _response([
            {"topic": name, "partition_result": [
                _partition(index, results[(name, index)])
                for index in range(len(topic.partitions)) if (name, index) in results]}
            for name, topic in sorted(snapshot.topics.items())])
    unknown = {(t.topic, int(p)): _unknown(snapshot, t.topic, int(p))
               for t in named for p in t.partitions}
    known = [tp for tp, error in unknown.items() if error is None]
    elected: Mapping[TopicIndex, ApiError] = (
        await broker.elect_leaders(unclean, known) if known else {})
    return _response([
        {"topic": t.topic, "partition_result": [
            _partition(int(p), unknown[(t.topic, int(p))] or elected[(t.topic, int(p))])
            for p in t.partitions]}
        for t in named])


def _unknown(snapshot: ClusterMetadata, topic: str, index: int) -> ApiError | None:
    """ReplicationControlManager.electLeader's first checks, with its texts."""
    metadata = snapshot.topics.get(topic)
    if metadata is None:
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}")
    if not 0 <= index < len(metadata.partitions):
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        f"No such partition as {topic}-{index}")
    return None


def _partition(index: int, error: ApiError) -> dict[str, Any]:
    code = ErrorCode(error.error_code)
    message = error.message
    if code in _DEFAULT_MESSAGE_CODES:
        message = default_message(code)
    return {"partition_id": index, "error_code": code, "error_message": message}


def _response(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "replica_election_results": results}


def _not_controller(named: Any, snapshot: ClusterMetadata) -> dict[str, Any]:
    """KafkaController's answer off the controller: NOT_CONTROLLER, no message, for
    each partition named; for null, KafkaApis named every partition it knows."""
    def entry(topic: str, indexes: Any) -> dict[str, Any]:
        return {"topic": topic, "partition_result": [
            {"partition_id": int(p), "error_code": ErrorCode.NOT_CONTROLLER,
             "error_message": None} for p in indexes]}

    if named is None:
        return _response([entry(name, range(len(t.partitions)))
                          for name, t in sorted(snapshot.topics.items())])
    return _response([entry(t.topic, t.partitions) for t in named])

