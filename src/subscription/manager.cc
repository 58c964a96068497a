#include "subscription/manager.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <unordered_set>

#include "common/log.h"
#include "http/http.h"
#include "subscription/mqtt.h"

namespace civitas::subscription {
namespace {

constexpr std::string_view kMetaPrefix = "sub/";
constexpr size_t kReplayEvents = 1000;
constexpr Micros kHeartbeat = 15'000'000;
constexpr int kMaxCellsPerSubscription = 64;   // larger search areas are checked for every change
constexpr size_t kMaxPending = 100'000;        // events per subscription before coalescing
constexpr size_t kMaxQueuedChanges = 200'000;  // committed changes waiting to be matched

std::string MetaKey(const std::string& tenant, const std::string& id) {
  std::string key(kMetaPrefix);
  key += tenant;
  key += '\x1f';
  key += id;
  return key;
}

std::string NewNotificationId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "urn:ngsi-ld:Notification:";
  for (int i = 0; i < 2; ++i) {
    uint64_t r = rng();
    for (int j = 0; j < 16; ++j) id += kHex[(r >> (j * 4)) & 15];
  }
  return id;
}

// Keeps one event per entity: the newest state, with every attribute that changed and the state
// before the first event (for showChanges). Used for throttling, and when a subscription's
// outbox outgrows kMaxPending (its endpoint cannot keep up): then intermediate states are
// skipped but the newest state of every entity is still delivered.
void Coalesce(std::deque<Event>& pending) {
  std::vector<Event> merged;
  std::unordered_map<std::string, size_t> where;
  for (auto& ev : pending) {
    const std::string& id = ev.after ? ev.after->id : ev.before->id;
    auto [it, fresh] = where.emplace(id, merged.size());
    if (fresh) {
      merged.push_back(std::move(ev));
      continue;
    }
    Event& m = merged[it->second];
    if (m.changed != ev.changed) {
      auto names = std::make_shared<std::vector<std::string>>(*ev.changed);
      for (const auto& name : *m.changed) {
        if (std::find(names->begin(), names->end(), name) == names->end()) names->push_back(name);
      }
      ev.changed = std::move(names);
    }
    ev.before = m.before;
    ev.streamed = ev.streamed && m.streamed;
    m = std::move(ev);
  }
  pending.assign(std::make_move_iterator(merged.begin()), std::make_move_iterator(merged.end()));
}

// The 1-degree cells a box touches (longitude and latitude clamped to their ranges).
std::vector<int64_t> CellsOf(const geo::Box& b) {
  auto lon = [](double x) {
    return static_cast<int64_t>(std::floor(std::clamp(x, -180.0, 179.999)));
  };
  auto lat = [](double y) {
    return static_cast<int64_t>(std::floor(std::clamp(y, -90.0, 89.999)));
  };
  std::vector<int64_t> out;
  for (int64_t x = lon(b.min_lon); x <= lon(b.max_lon); ++x) {
    for (int64_t y = lat(b.min_lat); y <= lat(b.max_lat); ++y)
      out.push_back((x + 180) * 256 + y + 90);
  }
  return out;
}

}  // namespace

struct Manager::Runtime {
  std::mutex mu;
  SubscriptionPtr sub;
  DeliveryState state;
  std::deque<Event> pending;
  bool busy = false;        // queued for or held by a sender, or waiting on a timer
  Micros not_before = 0;    // end of the throttling window or of the retry back-off
  uint64_t generation = 0;  // bumped by Replace/Delete: stale periodic timers stop
  Micros created = 0;       // lists show subscriptions in the order they were created
  bool ephemeral = false;   // an ad-hoc stream's subscription: not stored, not listed
  std::vector<std::shared_ptr<http::Stream>> streams;
  std::deque<std::pair<uint64_t, std::string>> replay;  // the last events, for Last-Event-ID
  uint64_t next_event_id = static_cast<uint64_t>(NowMicros());  // grows across restarts too
  bool deleted = false;
};

// Candidates for a change: the subscriptions on one of the entity's types, those (without plain
// types) that watch one of the attributes that changed, and the rest.
struct Manager::Index {
  std::unordered_map<std::string, std::vector<RuntimePtr>> by_type;
  std::unordered_map<std::string, std::vector<RuntimePtr>> by_attribute;
  // geoQ without types: GeoProperty -> 1-degree cell -> the subscriptions whose search area
  // touches the cell.
  std::unordered_map<std::string, std::unordered_map<int64_t, std::vector<RuntimePtr>>> by_cell;
  std::vector<RuntimePtr> any;
};

