"""The client a broker uses to talk to another broker: WriteTxnMarkers (API 27)
to the leader of a partition this broker does not lead, as Kafka's
TransactionMarkerChannelManager does for the transaction coordinator, and
AddPartitionsToTxn (API 24) with verify_only to a transaction coordinator, as
Kafka's AddPartitionsToTxnManager checks a transactional produce (KIP-890).

One connection per (host, port), opened on first use and reused; one request in
flight on it at a time (a lock), since a broker answers in request order and
the coordinator sends few, small requests. Network trouble never raises: a
failed connect, a broken or timed-out exchange, or a response that cannot be
read answers NETWORK_EXCEPTION for every partition of that call and drops the
connection, so the next call connects afresh (the coordinator retries markers,
as Kafka's does, and must not be left with a connection whose answers are out
of step with its requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kwire.errors import ErrorCode, ProtocolViolation
from kwire.protocol.outbound import decode_response, encode_request, response_correlation_id

log = logging.getLogger(__name__)

WRITE_TXN_MARKERS = 27
# v1 is the first flexible version and the lowest Kafka 4.x accepts (v0 was removed
# by KIP-896); v2 only adds transaction_version, which matters for TV2 only.
WRITE_TXN_MARKERS_VERSION = 1
ADD_PARTITIONS_TO_TXN = 24
# v4 is the first broker-to-broker version (batched transactions, verify_only).
ADD_PARTITIONS_TO_TXN_VERSION = 4
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # Kafka's request.timeout.ms for the marker channel
DEFAULT_CLIENT_ID = "kwire-txn-marker-sender"
# A WriteTxnMarkers response is a few bytes per partition; a size beyond this is a
# peer speaking something else, not a response to wait for.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

_SIZE = struct.Struct(">i")

PartitionKey = tuple[int, str, int]  # (producer_id, topic, partition)


@dataclass(frozen=True)
class TxnMarker:
    """One transaction's commit or abort marker for some partitions of one leader."""

    producer_id: int
    producer_epoch: int
    commit: bool
    coordinator_epoch: int
    partitions: tuple[tuple[str, int], ...]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class InterBrokerClient:
    """See the module docstring. `close()` drops every connection; a later call
    connects again."""

    def __init__(self, *, client_id: str = DEFAULT_CLIENT_ID,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        self._client_id = client_id
        self._timeout = request_timeout_s
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._correlation = itertools.count(1)

    async def write_txn_markers(self, host: str, port: int, markers: Sequence[TxnMarker]
                                ) -> dict[PartitionKey, ErrorCode]:
        """Send the markers to the broker at host:port; the error of each
        (producer_id, topic, partition) asked for."""
        asked = [(m.producer_id, topic, partition)
                 for m in markers for topic, partition in m.partitions]
        if not asked:
            return {}
        body = {"markers": [_marker_body(m) for m in markers]}
        try:
            response = await self._call(host, port, WRITE_TXN_MARKERS,
                                        WRITE_TXN_MARKERS_VERSION, body)
        except (OSError, EOFError, TimeoutError, ProtocolViolation) as exc:
            log.warning("WriteTxnMarkers to %s:%d failed (%s); %d partition(s) answer "
                        "NETWORK_EXCEPTION", host, port, _describe(exc), len(asked))
            return dict.fromkeys(asked, ErrorCode.NETWORK_EXCEPTION)
        return _errors_by_partition(response, asked, f"{host}:{port}")

    async def verify_partitions(
        self, host: str, port: int, transactional_id: str, producer_id: int,
        producer_epoch: int, partitions: Sequence[tuple[str, int]],
    ) -> dict[tuple[str, int], ErrorCode]:
        """Ask the transaction coordinator at host:port whether the partitions are in
        the producer's ongoing transaction (AddPartitionsToTxn, verify_only); the
        error of each partition, NETWORK_EXCEPTION for all when it cannot be asked."""
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        body = {"transactions": [{
            "transactional_id": transactional_id, "producer_id": producer_id,
            "producer_epoch": producer_epoch, "verify_only": True,
            "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}]}
        try:
            response = await self._call(host, port, ADD_PARTITIONS_TO_TXN,
                                        ADD_PARTITIONS_TO_TXN_VERSION, body)
        except (OSError, EOFError, TimeoutError, ProtocolViolation) as exc:
            log.warning("AddPartitionsToTxn to %s:%d failed (%s)", host, port, _describe(exc))
            return dict.fromkeys(partitions, ErrorCode.NETWORK_EXCEPTION)
        if int(response.error_code):
            return dict.fromkeys(partitions, _error_code(int(response.error_code)))
        answered = {(str(t.name), int(p.partition_index)): _error_code(int(p.partition_error_code))
                    for result in response.results_by_transaction
                    for t in result.topic_results for p in t.results_by_partition}
        return {tp: answered.get(tp, ErrorCode.UNKNOWN_SERVER_ERROR) for tp in partitions}

    async def close(self) -> None:
        connections = list(self._connections.values())
        self._connections.clear()
        for conn in connections:
            conn.close()
        for conn in connections:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()

    async def _call(self, host: str, port: int, api_key: int, version: int,
                    body: dict[str, Any]) -> Any:
        address = (host, port)
        lock = self._locks.setdefault(address, asyncio.Lock())
        # The time spent waiting behind other calls to this broker counts: calls
        # queued behind a broker that stopped answering all end within one
        # timeout of being made, not one timeout after another.
        async with asyncio.timeout(self._timeout), lock:
            try:
                conn = self._connections.get(address)
                if conn is None:
                    reader, writer = await asyncio.open_connection(host, port)
                    conn = self._connections[address] = _Connection(reader, writer)
                return await self._exchange(conn, api_key, version, body)
            except BaseException:
                # Whatever went wrong (a cancellation too), a response may still be
                # on its way on this connection: it cannot carry the next request.
                dropped = self._connections.pop(address, None)
                if dropped is not None:
                    dropped.close()
                raise

    async def _exchange(self, conn: _Connection, api_key: int, version: int,
                        body: dict[str, Any]) -> Any:
        correlation_id = next(self._correlation) & 0x7FFFFFFF
        request = encode_request(api_key, version, correlation_id, self._client_id, body)
        conn.writer.write(_SIZE.pack(len(request)) + request)
        await conn.writer.drain()
        (size,) = _SIZE.unpack(await conn.reader.readexactly(_SIZE.size))
        if not 0 < size <= MAX_RESPONSE_BYTES:
            raise ProtocolViolation(f"response size {size}")
        frame = await conn.reader.readexactly(size)
        answered = response_correlation_id(frame)
        if answered != correlation_id:
            raise ProtocolViolation(f"correlation id {answered}, expected {correlation_id}")
        return decode_response(api_key, version, frame)


def _marker_body(marker: TxnMarker) -> dict[str, Any]:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in marker.partitions:
        by_topic.setdefault(topic, []).append(partition)
    return {"producer_id": marker.producer_id, "producer_epoch": marker.producer_epoch,
            "transaction_result": marker.commit,
            "coordinator_epoch": marker.coordinator_epoch,
            "topics": [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]}


def _errors_by_partition(response: Any, asked: list[PartitionKey], peer: str
                         ) -> dict[PartitionKey, ErrorCode]:
    answered: dict[PartitionKey, ErrorCode] = {}
    for marker in response.markers:
        for topic in marker.topics:
            for p in topic.partitions:
                answered[(int(marker.producer_id), str(topic.name), int(p.partition_index))] = (
                    _error_code(int(p.error_code)))
    out: dict[PartitionKey, ErrorCode] = {}
    missing = 0
    for key in asked:
        code = answered.get(key)
        if code is None:
            # Kafka's coordinator treats a response without a partition it asked
            # for as a broken peer; retrying the marker is the safe answer.
            missing += 1
            code = ErrorCode.UNKNOWN_SERVER_ERROR
        out[key] = code
    if missing:
        log.warning("WriteTxnMarkers response from %s left out %d of %d partition(s)",
                    peer, missing, len(asked))
    return out


def _error_code(value: int) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        # A code kwire does not name yet: keep it retriable rather than fail the call.
        log.warning("a broker answered unknown error code %d", value)
        return ErrorCode.UNKNOWN_SERVER_ERROR


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no response in time"
    if isinstance(exc, EOFError):
        return "connection closed by the peer"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
