#include "storage/geo_index.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "query/geo_filter.h"

namespace civitas::storage {
namespace {

// Cells per degree of each grid level; beyond the last level an entry goes into one global cell.
constexpr double kCellsPerDegree[] = {256, 16, 1};
constexpr int kLevels = 3;
constexpr uint64_t kGlobalKey = uint64_t{kLevels} << 56;
// An entry goes into the finest level where it covers at most this many cells.
constexpr uint64_t kMaxCellsPerEntry = 16;
// A query covering more cells than this is answered with "scan everything".
constexpr uint64_t kMaxCellsPerQuery = 1 << 16;

struct CellRange {
  uint64_t x0, y0, x1, y1;
  uint64_t count() const { return (x1 - x0 + 1) * (y1 - y0 + 1); }
};

uint64_t Cell(double degrees, double offset, double per_degree) {
  double max = 2 * offset * per_degree - 1;  // the last cell (lon 180 / lat 90 fall into it)
  double c = std::floor((degrees + offset) * per_degree);
  return static_cast<uint64_t>(std::clamp(c, 0.0, max));
}

CellRange Range(const geo::Box& b, int level) {
  double n = kCellsPerDegree[level];
  return {Cell(b.min_lon, 180, n), Cell(b.min_lat, 90, n), Cell(b.max_lon, 180, n),
          Cell(b.max_lat, 90, n)};
}

uint64_t Key(int level, uint64_t x, uint64_t y) { return (uint64_t(level) << 56) | (x << 28) | y; }

bool HasGeoInstance(const ngsild::AttributeSlot& slot) {
  for (const auto& inst : slot.instances) {
    if (inst.GetString("type") == "GeoProperty") return true;
  }
  return false;
}

// True when no GeoProperty was added, removed or changed between the two states of an entity:
// most writes update readings, not places, and then the index entries stay as they are.
bool SameGeoProperties(const ngsild::Entity& before, const ngsild::Entity& after) {
  for (const auto& slot : after.attrs) {
    const ngsild::AttributeSlot* old = before.FindSlot(slot.name);
    bool geo = HasGeoInstance(slot);
    if (old == nullptr) {
      if (geo) return false;
      continue;
    }
    if ((geo || HasGeoInstance(*old)) && old->instances != slot.instances) return false;
  }
  for (const auto& slot : before.attrs) {
    if (after.FindSlot(slot.name) == nullptr && HasGeoInstance(slot)) return false;
  }
  return true;
}

}  // namespace

GeoIndex::Tenant* GeoIndex::Find(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second.get();
}

GeoIndex::Tenant* GeoIndex::GetOrCreate(std::string_view tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    it = tenants_.emplace(std::string(tenant), std::make_unique<Tenant>()).first;
  }
  return it->second.get();
}

void GeoIndex::Remove(Tenant& t, const std::string& id) {
  auto it = t.entries.find(id);
  if (it == t.entries.end()) return;
  const std::string* key_ptr = &it->first;
  for (const auto& [attr, key] : it->second) {
    auto cell = attr->cells.find(key);
    if (cell == attr->cells.end()) continue;
    auto& ids = cell->second;
    auto pos = std::find(ids.begin(), ids.end(), key_ptr);
    if (pos != ids.end()) {
      *pos = ids.back();
      ids.pop_back();
    }
    if (ids.empty()) attr->cells.erase(cell);
  }
  t.entries.erase(it);
}

void GeoIndex::Add(Tenant& t, const ngsild::Entity& e) {
  std::vector<std::pair<Attribute*, CellKey>> entries;
  const std::string* id = nullptr;
  for (const auto& slot : e.attrs) {
    std::vector<geo::Geometry> geometries = query::GeometriesOf(e, slot.name);
    if (geometries.empty()) continue;
    std::set<CellKey> keys;
    for (const auto& g : geometries) {
      if (g.empty()) continue;
      int level = 0;
      while (level < kLevels && Range(g.box, level).count() > kMaxCellsPerEntry) ++level;
      if (level == kLevels) {
        keys.insert(kGlobalKey);
        continue;
      }
      CellRange r = Range(g.box, level);
      for (uint64_t x = r.x0; x <= r.x1; ++x) {
        for (uint64_t y = r.y0; y <= r.y1; ++y) keys.insert(Key(level, x, y));
      }
    }
    if (keys.empty()) continue;
    if (id == nullptr) id = &t.entries.try_emplace(e.id).first->first;
    auto attr = t.attributes.find(slot.name);
    if (attr == t.attributes.end()) attr = t.attributes.emplace(slot.name, Attribute{}).first;
    for (CellKey key : keys) {
      attr->second.cells[key].push_back(id);
      entries.emplace_back(&attr->second, key);
    }
  }
  if (id != nullptr) t.entries[e.id] = std::move(entries);
}

void GeoIndex::OnChange(std::string_view tenant, const ngsild::EntityPtr& before,
                        const ngsild::EntityPtr& after) {
  if (!before && !after) return;
  if (before && after && SameGeoProperties(*before, *after)) return;
  Tenant* t = after ? GetOrCreate(tenant) : Find(tenant);
  if (t == nullptr) return;
  const std::string& id = after ? after->id : before->id;
  Remove(*t, id);
  if (after) Add(*t, *after);
}

std::optional<std::vector<std::string_view>> GeoIndex::Candidates(
    std::string_view tenant, std::string_view property, const std::vector<geo::Box>& boxes) const {
  std::vector<std::string_view> ids;
  Tenant* t = Find(tenant);
  if (t == nullptr) return ids;
  auto a = t->attributes.find(property);
  if (a == t->attributes.end()) return ids;
  const auto& cells = a->second.cells;
  uint64_t total = 0;
  for (int level = 0; level < kLevels; ++level) {
    for (const auto& b : boxes) total += Range(b, level).count();
  }
  if (total > kMaxCellsPerQuery) return std::nullopt;
  auto take = [&](CellKey key) {
    auto it = cells.find(key);
    if (it == cells.end()) return;
    for (const std::string* id : it->second) ids.emplace_back(*id);
  };
  for (int level = 0; level < kLevels; ++level) {
    for (const auto& b : boxes) {
      CellRange r = Range(b, level);
      for (uint64_t x = r.x0; x <= r.x1; ++x) {
        for (uint64_t y = r.y0; y <= r.y1; ++y) take(Key(level, x, y));
      }
    }
  }
  take(kGlobalKey);
  return ids;
}

size_t GeoIndex::Size(std::string_view tenant) const {
  Tenant* t = Find(tenant);
  return t == nullptr ? 0 : t->entries.size();
}

}  // namespace civitas::storage
