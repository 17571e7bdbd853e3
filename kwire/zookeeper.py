"""An asyncio face for one ZooKeeper session (kazoo underneath).

kazoo runs its own I/O thread and completes its `*_async` calls there; each call
here hands that completion back to the event loop, so callers simply await
ZooKeeper operations and never block the loop. Both users of ZooKeeper go
through this module: the ledger client (`kwire/log/bookkeeper`, BookKeeper's
own metadata under `/ledgers`) and the cluster metadata store
(`kwire/cluster/zookeeper`). kazoo's exceptions are mapped to the few kwire
types below so that no other module imports kazoo.

Paths are absolute in the ZooKeeper tree: a `zookeeper.connect` chroot applies
to kwire's own znodes (the metadata store prefixes it), not to BookKeeper's
metadata root, which bookies name absolutely in their `metadataServiceUri`.

Watches and sessions (what the controller election and broker registration
build on) behave as ZooKeeper's own, with kazoo's one difference spelled out:

* A watch is one-shot: `get`/`exists` leave one on the znode's data and
  existence, `children` on its child list; it runs once, on the event loop,
  at the first change (or deletion) after the read. A read that fails sets no
  watch (ZooKeeper sets none on a `get` of a missing znode: use `exists`).
* kazoo also runs every pending watch when the connection drops (SUSPENDED) or
  the session ends (LOST), and forgets them: ZooKeeper would have kept them
  across a reconnect, kazoo does not. So a watch means "look again", never
  "this changed": re-read (and re-watch) when it runs, and when a read fails
  because the connection is down, read again after the next "CONNECTED".
* An ephemeral znode belongs to the session that created it
  (`ephemeral_owner`), and goes when that session expires or closes. kazoo
  reconnects by itself after a session is LOST, with a new session id: what
  the old session owned must be created again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.exceptions import (
    ConnectionLoss as _ConnectionLoss,
)
from kazoo.exceptions import (
    RolledBackError as _RolledBack,
)
from kazoo.exceptions import (
    RuntimeInconsistency as _RuntimeInconsistency,
)
from kazoo.exceptions import (
    SessionExpiredError as _SessionExpired,
)

log = logging.getLogger("kwire.zookeeper")

T = TypeVar("T")


class ZooKeeperError(Exception):
    """A ZooKeeper call failed (connection loss, session expiry, timeout...)."""


class NoNode(ZooKeeperError):
    pass


class NodeExists(ZooKeeperError):
    pass


class BadVersion(ZooKeeperError):
    """A compare-and-set lost: the znode changed since it was read."""


class NotEmpty(ZooKeeperError):
    pass


class ConnectionLost(ZooKeeperError):
    """The outcome of the call is unknown: the connection dropped while it was in
    flight (a create or set may or may not have happened)."""


class SessionExpired(ZooKeeperError):
    pass


def _map(exc: BaseException) -> BaseException:
    # kazoo's exceptions mostly carry no text: name the kazoo error then.
    text = str(exc) or type(exc).__name__
    if isinstance(exc, NoNodeError):
        return NoNode(text)
    if isinstance(exc, NodeExistsError):
        return NodeExists(text)
    if isinstance(exc, BadVersionError):
        return BadVersion(text)
    if isinstance(exc, NotEmptyError):
        return NotEmpty(text)
    if isinstance(exc, _ConnectionLoss):
        return ConnectionLost(text)
    if isinstance(exc, _SessionExpired):
        return SessionExpired(text)
    if isinstance(exc, KazooException):
        return ZooKeeperError(f"{type(exc).__name__}: {exc}")
    return exc


# A watch: called once, on the event loop, with no arguments (see the module doc).
Watch = Callable[[], None]

# A state listener: called on the event loop with "CONNECTED", "SUSPENDED" or "LOST".
StateListener = Callable[[str], None]


# ---- transactions (ZooKeeper's multi) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """Fail the transaction unless `path` is at `version`. Checking with version
    -1 would match any version, so a fence that does not know the version yet
    uses -2 (Kafka's ZkVersion.UnknownVersion), which matches none."""

    path: str
    version: int


@dataclass(frozen=True, slots=True)
class Create:
    """Create `path` (its parent must exist: a transaction cannot make paths)."""

    path: str
    data: bytes = b""
    ephemeral: bool = False
    sequence: bool = False


@dataclass(frozen=True, slots=True)
class SetData:
    path: str
    data: bytes
    version: int = -1


@dataclass(frozen=True, slots=True)
class Delete:
    path: str
    version: int = -1


Op = Check | Create | SetData | Delete

# One per op of a committed transaction: the created path (Create), the new
# version (SetData), None (Check, Delete).
OpResult = str | int | None


class Znodes(Protocol):
    """The ZooKeeper calls the ledger client, the ledger-chain log and the metadata
    store make: `ZooKeeper` below, or an in-memory tree in unit tests. Errors are
    this module's NoNode, NodeExists, BadVersion, ConnectionLost..."""

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, int]: ...

    async def set(self, path: str, data: bytes, version: int = -1) -> int: ...

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str: ...

    async def delete(self, path: str, version: int = -1) -> None: ...

    async def children(self, path: str, watch: Watch | None = None) -> list[str]: ...

    async def exists(self, path: str, watch: Watch | None = None) -> int | None: ...

    async def multi(self, ops: Sequence[Op]) -> list[OpResult]: ...


