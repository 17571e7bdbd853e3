"""Adapter for aiokafka 0.14 (asyncio): AIOKafkaProducer, AIOKafkaConsumer
(assign + seek, group_id=None) and aiokafka.admin.AIOKafkaAdminClient.

Each method runs its own short event loop (asyncio.run), so the adapter has
the same synchronous interface as the others. aiokafka sends ApiVersions v0,
never uses flexible versions, and raises IncompatibleBrokerVersion for any API
key it needs that the broker does not advertise. Defaults: acks=1 and no
idempotence; produce() here sets acks=all and enable_idempotence explicitly.
Codecs come from cramjam (a kwire dependency too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import aiokafka.codec as acodec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from .base import Message, Record, norm_headers

_CHECK = {"none": lambda: True, "gzip": acodec.has_gzip, "snappy": acodec.has_snappy,
          "lz4": acodec.has_lz4, "zstd": acodec.has_zstd}


def codec_unavailable(codec: str) -> str | None:
    if _CHECK[codec]():
        return None
    return f"aiokafka supports {codec} only with the optional package 'cramjam', not installed"


def _raise_topic_errors(resp: object, what: str) -> None:
    rows = getattr(resp, "topic_errors", None) or getattr(resp, "topic_error_codes", None) or []
    bad = [r for r in rows if r[1] != 0]
    if bad:
        raise RuntimeError(f"{what} failed: {bad}")


class AioKafkaClient:
    name = "aiokafka"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    async def _with_admin(self, fn):  # noqa: ANN001, ANN202
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                    client_id="compat-aiokafka-admin", request_timeout_ms=30000)
        await admin.start()
        try:
            return await fn(admin)
        finally:
            await admin.close()

    def create_topic(
        self, name: str, partitions: int = 1, configs: Mapping[str, str] | None = None
    ) -> None:
        async def go(admin: AIOKafkaAdminClient) -> None:
            resp = await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs=dict(configs or {}))],
                timeout_ms=30000)
            _raise_topic_errors(resp, f"CreateTopics {name}")
            deadline = time.monotonic() + 20
            last = None
            while time.monotonic() < deadline:
                (t,) = await admin.describe_topics([name])
                last = t
                parts = t["partitions"]
                if t["error_code"] == 0 and len(parts) == partitions and all(
                        p["leader"] >= 0 for p in parts):
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"topic {name} not ready after 20 s: {last}")

        asyncio.run(self._with_admin(go))

    def produce(
        self, topic: str, messages: Sequence[Message], codec: str = "none",
        idempotent: bool = True,
    ) -> list[tuple[int, int]]:
        async def go() -> list[tuple[int, int]]:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id="compat-aiokafka",
                acks="all",
                enable_idempotence=idempotent,
                compression_type=None if codec == "none" else codec,
                linger_ms=10,
                max_batch_size=64 * 1024,
                request_timeout_ms=30000,
            )
            await producer.start()
            try:
                futs = [
                    await producer.send(topic, value=m.value, key=m.key,
                                        headers=list(m.headers), timestamp_ms=m.timestamp_ms)
                    for m in messages
                ]
                await producer.flush()
                mds = await asyncio.wait_for(asyncio.gather(*futs), 60)
                return [(md.partition, md.offset) for md in mds]
            finally:
                await producer.stop()

        return asyncio.run(go())

    async def _consumer(self) -> AIOKafkaConsumer:
        c = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id="compat-aiokafka",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=30000,
        )
        await c.start()
        return c

    def consume_partition(
        self, topic: str, partition: int, from_offset: int, count: int, timeout: float = 30.0
    ) -> list[Record]:
        async def go() -> list[Record]:
            c = await self._consumer()
            out: list[Record] = []
            try:
                tp = TopicPartition(topic, partition)
                c.assign([tp])
                c.seek(tp, from_offset)
                deadline = time.monotonic() + timeout
                while len(out) < count and time.monotonic() < deadline:
                    batch = await c.getmany(tp, timeout_ms=500, max_records=2000)
                    for r in batch.get(tp, []):
                        out.append(Record(r.partition, r.offset, r.key, r.value,
                                          norm_headers(r.headers), r.timestamp,
                                          r.timestamp_type))
                return out[:count]
            finally:
                await c.stop()

        return asyncio.run(go())

    def offsets_for_times(self, topic: str, timestamps: Mapping[int, int]) -> dict[int, int | None]:
        async def go() -> dict[int, int | None]:
            c = await self._consumer()
            try:
                res = await c.offsets_for_times(
                    {TopicPartition(topic, p): ts for p, ts in timestamps.items()})
                return {tp.partition: (None if v is None else v.offset) for tp, v in res.items()}
            finally:
                await c.stop()

        return asyncio.run(go())

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        async def go() -> dict[int, int]:
            c = await self._consumer()
            try:
                res = await c.end_offsets([TopicPartition(topic, p) for p in partitions])
                return {tp.partition: off for tp, off in res.items()}
            finally:
                await c.stop()

        return asyncio.run(go())

    def delete_topic(self, name: str) -> None:
        async def go(admin: AIOKafkaAdminClient) -> None:
            _raise_topic_errors(await admin.delete_topics([name], timeout_ms=30000),
                                f"DeleteTopics {name}")

        asyncio.run(self._with_admin(go))

    def close(self) -> None:
        pass
