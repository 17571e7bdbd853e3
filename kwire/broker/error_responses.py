"""Whole-request error answers, one per API: Kafka's `XxxRequest.getErrorResponse`.

When a handler fails as a whole (a `KwireError`, an unexpected exception, a
group write that could not be stored), Kafka still answers in that API's own
shape: every partition, topic, group or resource the request named carries the
error, or the top-level error code does where the API has one. Only a request
Kafka cannot parse closes the connection. Bodies use Kafka's field names; the
codec keeps the fields the client's version has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from kwire.broker.handlers._transactions import not_described
from kwire.errors import ErrorCode

ErrorBody = Callable[[int, Any, ErrorCode, "str | None"], "dict[str, Any] | None"]

_ZERO_UUID = uuid.UUID(int=0)

# Errors.java's default messages, for the APIs that answer `error.message()`
# rather than the exception's own message (FindCoordinator, DescribeConfigs).
DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_SERVER_ERROR:
        "The server experienced an unexpected error when processing the request.",
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: "This server does not host this topic-partition.",
    ErrorCode.REQUEST_TIMED_OUT: "The request timed out.",
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
        "The coordinator is loading and hence can't process requests.",
    ErrorCode.COORDINATOR_NOT_AVAILABLE: "The coordinator is not available.",
    ErrorCode.NOT_COORDINATOR: "This is not the correct coordinator.",
    ErrorCode.INVALID_GROUP_ID: "The configured groupId is invalid.",
    ErrorCode.UNSUPPORTED_VERSION: "The version of API is not supported.",
    ErrorCode.NOT_CONTROLLER: "This is not the correct controller for this cluster.",
    ErrorCode.INVALID_REQUEST:
        "This most likely occurs because of a request being malformed by the client library "
        "or the message was sent to an incompatible broker. See the broker logs for more "
        "details.",
    ErrorCode.POLICY_VIOLATION: "Request parameters do not satisfy the configured policy.",
    ErrorCode.KAFKA_STORAGE_ERROR: "Disk error when trying to access log file on the disk.",
    ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE: "The preferred leader was not available.",
    ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE: "Eligible topic partition leaders are not available.",
    ErrorCode.ELECTION_NOT_NEEDED: "Leader election not needed for topic partition.",
    ErrorCode.NO_REASSIGNMENT_IN_PROGRESS: "No partition reassignment is in progress.",
}


def default_message(code: ErrorCode) -> str | None:
    return DEFAULT_MESSAGES.get(code)


def api_message(code: ErrorCode, message: str | None) -> str | None:
    """ApiError.fromThrowable: the exception's message, hidden for UNKNOWN_SERVER_ERROR."""
    return None if code == ErrorCode.UNKNOWN_SERVER_ERROR else message


def _produce(version: int, request: Any, code: ErrorCode, message: str | None
             ) -> dict[str, Any] | None:
    if int(request.acks) == 0:
        return None  # no answer to carry it: Kafka closes the connection instead
    return {"throttle_time": 0, "node_endpoints": (), "responses": [
        {"name": getattr(t, "name", None), "topic_id": getattr(t, "topic_id", None),
         "partition_responses": [
             {"index": p.index, "error_code": code, "base_offset": -1, "log_append_time": -1,
              "log_start_offset": -1, "record_errors": (),
              "error_message": api_message(code, message),
              "current_leader": {"leader_id": -1, "leader_epoch": -1}}
             for p in t.partition_data]}
        for t in request.topic_data]}


def _list_offsets(version: int, request: Any, code: ErrorCode, message: str | None
                  ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p.partition_index, "error_code": code, "timestamp": -1,
             "offset": -1, "leader_epoch": -1, "old_style_offsets": ()}
            for p in t.partitions]}
        for t in request.topics]}


