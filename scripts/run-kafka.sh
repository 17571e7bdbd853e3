#!/usr/bin/env bash
# Start/stop a real single-node KRaft Apache Kafka (reference oracle for
# compat-tests) from the Maven Central jars that scripts/fetch-kafka.sh fetches.
#
# usage: scripts/run-kafka.sh start [PORT]   # default 19092; controller on PORT+1
#        scripts/run-kafka.sh stop
#        scripts/run-kafka.sh status
# env:   KAFKA_VERSION (default 4.4.0), KWIRE_REF_DIR (default /tmp/kwire-ref-kafka)
#
# 'start' formats a fresh data dir, starts the broker in the background
# (-Xmx1g), waits (bounded, 90 s) until it answers ApiVersions, then prints
# "ready PLAINTEXT://127.0.0.1:PORT". 'stop' sends SIGTERM to that process only
# (its pid is in $KWIRE_REF_DIR/kafka.pid), waits, then removes the data dir.
# Then run: pytest compat-tests --bootstrap 127.0.0.1:PORT
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
V="${KAFKA_VERSION:-4.4.0}"
DIR="${KWIRE_REF_DIR:-/tmp/kwire-ref-kafka}"
PIDFILE="$DIR/kafka.pid"
CMD="${1:-start}"
PORT="${2:-19092}"
CPORT=$((PORT + 1))

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

stop() {
    if running; then
        local pid; pid="$(cat "$PIDFILE")"
        kill -TERM "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then echo "kafka $pid did not stop in 30 s; SIGKILL" >&2; kill -KILL "$pid"; fi
        echo "stopped kafka (pid $pid)"
    else
        echo "kafka not running"
    fi
    rm -rf "$DIR"
}

case "$CMD" in
status) if running; then echo "running pid $(cat "$PIDFILE")"; else echo "not running"; exit 1; fi ;;
stop) stop ;;
start)
    if running; then echo "already running (pid $(cat "$PIDFILE")); stop it first" >&2; exit 1; fi
    command -v java >/dev/null || { echo "java not found (need Java 17)" >&2; exit 1; }
    LIBS="$("$HERE/fetch-kafka.sh" "$V")"
    rm -rf "$DIR"; mkdir -p "$DIR/data" "$DIR/logs"
    LOGCFG="$DIR/log4j2.properties"
    cat > "$LOGCFG" <<'EOF'
rootLogger.level=WARN
rootLogger.appenderRef.e.ref=E
appender.e.type=Console
appender.e.name=E
appender.e.target=SYSTEM_ERR
appender.e.layout.type=PatternLayout
appender.e.layout.pattern=[%d] %p %m (%c)%n
EOF
    cat > "$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
    J() { java -Xmx512m -Djava.awt.headless=true -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOGCFG" "$@"; }
    CID="$(J kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    J kafka.tools.StorageTool format -t "$CID" -c "$DIR/server.properties" --ignore-formatted >"$DIR/logs/format.log" 2>&1
    nohup java -Xmx1g -Xms1g -Djava.awt.headless=true -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOGCFG" \
        -Dkafka.logs.dir="$DIR/logs" kafka.Kafka "$DIR/server.properties" \
        >"$DIR/logs/stdout.log" 2>"$DIR/logs/stderr.log" </dev/null &
    echo $! > "$PIDFILE"
    deadline=$((SECONDS + 90))
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
        if ! running; then echo "kafka exited during startup; see $DIR/logs" >&2; tail -20 "$DIR/logs/stderr.log" >&2; exit 1; fi
        if (( SECONDS > deadline )); then echo "kafka not listening after 90 s" >&2; stop; exit 1; fi
        sleep 0.5
    done
    until J org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$PORT" >/dev/null 2>&1; do
        if (( SECONDS > deadline )); then echo "kafka not answering after 90 s" >&2; stop; exit 1; fi
        sleep 1
    done
    echo "ready PLAINTEXT://127.0.0.1:$PORT (pid $(cat "$PIDFILE"), dir $DIR)"
    ;;
*) echo "usage: $0 start [PORT] | stop | status" >&2; exit 2 ;;
esac
