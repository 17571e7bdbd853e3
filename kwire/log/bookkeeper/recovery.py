"""Open with recovery: fence a ledger's writer and close the ledger where its data ends.

Theory of operation (bookkeeper.md §3.5; Java's LedgerRecoveryOp, ReadLastConfirmedOp).
A new owner takes over a ledger whose writer may still be running. The goal: a
closed ledger that contains every entry the old writer ever acknowledged, that
the old writer can no longer extend, and that every reader sees the same way.
Each step is there for one of those:

1. **IN_RECOVERY by compare-and-set, before anything else.** The writer can move
   its unacknowledged entries to new bookies only by an ensemble change, itself
   a CAS that requires OPEN. Once the state is IN_RECOVERY it cannot, so the
   bookies fenced in step 2 are the only ones that can still take its entries.
   (Fencing first would leave a window in which the writer escapes to a new,
   unfenced ensemble and keeps acknowledging.)
2. **Fence the last segment's bookies until their answers cover the ensemble**:
   a fencing READ(-1) to every bookie; EOK, ENOENTRY and ENOLEDGER count as
   heard (the bookie is now fenced), anything else as unknown. Covered = every
   write set (W consecutive indexes) has fewer than A unknown bookies, i.e. at
   least W-A+1 fenced ones, so the writer can never again gather A acks for any
   entry: every later add of it fails, and it can acknowledge nothing new.
3. **Start from the largest piggy-backed LAC** among the answers (at least the
   last segment's first entry - 1: earlier segments were sealed by ensemble
   changes). Everything up to it was acknowledged, so is kept as it is.
4. **Read forward** from LAC+1, with fencing reads to each entry's write set. An
   entry is found as soon as one bookie returns a valid copy; it is absent only
   when at least W-A+1 of its write set say it has no such entry (with at most
   W-A bookies missing it, an acknowledged entry, held by A, can never look
   absent). Neither (too many errors) fails the recovery rather than guess.
   The writer acknowledged entries in order, so nothing after the first absent
   entry was acknowledged: stop there.
5. **Re-add every found entry** (RECOVERY_ADD, which fenced bookies accept; same
   id and payload, a fresh header and digest) to its whole write set and wait for
   A acks. A found entry may sit on a single bookie (sent, never acknowledged);
   closing the ledger over it without re-replicating would make an entry part of
   the ledger that one disk failure loses. A bookie that fails here is replaced
   in memory; the new segment goes into the closing metadata.
6. **CLOSED by compare-and-set** with the last recovered entry, its length and any
   new segments. If another client closed it first, its metadata is the truth.
"""

from __future__ import annotations

import asyncio
import dataclasses

from kwire.log.bookkeeper.api import (
    BookieError,
    DigestMismatch,
    LedgerError,
    LedgerUnauthorized,
)
from kwire.log.bookkeeper.context import ClientContext
from kwire.log.bookkeeper.digest import DigestManager, Entry
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    LedgerState,
    encode_ledger_metadata,
    write_set,
)
from kwire.log.bookkeeper.reader import (
    LedgerReader,
    length_at,
    read_last_add_confirmed,
)
from kwire.log.bookkeeper.wire import (
    ENOENTRY,
    ENOLEDGER,
    EOK,
    EUA,
    FLAG_DO_FENCING,
    FLAG_HIGH_PRIORITY,
    READENTRY,
    Response,
    rc_name,
    read_request,
)
from kwire.log.bookkeeper.writer import LedgerWriter
from kwire.zookeeper import BadVersion, ConnectionLost


def check_password(ledger_id: int, metadata: LedgerMetadata, password: bytes) -> None:
    if metadata.password != password:
        raise LedgerUnauthorized(f"ledger {ledger_id}: wrong password")


async def recover_ledger(ctx: ClientContext, ledger_id: int, password: bytes) -> LedgerReader:
    metadata, version = await _mark_in_recovery(ctx, ledger_id, password)
    if metadata.state == LedgerState.CLOSED:
        return LedgerReader(ctx, ledger_id, metadata, password, metadata.last_entry_id,
                            metadata.length)
    digest = DigestManager(ledger_id, metadata.digest_type, password)
    lac = await read_last_add_confirmed(ctx, metadata, digest, fencing=True, password=password)
    lac = max(lac, metadata.last_segment.first_entry_id - 1)
    length = await length_at(ctx, metadata, digest, lac)
    writer = LedgerWriter(ctx, ledger_id, metadata, version, password, recovery=True,
                          last_add_confirmed=lac, length=length)
    adds: list[asyncio.Future[int]] = []
    try:
        await _read_forward(ctx, metadata, digest, writer, adds)
    except BaseException:
        for fut in adds:
            fut.cancel()
        raise
    await writer.wait_for_pending()
    if writer.error is not None:
        raise LedgerError(f"ledger {ledger_id}: recovery could not re-replicate its last "
                          f"entries: {writer.error}") from writer.error
    for fut in adds:
        fut.result()
    closed = await _close(ctx, ledger_id, metadata, version, writer)
    return LedgerReader(ctx, ledger_id, closed, password, closed.last_entry_id, closed.length)


