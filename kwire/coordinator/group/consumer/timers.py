"""Timer keys of consumer groups (see effects.TimerKey)."""

from __future__ import annotations

from kwire.coordinator.group.effects import TimerKey


def session_key(group_id: str, member_id: str) -> TimerKey:
    """The member's session: it is fenced when no heartbeat came within it."""
    return ("consumer_session", group_id, member_id)


def revocation_key(group_id: str, member_id: str) -> TimerKey:
    """The member's rebalance timeout while it must revoke partitions."""
    return ("consumer_revocation", group_id, member_id)


def regex_key(group_id: str) -> TimerKey:
    """A resolution of the group's regexes, armed at once (Kafka's executor task)."""
    return ("consumer_regex", group_id)


def join_key(group_id: str, member_id: str) -> TimerKey:
    """A classic member in a consumer group must rejoin within its rebalance timeout."""
    return ("consumer_join", group_id, member_id)


def sync_key(group_id: str, member_id: str) -> TimerKey:
    """A classic member in a consumer group must sync within its rebalance timeout."""
    return ("consumer_sync", group_id, member_id)
