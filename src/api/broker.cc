#include "api/broker.h"

#include "api/negotiation.h"
#include "api/problem.h"
#include "common/log.h"
#include "temporal/temporal_store.h"

namespace civitas::api {
namespace {

constexpr std::string_view kApiPrefix = "/ngsi-ld/v1/";

bool MethodHasBody(std::string_view m) { return m == "POST" || m == "PUT" || m == "PATCH"; }

// Every query parameter the NGSI-LD API defines (clause 6, all endpoints). Any other is an
// InvalidRequest, as the ETSI suite checks.
bool KnownParameter(std::string_view name) {
  static constexpr std::string_view kKnown[] = {"id",
                                                "type",
                                                "idPattern",
                                                "attrs",
                                                "pick",
                                                "omit",
                                                "q",
                                                "scopeQ",
                                                "georel",
                                                "geometry",
                                                "coordinates",
                                                "geoproperty",
                                                "geometryProperty",
                                                "lang",
                                                "options",
                                                "format",
                                                "limit",
                                                "offset",
                                                "count",
                                                "details",
                                                "kind",
                                                "reload",
                                                "datasetId",
                                                "deleteAll",
                                                "watchedAttributes",
                                                "notificationTrigger",
                                                "timerel",
                                                "timeAt",
                                                "endTimeAt",
                                                "timeproperty",
                                                "lastN",
                                                "aggrMethods",
                                                "aggrPeriodDuration",
                                                "csf",
                                                "local",
                                                "join",
                                                "joinLevel",
                                                "containedBy",
                                                "entityMap",
                                                "expandValues",
                                                "observedAt",
                                                "via",
                                                "collect",
                                                "dataset",
                                                "doNotCompare",
                                                "jsonKeys",
                                                "contextSourceId",
                                                "order",
                                                "orderBy",
                                                "orderFrom",
                                                "orderGeometry",
                                                "collation",
                                                "mode",
                                                "keep",
                                                "drop"};
  for (auto k : kKnown) {
    if (k == name) return true;
  }
  return false;
}

bool ValidTenant(std::string_view t) {
  if (t.size() > 256) return false;
  for (unsigned char c : t) {
    if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
  }
  return true;
}

}  // namespace

Broker::Broker(storage::EntityStore& store, jsonld::ContextRegistry& contexts, Options options)
    : store_(store),
      contexts_(contexts),
      options_(std::move(options)),
      subscriptions_(options_.subscriptions) {
  AddRoute({"entities"}, "POST", &Broker::CreateEntity, "POST /entities");
  AddRoute({"entities"}, "GET", &Broker::QueryGet, "GET /entities", true);
  AddRoute({"entities"}, "DELETE", &Broker::PurgeEntities, "DELETE /entities");
  AddRoute({"entityOperations", "query"}, "POST", &Broker::QueryPost,
           "POST /entityOperations/query", true);
  AddRoute({"entityOperations", "*"}, "POST", &Broker::BatchOperation,
           "POST /entityOperations/{op}");
  AddRoute({"entities", "*"}, "GET", &Broker::RetrieveEntity, "GET /entities/{id}", true);
  AddRoute({"entities", "*"}, "DELETE", &Broker::DeleteEntity, "DELETE /entities/{id}");
  AddRoute({"entities", "*"}, "PUT", &Broker::ReplaceEntity, "PUT /entities/{id}");
  AddRoute({"entities", "*"}, "PATCH", &Broker::MergeEntity, "PATCH /entities/{id}");
  AddRoute({"entities", "*", "attrs"}, "POST", &Broker::AppendAttrs, "POST /entities/{id}/attrs");
  AddRoute({"entities", "*", "attrs"}, "PATCH", &Broker::UpdateAttrs, "PATCH /entities/{id}/attrs");
  AddRoute({"entities", "*", "attrs", "*"}, "PATCH", &Broker::PartialUpdateAttr,
           "PATCH /entities/{id}/attrs/{attrId}");
  AddRoute({"entities", "*", "attrs", "*"}, "PUT", &Broker::ReplaceAttr,
           "PUT /entities/{id}/attrs/{attrId}");
  AddRoute({"entities", "*", "attrs", "*"}, "DELETE", &Broker::DeleteAttr,
           "DELETE /entities/{id}/attrs/{attrId}");
  AddRoute({"types"}, "GET", &Broker::ListTypes, "GET /types");
  AddRoute({"types", "*"}, "GET", &Broker::GetType, "GET /types/{type}");
  AddRoute({"attributes"}, "GET", &Broker::ListAttributes, "GET /attributes");
  AddRoute({"attributes", "*"}, "GET", &Broker::GetAttribute, "GET /attributes/{attrId}");
  AddRoute({"jsonldContexts"}, "GET", &Broker::ListContexts, "GET /jsonldContexts");
  AddRoute({"jsonldContexts"}, "POST", &Broker::AddContext, "POST /jsonldContexts");
  AddRoute({"jsonldContexts", "*"}, "GET", &Broker::GetContext, "GET /jsonldContexts/{id}");
  AddRoute({"jsonldContexts", "*"}, "DELETE", &Broker::DeleteContext,
           "DELETE /jsonldContexts/{id}");
  AddRoute({"subscriptions"}, "POST", &Broker::CreateSubscription, "POST /subscriptions");
  AddRoute({"subscriptions"}, "GET", &Broker::ListSubscriptions, "GET /subscriptions");
  AddRoute({"subscriptions", "*", "events"}, "GET", &Broker::SubscriptionEvents,
           "GET /subscriptions/{id}/events");
  AddRoute({"events"}, "GET", &Broker::AdHocEvents, "GET /events");
  AddRoute({"subscriptions", "*"}, "GET", &Broker::RetrieveSubscription, "GET /subscriptions/{id}");
  AddRoute({"subscriptions", "*"}, "PATCH", &Broker::UpdateSubscription,
           "PATCH /subscriptions/{id}");
  AddRoute({"subscriptions", "*"}, "DELETE", &Broker::DeleteSubscription,
           "DELETE /subscriptions/{id}");
  AddRoute({"temporal", "entities"}, "POST", &Broker::TemporalCreate, "POST /temporal/entities");
  AddRoute({"temporal", "entities"}, "GET", &Broker::TemporalQueryGet, "GET /temporal/entities");
  AddRoute({"temporal", "entityOperations", "query"}, "POST", &Broker::TemporalQueryPost,
           "POST /temporal/entityOperations/query");
  AddRoute({"temporal", "entities", "*"}, "GET", &Broker::TemporalRetrieve,
           "GET /temporal/entities/{id}");
  AddRoute({"temporal", "entities", "*"}, "DELETE", &Broker::TemporalDelete,
           "DELETE /temporal/entities/{id}");
  AddRoute({"temporal", "entities", "*", "attrs"}, "POST", &Broker::TemporalAppendAttrs,
           "POST /temporal/entities/{id}/attrs");
  AddRoute({"temporal", "entities", "*", "attrs", "*"}, "DELETE", &Broker::TemporalDeleteAttr,
           "DELETE /temporal/entities/{id}/attrs/{attrId}");
  AddRoute({"temporal", "entities", "*", "attrs", "*", "*"}, "PATCH",
           &Broker::TemporalModifyInstance,
           "PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}");
  AddRoute({"temporal", "entities", "*", "attrs", "*", "*"}, "DELETE",
           &Broker::TemporalModifyInstance,
           "DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}");
  // Endpoints of the NGSI-LD API that Civitas does not serve yet: the generic checks (tenant,
  // media types, @context) apply, then a 501 OperationNotSupported names what is missing.
  struct Planned {
    std::vector<std::string_view> pattern;
    std::vector<std::string_view> methods;
  };
  const Planned planned[] = {
      {{"csourceRegistrations"}, {"GET", "POST"}},
      {{"csourceRegistrations", "*"}, {"GET", "PATCH", "DELETE"}},
      {{"csourceSubscriptions"}, {"GET", "POST"}},
      {{"csourceSubscriptions", "*"}, {"GET", "PATCH", "DELETE"}},
  };
  int metric_planned = metrics_.AddRoute("not implemented");
  for (const auto& p : planned) {
    for (auto m : p.methods) {
      routes_.push_back({p.pattern, m, &Broker::NotImplemented, false, metric_planned});
    }
  }
  metric_health_ = metrics_.AddRoute("GET /health");
  metric_version_ = metrics_.AddRoute("GET /version");
  metric_metrics_ = metrics_.AddRoute("GET /metrics");
  metric_other_ = metrics_.AddRoute("other");
}

void Broker::AddRoute(std::vector<std::string_view> pattern, std::string_view method, HandlerFn fn,
                      std::string_view label, bool geo) {
  routes_.push_back({std::move(pattern), method, fn, geo, metrics_.AddRoute(label)});
}

void Broker::Handle(http::Request&& request, http::Responder respond) {
  const Micros start = NowMicros();
  std::string_view path = request.path;
  if (path.size() >= kApiPrefix.size() && path.substr(0, kApiPrefix.size()) == kApiPrefix) {
    HandleApi(std::move(request), std::move(respond), path.substr(kApiPrefix.size()));
    return;
  }
  http::Response r;
  r.AddHeader("Content-Type", "application/json");
  int metric = metric_other_;
  if (request.method != "GET" && request.method != "HEAD" &&
      (path == "/health" || path == "/version" || path == "/metrics")) {
    r = ProblemResponse(Status(ErrorCode::kMethodNotAllowed, "use GET"));
    r.AddHeader("Allow", "GET");
  } else if (path == "/health") {
    metric = metric_health_;
    r.body = R"({"status":"ok"})";
  } else if (path == "/version") {
    metric = metric_version_;
    Json v = Json::MakeObject();
    v.Set("name", "civitas");
    v.Set("version", options_.version);
    v.Set("ngsiLdVersion", "1.8");
    r.body = ToJsonString(v);
  } else if (path == "/metrics") {
    metric = metric_metrics_;
    r.headers.clear();
    r.AddHeader("Content-Type", "text/plain; version=0.0.4");
    metrics_.Render(r.body);
    auto st = store_.stats();
    r.body += "# TYPE civitas_store_entities gauge\ncivitas_store_entities " +
              std::to_string(store_.TotalCount()) + "\n";
    r.body += "# TYPE civitas_store_tenants gauge\ncivitas_store_tenants " +
              std::to_string(store_.Tenants().size()) + "\n";
    r.body += "# TYPE civitas_store_commits_total counter\ncivitas_store_commits_total " +
              std::to_string(st.commits) + "\n";
    r.body += "# TYPE civitas_store_ops_total counter\ncivitas_store_ops_total " +
              std::to_string(st.ops) + "\n";
    r.body +=
        "# TYPE civitas_store_failed_commits_total counter\n"
        "civitas_store_failed_commits_total " +
        std::to_string(st.failed_commits) + "\n";
    r.body += "# TYPE civitas_store_disk_bytes gauge\ncivitas_store_disk_bytes " +
              std::to_string(st.disk_bytes) + "\n";
    if (options_.temporal != nullptr) {
      auto ts = options_.temporal->stats();
      r.body += "# TYPE civitas_temporal_samples gauge\ncivitas_temporal_samples " +
                std::to_string(ts.samples) + "\n";
      r.body += "# TYPE civitas_temporal_open_samples gauge\ncivitas_temporal_open_samples " +
                std::to_string(ts.open_samples) + "\n";
      r.body += "# TYPE civitas_temporal_chunks gauge\ncivitas_temporal_chunks " +
                std::to_string(ts.chunks) + "\n";
      r.body += "# TYPE civitas_temporal_chunk_bytes gauge\ncivitas_temporal_chunk_bytes " +
                std::to_string(ts.chunk_bytes) + "\n";
    }
    if (metrics_hook_) metrics_hook_(r.body);
  } else {
    r = ProblemResponse(Status::NotFound("no resource at " + std::string(path)));
  }
  metrics_.Record(metric, r.status, NowMicros() - start);
  respond(std::move(r));
}

void Broker::HandleApi(http::Request&& request, http::Responder respond, std::string_view rest) {
  const Micros start = NowMicros();
  auto call = std::make_shared<Call>();
  // Decode the path into segments.
  Status bad_path;
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t slash = rest.find('/', pos);
    std::string_view raw = rest.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    std::string seg;
    if (!http::PercentDecode(raw, &seg, false)) {
      bad_path = Status::InvalidRequest("malformed percent-encoding in the path");
    }
    call->segments.push_back(std::move(seg));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }

