"""Shared bits of the group APIs: readiness, Kafka's client_host form, and
turning the coordinator's flat per-partition results into Kafka's topic nesting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from kwire.broker.context import RequestContext
from kwire.errors import ErrorCode, KwireError, StorageError

T = TypeVar("T")


async def ready(ctx: RequestContext) -> None:
    try:
        code = await ctx.broker.groups.ensure_ready()
    except StorageError as exc:
        # __consumer_offsets could not be created or read (a full or failing disk).
        raise KwireError(ErrorCode.COORDINATOR_NOT_AVAILABLE, str(exc)) from exc
    if code != ErrorCode.NONE:
        raise KwireError(code)


def client_host(ctx: RequestContext) -> str:
    # Kafka reports the InetAddress's toString(): "/127.0.0.1".
    return f"/{ctx.client_host}"


def by_topic(partitions: Iterable[Any], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """[{name, partitions: [{partition_index, <fields>}]}] in first-seen topic order."""
    topics: dict[str, list[dict[str, Any]]] = {}
    for p in partitions:
        entry = {"partition_index": p.partition_index}
        entry.update({name: getattr(p, name) for name in fields})
        topics.setdefault(p.topic, []).append(entry)
    return [{"name": name, "partitions": parts} for name, parts in topics.items()]


async def per_shard(ctx: RequestContext, group_ids: Iterable[str],
                    ask: Callable[[list[str]], Awaitable[Iterable[T]]],
                    group_of: Callable[[T], str]) -> tuple[dict[str, T], list[str]]:
    """Ask each coordinator shard this broker holds about its own groups (one call
    per shard, with its groups in request order). Returns the answers by group id
    and the groups whose shard is elsewhere, which Kafka answers NOT_COORDINATOR."""
    groups = ctx.broker.groups
    by_shard: dict[int, list[str]] = {}
    for group_id in group_ids:
        by_shard.setdefault(groups.partition_for(group_id), []).append(group_id)
    answers: dict[str, T] = {}
    elsewhere: list[str] = []
    for ids in by_shard.values():
        if not groups.hosts(ids[0]):
            elsewhere += ids
            continue
        try:
            for answer in await ask(ids):
                answers[group_of(answer)] = answer
        except KwireError as exc:
            if exc.error_code != ErrorCode.NOT_COORDINATOR:
                raise
            elsewhere += ids  # the shard moved away while this call waited
    return answers, elsewhere
