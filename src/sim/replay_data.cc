#include "sim/replay_data.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace civitas::sim {
namespace {

bool ToDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

bool Digits(std::string_view s, size_t at, size_t n, int* out) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::string_view Field(const std::vector<std::string_view>& f, int i) {
  return i >= 0 && static_cast<size_t>(i) < f.size() ? f[i] : std::string_view();
}

// Calls fn(line) for each line after the header; returns the header.
template <typename Fn>
std::string_view ForEachLine(std::string_view csv, Fn fn) {
  size_t nl = csv.find('\n');
  std::string_view header = csv.substr(0, nl);
  size_t pos = nl == std::string_view::npos ? csv.size() : nl + 1;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view line = csv.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) fn(line);
    pos = end + 1;
  }
  return header;
}

std::string_view HeaderOf(std::string_view csv) {
  std::string_view h = csv.substr(0, csv.find('\n'));
  if (!h.empty() && h.back() == '\r') h.remove_suffix(1);
  return h;
}

void SortRows(DatasetRows* d) {
  std::stable_sort(d->rows.begin(), d->rows.end(),
                   [](const ReplayRow& x, const ReplayRow& y) { return x.at < y.at; });
}

// Finds or adds the device `id` and returns its index.
uint32_t DeviceIndex(DatasetRows* d, std::map<std::string, uint32_t, std::less<>>* index,
                     std::string_view id, double lat, double lon) {
  auto it = index->find(id);
  if (it != index->end()) return it->second;
  uint32_t i = static_cast<uint32_t>(d->devices.size());
  d->devices.push_back({std::string(id), lat, lon});
  index->emplace(std::string(id), i);
  return i;
}

// The rows of a dataset whose devices are known beforehand (in `index`, by prefix + the `key`
// column): the instant from column `ts`, the values a and b from columns `ca` and `cb`. Rows
// that do not parse, name an unknown device or (when nonnegative) have a negative value are
// counted in d->bad.
void ReadRows(std::string_view csv, char sep, int key, int ts, int ca, int cb,
              std::string_view prefix, const std::map<std::string, uint32_t, std::less<>>& index,
              bool nonnegative, DatasetRows* d) {
  ForEachLine(csv, [&](std::string_view line) {
    auto f = SplitCsv(line, sep);
    ReplayRow r;
    r.dataset = d->dataset;
    auto at = ParseCsvTimestamp(Field(f, ts));
    auto it = index.find(std::string(prefix) + std::string(Field(f, key)));
    if (!at || it == index.end() || !ToDouble(Field(f, ca), &r.a) ||
        !ToDouble(Field(f, cb), &r.b) || (nonnegative && (r.a < 0 || r.b < 0))) {
      ++d->bad;
      return;
    }
    r.at = *at;
    r.device = it->second;
    d->rows.push_back(r);
  });
}

}  // namespace

std::string_view DatasetName(Dataset d) {
  switch (d) {
    case Dataset::kTraffic:
      return "traffic";
    case Dataset::kParking:
      return "parking";
    case Dataset::kAir:
      return "air";
  }
  return "";
}

std::optional<Micros> ParseCsvTimestamp(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 19 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  int64_t frac = 0;
  if (s.size() > 19) {
    size_t n = s.size() - 20;
    int f = 0;
    if (s[19] != '.' || n < 1 || n > 3 || !Digits(s, 20, n, &f)) return std::nullopt;
    frac = f * (n == 1 ? 100000 : n == 2 ? 10000 : 1000);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60 * int64_t{1000000} + sec * int64_t{1000000} + frac;
}

std::vector<std::string_view> SplitCsv(std::string_view line, char sep) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t at = line.find(sep, pos);
    out.push_back(
        line.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) break;
    pos = at + 1;
  }
  return out;
}

Columns::Columns(std::string_view header, char sep) {
  for (std::string_view n : SplitCsv(header, sep)) names_.emplace_back(n);
}

