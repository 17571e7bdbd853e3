"""The bookie v2 binary protocol (bookkeeper.md §1.1-1.2): frames, requests, responses, rc codes.

Pure bytes in, bytes out; no I/O. Every message is a big-endian `u32 frame_len`
then the frame. A request frame starts with the packet header
`(version 2 << 24) | (opcode << 16) | flags`. v2 has no transaction id: a response
names the (op, ledger, entry) it answers, echoing the *requested* entry id (so a
read of -1 comes back as -1). Pulsar speaks this protocol to bookies; kwire does
too. The bookie side (`decode_request`, `encode_response`) exists for the fake
bookie of the unit tests and for golden-byte tests.

ADD requests are built as a prefix (frame length, header, master key, the
entry's 32-byte header and digest) plus the payload, so the payload goes to the
socket without being copied into a new frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL_VERSION = 2

# Opcodes (BookieProtocol.java). The bookie's v2 decoder accepts only these four.
ADDENTRY = 1
READENTRY = 2
AUTH = 3
BATCH_READ_ENTRY = 7  # 4.17+

# Flags (u16, the low half of the packet header).
FLAG_NONE = 0x0000
FLAG_DO_FENCING = 0x0001
FLAG_RECOVERY_ADD = 0x0002
FLAG_HIGH_PRIORITY = 0x0004

# v2 return codes.
EOK = 0
ENOLEDGER = 1
ENOENTRY = 2
EBADREQ = 100
EIO = 101
EUA = 102
EBADVERSION = 103
EFENCED = 104
EREADONLY = 105
ETOOMANYREQUESTS = 106
EUNKNOWNLEDGERSTATE = 107

RC_NAMES: dict[int, str] = {
    EOK: "EOK", ENOLEDGER: "ENOLEDGER", ENOENTRY: "ENOENTRY", EBADREQ: "EBADREQ",
    EIO: "EIO", EUA: "EUA", EBADVERSION: "EBADVERSION", EFENCED: "EFENCED",
    EREADONLY: "EREADONLY", ETOOMANYREQUESTS: "ETOOMANYREQUESTS",
    EUNKNOWNLEDGERSTATE: "EUNKNOWNLEDGERSTATE",
}

MASTER_KEY_LENGTH = 20
LAST_ADD_CONFIRMED = -1  # entry id of a read that asks for the bookie's highest entry
MAX_FRAME_SIZE = 5 * 1024 * 1024  # nettyMaxFrameSizeBytes, on bookie and client

_U32 = struct.Struct(">I")
_ADD_PREFIX = struct.Struct(">II20s")  # frame_len, header, master key
_READ = struct.Struct(">IIqq")  # frame_len, header, ledger, entry
_READ_FENCE = struct.Struct(">IIqq20s")  # ... and the master key
_RESPONSE = struct.Struct(">Iiqq")  # header, rc, ledger, entry (after frame_len)
_REQUEST_IDS = struct.Struct(">qq")


def rc_name(rc: int) -> str:
    return RC_NAMES.get(rc, f"rc={rc}")


def packet_header(op: int, flags: int = FLAG_NONE) -> int:
    return (PROTOCOL_VERSION << 24) | (op << 16) | flags


def split_header(header: int) -> tuple[int, int, int]:
    """(version, opcode, flags) of a packet header."""
    return header >> 24, (header >> 16) & 0xFF, header & 0xFFFF


def add_request_prefix(flags: int, master_key: bytes, entry_length: int) -> bytes:
    """Everything of an ADD frame before the entry bytes (which follow it on the
    socket): frame length, packet header and master key."""
    return _ADD_PREFIX.pack(4 + MASTER_KEY_LENGTH + entry_length,
                            packet_header(ADDENTRY, flags), master_key)


def read_request(ledger_id: int, entry_id: int, flags: int = FLAG_NONE,
                 master_key: bytes | None = None) -> bytes:
    """A READ frame. A fencing read (FLAG_DO_FENCING) must carry the master key;
    the bookie reads the key only when that flag is set."""
    if flags & FLAG_DO_FENCING:
        if master_key is None or len(master_key) != MASTER_KEY_LENGTH:
            raise ValueError("a fencing read needs the 20-byte master key")
        return _READ_FENCE.pack(40, packet_header(READENTRY, flags), ledger_id, entry_id,
                                master_key)
    return _READ.pack(20, packet_header(READENTRY, flags), ledger_id, entry_id)


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded v2 response. `body` is the stored entry (§1.3) of a successful
    READ, empty otherwise: a view into the frame, not a copy (the reader copies
    the payload out once, when it has checked the digest)."""

    op: int
    rc: int
    ledger_id: int
    entry_id: int
    body: bytes | memoryview = b""

    @property
    def key(self) -> tuple[int, int, int]:
        return self.op, self.ledger_id, self.entry_id


