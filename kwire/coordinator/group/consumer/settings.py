"""The broker settings of consumer groups (KIP-848), at Kafka 4.4's names and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kwire.coordinator.group.consumer.migration import MigrationPolicy


class _Config(Protocol):
    def __getitem__(self, name: str, /) -> object: ...


@dataclass(frozen=True)
class ConsumerGroupSettings:
    session_timeout_ms: int = 45_000  # group.consumer.session.timeout.ms
    heartbeat_interval_ms: int = 5_000  # group.consumer.heartbeat.interval.ms
    max_size: int = 2**31 - 1  # group.consumer.max.size
    assignors: tuple[str, ...] = ("uniform", "range")  # group.consumer.assignors
    migration_policy: MigrationPolicy = MigrationPolicy.BIDIRECTIONAL
    regex_refresh_interval_ms: int = 600_000  # group.consumer.regex.refresh.interval.ms
    assignment_interval_ms: int = 1_000  # group.consumer.assignment.interval.ms


def consumer_group_settings(config: _Config) -> ConsumerGroupSettings:
    """The settings from the broker config (Kafka's names)."""
    return ConsumerGroupSettings(
        session_timeout_ms=int(str(config["group.consumer.session.timeout.ms"])),
        heartbeat_interval_ms=int(str(config["group.consumer.heartbeat.interval.ms"])),
        max_size=int(str(config["group.consumer.max.size"])),
        assignors=tuple(config_list(config["group.consumer.assignors"])),
        migration_policy=MigrationPolicy(str(config["group.consumer.migration.policy"]).lower()),
        regex_refresh_interval_ms=int(str(config["group.consumer.regex.refresh.interval.ms"])),
        assignment_interval_ms=int(str(config["group.consumer.assignment.interval.ms"])),
    )


def config_list(value: object) -> list[str]:
    """A LIST setting, as a list (parsed) or as its comma-separated text."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
