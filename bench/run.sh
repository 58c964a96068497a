#!/usr/bin/env bash
# The benchmark harness (issue 7): Civitas and its peers side by side on the same synthetic city.
#
# Generates the city (bench/city_gen.cc: sensors of three types over the Aarhus districts, their
# history every simulated minute), starts Civitas (durable writes: fsync on) and each peer on
# 127.0.0.1 with free ports and fresh data directories: nginx (the HTTP ceiling), PostgreSQL 15 +
# PostGIS 3 (JSONB entity table with GIN, geometry with GiST, a narrow history table with a btree
# on entity, attribute, time: the storage Scorpio uses), InfluxDB 1.6 (history ingest and
# GROUP BY time); loads the same data into each; runs every scenario on every server that has it,
# several rounds (the rounds interleave scenarios and servers, so that drift on a shared machine
# hits all of them alike); runs the notification benchmark (bench/notify.sh); stops everything
# and writes bench/results/<timestamp>.md and .json: medians, min-max spreads, ratios
# Civitas/peer, peak memory, CPU time and data directory size of each server.
#
#   bench/run.sh [options] [scenario...]
#     scenarios: nginx get patch create batch-upsert query-q query-q2 geo-near geo-within
#                temporal-ingest temporal-agg-one temporal-agg-all notification mqtt-ingest
#                (default: all)
#
#   --smoke               tiny sizes, short runs, no package installation (ctest runs this)
#   --sensors N           sensors of the synthetic city (default 10000; smoke 30)
#   --hours H             simulated hours of history (default 1; smoke 0.1)
#   --seed S              the city's seed (default 42)
#   --entities N          extra "Bench" entities for get/patch (default 10000; smoke 100)
#   --runs K              rounds (default 3; smoke 1)
#   --duration SEC        measured seconds per run (default 2; smoke 0.5)
#   --warmup SEC          unmeasured seconds before each run (default 1; smoke 0)
#   --connections N       keep-alive connections of get/patch/create/nginx (default 64)
#   --query-connections N connections of the query, geo and upsert scenarios (default 8)
#   --pipeline N          requests in flight per connection (default 1)
#   --loadgen-threads N   load generator I/O threads (default 2)
#   --civitas-threads N   Civitas I/O threads (default 2, like nginx's worker_processes 2)
#   --no-peers            measure Civitas (and nginx) only
#   --no-install          do not install missing Debian packages
#   --no-build            do not build; use the binaries of build/release (or the ones given)
#   --civitas PATH, --loadgen PATH, --city-gen PATH, --notify-bench PATH   binaries to use
#   --out DIR             where the results go (default bench/results; smoke: /tmp/civitas-bench-smoke)
#
# A peer that is not installed is reported as such ("postgres: not installed"), and its rows are
# absent; a scenario whose Civitas feature answers 501 is reported "not available". Every wait is
# bounded; on any exit the servers are stopped by pid and the temp dir removed.
# CIVITAS_BENCH_NGINX / CIVITAS_BENCH_POSTGRES (the bin directory) / CIVITAS_BENCH_INFLUXD
# override where the peers are found ("none": act as if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/bench/bench_tools.py
ALL_SCENARIOS=(nginx get patch create batch-upsert query-q query-q2 geo-near geo-within
  temporal-ingest temporal-agg-one temporal-agg-all notification mqtt-ingest)
NOT_AVAILABLE=()  # filled at run time: Civitas answered 501 to the scenario's probe

smoke=0 install=1 build=1 peers=1
entities="" runs="" duration="" warmup="" sensors="" hours="" seed=42
# Two threads each: nginx runs 2 workers, Civitas's default is one I/O thread per core, and on
# this 2-core machine -t 2 / --threads 2 gave both servers their highest figures with the same
# ratios (BENCHMARKS.md, "Choosing the setup").
connections=64 query_connections=8 pipeline=1 loadgen_threads=2 civitas_threads=2
civitas_bin="" loadgen_bin="" citygen_bin="" notify_bin="" out_dir=""
scenarios=()
command_line="bench/run.sh${*:+ $*}"

die() { echo "run.sh: $*" >&2; exit 1; }
need_value() { [ $# -ge 2 ] || die "$1: missing value"; }
is_count() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "${2:-1}" ]; }
is_seconds() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --no-install) install=0 ;;
    --no-build) build=0 ;;
    --no-peers) peers=0 ;;
    --sensors) need_value "$@"; sensors=$2; shift ;;
    --hours) need_value "$@"; hours=$2; shift ;;
    --seed) need_value "$@"; seed=$2; shift ;;
    --entities) need_value "$@"; entities=$2; shift ;;
    --runs) need_value "$@"; runs=$2; shift ;;
    --duration) need_value "$@"; duration=$2; shift ;;
    --warmup) need_value "$@"; warmup=$2; shift ;;
    --connections) need_value "$@"; connections=$2; shift ;;
    --query-connections) need_value "$@"; query_connections=$2; shift ;;
    --pipeline) need_value "$@"; pipeline=$2; shift ;;
    --loadgen-threads) need_value "$@"; loadgen_threads=$2; shift ;;
    --civitas-threads) need_value "$@"; civitas_threads=$2; shift ;;
    --civitas) need_value "$@"; civitas_bin=$2; shift ;;
    --loadgen) need_value "$@"; loadgen_bin=$2; shift ;;
    --city-gen) need_value "$@"; citygen_bin=$2; shift ;;
    --notify-bench) need_value "$@"; notify_bin=$2; shift ;;
    --out) need_value "$@"; out_dir=$2; shift ;;
    -h|--help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *)
      known=0
      for s in "${ALL_SCENARIOS[@]}"; do [ "$s" = "$1" ] && known=1; done
      [ $known -ne 0 ] || die "unknown scenario $1 (known: ${ALL_SCENARIOS[*]})"
      scenarios+=("$1") ;;
  esac
  shift
done

if [ $smoke -eq 1 ]; then
  install=0
  : "${entities:=100}" "${runs:=1}" "${duration:=0.5}" "${warmup:=0}" "${sensors:=30}"
  : "${hours:=0.1}"
else
  # Sized so that the whole default run stays under 15 minutes on a loaded 2-core machine: the
  # history ingest (10,000 sensors x 3 attributes x 60 per hour, every server) is its largest
  # part (BENCHMARKS.md, "How long it takes").
  : "${entities:=10000}" "${runs:=3}" "${duration:=2}" "${warmup:=1}" "${sensors:=10000}"
  : "${hours:=1}"
fi
is_count "$entities" && is_count "$runs" && is_count "$connections" && is_count "$pipeline" &&
  is_count "$loadgen_threads" && is_count "$civitas_threads" && is_count "$sensors" 3 &&
  is_count "$query_connections" && is_count "$seed" 0 ||
  die "counts must be positive integers (--sensors at least 3)"
is_seconds "$duration" && is_seconds "$warmup" && is_seconds "$hours" ||
  die "durations must be seconds (--hours: hours)"
[ "$runs" -le 100 ] || die "--runs: at most 100"
[ "$sensors" -le 10000000 ] || die "--sensors: at most 10000000"
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL_SCENARIOS[@]}")
[ -n "$civitas_bin" ] && [ -n "$loadgen_bin" ] && build=0
: "${civitas_bin:=$ROOT/build/release/src/server/civitas}"
: "${loadgen_bin:=$ROOT/build/release/bench/civitas_loadgen}"
: "${citygen_bin:=$(dirname "$loadgen_bin")/civitas_city_gen}"
: "${notify_bin:=$(dirname "$loadgen_bin")/civitas_notify_bench}"
mqtt_bench_bin=$(dirname "$loadgen_bin")/civitas_mqtt_bench

