#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/time.h"

namespace civitas::sim {

// What `civitas simulate` pretends to be: a city's sensor fleet. Each kind of device is one IoT
// Agent service group (its own API key and entity type) and sends JSON measures whose values
// follow a daily pattern (rush hours, daylight) with noise.
enum class Kind { kAirQuality, kParking, kTraffic, kNoise, kStreetLight };
inline constexpr Kind kKinds[] = {Kind::kAirQuality, Kind::kParking, Kind::kTraffic, Kind::kNoise,
                                  Kind::kStreetLight};

std::string_view EntityTypeOf(Kind k);  // "AirQualityObserved", ...
std::string ApiKeyOf(Kind k);           // "sim-airquality", ...

struct SimDevice {
  Kind kind;
  std::string id;  // "aq-0007"
  double lat = 0, lon = 0;
  std::string district;  // entity id of the district it stands in, "" when not placed in one
};

// An area devices are placed in: the outer rings of a (Multi)Polygon, lon/lat.
struct District {
  std::string id;  // urn:ngsi-ld:AdministrativeArea:aarhus:district:<n>, as the demo city loads it
  std::vector<std::vector<std::pair<double, double>>> rings;
  double min_lon = 180, max_lon = -180, min_lat = 90, max_lat = -90;
  bool Contains(double lon, double lat) const;
};

// The districts of the demo city's GeoJSON (data/demo/aarhus_local_community.wgs84.geojson).
// BadRequestData if it is not a FeatureCollection of (Multi)Polygons with "lokalsamfund".
Result<std::vector<District>> ParseDistricts(std::string_view geojson);

// n devices, kinds in turn, placed at random (seeded): inside a random district when districts
// are given, else over Aarhus' extent (roughly 56.10-56.20 N, 10.10-10.25 E).
std::vector<SimDevice> MakeFleet(int n, uint64_t seed, const std::vector<District>& districts = {});

// 0..1: how busy the city is at this hour of the day (two rush hours, quiet nights).
double Busyness(double hour_of_day);

// One measure of a device at a simulated instant: {"<object_id>": value, ..., "TimeInstant"}.
Json MakeMeasure(const SimDevice& d, Micros at, std::mt19937_64& rng);

// Provisioning bodies for the IoT Agent API: every kind's service group (with attribute
// mappings and units), and the devices given (with their location as a static attribute).
Json ServiceGroupsBody();
Json DevicesBody(const std::vector<SimDevice>& devices, size_t from, size_t count);

}  // namespace civitas::sim
