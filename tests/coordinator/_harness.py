"""A synchronous stand-in for the asyncio driver: applies Effects, fires timers by manual time."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from kwire.coordinator.group import CancelTimer, Effects, GroupCoordinator, ScheduleTimer
from kwire.coordinator.group.classic_group import ClassicGroup
from kwire.coordinator.group.effects import TimerKey
from kwire.coordinator.group.records import decode_key, decode_value
from kwire.coordinator.group.responses import (
    HeartbeatResponse,
    JoinGroupResponse,
    Response,
    SyncGroupResponse,
)
from kwire.coordinator.group.subscription import encode_subscription
from kwire.errors import ErrorCode

T0 = 1_000_000
SESSION = 10_000
REBALANCE = 30_000
DELAY = 3_000


def sub(*topics: str) -> bytes:
    return encode_subscription(topics)


RANGE = (("range", sub("t")),)


class Token:
    _ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self._ids)

    def __repr__(self) -> str:
        return f"Token({self.id})"


class Harness:
    def __init__(self, *, load: bool = True, **config: Any) -> None:
        counter = itertools.count(1)
        config.setdefault("uuid_factory", lambda: f"u{next(counter)}")
        self.coord = GroupCoordinator(**config)
        self.now = T0
        self.timers: dict[TimerKey, int] = {}
        self.records: list[tuple[bytes, bytes | None]] = []
        self.responses: dict[Token, Response] = {}
        self.answered_order: list[Token] = []
        if load:
            self.apply(self.coord.loaded(self.now))

    # -- driver ---------------------------------------------------------------------------

    def apply(self, fx: Effects) -> Effects:
        self.records.extend(fx.records)
        for op in fx.timers:
            if isinstance(op, ScheduleTimer):
                self.timers[op.key] = op.deadline_ms
            else:
                assert isinstance(op, CancelTimer)
                self.timers.pop(op.key, None)
        for token, response in fx.responses:
            assert isinstance(token, Token)
            assert token not in self.responses, f"{token} answered twice"
            self.responses[token] = response
            self.answered_order.append(token)
        return fx

    def call(self, method: str, **kwargs: Any) -> Token:
        token = Token()
        self.last_effects = self.apply(getattr(self.coord, method)(token, self.now, **kwargs))
        return token

    def advance(self, ms: int) -> None:
        target = self.now + ms
        while True:
            due = [(d, k) for k, d in self.timers.items() if d <= target]
            if not due:
                break
            deadline, key = min(due, key=lambda dk: dk[0])
            self.now = max(self.now, deadline)
            del self.timers[key]
            self.apply(self.coord.on_timer(key, self.now))
        self.now = target

    def advance_until_answered(self, tokens: Sequence[Token], step: int = 100) -> None:
        for _ in range(10_000):
            if all(t in self.responses for t in tokens):
                return
            self.advance(step)
        raise AssertionError("tokens never answered")

    def resp(self, token: Token) -> Any:
        return self.responses.get(token)

    def group(self, group_id: str = "g") -> ClassicGroup:
        group = self.coord.group(group_id)
        assert group is not None
        return group

    def decoded_records(self) -> list[tuple[object, object]]:
        out: list[tuple[object, object]] = []
        for key, value in self.records:
            k = decode_key(key)
            out.append((k, None if value is None else decode_value(k, value)))
        return out

    # -- client shorthands ----------------------------------------------------------------

    def join(
        self,
        member_id: str = "",
        *,
        group_id: str = "g",
        instance: str | None = None,
        protocols: Sequence[tuple[str, bytes]] = RANGE,
        protocol_type: str = "consumer",
        session: int = SESSION,
        rebalance: int = REBALANCE,
        client_id: str = "c",
        known: bool = False,
        skip: bool = False,
    ) -> Token:
        return self.call(
            "join_group",
            group_id=group_id,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocols=list(protocols),
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            client_id=client_id,
            client_host="/127.0.0.1",
            require_known_member_id=known,
            supports_skip_assignment=skip,
        )

    def sync(
        self,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        *,
        group_id: str = "g",
        instance: str | None = None,
        protocol_type: str | None = None,
        protocol_name: str | None = None,
    ) -> Token:
        return self.call(
            "sync_group",
            group_id=group_id,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
            assignments=assignments,
        )

    def heartbeat(
        self, member_id: str, generation: int, *, group_id: str = "g", instance: str | None = None
    ) -> ErrorCode:
        token = self.call(
            "heartbeat",
            group_id=group_id,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
        )
        response = self.resp(token)
        assert isinstance(response, HeartbeatResponse)
        return ErrorCode(response.error_code)

    def leave(self, *members: tuple[str, str | None], group_id: str = "g") -> Token:
        return self.call("leave_group", group_id=group_id, members=list(members))

    def commit(
        self,
        member_id: str,
        generation: int,
        offsets: Sequence[tuple[str, int, int, int, str | None]],
        *,
        group_id: str = "g",
        instance: str | None = None,
        retention: int = -1,
        api_version: int = 8,
    ) -> Token:
        return self.call(
            "commit_offsets",
            group_id=group_id,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
            retention_time_ms=retention,
            offsets=list(offsets),
            api_version=api_version,
        )

    # -- scenarios ------------------------------------------------------------------------

    def join_ok(self, token: Token) -> JoinGroupResponse:
        response = self.resp(token)
        assert isinstance(response, JoinGroupResponse), response
        assert response.error_code == ErrorCode.NONE, response
        return response

    def sync_ok(self, token: Token) -> SyncGroupResponse:
        response = self.resp(token)
        assert isinstance(response, SyncGroupResponse), response
        assert response.error_code == ErrorCode.NONE, response
        return response

    def stable_group(
        self, n: int, *, group_id: str = "g", instances: Sequence[str | None] | None = None
    ) -> tuple[list[str], int]:
        """n members joined (initial delay elapsed) and synced; returns (member ids, gen)."""
        tokens = [
            self.join(
                group_id=group_id,
                instance=None if instances is None else instances[i],
                client_id=f"c{i}",
            )
            for i in range(n)
        ]
        self.advance_until_answered(tokens)
        joins = [self.join_ok(t) for t in tokens]
        ids = [j.member_id for j in joins]
        generation = joins[0].generation_id
        leader = joins[0].leader
        for member_id in ids:
            if member_id == leader:
                continue
            self.sync(member_id, generation, group_id=group_id)
        self.sync(
            leader,
            generation,
            {mid: f"assign-{mid}".encode() for mid in ids},
            group_id=group_id,
        )
        return ids, generation
