"""The reference Java BookKeeper client (compat-tests/java/BkInterop.java) from Python.

Interop tests need a second, independent implementation of the ledger format:
ledgers kwire writes must read back through the real Java client (digests,
entry headers, metadata), and ledgers the Java client writes must read back
through kwire. BkJava compiles BkInterop.java once per source+jar set (cached
under ~/.cache/kwire/bk-interop/<hash>) and runs it under `timeout`, because a
Java BookKeeper client that cannot reach ZooKeeper hangs instead of failing.

    java = BkJava.locate()
    lid = java.write(env.metadata_service_uri, 3, 2, 2, "CRC32C", "pw", 50)
    dump = java.read(env.metadata_service_uri, lid, "CRC32C", "pw")
    assert dump.entries == [BkJava.payload(i) for i in range(50)]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bookkeeper_env import BookKeeperEnvError, bookkeeper_libs, find_java

SOURCE = Path(__file__).resolve().parent / "java" / "BkInterop.java"
CACHE_ROOT = Path(os.environ.get("KWIRE_CACHE", Path.home() / ".cache" / "kwire")) / "bk-interop"
DIGESTS = ("CRC32C", "CRC32", "MAC", "DUMMY")
DEFAULT_TIMEOUT = 60.0

# log4j2 writes the client's logging to stderr: stdout carries only results
# (the log4j2.xml inside bookkeeper-server would send INFO lines to stdout).
LOG4J2_PROPERTIES = """\
status = warn
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %d{HH:mm:ss.SSS} %-5p [%t] %c{1} - %m%n
"""


class BkJavaError(RuntimeError):
    """BkInterop failed (exit status != 0) or timed out; carries its output."""

    def __init__(self, message: str, returncode: int | None, stdout: str, stderr: str) -> None:
        super().__init__(f"{message}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-4000:]}")
        self.returncode = returncode  # None = timed out
        self.stdout = stdout
        self.stderr = stderr


@dataclass
class LedgerDump:
    """What `read`/`recover` printed: the metadata JSON and every entry's payload.

    metadata keys: ledgerId, state ("OPEN"|"IN_RECOVERY"|"CLOSED"), closed,
    lastEntryId, lastAddConfirmed, length, ensembleSize, writeQuorumSize,
    ackQuorumSize, digestType, metadataFormatVersion, and ensembles as
    [[firstEntryId, ["127.0.0.1:port", ...]], ...].
    """

    metadata: dict[str, Any]
    entries: list[bytes] = field(default_factory=list)

    @property
    def ensembles(self) -> list[tuple[int, list[str]]]:
        return [(int(first), list(ids)) for first, ids in self.metadata["ensembles"]]


class BkJava:
    """Compiled BkInterop + the java to run it with."""

    def __init__(self, libs: Path, java: str, classes: Path, jvm_flags: list[str]) -> None:
        self.libs = Path(libs)
        self.java = java
        self.classes = Path(classes)
        self.jvm_flags = list(jvm_flags)

    @staticmethod
    def payload(i: int) -> bytes:
        """The payload BkInterop writes as entry i (documented in BkInterop.java)."""
        return f"entry-{i}".encode()

    # -- construction ----------------------------------------------------------
    @classmethod
    def locate(cls, libs: Path | None = None, java: str | None = None) -> BkJava:
        """Find java/javac and the jars, compile if the cache lacks this source+jar set."""
        java = java or find_java()
        javac = shutil.which("javac")
        if javac is None:
            raise BookKeeperEnvError("javac not found on PATH (Debian: openjdk-17-jdk-headless)")
        libs = Path(libs) if libs else bookkeeper_libs()
        classes = cls._compile(javac, libs)
        log_cfg = classes / "log4j2.properties"
        flags = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                 "-Djava.net.preferIPv4Stack=true", "-Dio.netty.tryReflectionSetAccessible=true",
                 "--add-opens", "java.base/java.nio=ALL-UNNAMED",
                 "--add-opens", "java.base/jdk.internal.misc=ALL-UNNAMED",
                 f"-Dlog4j2.configurationFile={log_cfg}"]
        return cls(libs, java, classes, flags)

    @staticmethod
    def _compile(javac: str, libs: Path) -> Path:
        """javac into CACHE_ROOT/<hash of source and jar names>, once; a lock file and
        an atomic rename keep parallel test processes from seeing half a build."""
        jars = sorted(p.name for p in libs.glob("*.jar"))
        key = hashlib.sha256(SOURCE.read_bytes() + "\n".join(jars).encode()).hexdigest()[:16]
        target = CACHE_ROOT / key
        if (target / "BkInterop.class").exists():
            return target
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        with open(CACHE_ROOT / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (target / "BkInterop.class").exists():
                return target
            work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=CACHE_ROOT))
            p = subprocess.run([javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(work), str(SOURCE)],
                               capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL)
            if p.returncode != 0:
                shutil.rmtree(work, ignore_errors=True)
                raise BookKeeperEnvError(f"javac {SOURCE} failed:\n{p.stdout}{p.stderr}")
            (work / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
        return target

    # -- running ---------------------------------------------------------------
    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT, v2: bool = False,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run BkInterop with `args` under `timeout -s KILL`; raise BkJavaError if it
        fails (check) or does not finish."""
        flags = [*self.jvm_flags, *(["-Dbkinterop.v2=true"] if v2 else [])]
        cmd = ["timeout", "-s", "KILL", f"{timeout:.0f}", self.java, *flags,
               "-cp", f"{self.classes}:{self.libs}/*", "BkInterop", *args]
        try:
            # the outer limit only matters if `timeout` itself misbehaves
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise BkJavaError(f"BkInterop {' '.join(args)} hung", None, str(e.stdout),
                              str(e.stderr)) from None
        if p.returncode in (124, 137, -9):
            raise BkJavaError(f"BkInterop {' '.join(args)} killed after {timeout:.0f} s",
                              None, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise BkJavaError(f"BkInterop {' '.join(args)} exited {p.returncode}",
                              p.returncode, p.stdout, p.stderr)
        return p

    def write(self, uri: str, ensemble: int, write_quorum: int, ack_quorum: int,
              digest: str = "CRC32C", password: str = "", n: int = 10, close: bool = True,
              timeout: float = DEFAULT_TIMEOUT, v2: bool = False) -> int:
        """Create a ledger, write entries payload(0..n-1), close it (or leave it OPEN,
        as a crashed writer would); return its id."""
        _check_digest(digest)
        args = ["write", uri, str(ensemble), str(write_quorum), str(ack_quorum), digest,
                password, str(n)]
        p = self.run(*args, *([] if close else ["open"]), timeout=timeout, v2=v2)
        return int(p.stdout.strip().splitlines()[-1])

    def read(self, uri: str, ledger_id: int, digest: str = "CRC32C", password: str = "",
             timeout: float = DEFAULT_TIMEOUT, v2: bool = False) -> LedgerDump:
        """Open without recovery (no fencing) and read every entry up to the LAC.
        A digest mismatch raises BkJavaError with returncode 1."""
        return self._dump("read", uri, ledger_id, digest, password, timeout, v2)

    def recover(self, uri: str, ledger_id: int, digest: str = "CRC32C", password: str = "",
                timeout: float = DEFAULT_TIMEOUT, v2: bool = False) -> LedgerDump:
        """Open WITH recovery: fence the ledger, close it, then read like read()."""
        return self._dump("recover", uri, ledger_id, digest, password, timeout, v2)

    def _dump(self, cmd: str, uri: str, ledger_id: int, digest: str, password: str,
              timeout: float, v2: bool) -> LedgerDump:
        _check_digest(digest)
        p = self.run(cmd, uri, str(ledger_id), digest, password, timeout=timeout, v2=v2)
        lines = p.stdout.splitlines()
        if not lines:
            raise BkJavaError(f"BkInterop {cmd} printed nothing", p.returncode, p.stdout, p.stderr)
        return LedgerDump(json.loads(lines[0]), [bytes.fromhex(x) for x in lines[1:]])


def _check_digest(digest: str) -> None:
    if digest not in DIGESTS:
        raise ValueError(f"digest must be one of {DIGESTS}, not {digest!r}")
