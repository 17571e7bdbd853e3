"""Scenarios, the context they run in, and running one on both brokers.

A scenario is a function written once: it gets a `Ctx` and makes requests
through `ctx.call(...)`; each answer (decoded, or an outcome such as a closed
connection) is appended to the transcript and returned, so later requests can
use earlier answers (a member id, a fetch session id). The same function runs
against kwire and against Kafka in two threads at once; the two transcripts are
masked (diff_compare) and compared step by step.

Names are unique per run and per scenario (`ctx.name("t")`) but identical on
both brokers, so they compare unmasked and scenarios never share a topic or
group.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diff_compare import Difference, Normalizer, diff
from diff_wire import Connection, Plain

RUN_TOKEN = uuid.uuid4().hex[:6]
SETTLE_SECONDS = 0.5  # generous: a loaded 2-core machine delays the broker side


# Broker setting profiles: every profile is a kwire + Kafka pair started for the
# session with COMMON_SETTINGS (conftest) plus these overrides; a scenario names
# the profile it needs (most use "default").
PROFILES: dict[str, dict[str, str]] = {
    "default": {},
    "no_auto_create": {"auto.create.topics.enable": "false"},
}


@dataclass(frozen=True)
class Brokers:
    kwire: tuple[str, int]
    kafka: tuple[str, int]
    # the pairs of the other profiles (set on the default pair only)
    profiles: dict[str, Brokers] = field(default_factory=dict, compare=False)

    def for_profile(self, profile: str) -> Brokers:
        return self if profile == "default" else self.profiles[profile]


class Ctx:
    """What a scenario sees: one broker, unique names, a transcript."""

    def __init__(self, scenario_id: str, address: tuple[str, int]) -> None:
        self.scenario_id = scenario_id
        self.address = address
        self.slug = re.sub(r"[^A-Za-z0-9._-]", "-", scenario_id)[-120:]
        self.conn = Connection(*address)
        self.extra: list[Connection] = []
        self.transcript: list[dict[str, Any]] = []

    def name(self, suffix: str = "t") -> str:
        return f"d{RUN_TOKEN}.{self.slug}.{suffix}"

    def new_conn(self) -> Connection:
        c = Connection(*self.address)
        self.extra.append(c)
        return c

    def call(self, api_key: int, version: int, body: dict[str, Any] | None = None, *,
             conn: Connection | None = None, record: bool = True, **kw: Any) -> Plain:
        resp = (conn or self.conn).call(api_key, version, body, **kw)
        if record:
            self.transcript.append({"api": f"{api_key}v{version}", "response": resp})
        return resp

    def note(self, label: str, value: Any) -> None:
        """Record a derived observation (compared like a response)."""
        self.transcript.append({"api": label, "response": value})

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def settle(self) -> None:
        """After a metadata change (configs, partitions, deletion): Kafka answers the
        change once the controller committed it and applies it on the broker a
        moment later, so an immediate read may see the old state. Clients live with
        that; the harness compares the settled state."""
        time.sleep(SETTLE_SECONDS)

    def close(self) -> None:
        self.conn.close()
        for c in self.extra:
            c.close()


ScenarioFn = Callable[[Ctx], None]


@dataclass(frozen=True)
class Scenario:
    id: str  # "<api name>/v<version>/<what>" — allowlist patterns match it
    fn: ScenarioFn = field(compare=False)
    profile: str = "default"  # which broker pair (PROFILES) it runs on


REGISTRY: dict[str, Scenario] = {}


def scenario(sid: str) -> Callable[[ScenarioFn], ScenarioFn]:
    def register(fn: ScenarioFn) -> ScenarioFn:
        add(sid, fn)
        return fn
    return register


def add(sid: str, fn: ScenarioFn, profile: str = "default") -> None:
    assert sid not in REGISTRY, f"duplicate scenario id {sid}"
    assert profile in PROFILES, profile
    REGISTRY[sid] = Scenario(sid, fn, profile)


def _run_one(s: Scenario, address: tuple[str, int], out: dict[str, Any], which: str) -> None:
    ctx = Ctx(s.id, address)
    try:
        s.fn(ctx)
    except Exception as exc:  # noqa: BLE001 - a scenario crash is an outcome to compare
        ctx.transcript.append({"api": "<scenario raised>",
                               "response": f"{type(exc).__name__}: {exc}"})
    finally:
        ctx.close()
    out[which] = ctx.transcript


@dataclass
class Result:
    scenario_id: str
    kwire: list[dict[str, Any]]
    kafka: list[dict[str, Any]]
    differences: list[Difference]
    seconds: float


def run_both(s: Scenario, brokers: Brokers) -> Result:
    start = time.monotonic()
    brokers = brokers.for_profile(s.profile)
    out: dict[str, Any] = {}
    threads = [threading.Thread(target=_run_one, args=(s, addr, out, which))
               for which, addr in (("kwire", brokers.kwire), ("kafka", brokers.kafka))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kw, kf = Normalizer()(out["kwire"]), Normalizer()(out["kafka"])
    diffs = diff({f"step{i}": st for i, st in enumerate(kw)},
                 {f"step{i}": st for i, st in enumerate(kf)})
    return Result(s.id, kw, kf, diffs, time.monotonic() - start)


def warm_up(address: tuple[str, int], timeout: float = 60.0) -> None:
    """Wait until the group and transaction coordinators answer normally (unrecorded).

    Kafka creates __consumer_offsets (__transaction_state) on the first
    FindCoordinator for a group (a transaction) and loads it asynchronously
    (COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR meanwhile); scenarios compare the
    steady state, so both brokers get the same warm-up.
    """
    conn = Connection(*address)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            fc = conn.call(10, 3, {"key": "kwire-diff-warmup", "key_type": 0})
            ft = conn.call(10, 3, {"key": "kwire-diff-warmup", "key_type": 1})
            of = conn.call(9, 7, {"group_id": "kwire-diff-warmup", "topics": None,
                                  "require_stable": False})
            # The first InitProducerId waits for a producer-id block from the controller.
            ip = conn.call(22, 4, {"transactional_id": None, "transaction_timeout": 60000,
                                   "producer_id": -1, "producer_epoch": -1})
            if all(isinstance(r, dict) and r.get("error_code") == 0
                   for r in (fc, ft, of, ip)):
                return
            time.sleep(0.2)
        raise AssertionError(f"coordinators at {address} not ready after {timeout} s")
    finally:
        conn.close()
