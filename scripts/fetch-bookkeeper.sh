#!/usr/bin/env bash
# Download Apache BookKeeper's server jars (bookie + ledger client + the
# ZooKeeper server they bundle) from Maven Central into one folder, so tests
# can run real ZooKeeper and bookie JVMs with the machine's Java 17.
# Idempotent: a finished folder is kept (marked by .complete), so a cached run
# takes milliseconds.
#
# usage: scripts/fetch-bookkeeper.sh [VERSION]   (default 4.17.3, or $BOOKKEEPER_VERSION)
# prints the lib folder on stdout; Maven's chatter goes to stderr.
#
# Why the pom looks like this (see /work/shared/bookkeeper.md §5.0):
#  * rocksdbjni (58 MB) is only for DbLedgerStorage; our bookies use
#    SortedLedgerStorage. netty-tcnative-boringssl-static is only for TLS.
#  * ZooKeeper 3.9 declares metrics-core and snappy-java `provided`; without them
#    the ZooKeeper *server* thread dies while the JVM keeps its port open.
set -euo pipefail
V="${1:-${BOOKKEEPER_VERSION:-4.17.3}}"
ROOT="${KWIRE_CACHE:-$HOME/.cache/kwire}/bookkeeper-$V"
LIB="$ROOT/lib"
if [[ -f "$ROOT/.complete" ]]; then echo "$LIB"; exit 0; fi
command -v mvn >/dev/null || { echo "mvn not found (Debian: apt-get install maven)" >&2; exit 1; }
mkdir -p "$ROOT"
rm -rf "$LIB"  # a half-finished earlier run
cat > "$ROOT/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>kwire.ci</groupId><artifactId>bookkeeper-lib</artifactId><version>1</version><packaging>pom</packaging>
 <dependencies>
  <dependency><groupId>org.apache.bookkeeper</groupId><artifactId>bookkeeper-server</artifactId><version>$V</version>
   <exclusions>
    <exclusion><groupId>org.rocksdb</groupId><artifactId>rocksdbjni</artifactId></exclusion>
    <exclusion><groupId>io.netty</groupId><artifactId>netty-tcnative-boringssl-static</artifactId></exclusion>
   </exclusions>
  </dependency>
  <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId><version>4.1.12.1</version></dependency>
  <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId><version>1.1.10.5</version></dependency>
 </dependencies></project>
POM
mvn -B -q -f "$ROOT/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime >&2
if ! compgen -G "$LIB/bookkeeper-server-*.jar" >/dev/null; then
    echo "fetch-bookkeeper: $LIB holds no bookkeeper-server jar after mvn" >&2
    exit 1
fi
touch "$ROOT/.complete"
echo "$LIB"
