"""Masking and field-by-field comparison of two brokers' transcripts.

Masking replaces what legitimately differs between two brokers by placeholders
*per broker*, consistently within a scenario: the first topic id a broker
answers becomes `<topic_id#1>`, the next distinct one `<topic_id#2>`, so "same
id" and "different id" still compare (likewise session ids, producer ids and
broker-generated member ids, whose client-id prefix is kept so their structure
compares). Ports, cluster ids, wall-clock timestamps, throttle times, log-dir
paths and disk sizes are masked outright. Everything else compares exactly,
error messages included.

Lists whose elements carry a natural key (a name, a partition index, an api
key) compare as maps keyed by it, so one missing element is one difference
instead of a shifted tail; other lists compare index by index.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from diff_wire import OUTCOME

MISSING = "<missing>"
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_DAY_MS = 86_400_000
_MILLIS_RE = re.compile(r"-?\b\d{13,19}\b")
_LONG_MAX = 2**63 - 1
_MEMBER_RE = re.compile(r"^(.*?)-?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
# Kafka's Uuid.toString (22 url-safe base64 characters): KIP-848 member ids, which the
# broker generates at ConsumerGroupHeartbeat v0 and the client at v1.
_KAFKA_UUID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
# The same inside an error message ("Member <id> is not a member of group ..."); a
# generated id mixes upper and lower case, which names in scenarios do not.
_KAFKA_UUID_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")
# Masked outright: values that depend on the process, the host or the clock.
_MASKED = {"throttle_time", "port", "cluster_id", "log_dir", "total_bytes", "usable_bytes"}
# field -> (placeholder kind, values that mean "none" and stay as they are)
_MAPPED_IDS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "topic_id": ("topic_id", (None, _ZERO_UUID)),
    "session_id": ("session", (None, 0)),
    "producer_id": ("producer_id", (None, -1)),
}
_MEMBER_FIELDS = {"member_id", "leader", "group_instance_id_generated"}
_KEYS = ("name", "api_key", "partition_index", "partition", "index", "group_id", "resource_name",
         "topic_name", "member_id", "key", "broker_id", "node_id", "topic",
         # last: KIP-848 assignments list topics by (masked) id only, in each broker's
         # hash order of its own random ids
         "topic_id")


class Normalizer:
    """Per broker, per scenario: consistent placeholders for generated ids."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[Any, str]] = {}
        self.now_ms = int(time.time() * 1000)

    def ident(self, kind: str, value: Any) -> str:
        seen = self.maps.setdefault(kind, {})
        return seen.setdefault(value, f"<{kind}#{len(seen) + 1}>")

    def _clock_number(self, m: re.Match[str]) -> str:
        """A number derived from the wall clock: now itself, or now - Long.MAX_VALUE
        (the lower bound Kafka prints when message.timestamp.before.max.ms is unset)."""
        n = int(m.group())
        if abs(n - self.now_ms) < _DAY_MS:
            return "<now>"
        if abs(n - (self.now_ms - _LONG_MAX)) < _DAY_MS:
            return "<now-Long.MAX_VALUE>"
        return m.group()

    def _member_in_text(self, m: re.Match[str]) -> str:
        token = m.group()
        if any(c.isupper() for c in token) and any(c.islower() for c in token):
            return self.ident("member", token)
        return token

    def __call__(self, value: Any, name: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, name) for v in value]
        if name in _MASKED and value is not None:
            return f"<{name}>"
        if name in _MAPPED_IDS and value not in _MAPPED_IDS[name][1]:
            return self.ident(_MAPPED_IDS[name][0], value)
        if name in _MEMBER_FIELDS and isinstance(value, str) and value:
            m = _MEMBER_RE.match(value)
            if m:
                return f"{m.group(1)}-{self.ident('member', value)}"
            if _KAFKA_UUID_RE.match(value):
                return self.ident("member", value)
        if name == "error_message" and isinstance(value, str):
            value = _KAFKA_UUID_IN_TEXT.sub(self._member_in_text, value)
        if isinstance(value, str) and _MILLIS_RE.search(value):
            # wall-clock milliseconds inside a message (e.g. a timestamp range)
            return _MILLIS_RE.sub(self._clock_number, value)
        if (isinstance(value, int) and not isinstance(value, bool)
                and ("time" in name or "timestamp" in name)
                and abs(value - self.now_ms) < _DAY_MS):
            return "<now>"
        return value


@dataclass(frozen=True)
class Difference:
    path: str
    kwire: Any
    kafka: Any

    def __str__(self) -> str:
        return f"{self.path}: kwire={_short(self.kwire)} kafka={_short(self.kafka)}"


def _short(v: Any, limit: int = 300) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def _key_of(items: list[Any]) -> str | None:
    """The natural key of a list of dicts, if every element has it and it is unique."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _KEYS:
        values = [i.get(key, MISSING) for i in items]
        if MISSING not in values and len(set(map(repr, values))) == len(values):
            return key
    return None


def diff(a: Any, b: Any, path: str = "") -> list[Difference]:
    """Differences between kwire's (a) and Kafka's (b) normalized data."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Difference] = []
        for k in list(a) + [k for k in b if k not in a]:
            out += diff(a.get(k, MISSING), b.get(k, MISSING), f"{path}.{k}" if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list):
        key = _key_of(a) if a else _key_of(b)
        if key is not None and (not a or _key_of(a) == key) and (not b or _key_of(b) == key):
            am = {repr(i[key]): i for i in a}
            bm = {repr(i[key]): i for i in b}
            out = []
            for k in list(am) + [k for k in bm if k not in am]:
                kk = k.strip("'")
                out += diff(am.get(k, MISSING), bm.get(k, MISSING), f"{path}[{key}={kk}]")
            return out
        out = []
        for i in range(max(len(a), len(b))):
            out += diff(a[i] if i < len(a) else MISSING, b[i] if i < len(b) else MISSING,
                        f"{path}[{i}]")
        return out
    if a != b or type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int)):
        return [Difference(path, a, b)]
    return []


def is_outcome(plain: Any) -> bool:
    return isinstance(plain, dict) and OUTCOME in plain
