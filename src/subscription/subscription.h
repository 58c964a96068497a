#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/time.h"
#include "jsonld/context.h"
#include "ngsild/render.h"
#include "query/geo_filter.h"
#include "query/selector.h"

namespace civitas::subscription {

// What kinds of change a subscription is told about (notificationTrigger, clause 5.2.12).
// "entityUpdated" is the union of the three attribute triggers.
enum Trigger : uint32_t {
  kEntityCreated = 1u << 0,
  kEntityDeleted = 1u << 1,
  kAttributeCreated = 1u << 2,
  kAttributeUpdated = 1u << 3,
  kAttributeDeleted = 1u << 4,
};
constexpr uint32_t kDefaultTriggers = kAttributeCreated | kAttributeUpdated;

// The endpoint URI of a subscription whose notifications go only to its server-sent event
// streams (a Civitas extension, for browsers).
constexpr std::string_view kSseEndpoint = "urn:civitas:sse";

struct KeyValue {
  std::string key;
  std::string value;
};

// Where and how notifications go (NotificationParams and Endpoint, clauses 5.2.14, 5.2.15).
struct NotificationParams {
  std::vector<std::string> attributes;  // expanded; empty: all
  std::shared_ptr<const ngsild::Projection> pick, omit;
  ngsild::Format format = ngsild::Format::kNormalized;
  bool show_changes = false;
  bool sys_attrs = false;
  ngsild::Join join = ngsild::Join::kNone;
  int join_level = 1;
  std::string uri;
  std::string accept = "application/json";  // or application/ld+json
  std::vector<KeyValue> receiver_info;      // sent as headers with each notification
  std::vector<KeyValue> notifier_info;      // e.g. MQTT version and QoS
};

// One subscription, compiled from its stored definition. Immutable: an update builds a new one.
//
// `definition` keeps the members the subscriber gave, with attribute and type names expanded
// to IRIs (so the subscription can be shown with any @context), without the read-only members
// (status, timesSent, ...). q and scopeQ stay as written; q's names are expanded with
// `context` when the subscription is compiled.
struct Subscription {
  std::string id;
  std::string tenant;
  Json definition;
  std::string context_url;  // jsonldContext: the @context of notifications and of q's names
  std::shared_ptr<const jsonld::Context> ctx;

  std::vector<query::EntitySelector> entities;  // empty: any entity
  std::vector<std::string> watched;             // expanded; empty: every attribute
  uint32_t triggers = kDefaultTriggers;
  query::QExpr q;
  query::ScopeQ scope_q;
  bool has_scope_q = false;
  std::optional<query::GeoFilter> geo;  // geoQ
  std::string lang;
  std::vector<std::string> dataset_ids;  // "@none" for the default instance; empty: all
  bool is_active = true;
  Micros expires_at = 0;     // 0: never
  Micros throttling = 0;     // minimum time between notifications; 0: none
  Micros time_interval = 0;  // periodic notifications; 0: on change
  NotificationParams notification;

  // Expanded type names of the selectors when every selector names plain types (no
  // expression), for the matcher's index; empty when some selector accepts any type.
  std::vector<std::string> IndexTypes() const;
  // True if the entity passes the selectors, q, scopeQ and geoQ (not the watched attributes).
  bool Selects(const ngsild::Entity& e) const;
};
using SubscriptionPtr = std::shared_ptr<const Subscription>;

// Resolves a jsonldContext URL to a context (the registry's Resolve).
using ContextResolver =
    std::function<Result<std::shared_ptr<const jsonld::Context>>(const std::string& url)>;

// Turns a request body into a stored definition: validates it as a Subscription (create) or a
// Subscription fragment (update, `fragment` true) and expands names with ctx. Read-only members
// are dropped. Errors: BadRequestData (InvalidRequest for a body that is not an object).
// `now` is for expiresAt, which must be in the future.
Result<Json> DefinitionFromBody(const Json& body, const jsonld::Context& ctx, bool fragment,
                                Micros now);

// Applies a fragment's definition to a stored definition (clause 5.5.8: members given replace
// the stored ones; a null member removes an optional one; mandatory ones cannot be removed).
Result<Json> MergeDefinition(const Json& stored, const Json& fragment_definition);

// Compiles a stored definition (parses q, selectors, projections...).
Result<SubscriptionPtr> Compile(std::string id, std::string tenant, Json definition,
                                std::string context_url,
                                std::shared_ptr<const jsonld::Context> ctx);

// Mutable delivery state, shown as read-only members.
struct DeliveryState {
  enum class Status { kActive, kPaused, kExpired, kFailed };
  int64_t times_sent = 0;
  int64_t times_failed = 0;
  Micros last_notification = 0;
  Micros last_success = 0;
  Micros last_failure = 0;
  std::string last_failure_reason;
  int consecutive_failures = 0;
  bool last_ok = true;  // notification.status "ok" / "failed" once something was sent
  bool failed = false;  // gave up after too many consecutive failures
};

// The status of a subscription at `now`: expired beats failed beats paused.
DeliveryState::Status StatusOf(const Subscription& s, const DeliveryState& d, Micros now);
std::string_view StatusName(DeliveryState::Status s);

// Renders a subscription for GET, compacting names with ctx.
Json RenderSubscription(const Subscription& s, const DeliveryState& d, const jsonld::Context& ctx,
                        Micros now, bool with_context);

}  // namespace civitas::subscription
