#include "storage/query_runner.h"

#include <algorithm>
#include <limits>

namespace civitas::storage {

QueryPage RunQuery(const EntityStore& store, const QueryIndex* index, const GeoIndex* geo_index,
                   std::string_view tenant, const QuerySpec& spec) {
  const query::EntityFilter& filter = *spec.filter;
  const int64_t offset = spec.offset, limit = spec.limit;
  QueryPage out;
  std::vector<EntityPtr>& page = out.entities;
  bool count_known = false;  // the index's candidates are exactly the matches
  auto visit = [&](const EntityPtr& e) {
    if (!filter.Matches(*e)) return true;
    if (spec.order != nullptr) {
      page.push_back(e);
      ++out.matched;
      return true;
    }
    if (out.matched >= offset && static_cast<int64_t>(page.size()) < limit) page.push_back(e);
    ++out.matched;
    return (spec.count && !count_known) || static_cast<int64_t>(page.size()) < limit ||
           out.matched <= offset;
  };

  const bool use_geo = filter.geo && geo_index != nullptr;
  // The entities matching the geo-query, from the spatial index (nullopt: it cannot narrow it).
  auto geo_matches = [&]() -> std::optional<std::vector<std::string_view>> {
    if (!use_geo) return std::nullopt;
    return geo_index->Matching(tenant, filter.geo->property, filter.geo->query);
  };

  bool done = false;
  // A geo-query and nothing else that narrows or filters: the spatial index gives the count
  // and the first ids of the page without collecting every match.
  if (use_geo && spec.order == nullptr && filter.Plan(true).MatchesAll()) {
    std::optional<GeoIndex::Page> geo_page;
    store.ForEachCandidate(
        tenant,
        [&]() -> std::optional<std::vector<std::string_view>> {
          geo_page = geo_index->MatchingPage(tenant, filter.geo->property, filter.geo->query,
                                             static_cast<size_t>(offset + limit));
          if (!geo_page) return std::nullopt;
          return std::move(geo_page->first);
        },
        visit);
    if (geo_page) {
      // visit saw the first offset + limit matches; with count, matched is all of them.
      out.plan = "geo";
      if (spec.count) {
        out.matched = static_cast<int64_t>(geo_page->count);
        out.count_from_index = true;
      }
      return out;
    }
    // No search area the index can use: the scan above has evaluated every entity.
    out.plan = "scan";
    return out;
  }
  if (index != nullptr) {
    const size_t want = spec.order != nullptr ? std::numeric_limits<size_t>::max()
                                              : static_cast<size_t>(offset + limit);
    store.ReadLocked(tenant, [&] {
      auto extra = geo_matches();
      const query::IndexPlan plan = filter.Plan(extra.has_value());
      QueryIndex::Answer answer;
      done = index->Visit(tenant, plan, extra, want, &answer, [&](const EntityPtr& e) {
        if (!count_known && answer.exact && spec.count && spec.order == nullptr) {
          count_known = true;
        }
        return visit(e);
      });
      if (done) {
        out.plan = extra ? "index+geo" : "index";
        if (answer.exact && spec.count && spec.order == nullptr) {
          out.matched = static_cast<int64_t>(answer.candidates);
          out.count_from_index = true;
        }
      }
    });
  }
  if (!done && use_geo) {
    out.plan = "geo";
    store.ForEachCandidate(tenant, geo_matches, visit);
  } else if (!done) {
    store.ForEach(tenant, visit);
  }
  if (spec.order != nullptr) {
    std::sort(page.begin(), page.end(),
              [&](const auto& a, const auto& b) { return spec.order->Less(*a, *b); });
    int64_t from = std::min<int64_t>(offset, static_cast<int64_t>(page.size()));
    int64_t to = std::min<int64_t>(from + limit, static_cast<int64_t>(page.size()));
    page = std::vector<EntityPtr>(page.begin() + from, page.begin() + to);
  }
  return out;
}

}  // namespace civitas::storage
