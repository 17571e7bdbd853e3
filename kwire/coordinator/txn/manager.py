"""The asyncio driver of the transaction coordinator: `__transaction_state`,
its shards, the order of writes, the markers, and the periodic aborts and
expiries.

Sharded as the group coordinator is: the transactional ids whose hash falls on
`__transaction_state` partition N (`partition_for`) live in shard N, loaded by
replaying the partition when this broker becomes its leader and dropped when it
stops leading it. The leader epoch of that partition is the coordinator epoch
the shard writes its markers with, so a partition refuses markers from a
coordinator that lost the shard (TRANSACTION_COORDINATOR_FENCED).

Every decision is a pure function of `metadata.py`; under the shard's lock the
driver decides, appends the record, and installs the new metadata only once it
is stored — a failed write leaves the old state in place and the client gets
Kafka's coordinator error. Markers are written outside the lock by one task
per completing transaction (the state is PREPARE_COMMIT/PREPARE_ABORT then,
which every other request answers with CONCURRENT_TRANSACTIONS); when every
partition has its marker the task stores COMPLETE_COMMIT/COMPLETE_ABORT. A new
coordinator that loads a shard with a prepared transaction finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kwire.coordinator.group.manager import Skipped, partition_for
from kwire.coordinator.host import InternalTopicHost
from kwire.coordinator.record_io import RecordDecodeError
from kwire.coordinator.shards import Shards
from kwire.coordinator.txn import metadata as txn
from kwire.coordinator.txn.metadata import (
    PREPARE_STATES,
    STATES_BY_NAME,
    FenceAndAbort,
    TopicPartitionKey,
    TxnMetadata,
    TxnState,
)
from kwire.coordinator.txn.records import (
    TransactionLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from kwire.errors import ErrorCode, KwireError, StorageError
from kwire.log.scan import stored_batches
from kwire.records.batch import InvalidBatch
from kwire.records.builder import build_batch, decode_records

log = logging.getLogger("kwire.transactions")

TRANSACTION_STATE_TOPIC = "__transaction_state"
# Kafka's TransactionStateManager topic configs (transaction.state.log.segment.bytes).
TRANSACTION_STATE_TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": "104857600"}
# Markers that could not be written are retried after this, doubling up to the cap.
_MARKER_RETRY_S = 0.1
_MARKER_RETRY_MAX_S = 2.0


class TxnHost(InternalTopicHost, Protocol):
    """What the transaction coordinator needs from the broker beyond the internal
    topic: producer ids, the shard's leader epoch, and marker writes."""

    async def allocate_producer_id(self) -> int:
        """A producer id no other producer has (StorageError when none can be had)."""
        ...

    def internal_leader_epoch(self, name: str, index: int) -> int:
        """The leader epoch of a partition this broker leads (-1 if it does not)."""
        ...

    def partition_exists(self, topic: str, index: int) -> bool:
        """The topic-partition is in the metadata (a deleted one needs no marker)."""
        ...

    async def write_txn_markers(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool,
        partitions: Sequence[TopicPartitionKey],
    ) -> dict[TopicPartitionKey, ErrorCode]:
        """Write a commit or abort marker to each partition, wherever it is led."""
        ...


@dataclass(frozen=True, slots=True)
class TxnSettings:
    """Kafka's broker settings of the transaction coordinator."""

    num_partitions: int = 50  # transaction.state.log.num.partitions
    max_timeout_ms: int = 900_000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604_800_000  # transactional.id.expiration.ms
    # transaction.abort.timed.out.transaction.cleanup.interval.ms
    abort_interval_ms: int = 10_000
    # transaction.remove.expired.transaction.cleanup.interval.ms
    expiry_interval_ms: int = 3_600_000


@dataclass(frozen=True, slots=True)
class InitResult:
    error_code: ErrorCode
    producer_id: int = -1
    producer_epoch: int = -1


class _Shard:
    def __init__(self, index: int) -> None:
        self.index = index
        self.coordinator_epoch = -1
        self.txns: dict[str, TxnMetadata] = {}
        self.lock = asyncio.Lock()
        self.ready = False
        self.retired = False
        self.markers: dict[str, asyncio.Task[None]] = {}


