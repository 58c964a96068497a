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
  for (const auto& [attr, key] : it->second.cells) {
    auto cell = attr->cells.find(key);
    if (cell == attr->cells.end()) continue;
    auto& items = cell->second;
    // Its items (one per geometry in this cell) are together, in id order.
    auto [from, to] = std::equal_range(items.begin(), items.end(), *key_ptr, IdLess{});
    items.erase(from, to);
    if (items.empty()) attr->cells.erase(cell);
  }
  for (Attribute* attr : it->second.multi) --attr->multi;
  t.entries.erase(it);
}

void GeoIndex::Add(Tenant& t, const ngsild::Entity& e) {
  Entry entry;
  std::vector<std::pair<Attribute*, Item>> items;
  for (const auto& slot : e.attrs) {
    std::vector<geo::Geometry> geometries = query::GeometriesOf(e, slot.name.str());
    auto attr = t.attributes.end();
    size_t attr_items = 0;
    for (auto& g : geometries) {
      if (g.empty()) continue;
      if (attr == t.attributes.end()) {
        attr = t.attributes.find(slot.name);
        if (attr == t.attributes.end()) attr = t.attributes.emplace(slot.name, Attribute{}).first;
      }
      std::set<CellKey> keys;
      int level = 0;
      while (level < kLevels && Range(g.box, level).count() > kMaxCellsPerEntry) ++level;
      if (level == kLevels) {
        keys.insert(kGlobalKey);
      } else {
        CellRange r = Range(g.box, level);
        for (uint64_t x = r.x0; x <= r.x1; ++x) {
          for (uint64_t y = r.y0; y <= r.y1; ++y) keys.insert(Key(level, x, y));
        }
      }
      Item item{nullptr, nullptr, {}};
      if (g.points.size() == 1 && g.lines.empty() && g.polygons.empty()) {
        item.point = g.points[0];
      } else {
        entry.shapes.push_back(std::make_unique<const geo::Geometry>(std::move(g)));
        item.shape = entry.shapes.back().get();
      }
      for (CellKey key : keys) {
        items.emplace_back(&attr->second, item);
        entry.cells.emplace_back(&attr->second, key);
        ++attr_items;
      }
    }
    if (attr_items > 1) {
      ++attr->second.multi;
      entry.multi.push_back(&attr->second);
    }
  }
  if (items.empty()) return;
  auto [it, inserted] = t.entries.emplace(e.id, std::move(entry));
  for (size_t i = 0; i < items.size(); ++i) {
    Item item = items[i].second;
    item.id = &it->first;
    auto& cell = items[i].first->cells[it->second.cells[i].second];
    cell.insert(std::upper_bound(cell.begin(), cell.end(), it->first, IdLess{}), item);
  }
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

std::optional<GeoIndex::Page> GeoIndex::MatchingPage(std::string_view tenant,
                                                     std::string_view property,
                                                     const geo::GeoQuery& query,
                                                     size_t want) const {
  std::optional<std::vector<geo::Box>> boxes = query.SearchBoxes();
  if (!boxes) return std::nullopt;
  Page page;
  Tenant* t = Find(tenant);
  if (t == nullptr) return page;
  auto a = t->attributes.find(property);
  if (a == t->attributes.end()) return page;
  if (a->second.multi > 0 || boxes->size() > 1) {
    // An id may come from several cells: take every match and remove the repeats.
    auto ids = Matching(tenant, property, query);
    if (!ids) return std::nullopt;
    page.count = ids->size();
    std::sort(ids->begin(), ids->end());
    ids->resize(std::min(ids->size(), want));
    page.first = std::move(*ids);
    return page;
  }
  // The matches of each cell as a run in id order: all of its items (a covered cell of points)
  // or the positions of those that match.
  struct Run {
    const std::vector<Item>* items;
    std::vector<uint32_t> matches;  // empty with all = true
    bool all;
    size_t next = 0;
    size_t size() const { return all ? items->size() : matches.size(); }
    const std::string& id(size_t k) const { return *(*items)[all ? k : matches[k]].id; }
  };
  std::vector<Run> runs;
  Tester test(query, *boxes);
  bool ok = ForEachCell(
      a->second, *boxes, [&](int level, uint64_t x, uint64_t y, const std::vector<Item>& items) {
        Run run{&items, {}, false};
        Tester::Fill fill = test.Enter(level, x, y, items.size());
        bool points =
            std::none_of(items.begin(), items.end(), [](const Item& i) { return i.shape; });
        if (fill == Tester::Fill::kNone && points) return;
        run.all = fill == Tester::Fill::kAll && points;
        if (!run.all) {
          for (uint32_t k = 0; k < items.size(); ++k) {
            if (test.Matches(items[k])) run.matches.push_back(k);
          }
        }
        page.count += run.size();
        if (run.size() > 0) runs.push_back(std::move(run));
      });
  if (!ok) return std::nullopt;
  // Merge the runs until `want` ids: a heap of runs by their next id.
  auto later = [](const Run* x, const Run* y) { return y->id(y->next) < x->id(x->next); };
  std::vector<Run*> heap;
  for (auto& r : runs) heap.push_back(&r);
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty() && page.first.size() < want) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Run* r = heap.back();
    page.first.emplace_back(r->id(r->next));
    if (++r->next < r->size()) {
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      heap.pop_back();
    }
  }
  return page;
}

