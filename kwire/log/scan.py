"""Reading a whole partition log, batch by batch, through the PartitionLog seam.

State kept beside a log (idempotent-producer state, the group coordinator's
__consumer_offsets) is rebuilt at start by this one loop. A damaged stretch of
the log is skipped with a warning (the state it held is lost, the rest is
not); a broker that refused to start over it would serve nothing at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from kwire.log.api import CorruptRecords, PartitionLog
from kwire.records.batch import BatchHeader, iter_batches

# How much to read at a time; a larger batch still comes back whole.
SCAN_CHUNK = 8 * 1024 * 1024

logger = logging.getLogger("kwire.log")


async def stored_batches(
    log: PartitionLog, start: int | None = None,
) -> AsyncIterator[tuple[memoryview, BatchHeader]]:
    """Every stored batch from `start` (default: the log start) to the log end
    offset at call time."""
    offset = log.offsets().log_start_offset if start is None else start
    end = log.offsets().log_end_offset
    while offset < end:
        try:
            result = await log.read(offset, SCAN_CHUNK, True)
        except CorruptRecords as exc:
            if exc.resume_offset <= offset:
                logger.error("%s: reading stopped at damaged offset %d: %s", log.tp, offset, exc)
                return
            logger.error("%s: skipping damaged offsets %d..%d: %s",
                         log.tp, offset, exc.resume_offset - 1, exc)
            offset = exc.resume_offset
            continue
        view = memoryview(result.records)
        progressed = offset
        for pos, header in iter_batches(view):
            yield view[pos:pos + header.size], header
            progressed = header.next_offset
        if progressed <= offset:  # nothing whole came back: stop rather than spin
            return
        offset = progressed
