"""`LocalLogStore`: the data directory of the embedded broker, as a `LogStore`.

This module owns the data directory's top level, laid out as Kafka's log dir:
- `<topic>-<partition>/`: one partition's segments (see log.py);
- `log-start-offset-checkpoint`: log start offsets moved by DeleteRecords, in
  Kafka's checkpoint format (checkpoint.py), so they survive a restart;
- `recovery-point-offset-checkpoint`: per partition, the offset below which
  everything was fsynced (Kafka's file), written every minute and at shutdown;
  after a crash only the segments past it are recovered (recovery.py);
- `.kwire-clean-shutdown`: written by `close` after every log is flushed and
  removed at start. When it was there, opening a partition skips the checks of
  its active segment's tail (recovery.py); when not, every segment past the
  recovery point is verified and a torn or corrupt end is truncated;
- `.kwire-space-reserve`: the space kept back for checkpoint and metadata
  writes on a full disk (kwire.fs), taken back by `maintain` once there is room.

A partition whose files cannot be loaded at all stays offline (its calls raise
StorageError, answered KAFKA_STORAGE_ERROR) and `maintain` retries it; the
broker and every other partition carry on.

Deleting a partition renames its directory to `<dir>.<uuid>-delete` (Kafka's
convention, the topic part cut short to fit 255 bytes) before removing it, so a
crash midway never leaves a half-deleted directory that looks like a live
partition; leftovers are removed at start.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kwire.fs import MAX_FILE_NAME_BYTES, SpaceReserve, fsync_dir
from kwire.log.api import LogConfig, LogStore, TopicPartition
from kwire.log.local.checkpoint import read_checkpoint, write_checkpoint
from kwire.log.local.log import LocalLog

CLEAN_SHUTDOWN_MARKER = ".kwire-clean-shutdown"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
RECOVERY_POINT_CHECKPOINT_INTERVAL_MS = 60_000

_log = logging.getLogger("kwire.log")
_DELETED_SUFFIX = "-delete"


def parse_partition_dir(name: str) -> TopicPartition | None:
    """Kafka's LocalLog.parseTopicPartitionName: `<topic>-<partition>`; None for
    anything else (deleted or temporary directories)."""
    topic, dash, partition = name.rpartition("-")
    if not (dash and topic and partition.isascii() and partition.isdigit()):
        return None
    return TopicPartition(topic, int(partition))


def delete_dir_name(tp: TopicPartition, unique_id: str) -> str:
    """Kafka's LocalLog.logDeleteDirName: `<topic>-<partition>.<id>-delete`, the
    topic cut short so the name fits the file system's 255 bytes (topic names
    are ASCII, so characters are bytes)."""
    suffix = f"-{tp.partition}.{unique_id}{_DELETED_SUFFIX}"
    return tp.topic[: max(0, MAX_FILE_NAME_BYTES - len(suffix))] + suffix


class LocalLogStore:
    """Partition logs under `data_dir`; `now_ms` is the wall clock (injected so
    tests drive segment.ms / flush.ms with a manual clock)."""

    def __init__(self, data_dir: Path, now_ms: Callable[[], int]) -> None:
        self._dir = data_dir
        self._now_ms = now_ms
        data_dir.mkdir(parents=True, exist_ok=True)
        self._clean_start = self._take_clean_marker()
        self._remove_deleted_dirs()
        self._log_starts = read_checkpoint(data_dir / LOG_START_CHECKPOINT)
        self._recovery_points = read_checkpoint(data_dir / RECOVERY_POINT_CHECKPOINT)
        self.reserve = SpaceReserve(data_dir)
        self.reserve.refill()
        self._logs: dict[TopicPartition, LocalLog] = {}
        self._next_checkpoint_ms = 0
        # Logs closed (and flushed) in this process are clean to reopen, marker or not.
        self._closed_cleanly: set[TopicPartition] = set()

    @property
    def data_dir(self) -> Path:
        return self._dir

    async def open(self, tp: TopicPartition, config: LogConfig) -> LocalLog:
        """The open log of `tp` (reconfigured), or load/create it."""
        log = self._logs.get(tp)
        if log is not None:
            log.reconfigure(config)
            return log
        self._take_clean_marker()  # an open after close() must not look clean after a crash
        clean = self._clean_start or tp in self._closed_cleanly
        try:
            log = LocalLog.open(
                tp,
                self._dir / str(tp),
                config,
                clean=clean,
                checkpointed_log_start=self._log_starts.get(tp, 0),
                recovery_point=self._recovery_points.get(tp, 0),
                now_ms=self._now_ms,
                on_log_start_change=self._log_start_changed,
                on_close=self._log_closed,
            )
        except Exception as exc:  # unreadable files must not stop the broker
            _log.error("cannot load %s: %s; it stays offline (KAFKA_STORAGE_ERROR) and is "
                       "retried by housekeeping", tp, exc)
            log = LocalLog.unloaded(
                tp, self._dir / str(tp), config, reason=f"cannot load: {exc}",
                checkpointed_log_start=self._log_starts.get(tp, 0), now_ms=self._now_ms,
                on_log_start_change=self._log_start_changed, on_close=self._log_closed)
        self._logs[tp] = log
        self._closed_cleanly.discard(tp)
        return log

    async def delete(self, tp: TopicPartition) -> None:
        log = self._logs.pop(tp, None)
        if log is not None:
            log.close_files(flush=False)
        self._closed_cleanly.discard(tp)
        directory = self._dir / str(tp)
        if directory.exists():
            doomed = self._dir / delete_dir_name(tp, uuid.uuid4().hex)
            try:
                os.rename(directory, doomed)
            except OSError:
                # Not renamed: remove it where it is, for a directory left under
                # the partition's name would serve its old data to a new topic.
                shutil.rmtree(directory)
            else:
                fsync_dir(self._dir)
                shutil.rmtree(doomed, ignore_errors=True)
        # A topic created again under this name starts from nothing.
        self._recovery_points.pop(tp, None)
        if self._log_starts.pop(tp, None) is not None:
            self._write_checkpoint()

    def list(self) -> list[TopicPartition]:
        """Partitions with a directory here, open or not."""
        found = {parse_partition_dir(e.name) for e in os.scandir(self._dir) if e.is_dir()}
        return sorted(tp for tp in found if tp is not None)

    async def enforce_retention(self, now_ms: int) -> int:
        deleted = 0
        for log in list(self._logs.values()):
            try:
                deleted += log.enforce_retention(now_ms)
            except OSError as exc:  # one log's trouble must not stop the others' retention
                _log.warning("retention of %s failed: %s", log.tp, exc)
        if deleted:
            try:
                self._write_checkpoint()
            except OSError as exc:
                _log.warning("cannot write %s: %s", LOG_START_CHECKPOINT, exc)
        return deleted

    async def flush_due(self, now_ms: int) -> None:
        for log in list(self._logs.values()):
            log.flush_if_due(now_ms)

    async def maintain(self, now_ms: int) -> None:
        """Housekeeping: take the space reserve back once there is room, reload
        offline logs, and checkpoint recovery points every
        RECOVERY_POINT_CHECKPOINT_INTERVAL_MS (Kafka's
        log.flush.offset.checkpoint.interval.ms default)."""
        self.reserve.refill()
        for log in list(self._logs.values()):
            log.recover_if_offline()
        if now_ms >= self._next_checkpoint_ms:
            self._next_checkpoint_ms = now_ms + RECOVERY_POINT_CHECKPOINT_INTERVAL_MS
            try:
                self._write_recovery_points()
            except OSError as exc:
                _log.warning("cannot write %s: %s", RECOVERY_POINT_CHECKPOINT, exc)

    async def close(self) -> None:
        """Flush and close every log; the clean-shutdown marker is written only when
        all of that worked, so a failed flush (a full disk) means recovery next time."""
        clean = True
        for log in list(self._logs.values()):
            clean = log.close_files(flush=True) and clean
        try:
            # Every log start was written when it moved: no space reserve spent here.
            self._write_checkpoint(use_reserve=False)
            if clean:
                self._write_recovery_points()
                # The marker goes last: it promises that everything before it is on disk.
                fd = os.open(self._dir / CLEAN_SHUTDOWN_MARKER, os.O_WRONLY | os.O_CREAT, 0o644)
                os.close(fd)
                fsync_dir(self._dir)
        except OSError as exc:
            clean = False
            _log.error("shutdown could not write its checkpoints (%s)", exc)
        if not clean:
            _log.error("no clean-shutdown marker written: the next start recovers the logs")

    # -- internals -------------------------------------------------------------

    def _take_clean_marker(self) -> bool:
        marker = self._dir / CLEAN_SHUTDOWN_MARKER
        if not marker.exists():
            return False
        marker.unlink()
        fsync_dir(self._dir)  # a crash from here on must be seen as unclean
        return True

    def _remove_deleted_dirs(self) -> None:
        for entry in os.scandir(self._dir):
            if entry.is_dir() and entry.name.endswith(_DELETED_SUFFIX):
                shutil.rmtree(entry.path, ignore_errors=True)

    def _log_start_changed(self, log: LocalLog) -> None:
        self._log_starts[log.tp] = log.log_start_offset
        self._write_checkpoint()

    def _log_closed(self, log: LocalLog) -> None:
        self._log_starts[log.tp] = log.log_start_offset
        if log.offline_reason is None:
            self._recovery_points[log.tp] = log.recovery_point
        if self._logs.get(log.tp) is log:
            del self._logs[log.tp]
            self._closed_cleanly.add(log.tp)

    def _write_checkpoint(self, use_reserve: bool = True) -> None:
        for tp, log in self._logs.items():
            self._log_starts[tp] = log.log_start_offset
        write_checkpoint(self._dir / LOG_START_CHECKPOINT, self._log_starts,
                         self.reserve if use_reserve else None)

    def _write_recovery_points(self) -> None:
        for tp, log in self._logs.items():
            if log.offline_reason is None:
                self._recovery_points[tp] = log.recovery_point
        existing = set(self.list())
        points = {tp: p for tp, p in self._recovery_points.items() if tp in existing}
        # No reserve: a recovery point that lags only means more to check after a crash.
        write_checkpoint(self._dir / RECOVERY_POINT_CHECKPOINT, points)


if TYPE_CHECKING:

    def _conforms(store: LocalLogStore) -> LogStore:
        """Never called: mypy fails here when LocalLogStore drifts from the seam."""
        return store
