#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/interned.h"
#include "common/status.h"
#include "ngsild/entity.h"
#include "storage/backend.h"
#include "storage/entity_store.h"
#include "temporal/aggregate.h"
#include "temporal/chunk.h"
#include "temporal/open_samples.h"

namespace civitas::temporal {

// The block pre-aggregates of a chunk and how to decode one block (ChunkIndex), computed from
// its data on first use and kept: they are not stored. Shared by the copies of a Chunk; a Chunk
// whose data changes gets a new one (Chunk::Reset).
class ChunkBlocks {
 public:
  // Thread-safe; decodes the chunk on the first call only.
  Result<const ChunkIndex*> Get(std::string_view data) const;

 private:
  mutable std::once_flag once_;
  mutable Status status_;
  mutable ChunkIndex index_;
};

// A sealed chunk of a series: its compressed samples and their pre-aggregates.
struct Chunk {
  std::string key;  // backend key
  std::shared_ptr<const std::string> data;
  ChunkStats stats;
  std::shared_ptr<const ChunkBlocks> blocks = std::make_shared<const ChunkBlocks>();
  // The attribute kind of the chunk's first sample when known without decoding it (set where
  // the chunk is made from samples; nullopt for a chunk loaded from the backend).
  std::optional<ngsild::AttrKind> first_kind;

  Result<const ChunkIndex*> Index() const { return blocks->Get(*data); }
  // New data: stats and blocks made again.
  void Reset(std::string new_data);
};

// The sealed chunks of a series, shared by its versions: copying a Series (once per series per
// commit round) shares them, and the first change to a copy takes its own (copy on write). So a
// write costs the same however many chunks its history has.
//
// Thread safety: a version reachable by readers is never changed; the commit thread changes
// only its private copy, which owns its list once it is the list's only holder.
class ChunkList {
 public:
  using const_iterator = std::vector<Chunk>::const_iterator;
  size_t size() const { return v_ ? v_->size() : 0; }
  bool empty() const { return size() == 0; }
  const Chunk& operator[](size_t i) const { return (*v_)[i]; }
  const Chunk& front() const { return v_->front(); }
  const_iterator begin() const { return v_ ? v_->cbegin() : const_iterator(); }
  const_iterator end() const { return v_ ? v_->cend() : const_iterator(); }
  // Whether this list and `other` are the same, shared (for tests).
  bool SharedWith(const ChunkList& other) const { return v_ && v_ == other.v_; }

  void push_back(Chunk c) { Own().push_back(std::move(c)); }
  Chunk& mutable_at(size_t i) { return Own()[i]; }
  void erase(size_t i) {
    std::vector<Chunk>& v = Own();
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
  }
  // Removes the chunks pred selects; copies the list only when there is one.
  template <typename Pred>
  void erase_if(Pred pred) {
    if (std::none_of(begin(), end(), pred)) return;
    std::erase_if(Own(), pred);
  }

 private:
  std::vector<Chunk>& Own() {
    if (!v_) {
      v_ = std::make_shared<std::vector<Chunk>>();
    } else if (v_.use_count() > 1) {
      v_ = std::make_shared<std::vector<Chunk>>(*v_);
    }
    return *v_;
  }

  std::shared_ptr<std::vector<Chunk>> v_;
};

// The history of one attribute instance series (entity, attribute, datasetId). Immutable once
// published: a write builds a new Series, so readers holding the old one are undisturbed.
struct Series {
  Interned attr;        // expanded IRI
  std::string dataset;  // "" for the default instance
  ChunkList chunks;
  OpenSamples open;  // recorded since the last seal, in the order recorded
  // The TemporalStore's commit round that made this version (0: loaded): only the version of
  // the round being staged may be modified.
  uint64_t staged_round = 0;

  size_t size() const;
  // Every sample with from <= time < to, sorted by time (record order for equal times).
  // Chunks outside the range are not decoded.
  Result<std::vector<Sample>> Read(Micros from, Micros to) const;
  // The earliest and latest instant of the samples with from <= time < to; nullopt when there
  // are none. Reads only chunk headers, except for chunks that straddle a bound.
  Result<std::optional<std::pair<Micros, Micros>>> InstantRange(Micros from, Micros to) const;
  // Whether a sample has from <= time < to: InstantRange's answer is not empty, but it stops
  // at the first such sample.
  Result<bool> HasInstantIn(Micros from, Micros to) const;

