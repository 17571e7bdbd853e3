"""From one request frame to one response frame (or none, for acks=0 produce).

Checks the API key and version against the registry, decodes the body with
kio, runs the handler, and encodes the answer with the right response header.
A whole-request `KwireError` becomes that API's error response; any other
exception becomes UNKNOWN_SERVER_ERROR with one log line naming the
correlation id. Either is answered in the API's own shape (error_responses.py,
Kafka's getErrorResponse), so no error Kafka answers closes the connection.
An unknown API key or unsupported version (other than
ApiVersions, which degrades to its v0 answer, KIP-511) closes the connection,
as Kafka's SocketServer does.
"""

from __future__ import annotations

import logging
from typing import Any

from kwire.broker import handlers as _handlers  # noqa: F401  (registers every handler)
from kwire.broker.context import RequestContext, ResponseBudget
from kwire.broker.error_responses import error_response
from kwire.broker.handlers.fetch import fetch_error_body
from kwire.broker.registry import REGISTRY, advertised
from kwire.broker.services import Broker
from kwire.errors import ErrorCode, KwireError, ProtocolViolation
from kwire.protocol.codec import decode_request, encode_response, error_body, is_flexible
from kwire.protocol.fetch_response import encode_fetch_response
from kwire.protocol.headers import (
    API_VERSIONS_KEY,
    parse_request_header,
    response_header,
    skip_tagged_fields,
)

log = logging.getLogger("kwire.dispatcher")

FETCH_KEY = 1


class Dispatcher:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def dispatch(self, frame: bytes, client_host: str,
                       budget: ResponseBudget | None = None) -> list[bytes] | None:
        """The response as chunks to write in order (see fetch_response.py), or None.
        `budget` is the response memory the server lends this request."""
        header, pos = parse_request_header(frame)
        api = REGISTRY.get(header.api_key)
        if api is None:
            raise ProtocolViolation(f"unknown api_key {header.api_key}")
        version = header.api_version
        if not api.min_version <= version <= api.max_version:
            if header.api_key == API_VERSIONS_KEY and version > api.max_version:
                return self._unsupported_api_versions(header.correlation_id)
            raise ProtocolViolation(
                f"unsupported version {version} of {api.name} "
                f"(serving {api.min_version}-{api.max_version})"
            )
        flexible = is_flexible(header.api_key, version)
        if flexible:
            pos = skip_tagged_fields(frame, pos)
        request = decode_request(header.api_key, version, frame, pos)
        ctx = RequestContext(
            api_key=header.api_key,
            api_version=version,
            correlation_id=header.correlation_id,
            client_id=header.client_id,
            client_host=client_host,
            broker=self.broker,
            response_budget=budget,
        )
        body: dict[str, Any] | None
        try:
            body = await api.fn(ctx, request)
        except KwireError as exc:
            body = _whole_request_error(header.api_key, version, exc.error_code, exc.message,
                                        request)
        except ProtocolViolation:
            raise
        except Exception:
            log.exception(
                "%s v%d correlation_id=%d from %s failed",
                api.name, version, header.correlation_id, client_host,
            )
            body = _whole_request_error(
                header.api_key, version, ErrorCode.UNKNOWN_SERVER_ERROR, None, request
            )
        if body is None:
            return None
        # ApiVersions answers with header v0 even when its body is flexible (KIP-511).
        header_flexible = flexible and header.api_key != API_VERSIONS_KEY
        head = response_header(header.correlation_id, header_flexible)
        if header.api_key == FETCH_KEY:
            return [head, *encode_fetch_response(version, body)]
        return [head + encode_response(header.api_key, version, body)]

    @staticmethod
    def _unsupported_api_versions(correlation_id: int) -> list[bytes]:
        # Only ApiVersions' own range (ApiVersionsRequest.getErrorResponse, KIP-511):
        # the client retries with a version it has, then learns the rest.
        body = {
            "error_code": ErrorCode.UNSUPPORTED_VERSION,
            "api_keys": [
                {"api_key": key, "min_version": lo, "max_version": hi}
                for key, lo, hi in advertised() if key == API_VERSIONS_KEY
            ],
        }
        return [response_header(correlation_id, False) + encode_response(API_VERSIONS_KEY, 0, body)]


def _whole_request_error(
    api_key: int, version: int, code: ErrorCode, message: str | None, request: Any = None
) -> dict[str, Any]:
    if api_key == FETCH_KEY:
        # Fetch is encoded by its own encoder and names partitions below v13.
        return fetch_error_body(version, request, code)
    try:
        body = error_response(api_key, version, request, code, message)
    except KeyError:
        pass
    else:
        if body is None:
            # acks=0 Produce: no answer to carry the error, so Kafka closes the
            # connection (RequestHandlerHelper.sendErrorOrCloseConnection) and the
            # producer learns of it by refreshing its metadata.
            raise ProtocolViolation(f"acks=0 {code.name}: closing, as Kafka does")
        return body
    try:
        # An API without its own error answer: the top-level error code, if it has one.
        return error_body(api_key, version, code, message)
    except KeyError:
        raise ProtocolViolation(f"api_key {api_key} v{version} failed with {code.name}") from None
