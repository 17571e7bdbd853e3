"""Ledger metadata in ZooKeeper, in BookKeeper's own format (bookkeeper.md §2).

Owns: the LedgerMetadataFormat value and its serialization (v3 written; v3, v2
TextFormat and v1 text read), ledger id -> znode path (hierarchical and
long-hierarchical), the LAYOUT text, and the bookie address a registration
znode (BookieServiceInfoFormat) advertises. With these, BookKeeper's Java tools
read kwire's ledgers and kwire reads theirs.

v3 bytes: the ASCII line `BookieMetadataFormatVersion\\t3\\n`, a varint32 length,
then the binary protobuf. Field by field it is what Java's LedgerMetadataSerDe
writes: lastEntryId always (-1 while OPEN), password always (empty when none:
Java reads digestType only when a password field is present), cToken.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from kwire.log.bookkeeper.api import DigestType
from kwire.log.bookkeeper.protobuf import (
    decode_varint,
    encode_varint,
    field_bytes,
    field_varint,
    fields,
    signed64,
)

FORMAT_HEADER = b"BookieMetadataFormatVersion\t"
LAYOUT = b"2\norg.apache.bookkeeper.meta.HierarchicalLedgerManagerFactory:1"
SHORT_ID_LIMIT = 2**31 - 1  # Integer.MAX_VALUE: ids from here on use long-hierarchical paths


class LedgerState(enum.IntEnum):
    OPEN = 1
    IN_RECOVERY = 2
    CLOSED = 3


@dataclass(frozen=True, slots=True)
class Segment:
    """The ensemble that holds entries from `first_entry_id` to the next segment's."""

    first_entry_id: int
    ensemble: tuple[str, ...]  # bookie ids


@dataclass(frozen=True, slots=True)
class LedgerMetadata:
    ensemble_size: int
    write_quorum: int
    ack_quorum: int
    state: LedgerState
    segments: tuple[Segment, ...]
    digest_type: DigestType = DigestType.CRC32C
    password: bytes = b""
    length: int = 0  # total payload bytes once CLOSED
    last_entry_id: int = -1  # once CLOSED (-1: empty)
    ctime: int | None = None
    custom_metadata: tuple[tuple[str, bytes], ...] = ()
    c_token: int | None = None
    format_version: int = 3

    @property
    def last_segment(self) -> Segment:
        return self.segments[-1]

    def ensemble_for(self, entry_id: int) -> tuple[str, ...]:
        """The ensemble of the segment that holds `entry_id`."""
        found = self.segments[0]
        for segment in self.segments:
            if segment.first_entry_id > entry_id:
                break
            found = segment
        return found.ensemble


def write_set(entry_id: int, ensemble_size: int, write_quorum: int) -> tuple[int, ...]:
    """Ensemble indexes that store `entry_id` (round-robin striping, §3.2)."""
    return tuple((entry_id + i) % ensemble_size for i in range(write_quorum))


def ledger_path(root: str, ledger_id: int) -> str:
    """The metadata znode of a ledger under HierarchicalLedgerManager (§2.3)."""
    root = root.rstrip("/")
    if ledger_id < 0:
        raise ValueError(f"ledger id {ledger_id} is negative")
    if ledger_id < SHORT_ID_LIMIT:
        s = f"{ledger_id:010d}"
        return f"{root}/{s[0:2]}/{s[2:6]}/L{s[6:10]}"
    s = f"{ledger_id:019d}"
    return f"{root}/{s[0:3]}/{s[3:7]}/{s[7:11]}/{s[11:15]}/L{s[15:19]}"


# ---- v3: binary protobuf ----------------------------------------------------------------

def _encode_body(md: LedgerMetadata) -> bytes:
    out = [
        field_varint(1, md.write_quorum),
        field_varint(2, md.ensemble_size),
        field_varint(3, md.length),
        field_varint(4, md.last_entry_id),
        field_varint(5, int(md.state)),
    ]
    for segment in md.segments:
        body = b"".join(field_bytes(1, member.encode()) for member in segment.ensemble)
        out.append(field_bytes(6, body + field_varint(2, segment.first_entry_id)))
    out.append(field_varint(7, int(md.digest_type)))
    out.append(field_bytes(8, md.password))
    out.append(field_varint(9, md.ack_quorum))
    if md.ctime is not None:
        out.append(field_varint(10, md.ctime))
    for key, value in md.custom_metadata:
        out.append(field_bytes(11, field_bytes(1, key.encode()) + field_bytes(2, value)))
    out.append(field_varint(12, md.c_token or 0))
    return b"".join(out)


