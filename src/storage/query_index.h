#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "query/index_plan.h"
#include "storage/entity_index.h"

namespace civitas::storage {

// A set of entity numbers: a bitmap in chunks of 65,536 bits, allocated when first used, so a
// type or attribute held by a few entities of a large tenant costs a few KiB.
class EntityBits {
 public:
  void Set(uint32_t n);
  void Clear(uint32_t n);
  bool Test(uint32_t n) const;
  size_t count() const { return count_; }
  // dense |= this (dense has at least as many words as numbers in use / 64).
  void OrInto(std::vector<uint64_t>* dense) const;

 private:
  static constexpr size_t kChunkBits = 65536;
  static constexpr size_t kChunkWords = kChunkBits / 64;
  std::vector<std::unique_ptr<uint64_t[]>> chunks_;
  size_t count_ = 0;
};

// Values of one kind of one attribute, sorted, with the entity numbers holding them: a sorted
// array (cheap to read, 16 bytes an entry for numbers) plus a small ordered set of recent
// additions and tombstones in the array; merged again when the additions pass 1/64 of the
// array or the tombstones 1/4, so an update costs O(log n) amortised and a range query reads
// mostly contiguous memory (walking a set of 1/8 of a million values, the bound before, took
// most of a 5 ms query).
template <typename K>
class SortedValues {
 public:
  void Add(const K& key, uint32_t n);
  void Remove(const K& key, uint32_t n);
  // fn(n) for every entry with key in the range (bounds optional; a number may come twice).
  template <typename F>
  void Range(const K* lo, bool lo_inclusive, const K* hi, bool hi_inclusive, F fn) const;
  size_t size() const { return base_.size() - dead_ + delta_.size(); }

 private:
  struct Entry {
    K key;
    uint32_t n;
    bool dead;
  };
  void MaybeCompact();
  std::vector<Entry> base_;
  size_t dead_ = 0;
  std::set<std::pair<K, uint32_t>> delta_;
};

// Indexes answering query::IndexPlan: per tenant, every entity gets a small number (reused after
// deletion); types and attribute names map to sets of numbers (EntityBits), and each attribute's
// target values (numbers, strings, booleans, DateTimes: query::ForEachTargetValue) to sorted
// values. An ordered map from id to number gives the id order of query results without
// touching the store. Entity ids are not copied: the map's keys view the ids of the entities the
// index holds (shared with the store).
//
// Thread-safety: see EntityIndex. Visit must be called under the tenant's shared lock
// (EntityStore::ReadLocked).
class QueryIndex : public EntityIndex {
 public:
  QueryIndex();
  ~QueryIndex() override;

  void OnChange(std::string_view tenant, const ngsild::EntityPtr& before,
                const ngsild::EntityPtr& after) override;

  struct Answer {
    bool exact = false;     // the candidates are exactly the entities matching the plan
    size_t candidates = 0;  // how many there are
  };
  // Evaluates plan over the tenant, intersected with `extra` ids when given: the entities that
  // match the part of the query the plan leaves out (GeoIndex::Matching: the geo-query), each
  // once, so the answer stays as exact as the plan says. Returns false when neither narrows the
  // query (the caller scans). Otherwise fills *answer, then calls fn with the candidates in id
  // order until fn returns false. `want` is how many candidates the caller expects to take
  // (SIZE_MAX: all), to choose between walking the ids in order and sorting the candidates.
  bool Visit(std::string_view tenant, const query::IndexPlan& plan,
             const std::optional<std::vector<std::string_view>>& extra, size_t want,
             Answer* answer, const std::function<bool(const ngsild::EntityPtr&)>& fn) const;

  // Entities numbered in a tenant; for tests.
  size_t Size(std::string_view tenant) const;

  struct Tenant;

 private:
  Tenant* Find(std::string_view tenant) const;

  mutable std::mutex mu_;  // guards the map of tenants, not the tenants (see EntityIndex)
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace civitas::storage
