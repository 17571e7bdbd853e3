"""Bad input against a running kwire: random and truncated frames, wrong sizes,
unknown API keys and versions, oversized frames — while a well-behaved client
produces and consumes on other connections.

The broker must answer or close each bad connection, never crash or hang; its
memory must stay bounded; the good client must lose nothing.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

import psutil
import pytest
from harness import KwireProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_REQUEST = 1_048_576  # socket.request.max.bytes for this broker


def _header(api_key: int, version: int, correlation_id: int = 1, client: bytes = b"fuzz") -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


# A valid Metadata v1 request for all topics: header + topics = null.
_METADATA_V1 = _header(3, 1) + struct.pack(">i", -1)

frames = st.one_of(
    # random payload with a consistent size prefix
    st.binary(min_size=0, max_size=300).map(_frame),
    # random bytes, size prefix and all
    st.binary(min_size=1, max_size=300),
    # a valid header for an API key kwire does not serve
    st.integers(min_value=-32768, max_value=32767)
    .filter(lambda k: k not in (0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 35, 37, 44, 60))
    .map(lambda k: _frame(_header(k, 0))),
    # a known API at a version nobody serves
    st.tuples(st.sampled_from([0, 1, 3, 19, 22]), st.integers(min_value=20, max_value=32767))
    .map(lambda kv: _frame(_header(kv[0], kv[1]) + b"\x00" * 8)),
    # a known API and version with a random (mostly malformed) body
    st.tuples(st.sampled_from([(0, 9), (1, 12), (2, 7), (3, 12), (19, 7), (32, 4), (22, 4)]),
              st.binary(max_size=200))
    .map(lambda t: _frame(_header(t[0][0], t[0][1]) + b"\x00" + t[1])),
    # a valid request cut short (size prefix honest about the cut)
    st.integers(min_value=0, max_value=len(_METADATA_V1) - 1)
    .map(lambda n: _frame(_METADATA_V1[:n])),
    # a size prefix promising more than is sent
    st.integers(min_value=1, max_value=len(_METADATA_V1) - 1)
    .map(lambda n: struct.pack(">i", len(_METADATA_V1)) + _METADATA_V1[:n]),
    # oversized and negative size prefixes
    st.integers(min_value=MAX_REQUEST + 1, max_value=2**31 - 1).map(lambda n: struct.pack(">i", n)),
    st.integers(min_value=-(2**31), max_value=-1).map(lambda n: struct.pack(">i", n)),
)


def _exchange(port: int, data: bytes) -> None:
    """Send `data`, then read until the broker answers and/or closes, or 1 s passes
    (a frame that promises more bytes than sent is left waiting, as Kafka does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(1.0)
        try:
            s.sendall(data)
            while s.recv(65536):
                pass
        except (TimeoutError, ConnectionError):
            pass


def _api_versions_ok(port: int) -> bool:
    """A fresh connection still gets a well-formed ApiVersions v0 answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        s.sendall(_frame(_header(18, 0, correlation_id=42)))
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        body = _recv_exact(s, size)
        correlation_id, error_code = struct.unpack_from(">ih", body)
        return correlation_id == 42 and error_code == 0


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def test_unknown_api_versions_version_gets_v0_answer(
    kwire_factory: Callable[..., KwireProcess],
) -> None:
    """KIP-511: ApiVersions at a version the broker doesn't know gets a v0 body with
    UNSUPPORTED_VERSION (35) and the key list, in a v0 response header."""
    proc = kwire_factory().start()
    port = int(proc.bootstrap.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(_frame(_header(18, 99, correlation_id=7) + b"\x00" * 4))
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        body = _recv_exact(s, size)
    correlation_id, error_code, count = struct.unpack_from(">ihi", body)
    assert (correlation_id, error_code) == (7, 35)
    keys = [struct.unpack_from(">hhh", body, 10 + 6 * i) for i in range(count)]
    assert (18, 0, 4) in keys


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bad_frames_never_hurt_the_broker_or_a_good_client(
    kwire_factory: Callable[..., KwireProcess],
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    proc = kwire_factory({"socket.request.max.bytes": str(MAX_REQUEST)}).start()
    port = int(proc.bootstrap.rsplit(":", 1)[1])
    assert proc.proc is not None
    rss = psutil.Process(proc.proc.pid)

    acked: list[tuple[int, bytes]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def good_producer() -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=proc.bootstrap, acks="all",
                                     linger_ms=5, request_timeout_ms=10_000)
            i = 0
            while not stop.is_set() and i < 50_000:
                value = f"good-{i}".encode()
                meta = producer.send("good", value=value, partition=0).get(timeout=15)
                acked.append((meta.offset, value))
                i += 1
            producer.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=good_producer, daemon=True)
    worker.start()
    time.sleep(1.0)
    rss_before = rss.memory_info().rss

    @settings(max_examples=400, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def hammer(data: bytes) -> None:
        _exchange(port, data)
        assert proc.running, "broker died"

    hammer()
    assert _api_versions_ok(port)
    stop.set()
    worker.join(timeout=30)
    assert not errors, errors
    assert proc.running
    rss_after = rss.memory_info().rss
    # Bounded memory: hundreds of bad connections must not leave much behind.
    assert rss_after - rss_before < 64 * 1024 * 1024, (rss_before, rss_after)

    consumer = KafkaConsumer(bootstrap_servers=proc.bootstrap, enable_auto_commit=False)
    tp = TopicPartition("good", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    seen: dict[int, bytes] = {}
    deadline = time.monotonic() + 60
    want = {offset for offset, _ in acked}
    while not want <= seen.keys() and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                seen[r.offset] = r.value
    consumer.close()
    assert len(acked) > 100
    for offset, value in acked:
        assert seen.get(offset) == value, f"acknowledged offset {offset} lost or changed"
    assert len(set(seen.values())) == len(seen), "a message was stored twice"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_thousand_concurrent_connections(kwire_factory: Callable[..., KwireProcess]) -> None:
    """Thousands of clients at once: every connection gets its ApiVersions answer
    while all of them stay open."""
    proc = kwire_factory().start()
    port = int(proc.bootstrap.rsplit(":", 1)[1])
    sockets = []
    try:
        for i in range(2000):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(_frame(_header(18, 0, correlation_id=i)))
            sockets.append(s)
        for i, s in enumerate(sockets):
            size = struct.unpack(">i", _recv_exact(s, 4))[0]
            correlation_id, error_code = struct.unpack_from(">ih", _recv_exact(s, size))
            assert (correlation_id, error_code) == (i, 0)
        assert proc.running
    finally:
        for s in sockets:
            s.close()
