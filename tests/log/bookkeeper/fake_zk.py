"""An in-memory ZooKeeper tree with versions, for unit tests of code that takes
the `Znodes` or `Session` protocol (kwire/zookeeper.py). It raises
kwire.zookeeper's own errors, as the real client does, and behaves as
kwire.zookeeper.ZooKeeper does over kazoo where tests can see it:

* one-shot watches (`get`/`exists`: data and existence, `children`: the child
  list), run with loop.call_soon, so after the call that caused them returns,
  as the real ones arrive after the reply; a `get` or `children` of a missing
  znode leaves no watch;
* `multi`: all ops or none, the failing op's error;
* sessions: `new_session()` gives another client over the same tree (a second
  broker); ephemeral znodes belong to the session that created them;
  `expire_session()` does what ZooKeeper and kazoo do when a session expires
  (its ephemeral znodes go, its pending watches run, listeners hear "LOST",
  then kazoo's reconnect: a new session id and "CONNECTED"); `suspend()` and
  `resume()` a lost connection whose session survives (kazoo runs the pending
  watches then too, and says "SUSPENDED", then "CONNECTED").

Tests that need ZooKeeper's real behaviour (timeouts, a real network) run
against the real server in compat-tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence

from kwire.zookeeper import (
    BadVersion,
    Check,
    ConnectionLost,
    Create,
    Delete,
    NodeExists,
    NoNode,
    NotEmpty,
    Op,
    OpResult,
    SetData,
    StateListener,
    Watch,
)


class _Tree:
    """The server side: the znodes every session of one fake ZooKeeper sees."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[bytes, int]] = {"/": (b"", 0)}
        self.sequence: dict[str, int] = {}
        self.ephemeral_owners: dict[str, int] = {}
        # path -> [(session id that set it, watch)]
        self.data_watches: dict[str, list[tuple[int, Watch]]] = {}
        self.child_watches: dict[str, list[tuple[int, Watch]]] = {}
        self.session_ids = itertools.count(0x1000)


