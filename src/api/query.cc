// Query entities (clause 5.7.2): GET /entities and POST /entityOperations/query.
#include <algorithm>
#include <cstdlib>

#include "api/broker.h"
#include "api/negotiation.h"
#include "api/options.h"
#include "api/problem.h"
#include "geo/geo_query.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "query/order.h"
#include "query/selector.h"
#include "storage/query_runner.h"

namespace civitas::api {
namespace {

constexpr int64_t kDefaultLimit = 20;
constexpr int64_t kMaxLimit = 1000;

// Features of the query language that are not built yet.
Status Unsupported(std::string_view what) {
  return Status(ErrorCode::kNotImplemented,
                std::string(what) + " is not implemented by this version of Civitas");
}

}  // namespace

// Shared by GET and POST: runs filter over the tenant and answers with one page.
void Broker::AnswerQuery(const CallPtr& call, query::EntityFilter filter,
                         ngsild::RenderOptions options) {
  auto limit = NonNegativeParam(call->params, "limit", kDefaultLimit);
  if (!limit.ok()) return Fail(call, limit.status());
  auto offset = NonNegativeParam(call->params, "offset", 0);
  if (!offset.ok()) return Fail(call, offset.status());
  bool count =
      call->params.Get("count").value_or("false") == "true" || call->params.HasOption("count");
  if (*limit > kMaxLimit) {
    return Fail(call, Status(ErrorCode::kTooManyResults,
                             "limit must be at most " + std::to_string(kMaxLimit)));
  }
  if (*limit == 0 && !count) {
    return Fail(call, Status::BadRequest("limit=0 is only allowed with count=true"));
  }
  // datasetId (clause 4.5.5) selects attribute instances in each matched entity; it does not
  // select entities.
  for (const auto& d : call->params.List("datasetId")) {
    if (d != "@none" && !ngsild::IsUri(d)) {
      return Fail(call, Status::BadRequest("datasetId '" + d + "' is not a URI"));
    }
    options.dataset_ids.push_back(d);
  }
  if (call->rc.tenant_given && !store_.HasTenant(call->rc.tenant)) {
    return Fail(call, Status(ErrorCode::kNonexistentTenant,
                             "tenant '" + call->rc.tenant + "' does not exist"));
  }
  // orderBy (clause 4.23): every match is collected and sorted (ties by id), then paged.
  std::optional<query::EntityOrder> order;
  if (auto text = call->params.Get("orderBy"); text && !text->empty()) {
    auto expand = [&call](std::string_view n) { return call->ctx->Expand(n); };
    auto parsed = query::EntityOrder::Parse(*text, expand);
    if (!parsed.ok()) return Fail(call, parsed.status());
    order = std::move(*parsed);
  }
  if (call->params.Has("collation") || call->params.Has("orderFrom") ||
      call->params.Has("orderGeometry")) {
    return Fail(call, Unsupported("orderBy with collation or by distance"));
  }
  // Otherwise entities are visited in id order, so offset paging is stable. Indexes narrow the
  // candidates (storage/query_runner.h); the filter decides.
  storage::QuerySpec spec;
  spec.filter = &filter;
  spec.order = order ? &*order : nullptr;
  spec.offset = *offset;
  spec.limit = *limit;
  spec.count = count;
  storage::QueryPage result =
      storage::RunQuery(store_, options_.query_index, options_.geo_index, call->rc.tenant, spec);
  std::vector<ngsild::EntityPtr>& page = result.entities;
  const int64_t matched = result.matched;
  const std::string tenant = call->rc.tenant;
  options.lookup = [this, tenant](const std::string& id) { return store_.Get(tenant, id); };
  bool geo = call->accept == MediaType::kGeoJson;
  std::string geometry;
  if (geo) {
    auto gp = call->params.Get("geometryProperty");
    geometry = call->ctx->Expand(gp ? *gp : "location");
  }
  ngsild::RenderOptions item_options = options;
  item_options.with_context = false;
  Json::Array out;
  for (const auto& e : page) {
    if (geo) {
      out.push_back(ngsild::RenderFeature(*e, *call->ctx, item_options, geometry));
    } else if (options.join == ngsild::Join::kFlat) {
      Json flat = ngsild::RenderEntityFlat(*e, *call->ctx, item_options);
      if (flat.is_array()) {
        for (auto& x : flat.as_array()) out.push_back(std::move(x));
      } else {
        out.push_back(std::move(flat));
      }
    } else {
      Json rendered = ngsild::RenderEntity(*e, *call->ctx, item_options);
      if (options.with_context) rendered.Set("@context", call->ctx->source());
      out.push_back(std::move(rendered));
    }
  }
  Json body;
  if (geo) {
    body = Json::MakeObject();
    body.Set("type", "FeatureCollection");
    body.Set("features", Json(std::move(out)));
    if (options.with_context) body.Set("@context", call->ctx->source());
  } else {
    body = Json(std::move(out));
  }
  http::Response r;
  r.status = 200;
  if (count) r.AddHeader("NGSILD-Results-Count", std::to_string(matched));
  // Next and previous pages, as Link headers on the same URL.
  auto page_link = [&](int64_t new_offset, const char* rel) {
    std::string target = call->request.path + "?";
    bool first = true;
    auto append = [&](std::string_view k, std::string_view v) {
      if (!first) target += "&";
      first = false;
      target.append(k).append("=").append(v);
    };
    size_t start = 0;
    const std::string& q = call->request.query;
    while (start < q.size()) {
      size_t amp = q.find('&', start);
      std::string_view part(q.data() + start, (amp == std::string::npos ? q.size() : amp) - start);
      if (!part.starts_with("offset=") && !part.starts_with("limit=") && !part.empty()) {
        if (!first) target += "&";
        first = false;
        target.append(part);
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
    append("limit", std::to_string(*limit));
    append("offset", std::to_string(new_offset));
    r.AddHeader("Link", "<" + target + ">; rel=\"" + rel + "\"");
  };
  if (call->request.method == "GET" && *limit > 0) {
    if (*offset + *limit < matched || (!count && static_cast<int64_t>(page.size()) == *limit)) {
      page_link(*offset + *limit, "next");
    }
    if (*offset > 0) page_link(std::max<int64_t>(0, *offset - *limit), "prev");
  }
  // Reply() adds the context Link and media type; carry the paging headers over.
  RespondWith(call, std::move(r), body);
}

namespace {

// The entity filter of GET /entities and DELETE /entities from the query parameters. *selective
// says whether any of type, id, idPattern or attrs was given.
Result<query::EntityFilter> FilterFromParams(const Call& call, std::vector<std::string> attrs,
                                             bool* selective) {
  const auto& p = call.params;
  if (p.Has("csf")) return Unsupported("the query parameter 'csf'");
  query::EntityFilter filter;
  auto geo = GeoParam(call);
  if (!geo.ok()) return geo.status();
  filter.geo = std::move(*geo);
  query::EntitySelector selector;
  bool any = false;
  auto expand = [&call](std::string_view n) { return call.ctx->Expand(n); };
  if (auto q = p.Get("q")) {
    auto parsed = ParseQParam(call, *q);
    if (!parsed.ok()) return parsed.status();
    filter.q = std::move(*parsed);
    any = true;
  }
  if (auto scope = p.Get("scopeQ")) {
    auto parsed = query::ScopeQ::Parse(*scope);
    if (!parsed.ok()) return parsed.status();
    filter.scope_q = std::move(*parsed);
    any = true;
  }
  if (auto type = p.Get("type")) {
    auto expr = query::TypeExpr::Parse(*type, expand);
    if (!expr.ok()) return expr.status();
    selector.type = std::move(*expr);
    any = true;
  }
  for (const auto& id : p.List("id")) {
    if (!ngsild::IsUri(id)) return Status::BadRequest("id '" + id + "' is not a URI");
    selector.ids.push_back(id);
    any = true;
  }
  if (auto pattern = p.Get("idPattern")) {
    CIVITAS_RETURN_IF_ERROR(selector.SetIdPattern(*pattern));
    any = true;
  }
  filter.attrs = std::move(attrs);
  *selective = any || !filter.attrs.empty() || filter.geo.has_value();
  filter.selectors.push_back(std::move(selector));
  return filter;
}

}  // namespace

void Broker::QueryGet(const CallPtr& call) {
  auto options = RenderOptionsFor(*call);
  if (!options.ok()) return Fail(call, options.status());
  bool selective = false;
  auto filter = FilterFromParams(*call, options->attrs, &selective);
  if (!filter.ok()) return Fail(call, filter.status());
  const auto& p = call->params;
  if (!p.Has("type") && !p.Has("attrs") && !p.Has("q") && !p.Has("georel") &&
      p.Get("local").value_or("false") != "true") {
    return Fail(call, Status::BadRequest(
                          "a query needs at least one of type, attrs, q or geoQ (or local=true)"));
  }
  AnswerQuery(call, std::move(*filter), std::move(*options));
}

// DELETE /entities (clause 5.6.21): deletes the entities matching the filter, or with `drop`
// removes the listed attributes from them, or with `keep` removes all others.
void Broker::PurgeEntities(const CallPtr& call) {
  const auto& p = call->params;
  if (p.Has("keep") && p.Has("drop")) {
    return Fail(call, Status::BadRequest("keep and drop cannot be combined"));
  }
  bool selective = false;
  auto filter = FilterFromParams(*call, {}, &selective);
  if (!filter.ok()) return Fail(call, filter.status());
  if (!selective && p.Get("local").value_or("false") != "true") {
    return Fail(call, Status::BadRequest(
                          "purge needs at least one of type, id, idPattern, q (or local=true)"));
  }
  if (Status st = CheckTenantForRead(*call); !st.ok()) return Fail(call, st);
  std::vector<std::string> keep, drop;
  for (const auto& a : p.List("keep")) keep.push_back(call->ctx->Expand(a));
  for (const auto& a : p.List("drop")) drop.push_back(call->ctx->Expand(a));
  auto shared = std::make_shared<const query::EntityFilter>(std::move(*filter));
  std::vector<storage::WriteOp> ops;
  store_.ForEach(call->rc.tenant, [&](const ngsild::EntityPtr& e) {
    if (!shared->Matches(*e)) return true;
    ops.push_back({call->rc.tenant, e->id,
                   [shared, keep, drop](const ngsild::EntityPtr& cur,
                                        Micros now) -> Result<storage::Outcome> {
                     // Decided again on the state the write applies to.
                     if (!cur || !shared->Matches(*cur)) return storage::Outcome::None();
                     if (keep.empty() && drop.empty()) return storage::Outcome::Delete();
                     ngsild::Entity next = *cur;
                     std::erase_if(next.attrs, [&](const ngsild::AttributeSlot& s) {
                       bool listed = std::find(keep.begin(), keep.end(), s.name) != keep.end() ||
                                     std::find(drop.begin(), drop.end(), s.name) != drop.end();
                       return keep.empty() ? listed : !listed;
                     });
                     if (next.attrs.size() == cur->attrs.size()) return storage::Outcome::None();
                     next.modified_at = now;
                     return storage::Outcome::Put(std::move(next));
                   }});
    return true;
  });
  if (ops.empty()) return ReplyEmpty(call, 204);
  store_.Submit(std::move(ops), [this, call](std::vector<Status> statuses) {
    for (const auto& st : statuses) {
      if (!st.ok()) return Fail(call, st);
    }
    ReplyEmpty(call, 204);
  });
}

void Broker::QueryPost(const CallPtr& call) {
  const Json& body = call->body;
  if (!body.is_object()) return Fail(call, Status::InvalidRequest("the body must be a Query"));
  if (body.GetString("type") != "Query") {
    return Fail(call, Status::BadRequest("the body must have \"type\": \"Query\""));
  }
  for (const char* feature : {"csf", "temporalQ"}) {
    if (body.Find(feature) != nullptr) {
      return Fail(call, Unsupported(std::string("the query member '") + feature + "'"));
    }
  }
  auto options = RenderOptionsFor(*call);
  if (!options.ok()) return Fail(call, options.status());
  // Linked entity retrieval (clause 4.5.23) may also be asked for in the body; the URL wins.
  if (const Json* join = body.Find("join"); join != nullptr && !call->params.Has("join")) {
    std::string_view j = join->is_string() ? std::string_view(join->as_string()) : "";
    if (j == "inline") {
      options->join = ngsild::Join::kInline;
    } else if (j == "flat") {
      options->join = ngsild::Join::kFlat;
    } else if (j != "@none") {
      return Fail(call, Status::BadRequest("join must be flat, inline or @none"));
    }
  }
  if (const Json* level = body.Find("joinLevel");
      level != nullptr && !call->params.Has("joinLevel")) {
    int64_t v = level->is_int() ? level->as_int() : 0;
    if (level->is_string()) {
      char* end = nullptr;
      v = std::strtoll(level->as_string().c_str(), &end, 10);
      if (level->as_string().empty() || *end != '\0') v = 0;
    }
    if (v < 1 || v > 16) {
      return Fail(call, Status::BadRequest("joinLevel must be a number from 1 to 16"));
    }
    options->join_level = static_cast<int>(v);
  }
  auto expand = [&call](std::string_view n) { return call->ctx->Expand(n); };
  query::EntityFilter filter;
  bool has_q = false;
  if (const Json* q = body.Find("q")) {
    if (!q->is_string()) return Fail(call, Status::BadRequest("q must be a string"));
    auto parsed = ParseQParam(*call, q->as_string());
    if (!parsed.ok()) return Fail(call, parsed.status());
    filter.q = std::move(*parsed);
    has_q = true;
  }
  if (const Json* scope = body.Find("scopeQ")) {
    if (!scope->is_string()) return Fail(call, Status::BadRequest("scopeQ must be a string"));
    auto parsed = query::ScopeQ::Parse(scope->as_string());
    if (!parsed.ok()) return Fail(call, parsed.status());
    filter.scope_q = std::move(*parsed);
    has_q = true;
  }
  if (const Json* attrs = body.Find("attrs")) {
    if (!attrs->is_array()) return Fail(call, Status::BadRequest("attrs must be an array"));
    for (const auto& a : attrs->as_array()) {
      if (!a.is_string()) return Fail(call, Status::BadRequest("attrs must contain names"));
      options->attrs.push_back(call->ctx->Expand(a.as_string()));
    }
  }
  filter.attrs = options->attrs;
  if (const Json* geo_q = body.Find("geoQ")) {
    auto geo = GeoMember(*call, *geo_q);
    if (!geo.ok()) return Fail(call, geo.status());
    filter.geo = std::move(*geo);
    has_q = true;
  }
  if (const Json* entities = body.Find("entities")) {
    if (!entities->is_array()) return Fail(call, Status::BadRequest("entities must be an array"));
    for (const auto& item : entities->as_array()) {
      auto s = query::EntitySelectorFromJson(item, expand);
      if (!s.ok()) return Fail(call, s.status());
      filter.selectors.push_back(std::move(*s));
    }
  }
  if (filter.selectors.empty() && filter.attrs.empty() && !has_q) {
    return Fail(call, Status::BadRequest("a Query needs entities, attrs, q or geoQ"));
  }
  AnswerQuery(call, std::move(filter), std::move(*options));
}

}  // namespace civitas::api