  // A trailing slash names the collection ("/entities/" + POST creates, "/entities/x/attrs/"
  // + DELETE is 405). Only where the entity collection has no such method is it read as an
  // empty entity id ("/entities/" + PATCH: an entity without an id, 400); "/subscriptions/" +
  // PATCH or DELETE is 405, as the ETSI suite expects (029_01_01, 032_01_01).
  const Route* route = nullptr;
  std::string allow;
  std::vector<std::vector<std::string>> candidates;
  const auto& segs = call->segments;
  if (!segs.empty() && segs.back().empty()) {
    candidates.emplace_back(segs.begin(), segs.end() - 1);
    if (segs.size() == 2 && segs[0] == "entities") candidates.push_back(segs);
  } else {
    candidates.push_back(segs);
  }
  for (auto& candidate : candidates) {
    std::string methods;
    for (const auto& r : routes_) {
      if (r.pattern.size() != candidate.size()) continue;
      bool match = true;
      for (size_t i = 0; i < r.pattern.size() && match; ++i) {
        match = r.pattern[i] == "*" || r.pattern[i] == candidate[i];
      }
      if (!match) continue;
      if (r.method == request.method || (request.method == "HEAD" && r.method == "GET")) {
        route = &r;
        break;
      }
      if (!methods.empty()) methods += ", ";
      methods += r.method;
    }
    if (allow.empty()) allow = methods;
    if (route != nullptr) {
      call->segments = std::move(candidate);
      break;
    }
  }
  int metric = route ? route->metric : metric_other_;
  call->respond = [this, start, metric, respond = std::move(respond)](http::Response r) {
    metrics_.Record(metric, r.status, NowMicros() - start);
    respond(std::move(r));
  };
  call->request = std::move(request);
  if (route == nullptr) {
    http::Response r;
    if (!allow.empty()) {
      r = ProblemResponse(Status(ErrorCode::kMethodNotAllowed,
                                 "method " + call->request.method + " is not allowed here"));
      r.AddHeader("Allow", allow);
    } else {
      r = ProblemResponse(Status::NotFound("no resource at " + call->request.path));
    }
    call->respond(std::move(r));
    return;
  }
  if (!bad_path.ok()) return Fail(call, bad_path);
  Status st = Prepare(*call, *route);
  if (!st.ok()) return Fail(call, st);
  (this->*(route->fn))(call);
}

