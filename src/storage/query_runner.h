#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "query/order.h"
#include "query/selector.h"
#include "storage/entity_store.h"
#include "storage/geo_index.h"
#include "storage/query_index.h"

namespace civitas::storage {

// One page of a query over a tenant: what GET /entities and POST /entityOperations/query
// compute before rendering (and what bench/query_bench measures).
struct QueryPage {
  std::vector<EntityPtr> entities;
  // With count or an order: every match. Otherwise the matches seen before the page was full
  // (at most offset + limit), so "a full page" says whether there may be a next one.
  int64_t matched = 0;
  // How the candidates were found: "scan", "geo" (spatial index), "index" (QueryIndex) or
  // "index+geo"; for tests and logs.
  const char* plan = "scan";
  // The count is the size of the index's exact candidate set (not every match was evaluated).
  bool count_from_index = false;
};

struct QuerySpec {
  const query::EntityFilter* filter = nullptr;
  const query::EntityOrder* order = nullptr;  // null: id order
  int64_t offset = 0;
  int64_t limit = 20;
  bool count = false;
};

// Runs a query. Candidates come from the QueryIndex (types, attributes and q values) and the
// GeoIndex when they narrow it, from a scan of the tenant otherwise; the full filter is always
// evaluated on every entity that makes it into the page. Without an order, results are in id
// order (stable paging). With count, when the index answers the whole filter exactly, the count
// is the size of its candidate set and only the page is evaluated; otherwise every candidate is.
// Either index may be null.
QueryPage RunQuery(const EntityStore& store, const QueryIndex* index, const GeoIndex* geo_index,
                   std::string_view tenant, const QuerySpec& spec);

}  // namespace civitas::storage
