#include "storage/entity_store.h"

#include <algorithm>
#include <unordered_map>

#include "common/log.h"

namespace civitas::storage {
namespace {

constexpr std::string_view kEntitySpace = "entities";
constexpr std::string_view kMetaSpace = "meta";
constexpr std::string_view kTenantPrefix = "tenant/";

std::string EntityKey(std::string_view tenant, std::string_view id) {
  std::string key;
  key.reserve(tenant.size() + 1 + id.size());
  key.append(tenant);
  key.push_back('\0');
  key.append(id);
  return key;
}

}  // namespace

EntityStore::EntityStore(std::unique_ptr<Backend> backend, Options options)
    : backend_(std::move(backend)), options_(options) {}

Result<std::unique_ptr<EntityStore>> EntityStore::Open(std::unique_ptr<Backend> backend,
                                                       Options options) {
  auto store = std::unique_ptr<EntityStore>(new EntityStore(std::move(backend), options));
  CIVITAS_RETURN_IF_ERROR(store->Load());
  store->prepare_thread_ = std::thread([s = store.get()] { s->PrepareLoop(); });
  store->commit_thread_ = std::thread([s = store.get()] { s->CommitLoop(); });
  return store;
}

EntityStore::~EntityStore() { Close(); }

Status EntityStore::Load() {
  size_t count = 0;
  CIVITAS_RETURN_IF_ERROR(backend_->Scan(kMetaSpace, [&](std::string_view key, std::string_view) {
    if (key.substr(0, kTenantPrefix.size()) == kTenantPrefix) {
      GetOrCreateTenant(std::string(key.substr(kTenantPrefix.size())));
    }
    return Status::Ok();
  }));
  CIVITAS_RETURN_IF_ERROR(backend_->Scan(kEntitySpace, [&](std::string_view key,
                                                           std::string_view value) {
    size_t sep = key.find('\0');
    if (sep == std::string_view::npos) return Status::Internal("corrupt entity key");
    auto entity = ngsild::DeserializeEntity(value);
    if (!entity.ok()) return entity.status();
    std::string tenant(key.substr(0, sep));
    Tenant* t = GetOrCreateTenant(tenant);
    std::string id(key.substr(sep + 1));
    catalog_.Apply(tenant, *entity, +1);
    t->entities.emplace(std::move(id), std::make_shared<const ngsild::Entity>(std::move(*entity)));
    ++count;
    return Status::Ok();
  }));
  Log(LogLevel::kInfo, "store loaded",
      {{"entities", std::to_string(count)}, {"tenants", std::to_string(tenants_.size())}});
  return Status::Ok();
}

EntityStore::Tenant* EntityStore::FindTenant(std::string_view name) const {
  std::lock_guard<std::mutex> lock(tenants_mu_);
  auto it = tenants_.find(name);
  return it == tenants_.end() ? nullptr : it->second.get();
}

EntityStore::Tenant* EntityStore::GetOrCreateTenant(const std::string& name) {
  std::lock_guard<std::mutex> lock(tenants_mu_);
  auto& slot = tenants_[name];
  if (!slot) slot = std::make_unique<Tenant>();
  return slot.get();
}

EntityPtr EntityStore::Get(std::string_view tenant, std::string_view id) const {
  Tenant* t = FindTenant(tenant);
  if (t == nullptr) return nullptr;
  std::shared_lock<std::shared_mutex> lock(t->mu);
  auto it = t->entities.find(id);
  return it == t->entities.end() ? nullptr : it->second;
}

bool EntityStore::HasTenant(std::string_view tenant) const { return FindTenant(tenant) != nullptr; }

std::vector<std::string> EntityStore::Tenants() const {
  std::lock_guard<std::mutex> lock(tenants_mu_);
  std::vector<std::string> names;
  for (const auto& [name, t] : tenants_) names.push_back(name);
  return names;
}

size_t EntityStore::Count(std::string_view tenant) const {
  Tenant* t = FindTenant(tenant);
  if (t == nullptr) return 0;
  std::shared_lock<std::shared_mutex> lock(t->mu);
  return t->entities.size();
}

size_t EntityStore::TotalCount() const {
  size_t total = 0;
  for (const auto& name : Tenants()) total += Count(name);
  return total;
}

void EntityStore::ForEach(std::string_view tenant,
                          const std::function<bool(const EntityPtr&)>& fn) const {
  Tenant* t = FindTenant(tenant);
  if (t == nullptr) return;
  std::shared_lock<std::shared_mutex> lock(t->mu);
  for (const auto& [id, e] : t->entities) {
    if (!fn(e)) return;
  }
}

void EntityStore::ForEachCandidate(
    std::string_view tenant,
    const std::function<std::optional<std::vector<std::string_view>>()>& candidates,
    const std::function<bool(const EntityPtr&)>& fn) const {
  Tenant* t = FindTenant(tenant);
  if (t == nullptr) return;
  std::shared_lock<std::shared_mutex> lock(t->mu);
  std::optional<std::vector<std::string_view>> ids = candidates();
  if (!ids) {
    for (const auto& [id, e] : t->entities) {
      if (!fn(e)) return;
    }
    return;
  }
  // In id order, like ForEach, so paging over candidates is as stable as paging over all.
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  for (const auto& id : *ids) {
    auto it = t->entities.find(id);
    if (it != t->entities.end() && !fn(it->second)) return;
  }
}

bool EntityStore::ReadLocked(std::string_view tenant, const std::function<void()>& fn) const {
  Tenant* t = FindTenant(tenant);
  if (t == nullptr) return false;
  std::shared_lock<std::shared_mutex> lock(t->mu);
  fn();
  return true;
}

void EntityStore::AddListener(ChangeListener* listener) { listeners_.push_back(listener); }

void EntityStore::AddIndex(EntityIndex* index) {
  for (const auto& name : Tenants()) {
    Tenant* t = FindTenant(name);
    std::unique_lock<std::shared_mutex> lock(t->mu);
    for (const auto& [id, e] : t->entities) index->OnChange(name, nullptr, e);
  }
  indexes_.push_back(index);
}

void EntityStore::Submit(std::vector<WriteOp> ops, std::function<void(std::vector<Status>)> done) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!closing_) {
      queue_.push_back({std::move(ops), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  std::vector<Status> statuses(ops.size(),
                               Status(ErrorCode::kServiceUnavailable, "the store is closed"));
  done(std::move(statuses));
}

void EntityStore::PrepareLoop() {
  for (;;) {
    // At most one prepared round waits for the commit thread: while it syncs one round, the
    // next is prepared, and what arrives meanwhile makes the round after that (one fsync for
    // all of it, as with a single thread, instead of a round per handful of ops).
    {
      std::unique_lock<std::mutex> lock(rounds_mu_);
      rounds_cv_.wait(lock, [&] { return rounds_.empty(); });
    }
    std::vector<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) break;
      size_t ops = 0;
      while (!queue_.empty() && (batch.empty() || ops < options_.max_batch_ops)) {
        ops += queue_.front().ops.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::unique_ptr<Round> round = Prepare(std::move(batch));
    std::lock_guard<std::mutex> lock(rounds_mu_);
    rounds_.push_back(std::move(round));
    rounds_cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(rounds_mu_);
  prepare_done_ = true;
  rounds_cv_.notify_all();
}

void EntityStore::CatchUp() {
  if (epoch_.load() != seen_epoch_) {
    // A commit failed: the rounds prepared on top of it fail too. Once none is in flight,
    // everything not published is forgotten.
    {
      std::unique_lock<std::mutex> lock(rounds_mu_);
      rounds_cv_.wait(lock, [&] { return finished_seq_ + 1 == next_seq_; });
    }
    seen_epoch_ = epoch_.load();
    for (auto* l : listeners_) l->OnAborted();
    in_flight_.clear();
    in_flight_keys_.clear();
    return;
  }
  const uint64_t published = published_seq_.load(std::memory_order_acquire);
  while (!in_flight_keys_.empty() && in_flight_keys_.front().first <= published) {
    for (const auto& key : in_flight_keys_.front().second) {
      auto it = in_flight_.find(key);
      if (it != in_flight_.end() && it->second.seq <= published) in_flight_.erase(it);
    }
    in_flight_keys_.pop_front();
  }
}

std::unique_ptr<EntityStore::Round> EntityStore::Prepare(std::vector<Pending> batch) {
  CatchUp();
  auto round = std::make_unique<Round>();
  round->seq = next_seq_++;
  round->epoch = seen_epoch_;
  round->batch = std::move(batch);
  round->statuses.resize(round->batch.size());
  const Micros now = NowMicros();
  std::unordered_map<std::string, size_t> written;  // key -> index in round->written

  for (size_t b = 0; b < round->batch.size(); ++b) {
    round->statuses[b].reserve(round->batch[b].ops.size());
    for (auto& op : round->batch[b].ops) {
      std::string key = EntityKey(op.tenant, op.id);
      auto it = written.find(key);
      EntityPtr current;
      if (it != written.end()) {
        current = round->written[it->second].after;
      } else if (auto f = in_flight_.find(key); f != in_flight_.end()) {
        current = f->second.state;
      } else {
        current = Get(op.tenant, op.id);
      }
      Result<Outcome> outcome = op.apply(current, now);
      if (!outcome.ok()) {
        round->statuses[b].push_back(outcome.status());
        continue;
      }
      round->statuses[b].push_back(Status::Ok());
      if (outcome->prepare) outcome->prepare(&round->writes);
      if (outcome->kind == Outcome::Kind::kNone) continue;
      if (outcome->kind == Outcome::Kind::kDelete && current == nullptr) continue;
      if (it == written.end()) {
        it = written.emplace(key, round->written.size()).first;
        round->written.push_back({key, op.tenant, op.id, current, current});
      }
      Written& w = round->written[it->second];
      Change change;
      change.tenant = op.tenant;
      change.before = current;
      change.at = now;
      if (outcome->kind == Outcome::Kind::kPut) {
        change.kind = current ? Change::Kind::kUpdated : Change::Kind::kCreated;
        change.after = outcome->entity;
        w.after = outcome->entity;
        round->writes.push_back({Backend::Op::Kind::kPut, std::string(kEntitySpace), key,
                                 ngsild::SerializeEntity(*outcome->entity)});
        auto& nt = round->new_tenants;
        if (!HasTenant(op.tenant) && std::find(nt.begin(), nt.end(), op.tenant) == nt.end()) {
          nt.push_back(op.tenant);
          round->writes.push_back({Backend::Op::Kind::kPut, std::string(kMetaSpace),
                                   std::string(kTenantPrefix) + op.tenant, ""});
        }
      } else {
        change.kind = Change::Kind::kDeleted;
        w.after = nullptr;
        round->writes.push_back({Backend::Op::Kind::kDelete, std::string(kEntitySpace), key, ""});
      }
      round->changes.push_back(std::move(change));
    }
  }
  if (round->writes.empty()) return round;
  for (auto* l : listeners_) l->OnPrepare(round->changes, &round->writes);
  round->prepared = true;
  std::vector<std::string> keys;
  keys.reserve(round->written.size());
  for (const auto& w : round->written) {
    in_flight_.insert_or_assign(w.key, InFlight{round->seq, w.after});
    keys.push_back(w.key);
  }
  in_flight_keys_.emplace_back(round->seq, std::move(keys));
  return round;
}

void EntityStore::CommitLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Round>> rounds;
    {
      std::unique_lock<std::mutex> lock(rounds_mu_);
      rounds_cv_.wait(lock, [&] { return prepare_done_ || !rounds_.empty(); });
      if (rounds_.empty()) return;  // prepare_done_
      while (!rounds_.empty()) {
        rounds.push_back(std::move(rounds_.front()));
        rounds_.pop_front();
      }
      rounds_cv_.notify_all();  // room for more
    }
    // Every round ready so far goes into one atomic batch and one fsync, unless an earlier
    // commit failed under it (then its epoch is behind).
    const uint64_t epoch = epoch_.load();
    Backend::Batch writes;
    for (auto& r : rounds) {
      if (r->epoch != epoch) continue;
      if (writes.empty()) {
        writes = std::move(r->writes);
      } else {
        std::move(r->writes.begin(), r->writes.end(), std::back_inserter(writes));
      }
    }
    Status st = writes.empty() ? Status::Ok() : backend_->Commit(writes, options_.sync);
    if (!st.ok()) {
      ++failed_commits_;
      Log(LogLevel::kError, "commit failed", {{"error", st.detail()}});
      epoch_.store(epoch + 1);
    }
    for (auto& r : rounds) {
      if (r->epoch != epoch) {
        Fail(*r, "an earlier write it was applied on top of could not be made durable");
      } else if (!st.ok()) {
        Fail(*r, "the write could not be made durable: " + st.detail());
      } else {
        Publish(*r);
      }
    }
    std::lock_guard<std::mutex> lock(rounds_mu_);
    finished_seq_ = rounds.back()->seq;
    rounds_cv_.notify_all();
  }
}

void EntityStore::Publish(Round& round) {
  if (!round.changes.empty()) {
    for (const auto& name : round.new_tenants) GetOrCreateTenant(name);
    for (const auto& w : round.written) {
      Tenant* t = FindTenant(w.tenant);
      std::unique_lock<std::shared_mutex> lock(t->mu);
      if (w.after) {
        t->entities.insert_or_assign(w.id, w.after);
      } else {
        t->entities.erase(w.id);
      }
      // Under the same lock, so readers see indexes and entities agree (entity_index.h).
      for (auto* ix : indexes_) ix->OnChange(w.tenant, w.before, w.after);
    }
    for (const auto& c : round.changes) catalog_.Update(c.tenant, c.before.get(), c.after.get());
  }
  published_seq_.store(round.seq, std::memory_order_release);
  if (round.prepared) {
    for (auto* l : listeners_) l->OnCommitted(round.changes);
  }
  ++commits_;
  size_t n = 0;
  for (size_t b = 0; b < round.batch.size(); ++b) {
    n += round.statuses[b].size();
    round.batch[b].done(std::move(round.statuses[b]));
  }
  ops_ += n;
}

void EntityStore::Fail(Round& round, const std::string& why) {
  for (size_t b = 0; b < round.batch.size(); ++b) {
    for (auto& s : round.statuses[b]) {
      if (s.ok()) s = Status::Internal(why);
    }
    round.batch[b].done(std::move(round.statuses[b]));
  }
}

Status EntityStore::PutMeta(const std::string& key, const std::string& value) {
  return backend_->Commit({{Backend::Op::Kind::kPut, std::string(kMetaSpace), key, value}},
                          options_.sync);
}

Status EntityStore::PutMetas(const std::vector<std::pair<std::string, std::string>>& records) {
  Backend::Batch batch;
  batch.reserve(records.size());
  for (const auto& [key, value] : records) {
    batch.push_back({Backend::Op::Kind::kPut, std::string(kMetaSpace), key, value});
  }
  return backend_->Commit(batch, options_.sync);
}

Status EntityStore::DeleteMeta(const std::string& key) {
  return backend_->Commit({{Backend::Op::Kind::kDelete, std::string(kMetaSpace), key, ""}},
                          options_.sync);
}

Status EntityStore::ScanMeta(
    std::string_view prefix,
    const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  return backend_->Scan(kMetaSpace, [&](std::string_view key, std::string_view value) {
    if (key.substr(0, prefix.size()) != prefix) return Status::Ok();
    return fn(key, value);
  });
}

void EntityStore::Close() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (closing_ && !prepare_thread_.joinable()) return;
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (prepare_thread_.joinable()) prepare_thread_.join();
  if (commit_thread_.joinable()) commit_thread_.join();
}

EntityStore::Stats EntityStore::stats() const {
  Stats s;
  s.commits = commits_.load();
  s.ops = ops_.load();
  s.failed_commits = failed_commits_.load();
  s.disk_bytes = backend_->DiskBytes();
  return s;
}

}  // namespace civitas::storage
