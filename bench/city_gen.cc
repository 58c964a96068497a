// civitas_city_gen: the synthetic city of the benchmark harness (issue 7), deterministic for a
// seed, written in the forms Civitas and its peers load.
//
// N sensors of three types, in turn: AirQualityObserved (NO2, PM10, temperature),
// OffStreetParking (occupancy, availableSpotNumber, totalSpotNumber) and TrafficFlowObserved
// (intensity, averageSpeed, occupancy). Each stands at a random point inside a random Aarhus
// district (the demo city's GeoJSON, parsed by src/sim) and reports every 60 s of simulated time
// for H hours; the values follow src/sim's daily pattern (two rush hours, quiet nights) around a
// per-sensor level, with noise. Every value is a pure function of (seed, sensor, minute), so any
// slice of the history can be written on its own and two runs write the same bytes.
//
// Files written under --out (a "bodies" file holds request bodies separated by the byte 0x1E,
// the form civitas_loadgen --bodies reads):
//   civitas/entities.bodies     batches of whole entities for POST /entityOperations/upsert
//                               (their values: the city at --state-hour of the first day)
//   civitas/upsert.bodies       batches of the 3 attributes of every sensor (new values, no
//                               observedAt), for the batch-upsert scenario (options=update)
//   civitas/history-K.bodies    part K of the history: batches of the 3 attributes with
//                               observedAt, one simulated minute per batch row set
//   pg/entities.copy            COPY text: id, type, data (JSONB: the same entity), geom (EWKT)
//   pg/upsert-J.sql             multi-row INSERT ... ON CONFLICT DO UPDATE of one upsert batch
//   pg/history-K.copy           COPY text: entity, attribute, time, value (the narrow table)
//   influx/history-K.bodies     line protocol, one simulated minute of a batch of sensors per
//                               body (a point per sensor, its 3 attributes as fields)
//   city.json                   counts, the time window, a sample sensor, a query point and a
//                               district polygon for the geo scenarios

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/time.h"
#include "sim/model.h"