Manager::Manager(storage::EntityStore& store, Options options)
    : store_(store), options_(std::move(options)) {
  index_ = std::make_shared<const std::map<std::string, Index>>();
}

Manager::~Manager() { Stop(); }

Micros Manager::Now() const { return options_.clock ? options_.clock() : NowMicros(); }

Status Manager::Load(const ContextResolver& resolve) {
  std::vector<std::pair<SubscriptionPtr, Micros>> loaded;
  Status st = store_.ScanMeta(kMetaPrefix, [&](std::string_view key, std::string_view value) {
    auto record = ParseJson(value);
    if (!record.ok() || !record->is_object()) {
      Log(LogLevel::kError, "unreadable subscription record", {{"key", std::string(key)}});
      return Status::Ok();
    }
    std::string url(record->GetString("context"));
    auto ctx = resolve(url);
    if (!ctx.ok()) {
      Log(LogLevel::kError, "subscription context unavailable; subscription not loaded",
          {{"id", std::string(record->GetString("id"))}, {"detail", ctx.status().detail()}});
      return Status::Ok();
    }
    const Json* def = record->Find("definition");
    auto sub =
        Compile(std::string(record->GetString("id")), std::string(record->GetString("tenant")),
                def ? *def : Json::MakeObject(), url, *ctx);
    if (!sub.ok()) {
      Log(LogLevel::kError, "invalid stored subscription",
          {{"id", std::string(record->GetString("id"))}, {"detail", sub.status().detail()}});
      return Status::Ok();
    }
    loaded.emplace_back(*sub, record->Find("created") && record->Find("created")->is_int()
                                  ? record->Find("created")->as_int()
                                  : 0);
    return Status::Ok();
  });
  CIVITAS_RETURN_IF_ERROR(st);
  std::lock_guard lock(mu_);
  for (auto& [s, created] : loaded) {
    auto rt = std::make_shared<Runtime>();
    rt->sub = s;
    rt->created = created;
    subs_[s->tenant][s->id] = rt;
  }
  RebuildIndexLocked();
  return Status::Ok();
}

void Manager::Start() {
  {
    std::lock_guard lock(mu_);
    for (auto& [tenant, subs] : subs_) {
      for (auto& [id, rt] : subs) {
        if (rt->sub->time_interval != 0) AddTimer(Now() + rt->sub->time_interval, rt, true);
      }
    }
  }
  threads_.emplace_back([this] { Dispatch(); });
  for (int i = 0; i < std::max(1, options_.sender_threads); ++i) {
    threads_.emplace_back([this] { Send(); });
  }
}

