"""The controller's admin requests: leader elections (ElectLeaders) and
reassignments (AlterPartitionReassignments), as decisions of
kwire.cluster.controller written through the MetadataStore.

Theory of operation
-------------------
* Kafka's ZooKeeper-mode brokers had these requests answered by the controller
  (the AdminClient sends them to Metadata's controller_id), because only the
  controller may change leaders. kwire keeps that rule: a broker that is not
  the controller raises NotController, and every write is fenced by the
  controller epoch in the store anyway (a deposed controller's write is
  StaleMetadata, never applied).
* One request is one decision and one write: read the snapshot, let the pure
  functions decide (elect_preferred, reassign, elect_for_dead_brokers), then
  `alter_partitions` with the leader epochs the decision was computed from, so
  a partition that moved in between (the controller's own reconcile, another
  admin request) is refused rather than overwritten. On StaleMetadata (or a
  topic deleted meanwhile) the decision is made again on the fresh snapshot, a
  bounded number of times. A partition an earlier attempt already wrote (its
  state is exactly what that attempt decided) counts as done, so a retry never
  answers ELECTION_NOT_NEEDED for a change this very request made.
* Nothing is ever "in progress": in cluster mode a partition's replicas are a
  leadership preference list over shared BookKeeper ledgers, so a reassignment
  has no bytes to copy and completes in its one write.
* Pure orchestration over the MetadataStore protocol: the single-node store
  serves it too (there `is_controller` is always true and every answer is
  ELECTION_NOT_NEEDED or a validation error, the node being every replica).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from kwire.cluster.api import (
    BrokerInfo,
    ClusterMetadata,
    MetadataStore,
    PartitionState,
    StaleMetadata,
    TopicIndex,
    TopicNotFound,
)
from kwire.cluster.controller import (
    ApiError,
    elect_for_dead_brokers,
    elect_preferred,
    partition_states,
    reassign,
)
from kwire.errors import ErrorCode, KwireError

# Decisions made again on a fresh snapshot after a refused write; a controller
# that keeps losing the compare-and-set has most likely been deposed.
STALE_RETRIES = 5
RETRY_BACKOFF_S = 0.05

NONE = ApiError(ErrorCode.NONE)

# (the partitions as they are, the live brokers) -> (the new states, the errors)
Decision: TypeAlias = Callable[
    [Mapping[TopicIndex, PartitionState], tuple[BrokerInfo, ...]],
    tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]]


class NotController(KwireError):
    """This broker is not (or no longer) the controller: Kafka's NOT_CONTROLLER,
    which each API carries in its own field (see the handlers)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_CONTROLLER)


class ClusterAdmin:
    def __init__(self, store: MetadataStore, is_controller: Callable[[], bool]) -> None:
        self._store = store
        self._is_controller = is_controller

    def is_controller(self) -> bool:
        return self._is_controller()

    async def elect_preferred(self, partitions: Iterable[TopicIndex] | None
                              ) -> dict[TopicIndex, ApiError]:
        """ElectLeaders PREFERRED: leader := replicas[0] where it is live. An entry
        for every partition named (NONE when elected); `partitions` None means
        all, and then partitions needing no election are left out (Kafka's rule)."""
        wanted = None if partitions is None else sorted(set(partitions))

        def decide(current: Mapping[TopicIndex, PartitionState], live: tuple[BrokerInfo, ...]
                   ) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
            return elect_preferred(current, live, wanted)

        return await self._decide_and_write(decide)

    async def elect_unclean(self, partitions: Iterable[TopicIndex] | None
                            ) -> dict[TopicIndex, ApiError]:
        """ElectLeaders UNCLEAN, as `unclean_election` decides; the same answer shape
        as `elect_preferred`."""
        wanted = None if partitions is None else sorted(set(partitions))

        def decide(current: Mapping[TopicIndex, PartitionState], live: tuple[BrokerInfo, ...]
                   ) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
            return unclean_election(current, live, wanted)

        return await self._decide_and_write(decide)

    async def reassign(self, targets: Mapping[TopicIndex, tuple[int, ...] | None]
                       ) -> dict[TopicIndex, ApiError]:
        """AlterPartitionReassignments, complete at once (controller.reassign): an
        entry for every partition named; a None target is a cancellation."""
        wanted = dict(targets)

        def decide(current: Mapping[TopicIndex, PartitionState], live: tuple[BrokerInfo, ...]
                   ) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
            changes, errors = reassign(current, live, wanted)
            # A target equal to the current list changes nothing and succeeds.
            return changes, {**{tp: NONE for tp in wanted}, **errors}

        return await self._decide_and_write(decide)

    async def _decide_and_write(self, decide: Decision) -> dict[TopicIndex, ApiError]:
        written: dict[TopicIndex, PartitionState] = {}
        for attempt in range(STALE_RETRIES + 1):
            if not self._is_controller():
                raise NotController()
            snapshot: ClusterMetadata = self._store.snapshot()
            current = partition_states(snapshot.topics)
            done = {tp for tp, state in written.items() if current.get(tp) == state}
            changes, errors = decide(current, snapshot.brokers)
            results = {**errors, **{tp: NONE for tp in changes}, **{tp: NONE for tp in done}}
            if not changes:
                return results
            written.update(changes)
            try:
                await self._store.alter_partitions(
                    {tp: (current[tp].leader_epoch, state) for tp, state in changes.items()})
                return results
            except (StaleMetadata, TopicNotFound):
                # The store re-read what moved; decide again on what it holds now.
                await asyncio.sleep(RETRY_BACKOFF_S * attempt)
        # Refused every time: the fence (the controller epoch) most likely failed,
        # so another broker is controller now; the AdminClient retries there.
        raise NotController()


def unclean_election(
    partitions: Mapping[TopicIndex, PartitionState],
    live: Iterable[BrokerInfo],
    wanted: Iterable[TopicIndex] | None,
) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
    """ElectLeaders with election type UNCLEAN, a pure decision.

    Kafka elects only for a partition without a leader and answers
    ELECTION_NOT_NEEDED where one leads (ReplicationControlManager.electLeader:
    `partition.hasLeader()`). In kwire every live broker is in sync (the data
    is in BookKeeper), so an unclean election is exactly the controller's own
    failover election, `elect_for_dead_brokers`: the first live replica leads,
    or, with none live, live brokers replace the replicas. A leader that is no
    longer live counts as none (kwire's controller has not caught up with its
    death yet). ELIGIBLE_LEADERS_NOT_AVAILABLE only with no live broker at all.
    UNKNOWN_TOPIC_OR_PARTITION and the `wanted` None rule as elect_preferred.
    """
    live = tuple(live)
    live_ids = {b.node_id for b in live}
    keys = sorted(partitions) if wanted is None else sorted(set(wanted))
    errors: dict[TopicIndex, ApiError] = {}
    leaderless: dict[TopicIndex, PartitionState] = {}
    for tp in keys:
        state = partitions.get(tp)
        if state is None:
            errors[tp] = ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                  "The partition does not exist.")
        elif state.leader in live_ids:
            if wanted is not None:
                errors[tp] = ApiError(ErrorCode.ELECTION_NOT_NEEDED)
        else:
            leaderless[tp] = state
    changes = {tp: state for tp, state in elect_for_dead_brokers(leaderless, live).items()
               if state.leader in live_ids}
    for tp in leaderless.keys() - changes.keys():
        errors[tp] = ApiError(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE)
    return changes, errors