namespace civitas::bench {
namespace {

constexpr char kSep = '\x1e';
constexpr const char* kTypes[3] = {"AirQualityObserved", "OffStreetParking",
                                   "TrafficFlowObserved"};
constexpr const char* kAttrs[3][3] = {{"NO2", "PM10", "temperature"},
                                      {"occupancy", "availableSpotNumber", "totalSpotNumber"},
                                      {"intensity", "averageSpeed", "occupancy"}};

struct Options {
  uint64_t sensors = 10000;
  double hours = 2;
  uint64_t seed = 42;
  int batch = 1000;
  int parts = 1;
  int pg_upserts = 10;
  double state_hour = 8.5;
  std::string start = "2026-01-05T00:00:00Z";
  std::string districts;
  std::string out;
  bool history = true;
};

uint64_t Mix(uint64_t z) {  // splitmix64's finalizer
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double Unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }  // [0, 1)
double Noise(uint64_t seed, uint64_t sensor, int64_t minute, int which) {  // [-1, 1)
  return 2 * Unit(Mix(seed ^ Mix(sensor * 4 + static_cast<uint64_t>(which)) ^
                      Mix(static_cast<uint64_t>(minute) + 0x51ed27)) ) - 1;
}

struct Sensor {
  int kind;  // 0 air quality, 1 parking, 2 traffic
  double lon, lat;
  double level;  // per-sensor level in [0, 1)
  int capacity;  // parking spots
};

// The three values of a sensor at a minute since the start (rounded: 1 decimal, counts whole).
void Values(const Options& o, uint64_t i, const Sensor& s, int64_t minute, double v[3]) {
  double hour = std::fmod(static_cast<double>(minute) / 60.0, 24.0);
  double busy = sim::Busyness(hour);
  auto n = [&](int which) { return Noise(o.seed, i, minute, which); };
  switch (s.kind) {
    case 0:
      v[0] = std::max(1.0, 8 + 30 * s.level + 45 * busy * (0.5 + s.level) + 6 * n(0));  // NO2
      v[1] = std::max(1.0, 6 + 20 * s.level + 20 * busy + 4 * n(1));                   // PM10
      v[2] = 2 + 5 * std::sin((hour - 9) / 24 * 2 * M_PI) + 1.5 * n(2);                // °C
      break;
    case 1: {
      double occ = std::clamp(0.1 + 0.5 * s.level + 0.45 * busy + 0.08 * n(0), 0.0, 1.0);
      v[0] = occ;
      v[1] = std::round(s.capacity * (1 - occ));
      v[2] = s.capacity;
      break;
    }
    default:
      v[0] = std::max(0.0, std::round(3 + 40 * busy * (0.4 + s.level) + 3 * n(0)));  // veh/min
      v[1] = std::max(5.0, 62 - 30 * busy * (0.3 + s.level) + 4 * n(1));              // km/h
      v[2] = std::clamp(0.05 + 0.6 * busy * (0.3 + s.level) + 0.05 * n(2), 0.0, 1.0);
  }
  for (int k = 0; k < 3; ++k) v[k] = std::round(v[k] * 10) / 10;
  if (s.kind == 1 || s.kind == 2) v[0] = std::round(v[0] * 100) / 100;
  if (s.kind == 2) v[2] = std::round(v[2] * 100) / 100;
}

void Num(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
void Coord(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.6f", v);
  out.append(buf, static_cast<size_t>(n));
}

std::string IdOf(uint64_t i, int kind) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "urn:ngsi-ld:%s:%07llu", kTypes[kind],
                static_cast<unsigned long long>(i));
  return buf;
}

void AppendAttrs(std::string& out, int kind, const double v[3], const std::string& observed_at) {
  for (int k = 0; k < 3; ++k) {
    out += ",\"";
    out += kAttrs[kind][k];
    out += "\":{\"type\":\"Property\",\"value\":";
    Num(out, v[k]);
    if (!observed_at.empty()) {
      out += ",\"observedAt\":\"";
      out += observed_at;
      out += '"';
    }
    out += '}';
  }
}

std::string Location(const Sensor& s) {
  std::string out = "{\"type\":\"Point\",\"coordinates\":[";
  Coord(out, s.lon);
  out += ',';
  Coord(out, s.lat);
  out += "]}";
  return out;
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  return static_cast<bool>(f);
}

int Fail(const std::string& what) {
  std::cerr << "civitas_city_gen: " << what << "\n";
  return 1;
}

const char kUsage[] = R"(usage: civitas_city_gen --out DIR [options]
  --sensors N       sensors (default 10000; 3 .. 10000000)
  --hours H         simulated hours of history, one report per sensor per minute (default 2;
                    0 writes no history)
  --parts K         split the history into K files by time (default 1)
  --seed S          seed (default 42)
  --batch B         entities per request body (default 1000)
  --pg-upserts J    PostgreSQL upsert statements written (default 10)
  --start TIME      first instant of the history (default 2026-01-05T00:00:00Z)
  --state-hour H    hour of the first day whose values the entities are loaded with (default 8.5)
  --districts FILE  the districts' GeoJSON (default: data/demo/aarhus_local_community.wgs84.geojson
                    from the source tree)
)";

