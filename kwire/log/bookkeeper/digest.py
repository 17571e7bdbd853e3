"""The stored entry format (bookkeeper.md §1.3): header, digest, payload; and the master key.

Bytes a writer sends in an ADD are exactly the bytes a bookie stores and returns:

    i64 ledger_id, i64 entry_id, i64 last_add_confirmed, i64 length, digest[D], payload

`last_add_confirmed` is the writer's LAC when it sent the entry (the piggy-backed
LAC that recovery reads back); `length` is the ledger's payload bytes up to and
including this entry. The digest covers the 32-byte header then the payload,
never itself. Bookies never check it: only readers do, so a digest bug shows only
when something reads the entry back (the Java interop tests do).

The master key, SHA1(b"ledger" + password), goes with every ADD and fencing read;
a bookie records the first one it sees for a ledger and answers EUA to any other.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass

import crc32c

from kwire.log.bookkeeper.api import DigestMismatch, DigestType

ENTRY_HEADER = struct.Struct(">qqqq")  # ledger_id, entry_id, last_add_confirmed, length
HEADER_LENGTH = ENTRY_HEADER.size  # 32

DIGEST_LENGTHS: dict[DigestType, int] = {
    DigestType.CRC32: 8, DigestType.CRC32C: 4, DigestType.HMAC: 20, DigestType.DUMMY: 0,
}

_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


def master_key(password: bytes) -> bytes:
    """The 20-byte ledger key of every ADD and fencing read, whatever the digest type."""
    return hashlib.sha1(b"ledger" + password).digest()


def mac_key(password: bytes) -> bytes:
    """The HMAC-SHA1 key of the MAC digest type."""
    return hashlib.sha1(b"mac" + password).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as a bookie stores it, digest checked."""

    ledger_id: int
    entry_id: int
    last_add_confirmed: int
    length: int
    payload: bytes


class DigestManager:
    """Encodes and checks the entries of one ledger."""

    __slots__ = ("ledger_id", "digest_type", "digest_length", "_mac_key")

    def __init__(self, ledger_id: int, digest_type: DigestType, password: bytes) -> None:
        self.ledger_id = ledger_id
        self.digest_type = DigestType(digest_type)
        self.digest_length = DIGEST_LENGTHS[self.digest_type]
        self._mac_key = mac_key(password) if self.digest_type == DigestType.HMAC else b""

    def _digest(self, header: bytes, payload: bytes | memoryview) -> bytes:
        kind = self.digest_type
        if kind == DigestType.CRC32C:
            return _U32.pack(crc32c.crc32c(payload, crc32c.crc32c(header)))
        if kind == DigestType.CRC32:
            # java.util.zip.CRC32 written as a long: the top four bytes are zero
            return _I64.pack(zlib.crc32(payload, zlib.crc32(header)))
        if kind == DigestType.HMAC:
            mac = hmac.new(self._mac_key, header, hashlib.sha1)
            mac.update(payload)
            return mac.digest()
        return b""

    def entry_prefix(self, entry_id: int, last_add_confirmed: int, length: int,
                     payload: bytes | memoryview) -> bytes:
        """The entry's header and digest: the stored entry is this followed by `payload`."""
        header = ENTRY_HEADER.pack(self.ledger_id, entry_id, last_add_confirmed, length)
        return header + self._digest(header, payload)

    def encode(self, entry_id: int, last_add_confirmed: int, length: int,
               payload: bytes) -> bytes:
        """The whole stored entry, in one piece."""
        return self.entry_prefix(entry_id, last_add_confirmed, length, payload) + payload

    def verify(self, body: bytes | memoryview, entry_id: int | None) -> Entry:
        """Check a stored entry a bookie returned: its digest, its ledger id and (unless
        `entry_id` is None, the read of the bookie's last entry) its entry id."""
        start = HEADER_LENGTH + self.digest_length
        if len(body) < start:
            raise DigestMismatch(f"ledger {self.ledger_id}: entry of {len(body)} bytes is "
                                 f"shorter than its header and digest ({start})")
        view = memoryview(body)
        header = bytes(view[:HEADER_LENGTH])
        payload = view[start:]
        expected = self._digest(header, payload)
        if not hmac.compare_digest(expected, bytes(view[HEADER_LENGTH:start])):
            raise DigestMismatch(f"ledger {self.ledger_id}: digest mismatch "
                                 f"(entry {entry_id if entry_id is not None else 'last'})")
        ledger_id, stored_entry, lac, length = ENTRY_HEADER.unpack(header)
        if ledger_id != self.ledger_id:
            raise DigestMismatch(f"entry of ledger {ledger_id} returned for ledger "
                                 f"{self.ledger_id}")
        if entry_id is not None and stored_entry != entry_id:
            raise DigestMismatch(f"ledger {self.ledger_id}: entry {stored_entry} returned "
                                 f"for entry {entry_id}")
        return Entry(ledger_id, stored_entry, lac, length, bytes(payload))
