#!/usr/bin/env bash
# Start/stop a real Apache ZooKeeper plus N real Apache BookKeeper bookies on
# this machine (one JVM each, loopback only, free ports picked at run time),
# from the Maven Central jars scripts/fetch-bookkeeper.sh fetches.
#
# usage: scripts/run-bookkeeper.sh start  [DIR] [N]   # default DIR /tmp/kwire-bookkeeper, N 3
#        scripts/run-bookkeeper.sh status [DIR]
#        scripts/run-bookkeeper.sh stop   [DIR]
# env:   BOOKKEEPER_VERSION (default 4.17.3), ZK_PORT (default: a free port),
#        BK_JOURNAL_SYNC=0 (journalSyncData=false: faster, acks before fsync)
#
# 'start' wipes DIR's old cluster, starts everything in the background, waits
# (bounded, 60 s) until ZooKeeper answers ruok and every bookie is registered
# under /ledgers/available and accepts TCP, then prints e.g.
#   zookeeper.connect=127.0.0.1:PORT
#   metadataServiceUri=zk+hierarchical://127.0.0.1:PORT/ledgers
#   bookies=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
# PIDs are recorded in DIR/env.json; logs are DIR/zk/zookeeper.log and
# DIR/bookie-I/bookie-I.log. 'stop' sends SIGTERM to exactly those PIDs
# (SIGKILL after 10 s). The work is done by compat-tests/bookkeeper_env.py.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CMD="${1:-start}"
DIR="${2:-/tmp/kwire-bookkeeper}"
N="${3:-3}"

PY="${KWIRE_VENV:-$ROOT/.venv}/bin/python"
[[ -x "$PY" ]] || PY=python3  # needs kazoo
ENVPY="$ROOT/compat-tests/bookkeeper_env.py"

case "$CMD" in
start)
    command -v java >/dev/null || { echo "java not found (need Java 17)" >&2; exit 1; }
    KWIRE_BOOKKEEPER_LIBS="$("$HERE/fetch-bookkeeper.sh")"
    export KWIRE_BOOKKEEPER_LIBS
    args=(start --dir "$DIR" --bookies "$N")
    [[ -n "${ZK_PORT:-}" ]] && args+=(--zk-port "$ZK_PORT")
    [[ "${BK_JOURNAL_SYNC:-1}" == 0 ]] && args+=(--no-journal-sync)
    exec "$PY" "$ENVPY" "${args[@]}"
    ;;
stop | status) exec "$PY" "$ENVPY" "$CMD" --dir "$DIR" ;;
*) echo "usage: $0 start [DIR] [N] | stop [DIR] | status [DIR]" >&2; exit 2 ;;
esac
