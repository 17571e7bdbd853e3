"""In-process broker for handler tests: memory logs, a local metadata store in a
temp dir, and requests encoded with kio exactly as a client would send them."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from kwire.broker.context import ResponseBudget
from kwire.broker.dispatcher import Dispatcher
from kwire.broker.services import Broker
from kwire.clock import ManualClock
from kwire.cluster.api import BrokerInfo
from kwire.cluster.local import LocalMetadataStore
from kwire.config import load_config
from kwire.log.memory import MemoryLogStore
from kwire.protocol.codec import build, is_flexible


class InProcessBroker:
    def __init__(self, tmp: Path, **overrides: str) -> None:
        self.config = load_config(overrides=overrides, data_dir=str(tmp))
        self.clock = ManualClock()
        node = BrokerInfo(1, "127.0.0.1", 9092)
        self.broker = Broker(self.config, node, LocalMetadataStore(tmp, node),
                             MemoryLogStore(self.clock.wall_ms), self.clock)
        self.dispatcher = Dispatcher(self.broker)
        self._correlation = 0

    def frame(self, api_key: int, version: int, body: dict[str, Any]) -> bytes:
        self._correlation += 1
        header = struct.pack(">hhih", api_key, version, self._correlation, 4) + b"test"
        if is_flexible(api_key, version):
            header += b"\x00"
        cls = load_request_schema(api_key, version)
        out = io.BytesIO()
        entity_writer(cls)(out, build(cls, body))  # type: ignore[arg-type]
        return header + out.getvalue()

    async def call(self, api_key: int, version: int, body: dict[str, Any],
                   budget: ResponseBudget | None = None) -> Any:
        frame = self.frame(api_key, version, body)
        expected = self._correlation
        chunks = await self.dispatcher.dispatch(frame, "127.0.0.1", budget)
        if chunks is None:
            return None
        raw = b"".join(chunks)
        (correlation_id,) = struct.unpack_from(">i", raw)
        assert correlation_id == expected
        pos = 4
        if is_flexible(api_key, version) and api_key != 18:
            assert raw[4] == 0  # empty tagged fields of response header v1
            pos = 5
        response, _ = entity_reader(load_response_schema(api_key, version))(raw, pos)
        return response


async def reload_groups(kb: InProcessBroker) -> None:
    """Load every __consumer_offsets shard into the broker's (new) group manager,
    as a leadership change does: state comes back by replay alone."""
    partitions = kb.broker.groups.offsets_topic_partitions
    await kb.broker.groups.on_leadership_change(gained=range(partitions), lost=())
    await kb.broker.groups.wait_loaded()
