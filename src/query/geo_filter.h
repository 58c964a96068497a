#pragma once

#include <string>

#include "geo/geo_query.h"
#include "ngsild/entity.h"

namespace civitas::query {

// A geo-query applied to entities: `query` evaluated on the GeoProperty `property` (expanded
// IRI). An entity without that attribute, or whose value is not a valid geometry, does not match
// (not even `disjoint`: there is nothing to compare). With several instances (datasetId), one
// matching instance is enough.
struct GeoFilter {
  geo::GeoQuery query;
  std::string property;

  bool Matches(const ngsild::Entity& e) const;
};

// The GeoJSON geometry values of the entity's attribute `property` (one per instance that holds
// a valid geometry). The spatial index reads entities with it; GeoFilter applies the same rules
// (with a shortcut for Point values), so both see the same geometries.
std::vector<geo::Geometry> GeometriesOf(const ngsild::Entity& e, std::string_view property);

}  // namespace civitas::query
