#!/usr/bin/env bash
# The foundation benchmark behind BENCHMARKS.md. A benchmark, not a test: it measures and prints,
# it asserts nothing (the goals are compared by whoever reads the figures).
#
#   1. builds the release binary (skip with --no-build);
#   2. cold start to ready: starts `stadtkern demo` on a fresh data directory (migrations and
#      demo seeding included) and on the existing one, RUNS times each, and times from the
#      start of the process until /readyz answers 200;
#   3. resident memory at idle (VmRSS, VmHWM from /proc/PID/status) after IDLE_SECS;
#   4. load: `stadtkern bench http` against the front page `/` with CONCURRENCY clients for
#      DURATION after WARMUP, sampling VmRSS every half second meanwhile; VmHWM afterwards.
#
# Everything runs on loopback (127.0.0.1) of this machine; the load generator shares the CPU
# with the server, as it would on a one-machine installation.
#
# Usage: scripts/bench-foundation.sh [--no-build] [--out FILE]
#   environment: CONCURRENCY (200), DURATION (20s), WARMUP (3s), RUNS (3), IDLE_SECS (5),
#                STADTKERN_BIN (default target/release/stadtkern)
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY=${CONCURRENCY:-200}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-3}
IDLE_SECS=${IDLE_SECS:-5}
BUILD=1
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --out) OUT="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $BUILD -eq 1 ]]; then
  cargo build --release --locked -p stadtkern
fi
BIN=${STADTKERN_BIN:-$PWD/target/release/stadtkern}
[[ -x "$BIN" ]] || { echo "no $BIN: build it (cargo build --release -p stadtkern)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/stadtkern-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

now_ns() { date +%s%N; }

# start_server DATA_DIR PORT: starts the demo in the background (SERVER_PID), returns at once.
start_server() {
  "$BIN" demo --data-dir "$1" --listen "127.0.0.1:$2" >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
}

# wait_ready PORT: polls /readyz until 200 (30 s at most).
wait_ready() {
  local deadline=$(( $(date +%s) + 30 ))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null)" == "200" ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited before it was ready:" >&2; cat "$WORK/server.out" "$WORK/server.err" >&2; exit 1
    fi
    if [[ $(date +%s) -gt $deadline ]]; then echo "server not ready within 30 s" >&2; exit 1; fi
    sleep 0.005
  done
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# mem PID FIELD: the field (VmRSS, VmHWM) in MiB.
mem() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# cold_start DATA_DIR: sets COLD_MS to the ms from process start to /readyz 200. (Not run in a
# $(...) subshell, so the EXIT trap still stops the server if anything fails.)
cold_start() {
  local port t0 t1
  port=$(free_port)
  t0=$(now_ns)
  start_server "$1" "$port"
  wait_ready "$port"
  t1=$(now_ns)
  stop_server
  COLD_MS=$(( (t1 - t0) / 1000000 ))
}

echo "== cold start to ready ($RUNS runs each)"
fresh=()
existing=()
for i in $(seq 1 "$RUNS"); do
  cold_start "$WORK/fresh-$i"
  fresh+=("$COLD_MS")
done
for i in $(seq 1 "$RUNS"); do
  cold_start "$WORK/fresh-1"
  existing+=("$COLD_MS")
done
fresh_median=$(printf '%s\n' "${fresh[@]}" | median)
existing_median=$(printf '%s\n' "${existing[@]}" | median)
echo "fresh data dir:    ${fresh[*]} ms (median $fresh_median ms)"
echo "existing data dir: ${existing[*]} ms (median $existing_median ms)"

echo "== memory at idle and under load"
PORT=$(free_port)
start_server "$WORK/fresh-1" "$PORT"
wait_ready "$PORT"
curl -s -o /dev/null "http://127.0.0.1:$PORT/"
sleep "$IDLE_SECS"
idle_rss=$(mem "$SERVER_PID" VmRSS)
idle_hwm=$(mem "$SERVER_PID" VmHWM)
echo "idle: VmRSS $idle_rss MiB, VmHWM $idle_hwm MiB"

"$BIN" bench http --url "http://127.0.0.1:$PORT/" --concurrency "$CONCURRENCY" \
  --duration "$DURATION" --warmup "$WARMUP" --json >"$WORK/bench.json" 2>"$WORK/bench.err" &
BENCH_PID=$!
max_rss=0
while kill -0 "$BENCH_PID" 2>/dev/null; do
  r=$(mem "$SERVER_PID" VmRSS)
  max_rss=$(awk -v a="$max_rss" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
  sleep 0.5
done
wait "$BENCH_PID" || { cat "$WORK/bench.err" >&2; exit 1; }
load_hwm=$(mem "$SERVER_PID" VmHWM)
after_rss=$(mem "$SERVER_PID" VmRSS)
stop_server

summary=$(python3 - "$WORK/bench.json" <<PY
import json, sys
b = json.load(open(sys.argv[1]))
print(f"front page /: {b['concurrency']} clients, {b['duration_s']:.1f} s after {b['warmup_s']:.0f} s warm-up")
print(f"  requests {b['requests']}, {b['requests_per_s']:.0f} requests/s, errors {b['errors']}")
print(f"  latency p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, max {b['max_ms']:.1f} ms")
PY
)
echo "$summary"
echo "under load: VmRSS max $max_rss MiB (sampled every 0.5 s), VmHWM $load_hwm MiB; after load VmRSS $after_rss MiB"

machine="$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2)"
report=$(cat <<EOF
date: $(date -u +%Y-%m-%dT%H:%MZ)
machine: $machine
commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')
command: scripts/bench-foundation.sh (CONCURRENCY=$CONCURRENCY DURATION=$DURATION WARMUP=$WARMUP RUNS=$RUNS IDLE_SECS=$IDLE_SECS)
cold start to ready, fresh data dir: ${fresh[*]} ms (median $fresh_median ms)
cold start to ready, existing data dir: ${existing[*]} ms (median $existing_median ms)
idle: VmRSS $idle_rss MiB, VmHWM $idle_hwm MiB
$summary
under load: VmRSS max $max_rss MiB, VmHWM $load_hwm MiB; after load VmRSS $after_rss MiB
raw: $(cat "$WORK/bench.json")
EOF
)
echo "== report"
echo "$report"
if [[ -n "$OUT" ]]; then
  echo "$report" >"$OUT"
  echo "written to $OUT"
fi
