"""Shared pieces for scenario modules: API keys, the version table, and setup
helpers (create a topic, produce a batch) that record their answers too, so a
setup step that already differs shows up as such.

VERSIONS is Apache Kafka 4.4.0's advertised range for every API kwire
implements, capped at what kio 0.6.5 can encode (ApiVersions v5 and
DeleteGroups v3 have no kio schema). `test_version_table_is_kafkas` checks the
table against the live Kafka so it cannot go stale silently.
"""

from __future__ import annotations

import time
from typing import Any

from diff_records import Batch
from diff_runner import Ctx

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP = 8, 9, 10, 11
HEARTBEAT, LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS = 12, 13, 14, 15, 16
API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS = 18, 19, 20, 21
INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH = 22, 23
DESCRIBE_CONFIGS, ALTER_CONFIGS, DESCRIBE_LOG_DIRS, CREATE_PARTITIONS = 32, 33, 35, 37
DELETE_GROUPS, INCREMENTAL_ALTER_CONFIGS, OFFSET_DELETE, DESCRIBE_CLUSTER = 42, 44, 47, 60
ELECT_LEADERS, ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS = 43, 45, 46
DESCRIBE_TOPIC_PARTITIONS = 75

# Kafka 4.4.0's ranges (min, max) for the APIs kwire implements.
KAFKA_VERSIONS: dict[int, tuple[int, int]] = {
    PRODUCE: (0, 13), FETCH: (4, 18), LIST_OFFSETS: (1, 11), METADATA: (0, 13),
    OFFSET_COMMIT: (2, 10), OFFSET_FETCH: (1, 10), FIND_COORDINATOR: (0, 6),
    JOIN_GROUP: (0, 9), HEARTBEAT: (0, 4), LEAVE_GROUP: (0, 5), SYNC_GROUP: (0, 5),
    DESCRIBE_GROUPS: (0, 6), LIST_GROUPS: (0, 5), API_VERSIONS: (0, 5), CREATE_TOPICS: (2, 7),
    DELETE_TOPICS: (1, 6), DELETE_RECORDS: (0, 2), INIT_PRODUCER_ID: (0, 5),
    OFFSET_FOR_LEADER_EPOCH: (2, 4), DESCRIBE_CONFIGS: (1, 4), ALTER_CONFIGS: (0, 2),
    DESCRIBE_LOG_DIRS: (1, 5), CREATE_PARTITIONS: (0, 3), DELETE_GROUPS: (0, 3),
    INCREMENTAL_ALTER_CONFIGS: (0, 1), OFFSET_DELETE: (0, 0), DESCRIBE_CLUSTER: (0, 2),
    DESCRIBE_TOPIC_PARTITIONS: (0, 0), ELECT_LEADERS: (0, 2), ALTER_PARTITION_REASSIGNMENTS: (0, 1),
    LIST_PARTITION_REASSIGNMENTS: (0, 0),
}
KIO_MAX = {API_VERSIONS: 4, DELETE_GROUPS: 2}
# Kafka 4 advertises Produce from v0 but answers v0-v2 (message format v0/v1,
# KIP-896) only with errors; the harness writes magic v2 batches, from v3.
PRODUCE_MIN_V2 = 3


def versions(api_key: int) -> range:
    lo, hi = KAFKA_VERSIONS[api_key]
    if api_key == PRODUCE:
        lo = PRODUCE_MIN_V2
    return range(lo, min(hi, KIO_MAX.get(api_key, hi)) + 1)


def error(resp: Any) -> Any:
    return resp.get("error_code") if isinstance(resp, dict) else resp


def create_topic(ctx: Ctx, name: str, partitions: int = 1,
                 configs: dict[str, str] | None = None, version: int = 4) -> Any:
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1,
                        "assignments": [], "configs": [{"name": k, "value": v} for k, v in
                                                       (configs or {}).items()]}],
            "timeout": 10000, "validate_only": False}
    resp = ctx.call(CREATE_TOPICS, version, body)
    try:
        created = resp["topics"][0]["error_code"] == 0
    except (KeyError, IndexError, TypeError):
        created = False
    if created:
        wait_ready(ctx, name, partitions)
    return resp


