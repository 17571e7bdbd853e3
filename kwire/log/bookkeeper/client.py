"""BookKeeperClient: the LedgerClient over real bookies (v2 protocol) and ZooKeeper metadata.

Owns ledger creation (placement, id generation, the metadata znode), open with
and without recovery, delete, and the bookie connections. Everything is in
BookKeeper's own formats under `ledgers_root`, so BookKeeper's Java client and
tools read kwire's ledgers and kwire reads theirs (bookkeeper.md §2, §3.1).

Ledger ids (§2.2): an EPHEMERAL_SEQUENTIAL znode `<root>/idgen/ID-` gives the
number, and is deleted again; creating the metadata znode is the real
allocation, so if it already exists another id is drawn. Ids from 2^31-1 on use
Java's long id generator (`idgen-long`), which kwire does not implement: it
raises instead (far beyond what one cluster creates).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping

from kwire.log.bookkeeper.api import (
    LedgerConfig,
    LedgerError,
    LedgerHandle,
    WriteHandle,
    Znodes,
)
from kwire.log.bookkeeper.bookie import BookiePool
from kwire.log.bookkeeper.context import ClientContext, Placement
from kwire.log.bookkeeper.metadata import (
    LAYOUT,
    SHORT_ID_LIMIT,
    LedgerMetadata,
    LedgerState,
    Segment,
    encode_ledger_metadata,
)
from kwire.log.bookkeeper.reader import open_for_reading
from kwire.log.bookkeeper.recovery import check_password, recover_ledger
from kwire.log.bookkeeper.writer import LedgerWriter
from kwire.zookeeper import NodeExists, NoNode, ZooKeeperError

log = logging.getLogger("kwire.log.bookkeeper")

DEFAULT_CUSTOM_METADATA: Mapping[str, bytes] = {"application": b"kwire"}


class BookKeeperClient:
    """A ledger client (LedgerClient) for the BookKeeper cluster whose metadata is
    under `ledgers_root` in `zk`.

    `add_timeout_ms` / `read_timeout_ms` bound every bookie call (BookKeeper's
    defaults are 5 s each); an add that times out on one bookie makes the writer
    replace that bookie. `bookie_down_ms`: how long a bookie whose connection
    failed or timed out is left out of new ensembles.
    """

    def __init__(self, zk: Znodes, ledgers_root: str = "/ledgers", *,
                 add_timeout_ms: int = 5000, read_timeout_ms: int = 5000,
                 connect_timeout_ms: int | None = None, bookie_down_ms: int = 30000,
                 max_ensemble_changes: int = 32, recovery_read_batch: int = 8,
                 custom_metadata: Mapping[str, bytes] | None = None,
                 create_layout: bool = True) -> None:
        root = "/" + ledgers_root.strip("/")
        placement = Placement(zk, root)
        connect_ms = connect_timeout_ms if connect_timeout_ms is not None \
            else min(add_timeout_ms, read_timeout_ms)
        pool = BookiePool(placement.resolve, connect_timeout_s=connect_ms / 1000,
                          down_for_s=bookie_down_ms / 1000)
        placement.pool = pool
        self.ctx = ClientContext(
            zk=zk, ledgers_root=root, bookies=pool, placement=placement,
            add_timeout_s=add_timeout_ms / 1000, read_timeout_s=read_timeout_ms / 1000,
            max_ensemble_changes=max_ensemble_changes,
            recovery_read_batch=recovery_read_batch)
        self._custom = dict(DEFAULT_CUSTOM_METADATA if custom_metadata is None
                            else custom_metadata)
        self._create_layout = create_layout
        self._layout_checked = False

    @property
    def ledgers_root(self) -> str:
        return self.ctx.ledgers_root

    # ---- create -------------------------------------------------------------------------

    async def create(self, config: LedgerConfig,
                     custom_metadata: Mapping[str, bytes] | None = None) -> WriteHandle:
        e, w, a = config.ensemble_size, config.write_quorum, config.ack_quorum
        if not e >= w >= a >= 1:
            raise ValueError(f"need ensemble >= write quorum >= ack quorum >= 1, got {e}/{w}/{a}")
        await self._ensure_layout()
        ensemble = await self.ctx.placement.choose(e)
        custom = dict(self._custom)
        custom.update(custom_metadata or {})
        metadata = LedgerMetadata(
            ensemble_size=e, write_quorum=w, ack_quorum=a, state=LedgerState.OPEN,
            segments=(Segment(0, tuple(ensemble)),), digest_type=config.digest_type,
            password=config.password, ctime=int(time.time() * 1000),
            custom_metadata=tuple(custom.items()), c_token=0)
        data = encode_ledger_metadata(metadata)
        for _ in range(16):
            ledger_id = await self._generate_id()
            try:
                await self.ctx.zk.create(self.ctx.ledger_path(ledger_id), data, makepath=True)
            except NodeExists:
                log.info("ledger id %d is taken; drawing another", ledger_id)
                continue
            log.info("created ledger %d on %s (E%d W%d A%d)", ledger_id, ensemble, e, w, a)
            return LedgerWriter(self.ctx, ledger_id, metadata, 0, config.password)
        raise LedgerError("could not allocate a ledger id")

    async def _generate_id(self) -> int:
        prefix = f"{self.ledgers_root}/idgen/ID-"
        path = await self.ctx.zk.create(prefix, b"", ephemeral=True, sequence=True,
                                        makepath=True)
        with contextlib.suppress(ZooKeeperError):
            await self.ctx.zk.delete(path)
        ledger_id = int(path[len(prefix):])
        if ledger_id >= SHORT_ID_LIMIT:
            raise LedgerError(f"ledger id {ledger_id} needs BookKeeper's long id generator, "
                              "which kwire does not implement")
        return ledger_id

    async def _ensure_layout(self) -> None:
        """Write LAYOUT if no bookie has (a bookie writes it when it first starts)."""
        if self._layout_checked or not self._create_layout:
            return
        path = f"{self.ledgers_root}/LAYOUT"
        if await self.ctx.zk.exists(path) is None:
            with contextlib.suppress(NodeExists):
                await self.ctx.zk.create(path, LAYOUT, makepath=True)
        self._layout_checked = True

    # ---- open, delete, close -----------------------------------------------------------

    async def open(self, ledger_id: int, password: bytes, *, recovery: bool) -> LedgerHandle:
        if recovery:
            return await recover_ledger(self.ctx, ledger_id, password)
        metadata, _ = await self.ctx.read_metadata(ledger_id)
        check_password(ledger_id, metadata, password)
        return await open_for_reading(self.ctx, ledger_id, metadata, password)

    async def delete(self, ledger_id: int) -> None:
        with contextlib.suppress(NoNode):
            await self.ctx.zk.delete(self.ctx.ledger_path(ledger_id))

    async def close(self) -> None:
        self.ctx.bookies.close()