log() { echo "run.sh [${SECONDS}s]: $*" >&2; }
want() { local s; for s in "${scenarios[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
want_any() { local s; for s in "$@"; do want "$s" && return 0; done; return 1; }

# --- packages -------------------------------------------------------------------------------
find_nginx() {  # CIVITAS_BENCH_NGINX overrides the binary ("none": act as if missing)
  if [ -n "${CIVITAS_BENCH_NGINX:-}" ]; then
    [ "$CIVITAS_BENCH_NGINX" = none ] || echo "$CIVITAS_BENCH_NGINX"
    return 0
  fi
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}
find_postgres() {  # the bin directory of PostgreSQL 15 with PostGIS 3, or nothing
  if [ -n "${CIVITAS_BENCH_POSTGRES:-}" ]; then
    [ "$CIVITAS_BENCH_POSTGRES" = none ] || echo "$CIVITAS_BENCH_POSTGRES"
    return 0
  fi
  local d=/usr/lib/postgresql/15/bin
  [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pgbench" ] && [ -x "$d/psql" ] &&
    ls /usr/share/postgresql/15/extension/postgis.control >/dev/null 2>&1 && echo "$d"
  return 0
}
find_influxd() {
  if [ -n "${CIVITAS_BENCH_INFLUXD:-}" ]; then
    [ "$CIVITAS_BENCH_INFLUXD" = none ] || echo "$CIVITAS_BENCH_INFLUXD"
    return 0
  fi
  command -v influxd 2>/dev/null || { [ -x /usr/bin/influxd ] && echo /usr/bin/influxd; } || true
}
if [ $install -eq 1 ]; then
  missing=()
  [ -n "$(find_nginx)" ] || missing+=(nginx-light)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if [ $peers -eq 1 ]; then
    [ -n "$(find_postgres)" ] || missing+=(postgresql-15 postgresql-15-postgis-3)
    [ -n "$(find_influxd)" ] || missing+=(influxdb)
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 $sudo apt-get update -qq
    timeout 900 $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
# The system's python3 first: run.sh starts python a few hundred times, and a version manager's
# shim first in PATH (pyenv's) took 2-3 s per start on the busy machine, minutes per run.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || die "python3 is needed for the report (apt-get install python3)"
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"

# --- build ----------------------------------------------------------------------------------
if [ $build -eq 1 ]; then
  [ $install -eq 1 ] && "$ROOT/scripts/install-deps.sh"
  log "building the release preset"
  (cd "$ROOT" && cmake --preset release >/dev/null &&
    cmake --build --preset release --target civitas civitas_loadgen civitas_city_gen \
      civitas_notify_bench >/dev/null) ||
    die "build failed (cmake --build --preset release)"
fi
[ -x "$civitas_bin" ] || die "no civitas binary at $civitas_bin"
[ -x "$loadgen_bin" ] || die "no load generator at $loadgen_bin"
[ -x "$citygen_bin" ] || die "no city generator at $citygen_bin"

# --- processes and cleanup ------------------------------------------------------------------
# The servers run under timeout(1), so that even if this script is killed outright (SIGKILL:
# no trap runs) they end after the longest this run can take. *_pid is the wrapper's pid (it
# forwards SIGTERM and exits with the server); the server itself is its child.
life=$((1800 + runs * ${#scenarios[@]} * 3 * (${duration%.*} + ${warmup%.*} + 10) +
  sensors / 100 + ${hours%.*} * sensors / 100))
civitas_pid="" nginx_pid="" pg_pid="" influx_pid="" sampler_pid="" work=""
child_of() { pgrep -P "$1" | head -n 1; }

# Stops one server: SIGTERM, up to 30 s, then SIGKILL. Reaps it. Says so if it had to kill.
stop_pid() {  # pid name
  local pid=$1 name=$2 _
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "WARNING: $name (pid $pid) did not stop within 30 s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$sampler_pid" sampler
  stop_pid "$nginx_pid" nginx
  stop_pid "$influx_pid" influxd
  stop_pid "$pg_pid" postgres
  stop_pid "$civitas_pid" civitas
  if [ $rc -ne 0 ] && [ -n "$work" ] && [ -d "$work" ]; then
    for f in "$work"/civitas.log "$work"/nginx/error.log "$work"/pg.log "$work"/influxd.log; do
      [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  [ -n "$work" ] && rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

listening() {  # port: is anything listening on that TCP port (IPv4 or IPv6)?
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {found = 1}
    END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {  # a port nothing listens on now (never the lead's 1026, 1883, 9090)
  local p
  for _ in $(seq 50); do
    p=$("$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    case "$p" in 1026|1883|9090) continue ;; esac
    listening "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

proc_field_kb() {  # pid field (VmHWM, VmRSS): kB, or 0
  if [ -n "$1" ] && [ -r "/proc/$1/status" ]; then
    awk -v f="$2:" '$1 == f {v = $2} END {print v + 0}' "/proc/$1/status"
  else
    echo 0
  fi
}

cpu_seconds() {  # pid: user+system CPU seconds so far, or 0
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    # Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    sed 's/^.*) //' "/proc/$1/stat" |
      awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / t}'
  else
    echo 0
  fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

work=$(mktemp -d /tmp/civitas-bench.XXXXXX)
chmod 755 "$work"
git_rev=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
notes=()
note() { notes+=("$*"); log "$*"; }
# Private copies of the binaries: a rebuild during the run (by another session sharing the
# build directory) must not change what is measured.
mkdir -p "$work/bin" "$work/runs"
cp "$civitas_bin" "$work/bin/civitas"
cp "$loadgen_bin" "$work/bin/civitas_loadgen"
[ -x "$notify_bin" ] && cp "$notify_bin" "$work/bin/civitas_notify_bench"
[ -x "$mqtt_bench_bin" ] && cp "$mqtt_bench_bin" "$work/bin/civitas_mqtt_bench"
civitas_bin=$work/bin/civitas loadgen_bin=$work/bin/civitas_loadgen
notify_bin=$work/bin/civitas_notify_bench mqtt_bench_bin=$work/bin/civitas_mqtt_bench

# --- the synthetic city -----------------------------------------------------------------------
city=$work/city
t0=$(now)
"$citygen_bin" --sensors "$sensors" --hours "$hours" --parts "$runs" --seed "$seed" \
  --out "$city" 2>"$work/citygen.log" || die "city generation failed: $(cat "$work/citygen.log")"
log "$(cat "$work/citygen.log") ($(elapsed "$t0") s)"
city_json=$(cat "$city/city.json")
cj() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if isinstance(v,(list,dict)) else v)' "$city/city.json" "$1"; }
observations=$(cj observations)
entity_batches=$(cj entity_batches)
history_bodies=$(cj history_bodies)
sample_sensor=$(cj sample_sensor)
hist_start=$(cj start) hist_end=$(cj end)
near_point=$(cj near_point)
within_polygon=$(cj within_polygon)
aq_sensors=$(cj air_quality_sensors)
pg_upserts=$(cj pg_upserts)
urlenc() { "$PY" -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# --- Civitas --------------------------------------------------------------------------------
mkdir -p "$work/data"
log "starting civitas (threads $civitas_threads, fsync on, data in $work/data)"
timeout -k 10 "$life" "$civitas_bin" serve --bind 127.0.0.1 --port 0 --data "$work/data" \
  --threads "$civitas_threads" --fsync on --log-level info 2>"$work/civitas.log" &
civitas_pid=$!
civitas_port=""
for _ in $(seq 300); do
  kill -0 "$civitas_pid" 2>/dev/null || die "civitas exited at start"
  civitas_port=$(sed -n 's/.*msg="civitas listening".* port=\([0-9]*\).*/\1/p' \
    "$work/civitas.log" | head -n 1)
  [ -n "$civitas_port" ] && break
  sleep 0.1
done
[ -n "$civitas_port" ] || die "civitas did not start listening within 30 s"
civ="http://127.0.0.1:$civitas_port/ngsi-ld/v1"
base="$civ/entities"
log "civitas listening on 127.0.0.1:$civitas_port"
civitas_server=$(child_of "$civitas_pid")
civitas_rss_start_kb=$(proc_field_kb "$civitas_server" VmRSS)

# --- PostgreSQL 15 + PostGIS 3 ------------------------------------------------------------------
pg_bin="" pg_port="" pg_note=""
want_pg=0
[ $peers -eq 1 ] && want_any get patch create batch-upsert query-q query-q2 geo-near geo-within \
  temporal-ingest temporal-agg-one temporal-agg-all && want_pg=1
[ $want_pg -eq 1 ] && pg_bin=$(find_postgres)
if [ $want_pg -eq 1 ] && [ -z "$pg_bin" ]; then
  note "postgres: not installed (apt-get install postgresql-15 postgresql-15-postgis-3); its rows are absent"
elif [ $want_pg -eq 1 ]; then
  pg=$work/pg
  mkdir -p "$pg/data" "$pg/sock"
  # PostgreSQL refuses to run as root: as root, run it as the postgres user (or nobody).
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    id -u postgres >/dev/null 2>&1 || pg_user=nobody
    chown -R "$pg_user" "$pg"
    as_pg=(setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --clear-groups --)
  fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$pg/initdb.log" 2>&1 || die "initdb failed: $(tail -5 "$pg/initdb.log")"
  pg_port=$(free_port)
  # Durable like Civitas (fsync, synchronous_commit on); memory sized for the machine; WAL room
  # for the bulk loads so that checkpoints do not dominate them.
  timeout -k 10 "$life" "${as_pg[@]}" "$pg_bin/postgres" -D "$pg/data" -p "$pg_port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$pg/sock" -c fsync=on \
    -c synchronous_commit=on -c shared_buffers=512MB -c work_mem=32MB \
    -c maintenance_work_mem=512MB -c max_wal_size=8GB -c max_connections=200 \
    -c jit=off -c logging_collector=off >"$work/pg.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 300); do
    kill -0 "$pg_pid" 2>/dev/null || die "postgres exited at start"
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres && break
    sleep 0.1
  done
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres || die "postgres did not start within 30 s"
  log "postgres listening on 127.0.0.1:$pg_port ($("$pg_bin/postgres" --version))"
  psql_() { timeout 3600 "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -X -q \
    -v ON_ERROR_STOP=1 "$@"; }
  psql_ -c "CREATE EXTENSION postgis" -c "
    CREATE TABLE entities (id text PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL,
                           geom geometry(Point, 4326));
    CREATE TABLE history (entity text NOT NULL, attribute text NOT NULL,
                          t timestamptz NOT NULL, value float8);
    CREATE INDEX history_eat ON history (entity, attribute, t);" >/dev/null
fi

# --- InfluxDB 1.6 ---------------------------------------------------------------------------
influx_bin="" influx_port=""
want_influx=0
[ $peers -eq 1 ] && want_any temporal-ingest temporal-agg-one temporal-agg-all && want_influx=1
[ $want_influx -eq 1 ] && influx_bin=$(find_influxd)
if [ $want_influx -eq 1 ] && [ -z "$influx_bin" ]; then
  note "influxdb: not installed (apt-get install influxdb); its rows are absent"
elif [ $want_influx -eq 1 ]; then
  ix=$work/influx
  mkdir -p "$ix/meta" "$ix/data" "$ix/wal"
  influx_port=$(free_port)
  influx_rpc=$(free_port)
  # Durable like Civitas: the WAL is fsync'd on every write (wal-fsync-delay 0s).
  cat >"$ix/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$influx_rpc"
[meta]
  dir = "$ix/meta"
[data]
  dir = "$ix/data"
  wal-dir = "$ix/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[coordinator]
  log-queries-after = "0s"
[http]
  enabled = true
  bind-address = "127.0.0.1:$influx_port"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
EOF
  INFLUXDB_CONFIG_PATH="$ix/influxdb.conf" timeout -k 10 "$life" "$influx_bin" \
    -config "$ix/influxdb.conf" >"$work/influxd.log" 2>&1 &
  influx_pid=$!
  for _ in $(seq 300); do
    kill -0 "$influx_pid" 2>/dev/null || die "influxd exited at start"
    curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$influx_port/ping" && break
    sleep 0.1
  done
  curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$influx_port/ping" ||
    die "influxd did not start within 30 s"
  curl -sf --max-time 10 -o /dev/null -XPOST "http://127.0.0.1:$influx_port/query" \
    --data-urlencode "q=CREATE DATABASE bench" || die "influxdb: CREATE DATABASE failed"
  log "influxd listening on 127.0.0.1:$influx_port ($("$influx_bin" version 2>/dev/null))"
fi

# --- resource sampler -----------------------------------------------------------------------
sampler_roots=("civitas=$civitas_pid")
[ -n "$pg_pid" ] && sampler_roots+=("postgres=$pg_pid")
[ -n "$influx_pid" ] && sampler_roots+=("influxdb=$influx_pid")
"$PY" "$TOOLS" sample --out "$work/resources.json" --max-seconds "$life" "${sampler_roots[@]}" &
sampler_pid=$!

# --- load -----------------------------------------------------------------------------------
# The city: batches of 1,000 whole entities through /entityOperations/upsert, 8 connections.
log "loading the city into civitas: $sensors entities in $entity_batches upserts"
"$loadgen_bin" -q --strict -m POST -H 'Content-Type: application/json' \
  --bodies "$city/civitas/entities.bodies" -n "$entity_batches" -c "$query_connections" -t 2 \
  --timeout 120000 --max-time 3600 --label city-load --json "$work/city-load.civitas.json" \
  "$civ/entityOperations/upsert" >/dev/null ||
  die "loading the city failed: $(cat "$work/city-load.civitas.json" 2>/dev/null || echo 'no result')"
civitas_rss_city_kb=$(proc_field_kb "$civitas_server" VmRSS)
# Sensors like the synthetic city's, for get/patch/nginx: a number, a name, a location.
entity_body='{"id":"urn:ngsi-ld:Bench:{i}","type":"Bench","v":{"type":"Property","value":0},'
entity_body+='"name":{"type":"Property","value":"sensor {i}"},'
entity_body+='"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[10.2,56.1]}}}'
log "loading $entities Bench entities (POST /entities, $connections connections)"
"$loadgen_bin" -q --strict -m POST -H 'Content-Type: application/json' -b "$entity_body" \
  --range "$entities" -n "$entities" -c "$connections" -t "$loadgen_threads" \
  --timeout 10000 --max-time 600 --label load --json "$work/load.json" "$base" >/dev/null ||
  die "loading failed: $(cat "$work/load.json" 2>/dev/null || echo 'no result')"

if [ -n "$pg_port" ]; then
  log "loading the city into postgres (COPY, then the GIN, btree and GiST indexes)"
  t0=$(now)
  psql_ -c "\\copy entities (id, type, data, geom) FROM '$city/pg/entities.copy'" >/dev/null
  pg_copy_s=$(elapsed "$t0")
  t0=$(now)
  psql_ -c "CREATE INDEX entities_type ON entities (type)" \
    -c "CREATE INDEX entities_data ON entities USING gin (data)" \
    -c "CREATE INDEX entities_geom ON entities USING gist (geom)" \
    -c "CREATE INDEX entities_geog ON entities USING gist ((geom::geography))" \
    -c "VACUUM ANALYZE entities" >/dev/null
  pg_index_s=$(elapsed "$t0")
  "$PY" "$TOOLS" timed --label city-load --seconds "$(awk -v a="$pg_copy_s" -v b="$pg_index_s" \
    'BEGIN {print a + b}')" --json "$work/city-load.postgres.json"
  log "postgres: COPY $pg_copy_s s, indexes $pg_index_s s"
  # The Bench entities of get/patch, as Civitas has them (not timed: Civitas's are created one
  # POST at a time, its "Bench load" line).
  log "loading $entities Bench entities into postgres"
  psql_ -c "INSERT INTO entities (id, type, data, geom)
    SELECT 'urn:ngsi-ld:Bench:' || i, 'Bench', replace('$entity_body', '{i}', i::text)::jsonb,
           ST_SetSRID(ST_MakePoint(10.2, 56.1), 4326)
    FROM generate_series(0, $((entities - 1))) AS i" -c "ANALYZE entities" >/dev/null
fi

# --- nginx ----------------------------------------------------------------------------------
nginx_bin=$(find_nginx)
nginx_port=""
want_nginx=0
for s in "${scenarios[@]}"; do [ "$s" = nginx ] && want_nginx=1; done
if [ $want_nginx -eq 1 ] && [ -z "$nginx_bin" ]; then
  note "nginx: not installed (apt-get install nginx-light); its rows are absent"
elif [ $want_nginx -eq 1 ]; then
  ng="$work/nginx"
  mkdir -p "$ng/www" "$ng/tmp"
  # Workers may run as another user (nobody, when started as root): let them read the answer.
  chmod 755 "$work" "$ng" "$ng/www"
  # The static answer: what GET returns for a loaded entity (so sizes match).
  curl -s --max-time 5 -o "$ng/www/entity.json" "$base/urn:ngsi-ld:Bench:0" || true
  [ -s "$ng/www/entity.json" ] || printf '%s' "${entity_body//\{i\}/0}" >"$ng/www/entity.json"
  chmod 644 "$ng/www/entity.json"
  temp_paths=""
  for m in client_body proxy fastcgi uwsgi scgi; do
    flag=${m/client_body/client-body}
    if "$nginx_bin" -V 2>&1 | grep -q -- "--http-$flag-temp-path"; then
      temp_paths+="  ${m}_temp_path $ng/tmp/$m;"$'\n'
    fi
  done
  for _ in $(seq 10); do
    port=$((20000 + RANDOM % 40000))
    listening "$port" && continue
    cat >"$ng/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000000;
  keepalive_timeout 75s;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
$temp_paths
  server {
    listen 127.0.0.1:$port;
    root $ng/www;
    # The Link header Civitas sends with every GET, so that response sizes match.
    add_header Link '<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"';
  }
}
EOF
    timeout -k 10 "$life" "$nginx_bin" -e "$ng/error.log" -p "$ng" -c "$ng/nginx.conf" 2>>"$ng/error.log" &
    nginx_pid=$!
    for _ in $(seq 50); do
      kill -0 "$nginx_pid" 2>/dev/null || break
      curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/entity.json" && break
      sleep 0.1
    done
    if kill -0 "$nginx_pid" 2>/dev/null &&
      curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/entity.json"; then
      nginx_port=$port
      break
    fi
    stop_pid "$nginx_pid" nginx
    nginx_pid=""
    grep -q "Address already in use" "$ng/error.log" || break  # only a port clash is retried
  done
  [ -n "$nginx_port" ] || die "nginx did not start (see $ng/error.log)"
  log "nginx listening on 127.0.0.1:$nginx_port (worker_processes 2)"
fi

# --- checks: the same answers from Civitas and the peers -----------------------------------------
# Civitas's figures only count if its answers are right: the result counts of the query and geo
# scenarios must equal PostgreSQL's. A difference is reported (it would be a Civitas bug or a
# generator/harness bug), never hidden.
q_type="type=AirQualityObserved"
q1="q=$(urlenc 'NO2>40')"
q2="q=$(urlenc 'NO2>40;PM10<30')"
near_lon=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[0])' "$near_point")
near_lat=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[1])' "$near_point")
near_q="georel=$(urlenc 'near;maxDistance==500')&geometry=Point&coordinates=$(urlenc "[$near_lon,$near_lat]")"
within_body="{\"type\":\"Query\",\"geoQ\":{\"georel\":\"within\",\"geometry\":\"Polygon\",\"coordinates\":$within_polygon}}"
printf '%s' "$within_body" >"$work/within.json"
within_geojson="{\"type\":\"Polygon\",\"coordinates\":$within_polygon}"
declare -A civ_url=(
  [query-q]="$base?$q_type&$q1&limit=100&count=true"
  [query-q2]="$base?$q_type&$q2&limit=100&count=true"
  [geo-near]="$base?$near_q&limit=100&count=true"
  [geo-within]="$civ/entityOperations/query?limit=100&count=true")
page_sql="SELECT id, data, count(*) OVER () AS total FROM entities WHERE"
declare -A pg_where=(
  [query-q]="type = 'AirQualityObserved' AND (data #>> '{NO2,value}')::float8 > 40"
  [query-q2]="type = 'AirQualityObserved' AND (data #>> '{NO2,value}')::float8 > 40 AND (data #>> '{PM10,value}')::float8 < 30"
  [geo-near]="ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint($near_lon, $near_lat), 4326)::geography, 500)"
  [geo-within]="ST_Within(geom, ST_SetSRID(ST_GeomFromGeoJSON('$within_geojson'), 4326))")
# The correctness check compares like with like: Civitas measures near distances on the sphere
# (the mean Earth radius, as PostGIS's use_spheroid => false does), while the timed PostGIS query
# keeps the spheroid default, as Scorpio runs it; the two differ by up to 0.5%, a few metres at
# 500 m, which at 1,000,000 points changes the count by about 1%.
declare -A pg_check_where=(
  [geo-near]="ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint($near_lon, $near_lat), 4326)::geography, 500, false)")
civitas_count() {  # scenario: the NGSILD-Results-Count Civitas answers, or its status
  local s=$1 args=(-s --max-time 60 -D - -o "$work/check.body")
  if [ "$s" = geo-within ]; then
    args+=(-X POST -H 'Content-Type: application/json' --data-binary "@$work/within.json")
  fi
  curl "${args[@]}" "${civ_url[$s]}" | tr -d '\r' | awk '
    /^HTTP\// {status = $2}
    tolower($1) == "ngsild-results-count:" {count = $2}
    END {if (status == 200 && count != "") print count; else print "status " status}'
}
declare -A check_count=()
for s in query-q query-q2 geo-near geo-within; do
  want "$s" || continue
  c=$(civitas_count "$s")
  if [[ $c == status\ 501 ]]; then
    NOT_AVAILABLE+=("$s")
    note "$s: not available (Civitas answers 501)"
    continue
  fi
  check_count[$s]=$c
  if [ -n "$pg_port" ]; then
    p=$(psql_ -t -A -c "SELECT count(*) FROM entities WHERE ${pg_check_where[$s]:-${pg_where[$s]}}")
    if [ "$c" = "$p" ]; then
      log "check $s: Civitas and PostgreSQL both count $c"
    else
      note "CHECK FAILED $s: Civitas counts $c, PostgreSQL $p"
    fi
  else
    log "check $s: Civitas counts $c"
  fi
done

# --- pgbench scripts ----------------------------------------------------------------------------
pgb=$work/pgbench
mkdir -p "$pgb/log"
if [ -n "$pg_port" ]; then
  # get and patch address the same Bench entities as on Civitas, uniformly at random.
  bench_id="'urn:ngsi-ld:Bench:' || :k"
  printf '\\set k random(0, %d)\nSELECT data FROM entities WHERE id = %s;\n' \
    "$((entities - 1))" "$bench_id" >"$pgb/get.sql"
  printf '\\set k random(0, %d)\n\\set v random(0, 999999)\nUPDATE entities SET data = jsonb_set(data, '"'"'{v,value}'"'"', to_jsonb(:v::int)) WHERE id = %s;\n' \
    "$((entities - 1))" "$bench_id" >"$pgb/patch.sql"
  bench_json=${entity_body//\{i\}/0}
  printf '\\set k random(1, 1000000000000)\nINSERT INTO entities (id, type, data, geom) VALUES ('"'"'urn:ngsi-ld:Bench:pg-'"'"' || :k, '"'"'Bench'"'"', '"'"'%s'"'"', ST_SetSRID(ST_MakePoint(10.2, 56.1), 4326)) ON CONFLICT (id) DO NOTHING;\n' \
    "$bench_json" >"$pgb/create.sql"
  for s in query-q query-q2 geo-near geo-within; do
    printf '%s %s ORDER BY id LIMIT 100;\n' "$page_sql" "${pg_where[$s]}" >"$pgb/$s.sql"
  done
  printf "SELECT date_trunc('hour', t) AS h, avg(value) FROM history WHERE entity = '%s' AND attribute = 'NO2' AND t >= '%s' AND t < '%s' GROUP BY 1 ORDER BY 1;\n" \
    "$sample_sensor" "$hist_start" "$hist_end" >"$pgb/temporal-agg-one.sql"
  printf "SELECT entity, date_trunc('hour', t) AS h, avg(value) FROM history WHERE attribute = 'NO2' AND t >= '%s' AND t < '%s' GROUP BY 1, 2 ORDER BY 1, 2;\n" \
    "$hist_start" "$hist_end" >"$pgb/temporal-agg-all.sql"
fi

# pgbench reads ":name" as a variable anywhere in a script, even inside string literals (ids
# like urn:ngsi-ld:..., times, JSON): every literal becomes an E'' string with its colons as \x3a.
pg_escape_scripts() {
  "$PY" - "$@" <<'PY'
import re, sys
for path in sys.argv[1:]:
    s = open(path).read()
    s = re.sub(r"(?<![A-Za-z0-9_])'([^']*)'",
               lambda m: ("E'" + m.group(1).replace(":", "\\x3a") + "'") if ":" in m.group(1)
               else m.group(0), s)
    open(path, "w").write(s)
PY
}
if [ -n "$pg_port" ]; then pg_escape_scripts "$pgb"/*.sql "$city"/pg/upsert-*.sql; fi

influx_query_url() {  # InfluxQL
  echo "http://127.0.0.1:$influx_port/query?db=bench&q=$(urlenc "$1")"
}
ix_one="SELECT mean(\"NO2\") FROM \"AirQualityObserved\" WHERE \"id\" = '$sample_sensor' AND time >= '$hist_start' AND time < '$hist_end' GROUP BY time(1h)"
ix_all="SELECT mean(\"NO2\") FROM \"AirQualityObserved\" WHERE time >= '$hist_start' AND time < '$hist_end' GROUP BY time(1h), \"id\""
temporal_q="attrs=NO2&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1H&timerel=between&timeAt=$(urlenc "$hist_start")&endTimeAt=$(urlenc "$hist_end")"
agg_one_url="$civ/temporal/entities/$(urlenc "$sample_sensor")?$temporal_q"
agg_all_urls=()
for ((off = 0; off < aq_sensors; off += 1000)); do
  agg_all_urls+=("$civ/temporal/entities?type=AirQualityObserved&$temporal_q&limit=1000&offset=$off")
done

# --- running one measurement ----------------------------------------------------------------------
# Results go to runs/<scenario>@<server>.<round>.json in the load generator's shape; items
# (attribute updates, observations) are added where a request carries many.
set_items() {  # file items_per_request|total:N
  "$PY" - "$@" <<'EOF'
import json, sys
path, spec = sys.argv[1], sys.argv[2]
r = json.load(open(path))
if spec.startswith("total:"):
    n = float(spec[6:])
    r["items"] = n
    r["items_per_s"] = n / r["duration_s"] if r["duration_s"] > 0 else 0
else:
    r["items_per_request"] = float(spec)
    r["items_per_s"] = r["throughput_rps"] * float(spec)
json.dump(r, open(path, "w"))
EOF
}
show() {  # file
  "$PY" - "$1" <<'EOF' >&2
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
bad = r["requests"] - r["status_classes"]["2xx"] + sum(r["errors"].values())
extra = f"  {r['items_per_s']:,.0f} items/s" if "items_per_s" in r else ""
print(f"run.sh:   {r['label']:28} {r['throughput_rps']:10.1f} req/s  p50 {l['p50']:.3f}  "
      f"p99 {l['p99']:.3f}  max {l['max']:.3f} ms{extra}" + (f"  FAILED: {bad}" if bad else ""))
EOF
}
lg() {  # out label connections loadgen-args...
  local out=$1 label=$2 c=$3
  shift 3
  "$loadgen_bin" -q -c "$c" -p "$pipeline" -t "$(( c < loadgen_threads ? c : loadgen_threads ))" \
    -d "$duration" -w "$warmup" --timeout 30000 --label "$label" --json "$out" "$@" >/dev/null ||
    true
  [ -s "$out" ]
}
# pgbench's -T clock starts before it opens its connections, and on this machine a PostgreSQL
# connection (a forked backend) takes 10-40 ms: 64 of them took 2.5 s under load, so that
# "-T 1" measured nothing at all and "-T 6" measured half its time. So each connection count is
# timed once (pgbench -t 1), -T gets twice that (+1 s) on top of warm-up + duration, and
# bench_tools.py measures the window from the first transaction, after all connections are up.
declare -A pg_connect_s=()
pg_connect_allowance() {  # connections: whole seconds to add to -T
  local c=$1 ms
  if [ -z "${pg_connect_s[$c]:-}" ]; then
    printf 'SELECT 1;\n' >"$pgb/connect.sql"
    ms=$(cd "$pgb/log" && timeout 120 "$pg_bin/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U postgres \
      -c "$c" -j "$(( c < 2 ? c : 2 ))" -t 1 -f "$pgb/connect.sql" postgres 2>/dev/null |
      sed -n 's/^initial connection time = \([0-9.]*\) ms.*/\1/p')
    pg_connect_s[$c]=$(awk -v ms="${ms:-5000}" 'BEGIN {printf "%d", int(2 * ms / 1000) + 1}')
    log "postgres: $c connections open in ${ms:-?} ms; pgbench -T gets ${pg_connect_s[$c]} s more"
  fi
  echo "${pg_connect_s[$c]}"
}
pgb_run() {  # out label connections script...
  local out=$1 label=$2 c=$3 rc=0 secs prefix
  shift 3
  prefix=$pgb/log/$label.$$.$RANDOM
  pg_connect_allowance "$c" >/dev/null  # fills the cache here, not in a subshell
  secs=$(awk -v d="$duration" -v w="$warmup" -v a="${pg_connect_s[$c]}" \
    'BEGIN {s = d + w; printf "%d", ((s == int(s)) ? s : int(s) + 1) + a}')
  local files=()
  for f in "$@"; do files+=(-f "$f"); done
  (cd "$pgb/log" && timeout $((secs + 120)) "$pg_bin/pgbench" -n -h 127.0.0.1 -p "$pg_port" \
    -U postgres -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$secs" --log \
    --log-prefix="$prefix" "${files[@]}" postgres >"$pgb/out.txt" 2>"$pgb/err.txt") || rc=$?
  "$PY" "$TOOLS" pgbench --prefix "$prefix" --warmup "$warmup" --duration "$duration" \
    --label "$label" --rc "$rc" --stderr "$pgb/err.txt" --stdout "$pgb/out.txt" --json "$out"
  rm -f "$prefix".*
  # A query that takes seconds (a JSONB scan of a million rows) leaves the timed window empty:
  # then three transactions per connection, timed each (bench_tools.py pgbench --transactions).
  if [ "$rc" -eq 0 ] && grep -q '"aborted": true' "$out" && grep -q "ended early" "$out"; then
    rc=0
    (cd "$pgb/log" && timeout 600 "$pg_bin/pgbench" -n -h 127.0.0.1 -p "$pg_port" \
      -U postgres -M prepared -c "$c" -j "$(( c < 2 ? c : 2 ))" -t 3 --log \
      --log-prefix="$prefix" "${files[@]}" postgres >"$pgb/out.txt" 2>"$pgb/err.txt") || rc=$?
    "$PY" "$TOOLS" pgbench --prefix "$prefix" --duration "$duration" --transactions 3 \
      --label "$label" --rc "$rc" --stderr "$pgb/err.txt" --stdout "$pgb/out.txt" --json "$out"
    rm -f "$prefix".*
  fi
}

run_scenario() {  # name round
  local name=$1 round=$2 r="$work/runs" qc=$query_connections
  local upsert_items
  upsert_items=$(awk -v s="$sensors" -v b="$entity_batches" 'BEGIN {print 3 * s / b}')
  for x in "${NOT_AVAILABLE[@]}"; do [ "$x" = "$name" ] && return 0; done
  case "$name" in
    nginx)
      [ -n "$nginx_port" ] || return 0
      lg "$r/nginx@nginx.$round.json" nginx "$connections" \
        "http://127.0.0.1:$nginx_port/entity.json" && show "$r/nginx@nginx.$round.json" ;;
    get)
      lg "$r/get@civitas.$round.json" get@civitas "$connections" --range "$entities" --random \
        --seed "$round" "$base/urn:ngsi-ld:Bench:{i}" && show "$r/get@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/get@postgres.$round.json" get@postgres "$connections" \
        "$pgb/get.sql" && show "$r/get@postgres.$round.json"; } ;;
    patch)
      lg "$r/patch@civitas.$round.json" patch@civitas "$connections" --range "$entities" \
        --random --seed "$round" -m PATCH -H 'Content-Type: application/json' \
        -b '{"v":{"type":"Property","value":{rand}}}' "$base/urn:ngsi-ld:Bench:{i}/attrs" &&
        show "$r/patch@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/patch@postgres.$round.json" patch@postgres \
        "$connections" "$pgb/patch.sql" && show "$r/patch@postgres.$round.json"; } ;;
    create)
      lg "$r/create@civitas.$round.json" create@civitas "$connections" --range 1000000000000 \
        -m POST -H 'Content-Type: application/json' \
        -b "${entity_body//urn:ngsi-ld:Bench:\{i\}/urn:ngsi-ld:Bench:new-r$round-\{i\}}" "$base" &&
        show "$r/create@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/create@postgres.$round.json" create@postgres \
        "$connections" "$pgb/create.sql" && show "$r/create@postgres.$round.json"; } ;;
    batch-upsert)
      # A fixed count, not a fixed time: one request is a commit of 1,000 entities that took
      # 0.5-3 s on the loaded machine, and with 8 of them in flight a window of a few seconds
      # could end before any answered (0 answers in 2 of 3 rounds, 2026-12-02). Each round
      # upserts the whole city twice; the rate is over the whole time, from the first request.
      local n=$((2 * entity_batches))
      [ "$n" -ge "$qc" ] || n=$qc
      "$loadgen_bin" -q -c "$qc" -t "$(( qc < loadgen_threads ? qc : loadgen_threads ))" \
        -n "$n" --timeout 120000 --max-time 600 -m POST -H 'Content-Type: application/json' \
        --bodies "$city/civitas/upsert.bodies" --label batch-upsert@civitas \
        --json "$r/batch-upsert@civitas.$round.json" \
        "$civ/entityOperations/upsert?options=update" >/dev/null || true
      [ -s "$r/batch-upsert@civitas.$round.json" ] &&
        set_items "$r/batch-upsert@civitas.$round.json" "$upsert_items" &&
        show "$r/batch-upsert@civitas.$round.json"
      if [ -n "$pg_port" ]; then
        pgb_run "$r/batch-upsert@postgres.$round.json" batch-upsert@postgres "$qc" \
          "$city"/pg/upsert-*.sql && set_items "$r/batch-upsert@postgres.$round.json" \
          "$upsert_items" && show "$r/batch-upsert@postgres.$round.json"
      fi ;;
    query-q|query-q2|geo-near|geo-within)
      local extra=()
      [ "$name" = geo-within ] && extra=(-m POST -H 'Content-Type: application/json'
        --body-file "$work/within.json")
      lg "$r/$name@civitas.$round.json" "$name@civitas" "$qc" "${extra[@]}" \
        "${civ_url[$name]}" && show "$r/$name@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/$name@postgres.$round.json" "$name@postgres" "$qc" \
        "$pgb/$name.sql" && show "$r/$name@postgres.$round.json"; } ;;
    temporal-agg-one)
      lg "$r/$name@civitas.$round.json" "$name@civitas" 1 "$agg_one_url" &&
        show "$r/$name@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/$name@postgres.$round.json" "$name@postgres" 1 \
        "$pgb/$name.sql" && show "$r/$name@postgres.$round.json"; }
      [ -z "$influx_port" ] || { lg "$r/$name@influxdb.$round.json" "$name@influxdb" 1 \
        "$(influx_query_url "$ix_one")" && show "$r/$name@influxdb.$round.json"; } ;;
    temporal-agg-all)
      "$PY" "$TOOLS" sweep --warmup "$warmup" --duration "$duration" --label "$name@civitas" \
        --json "$r/$name@civitas.$round.json" "${agg_all_urls[@]}" &&
        show "$r/$name@civitas.$round.json"
      [ -z "$pg_port" ] || { pgb_run "$r/$name@postgres.$round.json" "$name@postgres" 1 \
        "$pgb/$name.sql" && show "$r/$name@postgres.$round.json"; }
      [ -z "$influx_port" ] || { lg "$r/$name@influxdb.$round.json" "$name@influxdb" 1 \
        "$(influx_query_url "$ix_all")" && show "$r/$name@influxdb.$round.json"; } ;;
    *)
      return 0 ;;
  esac
}

