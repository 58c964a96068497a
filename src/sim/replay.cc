#include "sim/replay.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/json.h"
#include "sim/feed.h"

namespace civitas::sim {
namespace {

std::atomic<bool> g_stop{false};  // set by the signal handler only

std::string ApiKeyOf(Dataset d) { return "replay-" + std::string(DatasetName(d)); }

std::string_view EntityTypeOf(Dataset d) {
  switch (d) {
    case Dataset::kTraffic:
      return "TrafficFlowObserved";
    case Dataset::kParking:
      return "OffStreetParking";
    case Dataset::kAir:
      return "AirQualityObserved";
  }
  return "";
}


// The measure's object ids of the two values of each dataset's rows.
std::pair<const char*, const char*> ObjectIds(Dataset d) {
  switch (d) {
    case Dataset::kTraffic:
      return {"flow", "speed"};
    case Dataset::kParking:
      return {"occ", "total"};
    case Dataset::kAir:
      return {"pm10", "pm25"};
  }
  return {"", ""};
}

Json GroupsBody(const std::vector<Dataset>& datasets) {
  Json services = Json::MakeArray();
  for (Dataset d : datasets) {
    Json g = Json::MakeObject();
    g.Set("apikey", ApiKeyOf(d));
    g.Set("entity_type", EntityTypeOf(d));
    g.Set("resource", "/iot/json");
    Json attrs = Json::MakeArray();
    switch (d) {
      case Dataset::kTraffic:
        attrs.Push(AttributeMapping("flow", "intensity", "Number"));
        attrs.Push(AttributeMapping("speed", "averageVehicleSpeed", "Number", "KMH"));
        break;
      case Dataset::kParking:
        attrs.Push(AttributeMapping("occ", "occupiedSpotNumber", "Number"));
        attrs.Push(AttributeMapping("total", "totalSpotNumber", "Number"));
        break;
      case Dataset::kAir:
        attrs.Push(AttributeMapping("pm10", "PM10", "Number", "GQ"));
        attrs.Push(AttributeMapping("pm25", "PM2_5", "Number", "GQ"));
        break;
    }
    g.Set("attributes", std::move(attrs));
    services.Push(std::move(g));
  }
  Json body = Json::MakeObject();
  body.Set("services", std::move(services));
  return body;
}

Json DeviceJson(Dataset d, const ReplayDevice& dev) {
  Json j = Json::MakeObject();
  j.Set("device_id", dev.id);
  j.Set("entity_type", EntityTypeOf(d));
  j.Set("apikey", ApiKeyOf(d));
  j.Set("transport", "MQTT");
  Json point = Json::MakeObject();
  point.Set("type", "Point");
  Json coords = Json::MakeArray();
  coords.Push(std::round(dev.lon * 1e6) / 1e6);
  coords.Push(std::round(dev.lat * 1e6) / 1e6);
  point.Set("coordinates", std::move(coords));
  Json location = Json::MakeObject();
  location.Set("name", "location");
  location.Set("type", "geo:json");
  location.Set("value", std::move(point));
  Json statics = Json::MakeArray();
  statics.Push(std::move(location));
  j.Set("static_attributes", std::move(statics));
  return j;
}

std::string MeasureOf(const DatasetRows& set, const ReplayRow& r) {
  auto [a, b] = ObjectIds(set.dataset);
  Json m = Json::MakeObject();
  if (!std::isnan(r.a)) m.Set(a, r.a);
  if (!std::isnan(r.b)) m.Set(b, r.b);
  m.Set("TimeInstant", FormatDateTime(r.at));
  return ToJsonString(m);
}

Result<DatasetRows> Load(const std::string& dir, Dataset d) {
  namespace fs = std::filesystem;
  switch (d) {
    case Dataset::kTraffic: {
      auto rows = ReadMaybeGzip(dir + "/traffic_2014-03-01_to_03-07.csv.gz");
      if (!rows.ok()) return rows.status();
      auto meta = ReadMaybeGzip(dir + "/traffic_metadata.csv");
      if (!meta.ok()) return meta.status();
      return ParseTraffic(*rows, *meta);
    }
    case Dataset::kParking: {
      auto rows = ReadMaybeGzip(dir + "/parking_2014.csv.gz");
      if (!rows.ok()) return rows.status();
      std::string garages = dir + "/garage_locations.csv";
      if (!fs::exists(garages)) garages = dir + "/../demo/garage_locations.csv";
      auto g = ReadMaybeGzip(garages);
      if (!g.ok()) return g.status();
      return ParseParking(*rows, *g);
    }
    case Dataset::kAir: {
      auto rows = ReadMaybeGzip(dir + "/sds011_pm_2019-04.csv.gz");
      if (!rows.ok()) return rows.status();
      return ParseAir(*rows);
    }
  }
  return Status::Internal("unknown dataset");
}

bool ParseNumber(const std::string& s, double min, double max, double* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

std::string FormatOffset(Micros offset) {
  int64_t s = offset / 1000000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "+%lldd %02lld:%02lld", static_cast<long long>(s / 86400),
                static_cast<long long>(s / 3600 % 24), static_cast<long long>(s / 60 % 60));
  return buf;
}

}  // namespace

std::string ReplayUsage() {
  return R"(Usage: civitas replay [options]

Feeds real city data as device measures to a running Civitas: the Aarhus road traffic of
2014-03-01..07 (449 segments, 5-minute counts), the occupancy of 8 Aarhus car parks
(2014-05-22..11-04) and the particulate readings of 22 Aberdeen sensors (April 2019). It
provisions one service group per dataset and one device per segment, car park or sensor through
Civitas' IoT Agent API, then sends each row with its own timestamp (TimeInstant, which becomes
observedAt; the files' times have no zone and are taken as UTC). The datasets were recorded in
different periods: each is played from its first row, side by side.

  --civitas URL     Civitas base URL, default http://127.0.0.1:1026
  --mqtt URL        send measures over MQTT (QoS 1) through this broker, mqtt://host:port;
                    default: HTTP POST /iot/json to Civitas
  --service NAME    fiware-service (the tenant), default aarhus
  --data DIR        the data files, default data/replay
  --speedup X       simulated seconds per second, default 60; 0 sends as fast as possible
  --datasets LIST   comma-separated of traffic, parking, air; default all three
  --limit ROWS      stop after ROWS rows (default: the end of the data)
  --quiet           no progress line
)";
}