def _metadata(version: int, request: Any, code: ErrorCode, message: str | None
              ) -> dict[str, Any]:
    topics = [] if request.topics is None else [
        {"error_code": code, "name": t.name if t.name is not None else "",
         "topic_id": getattr(t, "topic_id", None) or _ZERO_UUID, "is_internal": False,
         "partitions": ()}
        for t in request.topics]
    # No brokers, no cluster id, controller -1: MetadataResponseData's defaults;
    # v13 also carries the error at the top level.
    return {"throttle_time": 0, "brokers": (), "cluster_id": None, "controller_id": -1,
            "topics": topics, "error_code": code}


def _offset_commit(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": getattr(t, "name", None), "topic_id": getattr(t, "topic_id", None),
         "partitions": [{"partition_index": p.partition_index, "error_code": code}
                        for p in t.partitions]}
        for t in request.topics]}


def _offset_fetch(version: int, request: Any, code: ErrorCode, message: str | None
                  ) -> dict[str, Any]:
    if version < 2:
        # v0-1 have no top-level code: every partition carries it.
        return {"topics": [
            {"name": t.name, "partitions": [
                {"partition_index": index, "committed_offset": -1, "committed_leader_epoch": -1,
                 "metadata": "", "error_code": code} for index in t.partition_indexes]}
            for t in (request.topics or ())]}
    if version < 8:
        return {"throttle_time": 0, "error_code": code, "topics": ()}
    return {"throttle_time": 0, "groups": [
        {"group_id": g.group_id, "error_code": code, "topics": ()} for g in request.groups]}


def _find_coordinator(version: int, request: Any, code: ErrorCode, message: str | None
                      ) -> dict[str, Any]:
    # Node.noNode(): id -1, host "", port -1; the message is the error's default one.
    if version < 4:
        return {"throttle_time": 0, "error_code": code, "error_message": default_message(code),
                "node_id": -1, "host": "", "port": -1}
    return {"throttle_time": 0, "coordinators": [
        {"key": key, "node_id": -1, "host": "", "port": -1, "error_code": code,
         "error_message": default_message(code)} for key in request.coordinator_keys]}


def _join_group(version: int, request: Any, code: ErrorCode, message: str | None
                ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "generation_id": -1,
            "protocol_type": None, "protocol_name": None if version >= 7 else "",
            "leader": "", "skip_assignment": False, "member_id": "", "members": ()}


def _top_level_only(version: int, request: Any, code: ErrorCode, message: str | None
                    ) -> dict[str, Any]:
    """Heartbeat, LeaveGroup, ListGroups, OffsetDelete, DescribeLogDirs: only the code."""
    return {"throttle_time": 0, "error_code": code, "members": (), "groups": (), "topics": (),
            "results": ()}


def _sync_group(version: int, request: Any, code: ErrorCode, message: str | None
                ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "protocol_type": None,
            "protocol_name": None, "assignment": b""}


def _describe_groups(version: int, request: Any, code: ErrorCode, message: str | None
                     ) -> dict[str, Any]:
    # DescribeGroupsResponse.groupError: state, protocol type and protocol all "".
    return {"throttle_time": 0, "groups": [
        {"error_code": code, "error_message": None, "group_id": group_id, "group_state": "",
         "protocol_type": "", "protocol_data": "", "members": (),
         "authorized_operations": -(2**31)}
        for group_id in request.groups]}


def _consumer_group_heartbeat(version: int, request: Any, code: ErrorCode,
                              message: str | None) -> dict[str, Any]:
    # ConsumerGroupHeartbeatRequest.getErrorResponse: the code and the message.
    return {"throttle_time": 0, "error_code": code, "error_message": message,
            "member_id": None, "member_epoch": 0, "heartbeat_interval": 0, "assignment": None}


def _consumer_group_describe(version: int, request: Any, code: ErrorCode,
                             message: str | None) -> dict[str, Any]:
    # ConsumerGroupDescribeRequest.getErrorResponse: every group carries the error.
    return {"throttle_time": 0, "groups": [
        {"error_code": code, "error_message": message, "group_id": group_id,
         "group_state": "", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "",
         "members": (), "authorized_operations": -(2**31)}
        for group_id in request.group_ids]}