# --- temporal ingest: part k of the history in round k, on every server ----------------------
if want temporal-ingest && [ "$history_bodies" -gt 0 ]; then
  for round in $(seq "$runs"); do
    part=$round
    bodies=$(tr -cd '\036' <"$city/civitas/history-$part.bodies" | wc -c)
    obs=$(wc -l <"$city/pg/history-$part.copy")
    log "temporal ingest, round $round of $runs: $obs observations in $bodies batches"
    out="$work/runs/temporal-ingest@civitas.$round.json"
    "$loadgen_bin" -q -m POST -H 'Content-Type: application/json' \
      --bodies "$city/civitas/history-$part.bodies" -n "$bodies" -c "$query_connections" -t 2 \
      --timeout 120000 --max-time 3600 --label temporal-ingest@civitas --json "$out" \
      "$civ/entityOperations/upsert?options=update" >/dev/null || true
    [ -s "$out" ] && set_items "$out" "total:$obs" && show "$out"
    if [ -n "$pg_port" ]; then
      out="$work/runs/temporal-ingest@postgres.$round.json"
      t0=$(now)
      psql_ -c "\\copy history (entity, attribute, t, value) FROM '$city/pg/history-$part.copy'" \
        >/dev/null
      "$PY" "$TOOLS" timed --label temporal-ingest@postgres --seconds "$(elapsed "$t0")" \
        --json "$out"
      set_items "$out" "total:$obs" && show "$out"
    fi
    if [ -n "$influx_port" ]; then
      out="$work/runs/temporal-ingest@influxdb.$round.json"
      "$loadgen_bin" -q -m POST --bodies "$city/influx/history-$part.bodies" -n "$bodies" \
        -c "$query_connections" -t 2 --timeout 120000 --max-time 3600 \
        --label temporal-ingest@influxdb --json "$out" \
        "http://127.0.0.1:$influx_port/write?db=bench&precision=s" >/dev/null || true
      [ -s "$out" ] && set_items "$out" "total:$obs" && show "$out"
    fi
  done
  [ -n "$pg_port" ] && psql_ -c "VACUUM ANALYZE history" >/dev/null
