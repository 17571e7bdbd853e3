"""Composition root: the only module that picks concrete backends and wires them.

`run(config)` opens the data dir, binds the listener, prints the ready line,
serves until SIGINT/SIGTERM, then shuts down gracefully: stop accepting,
finish requests in flight, flush every log and write the clean-shutdown marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kwire.broker.dispatcher import Dispatcher
from kwire.broker.services import Broker
from kwire.clock import SystemClock
from kwire.cluster.admin import ClusterAdmin
from kwire.cluster.api import BrokerInfo, MetadataStore
from kwire.cluster.local import LocalMetadataStore
from kwire.cluster.zookeeper.membership import ClusterMembership
from kwire.cluster.zookeeper.registration import DuplicateBrokerId
from kwire.cluster.zookeeper.store import ZooKeeperMetadataStore
from kwire.config import LONG_MAX, Config, Listener
from kwire.config.dynamic import format_configs
from kwire.errors import StorageError
from kwire.log.api import LogStore
from kwire.log.bookkeeper.api import DigestType, LedgerConfig
from kwire.log.bookkeeper.client import BookKeeperClient
from kwire.log.bookkeeper.store import BookKeeperLogStore
from kwire.log.local.store import LocalLogStore
from kwire.log.memory import MemoryLogStore
from kwire.net.memory_pool import ResponseLease
from kwire.net.server import Server
from kwire.zookeeper import ZooKeeper, ZooKeeperError, split_chroot

log = logging.getLogger("kwire")

# How often the log store's upkeep runs: brings an offline log back within a
# second of its disk working again.
_MAINTAIN_EVERY_SECONDS = 1.0


async def serve(config: Config, stop: asyncio.Event) -> None:
    clock = SystemClock()
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    listener = config.listener
    server_holder: list[Server] = []
    # The listener opens first (its port goes into the advertised address); a
    # request that comes before the broker is ready waits for it.
    ready = asyncio.Event()

    async def dispatch(frame: bytes, host: str, lease: ResponseLease) -> list[bytes] | None:
        if not ready.is_set():
            await ready.wait()
        return await dispatcher.dispatch(frame, host, lease)

    # Response budget: the batches all fetches in flight hold in memory together
    # are bounded by one maximal fetch response (see net/server.py).
    server = Server(dispatch, listener.host, listener.port,
                    int(config["socket.request.max.bytes"]), int(config["max.connections"]),
                    int(config["connections.max.idle.ms"]),
                    queued_max_request_bytes=int(config["queued.max.request.bytes"]),
                    response_budget_bytes=int(config["fetch.max.bytes"]))
    host, port = await server.start()
    server_holder.append(server)
    bound = Listener("PLAINTEXT", listener.host, port)
    advertised = config.advertised_listener
    if not config.values.get("advertised.listeners"):
        advertised = Listener("PLAINTEXT", advertised.host, port)
    rack = config["broker.rack"]
    node = BrokerInfo(config.node_id, advertised.host, advertised.port,
                      None if rack is None else str(rack))
    storage = await open_storage(config, node, clock)
    logs, metadata = storage.logs, storage.metadata
    admin = None  # a single node is always the controller (Broker's default)
    if storage.cluster is not None:
        # Elections and reassignments are the controller's (as Kafka's ZooKeeper
        # mode had them): in a cluster only the broker holding /controller serves them.
        election = storage.cluster.election
        admin = ClusterAdmin(metadata, is_controller=lambda: election.is_controller)
    broker = Broker(config, node, metadata, logs, clock, admin)
    dispatcher = Dispatcher(broker)
    if storage.cluster is not None:
        await storage.cluster.register()
    await broker.open_partitions()
    if storage.cluster is not None:
        await storage.cluster.join()
    ready.set()
    housekeeping = asyncio.create_task(_housekeeping(broker))
    print(f"kwire ready: listening on {bound} (advertised as {advertised}), "
          f"node.id={node.node_id}, {storage.description}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if storage.cluster is not None:
            if config["controlled.shutdown.enable"]:
                await storage.cluster.leave(broker.partitions.leads_nothing,
                                            CONTROLLED_SHUTDOWN_SECONDS)
            else:
                await storage.cluster.close()
        await server.close()
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        await broker.close()
        await storage.close()
        log.info("shut down cleanly")


@dataclass
class Storage:
    """The two seams' backends and how to release what they hold."""

    logs: LogStore
    metadata: MetadataStore
    description: str  # for the ready line
    close: Callable[[], Awaitable[None]]
    # Cluster mode: registration, controller election, following the others.
    cluster: ClusterMembership | None = None


