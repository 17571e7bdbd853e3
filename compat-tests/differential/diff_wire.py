"""Raw Kafka protocol over a plain socket, with kio entities on both sides.

Requests are written as plain nested dicts with kio's field names (the same
dict can serve several versions: fields a version lacks are dropped, required
fields left out get a neutral value), turned into the kio request entity of the
exact version, framed with request header v1 or v2 (by the API's flexibility)
and sent. Responses are decoded with the kio response entity of that version
and turned back into plain data (ints, strings, lists, dicts) so two brokers'
answers can be compared field by field.

A closed connection, a timeout, an undecodable body or trailing bytes after the
body are outcomes too (recorded as `{"<outcome>": ...}`): Kafka closing where
kwire answers, or the reverse, is a difference like any other.
"""

from __future__ import annotations

import datetime
import io
import socket
import struct
import uuid
from dataclasses import MISSING, fields, is_dataclass
from enum import IntEnum
from functools import cache
from typing import Any

from diff_records import decode_batches
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
)

Plain = Any  # nested dict / list / int / str / None
OUTCOME = "<outcome>"
REQUEST_TIMEOUT = 8.0  # seconds per request; a longer silence is itself an outcome

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_NEUTRAL: dict[str, Any] = {
    "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint16": 0, "uint32": 0,
    "float64": 0.0, "bool": False, "string": "", "bytes": b"", "records": None,
    "uuid": uuid.UUID(int=0), "timedelta_i32": 0, "timedelta_i64": 0, "datetime_i64": -1,
    "error_code": 0,
}


@cache
def request_class(api_key: int, version: int) -> type:
    return load_request_schema(api_key, version)


@cache
def response_class(api_key: int, version: int) -> type:
    return load_response_schema(api_key, version)


def is_flexible(api_key: int, version: int) -> bool:
    return bool(getattr(request_class(api_key, version), "__flexible__", False))


# ---------------------------------------------------------------- dict -> entity
def _convert(kafka_type: str, value: Any) -> Any:
    if kafka_type in ("timedelta_i32", "timedelta_i64") and not isinstance(
            value, datetime.timedelta):
        return datetime.timedelta(milliseconds=int(value))
    if kafka_type == "datetime_i64" and isinstance(value, int):
        return None if value < 0 else _EPOCH + datetime.timedelta(milliseconds=value)
    if kafka_type == "uuid" and isinstance(value, str):
        return uuid.UUID(value)
    return value