Result<ReplayOptions> ParseReplayOptions(const std::vector<std::string>& args) {
  ReplayOptions o;
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
    } else if (a == "--data") {
      o.data = v;
    } else if (a == "--datasets") {
      o.datasets.clear();
      for (std::string_view name : SplitCsv(v, ',')) {
        bool known = false;
        for (Dataset d : kDatasets) {
          if (DatasetName(d) == name) {
            known = true;
            if (std::find(o.datasets.begin(), o.datasets.end(), d) == o.datasets.end()) {
              o.datasets.push_back(d);
            }
          }
        }
        if (!known) {
          return Status::InvalidRequest("--datasets: unknown '" + std::string(name) +
                                        "' (traffic, parking, air)");
        }
      }
    } else if (a == "--speedup" && ParseNumber(v, 0, 1e9, &n)) {
      o.speedup = n;
    } else if (a == "--limit" && ParseNumber(v, 1, 1e15, &n) && n == std::floor(n)) {
      o.limit = static_cast<uint64_t>(n);
    } else {
      return Status::InvalidRequest("bad option " + a + " " + v);
    }
  }
  return o;
}

int RunReplay(const ReplayOptions& o) {
  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGPIPE, SIG_IGN);

  std::vector<DatasetRows> sets;
  sets.reserve(o.datasets.size());
  uint64_t bad = 0;
  for (Dataset d : o.datasets) {
    auto set = Load(o.data, d);
    if (!set.ok()) {
      std::fprintf(stderr, "civitas replay: %s: %s\n", std::string(DatasetName(d)).c_str(),
                   set.status().detail().c_str());
      return 1;
    }
    bad += set->bad;
    if (!o.quiet) {
      std::fprintf(stderr, "civitas replay: %s: %zu rows, %zu devices, %llu rows skipped\n",
                   std::string(DatasetName(d)).c_str(), set->rows.size(), set->devices.size(),
                   static_cast<unsigned long long>(set->bad));
    }
    sets.push_back(std::move(*set));
  }
  std::vector<MergedRow> merged = MergeByOffset(sets);
  if (o.limit > 0 && merged.size() > o.limit) merged.resize(o.limit);

  // Provisioning: only the devices that have rows to send.
  std::vector<std::vector<bool>> used(sets.size());
  for (size_t i = 0; i < sets.size(); ++i) used[i].assign(sets[i].devices.size(), false);
  for (const MergedRow& m : merged) used[m.set - sets.data()][m.row->device] = true;
  std::vector<Json> batches;
  Json list = Json::MakeArray();
  auto flush = [&] {
    Json body = Json::MakeObject();
    body.Set("devices", std::move(list));
    batches.push_back(std::move(body));
    list = Json::MakeArray();
  };
  for (size_t i = 0; i < sets.size(); ++i) {
    for (size_t k = 0; k < sets[i].devices.size(); ++k) {
      if (!used[i][k]) continue;
      list.Push(DeviceJson(sets[i].dataset, sets[i].devices[k]));
      if (list.size() == 500) flush();
    }
  }
  if (list.size() > 0) flush();
  Http http(o.civitas);
  if (Status st = Provision(http, o.service, GroupsBody(o.datasets), batches); !st.ok()) {
    std::fprintf(stderr, "civitas replay: %s\n", st.detail().c_str());
    return 1;
  }
  MeasureSink sink(http, o.mqtt);
  if (Status st = sink.Open(); !st.ok()) {
    std::fprintf(stderr, "civitas replay: %s\n", st.detail().c_str());
    return 1;
  }

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  uint64_t sent = 0, failed = 0, last_sent = 0;
  auto last_report = start;
  auto report = [&](const MergedRow& m, bool force) {
    auto now = Clock::now();
    if (o.quiet || (!force && now - last_report < std::chrono::seconds(1))) return;
    double dt = std::max(1e-3, std::chrono::duration<double>(now - last_report).count());
    std::fprintf(stderr, "\rsent %llu  failed %llu  skipped %llu  %.0f/s  simulated %s (%s %s)   ",
                 static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed),
                 static_cast<unsigned long long>(bad), static_cast<double>(sent - last_sent) / dt,
                 FormatOffset(m.offset).c_str(), std::string(DatasetName(m.set->dataset)).c_str(),
                 FormatDateTime(m.row->at).c_str());
    last_report = now;
    last_sent = sent;
  };
  size_t i = 0;
  while (i < merged.size() && !g_stop) {
    // Rows of the same instant go together, once the instant is due.
    const Micros offset = merged[i].offset;
    double due = WallDueSeconds(offset, o.speedup);
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (due > elapsed) {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(due - elapsed, 0.2)));
      if (!merged.empty()) report(merged[i > 0 ? i - 1 : 0], false);
      continue;
    }
    for (; i < merged.size() && merged[i].offset == offset && !g_stop; ++i) {
      const MergedRow& m = merged[i];
      const ReplayDevice& dev = m.set->devices[m.row->device];
      bool ok = sink.Send(ApiKeyOf(m.set->dataset), dev.id, MeasureOf(*m.set, *m.row));
      ++(ok ? sent : failed);
      report(m, false);
    }
  }
  if (!sink.Flush(30)) {
    std::fprintf(stderr, "\ncivitas replay: the MQTT broker did not acknowledge every message\n");
    failed += 1;
  }
  if (!merged.empty() && i > 0) report(merged[i - 1], true);
  if (!o.quiet) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "civitas replay: %llu measures sent, %llu failed, %llu rows skipped\n",
               static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed),
               static_cast<unsigned long long>(bad));
  return failed == 0 ? 0 : 1;
}

}  // namespace civitas::sim
