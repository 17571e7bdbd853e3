"""An injected I/O-error layer for the log tests: the `os` calls the local log
makes fail for chosen files, the way a full or failing disk makes them fail.

`FaultyDisk` wraps os.write, os.fsync, os.ftruncate, os.open, os.replace and
os.posix_fallocate. A rule names the call, a predicate on the file's path (the
path of an fd comes from /proc/self/fd) and the errno; `partial=True` makes a
write put half its bytes down first, as a disk filling up mid-write does.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@dataclass
class Rule:
    call: str
    matches: Callable[[str], bool]
    error: int
    partial: bool = False
    remaining: int | None = None  # None: every time
    hits: int = 0


class FaultyDisk:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rules: list[Rule] = []
        real = {name: getattr(os, name) for name in
                ("write", "fsync", "ftruncate", "open", "replace", "posix_fallocate")}
        self.real = real

        def check(call: str, path: str) -> Rule | None:
            for rule in self.rules:
                if rule.call == call and rule.matches(path) and rule.remaining != 0:
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
            return None

        def write(fd: int, data: Any) -> int:
            rule = check("write", fd_path(fd))
            if rule is None:
                return int(real["write"](fd, data))
            if rule.partial and len(data) > 1:
                return int(real["write"](fd, memoryview(data)[: len(data) // 2]))
            raise OSError(rule.error, os.strerror(rule.error))

        def fd_call(name: str) -> Callable[..., Any]:
            def call(fd: int, *args: Any) -> Any:
                rule = check(name, fd_path(fd))
                if rule is not None:
                    raise OSError(rule.error, os.strerror(rule.error))
                return real[name](fd, *args)
            return call

        def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT and check("open", str(path)) is not None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return int(real["open"](path, flags, *args, **kwargs))

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            rule = check("replace", str(dst))
            if rule is not None:
                raise OSError(rule.error, os.strerror(rule.error))
            real["replace"](src, dst, **kwargs)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fsync", fd_call("fsync"))
        monkeypatch.setattr(os, "ftruncate", fd_call("ftruncate"))
        monkeypatch.setattr(os, "posix_fallocate", fd_call("posix_fallocate"))
        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "replace", replace)

    def fail(self, call: str, suffix: str, error: int = errno.ENOSPC, *, partial: bool = False,
             times: int | None = None) -> Rule:
        """Make `call` fail for files whose path ends with `suffix`."""
        rule = Rule(call, lambda path: path.endswith(suffix), error, partial, times)
        self.rules.append(rule)
        return rule

    def heal(self) -> None:
        """Space is back: every call works again."""
        self.rules.clear()

    @contextmanager
    def failing(self, call: str, suffix: str, error: int = errno.ENOSPC,
                **kwargs: Any) -> Iterator[Rule]:
        rule = self.fail(call, suffix, error, **kwargs)
        try:
            yield rule
        finally:
            self.rules.remove(rule)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FaultyDisk:
    return FaultyDisk(monkeypatch)