int Columns::operator[](std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

bool Columns::Has(std::initializer_list<std::string_view> names) const {
  for (std::string_view n : names) {
    if ((*this)[n] < 0) return false;
  }
  return true;
}

Result<DatasetRows> ParseTraffic(std::string_view csv, std::string_view metadata_csv) {
  Columns mc(HeaderOf(metadata_csv), ',');
  if (!mc.Has({"REPORT_ID", "POINT_1_LAT", "POINT_1_LNG", "POINT_2_LAT", "POINT_2_LNG"})) {
    return Status::BadRequest("traffic metadata: missing REPORT_ID or POINT_1/2_LAT/LNG columns");
  }
  DatasetRows d;
  d.dataset = Dataset::kTraffic;
  std::map<std::string, uint32_t, std::less<>> index;
  ForEachLine(metadata_csv, [&](std::string_view line) {
    auto f = SplitCsv(line, ',');
    double lat1, lon1, lat2, lon2;
    if (!ToDouble(Field(f, mc["POINT_1_LAT"]), &lat1) ||
        !ToDouble(Field(f, mc["POINT_1_LNG"]), &lon1) ||
        !ToDouble(Field(f, mc["POINT_2_LAT"]), &lat2) ||
        !ToDouble(Field(f, mc["POINT_2_LNG"]), &lon2) || Field(f, mc["REPORT_ID"]).empty()) {
      return;
    }
    DeviceIndex(&d, &index, "traffic-" + std::string(Field(f, mc["REPORT_ID"])), (lat1 + lat2) / 2,
                (lon1 + lon2) / 2);
  });
  Columns c(HeaderOf(csv), ',');
  if (!c.Has({"REPORT_ID", "TIMESTAMP", "vehicleCount", "avgSpeed"})) {
    return Status::BadRequest("traffic: missing REPORT_ID, TIMESTAMP, vehicleCount or avgSpeed");
  }
  ReadRows(csv, ',', c["REPORT_ID"], c["TIMESTAMP"], c["vehicleCount"], c["avgSpeed"], "traffic-",
           index, false, &d);
  SortRows(&d);
  return d;
}

Result<DatasetRows> ParseParking(std::string_view csv, std::string_view garages_csv) {
  Columns gc(HeaderOf(garages_csv), ',');
  if (!gc.Has({"garagecode", "lat", "lon"})) {
    return Status::BadRequest("garage locations: expected garagecode,lat,lon");
  }
  DatasetRows d;
  d.dataset = Dataset::kParking;
  std::map<std::string, uint32_t, std::less<>> index;
  ForEachLine(garages_csv, [&](std::string_view line) {
    auto f = SplitCsv(line, ',');
    double lat, lon;
    if (ToDouble(Field(f, gc["lat"]), &lat) && ToDouble(Field(f, gc["lon"]), &lon) &&
        !Field(f, gc["garagecode"]).empty()) {
      DeviceIndex(&d, &index, "parking-" + std::string(Field(f, gc["garagecode"])), lat, lon);
    }
  });
  Columns c(HeaderOf(csv), ',');
  if (!c.Has({"garagecode", "updatetime", "vehiclecount", "totalspaces"})) {
    return Status::BadRequest(
        "parking: missing garagecode, updatetime, vehiclecount or totalspaces");
  }
  // More vehicles than spaces happens in the real data; it is sent as recorded.
  ReadRows(csv, ',', c["garagecode"], c["updatetime"], c["vehiclecount"], c["totalspaces"],
           "parking-", index, true, &d);
  SortRows(&d);
  return d;
}

Result<DatasetRows> ParseAir(std::string_view csv) {
  Columns c(HeaderOf(csv), ';');
  if (!c.Has({"sensor_id", "lat", "lon", "timestamp", "P1", "P2"})) {
    return Status::BadRequest("air: expected ;-separated sensor_id, lat, lon, timestamp, P1, P2");
  }
  DatasetRows d;
  d.dataset = Dataset::kAir;
  std::map<std::string, uint32_t, std::less<>> index;
  const int id = c["sensor_id"], lat = c["lat"], lon = c["lon"], ts = c["timestamp"], p1 = c["P1"],
            p2 = c["P2"];
  ForEachLine(csv, [&](std::string_view line) {
    auto f = SplitCsv(line, ';');
    ReplayRow r;
    r.dataset = Dataset::kAir;
    auto at = ParseCsvTimestamp(Field(f, ts));
    double la, lo;
    bool has1 = ToDouble(Field(f, p1), &r.a), has2 = ToDouble(Field(f, p2), &r.b);
    if (!at || Field(f, id).empty() || !ToDouble(Field(f, lat), &la) ||
        !ToDouble(Field(f, lon), &lo) || (!has1 && !has2)) {
      ++d.bad;
      return;
    }
    if (!has1) r.a = NAN;
    if (!has2) r.b = NAN;
    r.at = *at;
    r.device = DeviceIndex(&d, &index, "air-" + std::string(Field(f, id)), la, lo);
    d.rows.push_back(r);
  });
  SortRows(&d);
  return d;
}

Result<std::string> ReadMaybeGzip(const std::string& path) {
  if (path.size() < 3 || path.compare(path.size() - 3, 3, ".gz") != 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound("cannot read " + path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Status::NotFound("cannot read " + path);
  gzbuffer(f, 1 << 17);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  bool ok = n == 0;
  gzclose(f);
  if (!ok) return Status::BadRequest("corrupt gzip file " + path);
  return out;
}

std::vector<MergedRow> MergeByOffset(const std::vector<DatasetRows>& sets) {
  std::vector<MergedRow> out;
  size_t total = 0;
  for (const auto& s : sets) total += s.rows.size();
  out.reserve(total);
  for (const auto& s : sets) {
    if (s.rows.empty()) continue;
    const Micros first = s.rows.front().at;
    for (const auto& r : s.rows) out.push_back({r.at - first, &s, &r});
  }
  std::stable_sort(out.begin(), out.end(), [](const MergedRow& x, const MergedRow& y) {
    if (x.offset != y.offset) return x.offset < y.offset;
    return x.set->dataset < y.set->dataset;
  });
  return out;
}

double WallDueSeconds(Micros offset, double speedup) {
  if (speedup <= 0) return 0;
  return static_cast<double>(offset) / 1e6 / speedup;
}

}  // namespace civitas::sim