Status Broker::Prepare(Call& call, const Route& route) {
  const http::Request& req = call.request;
  call.rc.caller = req.peer;
  call.rc.received_at = NowMicros();
  if (const std::string* t = req.FindHeader("ngsild-tenant")) {
    if (!ValidTenant(*t)) return Status::BadRequest("invalid NGSILD-Tenant");
    call.rc.tenant = *t;
    call.rc.tenant_given = !t->empty();
  }
  std::vector<std::pair<std::string, std::string>> params;
  if (!http::ParseQuery(req.query, &params)) {
    return Status::InvalidRequest("malformed query string");
  }
  const bool event_stream = route.pattern.back() == "events";
  for (const auto& [name, value] : params) {
    // EventSource cannot send headers: event streams also take the tenant as a parameter.
    if (event_stream && name == "tenant") {
      if (!ValidTenant(value)) return Status::BadRequest("invalid tenant");
      if (!call.rc.tenant_given) {
        call.rc.tenant = value;
        call.rc.tenant_given = !value.empty();
      }
      continue;
    }
    if (!KnownParameter(name)) {
      return Status::InvalidRequest("unknown query parameter '" + name + "'");
    }
  }
  call.params = QueryParams(std::move(params));

  // Event streams answer text/event-stream whatever the Accept header says (EventSource sends
  // "text/event-stream"; a plain GET may send anything).
  if (!event_stream) {
    auto accept = NegotiateAccept(req.FindHeader("accept"), route.geo);
    if (!accept.ok()) return accept.status();
    call.accept = *accept;
  }

  const bool uses_context = route.pattern[0] != "jsonldContexts";
  Json context_value;  // null: core
  std::optional<std::string> link_context;
  if (const std::string* link = req.FindHeader("link")) {
    auto parsed = ContextFromLink(*link);
    if (!parsed.ok()) return parsed.status();
    link_context = *parsed;
  }

  if (MethodHasBody(req.method)) {
    const std::string* ct = req.FindHeader("content-type");
    std::string media = ct ? MediaTypeOf(*ct) : "";
    bool json = media == "application/json";
    bool ld = media == "application/ld+json";
    bool merge = media == "application/merge-patch+json" && req.method == "PATCH";
    if (!json && !ld && !merge) {
      return Status(ErrorCode::kUnsupportedMediaType,
                    ct ? "unsupported Content-Type '" + *ct +
                             "' (use application/json or application/ld+json)"
                       : "a Content-Type header is required");
    }
    if (req.body.empty()) return Status::InvalidRequest("the request body is empty");
    auto body = ParseJson(req.body, options_.max_json_depth);
    if (!body.ok()) return body.status();
    call.body = std::move(*body);
    if (uses_context) {
      const Json* ctx_member = call.body.is_object() ? call.body.Find("@context") : nullptr;
      if (ld) {
        if (link_context) {
          return Status::BadRequest(
              "with Content-Type application/ld+json the @context must be in the body, not in "
              "a Link header");
        }
        if (call.body.is_object() && ctx_member == nullptr) {
          return Status::BadRequest(
              "with Content-Type application/ld+json the body must contain @context");
        }
        if (ctx_member != nullptr) context_value = *ctx_member;
      } else {
        if (ctx_member != nullptr) {
          return Status::BadRequest(
              "with Content-Type application/json the body must not contain @context (use a "
              "Link header or application/ld+json)");
        }
      }
    }
  }
  if (uses_context) {
    if (context_value.is_null() && link_context) context_value = Json(*link_context);
    auto ctx = contexts_.Resolve(context_value, call.rc.tenant);
    if (!ctx.ok()) return ctx.status();
    call.ctx = std::move(*ctx);
    call.context_value = std::move(context_value);
  } else {
    call.ctx = contexts_.Core();
  }
  return Status::Ok();
}

