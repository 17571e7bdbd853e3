"""Reading ledgers: entries from their write sets, and the last-add-confirmed from the bookies.

An entry lives on the write set of its segment's ensemble (bookkeeper.md §3.2).
A read tries those bookies one after another (ones known to be down last);
an error, a timeout, ENOENTRY or an entry whose digest does not match moves on to
the next. Entries up to the last-add-confirmed (or a closed ledger's last entry)
are safe to read; `LedgerReader.read` refuses anything above.

The last-add-confirmed of a ledger nobody has closed is learned from the bookies
of its last segment: READ(-1) to each returns its highest entry, whose header
carries the writer's LAC at the time. Once the answers *cover* the ensemble (every
write set has fewer than A bookies unheard from, so no entry can have been
acknowledged by bookies that all kept silent), the largest LAC among them is the
answer (§3.6). The same read with the fencing flag is recovery's first step.
"""

from __future__ import annotations

import asyncio

from kwire.log.bookkeeper.api import (
    BookieError,
    DigestMismatch,
    LedgerError,
    LedgerUnauthorized,
)
from kwire.log.bookkeeper.context import ClientContext
from kwire.log.bookkeeper.digest import DigestManager, Entry, master_key
from kwire.log.bookkeeper.metadata import LedgerMetadata, LedgerState, write_set
from kwire.log.bookkeeper.wire import (
    ENOENTRY,
    ENOLEDGER,
    EOK,
    EUA,
    FLAG_DO_FENCING,
    LAST_ADD_CONFIRMED,
    READENTRY,
    Response,
    rc_name,
    read_request,
)

READ_WINDOW = 256  # entries of one range read in flight at once


def covered(ensemble_size: int, write_quorum: int, ack_quorum: int,
            unknown: set[int]) -> bool:
    """True when every write set (every W consecutive ensemble indexes) has fewer than
    A indexes in `unknown` (RRQuorumCoverageSet)."""
    for start in range(ensemble_size):
        missing = sum(1 for j in range(write_quorum) if (start + j) % ensemble_size in unknown)
        if missing >= ack_quorum:
            return False
    return True


async def read_entry(ctx: ClientContext, metadata: LedgerMetadata, digest: DigestManager,
                     entry_id: int) -> Entry:
    """One entry from the first bookie of its write set that has a valid copy."""
    ensemble = metadata.ensemble_for(entry_id)
    indexes = write_set(entry_id, metadata.ensemble_size, metadata.write_quorum)
    bookies = [ensemble[i] for i in indexes]
    bookies.sort(key=ctx.bookies.is_down)  # stable: write-set order, known-down ones last
    frame = read_request(digest.ledger_id, entry_id)
    errors: list[str] = []
    for bookie in bookies:
        try:
            response = await ctx.bookies.get(bookie).request(
                (READENTRY, digest.ledger_id, entry_id), (frame,), ctx.read_timeout_s)
        except BookieError as exc:
            errors.append(f"{bookie}: {exc}")
            continue
        if response.rc != EOK:
            errors.append(f"{bookie}: {rc_name(response.rc)}")
            continue
        try:
            return digest.verify(response.body, entry_id)
        except DigestMismatch as exc:
            errors.append(f"{bookie}: {exc}")
    raise BookieError(f"ledger {digest.ledger_id} entry {entry_id}: no bookie of its write "
                      f"set returned it ({'; '.join(errors)})")


async def read_entries(ctx: ClientContext, metadata: LedgerMetadata, digest: DigestManager,
                       first: int, last: int) -> list[Entry]:
    out: list[Entry] = []
    for start in range(first, last + 1, READ_WINDOW):
        end = min(last, start + READ_WINDOW - 1)
        out.extend(await asyncio.gather(*(read_entry(ctx, metadata, digest, e)
                                          for e in range(start, end + 1))))
    return out


