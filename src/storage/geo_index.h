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

#include "geo/geo_query.h"
#include "geo/geometry.h"
#include "storage/entity_index.h"

namespace civitas::storage {

// A spatial index of every GeoProperty of every entity, per tenant and attribute: a
// hierarchical grid of lon/lat cells. An entity goes into the finest level at which its bounding
// box covers few cells (1/256 degree, about 430 m, for points and small shapes; 1/16 degree for
// districts; 1 degree; then one list for the largest shapes). A query visits, at each level,
// the cells its search boxes cover. The index keeps each entity's geometries parsed (a point
// as its two coordinates), so it can also answer a geo-query exactly (Matching): it tests the
// candidates itself, and takes (or drops) the points of a cell, or of a part of a cell, that
// lies inside (or outside) the query's area without testing each (Tester).
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

  // The entities of `tenant` whose GeoProperty `property` matches `query` by the rules of
  // query::GeoFilter (exactly the entities it would accept, each once); nullopt when the query
  // has no search area (disjoint, near;minDistance) or covers so many cells that a scan is
  // cheaper. Same lifetime and locking as Candidates.
  std::optional<std::vector<std::string_view>> Matching(std::string_view tenant,
                                                        std::string_view property,
                                                        const geo::GeoQuery& query) const;

  // The count of Matching and its `want` smallest ids, in id order, without collecting every
  // match: cells keep their items in id order, so the smallest come from merging the cells, and
  // a cell inside the query's polygons is counted without testing its points. What a query
  // with nothing but a geo-query asks (a page and a count). nullopt as for Matching.
  struct Page {
    size_t count = 0;
    std::vector<std::string_view> first;
  };
  std::optional<Page> MatchingPage(std::string_view tenant, std::string_view property,
                                   const geo::GeoQuery& query, size_t want) const;

  // Number of entities of a tenant in the index; for tests.
  size_t Size(std::string_view tenant) const;

 private:
  using CellKey = uint64_t;
  // One geometry of one entity in one cell. Items point to the entity ids that are the keys of
  // Tenant::entries (the nodes of an unordered_map do not move), so an id is stored once however
  // many cells it is in, and candidates are collected without copying strings. A point is kept
  // inline; any other geometry is owned by the entity's Entry.
  struct Item {
    const std::string* id;
    const geo::Geometry* shape;  // null: a point
    geo::Point point;
  };
  struct IdLess {
    bool operator()(const Item& a, const std::string& id) const { return *a.id < id; }
    bool operator()(const std::string& id, const Item& a) const { return id < *a.id; }
  };
  struct Attribute {
    // The items of each cell, in id order.
    std::unordered_map<CellKey, std::vector<Item>> cells;
    // Entities with more than one item in this attribute (several cells or instances): while
    // there are none, Matching yields each id at most once without removing duplicates.
    size_t multi = 0;
  };
  struct Entry {
    // What the entity is indexed under: (attribute, cell), to remove it again.
    std::vector<std::pair<Attribute*, CellKey>> cells;
    std::vector<std::unique_ptr<const geo::Geometry>> shapes;
    std::vector<Attribute*> multi;  // the attributes whose `multi` it counts in
  };
  struct Tenant {
    std::map<std::string, Attribute, std::less<>> attributes;
    std::unordered_map<std::string, Entry> entries;
  };

  // The exact test of items against one query. A point is tested without allocating. Before
  // the items of a cell, Enter says whether the query's area holds all of the cell, none of it
  // or some: where the border of a `within`/`intersects` polygon or of a `near;maxDistance`
  // circle crosses a finest-level cell that holds many points, the cell is divided into
  // kSub x kSub parts (a quadtree, refined only where the border passes), so that only the
  // points of the parts on the border are tested one by one.
  class Tester {
   public:
    enum class Fill : uint8_t { kNone, kAll, kSome };
    // search: the query's SearchBoxes.
    Tester(const geo::GeoQuery& query, const std::vector<geo::Box>& search);
    // Where the query's area lies in cell (level, x, y), which holds `items` items: kAll (every
    // point item matches) or kNone (no point item matches) when known; shapes are always
    // tested. Prepares Matches for the cell's items.
    Fill Enter(int level, uint64_t x, uint64_t y, size_t items);
    // Whether an item of the cell last entered matches.
    bool Matches(const Item& item);

   private:
    static constexpr int kSub = 8;
    enum Part : uint8_t { kOut, kIn, kTest };
    // Whether the whole box is in the query's area (true), out of it (false), or not known.
    // For polygons, depth is the box's depth in the quadtree (0: the cell): Classify keeps the
    // edges near it in edges_[depth], and looks among those of depth - 1.
    std::optional<bool> Classify(const geo::Box& box, int depth);
    void Divide(int sx, int sy, int span, int depth);
    geo::Box SubBox(int sx, int sy, int span) const;

    const geo::GeoQuery& query_;
    const bool area_;  // within/intersects polygons: point location in the prepared polygons
    const bool near_;  // near;maxDistance from one point
    const std::vector<geo::Box>& search_;
    geo::Geometry point_;   // reused for every point item
    bool divided_ = false;  // parts_ is valid for the cell (cell_x_, cell_y_) at level 0
    uint64_t cell_x_ = 0, cell_y_ = 0;
    Part parts_[kSub * kSub];
    std::vector<uint32_t> edges_[4];  // one per depth: 1, 2, 4, 8 parts a side
  };
  Tenant* Find(std::string_view tenant) const;
  Tenant* GetOrCreate(std::string_view tenant);
  static void Remove(Tenant& t, const std::string& id);
  static void Add(Tenant& t, const ngsild::Entity& e);
  template <typename F>
  static bool ForEachCell(const Attribute& a, const std::vector<geo::Box>& boxes, F fn);

  mutable std::mutex mu_;  // guards the map of tenants, not the tenants (see EntityIndex)
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace civitas::storage
