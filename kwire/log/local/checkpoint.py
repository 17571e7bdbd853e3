"""Kafka's offset checkpoint files (`log-start-offset-checkpoint` and friends).

Format (Kafka's OffsetCheckpointFile / CheckpointFile): a version line "0", a
line with the entry count, then one "topic partition offset" line per entry.
Written to a temporary file, fsynced and renamed over the old one, so a crash
leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from kwire.log.api import TopicPartition

log = logging.getLogger("kwire.log")

_VERSION = 0


def read_checkpoint(path: Path) -> dict[TopicPartition, int]:
    """The entries of the checkpoint at `path`; empty when it is missing, and
    empty (with a warning) when it is malformed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    try:
        if int(lines[0]) != _VERSION:
            raise ValueError(f"version {lines[0]}")
        count = int(lines[1])
        entries: dict[TopicPartition, int] = {}
        for line in lines[2 : 2 + count]:
            topic, partition, offset = line.split(" ")
            entries[TopicPartition(topic, int(partition))] = int(offset)
        if len(entries) != count:
            raise ValueError(f"{len(entries)} entries, header says {count}")
        return entries
    except (ValueError, IndexError) as e:
        log.warning("ignoring malformed checkpoint %s: %s", path, e)
        return {}


def write_checkpoint(path: Path, entries: Mapping[TopicPartition, int]) -> None:
    lines = [str(_VERSION), str(len(entries))]
    lines += [f"{tp.topic} {tp.partition} {offset}" for tp, offset in sorted(entries.items())]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
