#include "sim/simulate.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "sim/feed.h"
#include "sim/model.h"

namespace civitas::sim {
namespace {

std::atomic<bool> g_stop{false};  // set by the signal handler only

bool ParseNumber(const std::string& s, double min, double max, double* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

std::string SimUsage() {
  return R"(Usage: civitas simulate [options]

Publishes realistic measures of a city's sensors (air quality, parking, traffic, noise, street
lights) placed over Aarhus, with daily patterns, to a running Civitas. It provisions the
devices through Civitas' IoT Agent API first.

  --civitas URL     Civitas base URL, default http://127.0.0.1:1026
  --mqtt URL        send measures over MQTT (QoS 1) through this broker, mqtt://host:port;
                    default: HTTP POST /iot/json to Civitas
  --service NAME    fiware-service (the tenant), default aarhus
  --devices N       devices, default 100
  --rate R          measures per second, default 50
  --speedup X       simulated seconds per second, default 60
  --duration SEC    stop after SEC seconds (default: until Ctrl-C)
  --seed N          placement and noise seed, default 1
  --districts FILE  place the devices inside these districts (GeoJSON FeatureCollection, e.g.
                    data/demo/aarhus_local_community.wgs84.geojson) and give each a
                    refDistrict relationship; default: anywhere over Aarhus
  --quiet           no progress line
)";
}

Result<SimOptions> ParseSimOptions(const std::vector<std::string>& args) {
  SimOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (i + 1 >= args.size()) return Status::InvalidRequest(a + " needs a value");
    const std::string& v = args[++i];
    double n = 0;
    if (Status st; ParseTargetOption(a, v, &o.civitas, &o.mqtt, &o.service, &st)) {
      if (!st.ok()) return st;
    } else if (a == "--districts") {
      o.districts = v;
    } else if (a == "--devices" && ParseNumber(v, 1, 1000000, &n)) {
      o.devices = static_cast<int>(n);
    } else if (a == "--rate" && ParseNumber(v, 0.01, 1e6, &n)) {
      o.rate = n;
    } else if (a == "--speedup" && ParseNumber(v, 0, 1e6, &n)) {
      o.speedup = n;
    } else if (a == "--duration" && ParseNumber(v, 0, 1e9, &n)) {
      o.duration = n;
    } else if (a == "--seed" && ParseNumber(v, 0, 1e18, &n)) {
      o.seed = static_cast<uint64_t>(n);
    } else {
      return Status::InvalidRequest("bad option " + a + " " + v);
    }
  }
  return o;
}

int RunSimulation(const SimOptions& o) {
  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGPIPE, SIG_IGN);
  std::vector<District> districts;
  if (!o.districts.empty()) {
    std::ifstream in(o.districts, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = in ? ParseDistricts(text.str())
                     : Result<std::vector<District>>(Status::NotFound("cannot read file"));
    if (!parsed.ok()) {
      std::fprintf(stderr, "civitas simulate: %s: %s\n", o.districts.c_str(),
                   parsed.status().detail().c_str());
      return 1;
    }
    districts = std::move(*parsed);
  }
  const std::vector<SimDevice> fleet = MakeFleet(o.devices, o.seed, districts);

  // Provisioning: groups and devices from an earlier run are kept.
  Http http(o.civitas);
  std::vector<Json> batches;
  for (size_t from = 0; from < fleet.size(); from += 500)
    batches.push_back(DevicesBody(fleet, from, 500));
  if (Status st = Provision(http, o.service, ServiceGroupsBody(), batches); !st.ok()) {
    std::fprintf(stderr, "civitas simulate: %s\n", st.detail().c_str());
    return 1;
  }
  MeasureSink sink(http, o.mqtt);
  if (Status st = sink.Open(); !st.ok()) {
    std::fprintf(stderr, "civitas simulate: %s\n", st.detail().c_str());
    return 1;
  }

  std::mt19937_64 rng(o.seed);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const Micros sim_start = NowMicros();
  uint64_t sent = 0, failed = 0, last_sent = 0;
  auto last_report = start;
  size_t next = 0;  // the device whose turn it is
  while (!g_stop) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (o.duration > 0 && elapsed >= o.duration) break;
    // Pacing: measure number `sent` is due at sent / rate seconds.
    double due = static_cast<double>(sent + failed) / o.rate;
    if (due > elapsed) {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(due - elapsed, 0.2)));
      continue;
    }
    const SimDevice& d = fleet[next++ % fleet.size()];
    const Micros sim_now = sim_start + static_cast<Micros>(elapsed * o.speedup * 1e6);
    std::string payload = ToJsonString(MakeMeasure(d, sim_now, rng));
    bool ok = sink.Send(ApiKeyOf(d.kind), d.id, payload);
    ++(ok ? sent : failed);
    auto now = Clock::now();
    if (!o.quiet && now - last_report >= std::chrono::seconds(1)) {
      double dt = std::chrono::duration<double>(now - last_report).count();
      std::fprintf(stderr, "\rsent %llu  failed %llu  %.0f/s  simulated %s   ",
                   static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed),
                   static_cast<double>(sent - last_sent) / dt, FormatDateTime(sim_now).c_str());
      last_report = now;
      last_sent = sent;
    }
  }
  if (!o.quiet) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "civitas simulate: %llu measures sent, %llu failed\n",
               static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace civitas::sim
