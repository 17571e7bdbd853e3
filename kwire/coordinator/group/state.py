"""The classic group state machine (Kafka's ClassicGroupState): states, answers, transitions.

Transition table (Kafka's validPreviousStates; `transition_to` enforces it):

    from                 event                                                 to
    -------------------  ----------------------------------------------------  -------------------
    Empty                JoinGroup adds a first member (or a static member)    PreparingRebalance
                         -> initial delay: group.initial.rebalance.delay.ms,
                            extended while members keep arriving, up to the
                            rebalance timeout (InitialDelayedJoin)
    PreparingRebalance   all known members rejoined (not the initial           CompletingRebalance
                         rebalance) or the join/initial-delay timer fired;
                         dynamic members that did not rejoin are removed,
                         generation_id += 1, a protocol is selected, every
                         parked JoinGroup answered
    PreparingRebalance   same, but no member is left (GroupMetadata record,    Empty
                         generation_id += 1)
    CompletingRebalance  SyncGroup from the leader (GroupMetadata record;      Stable
                         every parked SyncGroup answered)
    CompletingRebalance  member joins with new metadata, static member         PreparingRebalance
                         replaced, member leaves or its session expires, sync
                         timer removes members that never sent SyncGroup
    Stable               leader rejoins, member joins with new metadata or is  PreparingRebalance
                         new, member leaves / expires / misses the sync timer
    any                  DeleteGroups / offsets expired on an Empty group /    Dead (and removed)
                         coordinator unloaded

Session expiry, leave and rebalance timeout are the only ways members are
removed; a removal in Stable/CompletingRebalance starts a rebalance, in
PreparingRebalance it may complete the join phase.
"""

from __future__ import annotations

import enum


class GroupState(enum.Enum):
    EMPTY = "Empty"
    """No members (but maybe pending ones): a new group, one whose members all left, or a
    "simple" group that only stores offsets (generation -1 commits).

    JoinGroup: a new member is accepted (MEMBER_ID_REQUIRED first for v4+ dynamic
    members) and starts the initial rebalance; a known member id gets UNKNOWN_MEMBER_ID.
    SyncGroup, Heartbeat, LeaveGroup: UNKNOWN_MEMBER_ID (a pending member may leave).
    OffsetCommit: accepted with generation -1 (simple commit); a member id gets
    UNKNOWN_MEMBER_ID. OffsetFetch: served. OffsetDelete, DeleteGroups: allowed.
    Offsets expire offsets.retention.ms after the group became Empty; once none
    are left the group is deleted (Dead)."""

    PREPARING_REBALANCE = "PreparingRebalance"
    """Waiting for every member to (re)join.

    JoinGroup: parked until all members joined or the join timer fires.
    SyncGroup: REBALANCE_IN_PROGRESS. Heartbeat: REBALANCE_IN_PROGRESS (session reset).
    LeaveGroup: member removed, may complete the join phase. OffsetCommit: accepted
    from members of the previous generation (session reset). OffsetFetch: served.
    OffsetDelete: NON_EMPTY_GROUP unless protocol type "consumer". DeleteGroups:
    NON_EMPTY_GROUP."""

    COMPLETING_REBALANCE = "CompletingRebalance"
    """Joined; waiting for the leader's SyncGroup with the assignments.

    JoinGroup: a member with unchanged protocols gets the current generation back;
    changed protocols or a replaced static member start a new rebalance.
    SyncGroup: parked until the leader's arrives, then all are answered.
    Heartbeat: NONE (session reset; clients heartbeat after their JoinGroup).
    LeaveGroup / session expiry: new rebalance. OffsetCommit: REBALANCE_IN_PROGRESS.
    OffsetFetch: served. OffsetDelete / DeleteGroups as PreparingRebalance."""

    STABLE = "Stable"
    """Assignments distributed.

    JoinGroup: the leader, a new member or a member with changed protocols starts a
    rebalance; a follower with unchanged protocols gets the current generation; a
    known static instance with a new member id replaces the old member (fenced)
    without a rebalance if the selected protocol stays. SyncGroup: the member's
    current assignment. Heartbeat: NONE (session reset). LeaveGroup / session
    expiry: rebalance. OffsetCommit: accepted from current-generation members.
    OffsetFetch: served. OffsetDelete / DeleteGroups as PreparingRebalance."""

    DEAD = "Dead"
    """Removed (deleted, expired or unloaded); a transient state, the group is gone.

    JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit: COORDINATOR_NOT_AVAILABLE.
    OffsetFetch: no offsets. OffsetDelete / DeleteGroups: GROUP_ID_NOT_FOUND.
    DescribeGroups reports an unknown group as Dead."""


VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


class IllegalTransition(RuntimeError):
    """A bug: the coordinator attempted a transition the table does not allow."""


def check_transition(group_id: str, current: GroupState, target: GroupState) -> None:
    if current not in VALID_PREVIOUS_STATES[target]:
        raise IllegalTransition(f"group {group_id}: {current.value} -> {target.value}")