def encode_ledger_metadata(md: LedgerMetadata) -> bytes:
    body = _encode_body(md)
    return FORMAT_HEADER + b"3\n" + encode_varint(len(body)) + body


def _decode_body(data: bytes) -> LedgerMetadata:
    v: dict[str, int] = {}
    segments: list[Segment] = []
    custom: list[tuple[str, bytes]] = []
    password: bytes | None = None
    for number, _, value in fields(data):
        if number == 6 and isinstance(value, bytes):
            members: list[str] = []
            first = 0
            for n, _, sv in fields(value):
                if n == 1 and isinstance(sv, bytes):
                    members.append(sv.decode())
                elif n == 2 and isinstance(sv, int):
                    first = signed64(sv)
            segments.append(Segment(first, tuple(members)))
        elif number == 8 and isinstance(value, bytes):
            password = value
        elif number == 11 and isinstance(value, bytes):
            key, val = "", b""
            for n, _, sv in fields(value):
                if n == 1 and isinstance(sv, bytes):
                    key = sv.decode()
                elif n == 2 and isinstance(sv, bytes):
                    val = sv
            custom.append((key, val))
        elif isinstance(value, int):
            name = _V3_INT_FIELDS.get(number)
            if name is not None:
                v[name] = signed64(value)
    return _build(v, segments, custom, password, 3)


_V3_INT_FIELDS = {1: "quorumSize", 2: "ensembleSize", 3: "length", 4: "lastEntryId",
                  5: "state", 7: "digestType", 9: "ackQuorumSize", 10: "ctime", 12: "cToken"}


def _build(v: dict[str, int], segments: list[Segment], custom: list[tuple[str, bytes]],
           password: bytes | None, version: int) -> LedgerMetadata:
    for required in ("quorumSize", "ensembleSize"):
        if required not in v:
            raise ValueError(f"ledger metadata without {required}")
    state = LedgerState(v.get("state", LedgerState.OPEN))
    closed = state == LedgerState.CLOSED
    return LedgerMetadata(
        ensemble_size=v["ensembleSize"],
        write_quorum=v["quorumSize"],
        ack_quorum=v.get("ackQuorumSize", v["quorumSize"]),
        state=state,
        segments=tuple(segments),
        # Java ignores digestType without a password field (and then uses CRC32)
        digest_type=DigestType(v.get("digestType", DigestType.CRC32))
        if password is not None else DigestType.CRC32,
        password=password or b"",
        length=v.get("length", 0) if closed else 0,
        last_entry_id=v.get("lastEntryId", -1) if closed else -1,
        ctime=v.get("ctime"),
        custom_metadata=tuple(custom),
        c_token=v.get("cToken"),
        format_version=version,
    )


def decode_ledger_metadata(data: bytes) -> LedgerMetadata:
    """Parse a ledger metadata znode (format 3, 2 or 1)."""
    if not data.startswith(FORMAT_HEADER):
        raise ValueError("ledger metadata without the BookieMetadataFormatVersion header")
    newline = data.index(b"\n", len(FORMAT_HEADER))
    version = int(data[len(FORMAT_HEADER):newline])
    rest = data[newline + 1:]
    if version == 3:
        size, pos = decode_varint(rest, 0)
        if pos + size > len(rest):
            raise ValueError("truncated ledger metadata")
        return _decode_body(rest[pos:pos + size])
    if version == 2:
        return _decode_text(rest.decode())
    if version == 1:
        return _decode_v1(rest.decode())
    raise ValueError(f"ledger metadata format {version} is not supported")


# ---- v2: protobuf TextFormat ------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(-?\d+)'
                    r'|("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|([{}:<>]))')
_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39,
            '"': 34, "?": 63}


def _unescape(quoted: str) -> bytes:
    s = quoted[1:-1]
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = s[i + 1]
        if n in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8) & 0xFF)
            i = j
        elif n == "x":
            j = i + 2
            while j < len(s) and j < i + 4 and s[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(s[i + 2:j], 16))
            i = j
        else:
            out.append(_ESCAPES.get(n, ord(n)))
            i += 2
    return bytes(out)


_TextValue = str | int | bytes | list[tuple[str, "_TextValue"]]