GeoIndex::Tester::Tester(const geo::GeoQuery& query, const std::vector<geo::Box>& search)
    : query_(query),
      // Both relations accept a point in the interior of the query's polygons.
      area_(query.prepared && query.geometry.points.empty() && query.geometry.lines.empty() &&
            (query.rel == geo::GeoRel::kWithin || query.rel == geo::GeoRel::kIntersects)),
      near_(query.rel == geo::GeoRel::kNear && query.max_distance &&
            query.geometry.points.size() == 1 && query.geometry.lines.empty() &&
            query.geometry.polygons.empty() && std::fabs(query.geometry.points[0].lat) < 80 &&
            *query.max_distance < 100000),
      search_(search) {
  point_.type = "Point";
  point_.points.resize(1);
}

std::optional<bool> GeoIndex::Tester::Classify(const geo::Box& box, int depth) {
  if (area_) {
    const geo::PreparedPolygons& polygons = *query_.prepared;
    polygons.EdgesNear(box, depth == 0 ? nullptr : &edges_[depth - 1], &edges_[depth]);
    auto at = polygons.BoxLocation(box, edges_[depth]);
    if (!at) return std::nullopt;
    return *at == geo::PreparedPolygons::Location::kInterior;
  }
  // near: out when the box (grown well beyond rounding) misses every search box, which hold
  // every match; in when its four corners are within the distance, with a margin for rounding
  // (on a sphere the farthest position of a small lon/lat box from a point is a corner).
  constexpr double kSlack = 1e-9;  // degrees
  if (std::none_of(search_.begin(), search_.end(), [&](const geo::Box& b) {
        return box.min_lon - kSlack <= b.max_lon && b.min_lon <= box.max_lon + kSlack &&
               box.min_lat - kSlack <= b.max_lat && b.min_lat <= box.max_lat + kSlack;
      })) {
    return false;
  }
  const geo::Point& c = query_.geometry.points[0];
  const double limit = *query_.max_distance - 1e-3;  // metres
  for (geo::Point corner :
       {geo::Point{box.min_lon, box.min_lat}, geo::Point{box.min_lon, box.max_lat},
        geo::Point{box.max_lon, box.min_lat}, geo::Point{box.max_lon, box.max_lat}}) {
    if (!(geo::DistanceMeters(c, corner) <= limit)) return std::nullopt;
  }
  return true;
}

geo::Box GeoIndex::Tester::SubBox(int sx, int sy, int span) const {
  const double n = kCellsPerDegree[0] * kSub;
  const uint64_t x = cell_x_ * kSub + sx, y = cell_y_ * kSub + sy;
  return {x / n - 180, y / n - 90, (x + span) / n - 180, (y + span) / n - 90};
}

void GeoIndex::Tester::Divide(int sx, int sy, int span, int depth) {
  std::optional<bool> in = Classify(SubBox(sx, sy, span), depth);
  if (in || span == 1) {
    Part part = !in ? kTest : *in ? kIn : kOut;
    for (int j = 0; j < span; ++j) {
      std::fill_n(parts_ + (sy + j) * kSub + sx, span, part);
    }
    return;
  }
  int half = span / 2;
  Divide(sx, sy, half, depth + 1);
  Divide(sx + half, sy, half, depth + 1);
  Divide(sx, sy + half, half, depth + 1);
  Divide(sx + half, sy + half, half, depth + 1);
}

