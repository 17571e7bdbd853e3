"""The handler registry: which API keys and versions kwire serves.

Each handler module registers itself with `@handler(...)`; ApiVersions answers
from this table, so what is advertised is exactly what has a handler. The
ranges are those a running Apache Kafka 4.4.0 advertises, for the APIs kwire
serves, clipped to what kio 0.6.5 can encode: ApiVersions stops at v4 and
DeleteGroups at v2 (Kafka 4.4: v5 and v3). `advertised_min` may lie below the
first version kwire decodes: Kafka 4.x advertises Produce from v0 only because
librdkafka ≤ 2.11 turns compression off otherwise (KAFKA-18659), and refuses
v0-2 when they arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kwire.broker.context import RequestContext

HandlerFn = Callable[["RequestContext", Any], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class ApiHandler:
    api_key: int
    name: str
    min_version: int
    max_version: int
    advertised_min: int
    fn: HandlerFn
    # The rebalance protocol (group.coordinator.rebalance.protocols) the API belongs
    # to: it is served and advertised only while that protocol is enabled.
    protocol: str | None = None


REGISTRY: dict[int, ApiHandler] = {}


def handler(
    api_key: int, name: str, min_version: int, max_version: int, advertised_min: int | None = None,
    protocol: str | None = None,
) -> Callable[[HandlerFn], HandlerFn]:
    def register(fn: HandlerFn) -> HandlerFn:
        if api_key in REGISTRY:
            raise RuntimeError(f"api_key {api_key} registered twice")
        REGISTRY[api_key] = ApiHandler(
            api_key, name, min_version, max_version,
            min_version if advertised_min is None else advertised_min, fn, protocol,
        )
        return fn

    return register


def advertised(protocols: Collection[str] | None = None) -> list[tuple[int, int, int]]:
    """(api_key, min_version, max_version) for ApiVersions, sorted by key; the APIs of
    a rebalance protocol only when `protocols` enables it (None: every API)."""
    return [(h.api_key, h.advertised_min, h.max_version) for _, h in sorted(REGISTRY.items())
            if protocols is None or h.protocol is None or h.protocol in protocols]
