#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "http/http.h"
#include "storage/entity_store.h"
#include "subscription/notification.h"
#include "subscription/subscription.h"

namespace civitas::subscription {

// Keeps the subscriptions of every tenant (durably, as meta records of the entity store),
// matches the store's committed changes against them and delivers notifications.
//
// Threads: the store's commit thread only appends committed changes to a queue (OnCommitted
// never blocks on matching or on the network). One dispatcher thread matches changes, in commit
// order, against an index of the subscriptions (by entity type, else by watched attribute,
// else by the 1-degree cells of their geoQ's search area; the others are checked for every
// change) and appends events to each subscription's outbox;
// it also runs the timers (throttling windows, retry back-off, periodic notifications). Sender
// threads take a subscription whose outbox is ready, render and POST one notification, and
// record the outcome. A subscription is handled by one sender at a time, so its notifications
// (and therefore those of each entity) leave in the order of the changes. A slow or failing
// endpoint holds up only its own subscriptions (and one sender thread while a request is open).
//
// Memory: if matching (CPU) falls more than 200,000 committed changes behind, the commit thread
// waits for it (backpressure, counted in stats().stalls) instead of queueing without bound. An
// endpoint that cannot keep up makes its outbox grow; past 100,000 events the outbox
// is coalesced to the newest state per entity (counted in stats().coalesced), so every entity's
// final state still arrives but intermediate states may be skipped.
//
// Delivery: a failed notification (transport error or a status other than 2xx) is retried with
// exponential back-off, counting timesFailed and lastFailure each time; after
// max_consecutive_failures the subscription's status becomes "failed" and its outbox is dropped
// until the subscription is updated. Throttling never drops the newest state: events that
// arrive inside the window are coalesced per entity (the newest state wins) and sent when the
// window ends.
class Manager : public storage::ChangeListener {
 public:
  struct Options {
    int sender_threads = 4;
    int timeout_ms = 5000;              // per notification request
    int max_consecutive_failures = 20;  // then status "failed"
    Micros retry_initial = 100'000;     // first back-off, doubled each failure...
    Micros retry_max = 10'000'000;      // ...up to this
    size_t max_batch_entities = 100;    // entities per notification
    std::function<Micros()> clock;      // tests inject one; empty: NowMicros()
    std::string tls_ca_file;  // mqtts: the CAs to trust (--tls-ca-file); empty: the system's
  };

  Manager(storage::EntityStore& store, Options options);
  ~Manager() override;  // Stop()

  // Loads the stored subscriptions (before Start). Subscriptions whose context cannot be
  // resolved are kept and reported with a log line; they notify once it resolves on update.
  Status Load(const ContextResolver& resolve);
  void Start();
  // Stops the threads; undelivered notifications are dropped (they are not durable).
  void Stop();

  // Stores a new subscription. AlreadyExists if the id is taken.
  Status Create(SubscriptionPtr s);
  // Replaces a subscription (after an update); resets a "failed" status. NotFound if unknown.
  Status Replace(SubscriptionPtr s);
  Status Delete(const std::string& tenant, const std::string& id);
  SubscriptionPtr Find(const std::string& tenant, const std::string& id) const;
  // Renders one subscription / a page of them (in order of creation) with ctx.
  Result<Json> Render(const std::string& tenant, const std::string& id, const jsonld::Context& ctx,
                      bool with_context) const;
  Json::Array RenderPage(const std::string& tenant, const jsonld::Context& ctx, bool with_context,
                         size_t offset, size_t limit, size_t* total) const;

  // Server-sent events. A stream receives every notification of the subscription from now on,
  // as "id: N / event: notification / data: {Notification}" events; with last_event_id, first
  // the retained ones after it (the last 1000 per subscription, in memory: after a restart
  // nothing is replayed). A subscription whose endpoint is kSseEndpoint only streams.
  Status AttachStream(const std::string& tenant, const std::string& id,
                      std::shared_ptr<http::Stream> stream, std::optional<uint64_t> last_event_id);
  // An ad-hoc subscription that lives as long as its stream (not stored, not listed).
  Status CreateEphemeral(SubscriptionPtr s, std::shared_ptr<http::Stream> stream);

  void OnCommitted(const std::vector<storage::Change>& changes) override;

  struct Stats {
    uint64_t events = 0;         // matched changes queued for delivery
    uint64_t notifications = 0;  // notifications sent successfully
    uint64_t failures = 0;       // failed attempts
    uint64_t coalesced = 0;      // intermediate states skipped for endpoints that lag
    uint64_t stalls = 0;         // commits that waited for matching to catch up
    uint64_t subscriptions = 0;
  };
  Stats stats() const;

 private:
  struct Runtime;
  using RuntimePtr = std::shared_ptr<Runtime>;
  struct Index;  // per tenant: type IRI -> subscriptions, and the unindexed ones
  struct Timer {
    Micros at;
    std::weak_ptr<Runtime> rt;
    bool periodic;
    bool operator>(const Timer& o) const { return at > o.at; }
  };

  Micros Now() const;
  // The stored (not ephemeral) subscription's runtime, or null.
  RuntimePtr FindRuntime(const std::string& tenant, const std::string& id) const;
  Status Persist(const Subscription& s, Micros created);
  void RebuildIndexLocked();
  void Dispatch();
  void Send();
  void MatchBatch(const std::vector<storage::Change>& changes);
  void Periodic(const RuntimePtr& rt);
  // With rt->mu held: queues rt for a sender if it has work and is not busy or waiting.
  void MakeReadyLocked(const RuntimePtr& rt, Micros now);
  void AddTimer(Micros at, const RuntimePtr& rt, bool periodic);
  Json RenderNotification(const Subscription& s, const std::vector<Event>& batch, Micros now);
  bool Deliver(const Subscription& s, Json body, std::string* error);
  // Heartbeats on idle streams; drops closed streams and the ephemeral subscriptions they held.
  void SweepStreams();

  storage::EntityStore& store_;
  Options options_;

  mutable std::mutex mu_;                                          // subs_ and index_
  std::map<std::string, std::map<std::string, RuntimePtr>> subs_;  // tenant -> id -> runtime
  std::shared_ptr<const std::map<std::string, Index>> index_;
  Micros last_created_ = 0;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::vector<storage::Change>> changes_;
  size_t queued_changes_ = 0;
  std::condition_variable dequeued_cv_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::deque<RuntimePtr> ready_;
  std::condition_variable ready_cv_;
  bool stopping_ = false;

  std::vector<std::thread> threads_;
  std::atomic<uint64_t> events_{0}, sent_{0}, failures_{0}, coalesced_{0}, stalls_{0};
  Micros next_sweep_ = 0;  // dispatcher thread only
};

}  // namespace civitas::subscription