async def open_storage(config: Config, node: BrokerInfo, clock: SystemClock) -> Storage:
    """log.storage picks the backends: `local` segment files and metadata in the
    data dir (the default), `memory` logs (metadata still in the data dir), or
    `bookkeeper`: ledgers on bookies, with the ledger lists and all metadata in
    ZooKeeper, so that nothing in the data dir is needed by a replacement broker."""
    kind = str(config["log.storage"])
    data_dir = config.data_dir

    async def nothing() -> None:
        return None

    if kind != "bookkeeper":
        logs: LogStore = (MemoryLogStore(clock.wall_ms) if kind == "memory"
                          else LocalLogStore(data_dir, clock.wall_ms))
        return Storage(logs, LocalMetadataStore(data_dir, node, format_configs(config)),
                       f"{kind} log in {data_dir}", nothing)

    hosts, chroot = split_chroot(str(config["zookeeper.connect"]))
    session_ms = int(config["zookeeper.session.timeout.ms"])
    zk = ZooKeeper(hosts, session_ms)
    connect_ms = config["zookeeper.connection.timeout.ms"]
    await zk.start(int(connect_ms if connect_ms is not None else session_ms) / 1000)
    zk.add_state_listener(_log_session_state)
    ledgers = BookKeeperClient(
        zk, str(config["bookkeeper.metadata.root"]),
        add_timeout_ms=int(config["bookkeeper.add.entry.timeout.ms"]),
        read_timeout_ms=int(config["bookkeeper.read.entry.timeout.ms"]))
    ledger_config = LedgerConfig(
        ensemble_size=int(config["bookkeeper.ensemble.size"]),
        write_quorum=int(config["bookkeeper.write.quorum.size"]),
        ack_quorum=int(config["bookkeeper.ack.quorum.size"]),
        digest_type=_DIGESTS[str(config["bookkeeper.digest.type"])],
        password=str(config["bookkeeper.password"]).encode())
    metadata = ZooKeeperMetadataStore(zk, chroot, node, format_configs(config))
    cluster = ClusterMembership(zk, chroot, node, metadata, session_ms,
                                bool(config["auto.leader.rebalance.enable"]))
    try:
        await cluster.follow()  # the first full load of the metadata
    except Exception:
        await ledgers.close()
        await zk.stop()
        raise
    logs = BookKeeperLogStore(zk, ledgers, f"{chroot}{LOGS_ZNODE}", ledger_config,
                              clock.wall_ms,
                              cache_bytes=int(config["bookkeeper.entry.cache.bytes"]))

    async def close() -> None:
        await ledgers.close()
        await zk.stop()

    return Storage(logs, metadata,
                   f"BookKeeper ledgers via ZooKeeper {config['zookeeper.connect']} "
                   f"(E{ledger_config.ensemble_size}/W{ledger_config.write_quorum}/"
                   f"A{ledger_config.ack_quorum})", close, cluster)


def _log_session_state(state: str) -> None:
    if state == "CONNECTED":
        log.info("ZooKeeper session connected")
    else:  # SUSPENDED: calls wait for the connection; LOST: the session expired
        log.warning("ZooKeeper session %s", state)


# bookkeeper.digest.type names, as BookKeeper's client configuration spells them.
_DIGESTS = {"CRC32C": DigestType.CRC32C, "CRC32": DigestType.CRC32, "MAC": DigestType.HMAC,
            "DUMMY": DigestType.DUMMY}
# Where the partitions' ledger lists live, under the zookeeper.connect chroot.
LOGS_ZNODE = "/kwire/logs"
# How long a controlled shutdown waits for the controller to move this broker's
# leaderships (Kafka retries controlled.shutdown.max.retries times, 5 s apart).
CONTROLLED_SHUTDOWN_SECONDS = 30.0


async def _housekeeping(broker: Broker) -> None:
    """Retention every log.retention.check.interval.ms; time-based flushes when set;
    every second the log store's upkeep (space reserve, offline logs, checkpoints)."""
    retention_every = int(broker.config["log.retention.check.interval.ms"]) / 1000
    loop = asyncio.get_running_loop()
    next_retention = loop.time() + retention_every
    while True:
        # Read each time: log.flush.interval.ms is a dynamic broker config.
        flush_ms = broker.config.log_flush_interval_ms
        # (at least every 10 ms: 0, or a negative value Kafka accepts dynamically,
        # means flush at every tick, not a busy loop)
        flush_every = min(max(flush_ms, 10), 1000) / 1000 if flush_ms < LONG_MAX else None
        wait = min(next_retention - loop.time(), _MAINTAIN_EVERY_SECONDS)
        if flush_every is not None:
            wait = min(wait, flush_every)
        await asyncio.sleep(max(0.0, wait))
        try:
            if flush_every is not None:
                await broker.logs.flush_due(broker.now_ms())
            await broker.logs.maintain(broker.now_ms())
            await broker.partitions.open_unopened()
            if loop.time() >= next_retention:
                deleted = await broker.logs.enforce_retention(broker.now_ms())
                if deleted:
                    log.info("retention deleted %d segment(s)", deleted)
                next_retention = loop.time() + retention_every
        except Exception:
            log.exception("housekeeping failed; retrying at the next interval")


def _raise_open_file_limit() -> None:
    """Thousands of client connections need thousands of descriptors; lift the soft
    limit to the hard one, as the JVM does for Kafka (-XX:+MaxFDLimit)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit: %s", exc)


# glibc's mallopt parameters (malloc.h) and the values kwire sets; see _tune_malloc.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024
_MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024


def _tune_malloc() -> None:
    """Keep glibc from giving the heap's top back to the system after every request.

    Every produce request and fetch response is a bytes object of up to a few MiB
    that lives for one request. Freed, it sits at the top of the heap, and with
    glibc's dynamic thresholds (trim above 2x the last large block) the heap is
    trimmed and grown again on each request, so every request pays page faults
    for fresh memory: measured, that halves librdkafka's produce throughput.
    Fixed thresholds keep up to 16 MiB of free heap top (blocks over 8 MiB, the
    rare 100 MB frame among them, are mmapped and returned at once)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # glibc only (musl has no mallopt knobs)
            return
        import ctypes  # the only user of ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("could not tune malloc: %s", exc)


def run(config: Config) -> int:
    import uvloop

    _raise_open_file_limit()
    _tune_malloc()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    try:
        uvloop.run(main())
    except (OSError, ZooKeeperError, StorageError, DuplicateBrokerId) as exc:
        # A port in use, a data dir it cannot write, a ZooKeeper it cannot reach
        # or read (cluster storage), another live broker with this node.id: one
        # line, exit 1, no traceback.
        print(f"kwire: cannot start: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    return 0
