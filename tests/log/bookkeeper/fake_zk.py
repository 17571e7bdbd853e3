"""An in-memory ZooKeeper tree with versions, for unit tests of code that takes
the `Znodes` protocol (kwire/log/bookkeeper/api.py). It raises kwire.zookeeper's
own errors, as the real client does. Tests that need ZooKeeper's real behaviour
(sessions, ephemeral nodes going away) run against the real server in
compat-tests."""

from __future__ import annotations

from collections.abc import Callable

from kwire.zookeeper import BadVersion, NodeExists, NoNode, NotEmpty


class FakeZooKeeper:
    def __init__(self) -> None:
        self.nodes: dict[str, tuple[bytes, int]] = {"/": (b"", 0)}
        self._sequence: dict[str, int] = {}
        # Called before each call with (operation, path); may raise to inject a fault.
        self.before: Callable[[str, str], None] | None = None

    def _hook(self, op: str, path: str) -> None:
        if self.before is not None:
            self.before(op, path)

    @staticmethod
    def _parent(path: str) -> str:
        parent = path.rsplit("/", 1)[0]
        return parent or "/"

    async def get(self, path: str) -> tuple[bytes, int]:
        self._hook("get", path)
        if path not in self.nodes:
            raise NoNode(path)
        return self.nodes[path]

    async def get_or_none(self, path: str) -> tuple[bytes, int] | None:
        try:
            return await self.get(path)
        except NoNode:
            return None

    async def set(self, path: str, data: bytes, version: int = -1) -> int:
        self._hook("set", path)
        if path not in self.nodes:
            raise NoNode(path)
        current = self.nodes[path][1]
        if version != -1 and version != current:
            raise BadVersion(path)
        self.nodes[path] = (bytes(data), current + 1)
        return current + 1

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False) -> str:
        self._hook("create", path)
        parent = self._parent(path)
        if parent not in self.nodes:
            if not makepath:
                raise NoNode(parent)
            await self.ensure_path(parent)
        if sequence:
            n = self._sequence.get(parent, 0)
            self._sequence[parent] = n + 1
            path = f"{path}{n:010d}"
        if path in self.nodes:
            raise NodeExists(path)
        self.nodes[path] = (bytes(data), 0)
        return path

    async def delete(self, path: str, version: int = -1) -> None:
        self._hook("delete", path)
        if path not in self.nodes:
            raise NoNode(path)
        if version != -1 and version != self.nodes[path][1]:
            raise BadVersion(path)
        if any(self._parent(p) == path for p in self.nodes if p != path):
            raise NotEmpty(path)
        del self.nodes[path]

    async def children(self, path: str) -> list[str]:
        self._hook("children", path)
        if path not in self.nodes:
            raise NoNode(path)
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes
                      if p.startswith(prefix) and "/" not in p[len(prefix):] and p != path)

    async def exists(self, path: str) -> int | None:
        self._hook("exists", path)
        node = self.nodes.get(path)
        return None if node is None else node[1]

    async def ensure_path(self, path: str) -> None:
        built = ""
        for part in path.strip("/").split("/"):
            built += "/" + part
            if built not in self.nodes:
                self.nodes[built] = (b"", 0)
