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
#include <unordered_map>
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
//
// A commit round is prepared on the store's prepare thread and made durable and published on
// its commit thread; the prepare thread may already prepare the next rounds while the commit
// thread syncs one (see EntityStore). Every round that reaches OnPrepare later reaches exactly
// one of OnCommitted (in round order) or, once no round is in flight, OnAborted.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // On the prepare thread, before the round is made durable: a listener may add records to the
  // batch so that they become durable in the same atomic step as the changes themselves. The
  // rounds before it may still be in flight: their changes are not durable or visible yet.
  virtual void OnPrepare(const std::vector<Change>& changes, Backend::Batch* batch) {}
  // On the commit thread, after the round is durable and visible to readers, in round order.
  // Must not block: hand work to another thread.
  virtual void OnCommitted(const std::vector<Change>& changes) {}
  // On the prepare thread, when rounds it prepared could not be made durable; called once every
  // round in flight has been committed or failed, before the next round is prepared. Forget
  // everything staged since the last committed round.
  virtual void OnAborted() {}
};

// What a write decided to do to its entity.
struct Outcome {
  enum class Kind { kNone, kPut, kDelete };
  Kind kind = Kind::kNone;
  EntityPtr entity;  // the new state, for kPut
  // Optional: adds records kept beside the entity (e.g. history uploads to the temporal store)
  // to this op's atomic batch. Runs on the prepare thread right after apply succeeded, also for
  // kNone, and before the listeners' OnPrepare.
  std::function<void(Backend::Batch* batch)> prepare;

  static Outcome None() { return {}; }
  static Outcome Put(ngsild::Entity e) {
    return {Kind::kPut, std::make_shared<const ngsild::Entity>(std::move(e)), nullptr};
  }
  static Outcome Delete() { return {Kind::kDelete, nullptr, nullptr}; }
};

// One write to one entity. `apply` computes the new state from the current one (null when the
// entity does not exist). It runs on the prepare thread in commit order, so it sees every earlier
// write (also one not yet durable, whose round is in flight); it must be quick and must not block
// (parse and validate before submitting). An error from apply fails only this op.
struct WriteOp {
  std::string tenant;
  std::string id;
  std::function<Result<Outcome>(const EntityPtr& current, Micros now)> apply;
};

// The current state of every entity of every tenant, in memory, made durable through a Backend.
//
// Writes go through two threads in a pipeline (group commit). The prepare thread takes
// everything submitted so far as one round: it applies every op (on top of the rounds still in
// flight), serializes the new states and lets listeners add their records (OnPrepare). The
// commit thread writes the rounds ready so far as one atomic batch with fsync, then publishes
// the new states to readers, tells listeners (OnCommitted) and completes the submitters, round
// by round. While one round is synced the next is prepared, so the fsync does not idle the CPU
// work. An acknowledged write is durable, and readers never see a write that is not. When a
// batch cannot be made durable, its rounds and every round prepared on top of them fail.
// Reads take a shared lock on the tenant and never wait on disk. Thread-safe.
class EntityStore {
 public:
  struct Options {
    bool sync = true;              // fsync each batch (durability); tests may turn it off
    size_t max_batch_ops = 16384;  // ops per group commit
  };

  // Loads every entity from the backend into memory and starts the prepare and commit threads.
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
  // failed). done runs on the commit thread, in submission order: it must not block.
  void Submit(std::vector<WriteOp> ops, std::function<void(std::vector<Status>)> done);

  // Entity types and attributes per tenant, kept up to date with every commit.
  const Catalog& catalog() const { return catalog_; }

  // Listeners must be added before the first Submit.
  void AddListener(ChangeListener* listener);
  // Indexes too (they are told about every entity already loaded here, then about every
  // published change). The index must outlive the store's threads (Close()).
  void AddIndex(EntityIndex* index);

  // Small durable records outside entities (hosted contexts, later subscriptions). Synchronous.
  Status PutMeta(const std::string& key, const std::string& value);
  // Several records in one atomic, synced write (e.g. a batch of provisioned devices).
  Status PutMetas(const std::vector<std::pair<std::string, std::string>>& records);
  Status DeleteMeta(const std::string& key);
  Status ScanMeta(std::string_view prefix,
                  const std::function<Status(std::string_view key, std::string_view value)>& fn);

  // Completes every submitted write, then stops the prepare and commit threads. Later Submits fail
  // with ServiceUnavailable. Idempotent.
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
  // One entity a round wrote: its state before the round and after it (null: deleted).
  struct Written {
    std::string key;  // EntityKey(tenant, id)
    std::string tenant;
    std::string id;
    EntityPtr before;
    EntityPtr after;
  };
  // A round, prepared and waiting to be made durable.
  struct Round {
    uint64_t seq = 0;
    uint64_t epoch = 0;  // epoch_ when prepared; a later epoch means an earlier round failed
    std::vector<Pending> batch;
    std::vector<std::vector<Status>> statuses;  // per Pending, per op
    std::vector<Written> written;               // one per entity, in first-write order
    std::vector<Change> changes;
    Backend::Batch writes;
    std::vector<std::string> new_tenants;
    bool prepared = false;  // it had writes, and listeners' OnPrepare saw it
  };
  // The state of an entity written by a round in flight (prepared, not yet published).
  struct InFlight {
    uint64_t seq;
    EntityPtr state;  // null: deleted
  };

  EntityStore(std::unique_ptr<Backend> backend, Options options);
  Status Load();
  void PrepareLoop();
  std::unique_ptr<Round> Prepare(std::vector<Pending> batch);
  // On the prepare thread: forget in-flight states the commit thread has published; after a
  // failed commit, wait for the rounds in flight and reset listeners and in-flight states.
  void CatchUp();
  void CommitLoop();
  void Publish(Round& round);
  void Fail(Round& round, const std::string& why);
  Tenant* FindTenant(std::string_view name) const;
  Tenant* GetOrCreateTenant(const std::string& name);

  std::unique_ptr<Backend> backend_;
  Options options_;
  Catalog catalog_;
  std::vector<ChangeListener*> listeners_;
  std::vector<EntityIndex*> indexes_;

  mutable std::mutex tenants_mu_;  // guards the map, not the tenants
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;

  // Submitted ops, for the prepare thread.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;

  // Prepared rounds, for the commit thread.
  std::mutex rounds_mu_;
  std::condition_variable rounds_cv_;  // a round is ready, or done_ / finished_seq_ changed
  std::deque<std::unique_ptr<Round>> rounds_;
  bool prepare_done_ = false;               // the prepare thread has handed over its last round
  uint64_t finished_seq_ = 0;               // every round up to this one is committed or failed
  std::atomic<uint64_t> published_seq_{0};  // every round up to this one is visible
  std::atomic<uint64_t> epoch_{0};          // incremented by every failed commit

  // Prepare-thread state.
  uint64_t next_seq_ = 1;
  uint64_t seen_epoch_ = 0;
  std::unordered_map<std::string, InFlight> in_flight_;                       // by EntityKey
  std::deque<std::pair<uint64_t, std::vector<std::string>>> in_flight_keys_;  // per round

  std::thread prepare_thread_;
  std::thread commit_thread_;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> failed_commits_{0};
};

}  // namespace civitas::storage
