"""The embedded default log: Kafka-format segment files in a local data dir.

`store.py` (the data dir, `LogStore`), `log.py` (one partition, `PartitionLog`),
`segment.py` (one segment's files), `index.py` (offset and time indexes),
`recovery.py` (loading and torn-tail repair), `checkpoint.py` (Kafka's
checkpoint files), `_batches.py` (the batch header facts the log reads).
"""

from kwire.log.local.log import LocalLog
from kwire.log.local.store import LocalLogStore

__all__ = ["LocalLog", "LocalLogStore"]
