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
  store->thread_ = std::thread([s = store.get()] { s->Run(); });
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
  CIVITAS_RETURN_IF_ERROR(
      backend_->Scan(kEntitySpace, [&](std::string_view key, std::string_view value) {
        size_t sep = key.find('\0');
        if (sep == std::string_view::npos) return Status::Internal("corrupt entity key");
        auto entity = ngsild::DeserializeEntity(value);
        if (!entity.ok()) return entity.status();
        std::string tenant(key.substr(0, sep));
        Tenant* t = GetOrCreateTenant(tenant);
        std::string id(key.substr(sep + 1));
        catalog_.Apply(tenant, *entity, +1);
        t->entities.emplace(std::move(id),
                            std::make_shared<const ngsild::Entity>(std::move(*entity)));
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

void EntityStore::Run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) return;
      size_t ops = 0;
      while (!queue_.empty() && (batch.empty() || ops < options_.max_batch_ops)) {
        ops += queue_.front().ops.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void EntityStore::CommitBatch(std::vector<Pending>& batch) {
  const Micros now = NowMicros();
  // The state this batch builds on top of the committed one, by entity key.
  struct Staged {
    std::string tenant;
    std::string id;
    EntityPtr state;  // null: deleted
    EntityPtr committed;
    bool existed;
  };
  std::unordered_map<std::string, Staged> staged;
  std::vector<std::vector<Status>> statuses(batch.size());
  std::vector<Change> changes;
  Backend::Batch writes;
  std::vector<std::string> new_tenants;

  for (size_t b = 0; b < batch.size(); ++b) {
    statuses[b].reserve(batch[b].ops.size());
    for (auto& op : batch[b].ops) {
      std::string key = EntityKey(op.tenant, op.id);
      auto it = staged.find(key);
      EntityPtr current;
      if (it != staged.end()) {
        current = it->second.state;
      } else {
        current = Get(op.tenant, op.id);
      }
      Result<Outcome> outcome = op.apply(current, now);
      if (!outcome.ok()) {
        statuses[b].push_back(outcome.status());
        continue;
      }
      statuses[b].push_back(Status::Ok());
      if (outcome->prepare) outcome->prepare(&writes);
      if (outcome->kind == Outcome::Kind::kNone) continue;
      if (outcome->kind == Outcome::Kind::kDelete && current == nullptr) continue;
      if (it == staged.end()) {
        it = staged.emplace(key, Staged{op.tenant, op.id, current, current, current != nullptr})
                 .first;
      }
      Change change;
      change.tenant = op.tenant;
      change.before = current;
      change.at = now;
      if (outcome->kind == Outcome::Kind::kPut) {
        change.kind = current ? Change::Kind::kUpdated : Change::Kind::kCreated;
        change.after = outcome->entity;
        it->second.state = outcome->entity;
        writes.push_back({Backend::Op::Kind::kPut, std::string(kEntitySpace), key,
                          ngsild::SerializeEntity(*outcome->entity)});
        if (!HasTenant(op.tenant) &&
            std::find(new_tenants.begin(), new_tenants.end(), op.tenant) == new_tenants.end()) {
          new_tenants.push_back(op.tenant);
          writes.push_back({Backend::Op::Kind::kPut, std::string(kMetaSpace),
                            std::string(kTenantPrefix) + op.tenant, ""});
        }
      } else {
        change.kind = Change::Kind::kDeleted;
        it->second.state = nullptr;
        writes.push_back({Backend::Op::Kind::kDelete, std::string(kEntitySpace), key, ""});
      }
      changes.push_back(std::move(change));
    }
  }

  if (!writes.empty()) {
    for (auto* l : listeners_) l->OnPrepare(changes, &writes);
    Status st = backend_->Commit(writes, options_.sync);
    if (!st.ok()) {
      ++failed_commits_;
      Log(LogLevel::kError, "commit failed", {{"error", st.detail()}});
      for (auto* l : listeners_) l->OnAborted();
      for (size_t b = 0; b < batch.size(); ++b) {
        for (auto& s : statuses[b]) {
          if (s.ok()) s = Status::Internal("the write could not be made durable: " + st.detail());
        }
        batch[b].done(std::move(statuses[b]));
      }
      return;
    }
    // Publish: make the new states visible to readers.
    for (const auto& name : new_tenants) GetOrCreateTenant(name);
    for (auto& [key, s] : staged) {
      Tenant* t = FindTenant(s.tenant);
      std::unique_lock<std::shared_mutex> lock(t->mu);
      if (s.state) {
        t->entities.insert_or_assign(s.id, s.state);
      } else {
        t->entities.erase(s.id);
      }
      // Under the same lock, so readers see indexes and entities agree (entity_index.h).
      for (auto* ix : indexes_) ix->OnChange(s.tenant, s.committed, s.state);
    }
    for (const auto& c : changes) catalog_.Update(c.tenant, c.before.get(), c.after.get());
    for (auto* l : listeners_) l->OnCommitted(changes);
  }
  ++commits_;
  size_t n = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    n += statuses[b].size();
    batch[b].done(std::move(statuses[b]));
  }
  ops_ += n;
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
    if (closing_ && !thread_.joinable()) return;
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
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
