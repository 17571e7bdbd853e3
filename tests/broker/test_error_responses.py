"""Whole-request failures are answered in each API's own shape (Kafka's
getErrorResponse), for every API and version kwire serves, never by closing the
connection."""

from __future__ import annotations

import datetime
import io
import struct
import uuid
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest
from _harness import InProcessBroker  # type: ignore[import-not-found]
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveTupleField,
    classify_field,
)

from kwire.broker import registry
from kwire.broker.dispatcher import _whole_request_error
from kwire.errors import ErrorCode, KwireError, ProtocolViolation
from kwire.protocol.codec import (
    encode_response,
    is_flexible,
    load_request_schema,
    load_response_schema,
)

_SAMPLES: dict[str, Any] = {
    "int8": 1, "int16": 1, "int32": 1, "int64": 1, "uint16": 1, "float64": 1.0, "bool": False,
    "string": "x", "bytes": b"", "uuid": uuid.UUID(int=7), "records": None,
    "timedelta_i32": datetime.timedelta(seconds=1), "timedelta_i64": datetime.timedelta(seconds=1),
    "datetime_i64": None,
}


def sample(cls: type) -> Any:
    """A request entity with every field set and one element in every array."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        kind = classify_field(f)
        if isinstance(kind, EntityTupleField):
            kwargs[f.name] = (sample(kind.type_),)
        elif isinstance(kind, EntityField):
            kwargs[f.name] = sample(kind.type_)
        elif isinstance(kind, PrimitiveTupleField):
            kafka_type = f.metadata.get("kafka_type", "")
            kwargs[f.name] = (_SAMPLES.get(kafka_type, 1),)
        elif f.default is not MISSING:
            continue
        else:
            kwargs[f.name] = _SAMPLES[f.metadata["kafka_type"]]
    return cls(**kwargs)


def error_codes(entity: Any, top: bool = True) -> list[tuple[bool, int]]:
    """(at top level, code) of every error_code field in a decoded response."""
    found: list[tuple[bool, int]] = []
    for f in fields(entity):
        value = getattr(entity, f.name)
        if f.name in ("error_code", "partition_error_code"):
            found.append((top, int(value)))
        elif isinstance(value, tuple):
            for item in value:
                if hasattr(item, "__dataclass_fields__"):
                    found += error_codes(item, False)
        elif hasattr(value, "__dataclass_fields__"):
            found += error_codes(value, False)
    return found


def _served() -> list[tuple[int, int]]:
    return [(api.api_key, v) for api in registry.REGISTRY.values()
            for v in range(api.min_version, api.max_version + 1) if api.api_key != 1]


@pytest.mark.parametrize(("api_key", "version"), _served())
def test_every_api_answers_a_whole_request_error(api_key: int, version: int) -> None:
    request = sample(load_request_schema(api_key, version))
    if api_key == 0:
        request = type(request)(**{**{f.name: getattr(request, f.name) for f in fields(request)},
                                   "acks": -1})
    body = _whole_request_error(api_key, version, ErrorCode.NOT_COORDINATOR, "why", request)
    assert body is not None
    raw = encode_response(api_key, version, body)
    response, _end = entity_reader(load_response_schema(api_key, version))(raw, 0)
    codes = error_codes(response)
    if api_key == 35 and version < 3:
        # DescribeLogDirs v1-2 has no error code to carry it: Kafka answers no log dirs.
        assert codes == [] and response.results == ()
        return
    # Metadata v13 carries it at the top level too (Kafka 4.4's getErrorResponse).
    carried = [code for _top, code in codes]
    assert carried and set(carried) == {ErrorCode.NOT_COORDINATOR}, (api_key, version, codes)


def test_shapes_name_what_the_request_named() -> None:
    commit = sample(load_request_schema(8, 9))
    body = _whole_request_error(8, 9, ErrorCode.NOT_COORDINATOR, None, commit)
    assert body is not None
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]])
            for t in body["topics"]] == [("x", [1])]
    fetch8 = sample(load_request_schema(9, 8))
    body = _whole_request_error(9, 8, ErrorCode.COORDINATOR_NOT_AVAILABLE, None, fetch8)
    assert body is not None
    assert body["groups"] == [{"group_id": "x", "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE,
                               "topics": ()}]
    describe = sample(load_request_schema(15, 5))
    body = _whole_request_error(15, 5, ErrorCode.NOT_COORDINATOR, None, describe)
    assert body is not None
    assert [(g["group_id"], g["error_code"], g["group_state"]) for g in body["groups"]] == [
        ("x", ErrorCode.NOT_COORDINATOR, "")]
    # JoinGroup: protocol_name is nullable only from v7.
    join = sample(load_request_schema(11, 6))
    body = _whole_request_error(11, 6, ErrorCode.NOT_COORDINATOR, None, join)
    assert body is not None and body["protocol_name"] == "" and body["generation_id"] == -1
    # FindCoordinator: no node, the error's default message.
    find = sample(load_request_schema(10, 4))
    body = _whole_request_error(10, 4, ErrorCode.NOT_COORDINATOR, None, find)
    assert body is not None
    assert body["coordinators"][0]["error_message"] == "This is not the correct coordinator."
    assert body["coordinators"][0]["node_id"] == -1
    # UNKNOWN_SERVER_ERROR hides the exception's message (ApiError.fromThrowable).
    create = sample(load_request_schema(19, 7))
    body = _whole_request_error(19, 7, ErrorCode.UNKNOWN_SERVER_ERROR, "boom", create)
    assert body is not None and body["topics"][0]["error_message"] is None


def test_acks_zero_produce_failure_closes_the_connection() -> None:
    # getErrorResponse is null for acks=0: Kafka closes the connection.
    request = sample(load_request_schema(0, 9))
    request = type(request)(**{**{f.name: getattr(request, f.name) for f in fields(request)},
                               "acks": 0})
    with pytest.raises(ProtocolViolation):
        _whole_request_error(0, 9, ErrorCode.NOT_COORDINATOR, None, request)


async def test_failing_handler_is_answered_not_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = InProcessBroker(tmp_path)
    api = registry.REGISTRY[9]

    async def broken(ctx: Any, request: Any) -> Any:
        raise KwireError(ErrorCode.NOT_COORDINATOR)

    async def crashing(ctx: Any, request: Any) -> Any:
        raise RuntimeError("bug")

    body = {"groups": [{"group_id": "g", "member_id": None, "member_epoch": -1,
                        "topics": [{"name": "t", "partition_indexes": [0]}]}],
            "require_stable": False}
    for fn, code in ((broken, ErrorCode.NOT_COORDINATOR),
                     (crashing, ErrorCode.UNKNOWN_SERVER_ERROR)):
        monkeypatch.setitem(registry.REGISTRY, 9, registry.ApiHandler(
            9, api.name, api.min_version, api.max_version, api.advertised_min, fn))
        response = await kb.call(9, 9, body)
        assert [(g.group_id, int(g.error_code), g.topics) for g in response.groups] == [
            ("g", code, ())]


def test_frame_helpers_agree() -> None:
    # The sample requests really encode (the generator above is the tests' input).
    for api_key, version in _served():
        cls = load_request_schema(api_key, version)
        out = io.BytesIO()
        entity_writer(cls)(out, sample(cls))
        assert out.getvalue() or not fields(cls)
        assert isinstance(is_flexible(api_key, version), bool)
    assert struct.calcsize(">i") == 4
