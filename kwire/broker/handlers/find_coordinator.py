"""FindCoordinator (10): which broker coordinates a group (v0-3 one key, v4+ a batch).

A group's coordinator is the leader of its `__consumer_offsets` partition
(Kafka's partitionFor: the group id's hash), a transactional id's the leader
of its `__transaction_state` partition; on a single node that is always this
broker. A partition without a live leader answers COORDINATOR_NOT_AVAILABLE,
which clients retry. The first lookup of each kind creates its internal topic,
as Kafka does, so a broker that never sees a group or a transaction never pays
for its 50 partitions.
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import default_message
from kwire.broker.registry import handler
from kwire.coordinator.group.manager import OFFSETS_TOPIC
from kwire.coordinator.txn.manager import TRANSACTION_STATE_TOPIC
from kwire.errors import ErrorCode, KwireError

KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1


@handler(10, "FindCoordinator", 0, 6)
async def find_coordinator(ctx: RequestContext, request: Any) -> dict[str, Any]:
    key_type = int(getattr(request, "key_type", KEY_TYPE_GROUP))
    if key_type not in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION):
        # The whole request is invalid: every key answered with Kafka's default text.
        raise KwireError(ErrorCode.INVALID_REQUEST, f"Unknown coordinator key type {key_type}")
    keys = list(request.coordinator_keys) if ctx.api_version >= 4 else [request.key]
    # Kafka's message when all is well: Errors.NONE.message() "NONE" in the v1-3
    # single answer, "" per coordinator from v4.
    ok_message = "" if ctx.api_version >= 4 else "NONE"
    answers = [await _find(ctx, key_type, key, ok_message) for key in keys]
    if ctx.api_version >= 4:
        return {"throttle_time": 0, "coordinators": answers}
    only = answers[0]
    return {"throttle_time": 0, "error_code": only["error_code"],
            "error_message": only["error_message"], "node_id": only["node_id"],
            "host": only["host"], "port": only["port"]}


async def _find(ctx: RequestContext, key_type: int, key: str, ok_message: str
                ) -> dict[str, Any]:
    node = ctx.broker.node
    answer: dict[str, Any] = {"key": key, "node_id": node.node_id, "host": node.host,
                              "port": node.port, "error_code": ErrorCode.NONE,
                              "error_message": ok_message}
    code = ErrorCode.NONE
    if key_type == KEY_TYPE_TRANSACTION:
        await ctx.broker.transactions.ensure_ready()
        leader = ctx.broker.leader_node(TRANSACTION_STATE_TOPIC,
                                        ctx.broker.transactions.partition_for(key))
    else:
        code = await ctx.broker.groups.ensure_ready()
        # The coordinator is the leader of the group's __consumer_offsets partition.
        leader = ctx.broker.leader_node(OFFSETS_TOPIC, ctx.broker.groups.partition_for(key))
    if leader is None:
        code = ErrorCode.COORDINATOR_NOT_AVAILABLE
    else:
        answer.update(node_id=leader.node_id, host=leader.host, port=leader.port)
    if code != ErrorCode.NONE:
        answer.update(node_id=-1, host="", port=-1, error_code=code,
                      error_message=default_message(code))
    return answer
