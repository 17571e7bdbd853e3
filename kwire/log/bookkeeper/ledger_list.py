"""The partition's ledger list: the one ZooKeeper znode that says what the log is.

A topic-partition in cluster storage is an ordered chain of BookKeeper ledgers
(Pulsar's ManagedLedgerInfo, bookkeeper.md §4.1), kept in one znode at
`{root}/{topic}/{partition}` and only ever changed by compare-and-set on the
znode version. This module is pure: the values and their JSON form.

    {"version": 1,
     "log_start_offset": 0,
     "ledgers": [{"ledger_id": 7, "first_offset": 0, "end_offset": 120,
                  "last_entry_id": 41, "size": 53312, "max_timestamp": 1700000000123,
                  "max_timestamp_offset": 97, "leader_epoch": 3, "created_ms": 1700000000000},
                 {"ledger_id": 9, "first_offset": 120, "end_offset": null, ...}],
     "producer_snapshot": {"ledger_id": 12, "offset": 120} | null,
     "owner": {"token": "9f0c...", "host": "broker-2", "pid": 4711, "since_ms": ...} | null}

- `end_offset` is the offset after the ledger's last batch; None while its owner
  still writes it (a new owner then opens it with recovery, see log.py).
- `last_entry_id` is the LOG's view of the last entry: it may be below the
  ledger's own lastEntryId when the writer reported entries above it as failed
  (they reached some bookies, so recovery kept them) — those are never served.
- `max_timestamp` / `max_timestamp_offset` are None when unknown (a ledger
  recovered after its writer died); the log computes them once and stores them.
- Ledgers are contiguous: each `first_offset` is the previous `end_offset`.

ZooKeeper refuses znodes over 1 MB (jute.maxbuffer): at ~200 bytes a ledger that
is some 5,000 ledgers, i.e. 5 TB per partition at the default segment.bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    ledger_id: int
    first_offset: int
    end_offset: int | None = None  # None: still being written by its owner
    last_entry_id: int = -1
    size: int = 0
    max_timestamp: int | None = None  # None: unknown (recovered after a crash)
    max_timestamp_offset: int | None = None
    leader_epoch: int = -1
    created_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.end_offset is None

    @property
    def entries(self) -> int:
        return self.last_entry_id + 1


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """Where the producer-state snapshot is: a small closed ledger of its own."""

    ledger_id: int
    offset: int


@dataclass(frozen=True, slots=True)
class Owner:
    token: str
    host: str = ""
    pid: int = 0
    since_ms: int = 0


@dataclass(frozen=True, slots=True)
class LedgerList:
    log_start_offset: int = 0
    ledgers: tuple[LedgerInfo, ...] = field(default_factory=tuple)
    producer_snapshot: SnapshotRef | None = None
    owner: Owner | None = None

    @property
    def end_offset(self) -> int:
        """The offset after the last recorded batch (the log start when the list is
        empty); unknown (this raises) while the last ledger is still open."""
        if not self.ledgers:
            return self.log_start_offset
        end = self.ledgers[-1].end_offset
        if end is None:
            raise ValueError("the last ledger is still open")
        return max(end, self.log_start_offset)

    def with_ledger(self, info: LedgerInfo) -> LedgerList:
        """Replace the ledger with `info`'s id (or append it when new)."""
        ledgers = list(self.ledgers)
        for i, existing in enumerate(ledgers):
            if existing.ledger_id == info.ledger_id:
                ledgers[i] = info
                return replace(self, ledgers=tuple(ledgers))
        return replace(self, ledgers=(*ledgers, info))

    def replaced(self, info: LedgerInfo) -> LedgerList:
        """Replace the ledger with `info`'s id; unchanged when it left the list."""
        return replace(self, ledgers=tuple(
            info if existing.ledger_id == info.ledger_id else existing
            for existing in self.ledgers))

    def without(self, ledger_ids: set[int]) -> LedgerList:
        return replace(self, ledgers=tuple(
            info for info in self.ledgers if info.ledger_id not in ledger_ids))


class ListFormatError(ValueError):
    """The znode does not hold a ledger list this version understands."""


def encode(doc: LedgerList) -> bytes:
    data: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "log_start_offset": doc.log_start_offset,
        "ledgers": [_info_dict(info) for info in doc.ledgers],
        "producer_snapshot": None if doc.producer_snapshot is None else {
            "ledger_id": doc.producer_snapshot.ledger_id,
            "offset": doc.producer_snapshot.offset,
        },
        "owner": None if doc.owner is None else {
            "token": doc.owner.token, "host": doc.owner.host, "pid": doc.owner.pid,
            "since_ms": doc.owner.since_ms,
        },
    }
    return json.dumps(data, separators=(",", ":")).encode()


def decode(data: bytes) -> LedgerList:
    """The list in `data`; an empty znode is an empty list."""
    if not data:
        return LedgerList()
    try:
        raw = json.loads(data)
        version = raw["version"]
        if version != FORMAT_VERSION:
            raise ListFormatError(f"ledger list format version {version} (this broker "
                                  f"reads {FORMAT_VERSION})")
        snapshot = raw.get("producer_snapshot")
        owner = raw.get("owner")
        return LedgerList(
            log_start_offset=int(raw["log_start_offset"]),
            ledgers=tuple(_info(item) for item in raw["ledgers"]),
            producer_snapshot=None if snapshot is None else SnapshotRef(
                int(snapshot["ledger_id"]), int(snapshot["offset"])),
            owner=None if owner is None else Owner(
                str(owner["token"]), str(owner.get("host", "")), int(owner.get("pid", 0)),
                int(owner.get("since_ms", 0))),
        )
    except ListFormatError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ListFormatError(f"not a ledger list: {exc!r}") from exc


def _info_dict(info: LedgerInfo) -> dict[str, Any]:
    return {
        "ledger_id": info.ledger_id, "first_offset": info.first_offset,
        "end_offset": info.end_offset, "last_entry_id": info.last_entry_id,
        "size": info.size, "max_timestamp": info.max_timestamp,
        "max_timestamp_offset": info.max_timestamp_offset,
        "leader_epoch": info.leader_epoch, "created_ms": info.created_ms,
    }


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _info(item: dict[str, Any]) -> LedgerInfo:
    return LedgerInfo(
        ledger_id=int(item["ledger_id"]),
        first_offset=int(item["first_offset"]),
        end_offset=_optional_int(item["end_offset"]),
        last_entry_id=int(item["last_entry_id"]),
        size=int(item["size"]),
        max_timestamp=_optional_int(item.get("max_timestamp")),
        max_timestamp_offset=_optional_int(item.get("max_timestamp_offset")),
        leader_epoch=int(item.get("leader_epoch", -1)),
        created_ms=int(item.get("created_ms", 0)),
    )
