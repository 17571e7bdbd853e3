"""What a coordinator call asks its driver to do: answer, (re)arm timers, append records.

The group coordinator is pure; every call returns an `Effects`. The driver (an
asyncio task) then, in this order:

1. appends `records` (key, value; value None = tombstone) to `__consumer_offsets`,
   as one batch — a transactional one of `producer` when set (TxnOffsetCommit);
   when that append is refused, `revert` undoes the call's state change and the
   requests get the append's error;
2. applies `timers` in list order: `ScheduleTimer` arms — or re-arms, replacing
   any earlier deadline — the timer of that key; `CancelTimer` disarms it;
3. completes the driver future behind each token in `responses`.

When a timer fires, the driver calls `on_timer(key, now_ms)`. Kafka answers a
write only once its records are committed, hence records before responses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from kwire.coordinator.group.records import Record

if TYPE_CHECKING:
    from kwire.coordinator.group.responses import Response

TimerKey: TypeAlias = tuple[str, ...]
"""Keys used: ("heartbeat", group_id, member_id), ("pending", group_id, member_id),
("join", group_id), ("initial_delay", group_id), ("sync", group_id), ("expire_offsets",)."""


def heartbeat_key(group_id: str, member_id: str) -> TimerKey:
    return ("heartbeat", group_id, member_id)


def pending_key(group_id: str, member_id: str) -> TimerKey:
    return ("pending", group_id, member_id)


def join_key(group_id: str) -> TimerKey:
    return ("join", group_id)


def initial_delay_key(group_id: str) -> TimerKey:
    return ("initial_delay", group_id)


def sync_key(group_id: str) -> TimerKey:
    return ("sync", group_id)


EXPIRE_OFFSETS_KEY: TimerKey = ("expire_offsets",)


@dataclass(frozen=True)
class ScheduleTimer:
    key: TimerKey
    deadline_ms: int


@dataclass(frozen=True)
class CancelTimer:
    key: TimerKey


TimerOp: TypeAlias = ScheduleTimer | CancelTimer


@dataclass(frozen=True)
class TxnProducer:
    """The transactional producer whose transaction the records belong to."""

    producer_id: int
    producer_epoch: int


@dataclass(frozen=True)
class Effects:
    responses: list[tuple[object, Response]] = field(default_factory=list)
    timers: list[TimerOp] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    producer: TxnProducer | None = None
    revert: Callable[[], None] | None = None

    def response_for(self, token: object) -> Response | None:
        """The response completed for `token` by this call, if any (identity match)."""
        for t, response in self.responses:
            if t is token:
                return response
        return None


class EffectsBuilder:
    """Collects effects during one call; timer ops are compacted to the last per key."""

    def __init__(self) -> None:
        self.responses: list[tuple[object, Response]] = []
        self.records: list[Record] = []
        self._timers: dict[TimerKey, TimerOp] = {}
        self._producer: TxnProducer | None = None
        self._revert: Callable[[], None] | None = None

    def respond(self, token: object, response: Response) -> None:
        self.responses.append((token, response))

    def append(self, record: Record) -> None:
        self.records.append(record)

    def timer(self, op: TimerOp) -> None:
        self._timers.pop(op.key, None)  # re-insert so list order follows the last op
        self._timers[op.key] = op

    def transactional(self, producer: TxnProducer, revert: Callable[[], None]) -> None:
        """The records are `producer`'s transactional writes; `revert` undoes them."""
        self._producer, self._revert = producer, revert

    def build(self) -> Effects:
        return Effects(
            list(self.responses),
            list(self._timers.values()),
            list(self.records),
            self._producer,
            self._revert,
        )
