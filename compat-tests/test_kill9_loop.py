"""kill -9 over and over during a continuous idempotent produce.

CYCLES times: let the producer (confluent-kafka, enable.idempotence, acks=all)
get some records acknowledged, kill -9 the broker with requests in flight,
restart it on the same port and data dir. Run once with an fsync before every
acknowledgement (log.flush.interval.messages=1) and once with Kafka's default
flushing: a kill -9 ends the process, not the machine, so the page cache keeps
every write the broker made, and nothing acknowledged may be lost either way.

Afterwards: every acknowledged record is at its acknowledged offset, no value
is in the log twice (idempotence across crashes), no delivery error, and each
restart was ready within RESTART_BOUND_S. The topic uses Kafka's testing-only
internal.segment.bytes so segments roll during the loop and recovery meets
crashes at segment boundaries too.

Controls the broker process, so it skips under --bootstrap.
"""

from __future__ import annotations

import random
import time

import pytest
from clients import make_client
from durability_support import ContinuousProducer, check_acknowledged, wait_for

pytestmark = [pytest.mark.slow]

PARTITIONS = 3
CYCLES = 20
PRODUCE_S = 1.5  # produce at least this long between kills (plus a random 0-0.5 s)
MIN_NEW_ACKS = 200  # and at least this many new acknowledgements
RESTART_BOUND_S = 15.0  # kill -9 to ready: recovery must not grow with the cycles
SEGMENT_BYTES = 64 * 1024  # internal.segment.bytes: rolls every few hundred records
RATE = 4000  # messages/s: ~10k per cycle, ~200k per run to read back and check
MAX_MESSAGES = 400_000


@pytest.mark.timeout(170)
@pytest.mark.parametrize("settings", [
    pytest.param({"log.flush.interval.messages": "1"}, id="fsync-every-message"),
    pytest.param({}, id="default-flushing"),
])
def test_kill9_loop_loses_nothing_acknowledged(
    kwire_factory, topic_name, settings: dict[str, str]  # noqa: ANN001
) -> None:
    started = time.monotonic()
    rng = random.Random(topic_name)
    broker = kwire_factory(settings).start()
    admin = make_client("confluent-kafka", broker.bootstrap)
    admin.create_topic(topic_name, PARTITIONS, {"internal.segment.bytes": str(SEGMENT_BYTES)})
    admin.close()

    prod = ContinuousProducer(broker.bootstrap, topic_name, max_messages=MAX_MESSAGES,
                              rate=RATE)
    prod.start()
    restarts: list[float] = []
    acked_at_kill: list[int] = []
    try:
        for cycle in range(CYCLES):
            target = prod.n_acked() + MIN_NEW_ACKS
            wait_for(lambda t=target: prod.n_acked() >= t, 60,
                     f"{MIN_NEW_ACKS} new acknowledgements in cycle {cycle}")
            time.sleep(PRODUCE_S + rng.random() * 0.5)
            broker.kill()  # SIGKILL mid-stream, requests in flight
            acked_at_kill.append(prod.n_acked())
            t0 = time.monotonic()
            broker.restart()  # same port, same data dir
            restarts.append(time.monotonic() - t0)
            assert restarts[-1] < RESTART_BOUND_S, (
                f"cycle {cycle}: restart took {restarts[-1]:.1f} s")
        # The idempotent producer carries on after the last restart too.
        target = prod.n_acked() + MIN_NEW_ACKS
        wait_for(lambda: prod.n_acked() >= target, 60, "acknowledgements after the last restart")
    finally:
        acked, errors = prod.finish()

    client = make_client("confluent-kafka", broker.bootstrap)
    ends = check_acknowledged(client, topic_name, PARTITIONS, acked, errors)
    client.close()
    broker.stop()
    print(f"{broker.name} {settings or 'default flushing'}: {CYCLES} kill -9 cycles, "
          f"{len(acked)} acknowledged, {prod.sent} sent, {sum(ends.values())} in the log, "
          f"acked at each kill {acked_at_kill}, restart s: max {max(restarts):.2f} "
          f"mean {sum(restarts) / len(restarts):.2f}, total {time.monotonic() - started:.0f} s")
