#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace civitas::sim {

// The real city data `civitas replay` feeds (data/replay/, see data/ATTRIBUTION.md): the Aarhus
// road traffic week, the Aarhus car parks' occupancy and the Aberdeen particulate sensors.
enum class Dataset { kTraffic = 0, kParking = 1, kAir = 2 };
inline constexpr Dataset kDatasets[] = {Dataset::kTraffic, Dataset::kParking, Dataset::kAir};
std::string_view DatasetName(Dataset d);  // "traffic", "parking", "air"

// "2014-05-22 09:09:04.145", "2014-03-01T00:00:00": no zone, taken as UTC; a space or a T, and
// 0 to 3 fraction digits. nullopt for anything else.
std::optional<Micros> ParseCsvTimestamp(std::string_view s);

// Splits one line on `sep` (the files have no quoted fields); a trailing '\r' is dropped.
std::vector<std::string_view> SplitCsv(std::string_view line, char sep);

// The column positions a file's header gives; -1 when missing.
class Columns {
 public:
  Columns(std::string_view header, char sep);
  int operator[](std::string_view name) const;
  bool Has(std::initializer_list<std::string_view> names) const;

 private:
  std::vector<std::string> names_;
};

// One measure of one device: two values (traffic: vehicle count and average speed; parking:
// occupied and total spaces; air: PM10 and PM2.5, either may be missing as NaN).
struct ReplayRow {
  Micros at = 0;
  Dataset dataset = Dataset::kTraffic;
  uint32_t device = 0;  // index into the dataset's devices
  double a = 0, b = 0;
};

struct ReplayDevice {
  std::string id;  // device_id: "traffic-158324", "parking-NORREPORT", "air-15092"
  double lat = 0, lon = 0;
};

// A dataset's devices and rows; rows that do not parse (or name an unknown device) are counted.
struct DatasetRows {
  Dataset dataset = Dataset::kTraffic;
  std::vector<ReplayDevice> devices;
  std::vector<ReplayRow> rows;  // sorted by time
  uint64_t bad = 0;
};

// Parsers of the three formats, from the CSV text (header first). Locations come from the
// traffic segments' metadata (midpoint of the two end points) and the car parks' list
// (garagecode,lat,lon); the Aberdeen rows carry their own.
Result<DatasetRows> ParseTraffic(std::string_view csv, std::string_view metadata_csv);
Result<DatasetRows> ParseParking(std::string_view csv, std::string_view garages_csv);
Result<DatasetRows> ParseAir(std::string_view csv);

// Reads a whole file, gunzipping it when its name ends in .gz.
Result<std::string> ReadMaybeGzip(const std::string& path);

// The datasets recorded in different years are played side by side: each starts at the
// replay's start, and rows are merged by their offset from their own dataset's first row (ties:
// traffic, parking, air, then file order).
struct MergedRow {
  Micros offset;  // since the dataset's first row
  const DatasetRows* set;
  const ReplayRow* row;
};
std::vector<MergedRow> MergeByOffset(const std::vector<DatasetRows>& sets);

// Pacing: the wall-clock seconds after the start at which simulated offset is due; speedup 0
// means as fast as possible (always 0).
double WallDueSeconds(Micros offset, double speedup);

}  // namespace civitas::sim
