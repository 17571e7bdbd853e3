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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
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
    if isinstance(exc, NoNodeError):
        return NoNode(str(exc))
    if isinstance(exc, NodeExistsError):
        return NodeExists(str(exc))
    if isinstance(exc, BadVersionError):
        return BadVersion(str(exc))
    if isinstance(exc, NotEmptyError):
        return NotEmpty(str(exc))
    if isinstance(exc, _ConnectionLoss):
        return ConnectionLost(str(exc))
    if isinstance(exc, _SessionExpired):
        return SessionExpired(str(exc))
    if isinstance(exc, KazooException):
        return ZooKeeperError(f"{type(exc).__name__}: {exc}")
    return exc


class Znodes(Protocol):
    """The ZooKeeper calls the ledger client, the ledger-chain log and the metadata
    store make: `ZooKeeper` below, or an in-memory tree in unit tests. Errors are
    this module's NoNode, NodeExists, BadVersion, ConnectionLost..."""

    async def get(self, path: str) -> tuple[bytes, int]: ...

    async def set(self, path: str, data: bytes, version: int = -1) -> int: ...

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str: ...

    async def delete(self, path: str, version: int = -1) -> None: ...

    async def children(self, path: str) -> list[str]: ...

    async def exists(self, path: str) -> int | None: ...


def split_chroot(connect: str) -> tuple[str, str]:
    """`host:port,host:port/chroot` -> (`host:port,host:port`, `/chroot`) ("" when
    there is no chroot), as Kafka reads its `zookeeper.connect`."""
    slash = connect.find("/")
    if slash < 0:
        return connect, ""
    chroot = connect[slash:].rstrip("/")
    return connect[:slash], chroot


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
        self._listeners: list[Callable[[str], None]] = []
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

    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        """`listener(state)` runs on the event loop for "CONNECTED", "SUSPENDED"
        (connection lost, session may still live) and "LOST" (session expired:
        ephemeral znodes are gone)."""
        self._listeners.append(listener)

    def _on_state(self, state: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        name = {KazooState.CONNECTED: "CONNECTED", KazooState.SUSPENDED: "SUSPENDED",
                KazooState.LOST: "LOST"}.get(state, str(state))
        for listener in list(self._listeners):
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
            return await asyncio.wait_for(fut, self._call_timeout)
        except TimeoutError as exc:
            raise ConnectionLost(f"ZooKeeper call timed out after {self._call_timeout:g} s") \
                from exc

    async def get(self, path: str) -> tuple[bytes, int]:
        """The znode's data and version; NoNode when it does not exist."""
        data, stat = await self._call(lambda: self._client.get_async(path))
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

    async def children(self, path: str) -> list[str]:
        return list(await self._call(lambda: self._client.get_children_async(path)))

    async def exists(self, path: str) -> int | None:
        """The znode's version, or None."""
        stat = await self._call(lambda: self._client.exists_async(path))
        return None if stat is None else int(stat.version)

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
