#include "subscription/subscription.h"

#include <algorithm>
#include <cmath>

#include "geo/geo_query.h"
#include "http/http.h"
#include "ngsild/parse.h"
#include "ngsild/projection.h"
#include "query/type_expr.h"
#include "subscription/mqtt.h"

namespace civitas::subscription {
namespace {

constexpr std::string_view kTriggerNames[] = {"entityCreated", "entityDeleted", "attributeCreated",
                                              "attributeUpdated", "attributeDeleted"};

// Members the broker maintains; ignored when a subscriber sends them (clause 5.2.12).
bool IsReadOnly(std::string_view key) {
  return key == "status" || key == "timesSent" || key == "timesFailed" ||
         key == "lastNotification" || key == "lastSuccess" || key == "lastFailure" ||
         key == "createdAt" || key == "modifiedAt";
}

bool IsOperatorChar(char c) { return c == ',' || c == ';' || c == '|' || c == '(' || c == ')'; }

// Maps every name in a type expression ("A,B", "(A;B)|C") through fn, keeping the operators.
std::string MapTypeNames(std::string_view expr,
                         const std::function<std::string(std::string_view)>& fn) {
  std::string out;
  size_t i = 0;
  while (i < expr.size()) {
    if (IsOperatorChar(expr[i]) || expr[i] == ' ') {
      out += expr[i++];
      continue;
    }
    size_t j = i;
    while (j < expr.size() && !IsOperatorChar(expr[j]) && expr[j] != ' ') ++j;
    out += fn(expr.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsPlainName(std::string_view expr) {
  return !expr.empty() && std::none_of(expr.begin(), expr.end(),
                                       [](char c) { return IsOperatorChar(c) || c == ' '; });
}

Status Bad(std::string detail) { return Status::BadRequest(std::move(detail)); }

// q in a JSON body may still be percent-encoded as in a URL (the ETSI suite's subscriptions
// write name=="Eiffel%20Tower"); decoded when it is valid percent-encoding.
std::string DecodedQ(const std::string& q) {
  if (q.find('%') == std::string::npos) return q;
  std::string out;
  return http::PercentDecode(q, &out, false) ? out : q;
}

// A non-empty array of strings (attribute names), expanded with ctx.
Result<Json> ExpandNameList(const Json& v, std::string_view member, const jsonld::Context& ctx) {
  if (!v.is_array() || v.as_array().empty()) {
    return Bad(std::string(member) + " must be a non-empty array of attribute names");
  }
  Json out = Json::MakeArray();
  for (const auto& item : v.as_array()) {
    if (!item.is_string() || item.as_string().empty()) {
      return Bad(std::string(member) + " must contain attribute names (strings)");
    }
    auto iri = ngsild::ExpandAttributeName(item.as_string(), ctx);
    if (!iri.ok()) return iri.status();
    out.Push(Json(*iri));
  }
  return out;
}

Result<Json> ValidateEntities(const Json& v, const jsonld::Context& ctx) {
  if (!v.is_array() || v.as_array().empty()) {
    return Bad("entities must be a non-empty array of EntitySelectors");
  }
  Json out = Json::MakeArray();
  auto expand = [&ctx](std::string_view n) { return ctx.Expand(n); };
  for (const auto& item : v.as_array()) {
    auto selector = query::EntitySelectorFromJson(item, expand);
    if (!selector.ok()) return selector.status();
    Json stored = item;
    stored.Set("type", Json(MapTypeNames(item.GetString("type"), expand)));
    out.Push(std::move(stored));
  }
  return out;
}

Result<Json> ValidateKeyValues(const Json& v, std::string_view member) {
  if (!v.is_array()) return Bad(std::string(member) + " must be an array of {key, value}");
  for (const auto& kv : v.as_array()) {
    const Json* key = kv.is_object() ? kv.Find("key") : nullptr;
    const Json* value = kv.is_object() ? kv.Find("value") : nullptr;
    if (key == nullptr || value == nullptr || !key->is_string() || !value->is_string() ||
        key->as_string().empty()) {
      return Bad(std::string(member) + " items must be {\"key\": string, \"value\": string}");
    }
    for (char c : key->as_string() + value->as_string()) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return Bad(std::string(member) + " items must not contain line breaks");
      }
    }
  }
  return v;
}

bool IsSupportedScheme(std::string_view uri) {
  return uri == kSseEndpoint || uri.starts_with("http://") || uri.starts_with("https://") ||
         uri.starts_with("mqtt://") || uri.starts_with("mqtts://");
}

Result<Json> ValidateNotification(const Json& v, const jsonld::Context& ctx) {
  if (!v.is_object()) return Bad("notification must be an object");
  Json out = Json::MakeObject();
  auto expand = [&ctx](std::string_view n) { return ctx.Expand(n); };
  bool has_pick = false, has_omit = false, has_attributes = false;
  std::shared_ptr<const ngsild::Projection> pick, omit;
  std::string format;
  bool show_changes = false;
  for (const auto& [key, value] : v.as_object()) {
    if (IsReadOnly(key) || key == "timesSent" || key == "timesFailed") continue;
    if (key == "attributes") {
      auto names = ExpandNameList(value, "notification.attributes", ctx);
      if (!names.ok()) return names.status();
      out.Set(key, std::move(*names));
      has_attributes = true;
    } else if (key == "pick" || key == "omit") {
      std::string text;
      if (value.is_string()) {
        text = value.as_string();
      } else if (value.is_array() && !value.as_array().empty()) {
        for (const auto& item : value.as_array()) {
          if (!item.is_string()) return Bad("notification." + key + " must contain names");
          if (!text.empty()) text += ",";
          text += item.as_string();
        }
      } else {
        return Bad("notification." + key + " must be a non-empty array of names");
      }
      auto projection = ngsild::ParseProjection(text, expand);
      if (!projection.ok()) return projection.status();
      (key == "pick" ? pick : omit) = *projection;
      (key == "pick" ? has_pick : has_omit) = true;
      out.Set(key, value);
    } else if (key == "format") {
      if (!value.is_string() ||
          (value.as_string() != "normalized" && value.as_string() != "concise" &&
           value.as_string() != "keyValues" && value.as_string() != "simplified")) {
        return Bad("notification.format must be normalized, concise, keyValues or simplified");
      }
      format = value.as_string();
      out.Set(key, value);
    } else if (key == "showChanges" || key == "sysAttrs") {
      if (!value.is_bool()) return Bad("notification." + key + " must be a boolean");
      if (key == "showChanges") show_changes = value.as_bool();
      out.Set(key, value);
    } else if (key == "join") {
      if (!value.is_string() || (value.as_string() != "flat" && value.as_string() != "inline" &&
                                 value.as_string() != "@none")) {
        return Bad("notification.join must be flat, inline or @none");
      }
      out.Set(key, value);
    } else if (key == "joinLevel") {
      if (!value.is_int() || value.as_int() < 1) {
        return Bad("notification.joinLevel must be a positive integer");
      }
      out.Set(key, value);
    } else if (key == "endpoint") {
      if (!value.is_object()) return Bad("notification.endpoint must be an object");
      const Json* uri = value.Find("uri");
      if (uri == nullptr || !uri->is_string() || !ngsild::IsUri(uri->as_string())) {
        return Bad("notification.endpoint.uri must be a URI");
      }
      if (!IsSupportedScheme(uri->as_string())) {
        return Bad("notification.endpoint.uri must be an http, https, mqtt or mqtts URL");
      }
      if (uri->as_string().starts_with("mqtt")) {
        auto mqtt = ParseMqttUri(uri->as_string());
        if (!mqtt.ok()) return Bad("notification.endpoint.uri: " + mqtt.status().detail());
      }
      Json endpoint = Json::MakeObject();
      endpoint.Set("uri", *uri);
      for (const auto& [ek, ev] : value.as_object()) {
        if (ek == "uri") continue;
        if (ek == "accept") {
          if (!ev.is_string() ||
              (ev.as_string() != "application/json" && ev.as_string() != "application/ld+json")) {
            return Bad(
                "notification.endpoint.accept must be application/json or "
                "application/ld+json");
          }
        } else if (ek == "receiverInfo" || ek == "notifierInfo") {
          auto kv = ValidateKeyValues(ev, "notification.endpoint." + ek);
          if (!kv.ok()) return kv.status();
        } else if (ek == "timeout" || ek == "cooldown") {
          if (!ev.is_number() || ev.as_double() <= 0) {
            return Bad("notification.endpoint." + ek + " must be a positive number");
          }
        }
        endpoint.Set(ek, ev);
      }
      out.Set(key, std::move(endpoint));
    } else {
      out.Set(key, value);  // unknown members are kept as given
    }
  }
  if (out.Find("endpoint") == nullptr) return Bad("notification.endpoint is required");
  if (has_attributes && (has_pick || has_omit)) {
    return Bad("notification.attributes cannot be combined with pick or omit");
  }
  if (pick && omit) {
    for (const auto& item : pick->items) {
      if (omit->Contains(item.name)) {
        return Bad("'" + item.name + "' cannot be both in notification.pick and omit");
      }
    }
  }
  if (show_changes && (format == "keyValues" || format == "simplified")) {
    return Bad("notification.showChanges cannot be true with the keyValues format");
  }
  return out;
}

Result<Micros> PositiveSeconds(const Json& v, std::string_view member) {
  if (!v.is_number() || !(v.as_double() > 0) || !std::isfinite(v.as_double()) ||
      v.as_double() > 1e9) {
    return Bad(std::string(member) + " must be a number of seconds greater than 0");
  }
  return static_cast<Micros>(std::llround(v.as_double() * 1e6));
}

}  // namespace

Result<Json> DefinitionFromBody(const Json& body, const jsonld::Context& ctx, bool fragment,
                                Micros now) {
  if (!body.is_object()) return Status::InvalidRequest("the body must be a JSON object");
  Json out = Json::MakeObject();
  for (const auto& [key, value] : body.as_object()) {
    if (key == "@context" || IsReadOnly(key)) continue;
    if (value.is_null()) {
      if (!fragment) return Bad("member '" + key + "' must not be null");
      if (key == "notification" || key == "type" || key == "id") {
        return Bad("member '" + key + "' of a Subscription cannot be removed");
      }
      out.Set(key, value);  // removal, applied by MergeDefinition
      continue;
    }
    if (key == "id") {
      if (!value.is_string() || !ngsild::IsUri(value.as_string())) {
        return Bad("the subscription id must be a URI");
      }
      if (fragment) continue;  // cannot be modified; ignored as the spec's examples do
      out.Set(key, value);
    } else if (key == "type") {
      if (!value.is_string() || value.as_string() != "Subscription") {
        return Bad("type must be \"Subscription\"");
      }
    } else if (key == "entities") {
      auto entities = ValidateEntities(value, ctx);
      if (!entities.ok()) return entities.status();
      out.Set(key, std::move(*entities));
    } else if (key == "watchedAttributes") {
      auto names = ExpandNameList(value, "watchedAttributes", ctx);
      if (!names.ok()) return names.status();
      out.Set(key, std::move(*names));
    } else if (key == "notificationTrigger") {
      if (!value.is_array() || value.as_array().empty()) {
        return Bad("notificationTrigger must be a non-empty array");
      }
      for (const auto& t : value.as_array()) {
        bool known = t.is_string() && (t.as_string() == "entityUpdated" ||
                                       std::find(std::begin(kTriggerNames), std::end(kTriggerNames),
                                                 t.as_string()) != std::end(kTriggerNames));
        if (!known) return Bad("unknown notificationTrigger " + ToJsonString(t));
      }
      out.Set(key, value);
    } else if (key == "q") {
      if (!value.is_string()) return Bad("q must be a string");
      auto q = query::QExpr::Parse(DecodedQ(value.as_string()),
                                   [&ctx](std::string_view n) { return ctx.Expand(n); });
      if (!q.ok()) return q.status();
      if (q->LinkDepth() > 0) {
        return Status(ErrorCode::kNotImplemented,
                      "q terms on linked entities (rel{attr}) are not implemented yet");
      }
      out.Set(key, value);
    } else if (key == "scopeQ") {
      if (!value.is_string()) return Bad("scopeQ must be a string");
      auto s = query::ScopeQ::Parse(value.as_string());
      if (!s.ok()) return s.status();
      out.Set(key, value);
    } else if (key == "geoQ") {
      auto geo = geo::ParseGeoQueryJson(value);
      if (!geo.ok()) return geo.status();
      Json stored = value;  // the geoproperty is kept expanded, like attribute names
      stored.Set("geoproperty", Json(ctx.Expand(geo->geoproperty)));
      out.Set(key, std::move(stored));
    } else if (key == "notification") {
      auto n = ValidateNotification(value, ctx);
      if (!n.ok()) return n.status();
      out.Set(key, std::move(*n));
    } else if (key == "expiresAt") {
      auto t = value.is_string() ? ParseDateTime(value.as_string()) : std::nullopt;
      if (!t) return Bad("expiresAt must be a DateTime");
      if (*t <= now) return Bad("expiresAt must be in the future");
      out.Set(key, Json(FormatDateTime(*t)));
    } else if (key == "throttling" || key == "timeInterval") {
      auto s = PositiveSeconds(value, key);
      if (!s.ok()) return s.status();
      out.Set(key, value);
    } else if (key == "isActive" || key == "localOnly") {
      if (!value.is_bool()) return Bad(key + " must be a boolean");
      out.Set(key, value);
    } else if (key == "lang" || key == "description" || key == "subscriptionName" || key == "csf" ||
               key == "expandValues" || key == "jsonKeys") {
      if (!value.is_string()) return Bad(key + " must be a string");
      out.Set(key, value);
    } else if (key == "jsonldContext") {
      if (!value.is_string() || !ngsild::IsUri(value.as_string())) {
        return Bad("jsonldContext must be a URI");
      }
      out.Set(key, value);
    } else if (key == "datasetId") {
      if (!value.is_array() || value.as_array().empty()) {
        return Bad("datasetId must be a non-empty array of URIs");
      }
      for (const auto& d : value.as_array()) {
        if (!d.is_string() || (d.as_string() != "@none" && !ngsild::IsUri(d.as_string()))) {
          return Bad("datasetId must contain URIs or \"@none\"");
        }
      }
      out.Set(key, value);
    } else if (key == "temporalQ") {
      return Bad("temporalQ is only for context source registration subscriptions");
    } else {
      out.Set(key, value);  // other members are kept as given
    }
  }
  if (!fragment) {
    if (body.Find("type") == nullptr) return Bad("type must be \"Subscription\"");
    if (out.Find("notification") == nullptr) return Bad("notification is required");
  }
  return out;
}

Result<Json> MergeDefinition(const Json& stored, const Json& fragment_definition) {
  Json out = stored;
  for (const auto& [key, value] : fragment_definition.as_object()) {
    if (value.is_null()) {
      out.Erase(key);
    } else {
      out.Set(key, value);
    }
  }
  return out;
}

Result<SubscriptionPtr> Compile(std::string id, std::string tenant, Json definition,
                                std::string context_url,
                                std::shared_ptr<const jsonld::Context> ctx) {
  auto s = std::make_shared<Subscription>();
  s->id = std::move(id);
  s->tenant = std::move(tenant);
  s->context_url = std::move(context_url);
  s->ctx = std::move(ctx);
  const Json& d = definition;
  auto identity = [](std::string_view n) { return std::string(n); };
  auto expand = [&s](std::string_view n) { return s->ctx->Expand(n); };

  if (const Json* entities = d.Find("entities")) {
    for (const auto& item : entities->as_array()) {
      auto selector = query::EntitySelectorFromJson(item, identity);
      if (!selector.ok()) return selector.status();
      s->entities.push_back(std::move(*selector));
    }
  }
  if (const Json* watched = d.Find("watchedAttributes")) {
    for (const auto& a : watched->as_array()) s->watched.push_back(a.as_string());
  }
  if (const Json* triggers = d.Find("notificationTrigger")) {
    s->triggers = 0;
    for (const auto& t : triggers->as_array()) {
      const std::string& name = t.as_string();
      if (name == "entityUpdated") {
        s->triggers |= kAttributeCreated | kAttributeUpdated | kAttributeDeleted;
        continue;
      }
      for (size_t i = 0; i < std::size(kTriggerNames); ++i) {
        if (kTriggerNames[i] == name) s->triggers |= 1u << i;
      }
    }
  }
  if (s->entities.empty() && s->watched.empty() && !d.Find("localOnly")) {
    return Bad("a subscription needs entities or watchedAttributes");
  }
  if (d.Find("throttling") && d.Find("timeInterval")) {
    return Bad("throttling and timeInterval cannot be combined");
  }
  if (d.Find("timeInterval") && d.Find("watchedAttributes")) {
    return Bad("timeInterval and watchedAttributes cannot be combined");
  }
  if (const Json* q = d.Find("q")) {
    auto parsed = query::QExpr::Parse(DecodedQ(q->as_string()), expand);
    if (!parsed.ok()) return parsed.status();
    s->q = std::move(*parsed);
  }
  if (const Json* scope = d.Find("scopeQ")) {
    auto parsed = query::ScopeQ::Parse(scope->as_string());
    if (!parsed.ok()) return parsed.status();
    s->scope_q = std::move(*parsed);
    s->has_scope_q = true;
  }
  if (const Json* geo_q = d.Find("geoQ")) {
    auto geo = geo::ParseGeoQueryJson(*geo_q);
    if (!geo.ok()) return geo.status();
    query::GeoFilter filter;
    filter.property = geo->geoproperty;  // stored expanded
    filter.query = std::move(*geo);
    s->geo = std::move(filter);
  }
  s->lang = std::string(d.GetString("lang"));
  if (const Json* ds = d.Find("datasetId")) {
    for (const auto& x : ds->as_array()) s->dataset_ids.push_back(x.as_string());
  }
  if (const Json* active = d.Find("isActive")) s->is_active = active->as_bool();
  if (const Json* exp = d.Find("expiresAt"))
    s->expires_at = ParseDateTime(exp->as_string()).value_or(0);
  if (const Json* t = d.Find("throttling")) s->throttling = *PositiveSeconds(*t, "throttling");
  if (const Json* t = d.Find("timeInterval")) {
    s->time_interval = *PositiveSeconds(*t, "timeInterval");
    if (s->entities.empty()) return Bad("timeInterval needs entities");
  }

  const Json* n = d.Find("notification");
  if (n == nullptr) return Bad("notification is required");
  NotificationParams& np = s->notification;
  if (const Json* attrs = n->Find("attributes")) {
    for (const auto& a : attrs->as_array()) np.attributes.push_back(a.as_string());
  }
  for (const char* member : {"pick", "omit"}) {
    const Json* v = n->Find(member);
    if (v == nullptr) continue;
    std::string text;
    if (v->is_string()) {
      text = v->as_string();
    } else {
      for (const auto& item : v->as_array()) {
        if (!text.empty()) text += ",";
        text += item.as_string();
      }
    }
    auto projection = ngsild::ParseProjection(text, expand);
    if (!projection.ok()) return projection.status();
    (std::string_view(member) == "pick" ? np.pick : np.omit) = *projection;
  }
  std::string_view format = n->GetString("format");
  if (format == "concise") np.format = ngsild::Format::kConcise;
  if (format == "keyValues" || format == "simplified") np.format = ngsild::Format::kKeyValues;
  if (const Json* v = n->Find("showChanges")) np.show_changes = v->as_bool();
  if (const Json* v = n->Find("sysAttrs")) np.sys_attrs = v->as_bool();
  std::string_view join = n->GetString("join");
  if (join == "flat") np.join = ngsild::Join::kFlat;
  if (join == "inline") np.join = ngsild::Join::kInline;
  if (const Json* v = n->Find("joinLevel")) np.join_level = static_cast<int>(v->as_int());
  const Json& endpoint = *n->Find("endpoint");
  np.uri = std::string(endpoint.GetString("uri"));
  if (!endpoint.GetString("accept").empty()) np.accept = std::string(endpoint.GetString("accept"));
  for (const char* member : {"receiverInfo", "notifierInfo"}) {
    const Json* v = endpoint.Find(member);
    if (v == nullptr) continue;
    auto& list = std::string_view(member) == "receiverInfo" ? np.receiver_info : np.notifier_info;
    for (const auto& kv : v->as_array()) {
      list.push_back({std::string(kv.GetString("key")), std::string(kv.GetString("value"))});
    }
  }
  s->definition = std::move(definition);
  return SubscriptionPtr(std::move(s));
}

std::vector<std::string> Subscription::IndexTypes() const {
  std::vector<std::string> out;
  for (const auto& e :
       definition.Find("entities") ? definition.Find("entities")->as_array() : Json::Array{}) {
    std::string_view type = e.GetString("type");
    if (!IsPlainName(type)) return {};
    out.emplace_back(type);
  }
  return out;
}

bool Subscription::Selects(const ngsild::Entity& e) const {
  if (!entities.empty() &&
      std::none_of(entities.begin(), entities.end(),
                   [&e](const query::EntitySelector& s) { return s.Matches(e); })) {
    return false;
  }
  if (has_scope_q && !scope_q.Matches(e.scope)) return false;
  if (geo && !geo->Matches(e)) return false;
  return q.Matches(e);
}

DeliveryState::Status StatusOf(const Subscription& s, const DeliveryState& d, Micros now) {
  if (s.expires_at != 0 && s.expires_at <= now) return DeliveryState::Status::kExpired;
  if (d.failed) return DeliveryState::Status::kFailed;
  if (!s.is_active) return DeliveryState::Status::kPaused;
  return DeliveryState::Status::kActive;
}

std::string_view StatusName(DeliveryState::Status s) {
  switch (s) {
    case DeliveryState::Status::kActive:
      return "active";
    case DeliveryState::Status::kPaused:
      return "paused";
    case DeliveryState::Status::kExpired:
      return "expired";
    case DeliveryState::Status::kFailed:
      return "failed";
  }
  return "active";
}

Json RenderSubscription(const Subscription& s, const DeliveryState& d, const jsonld::Context& ctx,
                        Micros now, bool with_context) {
  Json out = Json::MakeObject();
  out.Set("id", Json(s.id));
  out.Set("type", Json("Subscription"));
  auto compact = [&ctx](std::string_view iri) { return ctx.Compact(iri); };
  auto compact_list = [&](const Json& list) {
    Json arr = Json::MakeArray();
    for (const auto& a : list.as_array()) arr.Push(Json(compact(a.as_string())));
    return arr;
  };
  for (const auto& [key, value] : s.definition.as_object()) {
    if (key == "id") continue;
    if (key == "entities") {
      Json arr = Json::MakeArray();
      for (const auto& e : value.as_array()) {
        Json item = e;
        item.Set("type", Json(MapTypeNames(e.GetString("type"), compact)));
        arr.Push(std::move(item));
      }
      out.Set(key, std::move(arr));
    } else if (key == "watchedAttributes") {
      out.Set(key, compact_list(value));
    } else if (key == "geoQ") {
      Json g = value;
      g.Set("geoproperty", Json(compact(value.GetString("geoproperty"))));
      out.Set(key, std::move(g));
    } else if (key == "notification") {
      Json n = value;
      if (const Json* attrs = value.Find("attributes")) n.Set("attributes", compact_list(*attrs));
      if (d.times_sent > 0) n.Set("timesSent", Json(d.times_sent));
      if (d.times_failed > 0) n.Set("timesFailed", Json(d.times_failed));
      if (d.last_notification != 0) {
        n.Set("lastNotification", Json(FormatDateTime(d.last_notification)));
        n.Set("status", Json(d.last_ok ? "ok" : "failed"));
      }
      if (d.last_success != 0) n.Set("lastSuccess", Json(FormatDateTime(d.last_success)));
      if (d.last_failure != 0) n.Set("lastFailure", Json(FormatDateTime(d.last_failure)));
      out.Set(key, std::move(n));
    } else {
      out.Set(key, value);
    }
  }
  if (!s.definition.Find("notificationTrigger")) {
    Json triggers = Json::MakeArray();
    for (size_t i = 0; i < std::size(kTriggerNames); ++i) {
      if (s.triggers & (1u << i)) triggers.Push(Json(kTriggerNames[i]));
    }
    out.Set("notificationTrigger", std::move(triggers));
  }
  // Always shown (clause 5.8.1: it defaults to the subscription's own @context).
  out.Set("jsonldContext", Json(s.context_url));
  out.Set("status", Json(StatusName(StatusOf(s, d, now))));
  if (with_context) out.Set("@context", ctx.source());
  return out;
}

}  // namespace civitas::subscription