  // The attribute kind the series records, as temporal answers name it: that of its first open
  // sample, else of the first sample of its first chunk; nullopt when it has no sample (or that
  // chunk does not decode). Kept by the TemporalStore wherever open or chunks change (see
  // RefreshRecordedKind), so that a query learns it without decoding a record or a chunk.
  std::optional<ngsild::AttrKind> recorded_kind;
  // recorded_kind computed again from the samples (decodes the first open record, or the first
  // chunk unless its first_kind is known).
  std::optional<ngsild::AttrKind> ComputeRecordedKind() const;
  void RefreshRecordedKind() { recorded_kind = ComputeRecordedKind(); }
};
using SeriesPtr = std::shared_ptr<const Series>;

// Accumulates the samples of `series` into one Accumulator per period (periods sorted and
// disjoint), by instant, in runs (kBlockSamples): a block that lies inside one period
// contributes its pre-aggregates when the methods allow it (no distinctCount, only numbers);
// only the blocks cut by a period or the interval are read sample by sample, and a chunk is
// decoded only when it has one. *from_stats (optional) counts the chunks not decoded.
Result<std::vector<Accumulator>> AggregateByInstant(const std::vector<const Series*>& series,
                                                    const std::vector<Period>& periods,
                                                    bool needs_distinct,
                                                    uint64_t* from_stats = nullptr);

// The series of one history in the order of (attribute, datasetId): a sorted vector, as an
// entity has a few (a map node and a copy of the key cost more than the series of one sample).
class SeriesSet {
 public:
  using const_iterator = std::vector<SeriesPtr>::const_iterator;
  const_iterator begin() const { return v_.begin(); }
  const_iterator end() const { return v_.end(); }
  size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }

  // The series of (attr, dataset), or nullptr.
  const SeriesPtr* Find(std::string_view attr, std::string_view dataset) const;
  SeriesPtr* Find(std::string_view attr, std::string_view dataset);
  // Adds s, or replaces the series of its attribute and datasetId with it.
  SeriesPtr& Put(SeriesPtr s);
  // Removes every series for which pred(const Series&) is true.
  template <class Pred>
  void EraseIf(Pred pred) {
    std::erase_if(v_, [&](const SeriesPtr& s) { return pred(*s); });
  }

 private:
  std::vector<SeriesPtr>::const_iterator LowerBound(std::string_view attr,
                                                    std::string_view dataset) const;
  std::vector<SeriesPtr> v_;
};

// The history of one entity: its types and its series by (attribute, datasetId).
struct History {
  std::string id;
  std::vector<std::string> types;  // expanded, as last recorded
  SeriesSet series;
};
using HistoryPtr = std::shared_ptr<const History>;

// The temporal store: the history of every attribute instance, deletions included (an instance
// holding the NGSI-LD Null with deletedAt, see DeletionInstance), kept in memory (compressed)
// and made durable in the "temporal" key space in the same atomic batch as the entity change
// that produced it.
//
// Durable records (key space "temporal"; tenant, entity id, attribute and datasetId never
// contain NUL):
//   h tenant \0 id                                → {"types":[...]}  (one per entity)
//   r tenant \0 id \0 attr \0 dataset \0 be64(n)   → one sample, instance number n (open)
//   c tenant \0 id \0 attr \0 dataset \0 be64(n)   → a sealed chunk (n: its first instance)
// Each recorded instance is one small `r` record, so a commit never rewrites a large value;
// when a series has chunk_samples open samples they are sealed: one `c` put and the `r`
// deletes, in the same batch as the write that filled it.
//
// Threading: every write runs on the EntityStore's commit thread (as a ChangeListener, or as
// the `prepare` hook of the WriteOps made here), staged on copies of the touched histories,
// and published in OnCommitted, so readers only see durable history. Reads take a shared lock
// for a moment and then work on immutable snapshots.
class TemporalStore : public storage::ChangeListener {
 public:
  static constexpr std::string_view kSpace = "temporal";
  // The series that records the entity's scope (clause 4.5.6: a Property whose value is the
  // scope, observed when it changed through the Core API, and a deletion when it was removed).
  static constexpr std::string_view kScopeAttr = "https://uri.etsi.org/ngsi-ld/scope";

  struct Options {
    size_t chunk_samples = 1024;
    // Retention: sealed chunks whose every sample is older than this are dropped (zero: keep
    // everything). Per entity type (expanded IRI) when set, the longest of the entity's types;
    // else the default. Enforced when a series is written (in that write's batch), and for
    // series no longer written by ExpireOp (RetentionSweeper).
    Duration retention;
    std::map<std::string, Duration> retention_by_type;
  };
  explicit TemporalStore(Options options) : options_(std::move(options)) {}

  // Rebuilds memory from the backend. Call before the EntityStore opens (it takes the backend)
  // and before adding this store as its listener.
  Status Load(storage::Backend& backend);

  void OnPrepare(const std::vector<storage::Change>& changes,
                 storage::Backend::Batch* batch) override;
  void OnCommitted(const std::vector<storage::Change>& changes) override;
  void OnAborted() override;

