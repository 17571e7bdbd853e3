"""Adapter for confluent-kafka (librdkafka): Producer, Consumer (assign, no
subscribe), AdminClient.

librdkafka defaults that matter: consumer isolation.level=read_committed (so
the broker's last stable offset must be right), and a Consumer refuses to
start without group.id, so even this assign-only consumer has one: librdkafka
then looks up the group coordinator (FindCoordinator) although it never joins
or commits. All codecs are built into the wheel's librdkafka.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .base import Message, Record, norm_headers, wait_until


def codec_unavailable(codec: str) -> str | None:
    return None


class ConfluentClient:
    name = "confluent-kafka"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin = AdminClient({"bootstrap.servers": bootstrap,
                                   "client.id": "compat-confluent-admin"})

    def create_topic(
        self, name: str, partitions: int = 1, configs: Mapping[str, str] | None = None
    ) -> None:
        fs = self._admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1,
                      config=dict(configs or {}))],
            request_timeout=30, operation_timeout=30,
        )
        fs[name].result(timeout=40)

        def ready() -> bool:
            md = self._admin.list_topics(topic=name, timeout=5)
            t = md.topics.get(name)
            return (t is not None and t.error is None and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values()))

        wait_until(ready, 20, f"topic {name} to have {partitions} partitions with leaders")

    def produce(
        self, topic: str, messages: Sequence[Message], codec: str = "none",
        idempotent: bool = True,
    ) -> list[tuple[int, int]]:
        producer = Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": "compat-confluent",
            "acks": "all",
            "enable.idempotence": idempotent,
            "compression.type": codec,
            "linger.ms": 10,
            "message.timeout.ms": 60000,
        })
        acked: list[tuple[int, int] | None] = [None] * len(messages)
        errors: list[str] = []

        def cb_for(i: int):  # noqa: ANN202
            def cb(err, msg) -> None:  # noqa: ANN001
                if err is not None:
                    errors.append(f"message {i}: {err}")
                else:
                    acked[i] = (msg.partition(), msg.offset())
            return cb

        for i, m in enumerate(messages):
            while True:
                try:
                    producer.produce(topic, value=m.value, key=m.key, headers=list(m.headers),
                                     timestamp=m.timestamp_ms, on_delivery=cb_for(i))
                    break
                except BufferError:  # local queue full: serve callbacks, retry
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(60)
        assert remaining == 0, f"{remaining} messages not delivered within 60 s"
        assert not errors, f"delivery errors: {errors[:5]} ({len(errors)} total)"
        assert all(a is not None for a in acked)
        return [a for a in acked if a is not None]

    def _consumer(self) -> Consumer:
        return Consumer({
            "bootstrap.servers": self.bootstrap,
            "client.id": "compat-confluent",
            "group.id": f"compat-assign-only-{uuid.uuid4().hex[:8]}",  # required by the library
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        })

    def consume_partition(
        self, topic: str, partition: int, from_offset: int, count: int, timeout: float = 30.0
    ) -> list[Record]:
        consumer = self._consumer()
        out: list[Record] = []
        try:
            consumer.assign([TopicPartition(topic, partition, from_offset)])

            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=1000, timeout=0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(err)
                    ts_type, ts = msg.timestamp()
                    out.append(Record(msg.partition(), msg.offset(), msg.key(), msg.value(),
                                      norm_headers(msg.headers()), ts,
                                      # librdkafka: 1 = CreateTime, 2 = LogAppendTime
                                      {1: 0, 2: 1}.get(ts_type, -1)))
            return out[:count]
        finally:
            consumer.close()

    def offsets_for_times(self, topic: str, timestamps: Mapping[int, int]) -> dict[int, int | None]:
        consumer = self._consumer()
        try:
            res = consumer.offsets_for_times(
                [TopicPartition(topic, p, ts) for p, ts in timestamps.items()], timeout=20)
            out: dict[int, int | None] = {}
            for tp in res:
                if tp.error is not None:
                    raise KafkaException(tp.error)
                out[tp.partition] = None if tp.offset < 0 else tp.offset
            return out
        finally:
            consumer.close()

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        consumer = self._consumer()
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
                    for p in partitions}
        finally:
            consumer.close()

    def delete_topic(self, name: str) -> None:
        self._admin.delete_topics([name], request_timeout=30, operation_timeout=30)[name].result(
            timeout=40)

    def close(self) -> None:
        # AdminClient has no close(); dropping the last reference destroys the
        # librdkafka handle (and stops its reconnect attempts to a stopped broker).
        self._admin = None  # type: ignore[assignment]