fi

# Check: the first hourly average of the sample sensor, from each server.
if want_any temporal-agg-one temporal-agg-all && [ "$history_bodies" -gt 0 ]; then
  civ_avg=$(curl -s --max-time 60 "$agg_one_url" | "$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
    a = d["NO2"]["avg"] if "avg" in d["NO2"] else d["NO2"]["values"]
    print(a[0][0])
except Exception as e:
    print("none")' || echo none)
  msg="check temporal-agg-one: first hourly NO2 average of $sample_sensor: Civitas $civ_avg"
  if [ -n "$pg_port" ]; then
    pg_avg=$(psql_ -t -A -c "SELECT avg(value) FROM history WHERE entity = '$sample_sensor' AND attribute = 'NO2' AND t >= '$hist_start' AND t < timestamptz '$hist_start' + interval '1 hour'")
    msg+=", PostgreSQL $pg_avg"
    if "$PY" -c 'import sys; a, b = sys.argv[1:]; sys.exit(0 if abs(float(a) - float(b)) <= 1e-6 * max(1, abs(float(b))) else 1)' "$civ_avg" "$pg_avg" 2>/dev/null; then
      log "$msg: equal"
    elif [ "$civ_avg" = none ]; then
      NOT_AVAILABLE+=(temporal-agg-one temporal-agg-all)
      note "$msg: Civitas gave no aggregatedValues; temporal aggregation not available"
    else
      note "CHECK FAILED $msg"
    fi
  else
    log "$msg"
  fi
fi

for round in $(seq "$runs"); do
  log "round $round of $runs"
  for s in "${scenarios[@]}"; do
    case "$s" in temporal-ingest|notification|mqtt-ingest) continue ;; esac
    run_scenario "$s" "$round" || log "WARNING: $s round $round failed"
  done
