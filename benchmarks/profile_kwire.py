"""Where kwire spends its CPU under the 1 KiB acks=all produce load (py-spy).

  python -m benchmarks.profile_kwire [--load java|rdkafka|java-consume|rdkafka-consume]
                                     [--records N] [--partitions P] [--top 10] [--save stacks.txt]
                                     [--bookkeeper [--no-journal-sync]]

Starts `kwire serve` on a temp dir, starts `py-spy record` on it (raw collapsed
stacks, 200 Hz, idle samples excluded), runs the load (Kafka's
ProducerPerformance, 1 KiB, acks=all, 1 partition; or the librdkafka
generator; or java-consume: ConsumerPerformance reading N records that librdkafka
wrote before py-spy attached), stops both and prints the functions with the most self time (the
leaf frame of each on-CPU sample), plus the share of samples whose stack
contains each of a few broker layers. Needs `pip install py-spy` and ptrace
permission (root, or kernel.yama.ptrace_scope=0). --save keeps the collapsed
stacks (input for flamegraph.pl or speedscope.app).

--bookkeeper: kwire with log.storage=bookkeeper on a fresh ZooKeeper + 3 bookies
(benchmarks/bookkeeper.py's setup, journal sync on unless --no-journal-sync); the
CPU seconds each bookie and ZooKeeper used during the load are printed too.
rdkafka-consume: the librdkafka assign() consumer reading N records written before
py-spy attached.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import bookkeeper, brokers, scenarios
from benchmarks.javatools import JavaTools

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def parse_collapsed(text: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """(self samples per function, inclusive samples per function, total samples)."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";") if f]
        # thread name frames ("process 123:..." / "thread (0x..)") are not functions
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return self_c, incl, total


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("/kwire/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path[path.index(marker) + 1:]
            break
    return f"{m['func']} ({path})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile_kwire")
    ap.add_argument("--load", choices=["java", "rdkafka", "java-consume", "rdkafka-consume"],
                    default="java")
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--bookkeeper", action="store_true",
                    help="kwire on BookKeeper (fresh ZooKeeper + 3 bookies)")
    ap.add_argument("--no-journal-sync", action="store_true",
                    help="with --bookkeeper: bookies with journalSyncData=false")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--save", type=Path, default=None, help="keep the collapsed stacks here")
    a = ap.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="kwire-profile-"))
    setup: bookkeeper.KwireOnBookKeeper | None = None
    broker: brokers.KwireBroker
    if a.bookkeeper:
        setup = bookkeeper.KwireOnBookKeeper(work, journal_sync=not a.no_journal_sync)
    else:
        broker = brokers.KwireBroker(work / "kwire")
    raw = work / "profile.txt"
    try:
        if setup is not None:
            setup.start()
            assert setup.broker is not None
            broker = setup.broker
        else:
            broker.start()
        ctx = scenarios.Context(broker, None, scenarios.FULL)
        if setup is not None:
            bookkeeper.create_topic(broker.bootstrap, "profile-1k", a.partitions)
        else:
            scenarios.create_topic(ctx, "profile-1k", a.partitions)
        java = (JavaTools(brokers.locate_kafka_libs(), work)
                if a.load in ("java", "java-consume") else None)
        if a.load in ("java-consume", "rdkafka-consume"):
            scenarios._loadgen(ctx, "produce", "--topic", "profile-1k", "--count",
                               str(a.records), "--size", "1024")
        spy = subprocess.Popen([pyspy, "record", "--pid", str(broker.pid), "--rate", str(a.rate),
                                "--format", "raw", "--output", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        brokers.register(spy)
        time.sleep(1.0)  # py-spy attached
        others = bookkeeper.ProcessCpu(setup.pids()) if setup is not None else None
        cpu0, t0 = broker.cpu_s(), time.monotonic()
        if a.load == "rdkafka-consume":
            r = scenarios._loadgen(ctx, "consume", "--topic", "profile-1k", "--count",
                                   str(a.records), "--partitions", str(a.partitions))
        elif java is not None and a.load == "java-consume":
            r = java.consumer_perf(broker.bootstrap, "profile-1k", a.records, "profile-g")
            r["mib_per_s"] = r["fetch_mib_per_s"]
        elif java is not None:
            r = java.producer_perf(broker.bootstrap, "profile-1k", a.records, 1024)
        else:
            r = scenarios._loadgen(ctx, "produce", "--topic", "profile-1k", "--count",
                                   str(a.records), "--size", "1024")
        wall, cpu = time.monotonic() - t0, broker.cpu_s() - cpu0
        used = others.delta() if others is not None else None
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        _, err = spy.communicate(timeout=60)
        if not raw.exists():
            print(f"py-spy wrote nothing: {err[-2000:]}", file=sys.stderr)
            return 1
        text = raw.read_text()
        self_c, incl, total = parse_collapsed(text)
        print(f"load: {a.load}, {a.records:,} x 1 KiB -> {r['mib_per_s']:.1f} MiB/s; "
              f"kwire CPU {cpu:.1f} s over {wall:.1f} s = {cpu / wall:.2f} cores; "
              f"{total} on-CPU samples")
        if used is not None:
            print("cores per process during the load: " + ", ".join(
                f"{k} {v:.2f}" for k, v in used["process_cores"].items())
                + f"; load generator {used['client_cores']:.2f}")
        print(f"\ntop {a.top} functions by self time (share of on-CPU samples):")
        for name, n in self_c.most_common(a.top):
            print(f"  {100 * n / total:5.1f}%  {name}")
        print("\ninclusive time of the broker layers:")
        for name, n in incl.most_common(40):
            if "kwire/" in name:
                print(f"  {100 * n / total:5.1f}%  {name}")
        if a.save:
            a.save.write_text(text)
        return 0
    finally:
        if setup is not None:
            setup.stop()
        else:
            broker.stop()
        brokers.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
