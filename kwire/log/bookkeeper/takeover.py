"""Taking a partition's ledger list over: read it, close its open tail ledger.

A new owner (`BookKeeperLogStore.open`) and an owner repairing its own list
after a failure it could not settle (`LedgerLog.repair`) do the same thing:
read the znode, and if its last ledger is still open, open that ledger WITH
RECOVERY. Recovery fences it (its writer's next add fails LedgerFenced) and
closes it at the last entry an ack quorum holds; the last entry's batch header
then says where the log ends. An empty recovered ledger leaves the list (and is
deleted once the list no longer names it).

An owner repairing its own ledger knows more than recovery does: entries it
reported as failed may have reached some bookies, and recovery keeps what it
finds. So it passes what it acknowledged (`Acked`), and the list records
`min(recovered, acknowledged)`: what it reported as failed never becomes
visible (the no-trace rule of kwire/log/api.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from kwire.log.bookkeeper.api import LedgerClient, LedgerError, LedgerHandle, NoSuchLedger, Znodes
from kwire.log.bookkeeper.ledger_list import LedgerInfo, LedgerList, decode, encode
from kwire.records.batch import BatchError, parse_header
from kwire.zookeeper import NodeExists, NoNode


@dataclass(frozen=True, slots=True)
class Acked:
    """What the writing process itself acknowledged in a ledger."""

    last_entry_id: int
    end_offset: int
    size: int
    max_timestamp: int | None
    max_timestamp_offset: int | None


@dataclass(frozen=True, slots=True)
class ClosedTail:
    doc: LedgerList
    reader: LedgerHandle | None  # the recovered ledger, open for reading
    doomed: frozenset[int]  # ledgers to delete once `doc` is stored


async def read_list(zk: Znodes, path: str, new: LedgerList) -> tuple[LedgerList, int, bool]:
    """The list, its znode version, and whether this call created it (as `new`,
    which then needs no takeover: no one owned it before)."""
    while True:
        try:
            data, version = await zk.get(path)
            return decode(data), version, False
        except NoNode:
            with contextlib.suppress(NodeExists):  # another owner created it first
                await zk.create(path, encode(new), makepath=True)
                return new, 0, True


async def close_tail(doc: LedgerList, ledgers: LedgerClient, password: bytes,
                     acked: dict[int, Acked] | None = None) -> ClosedTail:
    """`doc` with its open last ledger recovered and closed (see the module)."""
    if not doc.ledgers or not doc.ledgers[-1].is_open:
        return ClosedTail(doc, None, frozenset())
    last = doc.ledgers[-1]
    try:
        handle = await ledgers.open(last.ledger_id, password, recovery=True)
    except NoSuchLedger:
        # Created and listed, then lost its metadata: it never held an acknowledged entry
        # that could be read, so the list goes on without it.
        return ClosedTail(doc.without({last.ledger_id}), None, frozenset())
    lac = handle.last_add_confirmed
    own = None if acked is None else acked.get(last.ledger_id)
    if own is not None and own.last_entry_id < lac:
        lac = own.last_entry_id
    if lac < 0:
        return ClosedTail(doc.without({last.ledger_id}), None, frozenset({last.ledger_id}))
    if own is not None and own.last_entry_id == lac:
        info = replace(last, end_offset=own.end_offset, last_entry_id=lac, size=own.size,
                       max_timestamp=own.max_timestamp,
                       max_timestamp_offset=own.max_timestamp_offset)
    else:
        info = await _recovered_info(last, handle, lac)
    return ClosedTail(doc.with_ledger(info), handle, frozenset())


async def _recovered_info(last: LedgerInfo, handle: LedgerHandle, lac: int) -> LedgerInfo:
    """The list entry of a recovered ledger: its end from the last entry's header;
    its max timestamp unknown (computed when first needed)."""
    entry = (await handle.read(lac, lac))[0]
    try:
        header = parse_header(entry)
    except BatchError as exc:
        raise LedgerError(f"ledger {last.ledger_id}: entry {lac} is no record batch") from exc
    if header.size != len(entry) or header.next_offset <= last.first_offset:
        raise LedgerError(f"ledger {last.ledger_id}: entry {lac} holds offsets "
                          f"{header.base_offset}..{header.last_offset}, not past "
                          f"{last.first_offset}")
    size = handle.length if lac == handle.last_add_confirmed else 0
    if size == 0:  # clamped below the recovered end: count what stays
        size = sum(len(e) for e in await handle.read(0, lac))
    return replace(last, end_offset=header.next_offset, last_entry_id=lac, size=size,
                   max_timestamp=None, max_timestamp_offset=None)