done

# --- notification latency and fan-out: bench/notify.sh, on its own Civitas ----------------------
if want notification; then
  if [ -x "$notify_bin" ]; then
    nruns=$(( runs < 3 ? runs : 3 ))
    ndur=3
    [ $smoke -eq 1 ] && ndur=1
    log "notification benchmark (bench/notify.sh --runs $nruns --duration $ndur)"
    mkdir -p "$work/notify"
    CIVITAS=$civitas_bin NOTIFY_BENCH=$notify_bin timeout 900 "$ROOT/bench/notify.sh" \
      --no-build --runs "$nruns" --duration "$ndur" --out "$work/notify" >"$work/notify.md" \
      2>"$work/notify.log" || note "notification: bench/notify.sh failed: $(tail -3 "$work/notify.log")"
    cat "$work/notify"/notify-*.jsonl >"$work/notify.jsonl" 2>/dev/null || true
  else
    note "notification: no civitas_notify_bench binary; not measured"
  fi
fi

# --- device ingestion through mosquitto: bench/ingest.sh, its own Civitas and mosquitto -----------
# mosquitto alone (publishers to a plain subscriber) against publishers -> mosquitto -> Civitas,
# durable, in the same rounds; then the publish-to-queryable lag at half Civitas' rate.
if want mqtt-ingest; then
  if [ -x "$mqtt_bench_bin" ] && [ -x /usr/sbin/mosquitto ]; then
    ibuild=$work/ingest-build
    mkdir -p "$ibuild/src/server" "$ibuild/bench"
    ln -sf "$civitas_bin" "$ibuild/src/server/civitas"
    ln -sf "$mqtt_bench_bin" "$ibuild/bench/civitas_mqtt_bench"
    ln -sf "$loadgen_bin" "$ibuild/bench/civitas_loadgen"
    iargs=(--rounds "$(( runs < 3 ? runs : 3 ))")
    [ $smoke -eq 1 ] && iargs=(--rounds 1 --messages 2000 --http-seconds 1)
    log "device ingestion (bench/ingest.sh ${iargs[*]})"
    if BUILD=$ibuild timeout 900 "$ROOT/bench/ingest.sh" "${iargs[@]}" >"$work/ingest.log" 2>&1; then
      tail -n 1 "$work/ingest.log" >"$work/ingest.json"
    else
      note "mqtt-ingest: bench/ingest.sh failed: $(tail -3 "$work/ingest.log")"
    fi
  else
    note "mqtt-ingest: needs civitas_mqtt_bench (built with libmosquitto-dev) and mosquitto; not measured"
  fi