def append_error(code: ErrorCode) -> ErrorCode:
    """What a client is told when the coordinator could not store its change
    (Kafka's TransactionStateManager.appendTransactionToLog)."""
    if code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.REQUEST_TIMED_OUT):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return code


class TransactionManager:
    def __init__(self, host: TxnHost, settings: TxnSettings) -> None:
        self._host = host
        self.settings = settings
        self._shard_set: Shards[_Shard] = Shards(TRANSACTION_STATE_TOPIC, _Shard, self._load,
                                                 self._retire)
        self._shards = self._shard_set.held
        self._create_lock = asyncio.Lock()
        self._periodic: asyncio.Task[None] | None = None

    # ---- the topic and its shards ------------------------------------------------------

    @property
    def num_partitions(self) -> int:
        existing = self._host.internal_topic_partitions(TRANSACTION_STATE_TOPIC)
        return self.settings.num_partitions if existing is None else existing

    def partition_for(self, transactional_id: str) -> int:
        """Kafka's TransactionStateManager.partitionFor (the group hash)."""
        return partition_for(transactional_id, self.num_partitions)

    async def ensure_ready(self) -> None:
        """Create `__transaction_state` on first use (FindCoordinator), as Kafka does."""
        if self._host.internal_topic_partitions(TRANSACTION_STATE_TOPIC) is None:
            async with self._create_lock:
                if self._host.internal_topic_partitions(TRANSACTION_STATE_TOPIC) is None:
                    await self._host.create_internal_topic(
                        TRANSACTION_STATE_TOPIC, self.settings.num_partitions,
                        TRANSACTION_STATE_TOPIC_CONFIGS)
        await self.wait_loaded()

    async def wait_loaded(self) -> None:
        await self._shard_set.wait_loaded()

    def start(self) -> None:
        """Start the periodic timeout aborts and id expiry."""
        if self._periodic is None:
            self._periodic = asyncio.get_running_loop().create_task(self._run_periodic())

    async def on_leadership_change(self, gained: Iterable[int], lost: Iterable[int]) -> None:
        """Load or retire the shards of the `__transaction_state` partitions this
        broker gained or lost."""
        await self._shard_set.change(gained, lost)

    async def _retire(self, shard: _Shard) -> None:
        async with shard.lock:
            shard.retired = True
            for task in shard.markers.values():
                task.cancel()
            shard.markers.clear()
        log.info("unloaded the transaction coordinator of %s-%d",
                 TRANSACTION_STATE_TOPIC, shard.index)

    async def _load(self, shard: _Shard) -> None:
        async with shard.lock:
            if not shard.retired and not shard.ready:
                with contextlib.suppress(KwireError):
                    await self._load_locked(shard)

    async def _load_locked(self, shard: _Shard) -> None:
        """Replay the shard's partition and finish the transactions it left prepared."""
        partition_log = self._host.internal_log(TRANSACTION_STATE_TOPIC, shard.index)
        if partition_log is None:
            raise KwireError(ErrorCode.NOT_COORDINATOR)
        shard.coordinator_epoch = self._host.internal_leader_epoch(
            TRANSACTION_STATE_TOPIC, shard.index)
        txns: dict[str, TxnMetadata] = {}
        skipped = Skipped(f"{TRANSACTION_STATE_TOPIC}-{shard.index}")
        try:
            async for batch, header in stored_batches(partition_log):
                try:
                    records = decode_records(bytes(batch))
                except (InvalidBatch, ValueError) as exc:
                    skipped.add(header.base_offset, header.records_count, exc)
                    continue
                for record in records:
                    try:
                        _replay(txns, record.key, record.value)
                    except (RecordDecodeError, ValueError) as exc:
                        skipped.add(record.offset, 1, exc)
        except StorageError as exc:
            log.error("%s-%d could not be read (%s): its transactions wait for it",
                      TRANSACTION_STATE_TOPIC, shard.index, exc)
            raise KwireError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) from exc
        skipped.report()
        shard.txns = txns
        shard.ready = True
        for metadata in txns.values():
            if metadata.state in PREPARE_STATES:
                self._send_markers(shard, metadata)
        if txns:
            log.info("loaded %d transactional ids from %s-%d (coordinator epoch %d)",
                     len(txns), TRANSACTION_STATE_TOPIC, shard.index, shard.coordinator_epoch)

    async def _shard_for(self, transactional_id: str) -> _Shard:
        """The id's shard, loaded, with its lock NOT held; NOT_COORDINATOR when this
        broker does not hold it."""
        shard = self._shards.get(self.partition_for(transactional_id))
        if shard is None or shard.retired:
            raise KwireError(ErrorCode.NOT_COORDINATOR)
        if not shard.ready:
            async with shard.lock:
                if shard.retired:
                    raise KwireError(ErrorCode.NOT_COORDINATOR)
                if not shard.ready:
                    await self._load_locked(shard)
        return shard

    # ---- writes ------------------------------------------------------------------------

    async def _store(self, shard: _Shard, metadata: TxnMetadata) -> ErrorCode:
        """Append the metadata's record and install it; call with the lock held."""
        now = self._host.now_ms()
        key = encode_key(metadata.transactional_id)
        value = encode_value(_to_record(metadata))
        batch = bytearray(build_batch([(key, value, [])], base_timestamp=now))
        code = await self._host.append_internal(TRANSACTION_STATE_TOPIC, shard.index, batch, now)
        if code != ErrorCode.NONE:
            log.warning("storing transactional id %r in %s-%d failed: %s",
                        metadata.transactional_id, TRANSACTION_STATE_TOPIC, shard.index,
                        code.name)
            return append_error(code)
        shard.txns[metadata.transactional_id] = metadata
        return ErrorCode.NONE

    # ---- the APIs ----------------------------------------------------------------------

    async def init_producer_id(self, transactional_id: str, timeout_ms: int,
                               producer_id: int, producer_epoch: int) -> InitResult:
        if not 0 < timeout_ms <= self.settings.max_timeout_ms:
            return InitResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        shard = await self._shard_for(transactional_id)
        current = shard.txns.get(transactional_id)
        new_id = -1
        if current is None or current.epoch_exhausted:
            try:
                new_id = await self._host.allocate_producer_id()
            except StorageError as exc:
                log.warning("no producer id for %r: %s", transactional_id, exc)
                return InitResult(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        async with shard.lock:
            if shard.retired:
                return InitResult(ErrorCode.NOT_COORDINATOR)
            now = self._host.now_ms()
            current = shard.txns.get(transactional_id)
            if new_id == -1 and (current is None or current.epoch_exhausted):
                # It changed while the id was being allocated (expired, or worn out by
                # a concurrent call): the producer retries and gets one then.
                return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
            if current is None:
                current = txn.new_transaction(transactional_id, new_id, timeout_ms, now)
            decision = txn.init_producer_id(
                current, timeout_ms=timeout_ms, expected_pid=producer_id,
                expected_epoch=producer_epoch, now_ms=now, new_producer_id=new_id)
            if isinstance(decision, ErrorCode):
                return InitResult(decision)
            if isinstance(decision, FenceAndAbort):
                code = await self._store(shard, decision.metadata)
                if code == ErrorCode.NONE:
                    log.info("fenced producer %d of transactional id %r (epoch now %d) and "
                             "aborting its open transaction", decision.metadata.producer_id,
                             transactional_id, decision.metadata.producer_epoch)
                    self._send_markers(shard, decision.metadata)
                    code = ErrorCode.CONCURRENT_TRANSACTIONS
                return InitResult(code)
            code = await self._store(shard, decision)
            if code != ErrorCode.NONE:
                return InitResult(code)
            return InitResult(ErrorCode.NONE, decision.producer_id, decision.producer_epoch)

    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: Sequence[TopicPartitionKey]) -> ErrorCode:
        shard = await self._shard_for(transactional_id)
        async with shard.lock:
            if shard.retired:
                return ErrorCode.NOT_COORDINATOR
            decision = txn.add_partitions(shard.txns.get(transactional_id), producer_id,
                                          producer_epoch, partitions, self._host.now_ms())
            if isinstance(decision, ErrorCode):
                return decision
            return await self._store(shard, decision)

    async def verify_partitions(self, transactional_id: str, producer_id: int,
                                producer_epoch: int, partitions: Sequence[TopicPartitionKey]
                                ) -> dict[TopicPartitionKey, ErrorCode]:
        shard = await self._shard_for(transactional_id)
        return txn.verify_partitions(shard.txns.get(transactional_id), producer_id,
                                     producer_epoch, partitions)

    async def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int,
                      commit: bool) -> ErrorCode:
        shard = await self._shard_for(transactional_id)
        async with shard.lock:
            if shard.retired:
                return ErrorCode.NOT_COORDINATOR
            decision = txn.end_txn(shard.txns.get(transactional_id), producer_id,
                                   producer_epoch, commit, self._host.now_ms())
            if isinstance(decision, ErrorCode):
                return decision
            code = await self._store(shard, decision)
            if code == ErrorCode.NONE:
                # Transaction version 1: the client is answered once the decision is
                # stored; the markers follow (a new coordinator would finish them).
                self._send_markers(shard, decision)
            return code

    async def describe(self, transactional_id: str) -> TxnMetadata | ErrorCode:
        try:
            shard = await self._shard_for(transactional_id)
        except KwireError as exc:
            return exc.error_code
        metadata = shard.txns.get(transactional_id)
        if metadata is None or metadata.state == TxnState.DEAD:
            return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        return metadata

    async def list(self, states: Sequence[TxnState], producer_ids: Sequence[int],
                   duration_ms: int, pattern: re.Pattern[str] | None) -> list[TxnMetadata]:
        """Kafka's listTransactionStates over the shards this broker holds."""
        await self.wait_loaded()
        now = self._host.now_ms()
        found = []
        for index in sorted(self._shards):
            shard = self._shards[index]
            for metadata in shard.txns.values():
                if metadata.state == TxnState.DEAD:
                    continue
                if producer_ids and metadata.producer_id not in producer_ids:
                    continue
                if states and metadata.state not in states:
                    continue
                if duration_ms >= 0 and now - metadata.start_ms <= duration_ms:
                    continue
                if pattern is not None and pattern.fullmatch(metadata.transactional_id) is None:
                    continue
                found.append(metadata)
        return found

    # ---- markers -----------------------------------------------------------------------

    def _send_markers(self, shard: _Shard, metadata: TxnMetadata) -> None:
        old = shard.markers.pop(metadata.transactional_id, None)
        if old is not None:
            old.cancel()
        task = asyncio.get_running_loop().create_task(self._complete(shard, metadata))
        shard.markers[metadata.transactional_id] = task
        task.add_done_callback(functools.partial(self._markers_done, shard,
                                                 metadata.transactional_id))

    @staticmethod
    def _markers_done(shard: _Shard, transactional_id: str, task: asyncio.Task[None]) -> None:
        if shard.markers.get(transactional_id) is task:
            del shard.markers[transactional_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("completing the transaction of %r failed", transactional_id,
                      exc_info=task.exception())

    async def _complete(self, shard: _Shard, metadata: TxnMetadata) -> None:
        """Write the markers of a prepared transaction, then store its completion.
        Retries until done or until this broker loses the shard."""
        commit = metadata.state == TxnState.PREPARE_COMMIT
        pending = set(metadata.partitions)
        delay = _MARKER_RETRY_S
        while pending:
            try:
                results = await self._host.write_txn_markers(
                    metadata.producer_id, metadata.producer_epoch, shard.coordinator_epoch,
                    commit, sorted(pending))
            except Exception:  # a bug must not leave the transaction prepared for good
                log.exception("writing the markers of %r failed; retrying",
                              metadata.transactional_id)
                results = {}
            for tp, code in results.items():
                if code == ErrorCode.NONE or not self._host.partition_exists(*tp):
                    pending.discard(tp)  # written, or the topic was deleted meanwhile
                elif code in (ErrorCode.INVALID_PRODUCER_EPOCH,
                              ErrorCode.TRANSACTION_COORDINATOR_FENCED):
                    # A newer coordinator or producer epoch wrote there: this
                    # coordinator is stale; the one that holds the shard finishes.
                    log.warning("stopped writing markers of %r to %s-%d: %s",
                                metadata.transactional_id, tp[0], tp[1], code.name)
                    return
            if pending:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MARKER_RETRY_MAX_S)
        delay = _MARKER_RETRY_S
        while True:
            async with shard.lock:
                current = shard.txns.get(metadata.transactional_id)
                if shard.retired or current != metadata:
                    return  # unloaded, or superseded (cannot happen while prepared)
                code = await self._store(shard, txn.complete(metadata, self._host.now_ms()))
                if code in (ErrorCode.NONE, ErrorCode.NOT_COORDINATOR):
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MARKER_RETRY_MAX_S)

    # ---- timeouts and expiry -----------------------------------------------------------

    async def _run_periodic(self) -> None:
        abort_every = self.settings.abort_interval_ms / 1000
        expire_every = self.settings.expiry_interval_ms / 1000
        loop = asyncio.get_running_loop()
        next_expiry = loop.time() + expire_every
        while True:
            await asyncio.sleep(abort_every)
            try:
                await self.abort_timed_out()
                if loop.time() >= next_expiry:
                    next_expiry = loop.time() + expire_every
                    await self.expire_ids()
            except Exception:  # one bad round must not end the task
                log.exception("transaction coordinator upkeep failed")

    async def _each_loaded_shard(self) -> AsyncIterator[_Shard]:
        """Every loaded shard in turn, its lock held while the caller works on it."""
        for shard in list(self._shards.values()):
            if not shard.ready:
                continue
            async with shard.lock:
                if not shard.retired:
                    yield shard

    async def abort_timed_out(self) -> int:
        """Abort, under a bumped epoch, every ongoing transaction past its timeout
        (Kafka's abortTimedOutTransactions); returns how many."""
        aborted = 0
        async for shard in self._each_loaded_shard():
            now = self._host.now_ms()
            for metadata in [m for m in shard.txns.values() if txn.timed_out(m, now)]:
                fenced = txn.fence(metadata, now)
                if await self._store(shard, fenced) == ErrorCode.NONE:
                    log.info("aborting the transaction of %r: open for more than its "
                             "timeout of %d ms", metadata.transactional_id, metadata.timeout_ms)
                    self._send_markers(shard, fenced)
                    aborted += 1
        return aborted

    async def expire_ids(self) -> int:
        """Forget idle transactional ids (transactional.id.expiration.ms) with a
        tombstone each; returns how many."""
        removed = 0
        async for shard in self._each_loaded_shard():
            now = self._host.now_ms()
            gone = [m.transactional_id for m in shard.txns.values()
                    if txn.expired(m, now, self.settings.id_expiration_ms)]
            if not gone:
                continue
            batch = bytearray(build_batch([(encode_key(t), None, []) for t in gone],
                                          base_timestamp=now))
            code = await self._host.append_internal(TRANSACTION_STATE_TOPIC, shard.index,
                                                    batch, now)
            if code != ErrorCode.NONE:
                log.warning("expiring %d transactional ids failed: %s", len(gone), code.name)
                continue
            for transactional_id in gone:
                del shard.txns[transactional_id]
            removed += len(gone)
        if removed:
            log.info("expired %d transactional ids idle for %d ms", removed,
                     self.settings.id_expiration_ms)
        return removed

    async def close(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
        self._shard_set.cancel_loads()
        for shard in self._shards.values():
            for task in shard.markers.values():
                task.cancel()


def _replay(txns: dict[str, TxnMetadata], key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    transactional_id = decode_key(key)
    if transactional_id is None:
        return
    if value is None:
        txns.pop(transactional_id, None)
        return
    txns[transactional_id] = _from_record(transactional_id, decode_value(value))


def _to_record(metadata: TxnMetadata) -> TransactionLogValue:
    return TransactionLogValue(
        metadata.producer_id, metadata.producer_epoch, metadata.timeout_ms,
        int(metadata.state), tuple(sorted(metadata.partitions)), metadata.last_update_ms,
        metadata.start_ms, previous_producer_id=metadata.previous_producer_id)


def _from_record(transactional_id: str, value: TransactionLogValue) -> TxnMetadata:
    try:
        state = TxnState(value.transaction_status)
    except ValueError as exc:
        raise RecordDecodeError(f"unknown transaction status {value.transaction_status}") from exc
    return TxnMetadata(
        transactional_id, value.producer_id, value.producer_epoch,
        value.transaction_timeout_ms, state, frozenset(value.partitions),
        value.start_timestamp_ms, value.last_update_timestamp_ms,
        previous_producer_id=value.previous_producer_id)


def state_filters(names: Sequence[str]) -> tuple[list[TxnState], list[str]]:
    """ListTransactions' state filters: the known states, and the unknown names."""
    known = [STATES_BY_NAME[n] for n in names if n in STATES_BY_NAME]
    return known, [n for n in names if n not in STATES_BY_NAME]

