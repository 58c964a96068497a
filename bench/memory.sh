#!/usr/bin/env bash
# Resident memory per entity (issue 3's goal: at most 1 KiB at 1,000,000 entities), without the
# peers of bench/run.sh, so that a change to the in-memory layout can be judged on its own.
#
#   bench/memory.sh [--sensors N] [--civitas PATH] [--city DIR]
#
# Generates the synthetic city of bench/run.sh (civitas_city_gen, N sensors of three types with
# three attributes and a location each, no history; kept in --city DIR when given, reused when
# it is already there), starts Civitas on a free port with a fresh data directory (fsync on),
# loads the city with batch upserts of 1,000 entities over 8 connections, and prints the RSS at
# start, after the load, and the growth per entity. Memory does not drift with the load of a
# shared machine the way times do (a few percent between runs). Default N: 100,000 (about
# 30 s); the issue's size, --sensors 1000000, takes about 2 minutes and 6 GiB.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
civitas=$ROOT/build/release/src/server/civitas
bin=$ROOT/build/release/bench
sensors=100000
city=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sensors) sensors=$2; shift ;;
    --civitas) civitas=$2; shift ;;
    --city) city=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "memory.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$civitas" ] && [ -x "$bin/civitas_loadgen" ] && [ -x "$bin/civitas_city_gen" ] ||
  { echo "memory.sh: build the release preset first" >&2; exit 1; }

work=$(mktemp -d /tmp/civitas-memory.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

[ -n "$city" ] || city=$work/city
if [ ! -s "$city/civitas/entities.bodies" ]; then
  "$bin/civitas_city_gen" --out "$city" --sensors "$sensors" --hours 0 >/dev/null
fi
batches=$(tr -cd '\036' <"$city/civitas/entities.bodies" | wc -c)
entities=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sensors"])' \
  "$city/city.json" 2>/dev/null || echo "$sensors")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$civitas" serve --bind 127.0.0.1 --port "$port" --data "$work/data" --web off --fsync on \
  --log-level warn 2>"$work/civitas.log" &
pid=$!
for _ in $(seq 300); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -sf "127.0.0.1:$port/health" >/dev/null || { echo "memory.sh: civitas did not start" >&2; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
"$bin/civitas_loadgen" -q --strict -m POST -H 'Content-Type: application/json' \
  --bodies "$city/civitas/entities.bodies" -n "$batches" -c 8 -t 2 --timeout 120000 \
  --max-time 3600 --json "$work/load.json" \
  "http://127.0.0.1:$port/ngsi-ld/v1/entityOperations/upsert" >/dev/null ||
  { echo "memory.sh: loading failed: $(cat "$work/load.json")" >&2; exit 1; }
sleep 1
after=$(rss)
echo "entities $entities: RSS ${before} kB at start, ${after} kB after the load," \
  "$(( (after - before) * 1024 / entities )) B per entity ($civitas)"