http::Response Broker::Decorate(const Call& call, http::Response r) {
  if (call.rc.tenant_given) r.AddHeader("NGSILD-Tenant", call.rc.tenant);
  return r;
}

void Broker::Reply(const CallPtr& call, int status, const Json& body) {
  http::Response r;
  r.status = status;
  RespondWith(call, std::move(r), body);
}

void Broker::RespondWith(const CallPtr& call, http::Response r, const Json& body) {
  const jsonld::Context& ctx = *call->ctx;
  switch (call->accept) {
    case MediaType::kJsonLd:
      r.AddHeader("Content-Type", "application/ld+json");
      break;
    case MediaType::kGeoJson:
      r.AddHeader("Content-Type", "application/geo+json");
      break;
    case MediaType::kJson: {
      r.AddHeader("Content-Type", "application/json");
      // Point to the context the names were compacted with.
      const Json& src = ctx.source();
      std::string url(jsonld::kCoreContextUrl);
      if (src.is_string()) {
        url = src.as_string();
      } else if (src.is_array()) {
        for (const auto& item : src.as_array()) {
          if (item.is_string() && !jsonld::IsCoreContextUrl(item.as_string())) {
            url = item.as_string();
            break;
          }
        }
      }
      r.AddHeader("Link", ContextLink(url));
      break;
    }
  }
  r.body = ToJsonString(body);
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::ReplyEmpty(const CallPtr& call, int status) {
  http::Response r;
  r.status = status;
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::Fail(const CallPtr& call, const Status& status) {
  if (status.code() == ErrorCode::kInternalError) {
    Log(LogLevel::kError, "internal error",
        {{"path", call->request.path}, {"detail", status.detail()}});
  }
  call->respond(Decorate(*call, ProblemResponse(status)));
}

void Broker::NotImplemented(const CallPtr& call) {
  Fail(call,
       Status(ErrorCode::kNotImplemented, call->request.method + " " + call->request.path +
                                              " is not implemented by this version of Civitas"));
}

void Broker::SubmitOne(const CallPtr& call, storage::WriteOp op,
                       std::function<void(const CallPtr&)> on_ok) {
  std::vector<storage::WriteOp> ops;
  ops.push_back(std::move(op));
  store_.Submit(std::move(ops), [this, call, on_ok = std::move(on_ok)](std::vector<Status> st) {
    if (!st[0].ok()) return Fail(call, st[0]);
    on_ok(call);
  });
}

}  // namespace civitas::api
