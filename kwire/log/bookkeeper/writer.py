"""The ledger writer (WriteHandle): pipelined adds, ordered completions, ensemble changes, close.

Theory of operation (bookkeeper.md §3.2-3.4).

* Entry `e` goes to its write set, ensemble indexes (e+i) mod E for i < W, and is
  acknowledged once A of them answered EOK *and* every earlier entry was
  acknowledged. Acknowledging in order is what lets recovery stop at the first
  entry it cannot find: nothing after a gap was ever acknowledged. Each entry
  carries the LAC (last acknowledged entry) at the time it was sent, which is how
  recovery learns how far the writer had got.
* EFENCED or EUA from any bookie means another client opened the ledger with
  recovery: every pending add fails with LedgerFenced, and nothing is
  acknowledged after that, even an entry that gathers A acks later.
* Any other error or a timeout from a bookie: replace it (an ensemble change).
  The new ensemble holds the entries from LAC+1 on, so it is recorded in the
  metadata as a segment starting there (or replacing the last segment if that one
  already starts there), by a compare-and-set on the znode, and only while the
  ledger is OPEN: a recovering client sets IN_RECOVERY *before* it fences, so a
  writer that loses that race can never move its entries to bookies the
  recovery did not fence. Until the change is committed no add is acknowledged;
  then every pending entry whose write set has the replaced index is sent to the
  replacement and that index's earlier ack (from the old bookie, which is no
  longer in the entry's ensemble) no longer counts. Without a replacement the
  pending adds fail: an entry is never acknowledged with fewer than A copies.
* Close waits for the adds in flight, then sets CLOSED at the LAC and its length
  by compare-and-set. Entries above the LAC that reached some bookies are outside
  the ledger for good.
* A metadata conflict (BadVersion, or an unknown outcome after a lost ZooKeeper
  connection) re-reads the znode: if it already holds what we wrote, fine; if the
  state or the segments changed under us, another client is at work (recovery)
  and the writer is fenced; otherwise retry on the new version.

Recovery (recovery.py) reuses this class with `recovery=True`: its adds carry
the RECOVERY_ADD flag, which fenced bookies accept, and its ensemble changes stay
in memory until recovery writes the closing metadata.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
from collections.abc import Callable

from kwire.log.bookkeeper.api import (
    BookieError,
    LedgerClosed,
    LedgerError,
    LedgerFenced,
)
from kwire.log.bookkeeper.context import ClientContext
from kwire.log.bookkeeper.digest import HEADER_LENGTH, DigestManager, master_key
from kwire.log.bookkeeper.metadata import (
    LedgerMetadata,
    LedgerState,
    Segment,
    encode_ledger_metadata,
)
from kwire.log.bookkeeper.reader import check_range, read_entries
from kwire.log.bookkeeper.wire import (
    ADDENTRY,
    EFENCED,
    EOK,
    EUA,
    FLAG_HIGH_PRIORITY,
    FLAG_NONE,
    FLAG_RECOVERY_ADD,
    MASTER_KEY_LENGTH,
    MAX_FRAME_SIZE,
    Response,
    add_request_prefix,
    rc_name,
)
from kwire.zookeeper import BadVersion, ConnectionLost

log = logging.getLogger("kwire.log.bookkeeper")


class _PendingAdd:
    __slots__ = ("entry_id", "payload", "frame_head", "length", "acked", "future")

    def __init__(self, entry_id: int, payload: bytes, frame_head: bytes, length: int,
                 future: asyncio.Future[int]) -> None:
        self.entry_id = entry_id
        self.payload = payload
        self.frame_head = frame_head  # frame length, header, master key, entry header, digest
        self.length = length
        self.acked: set[int] = set()  # ensemble indexes that answered EOK
        self.future = future


def _fresh(exc: LedgerError) -> LedgerError:
    return type(exc)(*exc.args)


class LedgerWriter:
    """A ledger this client writes (WriteHandle)."""

    def __init__(self, ctx: ClientContext, ledger_id: int, metadata: LedgerMetadata,
                 version: int, password: bytes, *, recovery: bool = False,
                 last_add_confirmed: int = -1, length: int = 0) -> None:
        self._ctx = ctx
        self._ledger_id = ledger_id
        self._metadata = metadata
        self._version = version
        self._digest = DigestManager(ledger_id, metadata.digest_type, password)
        self._key = master_key(password)
        self._recovery = recovery
        self._flags = FLAG_RECOVERY_ADD | FLAG_HIGH_PRIORITY if recovery else FLAG_NONE
        self._e = metadata.ensemble_size
        self._w = metadata.write_quorum
        self._a = metadata.ack_quorum
        self._ensemble = list(metadata.last_segment.ensemble)
        self._clients = [ctx.bookies.get(b) for b in self._ensemble]
        self._lac = last_add_confirmed
        self._length = length
        self._pushed_length = length
        self._next_entry_id = last_add_confirmed + 1
        self._pending: collections.deque[_PendingAdd] = collections.deque()
        self._error: LedgerError | None = None
        self._failed: dict[int, str] = {}  # ensemble index -> the bookie that failed there
        self._changes = 0
        self._change_task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._drained: asyncio.Event | None = None
        self._close_task: asyncio.Task[int] | None = None
        self._max_payload = MAX_FRAME_SIZE - 4 - MASTER_KEY_LENGTH - HEADER_LENGTH \
            - self._digest.digest_length

    # ---- LedgerHandle -------------------------------------------------------------------

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
    def metadata(self) -> LedgerMetadata:
        return self._metadata

    @property
    def error(self) -> LedgerError | None:
        return self._error

    @property
    def master_key(self) -> bytes:
        return self._key

    async def read(self, first: int, last: int) -> list[bytes]:
        check_range(self._ledger_id, first, last, self._lac)
        entries = await read_entries(self._ctx, self._metadata, self._digest, first, last)
        return [e.payload for e in entries]

    # ---- adds ---------------------------------------------------------------------------

    def add(self, payload: bytes) -> asyncio.Future[int]:
        if len(payload) > self._max_payload:
            raise ValueError(f"entry of {len(payload)} bytes exceeds the bookie frame limit "
                             f"({self._max_payload} bytes of payload)")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._error is not None:
            fut.set_exception(_fresh(self._error))
            return fut
        if self._closing:
            fut.set_exception(LedgerClosed(f"ledger {self._ledger_id} is closed"))
            return fut
        entry_id = self._next_entry_id
        self._next_entry_id += 1
        self._pushed_length += len(payload)
        prefix = self._digest.entry_prefix(entry_id, self._lac, self._pushed_length, payload)
        head = add_request_prefix(self._flags, self._key, len(prefix) + len(payload)) + prefix
        pending = _PendingAdd(entry_id, payload, head, self._pushed_length, fut)
        self._pending.append(pending)
        for i in range(self._w):
            index = (entry_id + i) % self._e
            if index not in self._failed:  # a replacement gets it after the change
                self._send(pending, index)
        return fut

    def _send(self, pending: _PendingAdd, index: int) -> None:
        bookie = self._ensemble[index]
        fut = self._clients[index].request((ADDENTRY, self._ledger_id, pending.entry_id),
                                           (pending.frame_head, pending.payload),
                                           self._ctx.add_timeout_s)
        fut.add_done_callback(functools.partial(self._on_add_response, pending, index, bookie))

    def _on_add_response(self, pending: _PendingAdd, index: int, bookie: str,
                         fut: asyncio.Future[Response]) -> None:
        if self._error is not None or pending.entry_id <= self._lac \
                or self._ensemble[index] != bookie:
            return  # settled already, or an answer from a bookie since replaced
        if fut.cancelled() or fut.exception() is not None:
            self._bookie_failed(index, bookie,
                                "cancelled" if fut.cancelled() else str(fut.exception()))
            return
        rc = fut.result().rc
        if rc == EOK:
            pending.acked.add(index)
            if len(pending.acked) >= self._a and self._pending \
                    and self._pending[0] is pending:
                self._complete()
        elif rc in (EFENCED, EUA):
            self._fail(LedgerFenced(f"ledger {self._ledger_id}: bookie {bookie} answered "
                                    f"{rc_name(rc)} to entry {pending.entry_id}"))
        else:
            self._bookie_failed(index, bookie, rc_name(rc))

    def _complete(self) -> None:
        """Acknowledge entries in order, as long as the head has an ack quorum."""
        if self._failed or self._change_task is not None or self._error is not None:
            return  # no completions while the ensemble changes
        pending = self._pending
        quorum = self._a
        while pending and len(pending[0].acked) >= quorum:
            done = pending.popleft()
            self._lac = done.entry_id
            self._length = done.length
            if not done.future.done():
                done.future.set_result(done.entry_id)
        self._check_drained()

    def _fail(self, exc: LedgerError) -> None:
        """Fail every pending add, and every later one."""
        if self._error is None:
            self._error = exc
            if self._pending:
                log.warning("ledger %d: failing %d pending adds: %s", self._ledger_id,
                            len(self._pending), exc)
        pending = list(self._pending)
        self._pending.clear()
        for p in pending:
            if not p.future.done():
                p.future.set_exception(_fresh(exc))
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and not self._pending and self._change_task is None:
            self._drained.set()

    # ---- ensemble changes ---------------------------------------------------------------

    def _bookie_failed(self, index: int, bookie: str, reason: str) -> None:
        if self._error is not None or self._ensemble[index] != bookie or index in self._failed:
            return
        log.info("ledger %d: bookie %s (index %d) failed: %s; replacing it",
                 self._ledger_id, bookie, index, reason)
        self._failed[index] = bookie
        if self._change_task is None:
            self._change_task = asyncio.get_running_loop().create_task(
                self._change_ensemble())

    async def _change_ensemble(self) -> None:
        try:
            while self._failed and self._error is None:
                if self._changes >= self._ctx.max_ensemble_changes:
                    raise BookieError(f"ledger {self._ledger_id}: more than "
                                      f"{self._ctx.max_ensemble_changes} ensemble changes")
                failed = dict(self._failed)
                # As BookKeeper's client: anyone outside the current ensemble may
                # replace (a bookie that failed earlier and came back too);
                # placement skips the ones still known to be down.
                chosen = await self._ctx.placement.choose(len(failed), set(self._ensemble))
                ensemble = list(self._ensemble)
                for index, bookie in zip(failed, chosen, strict=True):
                    ensemble[index] = bookie
                await self._commit_ensemble(tuple(ensemble))
                if self._error is not None:
                    return
                self._changes += 1
                log.info("ledger %d: ensemble from entry %d is now %s", self._ledger_id,
                         self._lac + 1, ensemble)
                self._ensemble = ensemble
                for index in failed:
                    self._clients[index] = self._ctx.bookies.get(ensemble[index])
                    if self._failed.get(index) == failed[index]:
                        del self._failed[index]
                for pending in self._pending:
                    for index in failed:
                        if (index - pending.entry_id) % self._e < self._w:
                            pending.acked.discard(index)
                            self._send(pending, index)
        except LedgerError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("ledger %d: ensemble change failed", self._ledger_id)
            self._fail(BookieError(f"ledger {self._ledger_id}: ensemble change failed: {exc}"))
        finally:
            self._change_task = None
        if self._error is None:
            self._complete()
        self._check_drained()

    async def _commit_ensemble(self, ensemble: tuple[str, ...]) -> None:
        first = self._lac + 1
        segments = list(self._metadata.segments)
        if segments[-1].first_entry_id == first:
            segments[-1] = Segment(first, ensemble)
        else:
            segments.append(Segment(first, ensemble))
        new_segments = tuple(segments)
        if self._recovery:
            self._metadata = dataclasses.replace(self._metadata, segments=new_segments)
            return
        await self.update_metadata(lambda m: dataclasses.replace(m, segments=new_segments))

    async def update_metadata(self, change: Callable[[LedgerMetadata], LedgerMetadata]) -> None:
        """Compare-and-set `change(metadata)` on the znode; LedgerFenced when another
        client changed the ledger's state or segments."""
        ctx = self._ctx
        path = ctx.ledger_path(self._ledger_id)
        base = self._metadata
        wanted = change(base)
        for _ in range(ctx.metadata_retries):
            data = encode_ledger_metadata(wanted)
            try:
                self._version = await ctx.zk.set(path, data, self._version)
                self._metadata = wanted
                return
            except (BadVersion, ConnectionLost) as exc:
                log.info("ledger %d: metadata update conflicted (%s); re-reading",
                         self._ledger_id, type(exc).__name__)
            try:
                current, version = await ctx.read_metadata(self._ledger_id)
            except ConnectionLost:
                continue
            except LedgerError as exc:
                raise LedgerFenced(f"ledger {self._ledger_id}: {exc}") from None
            if encode_ledger_metadata(current) == data:
                self._metadata, self._version = current, version  # our write landed
                return
            if current.state != base.state or current.segments != base.segments:
                raise LedgerFenced(f"ledger {self._ledger_id}: metadata changed under the "
                                   f"writer (now {current.state.name})")
            self._version = version
            base = current
            wanted = change(current)
        raise BookieError(f"ledger {self._ledger_id}: metadata update kept conflicting")

    # ---- close --------------------------------------------------------------------------

    async def wait_for_pending(self) -> None:
        """Until every add has completed or failed and no ensemble change is running."""
        if self._drained is None:
            self._drained = asyncio.Event()
        self._check_drained()
        await self._drained.wait()

    async def close(self) -> int:
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        return await asyncio.shield(self._close_task)

    async def _close(self) -> int:
        if self._recovery:
            raise LedgerError("a recovery handle is closed by recovery")
        self._closing = True
        await self.wait_for_pending()
        if isinstance(self._error, LedgerFenced):
            raise _fresh(self._error)
        if self._metadata.state != LedgerState.CLOSED:
            lac, length = self._lac, self._length
            await self.update_metadata(lambda m: dataclasses.replace(
                m, state=LedgerState.CLOSED, last_entry_id=lac, length=length))
        self._closed = True
        return self._lac
