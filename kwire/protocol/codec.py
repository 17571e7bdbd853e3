"""Request and response bodies through kio — the only module that imports kio.

Requests decode into kio's generated entity for that exact API version; handlers
read their fields. Responses are written by handlers as plain nested dicts using
Kafka's field names (the newest version's superset); `build` turns such a dict
into the kio entity of the version the client asked for, dropping fields that
version does not have and converting milliseconds and error codes into kio's
types. A field a version needs that the handler did not give is a bug and
raises, rather than silently sending a default.
"""

from __future__ import annotations

import datetime
import io
import uuid
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from functools import cache
from typing import Any

from kio.index import UnknownAPIKey, UnknownEntity
from kio.index import load_request_schema as _load_request_schema
from kio.index import load_response_schema as _load_response_schema
from kio.schema.errors import ErrorCode as KioErrorCode
from kio.serial import entity_writer
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
)
from kio.static.protocol import RequestPayload, ResponsePayload

from kwire.errors import ProtocolViolation
from kwire.protocol.reader import entity_reader

Body = Mapping[str, Any]


# kio resolves a schema by dotted-name import on every call; cache per (key, version).
@cache
def load_request_schema(api_key: int, version: int) -> type[RequestPayload]:
    return _load_request_schema(api_key, version)


@cache
def load_response_schema(api_key: int, version: int) -> type[ResponsePayload]:
    return _load_response_schema(api_key, version)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def has_schema(api_key: int, version: int) -> bool:
    try:
        load_request_schema(api_key, version)
        load_response_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        return False
    return True


@cache
def is_flexible(api_key: int, version: int) -> bool:
    return bool(load_request_schema(api_key, version).__flexible__)


def decode_request(api_key: int, version: int, frame: bytes | memoryview, pos: int) -> Any:
    """The kio request entity for this API version, read from `frame[pos:]` by the
    bounded reader (see reader.py for why not kio's native entity reader)."""
    try:
        entity, _end = entity_reader(load_request_schema(api_key, version))(frame, pos)
    except ProtocolViolation:
        raise
    except Exception as exc:  # kio's primitive readers raise several types for bad input
        raise ProtocolViolation(f"cannot decode api_key={api_key} v{version}: {exc}") from None
    return entity


def encode_response(api_key: int, version: int, body: Body) -> bytes:
    cls = load_response_schema(api_key, version)
    entity = build(cls, body)
    out = io.BytesIO()
    entity_writer(cls)(out, entity)
    return out.getvalue()


def _ms_to_timedelta(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(milliseconds=int(value))


def _ms_to_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime.datetime):
        return value
    if int(value) < 0:
        return None
    return _EPOCH + datetime.timedelta(milliseconds=int(value))


def _to_error_code(value: Any) -> Any:
    return KioErrorCode(int(value))


def _to_uuid(value: Any) -> Any:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _nullable_tuple(value: Any) -> Any:
    return None if value is None else tuple(value)


def _identity(value: Any) -> Any:
    return value


_PRIMITIVE_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timedelta_i32": _ms_to_timedelta,
    "timedelta_i64": _ms_to_timedelta,
    "datetime_i64": _ms_to_datetime,
    "error_code": _to_error_code,
    "uuid": _to_uuid,
}


@cache
def _plan(cls: type) -> list[tuple[str, Callable[[Any], Any], bool]]:
    """For each field: its name, how to convert a handler value, whether required."""
    plan: list[tuple[str, Callable[[Any], Any], bool]] = []
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        kind = classify_field(f)
        converter: Callable[[Any], Any]
        if isinstance(kind, EntityTupleField):
            inner = kind.type_
            converter = _tuple_of_entities(inner)
        elif isinstance(kind, EntityField):
            inner_e = kind.type_
            converter = _entity(inner_e)
        elif isinstance(kind, PrimitiveTupleField):
            converter = _nullable_tuple
        else:
            converter = _PRIMITIVE_CONVERTERS.get(f.metadata.get("kafka_type", ""), _identity)
        plan.append((f.name, converter, required))
    return plan


def _tuple_of_entities(inner: type) -> Callable[[Any], Any]:
    return lambda items: None if items is None else tuple(build(inner, item) for item in items)


def _entity(inner: type) -> Callable[[Any], Any]:
    return lambda item: None if item is None else build(inner, item)


def build(cls: type, body: Body) -> Any:
    """The kio entity `cls` from a handler's dict (see module docstring)."""
    if isinstance(body, cls):
        return body
    kwargs: dict[str, Any] = {}
    for name, converter, required in _plan(cls):
        if name in body:
            kwargs[name] = converter(body[name])
        elif required:
            raise KeyError(f"{cls.__module__}.{cls.__qualname__} needs field {name!r}")
    return cls(**kwargs)


_ZERO_BY_TYPE: dict[str, Any] = {
    "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint16": 0, "uint32": 0, "float64": 0.0,
    "bool": False, "string": "", "bytes": b"", "uuid": uuid.UUID(int=0),
    "timedelta_i32": 0, "timedelta_i64": 0, "datetime_i64": -1,
}


def error_body(api_key: int, version: int, error_code: int, message: str | None) -> dict[str, Any]:
    """A whole-request error answer: the top-level error code (and message where
    the version has one), every other required field empty or zero. Raises
    KeyError when this API version has no top-level error code to carry it."""
    cls = load_response_schema(api_key, version)
    body: dict[str, Any] = {}
    has_error_code = False
    for f in fields(cls):
        if f.default is not MISSING or f.default_factory is not MISSING:
            continue
        kafka_type = f.metadata.get("kafka_type", "")
        if f.name == "error_code":
            body["error_code"] = error_code
            has_error_code = True
        elif isinstance(classify_field(f), EntityTupleField | PrimitiveTupleField):
            body[f.name] = ()
        elif kafka_type in _ZERO_BY_TYPE:
            body[f.name] = _ZERO_BY_TYPE[kafka_type]
    if not has_error_code:
        raise KeyError(f"{cls.__qualname__} v{version} has no top-level error_code")
    if any(f.name == "error_message" for f in fields(cls)):
        body["error_message"] = message
    return body
