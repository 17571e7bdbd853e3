"""Shared bits of the group APIs: readiness, Kafka's client_host form, and
turning the coordinator's flat per-partition results into Kafka's topic nesting."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kwire.broker.context import RequestContext
from kwire.errors import ErrorCode, KwireError, StorageError


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
