"""Kafka's offset checkpoint files (`log-start-offset-checkpoint` and friends).

Format (Kafka's OffsetCheckpointFile / CheckpointFile): a version line "0", a
line with the entry count, then one "topic partition offset" line per entry.
Written through kwire.fs.atomic_write, so a crash leaves either the old or the
new checkpoint, never half of one, and a full disk gives up its space reserve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from kwire.fs import SpaceReserve, atomic_write
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


def write_checkpoint(
    path: Path, entries: Mapping[TopicPartition, int], reserve: SpaceReserve | None = None
) -> None:
    """Replace the checkpoint at `path` durably (see kwire.fs.atomic_write)."""
    lines = [str(_VERSION), str(len(entries))]
    lines += [f"{tp.topic} {tp.partition} {offset}" for tp, offset in sorted(entries.items())]
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), reserve)
