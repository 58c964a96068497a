#pragma once

#include "api/call.h"
#include "common/status.h"
#include "ngsild/render.h"
#include "query/geo_filter.h"
#include "query/q.h"

namespace civitas::api {

// The representation a retrieval asks for, from its query parameters: options/format
// (keyValues, concise, normalized, sysAttrs; anything else is InvalidRequest), attrs, pick and
// omit (BadRequestData when malformed or combined wrongly), lang, join and joinLevel.
Result<ngsild::RenderOptions> RenderOptionsFor(const Call& call);

// A non-negative integer query parameter (limit, offset, ...), or fallback when absent;
// BadRequestData otherwise.
Result<int64_t> NonNegativeParam(const QueryParams& p, std::string_view name, int64_t fallback);

// A q expression from a request, its names expanded with the request's context (and
// expandValues, if given). BadRequestData when malformed; q terms on linked entities (rel{attr})
// are OperationNotSupported (501) for now.
Result<query::QExpr> ParseQParam(const Call& call, std::string_view text);

// The geo-query of the URL (georel, geometry, coordinates, geoproperty), if any, with the
// geoproperty expanded. Only geoproperty on its own is ignored, as it names nothing to test.
Result<std::optional<query::GeoFilter>> GeoParam(const Call& call);
// The same from a `geoQ` member (POST /entityOperations/query, temporal queries).
Result<query::GeoFilter> GeoMember(const Call& call, const Json& geo_q);

}  // namespace civitas::api
