"""The cluster controller's decisions: replica placement and leader elections, as pure functions.

Nothing here does I/O. The controller's driver reads the partitions from the
metadata store, calls one of these functions, and writes back only the states
it returns (every function returns just the partitions it changed).

In cluster mode a broker owns no data: a partition is a chain of BookKeeper
ledgers any broker can open. So leadership can move to any live broker without
copying bytes, and `replicas` is only the partition's leadership preference list
(what Kafka's tools show as Replicas; replicas[0] is the preferred leader). Two
rules hold for every state produced here:

- a partition with a live leader has its leader in `replicas`;
- `leader_epoch` grows by exactly 1 whenever the leader changes (KIP-320: clients
  compare epochs to notice a new leader), and otherwise only where Kafka itself
  bumps it (a reassignment that drops a replica, see `reassign`).

Leader -1 means no leader: no broker at all is live.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import TypeAlias

from kwire.cluster.api import BrokerInfo, PartitionState, TopicMetadata
from kwire.errors import ErrorCode, KwireError

TopicIndex: TypeAlias = tuple[str, int]

NO_LEADER = -1

# Kafka's Topic.GROUP_METADATA_TOPIC_NAME / TRANSACTION_STATE_TOPIC_NAME. Each of
# these topics is balanced on its own: a coordinator runs wherever a partition of
# it is led, so spreading them evenly spreads the coordinators.
GROUP_METADATA_TOPIC_NAME = "__consumer_offsets"
TRANSACTION_STATE_TOPIC_NAME = "__transaction_state"
_SEPARATELY_BALANCED = (GROUP_METADATA_TOPIC_NAME, TRANSACTION_STATE_TOPIC_NAME)


class InvalidPartitions(KwireError):
    """Kafka's InvalidPartitionsException."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_PARTITIONS, message)


class InvalidReplicationFactor(KwireError):
    """Kafka's InvalidReplicationFactorException."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_REPLICATION_FACTOR, message)


class AdminOperationError(KwireError):
    """Kafka's AdminOperationException, which its CreateTopics answers as UNKNOWN_SERVER_ERROR."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNKNOWN_SERVER_ERROR, message)


@dataclass(frozen=True, slots=True)
class ApiError:
    """One partition's error in an ElectLeaders or AlterPartitionReassignments answer."""

    error_code: int
    message: str | None = None


ElectionError: TypeAlias = ApiError


# ---------------------------------------------------------------- small helpers


def partition_states(topics: Mapping[str, TopicMetadata]) -> dict[TopicIndex, PartitionState]:
    """Every partition of a metadata snapshot's topics, keyed by (topic, index)."""
    return {(name, i): p for name, t in topics.items() for i, p in enumerate(t.partitions)}


def apply_changes(
    partitions: Mapping[TopicIndex, PartitionState], changes: Mapping[TopicIndex, PartitionState]
) -> dict[TopicIndex, PartitionState]:
    """The partitions with the decisions of one of the functions below applied."""
    return {**partitions, **changes}


def leader_counts(partitions: Mapping[TopicIndex, PartitionState]) -> dict[int, int]:
    """How many partitions each broker leads (brokers leading none are absent; -1 is skipped)."""
    counts: dict[int, int] = {}
    for state in partitions.values():
        if state.leader != NO_LEADER:
            counts[state.leader] = counts.get(state.leader, 0) + 1
    return counts


def isr(state: PartitionState, live_ids: Set[int]) -> tuple[int, ...]:
    """The ISR kwire reports: every live replica, in replica order.

    Any live broker can serve any partition (the data is in BookKeeper), so every
    live replica is "in sync".
    """
    return tuple(r for r in state.replicas if r in live_ids)


def offline_replicas(state: PartitionState, live_ids: Set[int]) -> tuple[int, ...]:
    """The replicas that are not live, in replica order (Metadata's offline_replicas)."""
    return tuple(r for r in state.replicas if r not in live_ids)


def _live_ids(live: Sequence[BrokerInfo]) -> frozenset[int]:
    return frozenset(b.node_id for b in live)


