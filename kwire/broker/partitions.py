"""Topic-partitions this broker leads: the log, the leader epoch, producer state,
and the waiters of long-polling fetches.

`Partition.append` is the produce hot path: the batch header was validated by
the handler; here come the idempotence and transaction checks, LogAppendTime,
the append to the `PartitionLog`, and waking fetches. Records are never decoded.

Transactions (KIP-98): `write_txn_marker` appends a commit/abort marker for the
transaction coordinator, `offsets()` carries the last stable offset (LSO) and
`aborted_transactions` answers read_committed fetches (kwire/broker/txn_index.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kwire.broker.producer_state import (
    DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    Append,
    Duplicate,
    ProducerStateManager,
    Reject,
)
from kwire.broker.txn_index import AbortedTxn
from kwire.broker.unopened_log import UnopenedLog
from kwire.errors import ErrorCode, StorageError
from kwire.fs import MAX_FILE_NAME_BYTES
from kwire.log.api import (
    AbortedTxnIndex,
    LogConfig,
    LogFenced,
    LogOffsets,
    LogStore,
    PartitionLog,
    ProducerSnapshots,
    TopicPartition,
)
from kwire.log.scan import stored_batches
from kwire.records.batch import BatchHeader, parse_header, set_log_append_time
from kwire.records.builder import EndTxnMarker, build_end_txn_marker
from kwire.records.validator import Settings

log = logging.getLogger("kwire.partitions")

_STORAGE_WARNING_EVERY_SECONDS = 10
# Records a log must move past its last producer-state snapshot before the next
# (logs that keep snapshots themselves: cluster storage).
SNAPSHOT_MIN_OFFSETS = 10_000


@dataclass(frozen=True, slots=True)
class ProduceOutcome:
    error_code: ErrorCode
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


class Partition:
    def __init__(self, tp: TopicPartition, log_: PartitionLog, leader_epoch: int) -> None:
        self.tp = tp
        self.log = log_
        self.leader_epoch = leader_epoch
        # Where the current leader epoch began: the log end when this broker took
        # the partition over. Data is never truncated (the log is shared storage),
        # so it is the end offset of every earlier epoch as far as a client's
        # position can tell (OffsetForLeaderEpoch, KIP-320).
        self.epoch_start_offset = 0
        self.producers = ProducerStateManager()
        self.max_message_bytes = 1048588
        # What LogValidator checks in produced batches, from the topic's configs.
        self.validation = Settings()
        self.producer_id_expiration_ms = DEFAULT_PRODUCER_ID_EXPIRATION_MS
        self._waiters: set[asyncio.Future[None]] = set()
        # Serialises idempotent appends so a duplicate check never races the
        # append it duplicates (a producer may retry on a new connection).
        self._idempotent_lock = asyncio.Lock()
        # False while the log could not be read to rebuild producer state (it was
        # offline at open): idempotent appends retry the replay first.
        self.producer_state_loaded = False
        # The log offset of the producer state last stored in (or read from) the log.
        self.snapshot_offset = -1
        self._quiet_until = 0.0  # storage warnings are not repeated before this
        # Another owner took the log over (LogFenced): this broker no longer leads
        # the partition and answers NOT_LEADER_OR_FOLLOWER for it.
        self.fenced = False

    @property
    def log_append_time(self) -> bool:
        """message.timestamp.type=LogAppendTime: one setting, kept in `validation`."""
        return self.validation.log_append_time

    async def replay_producer_state(self, now_ms: int) -> None:
        """Rebuild idempotent-producer state: from the log's own snapshot and the
        batches after it when the log keeps snapshots (cluster storage), else by
        reading every stored batch header; only producers not yet expired at
        `now_ms` are kept."""
        start = None
        if isinstance(self.log, ProducerSnapshots):
            start = await self._load_log_snapshot()
        if start is None:
            self.producers = ProducerStateManager()
            start = self.log.offsets().log_start_offset
        # Markers are read whole (their record says commit or abort); data batches
        # by their header alone.
        self.producers.rebuild_from(
            [(header, bytes(batch)) if header.is_control else header
             async for batch, header in stored_batches(self.log, start)
             if header.has_producer_id])
        self.producers.truncate_head(self.log.offsets().log_start_offset)
        self.producers.remove_expired(now_ms, self.producer_id_expiration_ms)
        self.producer_state_loaded = True
        self.snapshot_offset = start

    async def _load_log_snapshot(self) -> int | None:
        """The state of the log's snapshot, and the offset to replay from; None
        when there is none usable (replay everything instead)."""
        assert isinstance(self.log, ProducerSnapshots)
        found = await self.log.read_producer_snapshot()
        if found is None:
            return None
        offset, data = found
        offsets = self.log.offsets()
        if not offsets.log_start_offset <= offset <= offsets.log_end_offset:
            return None
        try:
            self.producers = ProducerStateManager.from_snapshot(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: ignoring a damaged producer state snapshot: %s", self.tp, exc)
            return None
        return offset

    async def write_log_snapshot(self, now_ms: int) -> bool:
        """Store the producer state in the log (cluster storage), so a new owner
        replays only the batches after it; Kafka snapshots at each segment roll.
        The state and its offset are taken together under the idempotent lock:
        no idempotent append is between its log write and its state update then.
        A snapshot costs a ledger and a few ZooKeeper writes, so one is taken
        only once the log has moved SNAPSHOT_MIN_OFFSETS past the last: a new
        owner replays at most that many records' batch headers."""
        if not isinstance(self.log, ProducerSnapshots) or not self.producer_state_loaded:
            return False
        async with self._idempotent_lock:
            offset = self.log.offsets().high_watermark
            replay_from = max(self.snapshot_offset, self.log.offsets().log_start_offset)
            if offset - replay_from < SNAPSHOT_MIN_OFFSETS:
                return False
            self.producers.remove_expired(now_ms, self.producer_id_expiration_ms)
            self.producers.truncate_head(self.log.offsets().log_start_offset)
            data = json.dumps(self.producers.to_snapshot()).encode()
        await self.log.write_producer_snapshot(offset, data)
        self.snapshot_offset = offset
        return True

    def offsets(self) -> LogOffsets:
        """The log's offsets, with the partition's last stable offset: the first
        offset of the earliest ongoing transaction when below the high watermark,
        else the high watermark (UnifiedLog)."""
        offsets = self.log.offsets()
        lso = self.producers.txns.last_stable_offset(offsets.high_watermark)
        if lso == offsets.last_stable_offset:
            return offsets
        return LogOffsets(offsets.log_start_offset, offsets.high_watermark, lso,
                          offsets.log_end_offset)

    def has_transactions(self) -> bool:
        """A transaction is open here, or the aborted index holds one."""
        return not self.producers.txns.empty()

    def in_transaction(self, producer_id: int, producer_epoch: int) -> bool:
        """The producer has a transaction open here under this epoch (Kafka's
        UnifiedLog.hasOngoingTransaction): its next transactional write needs no
        check with the coordinator."""
        entry = self.producers.get(producer_id)
        return (entry is not None and entry.producer_epoch == producer_epoch
                and self.producers.txns.current_txn_first_offset(producer_id) >= 0)

    def aborted_transactions(self, fetch_offset: int, upper_bound_offset: int
                             ) -> list[AbortedTxn]:
        """The aborted transactions a read_committed fetch of [fetch_offset,
        upper_bound_offset) must be told about (Kafka's collectAbortedTransactions)."""
        self.producers.truncate_head(self.log.offsets().log_start_offset)
        return self.producers.txns.collect_aborted(fetch_offset, upper_bound_offset)

    async def append(self, batch: bytearray, header: BatchHeader, now_ms: int, *,
                     from_coordinator: bool = False) -> ProduceOutcome:
        """Append one validated batch. `from_coordinator`: the broker writes it
        itself (TxnOffsetCommit records in __consumer_offsets, sequence -1), so
        sequences are not checked, epochs and transaction state are (Kafka's
        AppendOrigin.COORDINATOR)."""
        try:
            if header.has_producer_id:
                async with self._idempotent_lock:
                    if not self.producer_state_loaded:
                        await self.replay_producer_state(now_ms)
                    return await self._append_idempotent(batch, header, now_ms,
                                                         from_coordinator)
            return await self._append(batch, now_ms)
        except StorageError as exc:
            return ProduceOutcome(ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(exc))
        except LogFenced as exc:
            self._lose(exc)
            return ProduceOutcome(ErrorCode.NOT_LEADER_OR_FOLLOWER)

    def _lose(self, exc: LogFenced) -> None:
        if not self.fenced:
            log.warning("%s: another owner took the log over (%s); this broker no longer "
                        "leads it", self.tp, exc)
        self.fenced = True
        self._wake()

    async def write_txn_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool,
        now_ms: int,
    ) -> ErrorCode:
        """Append a COMMIT or ABORT marker for the producer's transaction (Kafka's
        WriteTxnMarkers append, origin COORDINATOR, transaction version 0/1). It is
        written even when no transaction is ongoing here, as Kafka does; an older
        producer epoch is INVALID_PRODUCER_EPOCH, an older coordinator epoch than
        the producer's last marker TRANSACTION_COORDINATOR_FENCED."""
        try:
            async with self._idempotent_lock:
                if not self.producer_state_loaded:
                    await self.replay_producer_state(now_ms)
                code = self.producers.check_marker(producer_id, producer_epoch,
                                                   coordinator_epoch)
                if code != ErrorCode.NONE:
                    return code
                batch = bytearray(build_end_txn_marker(
                    producer_id, producer_epoch, coordinator_epoch, commit, now_ms))
                outcome = await self._append(batch, now_ms)
                if outcome.error_code == ErrorCode.NONE:
                    # The stored timestamp: the append time on a LogAppendTime topic.
                    timestamp = parse_header(batch).max_timestamp
                    completed = self.producers.record_marker(
                        producer_id, producer_epoch, timestamp,
                        EndTxnMarker(commit, coordinator_epoch), outcome.base_offset)
                    if (completed is not None and completed.is_aborted
                            and isinstance(self.log, AbortedTxnIndex)):
                        # Its .txnindex mirror (written here only, never on replay):
                        # the entry the aborted index just recorded.
                        entry = self.producers.txns.last_aborted()
                        self.log.append_aborted_txn(entry.producer_id, entry.first_offset,
                                                    entry.last_offset, entry.last_stable_offset)
                    # _append woke the fetches waiting on this partition (the LSO
                    # may have moved); they run only after this state is updated.
                return outcome.error_code
        except StorageError:
            return ErrorCode.KAFKA_STORAGE_ERROR
        except LogFenced as exc:
            self._lose(exc)
            return ErrorCode.NOT_LEADER_OR_FOLLOWER

    async def _append_idempotent(
        self, batch: bytearray, header: BatchHeader, now_ms: int, from_coordinator: bool = False
    ) -> ProduceOutcome:
        decision = self.producers.check(
            header.producer_id, header.producer_epoch, header.base_sequence,
            header.last_sequence, transactional=header.is_transactional,
            from_coordinator=from_coordinator,
        )
        if isinstance(decision, Reject):
            # Kafka's OutOfOrderSequence / InvalidProducerEpoch go through
            # processFailedRecord: answered with the log start offset.
            return ProduceOutcome(ErrorCode(decision.error_code),
                                  log_start_offset=self.log.offsets().log_start_offset)
        if isinstance(decision, Duplicate):
            # Kafka answers a retried batch with the offset it got the first time and,
            # as log_append_time, the timestamp it stored for it (the append time on a
            # LogAppendTime topic, the batch's max timestamp on a CreateTime one).
            return ProduceOutcome(
                ErrorCode.NONE, decision.first_offset, decision.timestamp,
                self.log.offsets().log_start_offset,
            )
        assert isinstance(decision, Append)
        outcome = await self._append(batch, now_ms)
        if outcome.error_code == ErrorCode.NONE:
            self.producers.record(
                header.producer_id, header.producer_epoch, header.base_sequence,
                header.last_sequence, outcome.base_offset,
                outcome.base_offset + header.last_offset_delta,
                now_ms if self.log_append_time else header.max_timestamp,
                header.is_transactional,
            )
        return outcome

    async def _append(self, batch: bytearray, now_ms: int) -> ProduceOutcome:
        append_time = -1
        if self.log_append_time:
            set_log_append_time(batch, 0, now_ms)
            append_time = now_ms
        if self.fenced:
            return ProduceOutcome(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        try:
            result = await self.log.append(batch, self.leader_epoch)
        except LogFenced as exc:
            self._lose(exc)
            return ProduceOutcome(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        except StorageError as exc:
            # One line per partition every few seconds: a full disk fails every retry.
            now = time.monotonic()
            if now >= self._quiet_until:
                self._quiet_until = now + _STORAGE_WARNING_EVERY_SECONDS
                log.warning("%s (repeats are not logged for %d s)", exc,
                            _STORAGE_WARNING_EVERY_SECONDS)
            return ProduceOutcome(ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(exc))
        except Exception:
            log.exception("append to %s failed", self.tp)
            return ProduceOutcome(ErrorCode.KAFKA_STORAGE_ERROR)
        self._wake()
        return ProduceOutcome(ErrorCode.NONE, result.base_offset, append_time,
                              result.log_start_offset)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def add_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.add(fut)

    def remove_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.discard(fut)


def snapshot_file_name(tp: TopicPartition) -> str:
    """`<topic>-<partition>.json`, or, when that would not fit the file system's
    255 bytes (the longest topic names), the topic cut short and told apart
    by a hash of its full name, as Kafka caps its `-delete` directory names."""
    name = f"{tp}.json"
    if len(name.encode()) <= MAX_FILE_NAME_BYTES:
        return name
    digest = hashlib.sha256(tp.topic.encode()).hexdigest()[:16]
    suffix = f"-{tp.partition}.{digest}.json"
    return tp.topic[: MAX_FILE_NAME_BYTES - len(suffix)] + suffix


class PartitionManager:
    """Opens the logs of the partitions this broker leads and hands them out.

    Producer state is rebuilt by reading the whole log, which is slow for big
    logs; so a clean shutdown writes each partition's state to
    `snapshot_dir/<topic>-<partition>.json` with the log end offset it matches,
    and the next open uses it when the log still ends there. The file is removed
    as soon as it is read, so a crash later never finds a stale one.

    Producer ids expire (Kafka's ProducerStateManager.removeExpiredProducers):
    `remove_expired_producers` drops every producer whose last write is
    producer.id.expiration.ms old; the broker calls it every
    producer.id.expiration.check.interval.ms. State loaded at open (snapshot or
    replay) and state written at shutdown leave expired producers out, as
    Kafka's loadFromSnapshot does, so a restart never brings them back.
    """

    def __init__(
        self, store: LogStore, snapshot_dir: Path | None = None, *,
        producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._store = store
        self._snapshot_dir = snapshot_dir
        self._partitions: dict[TopicPartition, Partition] = {}
        # Partitions given up whose logs are still closing.
        self._closing: set[TopicPartition] = set()
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._now_ms = now_ms

    def remove_expired_producers(self) -> tuple[int, int]:
        """Forget expired producers in every partition whose state is loaded;
        returns (how many were removed, how many remain)."""
        now = self._now_ms()
        removed = remaining = 0
        for partition in self._partitions.values():
            if partition.producer_state_loaded:
                removed += len(partition.producers.remove_expired(
                    now, partition.producer_id_expiration_ms))
            remaining += len(partition.producers)
        return removed, remaining

    def producer_count(self) -> int:
        """Producer ids with state, across every partition (one per partition)."""
        return sum(len(p.producers) for p in self._partitions.values())

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._partitions.get(tp)

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    async def open(
        self, tp: TopicPartition, leader_epoch: int, config: LogConfig,
        log_append_time: bool, max_message_bytes: int, validation: Settings | None = None,
    ) -> Partition:
        partition = self._partitions.get(tp)
        if partition is None:
            try:
                opened: PartitionLog = await self._store.open(tp, config)
            except (StorageError, LogFenced) as exc:
                opened = UnopenedLog(tp, config, exc)
            partition = Partition(tp, opened, leader_epoch)
            if isinstance(opened, UnopenedLog):
                self._not_opened(partition, opened.reason)
            else:
                partition.epoch_start_offset = opened.offsets().log_end_offset
            partition.producer_id_expiration_ms = self.producer_id_expiration_ms
            try:
                if self._load_snapshot(partition):
                    partition.producer_state_loaded = True
                else:
                    await partition.replay_producer_state(self._now_ms())
            except StorageError as exc:
                log.error("producer state of %s not loaded yet: %s", tp, exc)
            self._partitions[tp] = partition
        else:
            partition.log.reconfigure(config)
            partition.leader_epoch = leader_epoch
        partition.max_message_bytes = max_message_bytes
        partition.validation = validation or Settings(log_append_time=log_append_time)
        return partition

    @staticmethod
    def _not_opened(partition: Partition, reason: StorageError | LogFenced) -> None:
        if isinstance(reason, LogFenced):
            partition._lose(reason)
        else:
            log.error("%s could not be opened, retrying: %s", partition.tp, reason)

    async def open_unopened(self) -> None:
        """Try again to open the logs that could not be opened (each on its own
        backoff); the broker's housekeeping calls this every second."""
        now = time.monotonic()
        for partition in list(self._partitions.values()):
            stand_in = partition.log
            if not isinstance(stand_in, UnopenedLog) or partition.fenced or now < stand_in.retry_at:
                continue
            try:
                partition.log = await self._store.open(partition.tp, stand_in.config)
            except (StorageError, LogFenced) as exc:
                stand_in.failed_again(exc)
                self._not_opened(partition, exc)
                continue
            log.info("%s is open again", partition.tp)
            partition.epoch_start_offset = partition.log.offsets().log_end_offset
            partition.producer_state_loaded = False
            try:
                await partition.replay_producer_state(self._now_ms())
            except StorageError as exc:
                log.error("producer state of %s not loaded yet: %s", partition.tp, exc)
            partition._wake()

    def _snapshot_path(self, tp: TopicPartition) -> Path | None:
        return None if self._snapshot_dir is None else self._snapshot_dir / snapshot_file_name(tp)

    def _load_snapshot(self, partition: Partition) -> bool:
        path = self._snapshot_path(partition.tp)
        if isinstance(partition.log, ProducerSnapshots):
            return False  # the log keeps its own (replay_producer_state reads it)
        if path is None or not path.exists():
            return False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            path.unlink()
            if int(data["log_end_offset"]) != partition.log.offsets().log_end_offset:
                return False
            producers = ProducerStateManager.from_snapshot(data["state"])
            producers.remove_expired(self._now_ms(), self.producer_id_expiration_ms)
            partition.producers = producers
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring producer state snapshot %s: %s", path, exc)
            return False
        return True

    def _write_snapshots(self) -> None:
        if self._snapshot_dir is None:
            return
        now = self._now_ms()
        for tp, partition in self._partitions.items():
            if partition.producer_state_loaded:
                partition.producers.remove_expired(now, partition.producer_id_expiration_ms)
            if (not len(partition.producers) or not partition.producer_state_loaded
                    or isinstance(partition.log, ProducerSnapshots)):
                continue
            path = self._snapshot_dir / snapshot_file_name(tp)
            tmp = path.with_suffix(".tmp")
            try:
                # Made only when needed: a broker on cluster storage writes no files.
                self._snapshot_dir.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps({
                    "log_end_offset": partition.log.offsets().log_end_offset,
                    "state": partition.producers.to_snapshot(),
                }), encoding="utf-8")
                tmp.replace(path)
            except (OSError, StorageError) as exc:  # the next start replays this log
                log.warning("no producer state snapshot for %s: %s", tp, exc)
                tmp.unlink(missing_ok=True)

    async def delete(self, tp: TopicPartition) -> None:
        path = self._snapshot_path(tp)
        if path is not None:
            path.unlink(missing_ok=True)
        partition = self._partitions.pop(tp, None)
        if partition is not None:
            partition._wake()
            await partition.log.close()
        await self._store.delete(tp)

    async def close_partition(self, tp: TopicPartition) -> None:
        """Stop leading `tp`: its waiters wake (and find it gone) and the log is
        closed; the data stays for the next leader. A storage failure here is only
        logged: the next leader fences and recovers the log either way."""
        partition = self._partitions.pop(tp, None)
        if partition is None:
            return
        partition.fenced = True  # appends racing this close answer NOT_LEADER_OR_FOLLOWER
        partition._wake()
        # No producer-state snapshot here: the next leader is already taking the
        # log over, and a snapshot would only race its takeover for the ledger list.
        self._closing.add(tp)
        try:
            await partition.log.close()
        except (StorageError, LogFenced) as exc:
            log.info("closing %s while giving it up: %s", tp, exc)
        finally:
            self._closing.discard(tp)

    def leads_nothing(self) -> bool:
        """No partition is open or still closing (controlled shutdown waits for
        this, so the session does not end under a log recording its last ledger)."""
        return not self._partitions and not self._closing

    async def write_log_snapshots(self) -> int:
        """Store each partition's producer state in its log, where the log keeps
        snapshots (cluster storage) and the state moved since the last one;
        returns how many were written. A failure only means a longer replay."""
        written = 0
        for partition in list(self._partitions.values()):
            if partition.fenced:
                continue
            try:
                written += await partition.write_log_snapshot(self._now_ms())
            except LogFenced as exc:
                partition._lose(exc)
            except StorageError as exc:
                log.warning("no producer state snapshot for %s: %s", partition.tp, exc)
        return written

    async def close(self) -> None:
        await self.write_log_snapshots()
        for partition in self._partitions.values():
            partition._wake()
        try:
            self._write_snapshots()
        except OSError as exc:  # the next start replays the logs instead
            log.warning("could not write producer state snapshots: %s", exc)
        self._partitions.clear()
        await self._store.close()