def build(cls: type, body: dict[str, Any]) -> Any:
    """The kio entity `cls` from a plain dict (see the module docstring)."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        kind = classify_field(f)
        kafka_type = f.metadata.get("kafka_type", "")
        if f.name not in body:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            if isinstance(kind, EntityTupleField | PrimitiveTupleField):
                kwargs[f.name] = ()
            elif isinstance(kind, EntityField):
                kwargs[f.name] = build(kind.type_, {})
            else:
                kwargs[f.name] = _convert(kafka_type, _NEUTRAL.get(kafka_type, 0))
            continue
        value = body[f.name]
        if value is None:
            kwargs[f.name] = None
        elif isinstance(kind, EntityTupleField):
            kwargs[f.name] = tuple(build(kind.type_, item) for item in value)
        elif isinstance(kind, EntityField):
            kwargs[f.name] = build(kind.type_, value)
        elif isinstance(kind, PrimitiveTupleField):
            kwargs[f.name] = tuple(_convert(kafka_type, v) for v in value)
        else:
            kwargs[f.name] = _convert(kafka_type, value)
    return cls(**kwargs)


def encode_body(api_key: int, version: int, body: dict[str, Any]) -> bytes:
    cls = request_class(api_key, version)
    out = io.BytesIO()
    entity_writer(cls)(out, build(cls, body))
    return out.getvalue()


def encode_header(api_key: int, version: int, correlation_id: int,
                  client_id: str | None = "kwire-diff") -> bytes:
    """Request header v2 for flexible versions (KIP-482), v1 otherwise."""
    cid = (b"\xff\xff" if client_id is None
           else struct.pack(">h", len(client_id)) + client_id.encode())
    head = struct.pack(">hhi", api_key, version, correlation_id) + cid
    return head + (b"\x00" if is_flexible(api_key, version) else b"")


# ---------------------------------------------------------------- entity -> plain
def to_plain(value: Any, name: str = "") -> Plain:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name), f.name) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v, name) for v in value]
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, datetime.timedelta):
        return int(value / datetime.timedelta(milliseconds=1))
    if isinstance(value, datetime.datetime):
        return int((value - _EPOCH) / datetime.timedelta(milliseconds=1))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        if name == "records":
            return decode_batches(bytes(value))
        return "0x" + bytes(value).hex()
    if isinstance(value, bool | int | float | str) or value is None:
        return value if not isinstance(value, int) or isinstance(value, bool) else int(value)
    return repr(value)


def decode_response(api_key: int, version: int, body: bytes) -> Plain:
    # Kafka answers an ApiVersions it cannot serve with a v0 body (KIP-511);
    # error 35 in the first two bytes says which shape follows.
    if api_key == 18 and version > 0 and body[:2] == b"\x00\x23":
        version = 0
    cls = response_class(api_key, version)
    try:
        entity: Any
        entity, size = entity_reader(cls)(body, 0)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is an outcome
        return {OUTCOME: "undecodable", "error": type(exc).__name__, "bytes": len(body)}
    plain = to_plain(entity)
    if size != len(body):
        plain[OUTCOME + "trailing_bytes"] = len(body) - size
    return plain


# ---------------------------------------------------------------- the connection
class Connection:
    """One TCP connection to one broker; reopened on the next call after a close."""

    def __init__(self, host: str, port: int, timeout: float = REQUEST_TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.correlation_id = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def call(self, api_key: int, version: int, body: dict[str, Any] | None = None, *,
             raw_body: bytes | None = None, expect_response: bool = True,
             client_id: str | None = "kwire-diff", timeout: float | None = None) -> Plain:
        """Send one request, return the decoded response (or an outcome dict)."""
        self.correlation_id += 1
        corr = self.correlation_id
        payload = raw_body if raw_body is not None else encode_body(api_key, version, body or {})
        frame = encode_header(api_key, version, corr, client_id) + payload
        return self.call_raw(struct.pack(">i", len(frame)) + frame, api_key, version, corr,
                             expect_response=expect_response, timeout=timeout)

    def send(self, api_key: int, version: int, body: dict[str, Any]) -> int:
        """Send without waiting (a request that blocks, e.g. a JoinGroup); `receive` later."""
        self.correlation_id += 1
        frame = encode_header(api_key, version, self.correlation_id) + encode_body(
            api_key, version, body)
        self._connect().sendall(struct.pack(">i", len(frame)) + frame)
        return self.correlation_id

    def receive(self, api_key: int, version: int, corr: int, timeout: float | None = None) -> Plain:
        return self.call_raw(b"", api_key, version, corr, timeout=timeout)

    def call_raw(self, data: bytes, api_key: int, version: int, corr: int, *,
                 expect_response: bool = True, timeout: float | None = None) -> Plain:
        try:
            sock = self._connect()
            sock.settimeout(timeout or self.timeout)
            if data:
                sock.sendall(data)
            if not expect_response:
                return {OUTCOME: "sent"}
            (size,) = struct.unpack(">i", self._recv(sock, 4))
            frame = self._recv(sock, size)
        except TimeoutError:
            self.close()
            return {OUTCOME: "timeout"}
        except (ConnectionError, OSError):
            # FIN or RST is the kernel's choice (unread bytes at close mean RST), not
            # the broker's: "closed" is the outcome compared.
            self.close()
            return {OUTCOME: "closed"}
        (got_corr,) = struct.unpack_from(">i", frame, 0)
        if got_corr != corr:
            return {OUTCOME: "wrong_correlation_id", "expected": corr, "got": got_corr}
        # ApiVersions answers with response header v0 whatever its version (KIP-511).
        flexible_header = api_key != 18 and is_flexible(api_key, version)
        pos = 4
        if flexible_header:
            pos += 1  # an empty tagged-field section; tagged header fields are never sent
            if frame[4] != 0:
                return {OUTCOME: "header_tagged_fields", "byte": frame[4]}
        return decode_response(api_key, version, frame[pos:])

    @staticmethod
    def _recv(sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by broker")
            buf += chunk
        return bytes(buf)
