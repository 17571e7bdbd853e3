"""Kafka's classic consumer-group coordinator as pure logic (no asyncio, no I/O).

`GroupCoordinator` answers JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups, DescribeGroups and
ListGroups; every call takes the driver's opaque token and `now_ms` and returns
`Effects` (responses, timer ops, `__consumer_offsets` records). State is rebuilt
by replaying those records (`records.py` holds Kafka's byte format).
"""

from kwire.coordinator.group.coordinator import GroupCoordinator
from kwire.coordinator.group.effects import (
    CancelTimer,
    Effects,
    ScheduleTimer,
    TimerKey,
    TimerOp,
)
from kwire.coordinator.group.responses import Response
from kwire.coordinator.group.state import GroupState

__all__ = [
    "CancelTimer",
    "Effects",
    "GroupCoordinator",
    "GroupState",
    "Response",
    "ScheduleTimer",
    "TimerKey",
    "TimerOp",
]