def _parse_text_fields(tokens: list[tuple[str, str]], pos: int,
                       closing: str | None) -> tuple[list[tuple[str, _TextValue]], int]:
    out: list[tuple[str, _TextValue]] = []
    while pos < len(tokens):
        kind, text = tokens[pos]
        if kind == "p" and text == closing:
            return out, pos + 1
        if kind != "id":
            raise ValueError(f"unexpected {text!r} in text metadata")
        pos += 1
        if tokens[pos] == ("p", ":"):
            pos += 1
        kind, value = tokens[pos]
        if kind == "p" and value in "{<":
            nested, pos = _parse_text_fields(tokens, pos + 1, "}" if value == "{" else ">")
            out.append((text, nested))
            continue
        out.append((text, int(value) if kind == "num" else _unescape(value) if kind == "str"
                    else value))
        pos += 1
    if closing is not None:
        raise ValueError("unterminated message in text metadata")
    return out, pos


def _decode_text(text: str) -> LedgerMetadata:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse text metadata at {text[pos:pos + 20]!r}")
        ident, num, string, punct = m.groups()
        tokens.append(("id", ident) if ident else ("num", num) if num else
                      ("str", string) if string else ("p", punct))
        pos = m.end()
    parsed, _ = _parse_text_fields(tokens, 0, None)
    v: dict[str, int] = {}
    segments: list[Segment] = []
    custom: list[tuple[str, bytes]] = []
    password: bytes | None = None
    enums = {"OPEN": 1, "IN_RECOVERY": 2, "CLOSED": 3, "CRC32": 1, "HMAC": 2, "CRC32C": 3,
             "DUMMY": 4}
    for name, value in parsed:
        if name == "segment" and isinstance(value, list):
            members = [m.decode() for n, m in value if n == "ensembleMember"
                       and isinstance(m, bytes)]
            first = next((f for n, f in value if n == "firstEntryId" and isinstance(f, int)), 0)
            segments.append(Segment(first, tuple(members)))
        elif name == "customMetadata" and isinstance(value, list):
            key = next((k for n, k in value if n == "key" and isinstance(k, bytes)), b"")
            val = next((x for n, x in value if n == "value" and isinstance(x, bytes)), b"")
            custom.append((key.decode(), val))
        elif name == "password" and isinstance(value, bytes):
            password = value
        elif isinstance(value, int):
            v[name] = value
        elif isinstance(value, str) and value in enums:
            v[name] = enums[value]
    return _build(v, segments, custom, password, 2)


def _decode_v1(text: str) -> LedgerMetadata:
    lines = text.splitlines()
    v = {"quorumSize": int(lines[0]), "ensembleSize": int(lines[1]), "length": int(lines[2])}
    segments: list[Segment] = []
    for line in lines[3:]:
        parts = line.split("\t")
        if len(parts) > 1 and parts[1] == "CLOSED":
            if int(parts[0]) == -102:
                v["state"] = LedgerState.IN_RECOVERY
            else:
                v["state"] = LedgerState.CLOSED
                v["lastEntryId"] = int(parts[0])
            break
        segments.append(Segment(int(parts[0]), tuple(parts[1:])))
    md = _build(v, segments, [], None, 1)
    return md


# ---- bookie registrations ---------------------------------------------------------------

def decode_bookie_address(bookie_id: str, registration: bytes) -> tuple[str, int]:
    """Host and port of a bookie's `bookie-rpc` endpoint, from the data of its znode
    under `available/` (BookieServiceInfoFormat); legacy (empty or unreadable)
    registrations name the address in the id itself, `host:port`."""
    try:
        for number, _, value in fields(registration):
            if number != 6 or not isinstance(value, bytes):
                continue
            host, port, protocol = "", 0, ""
            for n, _, ev in fields(value):
                if n == 2 and isinstance(ev, int):
                    port = signed64(ev)
                elif n == 3 and isinstance(ev, bytes):
                    host = ev.decode()
                elif n == 4 and isinstance(ev, bytes):
                    protocol = ev.decode()
            if protocol == "bookie-rpc" and host and port > 0:
                return host, port
    except (ValueError, UnicodeDecodeError):
        pass
    host, _, port_text = bookie_id.rpartition(":")
    if not host or not port_text.isdigit():
        raise ValueError(f"bookie id {bookie_id!r} is not host:port and its registration "
                         "names no bookie-rpc endpoint")
    return host, int(port_text)


def encode_bookie_service_info(host: str, port: int, bookie_id: str = "bookie") -> bytes:
    """A registration as a 4.17 bookie writes it (for tests and fakes)."""
    endpoint = (field_bytes(1, bookie_id.encode()) + field_varint(2, port)
                + field_bytes(3, host.encode()) + field_bytes(4, b"bookie-rpc"))
    return field_bytes(6, endpoint)