def _loads(partitions: Mapping[TopicIndex, PartitionState], ids: Iterable[int]) -> dict[int, int]:
    counts = leader_counts(partitions)
    return {b: counts.get(b, 0) for b in ids}


def _least_loaded(loads: Mapping[int, int]) -> int:
    return min(loads, key=lambda b: (loads[b], b))


def _new_leader(state: PartitionState, leader: int, replicas: tuple[int, ...] | None = None
                ) -> PartitionState:
    return PartitionState(leader=leader, leader_epoch=state.leader_epoch + 1,
                          replicas=state.replicas if replicas is None else replicas)


def _leader_first(replicas: tuple[int, ...], new: int, old: int) -> tuple[int, ...]:
    """`replicas` rewritten so that `new` is replicas[0] (the preferred leader).

    `new` already in the list swaps places with replicas[0]; otherwise it takes
    the old leader's entry and that entry then swaps with replicas[0], so the
    list keeps its length and loses only the broker that gave the partition up.
    """
    out = list(replicas)
    if new not in out:
        if old in out:
            out[out.index(old)] = new
        elif out:  # the old leader was not a replica (never produced here): drop the last
            out = [new, *out[:-1]]
        else:
            out = [new]
    j = out.index(new)
    out[0], out[j] = out[j], out[0]
    return tuple(out)


# ---------------------------------------------------------------- placement


