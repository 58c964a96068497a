#!/usr/bin/env bash
# Notification benchmarks (issue 6), each round on a fresh Civitas (fsync on) on 127.0.0.1:
#   latency   one subscription, updates at 10,000/s (batch upserts of 50): write ack -> arrival
#   writes-0  updates as fast as 4 connections go, no subscription
#   writes-1k the same with 1,000 subscriptions matching every update
#   fanout    1,000 subscriptions, updates at 200/s: notified entities per second
# Prints a markdown table of medians (min-max) over --runs rounds and writes
# bench/results/notify-<timestamp>.json.
#
#   bench/notify.sh [--runs 3] [--duration 10] [--no-build] [--out DIR]
# CIVITAS and NOTIFY_BENCH in the environment name the binaries (default: build/release's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The system python first (a version manager's shim in PATH can cost seconds per start).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
runs=3 duration=10 build=1 out=$ROOT/bench/results
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --no-build) build=0 ;;
    --out) out=$2; shift ;;
    *) echo "notify.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ $build -eq 1 ]; then
  "$ROOT/scripts/install-deps.sh"
  cmake --preset release >/dev/null
  cmake --build --preset release --target civitas civitas_notify_bench >/dev/null
fi
CIVITAS=${CIVITAS:-$ROOT/build/release/src/server/civitas}
BENCH=${NOTIFY_BENCH:-$ROOT/build/release/bench/civitas_notify_bench}
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_one() {  # name args...
  local name=$1; shift
  local port; port=$(free_port)
  rm -rf "$tmp/data"
  timeout 600 "$CIVITAS" serve --port "$port" --bind 127.0.0.1 --data "$tmp/data" \
    --log-level warn >"$tmp/civitas.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local result
  result=$(timeout 300 "$BENCH" --url "http://127.0.0.1:$port" --duration "$duration" "$@") ||
    echo "notify.sh: WARNING: $name did not receive everything: $result" >&2
  echo "{\"scenario\":\"$name\",\"result\":$result}" >>"$tmp/results.jsonl"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

for round in $(seq "$runs"); do
  echo "notify.sh: round $round/$runs" >&2
  run_one latency --mode latency --subs 1 --rate 10000 --batch 50 --threads 4
  run_one writes-0 --mode writes --subs 0 --batch 50 --threads 4
  run_one writes-1k --mode writes --subs 1000 --batch 50 --threads 4
  run_one fanout --mode fanout --subs 1000 --rate 200 --batch 50 --threads 2
done

mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cp "$tmp/results.jsonl" "$out/notify-$stamp.jsonl"
"$PY" - "$tmp/results.jsonl" "$(nproc)" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def col(name, key):
    v = [r["result"].get(key) for r in rows if r["scenario"] == name and key in r["result"]]
    if not v: return "n/a"
    return f"{statistics.median(v):,.2f} ({min(v):,.2f}-{max(v):,.2f})"
print(f"| figure | median (min-max), {sum(1 for r in rows if r['scenario']=='latency')} rounds, {sys.argv[2]} cores |")
print("|---|---|")
print(f"| latency p50 ms (1 sub, 10k updates/s) | {col('latency','latency_p50_ms')} |")
print(f"| latency p99 ms | {col('latency','latency_p99_ms')} |")
print(f"| updates/s achieved in the latency run | {col('latency','updates_per_s')} |")
print(f"| write throughput, no subscription (updates/s) | {col('writes-0','updates_per_s')} |")
print(f"| write throughput, 1,000 subscriptions (updates/s) | {col('writes-1k','updates_per_s')} |")
print(f"| fan-out: notified entities/s (1,000 subs) | {col('fanout','notified_entities_per_s')} |")
print(f"| fan-out: notification POSTs/s | {col('fanout','notification_posts_per_s')} |")
PY