class Session(Znodes, Protocol):
    """Znodes plus what only a session has: who owns an ephemeral znode, and the
    session's own life. The controller election and the broker registration
    take this; the ledger code needs only Znodes."""

    @property
    def session_id(self) -> int: ...

    @property
    def connected(self) -> bool: ...

    async def ephemeral_owner(self, path: str) -> int | None: ...

    def add_state_listener(self, listener: StateListener) -> None: ...

    def remove_state_listener(self, listener: StateListener) -> None: ...


def split_chroot(connect: str) -> tuple[str, str]:
    """`host:port,host:port/chroot` -> (`host:port,host:port`, `/chroot`) ("" when
    there is no chroot), as Kafka reads its `zookeeper.connect`."""
    slash = connect.find("/")
    if slash < 0:
        return connect, ""
    chroot = connect[slash:].rstrip("/")
    return connect[:slash], chroot


def _multi_failure(ops: Sequence[Op], results: Sequence[Any]) -> BaseException:
    """The kwire error of the op that failed a transaction. ZooKeeper answers a
    failed multi with one result per op: the failing op's own error, ops before
    it rolled back (RolledBackError), ops after it not tried (RuntimeInconsistency)."""
    for op, result in zip(ops, results, strict=False):
        if isinstance(result, BaseException) and \
                not isinstance(result, _RolledBack | _RuntimeInconsistency):
            mapped = _map(result)
            if isinstance(mapped, ZooKeeperError):
                return type(mapped)(f"{type(op).__name__} {op.path}: {type(result).__name__}")
            return mapped
    return ZooKeeperError(f"transaction failed without a failing op: {results!r}")


