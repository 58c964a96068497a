#include "query/geo_filter.h"

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

bool GeoFilter::Matches(const ngsild::Entity& e) const {
  for (const auto& g : GeometriesOf(e, property)) {
    if (query.Matches(g)) return true;
  }
  return false;
}

}  // namespace civitas::query
