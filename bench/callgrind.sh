#!/usr/bin/env bash
# Instructions per write, counted by valgrind's callgrind: a figure that does not drift with the
# load of a shared machine (the same binary and inputs give the same count to within a fraction
# of a percent), so a change to the write path can be judged on a busy machine too.
#
#   bench/callgrind.sh [--civitas PATH] [--loadgen PATH] [--runs N] [--keep DIR]
#
# For each run it starts Civitas under callgrind (fsync on, 2 I/O threads, a fresh data
# directory on a free port), then measures two workloads with the counters zeroed before and
# dumped after each:
#   patch  5,000 single-attribute PATCH /entities/{id}/attrs over 2,000 entities, 16 connections
#   batch  20 POST /entityOperations/upsert?options=update of 1,000 entities x 3 attributes
# and prints instructions per PATCH and per attribute update (whole process: HTTP, parsing, the
# commit thread, RocksDB, history). --keep DIR copies the counter files there (patch.N, batch.N)
# for callgrind_annotate. Needs valgrind (apt-get install valgrind) and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
civitas=$ROOT/build/release/src/server/civitas
loadgen=$ROOT/build/release/bench/civitas_loadgen
runs=1
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --civitas) civitas=$2; shift ;;
    --loadgen) loadgen=$2; shift ;;
    --runs) runs=$2; shift ;;
    --keep) keep=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind" >&2; exit 1; }
[ -x "$civitas" ] && [ -x "$loadgen" ] || { echo "callgrind.sh: build the release preset first" >&2; exit 1; }

work=$(mktemp -d /tmp/civitas-callgrind.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work/batch.json" <<'EOF'
import sys
ents = []
for k in range(1000):
    ents.append('{"id":"urn:ngsi-ld:AirQualityObserved:{i}-%d","type":"AirQualityObserved",'
                '"NO2":{"type":"Property","value":{rand},"observedAt":"2026-12-01T10:00:00Z"},'
                '"PM10":{"type":"Property","value":{rand}},'
                '"temperature":{"type":"Property","value":{rand}}}' % k)
open(sys.argv[1], "w").write("[" + ",".join(ents) + "]")
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'; }

# Runs one workload between a zero and a dump of the counters; prints the instructions.
measure() {  # name loadgen-args...
  local name=$1; shift
  callgrind_control -z "$pid" >/dev/null 2>&1
  "$loadgen" -q --strict -t 1 --timeout 120000 --max-time 900 --json "$work/$name.json" "$@" \
    >/dev/null || { echo "callgrind.sh: $name failed: $(cat "$work/$name.json")" >&2; exit 1; }
  callgrind_control --dump="$name" "$pid" >/dev/null 2>&1
  local f
  f=$(grep -la "^desc: Trigger: .*$name" "$work"/cg.out.* | head -n 1)
  [ -n "$keep" ] && mkdir -p "$keep" && cp "$f" "$keep/$name.$run"
  total "$f"
}

for run in $(seq "$runs"); do
  port=$(free_port)
  rm -rf "$work/data" "$work"/cg.out*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$civitas" serve \
    --bind 127.0.0.1 --port "$port" --data "$work/data" --threads 2 --web off --fsync on \
    --max-body 8000000 2>"$work/civitas.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  curl -sf "127.0.0.1:$port/health" >/dev/null || { echo "callgrind.sh: civitas did not start" >&2; exit 1; }
  base="http://127.0.0.1:$port/ngsi-ld/v1"
  body='{"id":"urn:ngsi-ld:Bench:{i}","type":"Bench","v":{"type":"Property","value":0},'
  body+='"name":{"type":"Property","value":"sensor {i}"},'
  body+='"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[10.2,56.1]}}}'
  "$loadgen" -q --strict -c 16 -t 1 -n 2000 --range 2000 --timeout 120000 --max-time 900 \
    -m POST -H 'Content-Type: application/json' -b "$body" --json "$work/load.json" \
    "$base/entities" >/dev/null
  "$loadgen" -q --strict -c 2 -t 1 -n 10 --range 10 --timeout 120000 --max-time 900 \
    -m POST -H 'Content-Type: application/json' --body-file "$work/batch.json" \
    --json "$work/load2.json" "$base/entityOperations/upsert" >/dev/null
  patch=$(measure patch -c 16 -n 5000 --range 2000 --random --seed 1 -m PATCH \
    -H 'Content-Type: application/json' -b '{"v":{"type":"Property","value":{rand}}}' \
    "$base/entities/urn:ngsi-ld:Bench:{i}/attrs")
  batch=$(measure batch -c 2 -n 20 --range 10 -m POST -H 'Content-Type: application/json' \
    --body-file "$work/batch.json" "$base/entityOperations/upsert?options=update")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "run $run: $((patch / 5000)) instructions per PATCH, $((batch / 60000)) instructions per attribute update in batch upserts"
done
