"""Topic names: what Kafka allows (org.apache.kafka.common.internals.Topic), which
names are internal, which ones collide, and what a partition needs on disk.

Pure rules, no I/O: the CreateTopics, Metadata (auto-create), CreatePartitions,
DeleteTopics and Produce handlers ask here and answer with the error code and
message Kafka would, or, for internal topics, with kwire's stricter refusal:
Kafka lets a client create `__consumer_offsets` in any shape (breaking every
group); kwire accepts only the shape its group coordinator creates itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kwire.errors import ErrorCode
from kwire.fs import MAX_FILE_NAME_BYTES

MAX_NAME_LENGTH = 249
GROUP_METADATA_TOPIC_NAME = "__consumer_offsets"
TRANSACTION_STATE_TOPIC_NAME = "__transaction_state"
SHARE_GROUP_STATE_TOPIC_NAME = "__share_group_state"
CLUSTER_METADATA_TOPIC_NAME = "__cluster_metadata"
# Topic.INTERNAL_TOPICS: written only by the broker's coordinators.
INTERNAL_TOPICS = frozenset(
    {GROUP_METADATA_TOPIC_NAME, TRANSACTION_STATE_TOPIC_NAME, SHARE_GROUP_STATE_TOPIC_NAME}
)
# Internal topics no client may create: one the transaction coordinator creates
# in its own shape on first use, one for a coordinator kwire does not have yet.
_PROHIBITED = {
    TRANSACTION_STATE_TOPIC_NAME: "the transaction coordinator creates it on first use",
    SHARE_GROUP_STATE_TOPIC_NAME: "kwire has no share groups yet",
}
# QuorumController.MAX_RECORDS_PER_USER_OP: a CreateTopics or CreatePartitions that
# would write more metadata records than this fails as a whole.
MAX_RECORDS_PER_USER_OP = 10_000
EXCESSIVE_BATCH_MESSAGE = "Unable to perform excessively large batch operation."


def _detect_invalid(name: str) -> str | None:
    """Topic.detectInvalidTopic."""
    if not name:
        return "the empty string is not allowed"
    if name == ".":
        return "'.' is not allowed"
    if name == "..":
        return "'..' is not allowed"
    if len(name) > MAX_NAME_LENGTH:
        return (f"the length of '{name}' is longer than the max allowed length "
                f"{MAX_NAME_LENGTH}")
    if not all(c.isascii() and (c.isalnum() or c in "._-") for c in name):
        return (f"'{name}' contains one or more characters other than ASCII alphanumerics, "
                "'.', '_' and '-'")
    return None


def invalid_reason(name: str | None) -> str | None:
    """Why `name` is not a legal topic name (Topic.validate's message), or None."""
    reason = _detect_invalid(name or "")
    return None if reason is None else f"Topic name is invalid: {reason}"


def is_internal(name: str) -> bool:
    """Topic.isInternal: decided by name alone, whoever created the topic."""
    return name in INTERNAL_TOPICS


def unify_collision_chars(name: str) -> str:
    """Topic.unifyCollisionChars: '.' and '_' collide in metric names."""
    return name.replace(".", "_")


def colliding_topic(name: str, existing: Iterable[str]) -> str | None:
    """An existing topic other than `name` whose name collides with it
    (ReplicationControlManager.validateNewTopicNames), or None."""
    if "." not in name and "_" not in name:
        return None
    unified = unify_collision_chars(name)
    for other in sorted(existing):
        if other != name and unify_collision_chars(other) == unified:
            return other
    return None


def collision_message(name: str, other: str) -> str:
    return f"Topic '{name}' collides with existing topic: {other}"


def partition_dir_name(topic: str, partition: int) -> str:
    """LocalLog.logDirName: the partition's directory in a data dir."""
    return f"{topic}-{partition}"


def partitions_too_many(topic: str, total: int) -> str | None:
    """Why a topic cannot have `total` partitions on disk, or None.

    Kafka keeps topic names to 249 characters so that `<topic>-<partition>` fits
    the file system's 255 bytes for any partition count a single request can
    make; a topic grown further by CreatePartitions would fail to create its
    directory (and take the log dir offline). kwire refuses the request instead.
    """
    last = partition_dir_name(topic, total - 1)
    if len(last.encode()) > MAX_FILE_NAME_BYTES:
        return (f"Partition directory '{last}' would be longer than {MAX_FILE_NAME_BYTES} "
                f"bytes: topic '{topic}' can have at most "
                f"{max_partitions_on_disk(topic)} partitions.")
    return None


def max_partitions_on_disk(topic: str) -> int:
    digits = MAX_FILE_NAME_BYTES - len(topic.encode()) - 1
    return 10 ** digits if digits < 19 else 2**31 - 1


def creation_prohibited(name: str) -> str | None:
    """Why no client may create topic `name` (INVALID_REQUEST), or None.

    `__cluster_metadata`: Kafka's own refusal, word for word (ControllerApis).
    `__transaction_state` and `__share_group_state`: kwire's refusal (Kafka
    creates them in whatever shape a client asks, which breaks their coordinator).
    """
    if name == CLUSTER_METADATA_TOPIC_NAME:
        return f"Creation of internal topic {CLUSTER_METADATA_TOPIC_NAME} is prohibited."
    why = _PROHIBITED.get(name)
    if why is not None:
        return f"Creation of internal topic {name} is prohibited: {why}."
    return None


def offsets_topic_refusal(
    num_partitions: int,
    configs: Mapping[str, str],
    has_assignments: bool,
    own_partitions: int,
    own_configs: Mapping[str, str],
) -> tuple[ErrorCode, str] | None:
    """Why a client may not create `__consumer_offsets` this way, or None.

    Only its own shape (offsets.topic.num.partitions, -1 meaning that, and the
    group coordinator's configs): the coordinator maps a group to
    `partition_for(group, partition count)` and reads every record in it.
    """
    name = GROUP_METADATA_TOPIC_NAME
    if has_assignments:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, (
            f"Internal topic {name} takes no manual partition assignment.")
    if num_partitions not in (-1, own_partitions):
        return ErrorCode.INVALID_PARTITIONS, (
            f"Internal topic {name} must have offsets.topic.num.partitions "
            f"({own_partitions}) partitions, not {num_partitions}.")
    foreign = sorted(k for k, v in configs.items() if own_configs.get(k) != v)
    if foreign:
        own = ", ".join(f"{k}={v}" for k, v in sorted(own_configs.items()))
        return ErrorCode.INVALID_CONFIG, (
            f"Internal topic {name} takes only its own configs ({own}), not "
            + ", ".join(f"{k}={configs[k]}" for k in foreign) + ".")
    return None


def delete_refusal(name: str) -> str | None:
    """Kafka deletes internal topics when asked (and loses every group's offsets);
    kwire refuses, with the words of ReplicaManager's DeleteRecords refusal.
    `__share_group_state` (kwire has no share groups) can only be a leftover of
    an older kwire that let a client create it: that one may go."""
    if is_internal(name) and name != SHARE_GROUP_STATE_TOPIC_NAME:
        return f"Cannot delete internal topic {name}"
    return None


def append_refusal(name: str) -> str | None:
    """ReplicaManager.appendToLocalLog: clients never append to internal topics."""
    return f"Cannot append to internal topic {name}" if is_internal(name) else None
