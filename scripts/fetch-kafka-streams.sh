#!/usr/bin/env bash
# Download Apache Kafka Streams (and its runtime dependencies: kafka-clients,
# rocksdbjni, slf4j, ...) from Maven Central into one folder of its own, so
# compat-tests can compile and run a Streams application with the machine's
# Java 17. A separate cache from scripts/fetch-kafka.sh: the broker's folder
# must not get a second kafka-clients or slf4j binding. Idempotent: a finished
# folder is kept.
#
# usage: scripts/fetch-kafka-streams.sh [VERSION]   (default 4.4.0)
# prints the libs folder on stdout.
set -euo pipefail
V="${1:-${KAFKA_VERSION:-4.4.0}}"
LOG4J=2.25.3  # the log4j version kafka 4.4.0 is built with
ROOT="${KWIRE_CACHE:-$HOME/.cache/kwire}/kafka-streams-$V"
LIBS="$ROOT/libs"
if [[ -f "$ROOT/.complete" ]]; then echo "$LIBS"; exit 0; fi
mkdir -p "$ROOT"
cat > "$ROOT/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>kwire.ci</groupId><artifactId>kafka-streams-app</artifactId><version>1</version><packaging>pom</packaging>
 <dependencies>
  <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-streams</artifactId><version>$V</version></dependency>
  <!-- kafka-streams logs through slf4j and brings no binding: without one it logs nothing -->
  <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J</version></dependency>
  <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J</version></dependency>
 </dependencies></project>
POM
rm -rf "$LIBS"
mvn -B -q -f "$ROOT/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
touch "$ROOT/.complete"
echo "$LIBS"