async def read_last_add_confirmed(ctx: ClientContext, metadata: LedgerMetadata,
                                  digest: DigestManager, *, fencing: bool = False,
                                  password: bytes = b"") -> int:
    """The largest piggy-backed LAC among the last entries of the last segment's
    bookies, once their answers cover the ensemble (-1 when none has an entry).
    With `fencing`, each read also fences the ledger on that bookie."""
    ledger_id = digest.ledger_id
    ensemble = metadata.last_segment.ensemble
    key = master_key(password) if fencing else None
    frame = read_request(ledger_id, LAST_ADD_CONFIRMED, FLAG_DO_FENCING if fencing else 0, key)
    futures: dict[asyncio.Future[Response], int] = {
        ctx.bookies.get(bookie).request((READENTRY, ledger_id, LAST_ADD_CONFIRMED), (frame,),
                                        ctx.read_timeout_s): index
        for index, bookie in enumerate(ensemble)}
    heard: set[int] = set()
    lac = -1
    pending: set[asyncio.Future[Response]] = set(futures)
    everyone = set(range(len(ensemble)))
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for fut in done:
            index = futures[fut]
            if fut.exception() is not None:
                continue
            response = fut.result()
            if response.rc == EOK:
                try:
                    entry = digest.verify(response.body, None)
                except DigestMismatch:
                    continue
                lac = max(lac, entry.last_add_confirmed)
                heard.add(index)
            elif response.rc in (ENOENTRY, ENOLEDGER):
                heard.add(index)
            elif response.rc == EUA:
                raise LedgerUnauthorized(f"ledger {ledger_id}: bookie {ensemble[index]} "
                                         "refused the master key (wrong password)")
        if covered(metadata.ensemble_size, metadata.write_quorum, metadata.ack_quorum,
                   everyone - heard):
            return lac
    raise BookieError(f"ledger {ledger_id}: too few bookies of {list(ensemble)} answered "
                      f"to learn the last add confirmed (heard from {sorted(heard)})")


async def length_at(ctx: ClientContext, metadata: LedgerMetadata, digest: DigestManager,
                    entry_id: int) -> int:
    """The ledger length through `entry_id` (0 before the first entry)."""
    if entry_id < 0:
        return 0
    return (await read_entry(ctx, metadata, digest, entry_id)).length


class LedgerReader:
    """A ledger opened for reading (LedgerHandle)."""

    def __init__(self, ctx: ClientContext, ledger_id: int, metadata: LedgerMetadata,
                 password: bytes, last_add_confirmed: int, length: int) -> None:
        self._ctx = ctx
        self._ledger_id = ledger_id
        self.metadata = metadata
        self._digest = DigestManager(ledger_id, metadata.digest_type, password)
        self._lac = last_add_confirmed
        self._length = length

    @property
    def ledger_id(self) -> int:
        return self._ledger_id

    @property
    def last_add_confirmed(self) -> int:
        return self._lac

    @property
    def length(self) -> int:
        return self._length

    @property
    def closed(self) -> bool:
        return self.metadata.state == LedgerState.CLOSED

    async def read(self, first: int, last: int) -> list[bytes]:
        check_range(self._ledger_id, first, last, self._lac)
        return [e.payload for e in
                await read_entries(self._ctx, self.metadata, self._digest, first, last)]


def check_range(ledger_id: int, first: int, last: int, last_add_confirmed: int) -> None:
    if first < 0 or last < first or last > last_add_confirmed:
        raise LedgerError(f"ledger {ledger_id}: cannot read entries {first}..{last} "
                          f"(last add confirmed {last_add_confirmed})")


async def open_for_reading(ctx: ClientContext, ledger_id: int, metadata: LedgerMetadata,
                           password: bytes) -> LedgerReader:
    """Open without recovery: a closed ledger up to its last entry; an open one up to
    the LAC its bookies report (at least what the earlier segments hold)."""
    if metadata.state == LedgerState.CLOSED:
        return LedgerReader(ctx, ledger_id, metadata, password, metadata.last_entry_id,
                            metadata.length)
    digest = DigestManager(ledger_id, metadata.digest_type, password)
    lac = await read_last_add_confirmed(ctx, metadata, digest)
    lac = max(lac, metadata.last_segment.first_entry_id - 1)
    length = await length_at(ctx, metadata, digest, lac)
    return LedgerReader(ctx, ledger_id, metadata, password, lac, length)