def wait_ready(ctx: Ctx, name: str, partitions: int, timeout: float = 10.0) -> None:
    """Wait (unrecorded) until every partition answers ListOffsets without error.

    Kafka's CreateTopics answers once the controller committed the topic; the
    broker applies that metadata a little later, and until then Produce gets
    NOT_LEADER_OR_FOLLOWER. Clients retry through that; the harness waits so
    scenarios compare steady states, not that race.
    """
    deadline = time.monotonic() + timeout
    body = {"replica_id": -1, "isolation_level": 0, "timeout": 1000, "topics": [
        {"name": name, "partitions": [{"partition_index": p, "timestamp": -1,
                                       "current_leader_epoch": -1} for p in range(partitions)]}]}
    while time.monotonic() < deadline:
        resp = ctx.call(LIST_OFFSETS, 7, body, record=False)
        try:
            if all(p["error_code"] == 0 for p in resp["topics"][0]["partitions"]):
                return
        except (KeyError, IndexError, TypeError):
            return  # an odd answer: let the scenario's own steps show it
        time.sleep(0.02)


def topic_id(ctx: Ctx, name: str) -> str | None:
    """This broker's id for `name`, via Metadata v12 (recorded as a step)."""
    resp = ctx.call(METADATA, 12, {"topics": [{"name": name, "topic_id": None}],
                                   "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False})
    try:
        return str(resp["topics"][0]["topic_id"])
    except (KeyError, IndexError, TypeError):
        return None


def produce(ctx: Ctx, topic: str, data: bytes | Batch, partition: int = 0, version: int = 9,
            acks: int = -1, tid: str | None = None, transactional_id: str | None = None,
            **kw: Any) -> Any:
    records = data.encode() if isinstance(data, Batch) else data
    body = {"transactional_id": transactional_id, "acks": acks, "timeout": 5000,
            "topic_data": [{"name": topic, "topic_id": tid, "partition_data": [
                {"index": partition, "records": records}]}]}
    return ctx.call(PRODUCE, version, body, expect_response=acks != 0, **kw)


def produce_n(ctx: Ctx, topic: str, n: int, partition: int = 0) -> None:
    """n single-record batches, keys and values k{i}/v{i}, one Produce each (Kafka
    takes exactly one batch per partition per request since message format v2)."""
    for i in range(n):
        produce(ctx, topic, Batch(records=((f"k{i}".encode(), f"v{i}".encode()),)), partition)


def fetch_body(topic: str, tid: str | None, partitions: list[dict[str, Any]], *,
               session_id: int = 0, session_epoch: int = -1, max_wait: int = 0,
               forgotten: list[dict[str, Any]] | None = None, max_bytes: int = 1 << 20,
               isolation_level: int = 0) -> dict[str, Any]:
    parts = [{"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
              "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": 1 << 20,
              **p} for p in partitions]
    return {"replica_id": -1, "max_wait": max_wait, "min_bytes": 1, "max_bytes": max_bytes,
            "isolation_level": isolation_level, "session_id": session_id,
            "session_epoch": session_epoch,
            "topics": [{"topic": topic, "topic_id": tid, "partitions": parts}] if topic else [],
            "forgotten_topics_data": forgotten or [], "rack_id": ""}


def list_offsets_body(topic: str, partition: int, timestamp: int, isolation: int = 0,
                      leader_epoch: int = -1) -> dict[str, Any]:
    return {"replica_id": -1, "isolation_level": isolation, "timeout": 5000, "topics": [
        {"name": topic, "partitions": [{"partition_index": partition, "timestamp": timestamp,
                                        "current_leader_epoch": leader_epoch,
                                        "max_num_offsets": 1}]}]}


def metadata_body(names: list[str] | None, auto_create: bool = False) -> dict[str, Any]:
    return {"topics": None if names is None else [{"name": n, "topic_id": None} for n in names],
            "allow_auto_topic_creation": auto_create,
            "include_cluster_authorized_operations": False,
            "include_topic_authorized_operations": False}
