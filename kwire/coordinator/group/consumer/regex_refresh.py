"""When and how a consumer group's regexes are resolved (Kafka's
maybeUpdateRegularExpressions and handleRegularExpressionsResult).

A heartbeat only decides that a resolution is due and arms the group's
("consumer_regex", group) timer at once; the resolution runs as its own
coordinator call, as Kafka runs it on its executor, so the heartbeat that brings
a new regex answers before the regex is resolved, as in Kafka.
"""

from __future__ import annotations

from kwire.coordinator.group.base import CoordinatorBase
from kwire.coordinator.group.consumer import writes
from kwire.coordinator.group.consumer.group import (
    NO_DEADLINE_MS,
    ConsumerGroup,
    ResolvedRegularExpression,
)
from kwire.coordinator.group.consumer.member import ConsumerGroupMember
from kwire.coordinator.group.consumer.regex import (
    MIN_REFRESH_INTERVAL_MS,
    RegexStatus,
    check_regex,
    resolve,
)
from kwire.coordinator.group.consumer.timers import regex_key
from kwire.coordinator.group.consumer.topics import metadata_hash
from kwire.coordinator.group.effects import EffectsBuilder


class ConsumerRegexMixin(CoordinatorBase):
    def check_new_regex(self, group: ConsumerGroup, regex: str | None) -> None:
        """A regex no member of the group uses yet must compile (before any write)."""
        if regex and not group.subscribed_regex_counts()[regex]:
            check_regex(regex)

    def maybe_update_regexes(self, fx: EffectsBuilder, group: ConsumerGroup,
                             old: ConsumerGroupMember, new: ConsumerGroupMember,
                             now_ms: int) -> RegexStatus:
        """Called after the member's subscription record was applied: `group` already
        counts `new`'s regex and no longer `old`'s. The refresh decision reads the
        resolved regexes as they were before this heartbeat, as Kafka's does (its
        records are applied after the call)."""
        resolved = dict(group.resolved_regexes)
        before, after = old.subscribed_topic_regex, new.subscribed_topic_regex
        status = RegexStatus.NO_CHANGE
        require_refresh = False
        counts = group.subscribed_regex_counts()
        if before != after:
            status = RegexStatus.UPDATED
            if before and not counts[before]:
                self.write(fx, writes.regex_tombstone(group.group_id, before))
            if after:
                if counts[after] == 1:
                    # The first member with this regex (Kafka validated it then; here
                    # check_new_regex did, before any write).
                    require_refresh = True
                elif after in resolved:
                    status = RegexStatus.UPDATED_AND_RESOLVED
            elif before:
                status = RegexStatus.UPDATED_AND_RESOLVED
        if not require_refresh and not counts:
            return status
        if regex_key(group.group_id) in self.timers:
            return status
        # Kafka learns of new topics as they are created (onMetadataUpdate); kwire looks
        # now, so a topic created since the last call counts on this heartbeat.
        self.topics(now_ms)
        # Every regex of a group is resolved at once: the first one's time and version
        # are the group's (Kafka's lastResolvedRegularExpression*).
        first = next(iter(resolved.values()), None)
        if first is not None and now_ms <= first.timestamp_ms + MIN_REFRESH_INTERVAL_MS:
            return status
        last = -(2**63) if first is None else first.timestamp_ms
        last_version = 0 if first is None else first.version
        require_refresh = (require_refresh
                           or len(counts) != len(resolved)
                           or last_version < self.topics_version
                           or now_ms > last + self.consumer_regex_refresh_interval_ms)
        if require_refresh and counts:
            self.schedule(fx, regex_key(group.group_id), now_ms)
        return status

    def on_regex_refresh(self, fx: EffectsBuilder, group_id: str, now_ms: int) -> None:
        """Resolve the group's regexes now; bump the group epoch when what they match
        (or the subscribed topics' metadata) changed."""
        group = self.consumer_groups.get(group_id)
        if group is None:
            return
        topics = self.topics()
        bump = False
        for regex in sorted(group.subscribed_regex_counts()):
            matched = resolve(regex, topics.by_name)
            old = group.resolved_regexes.get(regex)
            if old is None or old.topics != matched:
                bump = True
            self.write(fx, writes.regex(group.group_id, regex, ResolvedRegularExpression(
                matched, self.topics_version, now_ms)))
        subscribed = set().union(*group.subscriptions().values()) if group.members else set()
        hashed = metadata_hash(subscribed, topics)
        if bump or hashed != group.metadata_hash:
            epoch = group.group_epoch + 1
            self.write(fx, writes.group_epoch(group.group_id, epoch, hashed))
            group.set_metadata_refresh_deadline(now_ms + NO_DEADLINE_MS, epoch)
