"""ApiVersions, Metadata (auto-creation on and off, topic ids, invalid names,
internal topics) and framing edge cases (unknown API key, unsupported version,
truncated bodies, null client id) — the first things every client sends."""

from __future__ import annotations

import struct
from typing import Any

from diff_records import Batch
from diff_runner import RUN_TOKEN, Ctx, add
from diff_sc_util import (
    API_VERSIONS,
    DESCRIBE_CONFIGS,
    KAFKA_VERSIONS,
    METADATA,
    OFFSET_COMMIT,
    create_topic,
    metadata_body,
    produce,
    topic_id,
    versions,
    wait_ready,
)
from diff_wire import encode_body, encode_header


# ---------------------------------------------------------------- ApiVersions
def _api_versions_version(v: int) -> None:
    def body(name: str = "kwire-diff", ver: str = "1.0") -> dict[str, Any]:
        return {"client_software_name": name, "client_software_version": ver}

    add(f"api_versions/v{v}/plain", lambda ctx: ctx.call(API_VERSIONS, v, body()))
    if v >= 3:
        add(f"api_versions/v{v}/invalid_software_name",
            lambda ctx: ctx.call(API_VERSIONS, v, body("bad name!", "1.0")))
        add(f"api_versions/v{v}/empty_software_version",
            lambda ctx: ctx.call(API_VERSIONS, v, body("kwire-diff", "")))


for _v in versions(API_VERSIONS):
    _api_versions_version(_v)


def _raw(ctx: Ctx, api_key: int, version: int, body: bytes, decode_as: tuple[int, int],
         client_id: str | None = "kwire-diff") -> None:
    """A frame whose header says (api_key, version) with `body` as given."""
    ctx.conn.correlation_id += 1
    corr = ctx.conn.correlation_id
    try:
        head = encode_header(api_key, version, corr, client_id)
    except Exception:  # noqa: BLE001 - no kio schema for this version: header v2 by hand
        cid = b"\xff\xff" if client_id is None else struct.pack(">h", len(client_id)) + \
            client_id.encode()
        head = struct.pack(">hhi", api_key, version, corr) + cid + b"\x00"
    frame = head + body
    resp = ctx.conn.call_raw(struct.pack(">i", len(frame)) + frame, *decode_as, corr)
    ctx.transcript.append({"api": f"raw {api_key}v{version}", "response": resp})


def _api_versions_unsupported(ctx: Ctx) -> None:
    # KIP-511: an ApiVersions version the broker does not know gets a v0 answer
    # with UNSUPPORTED_VERSION and the ranges, never a closed connection.
    _raw(ctx, API_VERSIONS, 99, b"\x00\x00\x00", decode_as=(API_VERSIONS, 3))


def _unknown_api_key(ctx: Ctx) -> None:
    _raw(ctx, 250, 0, b"", decode_as=(API_VERSIONS, 0))
    ctx.call(API_VERSIONS, 0, {})  # the connection after it


def _metadata_unsupported_version(ctx: Ctx) -> None:
    _raw(ctx, METADATA, 77, b"\x00", decode_as=(METADATA, 12))


def _truncated_body(ctx: Ctx) -> None:
    body = encode_body(METADATA, 9, metadata_body([ctx.name()]))
    _raw(ctx, METADATA, 9, body[:3], decode_as=(METADATA, 9))


def _trailing_garbage(ctx: Ctx) -> None:
    body = encode_body(METADATA, 1, metadata_body([]))
    _raw(ctx, METADATA, 1, body + b"\x01\x02\x03", decode_as=(METADATA, 1))


def _null_client_id(ctx: Ctx) -> None:
    ctx.call(API_VERSIONS, 2, {}, client_id=None)
    ctx.call(METADATA, 9, metadata_body([]), client_id=None)


def _pipelined(ctx: Ctx) -> None:
    """Three requests written at once: answers in request order."""
    conn = ctx.conn
    corrs = [conn.send(METADATA, 9, metadata_body([])) for _ in range(3)]
    for c in corrs:
        ctx.transcript.append({"api": "pipelined 3v9", "response": conn.receive(METADATA, 9, c)})


for _sid, _fn in (("api_versions/v99/unsupported_version", _api_versions_unsupported),
                  ("framing/unknown_api_key", _unknown_api_key),
                  ("framing/metadata_v77", _metadata_unsupported_version),
                  ("framing/truncated_body", _truncated_body),
                  ("framing/trailing_garbage", _trailing_garbage),
                  ("framing/null_client_id", _null_client_id),
                  ("framing/pipelined", _pipelined)):
    add(_sid, _fn)