async def _read_forward(ctx: ClientContext, metadata: LedgerMetadata, digest: DigestManager,
                        writer: LedgerWriter, adds: list[asyncio.Future[int]]) -> None:
    """Steps 4 and 5: read entries after the LAC in batches and re-add each found one,
    up to the first absent entry."""
    next_entry = writer.last_add_confirmed + 1
    batch = max(1, ctx.recovery_read_batch)
    while writer.error is None:
        ids = range(next_entry, next_entry + batch)
        entries = await asyncio.gather(*(_recovery_read(ctx, metadata, digest, writer, e)
                                         for e in ids))
        for entry in entries:
            if entry is None:
                return
            adds.append(writer.add(entry.payload))
        next_entry += batch


async def _mark_in_recovery(ctx: ClientContext, ledger_id: int,
                            password: bytes) -> tuple[LedgerMetadata, int]:
    path = ctx.ledger_path(ledger_id)
    for _ in range(ctx.metadata_retries):
        metadata, version = await ctx.read_metadata(ledger_id)
        check_password(ledger_id, metadata, password)
        if metadata.state != LedgerState.OPEN:
            return metadata, version  # CLOSED: nothing to do; IN_RECOVERY: carry on
        marked = dataclasses.replace(metadata, state=LedgerState.IN_RECOVERY)
        try:
            version = await ctx.zk.set(path, encode_ledger_metadata(marked), version)
        except (BadVersion, ConnectionLost):
            continue  # re-read: the writer changed the ensemble, or our write landed
        return marked, version
    raise BookieError(f"ledger {ledger_id}: could not mark the ledger IN_RECOVERY")


async def _recovery_read(ctx: ClientContext, metadata: LedgerMetadata, digest: DigestManager,
                         writer: LedgerWriter, entry_id: int) -> Entry | None:
    """The entry, or None when enough of its write set do not have it (step 4)."""
    ledger_id = digest.ledger_id
    ensemble = metadata.ensemble_for(entry_id)
    indexes = write_set(entry_id, metadata.ensemble_size, metadata.write_quorum)
    frame = read_request(ledger_id, entry_id, FLAG_DO_FENCING | FLAG_HIGH_PRIORITY,
                         writer.master_key)
    futures: list[asyncio.Future[Response]] = [
        ctx.bookies.get(ensemble[i]).request((READENTRY, ledger_id, entry_id), (frame,),
                                             ctx.read_timeout_s) for i in indexes]
    missing = 0
    errors: list[str] = []
    for next_done in asyncio.as_completed(futures):
        try:
            response = await next_done
        except BookieError as exc:
            errors.append(str(exc))
            continue
        if response.rc == EOK:
            try:
                return digest.verify(response.body, entry_id)
            except DigestMismatch as exc:
                errors.append(str(exc))
        elif response.rc in (ENOENTRY, ENOLEDGER):
            missing += 1
        elif response.rc == EUA:
            raise LedgerUnauthorized(f"ledger {ledger_id}: a bookie refused the master key")
        else:
            errors.append(rc_name(response.rc))
    if missing >= metadata.write_quorum - metadata.ack_quorum + 1:
        return None
    raise BookieError(f"ledger {ledger_id}: recovery cannot tell whether entry {entry_id} "
                      f"exists ({missing} bookies lack it; errors: {'; '.join(errors)})")


async def _close(ctx: ClientContext, ledger_id: int, recovering: LedgerMetadata,
                 version: int, writer: LedgerWriter) -> LedgerMetadata:
    path = ctx.ledger_path(ledger_id)
    segments = writer.metadata.segments
    lac, length = writer.last_add_confirmed, writer.length
    current = recovering
    for _ in range(ctx.metadata_retries):
        wanted = dataclasses.replace(current, state=LedgerState.CLOSED, last_entry_id=lac,
                                     length=length, segments=segments)
        try:
            await ctx.zk.set(path, encode_ledger_metadata(wanted), version)
            return wanted
        except (BadVersion, ConnectionLost):
            pass
        try:
            current, version = await ctx.read_metadata(ledger_id)
        except ConnectionLost:
            continue
        if current.state == LedgerState.CLOSED:
            return current  # ours landed, or another recovery closed it first
        if current.state != LedgerState.IN_RECOVERY or current.segments != recovering.segments:
            raise BookieError(f"ledger {ledger_id}: metadata changed during recovery "
                              f"(now {current.state.name}); open it again")
    raise BookieError(f"ledger {ledger_id}: could not close the recovered ledger")
