"""Cluster metadata in ZooKeeper: znodes.py (Kafka's layout, one class per
znode) and store.py (the MetadataStore over them)."""

from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore

__all__ = ["ZooKeeperMetadataStore"]
