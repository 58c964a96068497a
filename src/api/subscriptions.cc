// Subscriptions (clause 5.8): POST/GET /subscriptions, GET/PATCH/DELETE /subscriptions/{id}.
#include <cstdlib>
#include <random>

#include "api/broker.h"
#include "api/options.h"
#include "ngsild/parse.h"
#include "subscription/manager.h"

namespace civitas::api {
namespace {

std::string NewSubscriptionId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "urn:ngsi-ld:Subscription:";
  uint64_t a = rng(), b = rng();
  for (int j = 0; j < 16; ++j) id += kHex[(a >> (j * 4)) & 15];
  for (int j = 0; j < 16; ++j) id += kHex[(b >> (j * 4)) & 15];
  return id;
}

}  // namespace

Status Broker::CheckSubscriptionId(const Call& call) const {
  if (!ngsild::IsUri(call.segments[1])) {
    return Status::BadRequest("the subscription id '" + call.segments[1] + "' is not a URI");
  }
  return Status::Ok();
}

// The context of a subscription's notifications and names: its jsonldContext member, or else
// the @context of the request that created it (given a URL this broker serves if inline).
Result<std::pair<std::string, std::shared_ptr<const jsonld::Context>>> Broker::SubscriptionContext(
    const Call& call, const Json& definition) {
  if (const Json* url = definition.Find("jsonldContext")) {
    auto ctx = contexts_.Resolve(*url, call.rc.tenant);
    if (!ctx.ok()) return ctx.status();
    return std::make_pair(url->as_string(), *ctx);
  }
  // One URL (alone or in an array, beside core URLs) is kept as it is, so that notifications
  // carry the subscriber's own context URL.
  const Json& given = call.context_value;
  if (given.is_array()) {
    const Json* url = nullptr;
    bool other = false;
    for (const auto& item : given.as_array()) {
      if (item.is_string() && jsonld::IsCoreContextUrl(item.as_string())) continue;
      if (item.is_string() && url == nullptr) {
        url = &item;
      } else {
        other = true;
      }
    }
    if (url != nullptr && !other) return std::make_pair(url->as_string(), call.ctx);
  }
  auto url = contexts_.StoreImplicit(call.context_value, call.rc.tenant);
  if (!url.ok()) return url.status();
  return std::make_pair(*url, call.ctx);
}

