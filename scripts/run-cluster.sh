#!/usr/bin/env bash
# A local kwire cluster on this machine: a real Apache ZooKeeper, 3 real Apache
# BookKeeper bookies (Maven Central jars, fetched by scripts/fetch-bookkeeper.sh
# when missing; needs Java 17 and Maven) and N `kwire serve` brokers on
# log.storage=bookkeeper, zookeeper.connect=127.0.0.1:<zk port>/kwire.
#
# usage: scripts/run-cluster.sh start [--brokers N] [--dir DIR] [--base-port P] [--set K=V ...]
#        scripts/run-cluster.sh status [--dir DIR]
#        scripts/run-cluster.sh stop [--dir DIR]
#        scripts/run-cluster.sh add-broker ID [--dir DIR] [--port P] [--rack R]
#        scripts/run-cluster.sh stop-broker ID [--dir DIR]
#        defaults: N 3, DIR ./kwire-cluster, P 9092
#
# start        ZooKeeper + bookies (DIR/bookkeeper), then brokers with node ids 1..N
#              on 127.0.0.1:P..P+N-1 (data dir DIR/broker-ID/data, log
#              DIR/broker-ID/kwire.log); waits until each answers ApiVersions and
#              prints bootstrap.servers=... --set applies to every broker.
# status       each broker's PID, address and whether it answers; bookies, ZooKeeper.
# stop         brokers (SIGTERM, SIGKILL after 20 s), then bookies and ZooKeeper.
# add-broker   one more broker (port P+ID-1 if free, else any), or a stopped one
#              again on its old port: try scaling.
# stop-broker  SIGTERM one broker (SIGKILL after 20 s).
# env: KWIRE_PYTHON (the interpreter that has kwire installed; default .venv's,
#      else the one of `kwire` on PATH, else python3), BK_JOURNAL_SYNC=0.
#
# Install first, as the README says: python3 -m venv .venv && .venv/bin/pip install .
# The work is done by compat-tests/cluster_env.py (and bookkeeper_env.py).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"

case "${1:-}" in
"" | -h | --help | help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0 ;;
esac

PY="${KWIRE_PYTHON:-}"
if [[ -z "$PY" && -x "${KWIRE_VENV:-$ROOT/.venv}/bin/python" ]]; then
    PY="${KWIRE_VENV:-$ROOT/.venv}/bin/python"
fi
if [[ -z "$PY" ]] && KW="$(command -v kwire)"; then
    shebang="$(head -n 1 "$KW")"
    [[ "$shebang" == "#!"* && -x "${shebang#\#!}" ]] && PY="${shebang#\#!}"
fi
PY="${PY:-python3}"
if ! "$PY" -c 'import kazoo, kwire.app' 2>/dev/null; then
    echo "kwire is not installed for $PY; install it first:" >&2
    echo "  python3 -m venv .venv && .venv/bin/pip install ." >&2
    exit 1
fi
exec "$PY" "$ROOT/compat-tests/cluster_env.py" "$@"
