"""`LocalLogStore`: the data directory of the embedded broker, as a `LogStore`.

This module owns the data directory's top level, laid out as Kafka's log dir:
- `<topic>-<partition>/`: one partition's segments (see log.py);
- `log-start-offset-checkpoint`: log start offsets moved by DeleteRecords, in
  Kafka's checkpoint format (checkpoint.py), so they survive a restart;
- `.kwire-clean-shutdown`: written by `close` after every log is flushed and
  removed at start. When it was there, opening a partition skips the CRC check
  of its active segment's tail (recovery.py); when not, the tail is verified
  and a torn or corrupt end is truncated.

Deleting a partition renames its directory to `<dir>.<uuid>-delete` (Kafka's
convention) before removing it, so a crash midway never leaves a half-deleted
directory that looks like a live partition; leftovers are removed at start.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kwire.log.api import LogConfig, LogStore, TopicPartition
from kwire.log.local.checkpoint import fsync_dir, read_checkpoint, write_checkpoint
from kwire.log.local.log import LocalLog

CLEAN_SHUTDOWN_MARKER = ".kwire-clean-shutdown"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
_DELETED_SUFFIX = "-delete"


def parse_partition_dir(name: str) -> TopicPartition | None:
    """Kafka's LocalLog.parseTopicPartitionName: `<topic>-<partition>`; None for
    anything else (deleted or temporary directories)."""
    topic, dash, partition = name.rpartition("-")
    if not (dash and topic and partition.isdigit()):
        return None
    return TopicPartition(topic, int(partition))


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
        self._logs: dict[TopicPartition, LocalLog] = {}
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
        log = LocalLog.open(
            tp,
            self._dir / str(tp),
            config,
            clean=self._clean_start or tp in self._closed_cleanly,
            checkpointed_log_start=self._log_starts.get(tp, 0),
            now_ms=self._now_ms,
            on_log_start_change=self._log_start_changed,
            on_close=self._log_closed,
        )
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
            doomed = directory.with_name(f"{directory.name}.{uuid.uuid4().hex}{_DELETED_SUFFIX}")
            os.rename(directory, doomed)
            fsync_dir(self._dir)
            shutil.rmtree(doomed, ignore_errors=True)
        if self._log_starts.pop(tp, None) is not None:
            self._write_checkpoint()

    def list(self) -> list[TopicPartition]:
        """Partitions with a directory here, open or not."""
        found = {parse_partition_dir(e.name) for e in os.scandir(self._dir) if e.is_dir()}
        return sorted(tp for tp in found if tp is not None)

    async def enforce_retention(self, now_ms: int) -> int:
        deleted = sum(log.enforce_retention(now_ms) for log in list(self._logs.values()))
        if deleted:
            self._write_checkpoint()
        return deleted

    async def flush_due(self, now_ms: int) -> None:
        for log in list(self._logs.values()):
            log.flush_if_due(now_ms)

    async def close(self) -> None:
        for log in list(self._logs.values()):
            log.close_files(flush=True)
        self._write_checkpoint()
        # The marker goes last: it promises that everything before it is on disk.
        fd = os.open(self._dir / CLEAN_SHUTDOWN_MARKER, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        fsync_dir(self._dir)

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
        if self._logs.get(log.tp) is log:
            del self._logs[log.tp]
            self._closed_cleanly.add(log.tp)

    def _write_checkpoint(self) -> None:
        for tp, log in self._logs.items():
            self._log_starts[tp] = log.log_start_offset
        write_checkpoint(self._dir / LOG_START_CHECKPOINT, self._log_starts)


if TYPE_CHECKING:

    def _conforms(store: LocalLogStore) -> LogStore:
        """Never called: mypy fails here when LocalLogStore drifts from the seam."""
        return store