int Main(int argc, char** argv) {
  Options o;
#ifdef CIVITAS_SOURCE_DIR
  o.districts = std::string(CIVITAS_SOURCE_DIR) + "/data/demo/aarhus_local_community.wgs84.geojson";
#endif
  for (int a = 1; a < argc; ++a) {
    std::string k = argv[a];
    if (k == "-h" || k == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (a + 1 >= argc) return Fail(k + ": missing value\n" + kUsage);
    std::string v = argv[++a];
    char* end = nullptr;
    auto count = [&](uint64_t lo, uint64_t hi, uint64_t* out) {
      unsigned long long x = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || x < lo || x > hi) return false;
      *out = x;
      return true;
    };
    uint64_t n = 0;
    if (k == "--sensors") {
      if (!count(3, 10'000'000, &o.sensors)) return Fail("--sensors: expected 3..10000000");
    } else if (k == "--hours") {
      o.hours = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(o.hours >= 0 && o.hours <= 24 * 31)) {
        return Fail("--hours: expected 0..744");
      }
    } else if (k == "--parts") {
      if (!count(1, 1000, &n)) return Fail("--parts: expected 1..1000");
      o.parts = static_cast<int>(n);
    } else if (k == "--seed") {
      if (!count(0, UINT64_MAX, &o.seed)) return Fail("--seed: expected a number");
    } else if (k == "--batch") {
      if (!count(1, 100000, &n)) return Fail("--batch: expected 1..100000");
      o.batch = static_cast<int>(n);
    } else if (k == "--pg-upserts") {
      if (!count(0, 100000, &n)) return Fail("--pg-upserts: expected 0..100000");
      o.pg_upserts = static_cast<int>(n);
    } else if (k == "--state-hour") {
      o.state_hour = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(o.state_hour >= 0 && o.state_hour < 24)) {
        return Fail("--state-hour: expected 0..24");
      }
    } else if (k == "--start") {
      o.start = v;
    } else if (k == "--districts") {
      o.districts = v;
    } else if (k == "--out") {
      o.out = v;
    } else {
      return Fail("unknown option " + k + "\n" + kUsage);
    }
  }
  if (o.out.empty()) return Fail(std::string("--out is required\n") + kUsage);
  auto start = ParseDateTime(o.start);
  if (!start) return Fail("--start: not a date-time: " + o.start);
  std::ifstream gf(o.districts, std::ios::binary);
  std::stringstream gs;
  gs << gf.rdbuf();
  if (!gf) return Fail("cannot read the districts " + o.districts);
  auto districts = sim::ParseDistricts(gs.str());
  if (!districts.ok()) return Fail(std::string(districts.status().detail()));
  for (const char* d : {"", "/civitas", "/pg", "/influx"}) {
    std::string p = o.out + d;
    if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return Fail("cannot create " + p);
  }

  // Placement: a random district, then rejection sampling inside its bounding box.
  std::vector<Sensor> sensors(o.sensors);
  for (uint64_t i = 0; i < o.sensors; ++i) {
    Sensor& s = sensors[i];
    s.kind = static_cast<int>(i % 3);
    uint64_t h = Mix(o.seed ^ Mix(i + 0xc17a5));
    const sim::District& area = (*districts)[h % districts->size()];
    s.lon = (area.min_lon + area.max_lon) / 2;
    s.lat = (area.min_lat + area.max_lat) / 2;
    for (int tries = 0; tries < 1000; ++tries) {
      h = Mix(h);
      double x = area.min_lon + Unit(h) * (area.max_lon - area.min_lon);
      h = Mix(h);
      double y = area.min_lat + Unit(h) * (area.max_lat - area.min_lat);
      if (area.Contains(x, y)) {
        s.lon = x;
        s.lat = y;
        break;
      }
    }
    h = Mix(h);
    s.level = Unit(h);
    s.capacity = 50 + static_cast<int>(Mix(h) % 750);
  }

  const int64_t state_minute = static_cast<int64_t>(o.state_hour * 60);
  const uint64_t batches = (o.sensors + o.batch - 1) / o.batch;

  // Entities (Civitas bodies and PostgreSQL COPY) at the state minute.
  {
    std::ofstream civ(o.out + "/civitas/entities.bodies", std::ios::binary | std::ios::trunc);
    std::ofstream pg(o.out + "/pg/entities.copy", std::ios::binary | std::ios::trunc);
    std::string body, entity, copy;
    for (uint64_t b = 0; b < batches; ++b) {
      body = "[";
      copy.clear();
      for (uint64_t i = b * o.batch; i < std::min<uint64_t>(o.sensors, (b + 1) * o.batch); ++i) {
        const Sensor& s = sensors[i];
        double v[3];
        Values(o, i, s, state_minute, v);
        std::string id = IdOf(i, s.kind);
        entity = "{\"id\":\"" + id + "\",\"type\":\"" + kTypes[s.kind] + "\"";
        AppendAttrs(entity, s.kind, v, "");
        entity += ",\"location\":{\"type\":\"GeoProperty\",\"value\":" + Location(s) + "}}";
        if (body.size() > 1) body += ',';
        body += entity;
        copy += id + "\t" + kTypes[s.kind] + "\t" + entity + "\tSRID=4326;POINT(";
        Coord(copy, s.lon);
        copy += ' ';
        Coord(copy, s.lat);
        copy += ")\n";
      }
      body += ']';
      civ << body << kSep;
      pg << copy;
    }
    if (!civ || !pg) return Fail("cannot write the entities");
  }

  // Upsert batches: the next minute's values, without observedAt.
  {
    std::ofstream civ(o.out + "/civitas/upsert.bodies", std::ios::binary | std::ios::trunc);
    std::string body, sql;
    for (uint64_t b = 0; b < batches; ++b) {
      body = "[";
      sql = "INSERT INTO entities (id, type, data) VALUES\n";
      bool first = true;
      for (uint64_t i = b * o.batch; i < std::min<uint64_t>(o.sensors, (b + 1) * o.batch); ++i) {
        const Sensor& s = sensors[i];
        double v[3];
        Values(o, i, s, state_minute + 1, v);
        std::string id = IdOf(i, s.kind);
        std::string fragment = "{\"id\":\"" + id + "\",\"type\":\"" + kTypes[s.kind] + "\"";
        AppendAttrs(fragment, s.kind, v, "");
        fragment += '}';
        if (!first) {
          body += ',';
          sql += ",\n";
        }
        first = false;
        body += fragment;
        sql += "('" + id + "','" + kTypes[s.kind] + "','" + fragment + "')";
      }
      body += ']';
      civ << body << kSep;
      if (static_cast<int>(b) < o.pg_upserts) {
        sql += "\nON CONFLICT (id) DO UPDATE SET data = entities.data || excluded.data;\n";
        char name[64];
        std::snprintf(name, sizeof name, "/pg/upsert-%03llu.sql", static_cast<unsigned long long>(b));
        if (!WriteFile(o.out + name, sql)) return Fail("cannot write an upsert");
      }
    }
    if (!civ) return Fail("cannot write the upserts");
  }

  // History: minute m of [0, H*60) at start + m minutes, in --parts files by time.
  const int64_t minutes = static_cast<int64_t>(std::llround(o.hours * 60));
  uint64_t observations = 0;
  for (int part = 0; part < o.parts && minutes > 0; ++part) {
    int64_t m0 = minutes * part / o.parts, m1 = minutes * (part + 1) / o.parts;
    std::string suffix = "/history-" + std::to_string(part + 1);
    std::ofstream civ(o.out + "/civitas" + suffix + ".bodies", std::ios::binary | std::ios::trunc);
    std::ofstream pg(o.out + "/pg" + suffix + ".copy", std::ios::binary | std::ios::trunc);
    std::ofstream lp(o.out + "/influx" + suffix + ".bodies", std::ios::binary | std::ios::trunc);
    std::string body, copy, line;
    for (int64_t m = m0; m < m1; ++m) {
      Micros at = *start + m * 60'000'000;
      std::string iso = FormatDateTime(at);
      std::string secs = std::to_string(at / 1'000'000);
      for (uint64_t b = 0; b < batches; ++b) {
        body = "[";
        copy.clear();
        line.clear();
        for (uint64_t i = b * o.batch; i < std::min<uint64_t>(o.sensors, (b + 1) * o.batch);
             ++i) {
          const Sensor& s = sensors[i];
          double v[3];
          Values(o, i, s, m, v);
          std::string id = IdOf(i, s.kind);
          if (body.size() > 1) body += ',';
          body += "{\"id\":\"" + id + "\",\"type\":\"" + kTypes[s.kind] + "\"";
          AppendAttrs(body, s.kind, v, iso);
          body += '}';
          line += kTypes[s.kind];
          line += ",id=" + id + " ";
          for (int k = 0; k < 3; ++k) {
            copy += id + "\t" + kAttrs[s.kind][k] + "\t" + iso + "\t";
            Num(copy, v[k]);
            copy += '\n';
            if (k) line += ',';
            line += kAttrs[s.kind][k];
            line += '=';
            Num(line, v[k]);
          }
          line += ' ' + secs + '\n';
          observations += 3;
        }
        body += ']';
        civ << body << kSep;
        pg << copy;
        lp << line << kSep;
      }
    }
    if (!civ || !pg || !lp) return Fail("cannot write the history");
  }

  // city.json: what the harness needs to build its queries.
  uint64_t aq_sensors = (o.sensors + 2) / 3;
  // The geo-within scenario's polygon: the single-ring district closest to the centre of Aarhus
  // (Aarhus C, 880 vertices in the demo GeoJSON).
  const sim::District* within = nullptr;
  for (const auto& d : *districts) {
    if (d.rings.size() != 1) continue;
    auto dist = [](const sim::District& x) {
      double cx = (x.min_lon + x.max_lon) / 2 - 10.2039, cy = (x.min_lat + x.max_lat) / 2 - 56.1567;
      return cx * cx + cy * cy;
    };
    if (within == nullptr || dist(d) < dist(*within)) within = &d;
  }
  std::string polygon = "[[";
  if (within != nullptr) {
    for (size_t k = 0; k < within->rings[0].size(); ++k) {
      if (k) polygon += ',';
      polygon += '[';
      Coord(polygon, within->rings[0][k].first);
      polygon += ',';
      Coord(polygon, within->rings[0][k].second);
      polygon += ']';
    }
  }
  polygon += "]]";
  std::string meta = "{\"seed\":" + std::to_string(o.seed) +
                     ",\"sensors\":" + std::to_string(o.sensors) +
                     ",\"air_quality_sensors\":" + std::to_string(aq_sensors) +
                     ",\"batch\":" + std::to_string(o.batch) +
                     ",\"entity_batches\":" + std::to_string(batches) +
                     ",\"pg_upserts\":" + std::to_string(std::min<uint64_t>(batches, o.pg_upserts)) +
                     ",\"hours\":" + std::to_string(o.hours) +
                     ",\"minutes\":" + std::to_string(minutes) +
                     ",\"parts\":" + std::to_string(minutes > 0 ? o.parts : 0) +
                     ",\"observations\":" + std::to_string(observations) +
                     ",\"history_bodies\":" + std::to_string(minutes * batches) +
                     ",\"start\":\"" + FormatDateTime(*start) + "\"" +
                     ",\"end\":\"" + FormatDateTime(*start + minutes * 60'000'000) + "\"" +
                     ",\"sample_sensor\":\"" + IdOf(0, 0) + "\"" +
                     ",\"near_point\":[10.2039,56.1567]" +
                     ",\"within_district\":\"" + (within ? within->id : "") + "\"" +
                     ",\"within_polygon\":" + polygon + "}\n";
  if (!WriteFile(o.out + "/city.json", meta)) return Fail("cannot write city.json");
  std::cerr << "civitas_city_gen: " << o.sensors << " sensors, " << batches << " batches, "
            << observations << " observations over " << minutes << " minutes in " << o.out
            << "\n";
  return 0;
}

}  // namespace
}  // namespace civitas::bench

int main(int argc, char** argv) { return civitas::bench::Main(argc, argv); }
