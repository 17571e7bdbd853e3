"""The coordinator's view of the topics (Kafka's CoordinatorMetadataImage), as values.

Consumer groups subscribe by topic name (or regex) and are assigned topic ids; the
coordinator resolves one to the other through a `TopicsImage`, taken from the
broker's metadata at the time of each call.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kwire.coordinator.group.consumer.metadata_hash import group_hash, topic_hash


@dataclass(frozen=True)
class TopicImage:
    topic_id: uuid.UUID
    name: str
    partitions: int


@dataclass(frozen=True)
class TopicsImage:
    by_name: Mapping[str, TopicImage] = field(default_factory=dict)
    by_id: Mapping[uuid.UUID, TopicImage] = field(default_factory=dict)

    @staticmethod
    def of(topics: Iterable[TopicImage]) -> TopicsImage:
        listed = list(topics)
        return TopicsImage({t.name: t for t in listed}, {t.topic_id: t for t in listed})

    def name_of(self, topic_id: uuid.UUID) -> str | None:
        topic = self.by_id.get(topic_id)
        return None if topic is None else topic.name

    def id_of(self, name: str) -> uuid.UUID | None:
        topic = self.by_name.get(name)
        return None if topic is None else topic.topic_id

    def partition_count(self, topic_id: uuid.UUID) -> int:
        topic = self.by_id.get(topic_id)
        return -1 if topic is None else topic.partitions


EMPTY_TOPICS = TopicsImage()


def metadata_hash(subscribed: Iterable[str], topics: TopicsImage) -> int:
    """Kafka's group metadata hash (KIP-1101) over the subscribed topics that exist:
    the group epoch is bumped when it changes, so partitions added or topics created
    or deleted reach the assignment. kwire brokers have no racks. 0 when no
    subscribed topic exists, as in Kafka."""
    hashes = {}
    for name in set(subscribed):
        topic = topics.by_name.get(name)
        if topic is not None:
            hashes[name] = topic_hash(topic.topic_id, name, [()] * topic.partitions)
    return group_hash(hashes)


def changed_topics(old: TopicsImage, new: TopicsImage) -> set[str]:
    """Names of topics created, deleted or changed (id or partition count)."""
    return {name for name in set(old.by_name) | set(new.by_name)
            if old.by_name.get(name) != new.by_name.get(name)}
