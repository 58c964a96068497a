#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "ngsild/entity.h"
#include "storage/backend.h"
#include "storage/catalog.h"
#include "storage/entity_index.h"

namespace civitas::storage {

using ngsild::EntityPtr;

// One committed change of one entity, as published on the change stream.
struct Change {
  enum class Kind { kCreated, kUpdated, kDeleted };
  Kind kind;
  std::string tenant;
  EntityPtr before;  // null when created
  EntityPtr after;   // null when deleted
  Micros at = 0;     // commit time
};

// Consumers of the change stream (subscriptions, the temporal store, the dashboard's live feed).
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // On the commit thread, before the batch is made durable: a listener may add records to the
  // batch so that they become durable in the same atomic step as the changes themselves.
  virtual void OnPrepare(const std::vector<Change>& changes, Backend::Batch* batch) {}
  // On the commit thread, after the batch is durable and visible to readers, in commit order.
  // Must not block: hand work to another thread.
  virtual void OnCommitted(const std::vector<Change>& changes) {}
  // On the commit thread, when the batch OnPrepare saw could not be made durable: forget what
  // was staged for it.
  virtual void OnAborted() {}
};

// What a write decided to do to its entity.
struct Outcome {
  enum class Kind { kNone, kPut, kDelete };
  Kind kind = Kind::kNone;
  EntityPtr entity;  // the new state, for kPut
  // Optional: adds records kept beside the entity (e.g. history uploads to the temporal store)
  // to this op's atomic batch. Runs on the commit thread right after apply succeeded, also for
  // kNone, and before the listeners' OnPrepare.
  std::function<void(Backend::Batch* batch)> prepare;

  static Outcome None() { return {}; }
  static Outcome Put(ngsild::Entity e) {
    return {Kind::kPut, std::make_shared<const ngsild::Entity>(std::move(e)), nullptr};
  }
  static Outcome Delete() { return {Kind::kDelete, nullptr, nullptr}; }
};

// One write to one entity. `apply` computes the new state from the current one (null when the
// entity does not exist). It runs on the commit thread in commit order, so it sees every earlier
// write; it must be quick and must not block (parse and validate before submitting). An error
// from apply fails only this op.
struct WriteOp {
  std::string tenant;
  std::string id;
  std::function<Result<Outcome>(const EntityPtr& current, Micros now)> apply;
};

// The current state of every entity of every tenant, in memory, made durable through a Backend.
//
// Writes go through one commit thread that batches everything submitted while the previous
// batch was being synced (group commit): apply every op, write one atomic batch with fsync,
// publish the new states to readers, tell listeners, then complete the submitters. An
// acknowledged write is therefore durable, and readers never see a write that is not.
// Reads take a shared lock on the tenant and never wait on disk. Thread-safe.
class EntityStore {
 public:
  struct Options {
    bool sync = true;                  // fsync each batch (durability); tests may turn it off
    size_t max_batch_ops = 16384;      // ops per group commit
  };

  // Loads every entity from the backend into memory and starts the commit thread.
  static Result<std::unique_ptr<EntityStore>> Open(std::unique_ptr<Backend> backend,
                                                   Options options);
  ~EntityStore();  // Close()

  EntityPtr Get(std::string_view tenant, std::string_view id) const;
  bool HasTenant(std::string_view tenant) const;
  std::vector<std::string> Tenants() const;
  size_t Count(std::string_view tenant) const;
  size_t TotalCount() const;
  // Calls fn for each entity of the tenant in id order until fn returns false. Holds the
  // tenant's shared lock: fn must be quick.
  void ForEach(std::string_view tenant, const std::function<bool(const EntityPtr&)>& fn) const;
  // Like ForEach, but only over the entities an index proposes: under the tenant's shared lock,
  // candidates() returns entity ids (any order, duplicates allowed; ids that do not exist are
  // skipped) or nullopt for "all of them". Index and entities are read in one consistent state
  // (see EntityIndex); the ids may point into the index, as they stay valid under the lock.
  void ForEachCandidate(
      std::string_view tenant,
      const std::function<std::optional<std::vector<std::string_view>>()>& candidates,
      const std::function<bool(const EntityPtr&)>& fn) const;

  // Runs fn under the tenant's shared lock, so that an index (QueryIndex::Visit) and the
  // entities it hands out are read in one consistent state. False if the tenant does not exist.
  bool ReadLocked(std::string_view tenant, const std::function<void()>& fn) const;

  // Submits writes; done receives one Status per op, in order, once they are durable (or
  // failed). done runs on the commit thread: it must not block.
  void Submit(std::vector<WriteOp> ops, std::function<void(std::vector<Status>)> done);

  // Entity types and attributes per tenant, kept up to date with every commit.
  const Catalog& catalog() const { return catalog_; }

  // Listeners must be added before the first Submit.
  void AddListener(ChangeListener* listener);
  // Indexes too (they are told about every entity already loaded here, then about every
  // published change). The index must outlive the store's commit thread (Close()).
  void AddIndex(EntityIndex* index);

  // Small durable records outside entities (hosted contexts, later subscriptions). Synchronous.
  Status PutMeta(const std::string& key, const std::string& value);
  // Several records in one atomic, synced write (e.g. a batch of provisioned devices).
  Status PutMetas(const std::vector<std::pair<std::string, std::string>>& records);
  Status DeleteMeta(const std::string& key);
  Status ScanMeta(std::string_view prefix,
                  const std::function<Status(std::string_view key, std::string_view value)>& fn);

  // Completes every submitted write, then stops the commit thread. Later Submits fail with
  // ServiceUnavailable. Idempotent.
  void Close();

  struct Stats {
    uint64_t commits = 0;
    uint64_t ops = 0;
    uint64_t failed_commits = 0;
    uint64_t disk_bytes = 0;
  };
  Stats stats() const;

 private:
  struct Tenant {
    mutable std::shared_mutex mu;
    std::map<std::string, EntityPtr, std::less<>> entities;
  };
  struct Pending {
    std::vector<WriteOp> ops;
    std::function<void(std::vector<Status>)> done;
  };

  EntityStore(std::unique_ptr<Backend> backend, Options options);
  Status Load();
  void Run();
  void CommitBatch(std::vector<Pending>& batch);
  Tenant* FindTenant(std::string_view name) const;
  Tenant* GetOrCreateTenant(const std::string& name);

  std::unique_ptr<Backend> backend_;
  Options options_;
  Catalog catalog_;
  std::vector<ChangeListener*> listeners_;
  std::vector<EntityIndex*> indexes_;

  mutable std::mutex tenants_mu_;  // guards the map, not the tenants
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  std::thread thread_;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> failed_commits_{0};
};

}  // namespace civitas::storage