def _create_topics(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "topic_id": _ZERO_UUID, "error_code": code,
         "error_message": api_message(code, message), "topic_config_error_code": 0,
         "num_partitions": -1, "replication_factor": -1, "configs": []}
        for t in request.topics]}  # v5+: an empty list, not null


def _delete_topics(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    # v0-5 name topics in topic_names; v6 sends {name, topic_id} entries.
    if version >= 6:
        named = [(t.name, t.topic_id or _ZERO_UUID) for t in request.topics]
    else:
        named = [(name, _ZERO_UUID) for name in request.topic_names]
    return {"throttle_time": 0, "responses": [
        {"name": name, "topic_id": topic_id, "error_code": code, "error_message": None}
        for name, topic_id in named]}


def _delete_records(version: int, request: Any, code: ErrorCode, message: str | None
                    ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p.partition_index, "low_watermark": -1, "error_code": code}
            for p in t.partitions]}
        for t in request.topics]}


def _init_producer_id(version: int, request: Any, code: ErrorCode, message: str | None
                      ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "producer_id": -1, "producer_epoch": -1}


def _offset_for_leader_epoch(version: int, request: Any, code: ErrorCode, message: str | None
                             ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"topic": t.topic, "partitions": [
            {"error_code": code, "partition": p.partition, "leader_epoch": -1, "end_offset": -1}
            for p in t.partitions]}
        for t in request.topics]}


def _describe_configs(version: int, request: Any, code: ErrorCode, message: str | None
                      ) -> dict[str, Any]:
    return {"throttle_time": 0, "results": [
        {"error_code": code, "error_message": default_message(code),
         "resource_type": r.resource_type, "resource_name": r.resource_name, "configs": ()}
        for r in request.resources]}


def _alter_configs(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    """AlterConfigs and IncrementalAlterConfigs."""
    return {"throttle_time": 0, "responses": [
        {"error_code": code, "error_message": api_message(code, message),
         "resource_type": r.resource_type, "resource_name": r.resource_name}
        for r in request.resources]}


def _create_partitions(version: int, request: Any, code: ErrorCode, message: str | None
                       ) -> dict[str, Any]:
    return {"throttle_time": 0, "results": [
        {"name": t.name, "error_code": code, "error_message": api_message(code, message)}
        for t in request.topics]}


def _delete_groups(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    return {"throttle_time": 0, "results": [
        {"group_id": group_id, "error_code": code} for group_id in request.groups_names]}


def _describe_cluster(version: int, request: Any, code: ErrorCode, message: str | None
                      ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "error_message": api_message(code, message),
            "endpoint_type": 1, "cluster_id": "", "controller_id": -1, "brokers": (),
            "cluster_authorized_operations": -(2**31)}


def _elect_leaders(version: int, request: Any, code: ErrorCode, message: str | None
                   ) -> dict[str, Any]:
    # ElectLeadersRequest.getErrorResponse: every partition named carries it (none for
    # null, "all partitions"); v0 has no top-level code.
    return {"throttle_time": 0, "error_code": code, "replica_election_results": [
        {"topic": t.topic, "partition_result": [
            {"partition_id": p, "error_code": code, "error_message": api_message(code, message)}
            for p in t.partitions]}
        for t in (request.topic_partitions or ())]}


def _alter_partition_reassignments(version: int, request: Any, code: ErrorCode,
                                   message: str | None) -> dict[str, Any]:
    # AlterPartitionReassignmentsRequest.getErrorResponse leaves
    # allow_replication_factor_change at its default (true), whatever was asked.
    shown = api_message(code, message)
    return {"throttle_time": 0, "allow_replication_factor_change": True,
            "error_code": code, "error_message": shown, "responses": [
                {"name": t.name, "partitions": [
                    {"partition_index": p.partition_index, "error_code": code,
                     "error_message": shown} for p in t.partitions]}
                for t in request.topics]}


def _list_partition_reassignments(version: int, request: Any, code: ErrorCode,
                                  message: str | None) -> dict[str, Any]:
    # ListPartitionReassignmentsRequest.getErrorResponse echoes the partitions named,
    # with empty replica lists.
    return {"throttle_time": 0, "error_code": code, "error_message": api_message(code, message),
            "topics": [{"name": t.name, "partitions": [
                {"partition_index": p, "replicas": (), "adding_replicas": (),
                 "removing_replicas": ()} for p in t.partition_indexes]}
                for t in (request.topics or ())]}


def _add_partitions_to_txn(version: int, request: Any, code: ErrorCode, message: str | None
                           ) -> dict[str, Any]:
    # AddPartitionsToTxnRequest.getErrorResponse: v4+ one top-level error; before,
    # the error for every partition named.
    if version >= 4:
        return {"throttle_time": 0, "error_code": code, "results_by_transaction": ()}
    return {"throttle_time": 0, "results_by_topic_v3_and_below": [
        {"name": t.name, "results_by_partition": [
            {"partition_index": p, "partition_error_code": code} for p in t.partitions]}
        for t in request.v3_and_below_topics]}


def _write_txn_markers(version: int, request: Any, code: ErrorCode, message: str | None
                       ) -> dict[str, Any]:
    return {"markers": [
        {"producer_id": m.producer_id, "topics": [
            {"name": t.name, "partitions": [
                {"partition_index": p, "error_code": code} for p in t.partition_indexes]}
            for t in m.topics]}
        for m in request.markers]}


def _txn_offset_commit(version: int, request: Any, code: ErrorCode, message: str | None
                       ) -> dict[str, Any]:
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p.partition_index, "error_code": code} for p in t.partitions]}
        for t in request.topics]}


