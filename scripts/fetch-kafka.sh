#!/usr/bin/env bash
# Download Apache Kafka's jars (broker + command-line tools) from Maven Central
# into one folder, so tests and benchmarks can run Kafka's own tools and a real
# Kafka broker with the machine's Java 17. Idempotent: a finished folder is kept.
#
# usage: scripts/fetch-kafka.sh [VERSION]   (default 4.4.0)
# prints the libs folder on stdout.
set -euo pipefail
V="${1:-${KAFKA_VERSION:-4.4.0}}"
LOG4J=2.25.3  # the log4j-core version kafka 4.4.0 depends on (4.1.2 too)
ROOT="${KWIRE_CACHE:-$HOME/.cache/kwire}/kafka-$V"
LIBS="$ROOT/libs"
if [[ -f "$ROOT/.complete" ]]; then echo "$LIBS"; exit 0; fi
mkdir -p "$ROOT"
cat > "$ROOT/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>kwire.ci</groupId><artifactId>kafka-cli</artifactId><version>1</version><packaging>pom</packaging>
 <dependencies>
  <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$V</version></dependency>
  <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$V</version></dependency>
  <!-- the jars bring log4j-core but no slf4j binding; without one the tools log nothing -->
  <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J</version></dependency>
 </dependencies></project>
POM
mvn -B -q -f "$ROOT/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
touch "$ROOT/.complete"
echo "$LIBS"
