"""Durable small-file writes in the data dir, and the space kept back for them.

Metadata (`kwire-metadata.json`) and Kafka's checkpoint files are replaced whole:
written to a temporary file, fsynced, renamed over the old one and the directory
fsynced, so a crash leaves the old or the new file, never half of one.

On a full disk that write fails too, and then a client could not free space:
deleting a topic, moving a log start (DeleteRecords) or lowering a retention
setting all need their own small write first. So the data dir keeps a
`SpaceReserve`, a file of a few MiB of allocated blocks; when a durable write
that frees space (deleting a topic or records, changing a topic's configs)
fails with ENOSPC the reserve is released and the write tried once more.
Writes that grow the data (creating topics) never get it. The
reserve is taken back once the disk has room again (`SpaceReserve.refill`,
from the broker's housekeeping). Kafka has no such file; a single-dir broker
that must always be able to shrink itself needs one.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

log = logging.getLogger("kwire.fs")

# The longest file or directory name the file systems kwire runs on accept (NAME_MAX).
MAX_FILE_NAME_BYTES = 255

RESERVE_FILE = ".kwire-space-reserve"
RESERVE_BYTES = 4 * 1024 * 1024


def fsync_dir(directory: Path) -> None:
    """Make a rename, create or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpaceReserve:
    """A file of allocated blocks in the data dir, given up when a durable write
    would otherwise fail for lack of space (see the module docstring)."""

    def __init__(self, directory: Path, size: int = RESERVE_BYTES) -> None:
        self.path = directory / RESERVE_FILE
        self.size = size

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except FileNotFoundError:
            return False

    def refill(self) -> bool:
        """Allocate the reserve if it is not held; False when the disk has no room yet."""
        if self.held:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # Never hold half a reserve: it would take space and promise none.
            self.path.unlink(missing_ok=True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.warning("cannot allocate the space reserve %s: %s", self.path, exc)
            return False
        log.info("space reserve %s held (%d bytes)", self.path, self.size)
        return True

    def release(self) -> bool:
        """Free the reserve; True when there was one to free."""
        if not self.path.exists():
            return False
        self.path.unlink(missing_ok=True)
        log.warning("disk full: released the space reserve %s so a write can complete",
                    self.path)
        return True


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # give back whatever the failed copy took
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, reserve: SpaceReserve | None = None) -> None:
    """Replace `path` with `data` durably; on ENOSPC give up `reserve` and retry once.
    Raises OSError when the write cannot be made (the old file is then intact)."""
    try:
        _replace(path, data)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or reserve is None:
            raise
        if not reserve.release():
            raise
        _replace(path, data)