def _describe_producers(version: int, request: Any, code: ErrorCode, message: str | None
                        ) -> dict[str, Any]:
    shown = api_message(code, message)
    return {"throttle_time": 0, "topics": [
        {"name": t.name, "partitions": [
            {"partition_index": p, "error_code": code, "error_message": shown,
             "active_producers": ()} for p in t.partition_indexes]}
        for t in request.topics]}


def _describe_transactions(version: int, request: Any, code: ErrorCode, message: str | None
                           ) -> dict[str, Any]:
    return {"throttle_time": 0, "transaction_states": [
        not_described(t, code) for t in request.transactional_ids]}


def _list_transactions(version: int, request: Any, code: ErrorCode, message: str | None
                       ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "unknown_state_filters": (),
            "transaction_states": ()}


def _api_versions(version: int, request: Any, code: ErrorCode, message: str | None
                  ) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "api_keys": ()}


ERROR_BODIES: dict[int, ErrorBody] = {
    0: _produce,
    2: _list_offsets,
    3: _metadata,
    8: _offset_commit,
    9: _offset_fetch,
    10: _find_coordinator,
    11: _join_group,
    12: _top_level_only,
    13: _top_level_only,
    14: _sync_group,
    15: _describe_groups,
    16: _top_level_only,
    18: _api_versions,
    19: _create_topics,
    20: _delete_topics,
    21: _delete_records,
    22: _init_producer_id,
    23: _offset_for_leader_epoch,
    24: _add_partitions_to_txn,
    25: _top_level_only,
    26: _top_level_only,
    27: _write_txn_markers,
    28: _txn_offset_commit,
    32: _describe_configs,
    33: _alter_configs,
    35: _top_level_only,
    37: _create_partitions,
    42: _delete_groups,
    43: _elect_leaders,
    44: _alter_configs,
    45: _alter_partition_reassignments,
    46: _list_partition_reassignments,
    47: _top_level_only,
    60: _describe_cluster,
    61: _describe_producers,
    65: _describe_transactions,
    66: _list_transactions,
    68: _consumer_group_heartbeat,
    69: _consumer_group_describe,
}


def error_response(api_key: int, version: int, request: Any, code: ErrorCode,
                   message: str | None) -> dict[str, Any] | None:
    """The API's whole-request error body (None: acks=0 Produce, which Kafka
    answers by closing the connection).
    KeyError for an API without one (Fetch has its own encoder and builder)."""
    return ERROR_BODIES[api_key](version, request, code, message)
