"""One thin adapter per real Kafka client library, all with the interface in base.py.

`make_client(name, bootstrap)` builds one; `CLIENT_NAMES` lists them.
"""

from __future__ import annotations

from .base import CODECS, Client, Message, Record

CLIENT_NAMES = ("kafka-python", "confluent-kafka", "aiokafka")


def make_client(name: str, bootstrap: str) -> Client:
    if name == "kafka-python":
        from .kafka_python import KafkaPythonClient

        return KafkaPythonClient(bootstrap)
    if name == "confluent-kafka":
        from .confluent import ConfluentClient

        return ConfluentClient(bootstrap)
    if name == "aiokafka":
        from .aiokafka_client import AioKafkaClient

        return AioKafkaClient(bootstrap)
    raise ValueError(f"unknown client {name!r}")


def codec_unavailable(name: str, codec: str) -> str | None:
    """Why client `name` cannot use `codec` here, or None if it can."""
    if name == "kafka-python":
        from .kafka_python import codec_unavailable as f
    elif name == "confluent-kafka":
        from .confluent import codec_unavailable as f
    else:
        from .aiokafka_client import codec_unavailable as f
    return f(codec)


__all__ = [
    "CLIENT_NAMES", "CODECS", "Client", "Message", "Record", "codec_unavailable", "make_client",
]