def assign_replicas(
    partitions: int,
    replication_factor: int,
    brokers: Sequence[BrokerInfo],
    start_index: int | None = None,
    start_partition: int = 0,
    *,
    rng: random.Random | None = None,
) -> list[tuple[int, ...]]:
    """Replica lists for partitions start_partition, start_partition + 1, ... of a topic.

    Apache Kafka's AdminUtils.assignReplicasToBrokers (server-common), which its
    ZooKeeper-mode CreateTopics and CreatePartitions used: the first replica of
    each partition goes round-robin over the brokers from a start index; the
    others follow at a shift that grows by one each time the round-robin wraps,
    so that the followers of one broker's partitions spread over the others. If
    any broker has a rack, all must, and the round-robin runs over a list that
    alternates racks, picking followers from racks without a replica first.

    `start_index` None draws the start index and the first shift at random, as
    Kafka does (from `rng` if given); a fixed one is used for both, as Kafka's
    fixedStartIndex is. Brokers are taken in node id order (Kafka's
    AdminZkClient.getBrokerMetadatas sorts them).
    """
    if partitions <= 0:
        raise InvalidPartitions("Number of partitions must be larger than 0.")
    if replication_factor <= 0:
        raise InvalidReplicationFactor("Replication factor must be larger than 0.")
    if replication_factor > len(brokers):
        raise InvalidReplicationFactor(
            f"Replication factor: {replication_factor} larger than available brokers: "
            f"{len(brokers)}.")
    if start_index is not None and start_index < 0:
        raise ValueError(f"start_index must not be negative: {start_index}")
    ordered = sorted(brokers, key=lambda b: b.node_id)
    racks: dict[int, str] = {}
    for b in ordered:
        if b.rack is not None:
            racks[b.node_id] = b.rack
    if racks and len(racks) < len(ordered):
        raise AdminOperationError(
            "Not all brokers have rack information for replica rack aware assignment.")
    broker_list = _rack_alternated(racks) if racks else [b.node_id for b in ordered]
    rng = rng or random.Random()
    n = len(broker_list)
    first = start_index if start_index is not None else rng.randrange(n)
    shift = start_index if start_index is not None else rng.randrange(n)
    out: list[tuple[int, ...]] = []
    for partition in range(max(0, start_partition), max(0, start_partition) + partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first_index = (partition + first) % n
        if racks:
            out.append(_rack_aware_replicas(broker_list, racks, first_index, shift,
                                            replication_factor))
        else:
            out.append((broker_list[first_index], *(
                broker_list[_replica_index(first_index, shift, j, n)]
                for j in range(replication_factor - 1))))
    return out


def _replica_index(first_index: int, shift: int, j: int, n: int) -> int:
    return (first_index + 1 + (shift + j) % (n - 1)) % n


def _rack_alternated(racks: Mapping[int, str]) -> list[int]:
    """AdminUtils.getRackAlternatedBrokerList: one broker of each rack in turn (racks sorted
    by name, brokers by id), so a plain round-robin over the list alternates racks."""
    by_rack: dict[str, list[int]] = {}
    for broker, rack in sorted(racks.items()):
        by_rack.setdefault(rack, []).append(broker)
    columns = [by_rack[r] for r in sorted(by_rack)]
    return [c[i] for i in range(max(map(len, columns))) for c in columns if i < len(c)]


def _rack_aware_replicas(broker_list: list[int], racks: Mapping[int, str], first_index: int,
                         shift: int, replication_factor: int) -> tuple[int, ...]:
    n, n_racks = len(broker_list), len(set(racks.values()))
    leader = broker_list[first_index]
    replicas, racks_used, brokers_used = [leader], {racks[leader]}, {leader}
    k = 0
    while len(replicas) < replication_factor:
        broker = broker_list[_replica_index(first_index, shift * n_racks, k, n)]
        rack = racks[broker]
        k += 1
        # Skip a broker whose rack already has a replica while some rack has none,
        # and a broker that already has one while some broker has none.
        if ((rack not in racks_used or len(racks_used) == n_racks)
                and (broker not in brokers_used or len(brokers_used) == n)):
            replicas.append(broker)
            racks_used.add(rack)
            brokers_used.add(broker)
    return tuple(replicas)


# ---------------------------------------------------------------- failover


def elect_for_dead_brokers(
    partitions: Mapping[TopicIndex, PartitionState], live: Sequence[BrokerInfo]
) -> dict[TopicIndex, PartitionState]:
    """A new leader for every partition whose leader is not live (or is -1).

    The first live replica leads. With no live replica, every replica is
    replaced by the least-loaded live brokers (the list keeps its length, capped
    at the number of live brokers) and the first of them leads; load counts the
    decisions already made, so a dead broker's partitions spread out. With no
    live broker at all, a partition that had a leader gets -1 and keeps its
    epoch: the next real leader takes epoch + 1 from there.
    """
    live_ids = _live_ids(live)
    changes: dict[TopicIndex, PartitionState] = {}
    if not live_ids:
        for tp in sorted(partitions):
            state = partitions[tp]
            if state.leader != NO_LEADER:
                changes[tp] = replace(state, leader=NO_LEADER)
        return changes
    loads = _loads(partitions, live_ids)
    for tp in sorted(partitions):
        state = partitions[tp]
        if state.leader in live_ids:
            continue
        leader = next((r for r in state.replicas if r in live_ids), None)
        if leader is not None:
            changes[tp] = _new_leader(state, leader)
        else:
            size = max(1, min(len(state.replicas), len(live_ids)))
            chosen = tuple(sorted(live_ids, key=lambda b: (loads[b], b))[:size])
            changes[tp] = _new_leader(state, chosen[0], chosen)
        loads[changes[tp].leader] += 1
    return changes


# ---------------------------------------------------------------- rebalance
#
# Theory of operation. Let n partitions have a live leader and b brokers be live,
# q, r = divmod(n, b). A fair spread gives r brokers q + 1 partitions and the
# rest q. Which brokers get the r larger shares decides how many leaderships
# move: giving them to the brokers that lead the most already is optimal, since
# each such share saves one move only on a broker that leads more than q. Then
# every broker above its share ("donor") gives up exactly its excess and every
# broker below ("receiver") takes exactly its deficit, so the number of moves is
# the sum of the excesses, the least possible.
#
# Which partition moves, and where: the most loaded donor gives first; among its
# partitions the one whose replica list names a receiver earliest wins (a
# receiver that is the partition's preferred leader is the best possible home),
# and that receiver takes it. If no partition of the donor names a receiver, the
# donor keeps the partitions it is preferred leader of as long as it can, and the
# receiver furthest below its share takes one. Ties break by partition key and
# broker id, so the same input always gives the same moves.


def rebalance(
    partitions: Mapping[TopicIndex, PartitionState], live: Sequence[BrokerInfo]
) -> dict[TopicIndex, PartitionState]:
    """Move the fewest leaderships so every live broker leads floor(n/b) or ceil(n/b).

    n counts the partitions whose leader is live (run `elect_for_dead_brokers`
    first for the others). `__consumer_offsets` and `__transaction_state` are
    each balanced on their own and all other topics together, so coordinators
    spread as evenly as partitions. A moved partition's new leader becomes
    replicas[0] (see `_leader_first`); epoch + 1.
    """
    live_ids = _live_ids(live)
    if not live_ids:
        return {}
    groups: dict[str, dict[TopicIndex, PartitionState]] = {}
    for tp, state in partitions.items():
        if state.leader in live_ids:
            group = tp[0] if tp[0] in _SEPARATELY_BALANCED else ""
            groups.setdefault(group, {})[tp] = state
    changes: dict[TopicIndex, PartitionState] = {}
    for group in sorted(groups):
        changes.update(_balance(groups[group], sorted(live_ids)))
    return changes


def fair_shares(counts: Mapping[int, int]) -> dict[int, int]:
    """Each broker's target leader count: q or q + 1, the q + 1 to the most loaded."""
    q, r = divmod(sum(counts.values()), len(counts))
    order = sorted(counts, key=lambda b: (-counts[b], b))
    return {b: q + (1 if i < r else 0) for i, b in enumerate(order)}


def _balance(partitions: Mapping[TopicIndex, PartitionState], live_ids: list[int]
             ) -> dict[TopicIndex, PartitionState]:
    led: dict[int, list[TopicIndex]] = {b: [] for b in live_ids}
    for tp in sorted(partitions):
        led[partitions[tp].leader].append(tp)
    share = fair_shares({b: len(tps) for b, tps in led.items()})
    excess = {b: len(led[b]) - share[b] for b in live_ids if len(led[b]) > share[b]}
    deficit = {b: share[b] - len(led[b]) for b in live_ids if len(led[b]) < share[b]}
    changes: dict[TopicIndex, PartitionState] = {}
    while deficit:
        donor = min(excess, key=lambda b: (-len(led[b]), b))
        tp, receiver = _pick_move(donor, led[donor], partitions, deficit)
        state = partitions[tp]
        changes[tp] = _new_leader(state, receiver,
                                  _leader_first(state.replicas, receiver, donor))
        led[donor].remove(tp)
        led[receiver].append(tp)
        for counter, broker in ((excess, donor), (deficit, receiver)):
            counter[broker] -= 1
            if counter[broker] == 0:
                del counter[broker]
    return changes


def _pick_move(donor: int, donor_tps: list[TopicIndex],
               partitions: Mapping[TopicIndex, PartitionState], deficit: Mapping[int, int]
               ) -> tuple[TopicIndex, int]:
    best: tuple[int, TopicIndex, int] | None = None
    for tp in donor_tps:
        for pos, broker in enumerate(partitions[tp].replicas):
            if broker in deficit:
                if best is None or (pos, tp) < best[:2]:
                    best = (pos, tp, broker)
                break
    if best is not None:
        return best[1], best[2]
    tp = min(donor_tps, key=lambda t: (partitions[t].replicas[:1] == (donor,), t))
    return tp, min(deficit, key=lambda b: (-deficit[b], b))


# ---------------------------------------------------------------- admin requests


def _not_exist() -> ApiError:
    # The ZooKeeper-mode controller's text (KafkaController) for ElectLeaders and reassignments.
    return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist.")


def elect_preferred(
    partitions: Mapping[TopicIndex, PartitionState],
    live: Sequence[BrokerInfo],
    wanted: Iterable[TopicIndex] | None,
) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
    """ElectLeaders with election type PREFERRED: leader := replicas[0] where it is live.

    Errors as Kafka's: ELECTION_NOT_NEEDED when replicas[0] already leads,
    PREFERRED_LEADER_NOT_AVAILABLE when it is not live, UNKNOWN_TOPIC_OR_PARTITION
    for a partition that does not exist. `wanted` None means every partition,
    and then (as Kafka's KafkaApis and ReplicationControlManager do)
    ELECTION_NOT_NEEDED is left out of the answer.
    """
    live_ids = _live_ids(live)
    keys = sorted(partitions) if wanted is None else sorted(set(wanted))
    changes: dict[TopicIndex, PartitionState] = {}
    errors: dict[TopicIndex, ApiError] = {}
    for tp in keys:
        state = partitions.get(tp)
        if state is None:
            errors[tp] = _not_exist()
            continue
        preferred = state.replicas[0] if state.replicas else None
        if preferred is not None and state.leader == preferred:
            if wanted is not None:
                errors[tp] = ApiError(ErrorCode.ELECTION_NOT_NEEDED)
        elif preferred is None or preferred not in live_ids:
            # PartitionStateMachine's StateChangeFailedException text; TopicPartition
            # prints as topic-partition.
            errors[tp] = ApiError(
                ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                f"Failed to elect leader for partition {tp[0]}-{tp[1]} under strategy "
                "PreferredReplicaPartitionLeaderElectionStrategy")
        else:
            changes[tp] = _new_leader(state, preferred)
    return changes, errors


def reassign(
    partitions: Mapping[TopicIndex, PartitionState],
    live: Sequence[BrokerInfo],
    target: Mapping[TopicIndex, tuple[int, ...] | None],
) -> tuple[dict[TopicIndex, PartitionState], dict[TopicIndex, ApiError]]:
    """AlterPartitionReassignments, completed at once: no data moves, so none is ever pending.

    replicas := the target list. The leader stays if it is live and in the list;
    otherwise the first live broker of the list leads (epoch + 1). Like Kafka's
    controller (PartitionChangeBuilder.triggerLeaderEpochBumpForReplicaReassignmentIfNeeded)
    the epoch is also bumped when the leader stays but the list drops a replica,
    and not for a reorder or an addition. A target equal to the current list
    changes nothing and is no error. A None target (a cancellation) answers
    NO_REASSIGNMENT_IN_PROGRESS. Validation follows KafkaController.validateReplicas:
    new replicas must be live, replicas the partition already has need not be;
    kwire also refuses a list with no live broker, which Kafka would leave pending.
    """
    live_ids = _live_ids(live)
    changes: dict[TopicIndex, PartitionState] = {}
    errors: dict[TopicIndex, ApiError] = {}
    for tp in sorted(target):
        state, replicas = partitions.get(tp), target[tp]
        if state is None:
            errors[tp] = _not_exist()
            continue
        if replicas is None:
            errors[tp] = ApiError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)
            continue
        replicas = tuple(replicas)
        error = _validate_replicas(state, replicas, live_ids)
        if error is not None:
            errors[tp] = error
            continue
        if state.leader in replicas and state.leader in live_ids:
            leader = state.leader
        else:
            leader = next(r for r in replicas if r in live_ids)
        bump = leader != state.leader or not set(state.replicas) <= set(replicas)
        new = PartitionState(leader, state.leader_epoch + (1 if bump else 0), replicas)
        if new != state:
            changes[tp] = new
    return changes, errors


def _validate_replicas(state: PartitionState, replicas: tuple[int, ...],
                       live_ids: frozenset[int]) -> ApiError | None:
    def invalid(message: str) -> ApiError:
        return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)

    shown = _list(replicas)
    if not replicas:
        return invalid("Empty replica list specified in partition reassignment.")
    if len(set(replicas)) != len(replicas):
        return invalid(f"Duplicate replica ids in partition reassignment replica list: {shown}")
    if any(r < 0 for r in replicas):
        return invalid(f"Invalid broker id in replica list: {shown}")
    adding = tuple(r for r in replicas if r not in state.replicas)
    if not set(adding) <= live_ids or not live_ids.intersection(replicas):
        return invalid(
            "Replica assignment has brokers that are not alive. Replica list: "
            f"{_list(adding if adding else replicas)}, live broker list: {_list(sorted(live_ids))}")
    return None


def _list(ids: Iterable[int]) -> str:
    # Java's List.toString form; Kafka's Scala controller printed its own collection
    # type names (ArrayBuffer(...), Set(...)), which say nothing to a client.
    return "[" + ", ".join(map(str, ids)) + "]"
