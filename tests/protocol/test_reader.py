"""The bounded request reader decodes exactly what kio's native reader decodes
for well-formed requests, and refuses lying length prefixes without allocating."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema
from kio.serial import entity_reader as native_reader
from kio.serial import entity_writer
from kio.static.primitive import Records

from kwire.broker import handlers as _handlers  # noqa: F401  (fills the registry)
from kwire.broker.registry import REGISTRY
from kwire.errors import ProtocolViolation
from kwire.protocol.codec import decode_request
from kwire.protocol.reader import entity_reader

# Produce carries record batches as opaque bytes.
st.register_type_strategy(Records, st.binary(max_size=64).map(Records))

SERVED = [(key, v) for key, h in sorted(REGISTRY.items())
          for v in range(h.min_version, h.max_version + 1)]


@pytest.mark.parametrize(("api_key", "version"), SERVED)
def test_matches_native_reader(api_key: int, version: int) -> None:
    cls = load_request_schema(api_key, version)

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_type(cls))
    def check(entity: object) -> None:
        out = io.BytesIO()
        entity_writer(cls)(out, entity)
        data = out.getvalue()
        try:
            expected, _ = native_reader(cls)(data, 0)
        except ValueError:
            # kio cannot turn int64 milliseconds near the limit into a timedelta;
            # the bounded reader (same primitive readers) must refuse them too.
            with pytest.raises(ValueError):
                entity_reader(cls)(data, 0)
            return
        ours, end = entity_reader(cls)(data, 0)
        assert ours == expected
        assert end == len(data)

    check()


def test_huge_compact_array_is_refused_not_allocated() -> None:
    # Metadata v9: topics is a compact array; uvarint 0xFFFFFFFF claims ~4e9 topics.
    with pytest.raises(ProtocolViolation, match="elements"):
        decode_request(3, 9, b"\xff\xff\xff\xff\x0f" + b"\x00" * 10, 0)


@given(st.sampled_from(SERVED), st.binary(max_size=80))
@settings(max_examples=2000, deadline=None)
def test_random_bodies_only_raise_protocol_violation(key_version: tuple[int, int],
                                                     body: bytes) -> None:
    with contextlib.suppress(ProtocolViolation):
        decode_request(key_version[0], key_version[1], body, 0)