void Manager::Stop() {
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  ready_cv_.notify_all();
  dequeued_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Status Manager::Persist(const Subscription& s, Micros created) {
  Json record = Json::MakeObject();
  record.Set("created", Json(created));
  record.Set("id", Json(s.id));
  record.Set("tenant", Json(s.tenant));
  record.Set("context", Json(s.context_url));
  record.Set("definition", s.definition);
  return store_.PutMeta(MetaKey(s.tenant, s.id), ToJsonString(record));
}

void Manager::RebuildIndexLocked() {
  auto index = std::make_shared<std::map<std::string, Index>>();
  for (auto& [tenant, subs] : subs_) {
    Index& ix = (*index)[tenant];
    for (auto& [id, rt] : subs) {
      std::vector<std::string> types = rt->sub->IndexTypes();
      const Subscription& sub = *rt->sub;
      if (types.empty() && !sub.watched.empty() &&
          !(sub.triggers & (kEntityCreated | kEntityDeleted))) {
        // Only a change of a watched attribute can concern it.
        for (const auto& a : sub.watched) ix.by_attribute[a].push_back(rt);
        continue;
      }
      if (types.empty() && sub.geo) {
        // Only a change of an entity in the search area can concern it.
        auto boxes = sub.geo->query.SearchBoxes();
        std::vector<int64_t> cells;
        if (boxes) {
          for (const auto& b : *boxes) {
            for (int64_t c : CellsOf(b)) cells.push_back(c);
          }
        }
        if (boxes && !cells.empty() && cells.size() <= kMaxCellsPerSubscription) {
          std::sort(cells.begin(), cells.end());
          cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
          auto& grid = ix.by_cell[sub.geo->property];
          for (int64_t c : cells) grid[c].push_back(rt);
          continue;
        }
      }
      if (types.empty()) {
        ix.any.push_back(rt);
        continue;
      }
      std::sort(types.begin(), types.end());
      types.erase(std::unique(types.begin(), types.end()), types.end());
      for (auto& t : types) ix.by_type[t].push_back(rt);
    }
  }
  index_ = std::move(index);
}

Status Manager::Create(SubscriptionPtr s) {
  RuntimePtr rt;
  {
    std::lock_guard lock(mu_);
    auto& subs = subs_[s->tenant];
    if (subs.contains(s->id)) {
      return Status(ErrorCode::kAlreadyExists, "subscription " + s->id + " already exists");
    }
    Micros created = std::max(Now(), last_created_ + 1);
    CIVITAS_RETURN_IF_ERROR(Persist(*s, created));
    last_created_ = created;
    rt = std::make_shared<Runtime>();
    rt->sub = s;
    rt->created = created;
    subs[s->id] = rt;
    RebuildIndexLocked();
  }
  if (s->time_interval != 0) AddTimer(Now() + s->time_interval, rt, true);
  return Status::Ok();
}

Status Manager::Replace(SubscriptionPtr s) {
  RuntimePtr rt;
  {
    std::lock_guard lock(mu_);
    auto t = subs_.find(s->tenant);
    if (t == subs_.end() || !t->second.contains(s->id) || t->second[s->id]->ephemeral) {
      return Status::NotFound("subscription " + s->id + " not found");
    }
    rt = t->second[s->id];
    CIVITAS_RETURN_IF_ERROR(Persist(*s, rt->created));
    std::lock_guard rlock(rt->mu);
    rt->sub = s;
    rt->state.failed = false;
    rt->state.consecutive_failures = 0;
    ++rt->generation;
    RebuildIndexLocked();
  }
  if (s->time_interval != 0) AddTimer(Now() + s->time_interval, rt, true);
  return Status::Ok();
}

Status Manager::Delete(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  auto t = subs_.find(tenant);
  if (t == subs_.end() || !t->second.contains(id) || t->second[id]->ephemeral) {
    return Status::NotFound("subscription " + id + " not found");
  }
  CIVITAS_RETURN_IF_ERROR(store_.DeleteMeta(MetaKey(tenant, id)));
  RuntimePtr rt = t->second[id];
  {
    std::lock_guard rlock(rt->mu);
    rt->deleted = true;
    rt->pending.clear();
    ++rt->generation;
  }
  t->second.erase(id);
  RebuildIndexLocked();
  return Status::Ok();
}

Manager::RuntimePtr Manager::FindRuntime(const std::string& tenant, const std::string& id) const {
  std::lock_guard lock(mu_);
  auto t = subs_.find(tenant);
  if (t == subs_.end()) return nullptr;
  auto it = t->second.find(id);
  if (it == t->second.end() || it->second->ephemeral) return nullptr;
  return it->second;
}

SubscriptionPtr Manager::Find(const std::string& tenant, const std::string& id) const {
  RuntimePtr rt = FindRuntime(tenant, id);
  if (!rt) return nullptr;
  std::lock_guard rlock(rt->mu);
  return rt->sub;
}

Result<Json> Manager::Render(const std::string& tenant, const std::string& id,
                             const jsonld::Context& ctx, bool with_context) const {
  RuntimePtr rt = FindRuntime(tenant, id);
  if (!rt) return Status::NotFound("subscription " + id + " not found");
  std::lock_guard rlock(rt->mu);
  return RenderSubscription(*rt->sub, rt->state, ctx, Now(), with_context);
}

Json::Array Manager::RenderPage(const std::string& tenant, const jsonld::Context& ctx,
                                bool with_context, size_t offset, size_t limit,
                                size_t* total) const {
  std::vector<RuntimePtr> page;
  {
    std::lock_guard lock(mu_);
    auto t = subs_.find(tenant);
    *total = 0;
    if (t != subs_.end()) {
      for (auto& [id, rt] : t->second) *total += rt->ephemeral ? 0 : 1;
      std::vector<std::pair<Micros, RuntimePtr>> all;
      for (auto& [id, rt] : t->second) {
        if (!rt->ephemeral) all.emplace_back(rt->created, rt);
      }
      // Creation order (then id), stable across restarts.
      std::stable_sort(all.begin(), all.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t i = offset; i < all.size() && page.size() < limit; ++i) {
        page.push_back(all[i].second);
      }
    }
  }
  Json::Array out;
  Micros now = Now();
  for (auto& rt : page) {
    std::lock_guard rlock(rt->mu);
    out.push_back(RenderSubscription(*rt->sub, rt->state, ctx, now, with_context));
  }
  return out;
}

Status Manager::AttachStream(const std::string& tenant, const std::string& id,
                             std::shared_ptr<http::Stream> stream,
                             std::optional<uint64_t> last_event_id) {
  RuntimePtr rt = FindRuntime(tenant, id);
  if (!rt) return Status::NotFound("subscription " + id + " not found");
  std::lock_guard rlock(rt->mu);
  stream->Write("retry: 2000\n\n");
  if (last_event_id) {
    for (const auto& [event_id, text] : rt->replay) {
      if (event_id > *last_event_id) stream->Write(text);
    }
  }
  rt->streams.push_back(std::move(stream));
  return Status::Ok();
}

Status Manager::CreateEphemeral(SubscriptionPtr s, std::shared_ptr<http::Stream> stream) {
  auto rt = std::make_shared<Runtime>();
  rt->sub = s;
  rt->ephemeral = true;
  rt->created = Now();
  stream->Write("retry: 2000\n\n");
  rt->streams.push_back(std::move(stream));
  std::lock_guard lock(mu_);
  auto& subs = subs_[s->tenant];
  if (subs.contains(s->id)) return Status::AlreadyExists("subscription " + s->id + " exists");
  subs[s->id] = rt;
  RebuildIndexLocked();
  return Status::Ok();
}

void Manager::SweepStreams() {
  std::vector<RuntimePtr> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [tenant, subs] : subs_) {
      for (auto& [id, rt] : subs) all.push_back(rt);
    }
  }
  bool removed = false;
  for (auto& rt : all) {
    bool dead_ephemeral;
    {
      std::lock_guard rlock(rt->mu);
      for (auto& st : rt->streams) st->Write(":\n\n");  // a comment: keeps proxies open
      std::erase_if(rt->streams, [](const auto& st) { return st->closed(); });
      dead_ephemeral = rt->ephemeral && rt->streams.empty();
      if (dead_ephemeral) {
        rt->deleted = true;
        rt->pending.clear();
      }
    }
    if (dead_ephemeral) {
      std::lock_guard lock(mu_);
      subs_[rt->sub->tenant].erase(rt->sub->id);
      removed = true;
    }
  }
  if (removed) {
    std::lock_guard lock(mu_);
    RebuildIndexLocked();
  }
}

