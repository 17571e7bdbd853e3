"""What a handler gets besides its request: the header, the broker's services and
the response budget the network layer lends this request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kwire.broker.services import Broker


class ResponseBudget(Protocol):
    """The share of the server's response memory one request may hold (the
    network layer's lease, net/memory_pool.py): Fetch asks before each read so
    that many large fetches in flight shrink their reads instead of exhausting
    memory. Defined here so handlers never import the network layer."""

    def grant(self, want: int) -> int:
        """Reserve up to `want` bytes before a read; the read must then `settle`."""
        ...

    def settle(self, reserved: int, used: int) -> None:
        """After a read: keep `used` of the `reserved` bytes (may exceed them)."""
        ...

    def release(self) -> None:
        """Give back everything held (a long poll drops what it read)."""
        ...


@dataclass(frozen=True, slots=True)
class RequestContext:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    client_host: str
    broker: Broker
    # None outside a server (unit tests): reads are then unbudgeted.
    response_budget: ResponseBudget | None = None
