"""The inter-broker WriteTxnMarkers client against a scripted peer on a real
socket. The peer reads each request with the broker's own request path (header
parsing and decode_request, as the dispatcher does) and answers with the
broker's own encode_response, so the client's request header v2, body and the
response header v1 it reads are checked against the codec kwire serves with.
(The client against a real Kafka 4.4.0 is in compat-tests/test_cluster_transactions.py.)
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kwire.broker.inter_broker import InterBrokerClient, TxnMarker
from kwire.errors import ErrorCode
from kwire.protocol.codec import decode_request, encode_response
from kwire.protocol.headers import (
    RequestHeader,
    parse_request_header,
    response_header,
    skip_tagged_fields,
)

pytestmark = pytest.mark.timeout(30)

Answer = Callable[[RequestHeader, Any], "dict[str, Any] | None | bytes"]


def all_none(_header: RequestHeader, request: Any) -> dict[str, Any]:
    return {"markers": [
        {"producer_id": m.producer_id,
         "topics": [{"name": t.name,
                     "partitions": [{"partition_index": p, "error_code": 0}
                                    for p in t.partition_indexes]}
                    for t in m.topics]}
        for m in request.markers]}


@dataclass
class Peer:
    """A listening socket that answers WriteTxnMarkers with `answer(header,
    request)`: a response body dict, raw bytes to send as the whole frame, or
    None to stay silent (the connection stays open)."""

    answer: Answer = all_none
    requests: list[tuple[RequestHeader, Any]] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    delay_s: float = 0.0
    server: asyncio.Server | None = None
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self._writers:
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                frame = await reader.readexactly(size)
                header, pos = parse_request_header(frame)
                assert (header.api_key, header.api_version) == (27, 1)
                pos = skip_tagged_fields(frame, pos)  # request header v2
                request = decode_request(27, 1, frame, pos)
                self.requests.append((header, request))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                await asyncio.sleep(self.delay_s)
                self.in_flight -= 1
                out = self.answer(header, request)
                if out is None:
                    continue
                if isinstance(out, bytes):
                    writer.write(struct.pack(">i", len(out)) + out)
                else:
                    raw = response_header(header.correlation_id, True) + encode_response(
                        27, 1, out)
                    writer.write(struct.pack(">i", len(raw)) + raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def client() -> AsyncIterator[InterBrokerClient]:
    c = InterBrokerClient(request_timeout_s=5.0)
    yield c
    await c.close()


COMMIT = TxnMarker(producer_id=4000, producer_epoch=7, commit=True, coordinator_epoch=3,
                   partitions=(("orders", 0), ("orders", 2), ("audit", 1)))
ABORT = TxnMarker(producer_id=4001, producer_epoch=0, commit=False, coordinator_epoch=3,
                  partitions=(("orders", 1),))


async def test_request_carries_every_marker_grouped_by_topic(peer: Peer,
                                                            client: InterBrokerClient) -> None:
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [COMMIT, ABORT])
    assert errors == {(4000, "orders", 0): ErrorCode.NONE, (4000, "orders", 2): ErrorCode.NONE,
                      (4000, "audit", 1): ErrorCode.NONE, (4001, "orders", 1): ErrorCode.NONE}
    [(header, request)] = peer.requests
    assert header.client_id == "kwire-txn-marker-sender"
    first, second = request.markers
    assert (first.producer_id, first.producer_epoch, first.transaction_result,
            first.coordinator_epoch) == (4000, 7, True, 3)
    assert [(t.name, list(t.partition_indexes)) for t in first.topics] == [
        ("orders", [0, 2]), ("audit", [1])]
    assert (second.producer_id, second.producer_epoch, second.transaction_result) == (
        4001, 0, False)


async def test_each_partition_gets_its_own_error(peer: Peer, client: InterBrokerClient) -> None:
    def mixed(header: RequestHeader, request: Any) -> dict[str, Any]:
        body = all_none(header, request)
        body["markers"][0]["topics"][0]["partitions"][1]["error_code"] = int(
            ErrorCode.NOT_LEADER_OR_FOLLOWER)
        body["markers"][0]["topics"][1]["partitions"][0]["error_code"] = int(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return body
    peer.answer = mixed
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [COMMIT])
    assert errors == {(4000, "orders", 0): ErrorCode.NONE,
                      (4000, "orders", 2): ErrorCode.NOT_LEADER_OR_FOLLOWER,
                      (4000, "audit", 1): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}


async def test_a_partition_the_response_leaves_out_is_an_error_to_retry(
        peer: Peer, client: InterBrokerClient) -> None:
    def partial(header: RequestHeader, request: Any) -> dict[str, Any]:
        body = all_none(header, request)
        del body["markers"][0]["topics"][1]
        return body
    peer.answer = partial
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [COMMIT])
    assert errors[(4000, "audit", 1)] == ErrorCode.UNKNOWN_SERVER_ERROR
    assert errors[(4000, "orders", 0)] == ErrorCode.NONE


async def test_no_markers_sends_nothing(peer: Peer, client: InterBrokerClient) -> None:
    assert await client.write_txn_markers("127.0.0.1", peer.port, []) == {}
    assert peer.connections == 0


async def test_one_connection_is_reused_with_one_request_in_flight(
        peer: Peer, client: InterBrokerClient) -> None:
    peer.delay_s = 0.05
    results = await asyncio.gather(*(
        client.write_txn_markers("127.0.0.1", peer.port, [
            TxnMarker(5000 + i, 0, True, 0, (("t", i),))]) for i in range(8)))
    for i, errors in enumerate(results):
        assert errors == {(5000 + i, "t", i): ErrorCode.NONE}
    assert peer.connections == 1
    assert peer.max_in_flight == 1
    assert len(peer.requests) == 8
    assert len({h.correlation_id for h, _ in peer.requests}) == 8


async def test_a_dead_port_answers_network_exception_quickly_and_a_later_call_reconnects(
        caplog: pytest.LogCaptureFixture) -> None:
    probe = Peer()
    port = await probe.start()
    await probe.stop()  # nothing listens on `port` now
    client = InterBrokerClient(request_timeout_s=30.0)
    try:
        with caplog.at_level(logging.WARNING, logger="kwire.broker.inter_broker"):
            started = time.monotonic()
            errors = await client.write_txn_markers("127.0.0.1", port, [COMMIT])
            assert time.monotonic() - started < 2.0
        assert errors == dict.fromkeys(
            [(4000, "orders", 0), (4000, "orders", 2), (4000, "audit", 1)],
            ErrorCode.NETWORK_EXCEPTION)
        failures = [r for r in caplog.records if r.name == "kwire.broker.inter_broker"]
        assert len(failures) == 1 and failures[0].exc_info is None
        assert str(port) in failures[0].getMessage()

        peer = Peer()
        await peer.start(port)
        try:
            errors = await client.write_txn_markers("127.0.0.1", port, [ABORT])
            assert errors == {(4001, "orders", 1): ErrorCode.NONE}
            assert peer.connections == 1
        finally:
            await peer.stop()
    finally:
        await client.close()


async def test_a_silent_peer_times_out_and_the_next_call_uses_a_new_connection(
        peer: Peer) -> None:
    client = InterBrokerClient(request_timeout_s=0.3)
    try:
        peer.answer = lambda _h, _r: None
        started = time.monotonic()
        errors = await client.write_txn_markers("127.0.0.1", peer.port, [ABORT])
        assert 0.25 <= time.monotonic() - started < 3.0
        assert errors == {(4001, "orders", 1): ErrorCode.NETWORK_EXCEPTION}
        # A late answer to the timed-out request must not be read as the next one's.
        peer.answer = all_none
        errors = await client.write_txn_markers("127.0.0.1", peer.port, [COMMIT])
        assert set(errors.values()) == {ErrorCode.NONE}
        assert peer.connections == 2
    finally:
        await client.close()


async def test_calls_queued_behind_a_silent_peer_end_within_one_timeout(peer: Peer) -> None:
    client = InterBrokerClient(request_timeout_s=0.4)
    try:
        peer.answer = lambda _h, _r: None
        started = time.monotonic()
        results = await asyncio.gather(*(
            client.write_txn_markers("127.0.0.1", peer.port, [
                TxnMarker(6000 + i, 0, True, 0, (("t", 0),))]) for i in range(4)))
        assert time.monotonic() - started < 1.2  # not 4 x 0.4 s
        assert [set(r.values()) for r in results] == [{ErrorCode.NETWORK_EXCEPTION}] * 4
        peer.answer = all_none
        assert await client.write_txn_markers("127.0.0.1", peer.port, [ABORT]) == {
            (4001, "orders", 1): ErrorCode.NONE}
    finally:
        await client.close()


async def test_a_peer_closing_the_connection_answers_network_exception(
        peer: Peer, client: InterBrokerClient) -> None:
    def hang_up(_header: RequestHeader, _request: Any) -> bytes:
        raise ConnectionResetError  # the peer's _serve closes the socket
    peer.answer = hang_up
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [ABORT])
    assert errors == {(4001, "orders", 1): ErrorCode.NETWORK_EXCEPTION}
    peer.answer = all_none
    assert await client.write_txn_markers("127.0.0.1", peer.port, [ABORT]) == {
        (4001, "orders", 1): ErrorCode.NONE}
    assert peer.connections == 2


@pytest.mark.parametrize("frame", [
    pytest.param(struct.pack(">i", 999_999) + b"\x00", id="wrong correlation id"),
    pytest.param(b"\x00\x00", id="shorter than a header"),
])
async def test_an_unreadable_response_answers_network_exception(
        peer: Peer, client: InterBrokerClient, frame: bytes) -> None:
    peer.answer = lambda _h, _r: frame
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [ABORT])
    assert errors == {(4001, "orders", 1): ErrorCode.NETWORK_EXCEPTION}


async def test_a_garbled_body_answers_network_exception(peer: Peer,
                                                       client: InterBrokerClient) -> None:
    def garbled(header: RequestHeader, _request: Any) -> bytes:
        # markers: a compact array claiming 1000 elements in 2 bytes
        return response_header(header.correlation_id, True) + b"\xe9\x07"
    peer.answer = garbled
    errors = await client.write_txn_markers("127.0.0.1", peer.port, [ABORT])
    assert errors == {(4001, "orders", 1): ErrorCode.NETWORK_EXCEPTION}


async def test_a_cancelled_call_drops_its_connection(peer: Peer,
                                                    client: InterBrokerClient) -> None:
    peer.answer = lambda _h, _r: None
    task = asyncio.create_task(client.write_txn_markers("127.0.0.1", peer.port, [ABORT]))
    while not peer.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    peer.answer = all_none
    assert await client.write_txn_markers("127.0.0.1", peer.port, [ABORT]) == {
        (4001, "orders", 1): ErrorCode.NONE}
    assert peer.connections == 2
