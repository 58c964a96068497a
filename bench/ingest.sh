#!/usr/bin/env bash
# Device ingestion benchmark: measures per second from publishers into durable state.
#
#   bench/ingest.sh [--messages N] [--rounds K] [--publishers P] [--devices D] [--http-seconds S]
#
# Starts a mosquitto (its own config in a temp dir, max_inflight_messages 1000 so the broker
# does not throttle a consumer that acknowledges after fsync) and Civitas (fsync on, --mqtt) on
# free loopback ports, provisions one service group and D devices, then runs K rounds, each:
#   - mosquitto alone: P publishers send N QoS 1 messages, a plain subscriber counts them;
#   - Civitas over MQTT: the same through Civitas, counted when durable (/metrics);
#   - Civitas over HTTP: civitas_loadgen POSTs /iot/json for S seconds, 64 connections;
# then one run at half Civitas' median MQTT rate that samples the publish-to-queryable lag.
# Prints one JSON line per run and the medians. Everything started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
messages=50000 rounds=3 publishers=4 devices=100 http_seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --publishers) publishers=$2; shift ;;
    --devices) devices=$2; shift ;;
    --http-seconds) http_seconds=$2; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "ingest.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

civitas=$BUILD/src/server/civitas
bench=$BUILD/bench/civitas_mqtt_bench
loadgen=$BUILD/bench/civitas_loadgen
for b in "$civitas" "$bench" "$loadgen" /usr/sbin/mosquitto; do
  [ -x "$b" ] || { echo "ingest.sh: missing $b (build the release preset; apt-get install mosquitto)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/civitas-ingest-bench.XXXXXX)
mosquitto_pid="" civitas_pid=""
cleanup() {
  [ -n "$civitas_pid" ] && kill "$civitas_pid" 2>/dev/null && wait "$civitas_pid" 2>/dev/null || true
  [ -n "$mosquitto_pid" ] && kill "$mosquitto_pid" 2>/dev/null && wait "$mosquitto_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
http_port=$(free_port)

cat > "$tmp/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 1000000
CONF
/usr/sbin/mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 &
mosquitto_pid=$!
"$civitas" serve --bind 127.0.0.1 --port "$http_port" --data "$tmp/data" --threads 2 \
  --mqtt "mqtt://127.0.0.1:$mqtt_port" --mqtt-client-id civitas-bench > "$tmp/civitas.log" 2>&1 &
civitas_pid=$!
# (The metrics are read into a variable first: with pipefail, `curl | grep -q` fails whenever
# grep stops reading before curl has written everything.)
subscribed() {
  local metrics
  metrics=$(curl -sf "http://127.0.0.1:$http_port/metrics" 2>/dev/null) || return 1
  [[ $metrics == *$'\n'"civitas_mqtt_subscribed 1"* ]]
}
for _ in $(seq 150); do
  subscribed && break
  sleep 0.1
done
subscribed || { echo "ingest.sh: Civitas did not subscribe" >&2; cat "$tmp/civitas.log" >&2; exit 1; }

curl -sf -X POST "http://127.0.0.1:$http_port/iot/services" -H 'fiware-service: bench' \
  -H 'Content-Type: application/json' \
  -d '{"services": [{"apikey": "bench", "entity_type": "AirQualityObserved",
       "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]}]}'
python3 -c "import json,sys; print(json.dumps({'devices': [{'device_id': 'd%d' % i} for i in range($devices)]}))" \
  > "$tmp/devices.json"
curl -sf -X POST "http://127.0.0.1:$http_port/iot/devices" -H 'fiware-service: bench' \
  -H 'Content-Type: application/json' --data-binary "@$tmp/devices.json"

# The lag probe: its own group and device in the default tenant (read back without headers).
curl -sf -X POST "http://127.0.0.1:$http_port/iot/services" -H 'Content-Type: application/json' \
  -d '{"services": [{"apikey": "probe", "entity_type": "Probe"}]}'
curl -sf -X POST "http://127.0.0.1:$http_port/iot/devices" -H 'Content-Type: application/json' \
  -d '{"devices": [{"device_id": "probe"}]}'

results=$tmp/results.jsonl
for round in $(seq "$rounds"); do
  "$bench" --port "$mqtt_port" --messages "$messages" --publishers "$publishers" \
    --devices "$devices" --prefix bench --subscribe | tee -a "$results"
  "$bench" --port "$mqtt_port" --messages "$messages" --publishers "$publishers" \
    --devices "$devices" --prefix /json --metrics "http://127.0.0.1:$http_port/metrics" |
    tee -a "$results"
  "$loadgen" -q --strict -c 64 -t 2 -d "$http_seconds" -m POST -H 'Content-Type: application/json' \
    -b '{"t": {rand}, "no2": 38}' --range "$devices" --rand-max 40 \
    "http://127.0.0.1:$http_port/iot/json?k=bench&i=d{i}" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"mode": "http", "requests_per_second": r["throughput_rps"], "p99_ms": r["latency_ms"]["p99"], "status_codes": r["status_codes"]}))' |
    tee -a "$results"
done

# Publish-to-queryable lag at half the median rate Civitas reached, for about 5 seconds.
half=$(python3 -c "import json,statistics,sys; v=[json.loads(l)['messages_per_second'] for l in open('$results') if '\"civitas\"' in l]; print(int(statistics.median(v)/2))")
"$bench" --port "$mqtt_port" --messages $((half * 5 > publishers ? half * 5 : publishers)) \
  --publishers "$publishers" --devices "$devices" --prefix /json --rate "$half" \
  --probe "http://127.0.0.1:$http_port" --metrics "http://127.0.0.1:$http_port/metrics" |
  tee -a "$results"

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(mode, key):
    v = [r[key] for r in runs if r.get("mode") == mode and r.get(key) is not None]
    return statistics.median(v) if v else None
alone = med("subscriber", "messages_per_second")
mqtt = med("civitas", "messages_per_second")
http = med("http", "requests_per_second")
lag = [r for r in runs if r.get("mode") == "civitas-lag"]
print(json.dumps({"mosquitto_alone_msgs_per_s": alone, "civitas_mqtt_msgs_per_s": mqtt,
                  "lag_rate": lag[-1]["rate"] if lag else None,
                  "lag_p50_ms": lag[-1]["lag_p50_ms"] if lag else None,
                  "lag_p99_ms": lag[-1]["lag_p99_ms"] if lag else None,
                  "civitas_mqtt_vs_mosquitto": round(mqtt / alone, 2) if alone and mqtt else None,
                  "civitas_http_measures_per_s": http}))
PY