# ---------------------------------------------------------------- Metadata
def _metadata_version(v: int) -> None:
    def existing(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t, partitions=3)
        ctx.call(METADATA, v, metadata_body([t]))

    def auto_create(ctx: Ctx) -> None:
        # The creating request answers before the topic exists (Kafka 4.4:
        # UNKNOWN_TOPIC_OR_PARTITION); once the broker serves it (waited for,
        # unrecorded: Kafka applies the new topic asynchronously) it is all there.
        t = ctx.name("auto")
        ctx.call(METADATA, v, metadata_body([t], auto_create=True))
        wait_ready(ctx, t, 1)
        ctx.call(METADATA, v, metadata_body([t], auto_create=True))

    def all_topics(ctx: Ctx) -> None:
        t = ctx.name()
        create_topic(ctx, t)
        resp = ctx.call(METADATA, v, metadata_body(None if v >= 1 else []), record=False)
        # Only this run's topic and the internal one: the set of other topics
        # depends on which scenarios ran before.
        # Sorted by name: masked topic ids are numbered in order of appearance.
        if isinstance(resp, dict) and "topics" in resp:
            resp = {**resp, "topics": sorted(
                (x for x in resp["topics"] if x["name"] in (t, "__consumer_offsets")),
                key=lambda x: str(x["name"]))}
        ctx.note("metadata all topics (filtered)", resp)

    cases: dict[str, Any] = {
        "existing_3_partitions": existing, "auto_create": auto_create, "all_topics": all_topics,
        "invalid_name": lambda ctx: ctx.call(METADATA, v, metadata_body(
            ["bad name!"], auto_create=True)),
        "internal_topic": lambda ctx: ctx.call(METADATA, v, metadata_body(["__consumer_offsets"])),
    }
    if v >= 1:
        cases["empty_list"] = lambda ctx: ctx.call(METADATA, v, metadata_body([]))
    if v >= 4:
        cases["unknown_no_auto_create"] = lambda ctx: ctx.call(
            METADATA, v, metadata_body([ctx.name("missing")], auto_create=False))
    if v >= 8:
        cases["authorized_operations"] = lambda ctx: (
            create_topic(ctx, ctx.name()),
            ctx.call(METADATA, v, {**metadata_body([ctx.name()]),
                                   "include_topic_authorized_operations": True,
                                   "include_cluster_authorized_operations": v <= 10}))
    if v >= 10:
        def by_id(ctx: Ctx) -> None:
            t = ctx.name()
            create_topic(ctx, t)
            tid = topic_id(ctx, t)
            ctx.call(METADATA, v, {"topics": [{"name": None, "topic_id": tid}],
                                   "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False})
        cases["by_topic_id"] = by_id
    for what, fn in cases.items():
        add(f"metadata/v{v}/{what}", fn)


for _v in versions(METADATA):
    _metadata_version(_v)

_ = RUN_TOKEN


# ---------------------------------------------------------------- whole-request errors
def _version_outside_range(api_key: int, version: int, body_version: int) -> None:
    """A version the broker does not serve, body written as the nearest served one.

    Kafka decides from the header alone (the body is never parsed): each API's own
    error shape, or a closed connection — either way both brokers must agree.
    """
    name = _API_NAMES[api_key]

    def fn(ctx: Ctx) -> None:
        body = encode_body(api_key, body_version, {})
        _raw(ctx, api_key, version, body, decode_as=(api_key, body_version))
        ctx.call(API_VERSIONS, 0, {})  # is the connection (or a new one) still served?

    add(f"whole_request/{name}/v{version}_outside_range", fn)


_API_NAMES = {
    0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata", 8: "offset_commit",
    9: "offset_fetch", 10: "find_coordinator", 11: "join_group", 12: "heartbeat",
    13: "leave_group", 14: "sync_group", 15: "describe_groups", 16: "list_groups",
    19: "create_topics", 20: "delete_topics", 21: "delete_records", 22: "init_producer_id",
    23: "offset_for_leader_epoch", 32: "describe_configs", 33: "alter_configs",
    35: "describe_log_dirs", 37: "create_partitions", 42: "delete_groups",
    44: "incremental_alter_configs", 47: "offset_delete", 60: "describe_cluster",
}
for _key, (_lo, _hi) in KAFKA_VERSIONS.items():
    if _key not in _API_NAMES:
        continue
    _served = versions(_key)
    if _lo > 0:
        _version_outside_range(_key, _lo - 1, _served[0])
    _version_outside_range(_key, _hi + 1, _served[-1])


# ---------------------------------------------------------------- auto.create.topics.enable=false
def _broker_no_auto_create(v: int) -> None:
    def fn(ctx: Ctx) -> None:
        t = ctx.name("missing")
        # the request asks for creation, the broker's setting forbids it
        ctx.call(METADATA, v, metadata_body([t], auto_create=True))
        ctx.call(METADATA, v, metadata_body([t], auto_create=True))
    add(f"metadata/v{v}/broker_auto_create_off", fn, profile="no_auto_create")


for _v in (0, 1, 4, 9, 12, 13):
    _broker_no_auto_create(_v)


def _no_auto_others(ctx: Ctx) -> None:
    t = ctx.name("missing")
    produce(ctx, t, Batch())
    ctx.call(OFFSET_COMMIT, 8, {"group_id": ctx.name("g"), "generation_id_or_member_epoch": -1,
                                "member_id": "", "group_instance_id": None, "topics": [
                                    {"name": t, "partitions": [
                                        {"partition_index": 0, "committed_offset": 1,
                                         "committed_leader_epoch": -1,
                                         "committed_metadata": ""}]}]})
    ctx.call(DESCRIBE_CONFIGS, 4, {"resources": [
        {"resource_type": 4, "resource_name": "1",
         "configuration_keys": ["auto.create.topics.enable"]}],
        "include_synonyms": True, "include_documentation": False})
    ctx.call(METADATA, 12, metadata_body([t], auto_create=True))


add("produce/v9/broker_auto_create_off", _no_auto_others, profile="no_auto_create")


# ---------------------------------------------------------------- malformed frames
def _frame(ctx: Ctx, data: bytes, label: str) -> None:
    """Raw bytes on a fresh connection, then one ApiVersions on it: answered, closed
    or silent (timeout) are all compared."""
    conn = ctx.new_conn()
    conn.correlation_id = 1
    resp = conn.call_raw(data, API_VERSIONS, 0, 1, timeout=3.0)
    ctx.transcript.append({"api": label, "response": resp})


def _oversized_frame(ctx: Ctx) -> None:
    # 200 MB announced, above socket.request.max.bytes (100 MB): refused before reading
    _frame(ctx, struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 16, "frame of 200 MB")


def _negative_frame(ctx: Ctx) -> None:
    _frame(ctx, struct.pack(">i", -5), "frame size -5")


def _bad_client_id_length(ctx: Ctx) -> None:
    head = struct.pack(">hhih", API_VERSIONS, 0, 1, 500) + b"abc"
    _frame(ctx, struct.pack(">i", len(head)) + head, "client_id length past the frame")


def _short_header(ctx: Ctx) -> None:
    head = struct.pack(">hh", API_VERSIONS, 0)
    _frame(ctx, struct.pack(">i", len(head)) + head, "4-byte header")


for _sid, _fn in (("framing/oversized_frame", _oversized_frame),
                  ("framing/negative_frame_size", _negative_frame),
                  ("framing/bad_client_id_length", _bad_client_id_length),
                  ("framing/short_header", _short_header)):
    add(_sid, _fn)


def _metadata_odd_entries(ctx: Ctx) -> None:
    t = ctx.name()
    create_topic(ctx, t)
    for topics in ([{"name": None, "topic_id": None}],
                   [{"name": t, "topic_id": None}, {"name": t, "topic_id": None}],
                   [{"name": "", "topic_id": None}]):
        ctx.call(METADATA, 12, {"topics": topics, "allow_auto_topic_creation": False,
                                "include_topic_authorized_operations": False})


add("metadata/v12/odd_topic_entries", _metadata_odd_entries)


def _sasl_on_plaintext(ctx: Ctx) -> None:
    """A client configured for SASL against a PLAINTEXT listener: what it is told."""
    ctx.call(17, 1, {"mechanism": "PLAIN"})
    ctx.call(API_VERSIONS, 0, {})


add("framing/sasl_handshake_on_plaintext", _sasl_on_plaintext)
