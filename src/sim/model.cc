#include "sim/model.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <cstdio>

#include "sim/feed.h"

namespace civitas::sim {
namespace {

double Clamp(double v, double lo, double hi) { return std::max(lo, std::min(hi, v)); }
double Round1(double v) { return std::round(v * 10) / 10; }

double HourOf(Micros at) {
  int64_t seconds_of_day = ((at / 1000000) % 86400 + 86400) % 86400;
  return static_cast<double>(seconds_of_day) / 3600.0;
}


const char* Prefix(Kind k) {
  switch (k) {
    case Kind::kAirQuality: return "aq";
    case Kind::kParking: return "park";
    case Kind::kTraffic: return "traffic";
    case Kind::kNoise: return "noise";
    case Kind::kStreetLight: return "light";
  }
  return "dev";
}

}  // namespace

std::string_view EntityTypeOf(Kind k) {
  switch (k) {
    case Kind::kAirQuality: return "AirQualityObserved";
    case Kind::kParking: return "ParkingSpot";
    case Kind::kTraffic: return "TrafficFlowObserved";
    case Kind::kNoise: return "NoiseLevelObserved";
    case Kind::kStreetLight: return "Streetlight";
  }
  return "Thing";
}

std::string ApiKeyOf(Kind k) {
  switch (k) {
    case Kind::kAirQuality: return "sim-airquality";
    case Kind::kParking: return "sim-parking";
    case Kind::kTraffic: return "sim-traffic";
    case Kind::kNoise: return "sim-noise";
    case Kind::kStreetLight: return "sim-streetlight";
  }
  return "sim";
}

bool District::Contains(double lon, double lat) const {
  bool inside = false;
  for (const auto& ring : rings) {  // even-odd over all rings: holes would count too
    for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
      const auto& [xi, yi] = ring[i];
      const auto& [xj, yj] = ring[j];
      if ((yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
  }
  return inside;
}

Result<std::vector<District>> ParseDistricts(std::string_view geojson) {
  auto doc = ParseJson(geojson, 64);
  if (!doc.ok()) return doc.status();
  const Json* features = doc->Find("features");
  if (features == nullptr || !features->is_array()) {
    return Status::BadRequest("districts: not a GeoJSON FeatureCollection");
  }
  std::vector<District> out;
  for (const Json& f : features->as_array()) {
    const Json* props = f.Find("properties");
    const Json* geometry = f.Find("geometry");
    const Json* coords = geometry != nullptr ? geometry->Find("coordinates") : nullptr;
    if (props == nullptr || coords == nullptr || !coords->is_array()) continue;
    District d;
    d.id = "urn:ngsi-ld:AdministrativeArea:aarhus:district:" +
           std::string(props->GetString("lokalsamfund"));
    std::vector<const Json*> polygons;
    if (geometry->GetString("type") == "Polygon") {
      polygons.push_back(coords);
    } else if (geometry->GetString("type") == "MultiPolygon") {
      for (const Json& p : coords->as_array()) polygons.push_back(&p);
    }
    for (const Json* polygon : polygons) {
      if (!polygon->is_array() || polygon->as_array().empty()) continue;
      const Json& outer = polygon->as_array()[0];
      if (!outer.is_array()) continue;
      std::vector<std::pair<double, double>> ring;
      for (const Json& pos : outer.as_array()) {
        if (!pos.is_array() || pos.size() < 2 || !pos.as_array()[0].is_number() ||
            !pos.as_array()[1].is_number()) {
          continue;
        }
        double lon = pos.as_array()[0].as_double(), lat = pos.as_array()[1].as_double();
        d.min_lon = std::min(d.min_lon, lon);
        d.max_lon = std::max(d.max_lon, lon);
        d.min_lat = std::min(d.min_lat, lat);
        d.max_lat = std::max(d.max_lat, lat);
        ring.emplace_back(lon, lat);
      }
      if (ring.size() >= 4) d.rings.push_back(std::move(ring));
    }
    if (!d.rings.empty() && !props->GetString("lokalsamfund").empty()) out.push_back(std::move(d));
  }
  if (out.empty()) return Status::BadRequest("districts: no (Multi)Polygon with lokalsamfund");
  return out;
}

std::vector<SimDevice> MakeFleet(int n, uint64_t seed, const std::vector<District>& districts) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lat(56.10, 56.20), lon(10.10, 10.25), unit(0, 1);
  std::vector<SimDevice> fleet;
  int per_kind[std::size(kKinds)] = {};
  for (int i = 0; i < n; ++i) {
    size_t k = static_cast<size_t>(i) % std::size(kKinds);
    char id[32];
    std::snprintf(id, sizeof id, "%s-%04d", Prefix(kKinds[k]), per_kind[k]++);
    SimDevice d{kKinds[k], id, lat(rng), lon(rng), ""};
    if (!districts.empty()) {
      const District& area = districts[rng() % districts.size()];
      // Rejection sampling in the bounding box; districts are compact, so this ends quickly.
      for (int tries = 0; tries < 1000; ++tries) {
        double x = area.min_lon + unit(rng) * (area.max_lon - area.min_lon);
        double y = area.min_lat + unit(rng) * (area.max_lat - area.min_lat);
        if (area.Contains(x, y)) {
          d.lon = x;
          d.lat = y;
          d.district = area.id;
          break;
        }
      }
    }
    fleet.push_back(std::move(d));
  }
  return fleet;
}

double Busyness(double h) {
  auto bump = [](double h, double at, double width) {
    return std::exp(-(h - at) * (h - at) / (2 * width * width));
  };
  double day = 0.25 + 0.35 * bump(h, 13, 4.0);  // the working day
  return Clamp(day + 0.6 * bump(h, 8, 1.2) + 0.55 * bump(h, 17, 1.5) - 0.2 * bump(h, 3, 2.0),
               0.02, 1.0);
}

Json MakeMeasure(const SimDevice& d, Micros at, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, 1.0);
  const double h = HourOf(at);
  const double busy = Busyness(h);
  Json m = Json::MakeObject();
  switch (d.kind) {
    case Kind::kAirQuality: {
      double t = 8 + 6 * std::sin((h - 9) / 24 * 2 * std::numbers::pi) + noise(rng) * 0.3;
      m.Set("t", Round1(t));
      m.Set("no2", Round1(Clamp(12 + 45 * busy + noise(rng) * 4, 0, 400)));
      m.Set("pm10", Round1(Clamp(8 + 20 * busy + noise(rng) * 3, 0, 500)));
      break;
    }
    case Kind::kParking:
      m.Set("occ", noise(rng) + 2 * busy - 0.6 > 0 ? "occupied" : "free");
      break;
    case Kind::kTraffic:
      m.Set("flow", static_cast<int64_t>(Clamp(900 * busy + noise(rng) * 40, 0, 3000)));
      m.Set("speed", Round1(Clamp(50 - 25 * busy + noise(rng) * 3, 3, 90)));
      break;
    case Kind::kNoise:
      m.Set("LAeq", Round1(Clamp(42 + 28 * busy + noise(rng) * 2, 25, 110)));
      break;
    case Kind::kStreetLight: {
      bool on = h < 7.5 || h > 16.5;  // Aarhus in December: a short day
      m.Set("on", on ? "true" : "false");
      m.Set("power", Round1(on ? 38 + noise(rng) : 0.4));
      break;
    }
  }
  m.Set("TimeInstant", FormatDateTime(at));
  return m;
}

Json ServiceGroupsBody() {
  Json services = Json::MakeArray();
  for (Kind k : kKinds) {
    Json g = Json::MakeObject();
    g.Set("apikey", ApiKeyOf(k));
    g.Set("entity_type", EntityTypeOf(k));
    g.Set("resource", "/iot/json");
    Json attrs = Json::MakeArray();
    switch (k) {
      case Kind::kAirQuality:
        attrs.Push(AttributeMapping("t", "temperature", "Number", "CEL"));
        attrs.Push(AttributeMapping("no2", "NO2", "Number", "GQ"));
        attrs.Push(AttributeMapping("pm10", "PM10", "Number", "GQ"));
        break;
      case Kind::kParking:
        attrs.Push(AttributeMapping("occ", "status", "Text"));
        break;
      case Kind::kTraffic:
        attrs.Push(AttributeMapping("flow", "intensity", "Number"));
        attrs.Push(AttributeMapping("speed", "averageVehicleSpeed", "Number", "KMH"));
        break;
      case Kind::kNoise:
        attrs.Push(AttributeMapping("LAeq", "LAeq", "Number", "2N"));
        break;
      case Kind::kStreetLight:
        attrs.Push(AttributeMapping("on", "powerState", "Boolean"));
        attrs.Push(AttributeMapping("power", "powerConsumption", "Number", "WTT"));
        break;
    }
    g.Set("attributes", std::move(attrs));
    services.Push(std::move(g));
  }
  Json body = Json::MakeObject();
  body.Set("services", std::move(services));
  return body;
}

Json DevicesBody(const std::vector<SimDevice>& devices, size_t from, size_t count) {
  Json list = Json::MakeArray();
  for (size_t i = from; i < devices.size() && i < from + count; ++i) {
    const SimDevice& d = devices[i];
    Json dev = Json::MakeObject();
    dev.Set("device_id", d.id);
    dev.Set("entity_type", EntityTypeOf(d.kind));
    dev.Set("apikey", ApiKeyOf(d.kind));
    dev.Set("transport", "MQTT");
    Json point = Json::MakeObject();
    point.Set("type", "Point");
    Json coords = Json::MakeArray();
    coords.Push(Round1(d.lon * 100000) / 100000);
    coords.Push(Round1(d.lat * 100000) / 100000);
    point.Set("coordinates", std::move(coords));
    Json location = Json::MakeObject();
    location.Set("name", "location");
    location.Set("type", "geo:json");
    location.Set("value", std::move(point));
    Json statics = Json::MakeArray();
    statics.Push(std::move(location));
    if (!d.district.empty()) {
      Json ref = Json::MakeObject();
      ref.Set("name", "refDistrict");
      ref.Set("type", "Relationship");
      ref.Set("value", d.district);
      statics.Push(std::move(ref));
    }
    dev.Set("static_attributes", std::move(statics));
    list.Push(std::move(dev));
  }
  Json body = Json::MakeObject();
  body.Set("devices", std::move(list));
  return body;
}

}  // namespace civitas::sim