  // Writes of the temporal API, as WriteOps for EntityStore::Submit. They never change the
  // current entity.
  struct Instance {
    std::string attr;            // expanded IRI
    ngsild::Attribute instance;  // expanded; observedAt (if any) gives its instant
  };
  // Adds instances (a history upload: any number per attribute, in any order). An instance
  // with an observedAt replaces those of its series (attribute, datasetId) observed at the same
  // instant, so that uploading a measurement again corrects it instead of doubling it (clause
  // 5.6.11 is an upsert); instances without observedAt are always added. `types` are added to
  // the recorded types. must_exist: NotFound when the entity has no history yet.
  storage::WriteOp AppendOp(std::string tenant, std::string id, std::vector<std::string> types,
                            std::vector<Instance> instances, bool must_exist);
  storage::WriteOp DeleteEntityOp(std::string tenant, std::string id);
  // The attribute's default instance series (dataset nullopt), one dataset, or all (all=true).
  storage::WriteOp DeleteAttrOp(std::string tenant, std::string id, std::string attr,
                                std::optional<std::string> dataset, bool all);
  // Replaces (patch = the new instance, merged into the old one) or deletes (patch = null) one
  // instance, found by number.
  storage::WriteOp ModifyInstanceOp(std::string tenant, std::string id, std::string attr,
                                    uint64_t instance, std::optional<ngsild::Attribute> patch);

  // Retention for series that are no longer written (a write to a series drops its expired
  // chunks itself): the (tenant, id) of every history holding a sealed chunk past retention
  // at `now`, and the op that drops them. RetentionSweeper runs the two periodically.
  std::vector<std::pair<std::string, std::string>> Expired(Micros now) const;
  storage::WriteOp ExpireOp(std::string tenant, std::string id);

  HistoryPtr Get(std::string_view tenant, std::string_view id) const;
  // The tenant's histories in id order (a snapshot).
  std::vector<HistoryPtr> List(std::string_view tenant) const;
  // The same, only the histories `keep` accepts (called under the store's shared lock: it must
  // be quick; a query tests ids and types here, so that it copies no pointer it will skip).
  std::vector<HistoryPtr> List(std::string_view tenant,
                               const std::function<bool(const History&)>& keep) const;
  // The same from the first history whose id is greater than `after` ("": from the first), at
  // most `max` of them: a caller that needs only the first few walks the histories in batches.
  std::vector<HistoryPtr> List(std::string_view tenant,
                               const std::function<bool(const History&)>& keep,
                               std::string_view after, size_t max) const;

  struct Stats {
    uint64_t samples = 0;
    uint64_t chunks = 0;
    uint64_t chunk_bytes = 0;
    uint64_t open_samples = 0;
  };
  Stats stats() const;

 private:
  struct Staged {
    std::string tenant;
    std::shared_ptr<History> history;  // null: deleted
    bool header_dirty = false;
  };
  using Batch = storage::Backend::Batch;

  // The staged (mutable, private to this commit round) history of an entity, made from the
  // committed one on first touch. create: make an empty one when there is none.
  History* Stage(const std::string& tenant, const std::string& id, bool create);
  // The staged series for (attr, dataset), private to this round.
  Series* StageSeries(History* h, const std::string& tenant, const std::string& attr,
                      const std::string& dataset, bool create);
  const History* Current(const std::string& tenant, const std::string& id) const;
  void Record(const std::string& tenant, History* h, const std::string& attr,
              const ngsild::Attribute& instance, Micros now, Batch* batch);
  // Records the deletion of every instance of `before` that `after` (null: the entity was
  // deleted) no longer has.
  void RecordDeletions(const std::string& tenant, History* h, const ngsild::Entity& before,
                       const ngsild::Entity* after, Micros at, Batch* batch);
  // Records a change of the scope (null: none) as an instance of the kScopeAttr series.
  void RecordScope(const std::string& tenant, History* h, const Json& before, const Json& after,
                   Micros at, Batch* batch);
  void DropSeries(const std::string& tenant, const History& h, const Series& s, Batch* batch);
  // For every series written this round: seal full ones, drop chunks past retention.
  void SealFull(Batch* batch);
  void SealFull(const std::string& tenant, History* h, Batch* batch);
  void DropExpired(const History& h, Series* s, Batch* batch);
  // Samples of h before this instant are past retention; nullopt: h is kept whole.
  std::optional<Micros> Cutoff(const History& h, Micros now) const;
  // Removes the samples of s observed (observedAt given) at one of `instants` (sorted).
  Status DropObservedAt(const std::string& tenant, const History& h, Series* s,
                        const std::vector<Micros>& instants, Batch* batch);
  Status RewriteInstance(const std::string& tenant, History* h, Series* s, uint64_t instance,
                         const std::optional<ngsild::Attribute>& patch, Batch* batch);
  std::string SeriesPrefix(char kind, const std::string& tenant, const std::string& id,
                           const std::string& attr, const std::string& dataset) const;

  Options options_;
  mutable std::shared_mutex mu_;  // guards histories_
  // tenant \0 id → history
  std::map<std::string, HistoryPtr, std::less<>> histories_;

  // Commit-thread state.
  uint64_t next_instance_ = 1;
  bool pending_counter_ = false;          // an aborted round advanced next_instance_
  std::map<std::string, Staged> staged_;  // key: tenant \0 id
  // The commit round being staged: a series whose staged_round is this one is private to it
  // (a copy made, or a series created, this round) and is one SealFull looks at.
  uint64_t round_ = 1;
};

}  // namespace civitas::temporal
