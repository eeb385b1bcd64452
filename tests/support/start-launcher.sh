#!/usr/bin/env bash
# Start a real single-node search engine on 127.0.0.1:PORT in the background, from one of the
# launcher projects beside this script: opensearch-launcher (OpenSearch 2.19) or
# elasticsearch-launcher (Elasticsearch 7.17).
# Usage: start-launcher.sh LAUNCHER PORT WORKDIR      e.g. start-launcher.sh opensearch 9200 /tmp/os
#   Logs:  WORKDIR/LAUNCHER.log      PID: WORKDIR/LAUNCHER.pid
#   Stop:  kill "$(cat WORKDIR/LAUNCHER.pid)"   (SIGTERM closes the node cleanly)
# Env: OS_START_TIMEOUT (seconds, default 120), OS_HEAP (default 512m), JAVA (default: java).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 opensearch|elasticsearch PORT WORKDIR" >&2
  exit 2
fi
NAME=$1
PORT=$2
WORKDIR=$3
TIMEOUT=${OS_START_TIMEOUT:-120}
HEAP=${OS_HEAP:-512m}
JAVA=${JAVA:-java}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/$NAME-launcher" && pwd)

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
LOG="$WORKDIR/$NAME.log"
PIDFILE="$WORKDIR/$NAME.pid"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "$NAME-launcher: already running with pid $(cat "$PIDFILE") (from $PIDFILE)" >&2
  exit 1
fi

# Build once (and again whenever pom.xml or the sources change).
STAMP="$HERE/target/.built"
if [ ! -f "$STAMP" ] || [ -n "$(find "$HERE/pom.xml" "$HERE/src" -newer "$STAMP" -print -quit)" ]; then
  echo "$NAME-launcher: building with mvn (first time downloads ~70 MB from Maven Central)..." >&2
  if ! (cd "$HERE" && mvn -q -B -DskipTests package >"$WORKDIR/$NAME-build.log" 2>&1); then
    echo "$NAME-launcher: mvn build failed; tail of $WORKDIR/$NAME-build.log:" >&2
    tail -n 40 "$WORKDIR/$NAME-build.log" >&2
    exit 1
  fi
  touch "$STAMP"
fi

: >"$LOG"
mkdir -p "$WORKDIR/tmp"
# JVM flags mirror what the OpenSearch 2.x / Elasticsearch 7 distributions pass (minus GC logs / heap dumps).
"$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC \
  -Djava.io.tmpdir="$WORKDIR/tmp" -Dfile.encoding=UTF-8 -Djava.awt.headless=true \
  -Djava.locale.providers=SPI,COMPAT -Djna.nosys=true \
  -Dlog4j2.formatMsgNoLookups=true -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false \
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true \
  -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0 \
  -cp "$HERE/target/classes:$HERE/target/lib/*" \
  dev.spillway.testsupport.Launcher "$PORT" "$WORKDIR" --no-stdin \
  </dev/null >>"$LOG" 2>&1 &
PID=$!
echo "$PID" >"$PIDFILE"

start=$(date +%s)
while :; do
  if grep -q "^[A-Z]* READY http" "$LOG" 2>/dev/null; then
    grep -m1 "^[A-Z]* READY http" "$LOG"
    exit 0
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "$NAME-launcher: node process $PID exited before becoming ready; tail of $LOG:" >&2
    tail -n 60 "$LOG" >&2
    rm -f "$PIDFILE"
    exit 1
  fi
  if [ $(( $(date +%s) - start )) -ge "$TIMEOUT" ]; then
    echo "$NAME-launcher: not ready after ${TIMEOUT}s; stopping pid $PID; tail of $LOG:" >&2
    tail -n 60 "$LOG" >&2
    kill "$PID" 2>/dev/null || true
    sleep 5
    kill -9 "$PID" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
  fi
  sleep 0.2
done