fi

# --- the disk: how long one fdatasync takes here now --------------------------------------------
# A durable write waits for at least one fdatasync, and with C connections and one request in
# flight on each, at most C writes share one: C / fdatasync is the ceiling of durable PATCH
# throughput on this disk, whatever the server does. Measured on the data directory's
# filesystem, after the rounds, so it reflects the same conditions.
fsync_note=$("$PY" - "$work/data" "$connections" <<'EOF2'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
t = []
for _ in range(200):
    os.write(fd, b"x" * 4096)
    s = time.perf_counter()
    os.fdatasync(fd)
    t.append(time.perf_counter() - s)
os.close(fd)
os.unlink(path)
t.sort()
p50, p99 = t[len(t) // 2] * 1e3, t[int(len(t) * 0.99)] * 1e3
c = int(sys.argv[2])
print(f"Disk: fdatasync of a 4 KiB append takes p50 {p50:.2f} ms, p99 {p99:.2f} ms here now; "
      f"with {c} connections durable writes can reach at most about {c / p50 * 1e3:.0f}/s")
EOF2
) || fsync_note=""
[ -n "$fsync_note" ] && log "$fsync_note"
[ -n "$fsync_note" ] && notes+=("$fsync_note")

# --- resources, stop ------------------------------------------------------------------------
civitas_hwm_kb=$(proc_field_kb "$civitas_server" VmHWM)
civitas_rss_end_kb=$(proc_field_kb "$civitas_server" VmRSS)
civitas_cpu_s=$(cpu_seconds "$civitas_server")
nginx_hwm_kb=0 nginx_cpu_s=0
if [ -n "$nginx_pid" ]; then
  nginx_master=$(child_of "$nginx_pid")
  for p in "$nginx_master" $(pgrep -P "$nginx_master" || true); do
    nginx_hwm_kb=$((nginx_hwm_kb + $(proc_field_kb "$p" VmHWM)))
    nginx_cpu_s=$(awk -v a="$nginx_cpu_s" -v b="$(cpu_seconds "$p")" 'BEGIN {print a + b}')
  done
fi
sleep 1.2  # one more sample
stop_pid "$sampler_pid" sampler
sampler_pid=""
cp "$work/resources.json" "$work/resources.final.json" 2>/dev/null || echo '{}' >"$work/resources.final.json"
stop_pid "$nginx_pid" nginx
nginx_pid=""
stop_pid "$influx_pid" influxd
influx_pid=""
stop_pid "$pg_pid" postgres
pg_pid=""
stop_pid "$civitas_pid" civitas
civitas_pid=""
data_bytes=$(du -sb "$work/data" | cut -f1)
pg_bytes=0 influx_bytes=0 pg_history_bytes=0
[ -n "$pg_port" ] && pg_bytes=$(du -sb "$work/pg/data" | cut -f1)
[ -n "$influx_port" ] && influx_bytes=$(du -sb "$work/influx" | cut -f1)
for p in "$civitas_port" "$nginx_port" "$pg_port" "$influx_port"; do
  [ -n "$p" ] && listening "$p" && log "WARNING: port $p is still listening after the stop"
done

# --- report ---------------------------------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [ -z "$out_dir" ]; then
  if [ $smoke -eq 1 ]; then out_dir="${TMPDIR:-/tmp}/civitas-bench-smoke"; else
    out_dir="$ROOT/bench/results"; fi
fi
mkdir -p "$out_dir"
meta="$work/meta.json"
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)
nginx_version=none
[ -n "$nginx_bin" ] && nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/.*: //')
pg_version=none influx_version=none
[ -n "$pg_port" ] && pg_version=$("$pg_bin/postgres" --version)
[ -n "$influx_port" ] && influx_version=$("$influx_bin" version 2>/dev/null | head -1)
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
notes_joined=$(printf '%s\x1f' "${notes[@]+"${notes[@]}"}")
export B_STAMP=$stamp B_COMMAND=$command_line B_SMOKE=$smoke B_ENTITIES=$entities B_RUNS=$runs \
  B_DURATION=$duration B_WARMUP=$warmup B_CONNECTIONS=$connections B_PIPELINE=$pipeline \
  B_QUERY_CONNECTIONS=$query_connections B_SENSORS=$sensors B_HOURS=$hours B_SEED=$seed \
  B_LOADGEN_THREADS=$loadgen_threads B_CIVITAS_THREADS=$civitas_threads \
  B_SCENARIOS="${scenarios[*]}" B_NOT_AVAILABLE="${NOT_AVAILABLE[*]+"${NOT_AVAILABLE[*]}"}" \
  B_NOTES="$notes_joined" \
  B_CIVITAS_HWM_KB=$civitas_hwm_kb B_CIVITAS_CPU_S=$civitas_cpu_s B_DATA_BYTES=$data_bytes \
  B_CIVITAS_RSS_START_KB=$civitas_rss_start_kb B_CIVITAS_RSS_CITY_KB=$civitas_rss_city_kb \
  B_CIVITAS_RSS_END_KB=$civitas_rss_end_kb \
  B_NGINX_HWM_KB=$nginx_hwm_kb B_NGINX_CPU_S=$nginx_cpu_s B_PG_BYTES=$pg_bytes \
  B_INFLUX_BYTES=$influx_bytes B_OBSERVATIONS=$observations \
  B_GIT=$git_rev B_LOADAVG_START=$loadavg_start B_LOADAVG_END=$loadavg_end \
  B_NGINX_VERSION=$nginx_version B_PG_VERSION=$pg_version B_INFLUX_VERSION=$influx_version \
  B_CPU=$cpu_model B_MEM_KB=$mem_kb B_WORK=$work B_CITY="$city_json" B_ELAPSED=$SECONDS