class ZooKeeper:
    """One ZooKeeper session. Every method is a single ZooKeeper call, awaited on
    the event loop, bounded by `call_timeout_s` (a call that times out raises
    ConnectionLost: its outcome is unknown)."""

    def __init__(self, hosts: str, session_timeout_ms: int = 18000,
                 call_timeout_s: float = 10.0) -> None:
        self.hosts = hosts
        self._client = KazooClient(hosts=hosts, timeout=session_timeout_ms / 1000)
        self._call_timeout = call_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[StateListener] = []
        self._client.add_listener(self._on_state)

    # ---- session ---------------------------------------------------------------------

    async def start(self, timeout_s: float = 15.0) -> None:
        self._loop = asyncio.get_running_loop()
        event = self._client.start_async()
        started = await self._loop.run_in_executor(None, event.wait, timeout_s)
        if not started or not self._client.connected:
            self._client.stop()
            raise ConnectionLost(f"cannot connect to ZooKeeper at {self.hosts} "
                                 f"within {timeout_s:g} s")

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._stop_blocking)

    def _stop_blocking(self) -> None:
        try:
            self._client.stop()
            self._client.close()
        except Exception as exc:  # closing is best effort
            log.warning("closing the ZooKeeper session: %s", exc)

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    @property
    def session_id(self) -> int:
        """The id of the session while connected (the `ephemeral_owner` of the
        ephemeral znodes it creates); 0 while there is no connection — the
        session may then still live, but nothing can be done with it."""
        client_id = self._client.client_id
        return int(client_id[0]) if client_id else 0

    def add_state_listener(self, listener: StateListener) -> None:
        """`listener(state)` runs on the event loop for "CONNECTED", "SUSPENDED"
        (connection lost, session may still live) and "LOST" (session expired:
        ephemeral znodes are gone; kazoo goes on to connect a new session, and
        says "CONNECTED" when it has)."""
        self._listeners.append(listener)

    def remove_state_listener(self, listener: StateListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _on_state(self, state: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        name = {KazooState.CONNECTED: "CONNECTED", KazooState.SUSPENDED: "SUSPENDED",
                KazooState.LOST: "LOST"}.get(state, str(state))
        for listener in list(self._listeners):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(listener, name)

    # ---- calls -----------------------------------------------------------------------

    async def _call(self, start: Callable[[], Any]) -> Any:
        """Start a kazoo async call and await its result on the loop."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any) -> None:
            if fut.done():
                return
            if result.successful():
                fut.set_result(result.value)
            else:
                fut.set_exception(_map(result.exception))

        def done(result: Any) -> None:  # kazoo's thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle, result)

        try:
            start().rawlink(done)
        except KazooException as exc:
            raise _map(exc) from exc
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that arrives as the call completes (fixed in 3.12).
            async with asyncio.timeout(self._call_timeout):
                return await fut
        except TimeoutError as exc:
            raise ConnectionLost(f"ZooKeeper call timed out after {self._call_timeout:g} s") \
                from exc

    def _watcher(self, watch: Watch | None) -> Callable[[Any], None] | None:
        """kazoo's watcher for `watch`: kazoo calls it on its own thread with the
        event; `watch` runs once, on the loop, without it (the event says little
        that a re-read does not, and kazoo's NONE events say less)."""
        if watch is None:
            return None
        loop = self._loop or asyncio.get_running_loop()
        fired = False

        def on_event(_event: Any) -> None:  # kazoo's thread
            nonlocal fired
            if fired or loop.is_closed():
                return
            fired = True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(watch)

        return on_event

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, int]:
        """The znode's data and version; NoNode when it does not exist (and then
        no watch is left)."""
        watcher = self._watcher(watch)
        data, stat = await self._call(lambda: self._client.get_async(path, watch=watcher))
        return bytes(data or b""), int(stat.version)

    async def get_or_none(self, path: str) -> tuple[bytes, int] | None:
        try:
            return await self.get(path)
        except NoNode:
            return None

    async def set(self, path: str, data: bytes, version: int = -1) -> int:
        """Write `data` if the znode is still at `version` (-1: any); returns the
        new version. BadVersion when someone else changed it first."""
        stat = await self._call(lambda: self._client.set_async(path, data, version))
        return int(stat.version)

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str:
        """Create the znode (NodeExists if it is there); returns its path, which
        carries the sequence number for a sequential node."""
        created = await self._call(lambda: self._client.create_async(
            path, data, ephemeral=ephemeral, sequence=sequence, makepath=makepath))
        return str(created)

    async def delete(self, path: str, version: int = -1) -> None:
        await self._call(lambda: self._client.delete_async(path, version))

    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        """The child names; `watch` runs when a child comes or goes or the znode
        itself is deleted (not when a child's data changes)."""
        watcher = self._watcher(watch)
        return list(await self._call(
            lambda: self._client.get_children_async(path, watch=watcher)))

    async def exists(self, path: str, watch: Watch | None = None) -> int | None:
        """The znode's version, or None. The watch is left either way: it runs
        when the znode is created, changed or deleted."""
        watcher = self._watcher(watch)
        stat = await self._call(lambda: self._client.exists_async(path, watch=watcher))
        return None if stat is None else int(stat.version)

    async def ephemeral_owner(self, path: str) -> int | None:
        """The session id owning the ephemeral znode (0 for a persistent one), or
        None if there is no such znode."""
        stat = await self._call(lambda: self._client.exists_async(path))
        return None if stat is None else int(stat.ephemeralOwner)

    async def multi(self, ops: Sequence[Op]) -> list[OpResult]:
        """Apply `ops` in one ZooKeeper transaction: all of them or none. On
        failure raises the error of the op that failed (BadVersion, NoNode,
        NodeExists, NotEmpty); ConnectionLost leaves the outcome unknown, as
        for any call."""
        if not ops:
            return []

        def start() -> Any:
            transaction = self._client.transaction()
            for op in ops:
                if isinstance(op, Check):
                    transaction.check(op.path, op.version)
                elif isinstance(op, Create):
                    transaction.create(op.path, op.data, ephemeral=op.ephemeral,
                                       sequence=op.sequence)
                elif isinstance(op, SetData):
                    transaction.set_data(op.path, op.data, op.version)
                else:
                    transaction.delete(op.path, op.version)
            return transaction.commit_async()

        results = list(await self._call(start))
        if any(isinstance(r, BaseException) for r in results):
            raise _multi_failure(ops, results)
        out: list[OpResult] = []
        for op, result in zip(ops, results, strict=True):
            if isinstance(op, Create):
                out.append(str(result))
            elif isinstance(op, SetData):
                out.append(int(result.version))
            else:
                out.append(None)
        return out

    async def ensure_path(self, path: str) -> None:
        """Create `path` and its parents as empty persistent znodes where missing."""
        if not path or path == "/":
            return
        built = ""
        for part in path.strip("/").split("/"):
            built += "/" + part
            if await self.exists(built) is None:
                with contextlib.suppress(NodeExists):
                    await self.create(built)

    async def delete_recursive(self, path: str) -> None:
        """Delete `path` and everything under it (missing nodes are fine)."""
        try:
            for child in await self.children(path):
                await self.delete_recursive(f"{path.rstrip('/')}/{child}")
            await self.delete(path)
        except NoNode:
            pass
