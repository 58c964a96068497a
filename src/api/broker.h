#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/call.h"
#include "api/metrics.h"
#include "http/http.h"
#include "jsonld/context.h"
#include "ngsild/render.h"
#include "query/selector.h"
#include "storage/entity_store.h"
#include "storage/geo_index.h"
#include "storage/query_index.h"

namespace civitas::subscription {
class Manager;
}

namespace civitas::temporal {
class TemporalStore;
}

namespace civitas::api {

// The NGSI-LD API (under /ngsi-ld/v1) and the operational endpoints (/health, /version,
// /metrics) as one http::Handler. Owns no state of its own beyond metrics: entities live in the
// EntityStore and contexts in the ContextRegistry.
class Broker {
 public:
  struct Options {
    std::string version = "0.0.0";
    size_t max_json_depth = 64;
    // Subscriptions and notifications; null: the /subscriptions endpoints answer 501.
    subscription::Manager* subscriptions = nullptr;
    // Finds candidates for geo-queries; without one they scan the tenant. Must be added to the
    // store (EntityStore::AddIndex) and outlive the broker.
    const storage::GeoIndex* geo_index = nullptr;
    // Type, attribute and value indexes for queries (null: queries scan or use geo_index).
    const storage::QueryIndex* query_index = nullptr;
    // The history store behind /temporal; null: the temporal API answers 501.
    temporal::TemporalStore* temporal = nullptr;
    // Attribute instances of one entity in one temporal response; beyond, the answer is cut
    // and says so with 206 and Content-Range (clause 6.3.10).
    size_t temporal_max_instances = 1000;
  };

  Broker(storage::EntityStore& store, jsonld::ContextRegistry& contexts, Options options);

  // The http::Handler entry point.
  void Handle(http::Request&& request, http::Responder respond);

  Metrics& metrics() { return metrics_; }

  // Extra text appended to /metrics (e.g. server counters), set by the wiring.
  void SetMetricsHook(std::function<void(std::string&)> hook) { metrics_hook_ = std::move(hook); }

 private:
  using CallPtr = std::shared_ptr<Call>;
  using HandlerFn = void (Broker::*)(const CallPtr&);
  struct Route {
    std::vector<std::string_view> pattern;  // "*" matches one segment
    std::string_view method;
    HandlerFn fn;
    bool geo = false;  // may answer application/geo+json
    int metric = 0;
  };

  void AddRoute(std::vector<std::string_view> pattern, std::string_view method, HandlerFn fn,
                std::string_view label, bool geo = false);
  void HandleApi(http::Request&& request, http::Responder respond, std::string_view rest);
  Status Prepare(Call& call, const Route& route);

  // Responses. RespondWith keeps r's status and headers and adds the body with its media type
  // (and the context Link for application/json).
  void Reply(const CallPtr& call, int status, const Json& body);
  void RespondWith(const CallPtr& call, http::Response r, const Json& body);
  void ReplyEmpty(const CallPtr& call, int status);
  void Fail(const CallPtr& call, const Status& status);
  http::Response Decorate(const Call& call, http::Response r);
  // Submits one write and answers with on_ok(call) or the op's error.
  void SubmitOne(const CallPtr& call, storage::WriteOp op,
                 std::function<void(const CallPtr&)> on_ok);

  // Answers 501 for an endpoint that is planned but not built yet.
  void NotImplemented(const CallPtr& call);

  // Submits a change of one existing entity: mutate gets a copy of its current state (the
  // request fails with NotFound when there is none) and says whether it changed anything.
  using Mutation = std::function<Result<bool>(ngsild::Entity& e, Micros now)>;
  void ModifyEntity(const CallPtr& call, const std::string& id, Mutation mutate,
                    std::function<void(const CallPtr&)> on_ok);
  void AppendOrUpdateAttrs(const CallPtr& call, bool update);
  void WriteAttribute(const CallPtr& call, bool partial);

  // Entities (entities.cc).
  void CreateEntity(const CallPtr& call);
  void RetrieveEntity(const CallPtr& call);
  void DeleteEntity(const CallPtr& call);
  void ReplaceEntity(const CallPtr& call);
  void MergeEntity(const CallPtr& call);
  void AppendAttrs(const CallPtr& call);
  void UpdateAttrs(const CallPtr& call);
  void PartialUpdateAttr(const CallPtr& call);
  void ReplaceAttr(const CallPtr& call);
  void DeleteAttr(const CallPtr& call);

  // Queries (query.cc) and batch operations (batch.cc).
  void QueryGet(const CallPtr& call);
  void QueryPost(const CallPtr& call);
  void AnswerQuery(const CallPtr& call, query::EntityFilter filter, ngsild::RenderOptions options);
  void BatchOperation(const CallPtr& call);
  void PurgeEntities(const CallPtr& call);

  // Discovery (discovery.cc).
  Status CheckTenantForRead(const Call& call) const;
  void ListTypes(const CallPtr& call);
  void GetType(const CallPtr& call);
  void ListAttributes(const CallPtr& call);
  void GetAttribute(const CallPtr& call);

  // Subscriptions (subscriptions.cc).
  Status CheckSubscriptionId(const Call& call) const;
  Result<std::pair<std::string, std::shared_ptr<const jsonld::Context>>> SubscriptionContext(
      const Call& call, const Json& definition);
  void CreateSubscription(const CallPtr& call);
  void ListSubscriptions(const CallPtr& call);
  void RetrieveSubscription(const CallPtr& call);
  void UpdateSubscription(const CallPtr& call);
  void DeleteSubscription(const CallPtr& call);
  // Server-sent events (Civitas extensions): a subscription's notifications, or those of an
  // ad-hoc filter given in the URL.
  void SubscriptionEvents(const CallPtr& call);
  void AdHocEvents(const CallPtr& call);
  void StartEventStream(const CallPtr& call,
                        std::function<Status(std::shared_ptr<http::Stream>)> attach);
  // The temporal API (temporal.cc). TemporalQueryHolder carries the parsed time filter and
  // representation (a type private to temporal.cc).
  using TemporalQueryHolder = std::shared_ptr<const void>;
  bool TemporalAvailable(const CallPtr& call);
  void TemporalCreate(const CallPtr& call);
  void TemporalRetrieve(const CallPtr& call);
  void TemporalDelete(const CallPtr& call);
  void TemporalAppendAttrs(const CallPtr& call);
  void TemporalDeleteAttr(const CallPtr& call);
  void TemporalModifyInstance(const CallPtr& call);
  void TemporalQueryGet(const CallPtr& call);
  void TemporalQueryPost(const CallPtr& call);
  void TemporalAnswer(const CallPtr& call, const query::EntityFilter& filter,
                      const TemporalQueryHolder& query);

  // @contexts (contexts.cc).
  void ListContexts(const CallPtr& call);
  void AddContext(const CallPtr& call);
  void GetContext(const CallPtr& call);
  void DeleteContext(const CallPtr& call);

  storage::EntityStore& store_;
  jsonld::ContextRegistry& contexts_;
  Options options_;
  subscription::Manager* subscriptions_;
  Metrics metrics_;
  std::vector<Route> routes_;
  int metric_health_ = 0, metric_version_ = 0, metric_metrics_ = 0, metric_other_ = 0;
  std::function<void(std::string&)> metrics_hook_;
};

}  // namespace civitas::api