void Broker::CreateSubscription(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  auto def = subscription::DefinitionFromBody(call->body, *call->ctx, false, NowMicros());
  if (!def.ok()) return Fail(call, def.status());
  std::string id(def->GetString("id"));
  if (id.empty()) id = NewSubscriptionId();
  auto context = SubscriptionContext(*call, *def);
  if (!context.ok()) return Fail(call, context.status());
  auto sub =
      subscription::Compile(id, call->rc.tenant, std::move(*def), context->first, context->second);
  if (!sub.ok()) return Fail(call, sub.status());
  if (Status st = subscriptions_->Create(*sub); !st.ok()) return Fail(call, st);
  http::Response r;
  r.status = 201;
  r.AddHeader("Location", "/ngsi-ld/v1/subscriptions/" + id);
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::ListSubscriptions(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  auto limit = NonNegativeParam(call->params, "limit", 20);
  if (!limit.ok()) return Fail(call, limit.status());
  auto offset = NonNegativeParam(call->params, "offset", 0);
  if (!offset.ok()) return Fail(call, offset.status());
  if (*limit > 1000) {
    return Fail(call, Status(ErrorCode::kTooManyResults, "limit must be at most 1000"));
  }
  size_t total = 0;
  Json::Array page = subscriptions_->RenderPage(
      call->rc.tenant, *call->ctx, call->accept == MediaType::kJsonLd, *offset, *limit, &total);
  http::Response r;
  r.status = 200;
  if (call->params.Get("count").value_or("false") == "true") {
    r.AddHeader("NGSILD-Results-Count", std::to_string(total));
  }
  auto link = [&](size_t off, const char* rel) {
    r.AddHeader("Link", "</ngsi-ld/v1/subscriptions?limit=" + std::to_string(*limit) +
                            "&offset=" + std::to_string(off) + ">;rel=\"" + rel +
                            "\";type=\"application/ld+json\"");
  };
  if (*limit > 0 && static_cast<size_t>(*offset + *limit) < total) link(*offset + *limit, "next");
  if (*offset > 0) link(*offset > *limit ? *offset - *limit : 0, "prev");
  RespondWith(call, std::move(r), Json(std::move(page)));
}

void Broker::RetrieveSubscription(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  if (Status st = CheckSubscriptionId(*call); !st.ok()) return Fail(call, st);
  auto rendered = subscriptions_->Render(call->rc.tenant, call->segments[1], *call->ctx,
                                         call->accept == MediaType::kJsonLd);
  if (!rendered.ok()) return Fail(call, rendered.status());
  Reply(call, 200, *rendered);
}

void Broker::UpdateSubscription(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  if (Status st = CheckSubscriptionId(*call); !st.ok()) return Fail(call, st);
  auto current = subscriptions_->Find(call->rc.tenant, call->segments[1]);
  if (!current) {
    return Fail(call, Status::NotFound("subscription " + call->segments[1] + " not found"));
  }
  auto fragment = subscription::DefinitionFromBody(call->body, *call->ctx, true, NowMicros());
  if (!fragment.ok()) return Fail(call, fragment.status());
  auto merged = subscription::MergeDefinition(current->definition, *fragment);
  if (!merged.ok()) return Fail(call, merged.status());
  std::string url = current->context_url;
  auto ctx = current->ctx;
  if (fragment->Find("jsonldContext") != nullptr) {
    auto context = SubscriptionContext(*call, *fragment);
    if (!context.ok()) return Fail(call, context.status());
    url = context->first;
    ctx = context->second;
  }
  auto sub = subscription::Compile(current->id, call->rc.tenant, std::move(*merged), url, ctx);
  if (!sub.ok()) return Fail(call, sub.status());
  if (Status st = subscriptions_->Replace(*sub); !st.ok()) return Fail(call, st);
  ReplyEmpty(call, 204);
}

void Broker::DeleteSubscription(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  if (Status st = CheckSubscriptionId(*call); !st.ok()) return Fail(call, st);
  if (Status st = subscriptions_->Delete(call->rc.tenant, call->segments[1]); !st.ok()) {
    return Fail(call, st);
  }
  ReplyEmpty(call, 204);
}

// The head of an event stream; attach registers the stream once the head has gone out.
void Broker::StartEventStream(const CallPtr& call,
                              std::function<Status(std::shared_ptr<http::Stream>)> attach) {
  http::Response r;
  r.status = 200;
  r.AddHeader("Content-Type", "text/event-stream");
  r.AddHeader("Cache-Control", "no-cache");
  r.AddHeader("X-Accel-Buffering", "no");
  r.on_stream = [attach = std::move(attach)](std::shared_ptr<http::Stream> stream) {
    Status st = attach(stream);
    if (!st.ok()) {
      stream->Write("event: error\ndata: " + ToJsonString(Json(st.detail())) + "\n\n");
      stream->Close();
    }
  };
  call->respond(Decorate(*call, std::move(r)));
}

// GET /subscriptions/{id}/events: the subscription's notifications as server-sent events,
// resuming after the Last-Event-ID header (or lastEventId parameter) when given.
void Broker::SubscriptionEvents(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  if (Status st = CheckSubscriptionId(*call); !st.ok()) return Fail(call, st);
  const std::string id = call->segments[1];
  if (!subscriptions_->Find(call->rc.tenant, id)) {
    return Fail(call, Status::NotFound("subscription " + id + " not found"));
  }
  std::optional<uint64_t> last;
  if (const std::string* h = call->request.FindHeader("last-event-id")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(h->c_str(), &end, 10);
    if (!h->empty() && *end == '\0') last = v;
  }
  StartEventStream(call, [this, tenant = call->rc.tenant, id, last](auto stream) {
    return subscriptions_->AttachStream(tenant, id, std::move(stream), last);
  });
}

// GET /events?type=&id=&idPattern=&q=&scopeQ=&georel=&geometry=&coordinates=&geoproperty=
// &watchedAttributes=&notificationTrigger=&attrs=
// &options=keyValues|concise|sysAttrs: an ad-hoc subscription that lives as long as the stream.
void Broker::AdHocEvents(const CallPtr& call) {
  if (subscriptions_ == nullptr) return NotImplemented(call);
  const auto& p = call->params;
  Json def = Json::MakeObject();
  def.Set("type", Json("Subscription"));
  if (auto type = p.Get("type")) {
    Json selector = Json::MakeObject();
    selector.Set("type", Json(*type));
    if (auto id = p.Get("id")) selector.Set("id", Json(*id));
    if (auto pattern = p.Get("idPattern")) selector.Set("idPattern", Json(*pattern));
    Json entities = Json::MakeArray();
    entities.Push(std::move(selector));
    def.Set("entities", std::move(entities));
  } else if (p.Has("id") || p.Has("idPattern")) {
    return Fail(call, Status::BadRequest("id and idPattern need a type"));
  }
  auto list = [&](std::string_view name) {
    Json arr = Json::MakeArray();
    for (const auto& v : p.List(name)) arr.Push(Json(v));
    return arr;
  };
  if (p.Has("watchedAttributes")) def.Set("watchedAttributes", list("watchedAttributes"));
  if (p.Has("notificationTrigger")) def.Set("notificationTrigger", list("notificationTrigger"));
  if (auto q = p.Get("q")) def.Set("q", Json(*q));
  if (auto scope = p.Get("scopeQ")) def.Set("scopeQ", Json(*scope));
  if (auto lang = p.Get("lang")) def.Set("lang", Json(*lang));
  if (auto georel = p.Get("georel")) {
    Json geo_q = Json::MakeObject();
    geo_q.Set("georel", Json(*georel));
    if (auto geometry = p.Get("geometry")) geo_q.Set("geometry", Json(*geometry));
    if (auto coordinates = p.Get("coordinates")) {
      auto parsed = ParseJson(*coordinates);
      if (!parsed.ok()) return Fail(call, Status::BadRequest("coordinates must be a JSON array"));
      geo_q.Set("coordinates", std::move(*parsed));
    }
    if (auto property = p.Get("geoproperty")) geo_q.Set("geoproperty", Json(*property));
    def.Set("geoQ", std::move(geo_q));
  }
  if (!def.Find("entities") && !def.Find("watchedAttributes")) def.Set("localOnly", Json(true));
  Json notification = Json::MakeObject();
  if (p.Has("attrs")) notification.Set("attributes", list("attrs"));
  if (p.HasOption("keyValues") || p.HasOption("simplified")) {
    notification.Set("format", Json("keyValues"));
  } else if (p.HasOption("concise")) {
    notification.Set("format", Json("concise"));
  }
  if (p.HasOption("sysAttrs")) notification.Set("sysAttrs", Json(true));
  Json endpoint = Json::MakeObject();
  endpoint.Set("uri", Json(subscription::kSseEndpoint));
  notification.Set("endpoint", std::move(endpoint));
  def.Set("notification", std::move(notification));

  auto definition = subscription::DefinitionFromBody(def, *call->ctx, false, NowMicros());
  if (!definition.ok()) return Fail(call, definition.status());
  auto context = SubscriptionContext(*call, *definition);
  if (!context.ok()) return Fail(call, context.status());
  auto sub =
      subscription::Compile("urn:civitas:stream:" + NewSubscriptionId().substr(25), call->rc.tenant,
                            std::move(*definition), context->first, context->second);
  if (!sub.ok()) return Fail(call, sub.status());
  StartEventStream(call, [this, sub = *sub](auto stream) {
    return subscriptions_->CreateEphemeral(sub, std::move(stream));
  });
}

}  // namespace civitas::api
