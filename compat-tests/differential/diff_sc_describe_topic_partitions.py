"""DescribeTopicPartitions (75, KIP-966) scenarios: several topics, pages split
by response_partition_limit and followed through next_cursor, cursors in the
middle of a topic, past its end or naming a topic the request does not,
unknown and invalid names, internal topics, every topic from a cursor, and a
version outside the range.

Answers are compared as the harness compares any list with a natural key (by
topic name), so each scenario also notes the order of the topics answered:
Kafka answers them sorted, and that order is part of the API.
"""

from __future__ import annotations

from typing import Any

from diff_runner import Ctx, add
from diff_sc_basic import _raw
from diff_sc_util import (
    API_VERSIONS,
    DESCRIBE_TOPIC_PARTITIONS,
    create_topic,
    topic_id,
    versions,
)
from diff_wire import encode_body

DTP = DESCRIBE_TOPIC_PARTITIONS


def _body(names: list[str], limit: int = 2000,
          cursor: tuple[str, int] | None = None) -> dict[str, Any]:
    return {"topics": [{"name": n} for n in names], "response_partition_limit": limit,
            "cursor": None if cursor is None else {"topic_name": cursor[0],
                                                   "partition_index": cursor[1]}}


def _describe(ctx: Ctx, names: list[str], limit: int = 2000,
              cursor: tuple[str, int] | None = None) -> Any:
    resp = ctx.call(DTP, 0, _body(names, limit, cursor))
    if isinstance(resp, dict) and isinstance(resp.get("topics"), list):
        ctx.note("topic order", [t.get("name") for t in resp["topics"]])
    return resp


def _next(resp: Any) -> tuple[str, int] | None:
    cursor = resp.get("next_cursor") if isinstance(resp, dict) else None
    return None if cursor is None else (cursor["topic_name"], cursor["partition_index"])


def _topics(ctx: Ctx, *partitions: int) -> list[str]:
    """Topics a, b, c, ... of this scenario (names sort in that order)."""
    names = [ctx.name(chr(ord("a") + i)) for i in range(len(partitions))]
    for name, count in zip(names, partitions, strict=True):
        create_topic(ctx, name, partitions=count)
    return names


def several_topics(ctx: Ctx) -> None:
    a, b, c = _topics(ctx, 3, 2, 1)
    _describe(ctx, [c, a, ctx.name("missing"), b])


def limit_splits_a_topic(ctx: Ctx) -> None:
    a, b, c = _topics(ctx, 3, 2, 1)
    resp = _describe(ctx, [c, b, a], limit=4)
    pages = 0
    while (cursor := _next(resp)) is not None and pages < 4:
        resp = _describe(ctx, [a, b, c], limit=4, cursor=cursor)
        pages += 1


def limit_at_a_topic_boundary(ctx: Ctx) -> None:
    a, b = _topics(ctx, 3, 2)
    _describe(ctx, [a, b], limit=3)
    # The full page's cursor names the next topic considered, even one that does not exist.
    _describe(ctx, [a, ctx.name("zz-missing")], limit=3)


def cursor_in_the_middle(ctx: Ctx) -> None:
    a, b, c = _topics(ctx, 3, 2, 1)
    _describe(ctx, [a, b, c], limit=2, cursor=(a, 1))
    _describe(ctx, [a, b, c], cursor=(b, 1))


def cursor_topic_not_requested(ctx: Ctx) -> None:
    a, b, c = _topics(ctx, 1, 1, 1)
    _describe(ctx, [a, b], cursor=(c, 0))
    _describe(ctx, [a, b], cursor=(ctx.name("missing"), 0))


def cursor_negative_partition(ctx: Ctx) -> None:
    a, b = _topics(ctx, 2, 1)
    _describe(ctx, [a, b], cursor=(a, -1))
    _describe(ctx, [], cursor=(a, -1))


def cursor_past_the_end(ctx: Ctx) -> None:
    a, b = _topics(ctx, 2, 1)
    _describe(ctx, [a, b], cursor=(a, 7))
    # Kafka computes the page's end as an int: it wraps, and so does the cursor.
    _describe(ctx, [a, b], cursor=(a, 2**31 - 1))


def unknown_and_invalid_names(ctx: Ctx) -> None:
    (a,) = _topics(ctx, 1)
    _describe(ctx, [ctx.name("missing"), "bad name!", "x" * 250, ".", "__transaction_state",
                    a, a], limit=1)


def empty_name(ctx: Ctx) -> None:
    (a,) = _topics(ctx, 1)
    _describe(ctx, ["", a])  # Kafka 4.4 fails on it: UNKNOWN_SERVER_ERROR for the request
    _describe(ctx, ["", a], cursor=("", 0))


def limits(ctx: Ctx) -> None:
    a, b = _topics(ctx, 3, 1)
    for limit in (0, -5, 1, 2, 2**31 - 1):
        _describe(ctx, [a, b], limit=limit)


def internal_topic(ctx: Ctx) -> None:
    _describe(ctx, ["__consumer_offsets"], limit=1)


def topic_ids_as_metadata(ctx: Ctx) -> None:
    a, b = _topics(ctx, 1, 1)
    topic_id(ctx, b)
    topic_id(ctx, a)
    _describe(ctx, [a, b])


def every_topic_from_a_cursor(ctx: Ctx) -> None:
    # No names: every topic at or after the cursor. The pages stay inside this
    # scenario's own topics, whatever other scenarios created.
    a, b = _topics(ctx, 3, 2)
    _describe(ctx, [], limit=1, cursor=(a, 1))
    _describe(ctx, [], limit=4, cursor=(ctx.name(""), 0))


def version_outside_range(ctx: Ctx) -> None:
    body = encode_body(DTP, 0, _body([ctx.name()]))
    _raw(ctx, DTP, 1, body, decode_as=(DTP, 0))
    ctx.call(API_VERSIONS, 0, {})  # is the connection (or a new one) still served?


_CASES = {
    "several_topics": several_topics,
    "limit_splits_a_topic": limit_splits_a_topic,
    "limit_at_a_topic_boundary": limit_at_a_topic_boundary,
    "cursor_in_the_middle": cursor_in_the_middle,
    "cursor_topic_not_requested": cursor_topic_not_requested,
    "cursor_negative_partition": cursor_negative_partition,
    "cursor_past_the_end": cursor_past_the_end,
    "unknown_and_invalid_names": unknown_and_invalid_names,
    "empty_name": empty_name,
    "limits": limits,
    "internal_topic": internal_topic,
    "topic_ids_as_metadata": topic_ids_as_metadata,
    "every_topic_from_a_cursor": every_topic_from_a_cursor,
}
for _v in versions(DTP):
    for _what, _fn in _CASES.items():
        add(f"describe_topic_partitions/v{_v}/{_what}", _fn)
add(f"whole_request/describe_topic_partitions/v{versions(DTP)[-1] + 1}_outside_range",
    version_outside_range)