GeoIndex::Tester::Fill GeoIndex::Tester::Enter(int level, uint64_t x, uint64_t y, size_t items) {
  divided_ = false;
  if ((!area_ && !near_) || level != 0) return Fill::kSome;
  cell_x_ = x;
  cell_y_ = y;
  std::optional<bool> in = Classify(SubBox(0, 0, kSub), 0);
  if (in) return *in ? Fill::kAll : Fill::kNone;
  // Dividing costs a few dozen box tests: worth it for a cell of many points.
  if (items >= 2 * kSub * kSub) {
    const int half = kSub / 2;
    Divide(0, 0, half, 1);
    Divide(half, 0, half, 1);
    Divide(0, half, half, 1);
    Divide(half, half, half, 1);
    divided_ = true;
  }
  return Fill::kSome;
}

bool GeoIndex::Tester::Matches(const Item& item) {
  if (item.shape != nullptr) return query_.Matches(*item.shape);
  if (divided_) {
    // The part the point is in; a point on a part's edge may be put in either neighbour, and
    // rounding by an ulp is far inside the margins of Classify.
    const double n = kCellsPerDegree[0] * kSub;
    auto part = [&](double degrees, double offset, uint64_t cell) {
      double k = std::floor((degrees + offset) * n) - static_cast<double>(cell * kSub);
      return static_cast<int>(std::clamp(k, 0.0, double{kSub - 1}));
    };
    Part p = parts_[part(item.point.lat, 90, cell_y_) * kSub + part(item.point.lon, 180, cell_x_)];
    if (p != kTest) return p == kIn;
  }
  point_.points[0] = item.point;
  point_.box = {item.point.lon, item.point.lat, item.point.lon, item.point.lat};
  return query_.Matches(point_);
}

// Calls fn(level, x, y, items) for every non-empty cell of `a` that one of `boxes` covers, and
// the global list; false (nothing called) when they cover more than kMaxCellsPerQuery cells.
template <typename F>
bool GeoIndex::ForEachCell(const Attribute& a, const std::vector<geo::Box>& boxes, F fn) {
  uint64_t total = 0;
  for (int level = 0; level < kLevels; ++level) {
    for (const auto& b : boxes) total += Range(b, level).count();
  }
  if (total > kMaxCellsPerQuery) return false;
  for (int level = 0; level < kLevels; ++level) {
    for (const auto& b : boxes) {
      CellRange r = Range(b, level);
      for (uint64_t x = r.x0; x <= r.x1; ++x) {
        for (uint64_t y = r.y0; y <= r.y1; ++y) {
          auto it = a.cells.find(Key(level, x, y));
          if (it != a.cells.end()) fn(level, x, y, it->second);
        }
      }
    }
  }
  if (auto it = a.cells.find(kGlobalKey); it != a.cells.end()) fn(kLevels, 0, 0, it->second);
  return true;
}

std::optional<std::vector<std::string_view>> GeoIndex::Candidates(
    std::string_view tenant, std::string_view property, const std::vector<geo::Box>& boxes) const {
  std::vector<std::string_view> ids;
  Tenant* t = Find(tenant);
  if (t == nullptr) return ids;
  auto a = t->attributes.find(property);
  if (a == t->attributes.end()) return ids;
  bool ok = ForEachCell(a->second, boxes, [&](int, uint64_t, uint64_t, const auto& items) {
    for (const Item& item : items) ids.emplace_back(*item.id);
  });
  if (!ok) return std::nullopt;
  return ids;
}

std::optional<std::vector<std::string_view>> GeoIndex::Matching(std::string_view tenant,
                                                                std::string_view property,
                                                                const geo::GeoQuery& query) const {
  std::optional<std::vector<geo::Box>> boxes = query.SearchBoxes();
  if (!boxes) return std::nullopt;
  std::vector<std::string_view> ids;
  Tenant* t = Find(tenant);
  if (t == nullptr) return ids;
  auto a = t->attributes.find(property);
  if (a == t->attributes.end()) return ids;
  Tester test(query, *boxes);
  bool ok = ForEachCell(a->second, *boxes,
                        [&](int level, uint64_t x, uint64_t y, const std::vector<Item>& items) {
                          Tester::Fill fill = test.Enter(level, x, y, items.size());
                          for (const Item& item : items) {
                            bool match = item.shape != nullptr || fill == Tester::Fill::kSome
                                             ? test.Matches(item)
                                             : fill == Tester::Fill::kAll;
                            if (match) ids.emplace_back(*item.id);
                          }
                        });
  if (!ok) return std::nullopt;
  // An entity is in one cell once unless it has several geometries or a shape over several
  // cells; several search boxes (across the antimeridian) may share an edge cell.
  if (a->second.multi > 0 || boxes->size() > 1) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  return ids;
}

size_t GeoIndex::Size(std::string_view tenant) const {
  Tenant* t = Find(tenant);
  return t == nullptr ? 0 : t->entries.size();
}

}  // namespace civitas::storage
