"""Who owns which partition in a consumer group: Kafka's ConsumerGroup.currentPartitionEpoch.

For each (topic id, partition) the group keeps the epoch of the member that
owns it; a partition is owned while it is in a member's assigned partitions or
in its partitions pending revocation. Reconciliation (`current_assignment.py`)
withholds a partition from a new owner while this map still has an epoch for
it, which is what keeps two members from owning it at the same time.

Since KAFKA-19862 Kafka is lenient where a compacted log can replay records out
of their original order: removing an epoch that is no longer the recorded one
is ignored, and a newer epoch may replace an older one. Recording an epoch over
one that is as new or newer still means two owners, and raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

from kwire.coordinator.group.consumer.member import ConsumerGroupMember

Partitions = Mapping[uuid.UUID, Collection[int]]
"""Topic id -> partitions: a target assignment, or a member's (partition -> epoch) maps."""


class PartitionEpochConflict(Exception):
    """Kafka's IllegalStateException: a partition would get a second owner."""


class PartitionEpochs:
    """The current partition epochs of one consumer group (mutable, no I/O)."""

    def __init__(self) -> None:
        self._epochs: dict[uuid.UUID, dict[int, int]] = {}

    def current_partition_epoch(self, topic_id: uuid.UUID, partition: int) -> int:
        """The owning member's epoch, or -1 when no member owns the partition."""
        return self._epochs.get(topic_id, {}).get(partition, -1)

    def update_member(
        self, old_member: ConsumerGroupMember | None, new_member: ConsumerGroupMember
    ) -> None:
        """Replace `old_member`'s ownership (None for a new member) with `new_member`'s.

        Raises PartitionEpochConflict, changing nothing, when one of the new
        member's partitions is still owned at its epoch or a newer one.
        """
        self._check_add(old_member, new_member)
        self.remove_member(old_member)
        self.add_partition_epochs(new_member.assigned_partitions, new_member.member_epoch)
        self.add_partition_epochs(new_member.partitions_pending_revocation, new_member.member_epoch)

    def remove_member(self, old_member: ConsumerGroupMember | None) -> None:
        """Drop the ownership of a member leaving the group (or being replaced)."""
        if old_member is None:
            return
        self.remove_partition_epochs(old_member.assigned_partitions, old_member.member_epoch)
        self.remove_partition_epochs(
            old_member.partitions_pending_revocation, old_member.member_epoch
        )

    def remove_partition_epochs(self, assignment: Partitions, expected_epoch: int) -> None:
        """Forget the partitions recorded at `expected_epoch`; others are left alone
        (they already belong to a newer owner)."""
        for topic_id, partitions in assignment.items():
            recorded = self._epochs.get(topic_id)
            if recorded is None:
                continue
            for partition in partitions:
                if recorded.get(partition) == expected_epoch:
                    del recorded[partition]
            if not recorded:
                del self._epochs[topic_id]

    def add_partition_epochs(self, assignment: Partitions, epoch: int) -> None:
        """Record `epoch` as the owner's epoch of every partition in `assignment`.

        Raises PartitionEpochConflict, changing nothing, when a partition is
        already recorded at `epoch` or a newer epoch.
        """
        for topic_id, partitions in assignment.items():
            recorded = self._epochs.get(topic_id, {})
            for partition in partitions:
                _check_free(topic_id, partition, recorded.get(partition), epoch)
        for topic_id, partitions in assignment.items():
            recorded = self._epochs.setdefault(topic_id, {})
            for partition in partitions:
                recorded[partition] = epoch

    def as_dict(self) -> dict[tuple[uuid.UUID, int], int]:
        """A copy: (topic id, partition) -> owner's epoch."""
        return {
            (topic_id, partition): epoch
            for topic_id, partitions in self._epochs.items()
            for partition, epoch in partitions.items()
        }

    def copy(self) -> PartitionEpochs:
        clone = PartitionEpochs()
        clone._epochs = {topic_id: dict(p) for topic_id, p in self._epochs.items()}
        return clone

    def _check_add(
        self, old_member: ConsumerGroupMember | None, new_member: ConsumerGroupMember
    ) -> None:
        # What update_member's adds would meet once the old member's epochs are
        # gone; checked up front so that a conflict leaves the map untouched.
        epoch = new_member.member_epoch
        added: set[tuple[uuid.UUID, int]] = set()
        for assignment in (
            new_member.assigned_partitions,
            new_member.partitions_pending_revocation,
        ):
            for topic_id, partitions in assignment.items():
                for partition in partitions:
                    prev = self._epochs.get(topic_id, {}).get(partition)
                    if old_member is not None and _owns(old_member, topic_id, partition, prev):
                        prev = None
                    if (topic_id, partition) in added:
                        prev = epoch
                    _check_free(topic_id, partition, prev, epoch)
                    added.add((topic_id, partition))


def _owns(
    member: ConsumerGroupMember, topic_id: uuid.UUID, partition: int, epoch: int | None
) -> bool:
    """Whether removing `member`'s epochs would remove this partition's entry."""
    if epoch != member.member_epoch:
        return False
    return partition in member.assigned_partitions.get(
        topic_id, {}
    ) or partition in member.partitions_pending_revocation.get(topic_id, {})


def _check_free(topic_id: uuid.UUID, partition: int, prev: int | None, epoch: int) -> None:
    if prev is not None and prev >= epoch:
        raise PartitionEpochConflict(
            f"Cannot set the epoch of {topic_id}-{partition} to {epoch} because the "
            f"partition is still owned at epoch {prev}"
        )
