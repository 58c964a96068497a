#include "query/geo_filter.h"

#include <cmath>

namespace civitas::query {

std::vector<geo::Geometry> GeometriesOf(const ngsild::Entity& e, std::string_view property) {
  std::vector<geo::Geometry> out;
  const ngsild::AttributeSlot* slot = e.FindSlot(property);
  if (slot == nullptr) return out;
  for (const auto& inst : slot->instances) {
    // Only GeoProperty instances: a Property whose value happens to look like GeoJSON is data.
    if (inst.GetString("type") != "GeoProperty") continue;
    const Json* v = inst.Find("value");
    if (v == nullptr || !v->is_object()) continue;  // e.g. the "urn:ngsi-ld:null" literal
    auto g = geo::ParseGeoJson(*v);
    if (g.ok()) out.push_back(std::move(*g));
  }
  return out;
}

namespace {

// A Point value read without the general parser (most city entities are points, and a query
// reads every candidate's value): the same result as geo::ParseGeoJson for a valid Point;
// false for anything else, which then takes the general path.
bool ReadPoint(const Json& v, geo::Geometry* g) {
  if (v.GetString("type") != "Point") return false;
  const Json* c = v.Find("coordinates");
  if (c == nullptr || !c->is_array() || c->size() < 2 || c->size() > 3) return false;
  for (const auto& x : c->as_array()) {
    if (!x.is_number() || !std::isfinite(x.as_double())) return false;
  }
  geo::Point p{c->as_array()[0].as_double(), c->as_array()[1].as_double()};
  if (p.lon < -180 || p.lon > 180 || p.lat < -90 || p.lat > 90) return false;
  g->type = "Point";
  g->points.assign(1, p);
  g->box = {p.lon, p.lat, p.lon, p.lat};
  return true;
}

}  // namespace

bool GeoFilter::Matches(const ngsild::Entity& e) const {
  const ngsild::AttributeSlot* slot = e.FindSlot(property);
  if (slot == nullptr) return false;
  geo::Geometry point;
  for (const auto& inst : slot->instances) {
    if (inst.GetString("type") != "GeoProperty") continue;
    const Json* v = inst.Find("value");
    if (v == nullptr || !v->is_object()) continue;
    if (ReadPoint(*v, &point)) {
      if (query.Matches(point)) return true;
      continue;
    }
    auto g = geo::ParseGeoJson(*v);
    if (g.ok() && query.Matches(*g)) return true;
  }
  return false;
}

}  // namespace civitas::query