void Manager::OnCommitted(const std::vector<storage::Change>& changes) {
  {
    std::lock_guard lock(mu_);
    if (subs_.empty()) return;  // nothing to match: keep the write path free
  }
  {
    std::unique_lock lock(queue_mu_);
    // Backpressure, only when matching (CPU) cannot keep up with the writes: the commit thread
    // waits rather than letting the queue grow without bound. Slow endpoints never get here:
    // their outboxes absorb them.
    if (queued_changes_ > kMaxQueuedChanges) {
      stalls_.fetch_add(1, std::memory_order_relaxed);
      dequeued_cv_.wait(lock, [this] { return stopping_ || queued_changes_ <= kMaxQueuedChanges; });
    }
    queued_changes_ += changes.size();
    changes_.push_back(changes);
  }
  queue_cv_.notify_one();
}

void Manager::AddTimer(Micros at, const RuntimePtr& rt, bool periodic) {
  {
    std::lock_guard lock(queue_mu_);
    timers_.push({at, rt, periodic});
  }
  queue_cv_.notify_one();
}

void Manager::MakeReadyLocked(const RuntimePtr& rt, Micros now) {
  if (rt->busy || rt->pending.empty() || rt->deleted) return;
  rt->busy = true;
  if (now < rt->not_before) {
    std::lock_guard lock(queue_mu_);
    timers_.push({rt->not_before, rt, false});
    queue_cv_.notify_one();
    return;
  }
  {
    std::lock_guard lock(queue_mu_);
    ready_.push_back(rt);
  }
  ready_cv_.notify_one();
}

