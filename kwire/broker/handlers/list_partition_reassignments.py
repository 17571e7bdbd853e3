"""ListPartitionReassignments (46): the reassignments in progress — in kwire
always none.

A reassignment completes in its one metadata write (partitions' replicas are a
leadership preference list over shared ledgers; see
alter_partition_reassignments.py), so the answer is an empty list whatever
the request names, known or not: Kafka 4.4.0 lists only partitions being
reassigned and skips unknown topics silently, and it ignores the timeout (the
controller reads without a deadline). A broker that is not the controller
answers as Kafka's ZooKeeper-mode controller did: NOT_CONTROLLER at the top
level with Errors.java's message and no topics (the AdminClient retries it on
the new controller).
"""

from __future__ import annotations

from typing import Any

from kwire.broker.context import RequestContext
from kwire.broker.error_responses import default_message
from kwire.broker.registry import handler
from kwire.errors import ErrorCode


@handler(46, "ListPartitionReassignments", 0, 0)
async def list_partition_reassignments(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if not ctx.broker.admin.is_controller():
        return {"throttle_time": 0, "error_code": ErrorCode.NOT_CONTROLLER,
                "error_message": default_message(ErrorCode.NOT_CONTROLLER), "topics": []}
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None,
            "topics": []}
