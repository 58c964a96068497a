#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "geo/geometry.h"
#include "storage/entity_index.h"

namespace civitas::storage {

// A spatial index of every GeoProperty of every entity, per tenant and attribute: a
// hierarchical grid of lon/lat cells. An entity goes into the finest level at which its bounding
// box covers few cells (1/256 degree, about 430 m, for points and small shapes; 1/16 degree for
// districts; 1 degree; then one list for the largest shapes). A query visits, at each level,
// the cells its search boxes cover, and the answer is a superset of the matches: the caller
// applies the exact predicate (query::GeoFilter) to each candidate.
//
// Why a grid and not an R-tree or S2: updates are O(cells) with no rebalancing, the code is
// short, and for the data of a city (points, segments and a few hundred districts) a
// `near;maxDistance==500` visits a handful of cells. Thread-safety: see EntityIndex.
class GeoIndex : public EntityIndex {
 public:
  void OnChange(std::string_view tenant, const ngsild::EntityPtr& before,
                const ngsild::EntityPtr& after) override;

  // Ids of the entities of `tenant` whose GeoProperty `property` (expanded IRI) has a bounding box
  // that may intersect one of `boxes`; nullopt when the boxes cover so many cells that a scan is
  // cheaper. Must be called under the tenant's shared lock (EntityStore::ForEachCandidate).
  // The ids point into the index: they are valid as long as the tenant's lock is held.
  std::optional<std::vector<std::string_view>> Candidates(std::string_view tenant,
                                                          std::string_view property,
                                                          const std::vector<geo::Box>& boxes) const;

  // Number of (entity, attribute) entries of a tenant; for tests.
  size_t Size(std::string_view tenant) const;

 private:
  using CellKey = uint64_t;
  // Cells hold pointers to the entity ids that are the keys of Tenant::entries (the nodes of an
  // unordered_map do not move), so an id is stored once however many cells it is in, and
  // candidates are collected without copying strings.
  struct Attribute {
    std::unordered_map<CellKey, std::vector<const std::string*>> cells;
  };
  struct Tenant {
    std::map<std::string, Attribute, std::less<>> attributes;
    // What each entity is indexed under: (attribute, cell) pairs, to remove it again.
    std::unordered_map<std::string, std::vector<std::pair<Attribute*, CellKey>>> entries;
  };

  Tenant* Find(std::string_view tenant) const;
  Tenant* GetOrCreate(std::string_view tenant);
  static void Remove(Tenant& t, const std::string& id);
  static void Add(Tenant& t, const ngsild::Entity& e);

  mutable std::mutex mu_;  // guards the map of tenants, not the tenants (see EntityIndex)
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace civitas::storage