def decode_response(frame: bytes) -> Response:
    """Decode one response frame (without its length prefix)."""
    if len(frame) < _RESPONSE.size:
        raise ValueError(f"short bookie response ({len(frame)} bytes)")
    header, rc, ledger_id, entry_id = _RESPONSE.unpack_from(frame, 0)
    _, op, _ = split_header(header)
    body = memoryview(frame)[_RESPONSE.size:] if len(frame) > _RESPONSE.size else b""
    return Response(op, rc, ledger_id, entry_id, body)


def encode_response(op: int, rc: int, ledger_id: int, entry_id: int,
                    body: bytes = b"") -> bytes:
    """A response frame with its length prefix (the bookie side)."""
    return (_U32.pack(_RESPONSE.size + len(body))
            + _RESPONSE.pack(packet_header(op), rc, ledger_id, entry_id) + body)


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded v2 request (the bookie side). For ADD, `body` is the entry and
    the ids are read from its first 16 bytes, as a bookie does."""

    op: int
    flags: int
    ledger_id: int
    entry_id: int
    master_key: bytes | None
    body: bytes = b""


def decode_request(frame: bytes) -> Request:
    """Decode one request frame (without its length prefix)."""
    (header,) = _U32.unpack_from(frame, 0)
    version, op, flags = split_header(header)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {version}")
    if op == ADDENTRY:
        body = frame[4 + MASTER_KEY_LENGTH:]
        if len(body) < 16:
            raise ValueError("short ADD request")
        ledger_id, entry_id = _REQUEST_IDS.unpack_from(body, 0)
        return Request(op, flags, ledger_id, entry_id, frame[4:4 + MASTER_KEY_LENGTH], body)
    if op == READENTRY:
        ledger_id, entry_id = _REQUEST_IDS.unpack_from(frame, 4)
        fence_key = frame[20:40] if flags & FLAG_DO_FENCING and len(frame) >= 40 else None
        return Request(op, flags, ledger_id, entry_id, fence_key)
    raise ValueError(f"unsupported opcode {op}")


class FrameDecoder:
    """Splits a byte stream into frames (without their length prefixes)."""

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_frame: int = MAX_FRAME_SIZE + 1024) -> None:
        self._buffer = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        """The whole frames `data` completes, each copied once; the rest is kept.
        (Reads of large entries arrive in many pieces: the common case, no
        partial frame waiting, cuts frames straight out of `data`.)"""
        buf = self._buffer
        if buf:
            buf += data
            source: bytes | bytearray = buf
        else:
            source = data
        frames: list[bytes] = []
        pos = 0
        end = len(source)
        with memoryview(source) as view:
            while end - pos >= 4:
                (size,) = _U32.unpack_from(view, pos)
                if size > self._max:
                    raise ValueError(f"frame of {size} bytes exceeds {self._max}")
                if end - pos - 4 < size:
                    break
                frames.append(view[pos + 4:pos + 4 + size].tobytes())
                pos += 4 + size
        if source is buf:
            del buf[:pos]
        elif pos < end:
            buf += memoryview(data)[pos:]
        return frames