class FakeZooKeeper:
    def __init__(self, tree: _Tree | None = None) -> None:
        self._tree = tree if tree is not None else _Tree()
        self._session_id = next(self._tree.session_ids)
        self._live = True
        self._listeners: list[StateListener] = []
        # Called before each call (each op of a multi) with (operation, path); may
        # raise to inject a fault. Operations: get set create delete children
        # exists check.
        self.before: Callable[[str, str], None] | None = None

    # ---- sessions --------------------------------------------------------------------

    def new_session(self) -> FakeZooKeeper:
        """Another client (of the same class), with a session of its own, over the
        same tree."""
        return type(self)(self._tree)

    @property
    def nodes(self) -> dict[str, tuple[bytes, int]]:
        """path -> (data, version); tests may read and write it directly."""
        return self._tree.nodes

    @property
    def session_id(self) -> int:
        """0 while the session is down, as the real one while not connected."""
        return self._session_id if self._live else 0

    @session_id.setter
    def session_id(self, value: int) -> None:
        self._session_id = value

    @property
    def connected(self) -> bool:
        return self._live

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def remove_state_listener(self, listener: StateListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _tell(self, state: str) -> None:
        loop = asyncio.get_running_loop()
        for listener in list(self._listeners):
            loop.call_soon(listener, state)

    def expire_session(self, reconnect: bool = True) -> None:
        """The session expires: its ephemeral znodes are deleted (other sessions'
        watches run), its own pending watches run (kazoo's NONE event), listeners
        hear "LOST". With `reconnect`, kazoo's automatic reconnect follows at
        once: a new session id and "CONNECTED"; without it calls fail with
        ConnectionLost until `reconnect()`."""
        self._tell("LOST")  # kazoo tells the listeners before it runs the watches
        self._end_session()
        if reconnect:
            self.reconnect()

    def reconnect(self) -> None:
        """A new session after an expiry (kazoo's reconnect)."""
        self._session_id = next(self._tree.session_ids)
        self._live = True
        self._tell("CONNECTED")

    def suspend(self) -> None:
        """The connection drops, the session lives on: calls fail with
        ConnectionLost, pending watches run (kazoo forgets them), "SUSPENDED"."""
        self._live = False
        self._tell("SUSPENDED")
        self._run_own_watches(self._session_id)

    def resume(self) -> None:
        """The connection is back, on the same session: "CONNECTED"."""
        self._live = True
        self._tell("CONNECTED")

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        """Close the session, as ZooKeeper.stop: its ephemeral znodes go at once."""
        if self._live:
            self._tell("LOST")
            self._end_session()

    def _end_session(self) -> None:
        tree, old = self._tree, self._session_id
        self._live = False
        fired: list[str] = []
        # Deepest first, should ephemerals ever nest under each other's parents.
        for path in sorted((p for p, s in tree.ephemeral_owners.items() if s == old),
                           key=len, reverse=True):
            if path in tree.nodes:
                self._remove(path, fired)
        self._fire(fired)
        self._run_own_watches(old)

    def _run_own_watches(self, session: int) -> None:
        """Run and forget every watch `session` left, as kazoo does when its
        connection drops or its session ends."""
        own: list[Watch] = []
        for watches in (self._tree.data_watches, self._tree.child_watches):
            for path in list(watches):
                own += [w for s, w in watches[path] if s == session]
                watches[path] = [(s, w) for s, w in watches[path] if s != session]
        loop = asyncio.get_running_loop()
        for watch in own:
            loop.call_soon(watch)

    # ---- the tree --------------------------------------------------------------------

    def _hook(self, op: str, path: str) -> None:
        if not self._live:
            raise ConnectionLost(f"{op} {path}: the fake session is down")
        if self.before is not None:
            self.before(op, path)

    @staticmethod
    def _parent(path: str) -> str:
        parent = path.rsplit("/", 1)[0]
        return parent or "/"

    def _watch(self, table: dict[str, list[tuple[int, Watch]]], path: str,
               watch: Watch | None) -> None:
        if watch is not None:
            table.setdefault(path, []).append((self._session_id, watch))

    def _fire(self, events: list[str]) -> None:
        """Run, after this call returns, the watches the events trigger: "data:P"
        (P created, changed or deleted) and "child:P" (P's child list changed,
        or P was deleted)."""
        tree = self._tree
        loop = asyncio.get_running_loop()
        for event in events:
            kind, path = event.split(":", 1)
            table = tree.data_watches if kind == "data" else tree.child_watches
            for _, watch in table.pop(path, []):
                loop.call_soon(watch)

    def _make(self, path: str, data: bytes, owner: int, fired: list[str]) -> None:
        self._tree.nodes[path] = (bytes(data), 0)
        if owner:
            self._tree.ephemeral_owners[path] = owner
        fired += [f"data:{path}", f"child:{self._parent(path)}"]

    def _remove(self, path: str, fired: list[str]) -> None:
        del self._tree.nodes[path]
        self._tree.ephemeral_owners.pop(path, None)
        fired += [f"data:{path}", f"child:{path}", f"child:{self._parent(path)}"]

    def _create(self, path: str, data: bytes, ephemeral: bool, sequence: bool,
                makepath: bool, fired: list[str]) -> str:
        tree = self._tree
        parent = self._parent(path)
        if parent not in tree.nodes:
            if not makepath:
                raise NoNode(parent)
            self._ensure(parent, fired)
        if sequence:
            n = tree.sequence.get(parent, 0)
            tree.sequence[parent] = n + 1
            path = f"{path}{n:010d}"
        if path in tree.nodes:
            raise NodeExists(path)
        self._make(path, data, self._session_id if ephemeral else 0, fired)
        return path

    def _set(self, path: str, data: bytes, version: int, fired: list[str]) -> int:
        if path not in self._tree.nodes:
            raise NoNode(path)
        current = self._tree.nodes[path][1]
        if version != -1 and version != current:
            raise BadVersion(path)
        self._tree.nodes[path] = (bytes(data), current + 1)
        fired.append(f"data:{path}")
        return current + 1

    def _delete(self, path: str, version: int, fired: list[str]) -> None:
        nodes = self._tree.nodes
        if path not in nodes:
            raise NoNode(path)
        if version != -1 and version != nodes[path][1]:
            raise BadVersion(path)
        if any(self._parent(p) == path for p in nodes if p != path):
            raise NotEmpty(path)
        self._remove(path, fired)

    def _check(self, path: str, version: int) -> None:
        if path not in self._tree.nodes:
            raise NoNode(path)
        if version != -1 and version != self._tree.nodes[path][1]:
            raise BadVersion(path)

    def _ensure(self, path: str, fired: list[str]) -> None:
        built = ""
        for part in path.strip("/").split("/"):
            built += "/" + part
            if built not in self._tree.nodes:
                self._make(built, b"", 0, fired)

    # ---- calls -----------------------------------------------------------------------

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, int]:
        self._hook("get", path)
        if path not in self.nodes:
            raise NoNode(path)
        self._watch(self._tree.data_watches, path, watch)
        return self.nodes[path]

    async def get_or_none(self, path: str) -> tuple[bytes, int] | None:
        try:
            return await self.get(path)
        except NoNode:
            return None

    async def set(self, path: str, data: bytes, version: int = -1) -> int:
        self._hook("set", path)
        fired: list[str] = []
        new_version = self._set(path, data, version, fired)
        self._fire(fired)
        return new_version

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str:
        self._hook("create", path)
        fired: list[str] = []
        created = self._create(path, data, ephemeral, sequence, makepath, fired)
        self._fire(fired)
        return created

    async def delete(self, path: str, version: int = -1) -> None:
        self._hook("delete", path)
        fired: list[str] = []
        self._delete(path, version, fired)
        self._fire(fired)

    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        self._hook("children", path)
        if path not in self.nodes:
            raise NoNode(path)
        self._watch(self._tree.child_watches, path, watch)
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes
                      if p.startswith(prefix) and "/" not in p[len(prefix):] and p != path)

    async def exists(self, path: str, watch: Watch | None = None) -> int | None:
        self._hook("exists", path)
        self._watch(self._tree.data_watches, path, watch)
        node = self.nodes.get(path)
        return None if node is None else node[1]

    async def ephemeral_owner(self, path: str) -> int | None:
        self._hook("exists", path)
        if path not in self.nodes:
            return None
        return self._tree.ephemeral_owners.get(path, 0)

    async def multi(self, ops: Sequence[Op]) -> list[OpResult]:
        """All or nothing: the ops run in order on the tree; the first failure
        puts the tree back as it was and is raised. The `before` hook sees every
        op first (a fault there is a transaction that never reached the server)."""
        for op in ops:
            self._hook({Check: "check", Create: "create", SetData: "set",
                        Delete: "delete"}[type(op)], op.path)
        tree = self._tree
        saved = (dict(tree.nodes), dict(tree.sequence), dict(tree.ephemeral_owners))
        fired: list[str] = []
        results: list[OpResult] = []
        try:
            for op in ops:
                if isinstance(op, Check):
                    self._check(op.path, op.version)
                    results.append(None)
                elif isinstance(op, Create):
                    results.append(self._create(op.path, op.data, op.ephemeral, op.sequence,
                                                False, fired))
                elif isinstance(op, SetData):
                    results.append(self._set(op.path, op.data, op.version, fired))
                else:
                    self._delete(op.path, op.version, fired)
                    results.append(None)
        except Exception:
            nodes, sequence, owners = saved
            tree.nodes.clear()
            tree.nodes.update(nodes)
            tree.sequence = sequence
            tree.ephemeral_owners = owners
            raise
        self._fire(fired)
        return results

    async def ensure_path(self, path: str) -> None:
        fired: list[str] = []
        self._ensure(path, fired)
        self._fire(fired)
