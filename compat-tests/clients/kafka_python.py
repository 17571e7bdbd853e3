"""Adapter for kafka-python 3.0 (pure Python): KafkaProducer, KafkaConsumer
(assign + seek, no group), KafkaAdminClient.

kafka-python infers the broker version from ApiVersions probes and, by default
in 3.x, produces idempotently with acks=all (InitProducerId needed).
Compression other than gzip needs optional packages: python-snappy, lz4,
zstandard (`pip install 'kafka-python[snappy,lz4,zstd]'`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import kafka.codec as kcodec
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from .base import Message, Record, norm_headers, wait_until

_CODEC_CHECK = {
    "none": (lambda: True, ""),
    "gzip": (kcodec.has_gzip, ""),
    "snappy": (kcodec.has_snappy, "python-snappy"),
    "lz4": (kcodec.has_lz4, "lz4"),
    "zstd": (kcodec.has_zstd, "zstandard"),
}


def codec_unavailable(codec: str) -> str | None:
    check, pkg = _CODEC_CHECK[codec]
    if check():
        return None
    return f"kafka-python supports {codec} only with the optional package {pkg!r}, not installed"


class KafkaPythonClient:
    name = "kafka-python"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: KafkaAdminClient | None = None

    def _adm(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="compat-kafka-python-admin",
                request_timeout_ms=30000,
            )
        return self._admin

    def create_topic(
        self, name: str, partitions: int = 1, configs: Mapping[str, str] | None = None
    ) -> None:
        self._adm().create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1,
                    "configs": dict(configs or {})}},
            timeout_ms=30000,
        )

        def ready() -> bool:
            (t,) = self._adm().describe_topics([name])
            parts = t["partitions"]
            return t["error_code"] == 0 and len(parts) == partitions and all(
                p["leader_id"] >= 0 for p in parts)

        wait_until(ready, 20, f"topic {name} to have {partitions} partitions with leaders")

    def produce(
        self, topic: str, messages: Sequence[Message], codec: str = "none",
        idempotent: bool = True,
    ) -> list[tuple[int, int]]:
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="compat-kafka-python",
            acks="all",
            enable_idempotence=idempotent,
            compression_type=None if codec == "none" else codec,
            linger_ms=10,
            batch_size=64 * 1024,
            request_timeout_ms=30000,
        )
        try:
            futures = [
                producer.send(topic, key=m.key, value=m.value, headers=list(m.headers),
                              timestamp_ms=m.timestamp_ms)
                for m in messages
            ]
            producer.flush(timeout=60)
            out = []
            for f in futures:
                md = f.get(timeout=30)
                out.append((md.partition, md.offset))
            return out
        finally:
            producer.close(timeout=10)

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id="compat-kafka-python",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=30000,
        )

    def consume_partition(
        self, topic: str, partition: int, from_offset: int, count: int, timeout: float = 30.0
    ) -> list[Record]:
        consumer = self._consumer()
        tp = TopicPartition(topic, partition)
        out: list[Record] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, from_offset)

            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                for recs in consumer.poll(timeout_ms=500, max_records=2000).values():
                    out.extend(
                        Record(r.partition, r.offset, r.key, r.value, norm_headers(r.headers),
                               r.timestamp, r.timestamp_type)
                        for r in recs)
            return out[:count]
        finally:
            consumer.close()

    def offsets_for_times(self, topic: str, timestamps: Mapping[int, int]) -> dict[int, int | None]:
        consumer = self._consumer()
        try:
            res = consumer.offsets_for_times(
                {TopicPartition(topic, p): ts for p, ts in timestamps.items()})
            return {tp.partition: (None if v is None else v.offset) for tp, v in res.items()}
        finally:
            consumer.close()

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        consumer = self._consumer()
        try:
            res = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return {tp.partition: off for tp, off in res.items()}
        finally:
            consumer.close()

    def delete_topic(self, name: str) -> None:
        self._adm().delete_topics([name], timeout_ms=30000)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