void Manager::Dispatch() {
  while (true) {
    std::vector<storage::Change> batch;
    std::vector<Timer> due;
    bool have_batch = false;
    {
      std::unique_lock lock(queue_mu_);
      while (!stopping_ && changes_.empty() && (timers_.empty() || timers_.top().at > Now())) {
        if (timers_.empty()) {
          queue_cv_.wait_for(lock, std::chrono::seconds(1));  // stream heartbeats
          if (Now() >= next_sweep_) break;
        } else {
          // Timers are in the manager's clock; wait in real time for at most the gap.
          Micros gap = std::max<Micros>(timers_.top().at - Now(), 1000);
          queue_cv_.wait_for(lock, std::chrono::microseconds(std::min<Micros>(gap, 100'000)));
        }
      }
      if (stopping_) return;
      if (!changes_.empty()) {
        batch = std::move(changes_.front());
        changes_.pop_front();
        queued_changes_ -= batch.size();
        have_batch = true;
        dequeued_cv_.notify_all();
      }
      Micros now = Now();
      while (!timers_.empty() && timers_.top().at <= now) {
        due.push_back(timers_.top());
        timers_.pop();
      }
    }
    if (have_batch) MatchBatch(batch);
    if (Now() >= next_sweep_) {
      next_sweep_ = Now() + kHeartbeat;
      SweepStreams();
    }
    for (const Timer& t : due) {
      RuntimePtr rt = t.rt.lock();
      if (!rt) continue;
      if (t.periodic) {
        Periodic(rt);
        continue;
      }
      std::lock_guard rlock(rt->mu);
      rt->busy = false;  // the wait is over
      MakeReadyLocked(rt, Now());
    }
  }
}

void Manager::MatchBatch(const std::vector<storage::Change>& changes) {
  std::shared_ptr<const std::map<std::string, Index>> index;
  {
    std::lock_guard lock(mu_);
    index = index_;
  }
  std::vector<RuntimePtr> candidates;
  std::unordered_set<Runtime*> seen;
  Micros now = Now();
  for (const auto& change : changes) {
    auto ix = index->find(change.tenant);
    if (ix == index->end()) continue;
    candidates.clear();
    seen.clear();
    auto add = [&](const std::vector<RuntimePtr>& list) {
      for (const auto& rt : list) {
        if (seen.insert(rt.get()).second) candidates.push_back(rt);
      }
    };
    add(ix->second.any);
    for (const auto* e : {change.before.get(), change.after.get()}) {
      if (e == nullptr) continue;
      for (const auto& type : e->types) {
        auto it = ix->second.by_type.find(type);
        if (it != ix->second.by_type.end()) add(it->second);
      }
    }
    std::optional<ChangeSummary> summary;  // computed once, when something may match
    if (!ix->second.by_attribute.empty()) {
      summary = Summarize(change.before, change.after);
      for (const auto& name : *summary->names) {
        auto it = ix->second.by_attribute.find(name);
        if (it != ix->second.by_attribute.end()) add(it->second);
      }
    }
    for (const auto& [property, grid] : ix->second.by_cell) {
      for (const auto* e : {change.before.get(), change.after.get()}) {
        if (e == nullptr) continue;
        for (const auto& g : query::GeometriesOf(*e, property)) {
          for (int64_t c : CellsOf(g.box)) {
            auto it = grid.find(c);
            if (it != grid.end()) add(it->second);
          }
        }
      }
    }
    for (const auto& rt : candidates) {
      if (!summary) summary = Summarize(change.before, change.after);
      std::lock_guard rlock(rt->mu);
      if (rt->deleted || StatusOf(*rt->sub, rt->state, now) != DeliveryState::Status::kActive) {
        continue;
      }
      auto event = MatchChange(*rt->sub, change.before, change.after, change.at, *summary);
      if (!event) continue;
      rt->pending.push_back(std::move(*event));
      events_.fetch_add(1, std::memory_order_relaxed);
      if (rt->pending.size() > kMaxPending) {
        size_t before = rt->pending.size();
        Coalesce(rt->pending);
        coalesced_.fetch_add(before - rt->pending.size(), std::memory_order_relaxed);
      }
      MakeReadyLocked(rt, now);
    }
  }
}

void Manager::Periodic(const RuntimePtr& rt) {
  SubscriptionPtr sub;
  uint64_t generation;
  {
    std::lock_guard rlock(rt->mu);
    if (rt->deleted) return;
    sub = rt->sub;
    generation = rt->generation;
  }
  if (sub->time_interval == 0) return;
  Micros now = Now();
  if (StatusOf(*sub, DeliveryState{}, now) == DeliveryState::Status::kActive) {
    std::vector<Event> events;
    store_.ForEach(sub->tenant, [&](const ngsild::EntityPtr& e) {
      if (sub->Selects(*e)) {
        Event ev;
        ev.after = e;
        ev.at = now;
        events.push_back(std::move(ev));
      }
      return true;
    });
    std::lock_guard rlock(rt->mu);
    if (rt->generation != generation) return;  // replaced: its own timer runs
    for (auto& ev : events) rt->pending.push_back(std::move(ev));
    MakeReadyLocked(rt, now);
  }
  {
    std::lock_guard rlock(rt->mu);
    if (rt->generation != generation) return;
  }
  AddTimer(now + sub->time_interval, rt, true);
}

void Manager::Send() {
  while (true) {
    RuntimePtr rt;
    {
      std::unique_lock lock(queue_mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      rt = std::move(ready_.front());
      ready_.pop_front();
    }
    SubscriptionPtr sub;
    std::vector<Event> batch;
    Micros now = Now();
    {
      std::lock_guard rlock(rt->mu);
      sub = rt->sub;
      if (rt->deleted || StatusOf(*sub, rt->state, now) != DeliveryState::Status::kActive) {
        rt->pending.clear();  // paused, expired or failed: nothing is delivered
        rt->busy = false;
        continue;
      }
      if (sub->throttling != 0) Coalesce(rt->pending);
      // One notification: events in order, one per entity, with the same trigger.
      std::unordered_set<std::string> ids;
      while (!rt->pending.empty() && batch.size() < options_.max_batch_entities) {
        const Event& ev = rt->pending.front();
        const std::string& id = ev.after ? ev.after->id : ev.before->id;
        if (!batch.empty() && (ev.reason != batch.front().reason || ids.contains(id))) break;
        ids.insert(id);
        batch.push_back(std::move(rt->pending.front()));
        rt->pending.pop_front();
      }
    }
    {
      // Counted when the attempt starts (clause 5.8.6 counts before the outcome is known), so a
      // receiver that reads the subscription as soon as it has the notification sees it.
      std::lock_guard rlock(rt->mu);
      ++rt->state.times_sent;
      rt->state.last_notification = now;
    }
    std::string error;
    Json body = RenderNotification(*sub, batch, now);
    bool first_attempt = !batch.empty() && !batch.front().streamed;
    for (auto& ev : batch) ev.streamed = true;
    if (first_attempt || batch.empty()) {
      // Event streams get each notification once, whatever happens to the endpoint's copy.
      std::lock_guard rlock(rt->mu);
      if (!rt->streams.empty() || std::string_view(sub->notification.uri) == kSseEndpoint) {
        uint64_t event_id = rt->next_event_id++;
        std::string text = "id: " + std::to_string(event_id) +
                           "\nevent: notification\ndata: " + ToJsonString(body) + "\n\n";
        for (auto& st : rt->streams) st->Write(text);
        std::erase_if(rt->streams, [](const auto& st) { return st->closed(); });
        rt->replay.emplace_back(event_id, std::move(text));
        if (rt->replay.size() > kReplayEvents) rt->replay.pop_front();
      }
    }
    bool ok = std::string_view(sub->notification.uri) == kSseEndpoint ||
              Deliver(*sub, std::move(body), &error);
    Micros done = Now();
    std::lock_guard rlock(rt->mu);
    DeliveryState& d = rt->state;
    if (ok) {
      sent_.fetch_add(1, std::memory_order_relaxed);
      d.last_success = done;
      d.last_ok = true;
      d.consecutive_failures = 0;
      rt->not_before = sub->throttling != 0 ? now + sub->throttling : 0;
    } else {
      failures_.fetch_add(1, std::memory_order_relaxed);
      ++d.times_failed;
      d.last_failure = done;
      d.last_failure_reason = error;
      d.last_ok = false;
      ++d.consecutive_failures;
      if (options_.max_consecutive_failures > 0 &&
          d.consecutive_failures >= options_.max_consecutive_failures) {
        d.failed = true;
        rt->pending.clear();
        Log(LogLevel::kWarn, "subscription failed: notifications stopped",
            {{"id", sub->id}, {"detail", error}});
      } else if (!rt->deleted) {
        // Retry the same notification first, after a back-off.
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
          rt->pending.push_front(std::move(*it));
        }
        Micros backoff = options_.retry_initial;
        for (int i = 1; i < d.consecutive_failures && backoff < options_.retry_max; ++i) {
          backoff *= 2;
        }
        rt->not_before = done + std::min(backoff, options_.retry_max);
      }
    }
    rt->busy = false;
    MakeReadyLocked(rt, Now());
  }
}

Json Manager::RenderNotification(const Subscription& s, const std::vector<Event>& batch,
                                 Micros now) {
  const std::string tenant = s.tenant;
  auto lookup = [this, tenant](const std::string& id) { return store_.Get(tenant, id); };
  Json::Array data;
  for (const auto& ev : batch) {
    Json e = RenderEventEntity(s, ev, lookup);
    if (e.is_array()) {
      for (auto& x : e.as_array()) data.push_back(std::move(x));
    } else {
      data.push_back(std::move(e));
    }
  }
  std::string_view reason = batch.empty() ? "timeInterval" : TriggerName(batch.front().reason);
  return MakeNotification(s, NewNotificationId(), std::move(data), reason, now);
}

bool Manager::Deliver(const Subscription& s, Json body, std::string* error) {
  thread_local std::map<std::string, std::unique_ptr<http::Client>> clients;

  std::vector<http::Header> headers;
  const bool ld = s.notification.accept == "application/ld+json";
  headers.push_back({"Content-Type", ld ? "application/ld+json" : "application/json"});
  if (!ld) {
    headers.push_back({"Link", "<" + s.context_url +
                                   ">; rel=\"http://www.w3.org/ns/json-ld#context\"; "
                                   "type=\"application/ld+json\""});
  }
  if (!s.tenant.empty()) headers.push_back({"NGSILD-Tenant", s.tenant});
  for (const auto& kv : s.notification.receiver_info) headers.push_back({kv.key, kv.value});

  const std::string& uri = s.notification.uri;
  if (uri.starts_with("mqtt://") || uri.starts_with("mqtts://")) {
    // The MQTT binding: the headers travel as "metadata" beside the notification "body".
    thread_local MqttPublisher mqtt;
    auto endpoint = ParseMqttUri(uri);
    if (!endpoint.ok()) {
      *error = endpoint.status().detail();
      return false;
    }
    endpoint->ca_file = options_.tls_ca_file;
    std::string version = "mqtt3.1.1";
    int qos = 0;
    for (const auto& kv : s.notification.notifier_info) {
      if (kv.key == "MQTT-Version") version = kv.value;
      if (kv.key == "MQTT-QoS" && (kv.value == "1" || kv.value == "2")) qos = kv.value[0] - '0';
    }
    Json message = Json::MakeObject();
    Json metadata = Json::MakeObject();
    for (const auto& h : headers) metadata.Set(h.name, Json(h.value));
    message.Set("metadata", std::move(metadata));
    message.Set("body", std::move(body));
    Status st = mqtt.Publish(*endpoint, version, qos, ToJsonString(message), options_.timeout_ms);
    if (!st.ok()) *error = st.detail();
    return st.ok();
  }

  auto& client = clients[uri];
  if (!client) {
    if (clients.size() > 256) clients.clear();
    client = std::make_unique<http::Client>();
  }
  http::ClientResponse response;
  int status = client->Send("POST", uri, headers, ToJsonString(body), options_.timeout_ms, 1 << 20,
                            &response, error);
  if (status < 0) return false;
  if (status < 200 || status > 299) {
    *error = "endpoint answered " + std::to_string(status);
    return false;
  }
  return true;
}

Manager::Stats Manager::stats() const {
  Stats s;
  s.events = events_.load();
  s.notifications = sent_.load();
  s.failures = failures_.load();
  s.coalesced = coalesced_.load();
  s.stalls = stalls_.load();
  std::lock_guard lock(mu_);
  for (const auto& [tenant, subs] : subs_) s.subscriptions += subs.size();
  return s;
}

}  // namespace civitas::subscription
