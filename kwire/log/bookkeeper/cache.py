"""The entry cache: recent ledger entries in memory, shared by every log of a store.

Tail reads (consumers keeping up with producers) are the common case; they are
served from here without a bookie round trip. A log puts each entry it appends
(the same `bytes` object it hands to the ledger client: no copy) and each entry
it reads from bookies (catch-up reads and their read-ahead). One LRU bounded in
bytes serves all partitions, so a busy partition may use what idle ones do not
(Pulsar's managed-ledger cache does the same).

Keys are (ledger id, entry id). Ledger ids are never reused and entries never
change once written, so nothing is ever invalidated: entries of deleted ledgers
or above a failed writer's last confirmed entry are never asked for again (the
log only asks for entries it may serve) and age out.
"""

from __future__ import annotations

from collections import OrderedDict

# Per-entry bookkeeping in the dict, counted against the budget so that millions
# of tiny entries cannot exceed it by much.
_OVERHEAD = 100


class EntryCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self._entries

    @property
    def size(self) -> int:
        return self._bytes

    def get(self, ledger_id: int, entry_id: int) -> bytes | None:
        key = (ledger_id, entry_id)
        data = self._entries.get(key)
        if data is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return data

    def put(self, ledger_id: int, entry_id: int, data: bytes) -> None:
        cost = len(data) + _OVERHEAD
        if cost > self.max_bytes:
            return
        key = (ledger_id, entry_id)
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old) + _OVERHEAD
        self._entries[key] = data
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted) + _OVERHEAD