B_NPROC=$(nproc)
B_KERNEL=$(uname -r)
export B_NPROC B_KERNEL
"$PY" - "$meta" <<'EOF'
import json, os, sys
e = os.environ
w = e["B_WORK"]
def load(p, default):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return default
sampled = load(os.path.join(w, "resources.final.json"), {})
city_load = {s: load(os.path.join(w, f"city-load.{s}.json"), None) for s in ("civitas", "postgres")}
ingest = load(os.path.join(w, "ingest.json"), None)
notify = []
if os.path.exists(os.path.join(w, "notify.jsonl")):
    notify = [json.loads(l) for l in open(os.path.join(w, "notify.jsonl")) if l.strip()]
json.dump({
    "timestamp": e["B_STAMP"],
    "command": e["B_COMMAND"],
    "smoke": e["B_SMOKE"] == "1",
    "git": e["B_GIT"],
    # Wall-clock seconds from the start of run.sh to the report (build included).
    "elapsed_s": int(e["B_ELAPSED"]),
    "machine": {"nproc": int(e["B_NPROC"]), "cpu": e["B_CPU"],
                "memory_kb": int(e["B_MEM_KB"]), "kernel": e["B_KERNEL"],
                # Other work on the machine during the run (1, 5, 15 min load averages).
                "loadavg_start": e["B_LOADAVG_START"], "loadavg_end": e["B_LOADAVG_END"]},
    "settings": {
        "entities": int(e["B_ENTITIES"]), "runs": int(e["B_RUNS"]),
        "sensors": int(e["B_SENSORS"]), "hours": float(e["B_HOURS"]), "seed": int(e["B_SEED"]),
        "duration_s": float(e["B_DURATION"]), "warmup_s": float(e["B_WARMUP"]),
        "connections": int(e["B_CONNECTIONS"]), "pipeline": int(e["B_PIPELINE"]),
        "query_connections": int(e["B_QUERY_CONNECTIONS"]),
        "loadgen_threads": int(e["B_LOADGEN_THREADS"]),
        "civitas_threads": int(e["B_CIVITAS_THREADS"]),
        "fsync": True, "nginx": e["B_NGINX_VERSION"], "nginx_worker_processes": 2,
        "postgres": e["B_PG_VERSION"], "influxdb": e["B_INFLUX_VERSION"],
    },
    "city": json.loads(e["B_CITY"]),
    "scenarios": e["B_SCENARIOS"].split(),
    "not_available": e["B_NOT_AVAILABLE"].split(),
    "notes": [n for n in e["B_NOTES"].split("\x1f") if n],
    "city_load": city_load,
    "notify": notify,
    "mqtt_ingest": ingest,
    "resources": {
        "civitas_peak_rss_kb": int(e["B_CIVITAS_HWM_KB"]),
        "civitas_rss_start_kb": int(e["B_CIVITAS_RSS_START_KB"]),
        "civitas_rss_after_city_kb": int(e["B_CIVITAS_RSS_CITY_KB"]),
        "civitas_rss_end_kb": int(e["B_CIVITAS_RSS_END_KB"]),
        "civitas_cpu_s": float(e["B_CIVITAS_CPU_S"]),
        "civitas_data_bytes": int(e["B_DATA_BYTES"]),
        "nginx_peak_rss_kb": int(e["B_NGINX_HWM_KB"]),
        "nginx_cpu_s": float(e["B_NGINX_CPU_S"]),
        "postgres_peak_pss_kb": sampled.get("postgres", {}).get("peak_pss_kb", 0),
        "postgres_cpu_s": sampled.get("postgres", {}).get("cpu_s", 0),
        "postgres_data_bytes": int(e["B_PG_BYTES"]),
        "influxdb_peak_pss_kb": sampled.get("influxdb", {}).get("peak_pss_kb", 0),
        "influxdb_cpu_s": sampled.get("influxdb", {}).get("cpu_s", 0),
        "influxdb_data_bytes": int(e["B_INFLUX_BYTES"]),
        "observations": int(e["B_OBSERVATIONS"]),
    },
}, open(sys.argv[1], "w"), indent=1)
EOF
status=0
"$PY" "$ROOT/bench/report.py" --meta "$meta" --load "$work/load.json" --runs "$work/runs" \
  --md "$out_dir/$stamp.md" --json "$out_dir/$stamp.json" || status=$?
cat "$out_dir/$stamp.md"
log "results: $out_dir/$stamp.md and $out_dir/$stamp.json"
exit $status
