"""A bounded request decoder, driven by kio's generated entity classes.

kio's native entity reader pre-allocates compact arrays from their length
prefix, so a 5-byte request claiming four billion elements aborts the whole
process ("memory allocation failed"). A broker cannot let one bad frame do
that. This reader walks the same schema in Python, checks every array length
against the bytes that remain before reading it, and uses kio's native
primitive readers (which are bounds-checked) for each value. Unknown tagged
fields are skipped, as Kafka does (headers.tagged_fields walks the section).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any

from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
    get_field_tag,
    is_optional,
)
from kio.serial._parse import get_reader
from kio.serial.readers import read_compact_array_length, read_legacy_array_length

from kwire.errors import ProtocolViolation
from kwire.protocol.headers import tagged_fields

Read = Callable[[bytes | memoryview, int], tuple[Any, int]]


def _array(element: Read, flexible: bool) -> Read:
    length_reader = read_compact_array_length if flexible else read_legacy_array_length

    def read(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        length, size = length_reader(buf, pos)
        pos += size
        if length is None or length < 0:
            return None, pos
        # Every element takes at least one byte: a longer claim is a lie.
        if length > len(buf) - pos:
            raise ProtocolViolation(f"array of {length} elements in {len(buf) - pos} bytes")
        items = []
        for _ in range(length):
            item, pos = element(buf, pos)
            items.append(item)
        return tuple(items), pos

    return read


def _primitive(kafka_type: str, flexible: bool, optional: bool) -> Read:
    reader = get_reader(kafka_type, flexible, optional)

    def read(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        value, size = reader(buf, pos)
        return value, pos + size

    return read


@cache
def entity_reader(cls: type) -> Read:
    """A reader returning (entity, new position) for a kio entity class."""
    flexible = bool(cls.__flexible__)  # type: ignore[attr-defined]
    plain: list[tuple[str, Read]] = []
    tagged: dict[int, tuple[str, Read]] = {}
    for f in fields(cls):
        kind = classify_field(f)
        read: Read
        if isinstance(kind, EntityTupleField):
            read = _array(entity_reader(kind.type_), flexible)
        elif isinstance(kind, EntityField):
            read = _nullable_entity(entity_reader(kind.type_)) if is_optional(f) else (
                entity_reader(kind.type_))
        elif isinstance(kind, PrimitiveTupleField):
            read = _array(_primitive(f.metadata["kafka_type"], flexible, False), flexible)
        else:
            read = _primitive(f.metadata["kafka_type"], flexible, is_optional(f))
        tag = get_field_tag(f)
        if tag is None:
            plain.append((f.name, read))
        else:
            tagged[int(tag)] = (f.name, read)

    def read_entity(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        values: dict[str, Any] = {}
        for name, read_field in plain:
            values[name], pos = read_field(buf, pos)
        if flexible:
            pos = _read_tagged(buf, pos, tagged, values)
        return cls(**values), pos

    return read_entity


def _nullable_entity(read: Read) -> Read:
    def read_nullable(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        # Nullable structs carry a leading int8: -1 null, 1 present.
        if pos >= len(buf):
            raise ProtocolViolation("struct marker runs past the end of the request")
        marker = buf[pos]
        if marker == 0xFF:
            return None, pos + 1
        return read(buf, pos + 1)

    return read_nullable


def _read_tagged(
    buf: bytes | memoryview, pos: int, tagged: dict[int, tuple[str, Read]],
    values: dict[str, Any],
) -> int:
    found, pos = tagged_fields(buf, pos)
    for tag, start, end in found:
        known = tagged.get(tag)
        if known is not None:
            name, read_field = known
            values[name], _ = read_field(memoryview(buf)[:end], start)
    return pos
