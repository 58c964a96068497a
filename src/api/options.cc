#include "api/options.h"

#include <algorithm>
#include <cstdlib>

#include "ngsild/parse.h"
#include "ngsild/projection.h"

namespace civitas::api {
namespace {

// Checks that every `options` / `format` word is one of allowed (InvalidRequest otherwise).
Status CheckOptions(const QueryParams& p, std::initializer_list<std::string_view> allowed) {
  for (const char* name : {"options", "format"}) {
    auto raw = p.Get(name);
    if (raw && raw->empty()) continue;
    for (const auto& word : p.List(name)) {
      if (std::find(allowed.begin(), allowed.end(), word) == allowed.end()) {
        return Status::InvalidRequest("unknown " + std::string(name) + " value '" + word + "'");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ngsild::RenderOptions> RenderOptionsFor(const Call& call) {
  ngsild::RenderOptions o;
  const auto& p = call.params;
  CIVITAS_RETURN_IF_ERROR(
      CheckOptions(p, {"keyValues", "simplified", "concise", "normalized", "sysAttrs"}));
  bool kv = p.HasOption("keyValues") || p.HasOption("simplified");
  bool concise = p.HasOption("concise");
  if (kv && concise) {
    return Status::BadRequest("options keyValues and concise cannot be combined");
  }
  o.format = kv        ? ngsild::Format::kKeyValues
             : concise ? ngsild::Format::kConcise
                       : ngsild::Format::kNormalized;
  o.sys_attrs = p.HasOption("sysAttrs");
  for (const auto& name : p.List("attrs")) {
    auto iri = ngsild::ExpandAttributeName(name, *call.ctx);
    if (!iri.ok()) return iri.status();
    o.attrs.push_back(std::move(*iri));
  }
  auto expand = [&call](std::string_view name) { return call.ctx->Expand(name); };
  for (auto [name, target] : {std::pair{"pick", &o.pick}, std::pair{"omit", &o.omit}}) {
    auto text = p.Get(name);
    if (!text || text->empty()) continue;
    auto projection = ngsild::ParseProjection(*text, expand);
    if (!projection.ok()) return projection.status();
    *target = std::move(*projection);
  }
  if (o.pick && o.omit) {
    for (const auto& item : o.pick->items) {
      if (o.omit->Contains(item.name)) {
        return Status::BadRequest("'" + call.ctx->Compact(item.name) +
                                  "' is both picked and omitted");
      }
    }
  }
  if ((o.pick || o.omit) && !o.attrs.empty()) {
    return Status::BadRequest("attrs cannot be combined with pick or omit");
  }
  if (auto lang = p.Get("lang")) o.lang = std::string(*lang);
  if (auto join = p.Get("join")) {
    if (*join == "inline") {
      o.join = ngsild::Join::kInline;
    } else if (*join == "flat") {
      o.join = ngsild::Join::kFlat;
    } else if (*join != "@none") {
      return Status::BadRequest("join must be flat, inline or @none");
    }
  }
  if (auto level = p.Get("joinLevel")) {
    char* end = nullptr;
    std::string text(*level);
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 1 || v > 16) {
      return Status::BadRequest("joinLevel must be a number from 1 to 16");
    }
    o.join_level = static_cast<int>(v);
  }
  o.with_context = call.accept == MediaType::kJsonLd || call.accept == MediaType::kGeoJson;
  return o;
}

Result<query::QExpr> ParseQParam(const Call& call, std::string_view text) {
  query::QOptions options;
  for (const auto& v : call.params.List("expandValues")) {
    options.expand_values.push_back(call.ctx->Expand(v));
  }
  auto expand = [&call](std::string_view n) { return call.ctx->Expand(n); };
  auto q = query::QExpr::Parse(text, expand, options);
  if (!q.ok()) return q.status();
  if (q->LinkDepth() > 0) {
    return Status(ErrorCode::kNotImplemented,
                  "q terms on linked entities (rel{attr}) are not implemented yet");
  }
  return q;
}

Result<std::optional<query::GeoFilter>> GeoParam(const Call& call) {
  const auto& p = call.params;
  if (!p.Has("georel") && !p.Has("geometry") && !p.Has("coordinates")) {
    return std::optional<query::GeoFilter>();
  }
  auto parsed = geo::ParseGeoQueryParams(p.Get("georel"), p.Get("geometry"), p.Get("coordinates"),
                                         p.Get("geoproperty"));
  if (!parsed.ok()) return parsed.status();
  query::GeoFilter filter{std::move(*parsed), ""};
  filter.property = call.ctx->Expand(filter.query.geoproperty);
  return std::optional<query::GeoFilter>(std::move(filter));
}

Result<query::GeoFilter> GeoMember(const Call& call, const Json& geo_q) {
  auto parsed = geo::ParseGeoQueryJson(geo_q);
  if (!parsed.ok()) return parsed.status();
  query::GeoFilter filter{std::move(*parsed), ""};
  filter.property = call.ctx->Expand(filter.query.geoproperty);
  return filter;
}

Result<int64_t> NonNegativeParam(const QueryParams& p, std::string_view name, int64_t fallback) {
  auto v = p.Get(name);
  if (!v) return fallback;
  std::string text(*v);
  char* end = nullptr;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < 0) {
    return Status::BadRequest(std::string(name) + " must be a non-negative integer");
  }
  return static_cast<int64_t>(n);
}

}  // namespace civitas::api
