"""Primitive readers and writers of Kafka's coordinator record schemas (the
generated Message classes' wire format): fixed-width integers, strings, arrays,
and from the first flexible version compact lengths and tagged fields. The
group and transaction record modules describe their fields with these."""

from __future__ import annotations

import struct


class RecordDecodeError(ValueError):
    """The bytes are not a valid record of the version they claim."""


class Writer:
    def __init__(self, flexible: bool = False) -> None:
        self.buf = bytearray()
        self.flexible = flexible

    def int8(self, v: int) -> None:
        self.buf += struct.pack(">b", v)

    def int16(self, v: int) -> None:
        self.buf += struct.pack(">h", v)

    def int32(self, v: int) -> None:
        self.buf += struct.pack(">i", v)

    def int64(self, v: int) -> None:
        self.buf += struct.pack(">q", v)

    def uvarint(self, v: int) -> None:
        while v >= 0x80:
            self.buf.append((v & 0x7F) | 0x80)
            v >>= 7
        self.buf.append(v)

    def _length(self, n: int | None, wide: bool) -> None:
        if self.flexible:
            self.uvarint(0 if n is None else n + 1)
        elif wide:
            self.int32(-1 if n is None else n)
        else:
            self.int16(-1 if n is None else n)

    def string(self, s: str | None) -> None:
        if s is None:
            self._length(None, wide=False)
            return
        data = s.encode()
        self._length(len(data), wide=False)
        self.buf += data

    def bytes_(self, b: bytes) -> None:
        self._length(len(b), wide=True)
        self.buf += b

    def array_len(self, n: int | None) -> None:
        """An array's length; None writes a null array."""
        self._length(n, wide=True)

    def tags(self, tagged: dict[int, bytes] | None = None) -> None:
        if not self.flexible:
            return
        items = sorted((tagged or {}).items())
        self.uvarint(len(items))
        for tag, data in items:
            self.uvarint(tag)
            self.uvarint(len(data))
            self.buf += data


class Reader:
    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise RecordDecodeError(f"truncated record: need {n} bytes at {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int8(self) -> int:
        return int(struct.unpack(">b", self._take(1))[0])

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise RecordDecodeError("varint too long")

    def _length(self, wide: bool) -> int:
        if self.flexible:
            return self.uvarint() - 1
        return self.int32() if wide else self.int16()

    def nullable_string(self) -> str | None:
        n = self._length(wide=False)
        if n < 0:
            return None
        try:
            return self._take(n).decode()
        except UnicodeDecodeError as exc:
            raise RecordDecodeError("string is not UTF-8") from exc

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise RecordDecodeError("null in a non-nullable string")
        return s

    def bytes_(self) -> bytes:
        n = self._length(wide=True)
        return b"" if n < 0 else self._take(n)  # lenient: null bytes read as empty

    def nullable_array_len(self) -> int:
        """An array's length, -1 for a null array."""
        return self._length(wide=True)

    def array_len(self) -> int:
        n = self._length(wide=True)
        if n < 0:
            raise RecordDecodeError("null array")
        return n

    def tags(self) -> dict[int, bytes]:
        if not self.flexible:
            return {}
        return {self.uvarint(): self._take(self.uvarint()) for _ in range(self.uvarint())}
