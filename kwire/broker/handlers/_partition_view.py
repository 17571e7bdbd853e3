"""What a client sees of one partition: leader, epoch, replicas, in-sync and
offline replicas, computed from the metadata snapshot. Shared by Metadata and
DescribeTopicPartitions, so the two always agree.

Kafka's KRaftMetadataCache answers from the partition's registration and the
live broker registrations: a leader that is not a live broker shows as -1
(Metadata then answers LEADER_NOT_AVAILABLE for the partition), and a replica
whose broker is not registered is listed in offline_replicas. kwire has no
ISR of its own: a partition's data is on shared storage in cluster mode, so any
live replica can serve it; the in-sync replicas are therefore the replicas
that are live brokers, in replica order. On a single node every replica is the
node itself, so isr_nodes equals replica_nodes and nothing is offline.
"""

from __future__ import annotations

from dataclasses import dataclass

from kwire.cluster.api import ClusterMetadata, PartitionState
from kwire.errors import ErrorCode

NO_LEADER_ID = -1  # MetadataResponse.NO_LEADER_ID


@dataclass(frozen=True, slots=True)
class PartitionView:
    # Metadata's partition error: LEADER_NOT_AVAILABLE without a live leader
    # (DescribeTopicPartitions never sets one: Kafka leaves it 0 there).
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int
    replica_nodes: tuple[int, ...]
    isr_nodes: tuple[int, ...]
    offline_replicas: tuple[int, ...]


def partition_view(snapshot: ClusterMetadata, partition: PartitionState) -> PartitionView:
    """The client-visible fields of `partition`; `snapshot.brokers` are the live brokers."""
    replicas = partition.replicas
    live_ids = {b.node_id for b in snapshot.brokers}
    live = tuple(r for r in replicas if r in live_ids)
    leader_live = partition.leader in live_ids
    offline = () if len(live) == len(replicas) else tuple(r for r in replicas if r not in live)
    return PartitionView(
        error_code=ErrorCode.NONE if leader_live else ErrorCode.LEADER_NOT_AVAILABLE,
        leader_id=partition.leader if leader_live else NO_LEADER_ID,
        leader_epoch=partition.leader_epoch,
        replica_nodes=replicas,
        isr_nodes=live,
        offline_replicas=offline,
    )
