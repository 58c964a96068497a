#include "storage/query_index.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace civitas::storage {

// ---- EntityBits ------------------------------------------------------------------------------

void EntityBits::Set(uint32_t n) {
  size_t c = n / kChunkBits;
  if (c >= chunks_.size()) chunks_.resize(c + 1);
  if (!chunks_[c]) chunks_[c] = std::make_unique<uint64_t[]>(kChunkWords);  // zeroed
  uint64_t& w = chunks_[c][(n % kChunkBits) / 64];
  uint64_t bit = uint64_t{1} << (n % 64);
  if ((w & bit) == 0) {
    w |= bit;
    ++count_;
  }
}

void EntityBits::Clear(uint32_t n) {
  size_t c = n / kChunkBits;
  if (c >= chunks_.size() || !chunks_[c]) return;
  uint64_t& w = chunks_[c][(n % kChunkBits) / 64];
  uint64_t bit = uint64_t{1} << (n % 64);
  if ((w & bit) != 0) {
    w &= ~bit;
    --count_;
  }
}

bool EntityBits::Test(uint32_t n) const {
  size_t c = n / kChunkBits;
  if (c >= chunks_.size() || !chunks_[c]) return false;
  return (chunks_[c][(n % kChunkBits) / 64] >> (n % 64)) & 1;
}

void EntityBits::OrInto(std::vector<uint64_t>* dense) const {
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (!chunks_[c]) continue;
    size_t base = c * kChunkWords;
    size_t end = std::min(dense->size(), base + kChunkWords);
    for (size_t i = base; i < end; ++i) (*dense)[i] |= chunks_[c][i - base];
  }
}

// ---- SortedValues ----------------------------------------------------------------------------

template <typename K>
void SortedValues<K>::Add(const K& key, uint32_t n) {
  auto it = std::lower_bound(base_.begin(), base_.end(), std::pair<const K&, uint32_t>(key, n),
                             [](const Entry& e, const auto& k) {
                               return e.key < k.first || (!(k.first < e.key) && e.n < k.second);
                             });
  if (it != base_.end() && !(key < it->key) && !(it->key < key) && it->n == n) {
    if (it->dead) {
      it->dead = false;
      --dead_;
    }
    return;
  }
  delta_.emplace(key, n);
  MaybeCompact();
}

template <typename K>
void SortedValues<K>::Remove(const K& key, uint32_t n) {
  if (delta_.erase({key, n}) > 0) return;
  auto it = std::lower_bound(base_.begin(), base_.end(), std::pair<const K&, uint32_t>(key, n),
                             [](const Entry& e, const auto& k) {
                               return e.key < k.first || (!(k.first < e.key) && e.n < k.second);
                             });
  if (it != base_.end() && !(key < it->key) && !(it->key < key) && it->n == n && !it->dead) {
    it->dead = true;
    ++dead_;
    MaybeCompact();
  }
}

template <typename K>
void SortedValues<K>::MaybeCompact() {
  if (delta_.size() <= 64 + base_.size() / 64 && dead_ <= 64 + base_.size() / 4) return;
  std::vector<Entry> merged;
  merged.reserve(base_.size() - dead_ + delta_.size());
  auto d = delta_.begin();
  for (auto& e : base_) {
    if (e.dead) continue;
    while (d != delta_.end() && (d->first < e.key || (!(e.key < d->first) && d->second < e.n))) {
      merged.push_back({d->first, d->second, false});
      ++d;
    }
    merged.push_back(std::move(e));
  }
  for (; d != delta_.end(); ++d) merged.push_back({d->first, d->second, false});
  base_ = std::move(merged);
  base_.shrink_to_fit();
  dead_ = 0;
  delta_.clear();
}

template <typename K>
template <typename F>
void SortedValues<K>::Range(const K* lo, bool lo_inclusive, const K* hi, bool hi_inclusive,
                            F fn) const {
  auto above_lo = [&](const K& k) { return lo == nullptr || (lo_inclusive ? !(k < *lo) : *lo < k); };
  auto below_hi = [&](const K& k) { return hi == nullptr || (hi_inclusive ? !(*hi < k) : k < *hi); };
  auto it = std::partition_point(base_.begin(), base_.end(),
                                 [&](const Entry& e) { return !above_lo(e.key); });
  for (; it != base_.end() && below_hi(it->key); ++it) {
    if (!it->dead) fn(it->n);
  }
  auto d = delta_.begin();
  if (lo != nullptr) {
    d = delta_.lower_bound({*lo, 0});
    while (d != delta_.end() && !above_lo(d->first)) ++d;
  }
  for (; d != delta_.end() && below_hi(d->first); ++d) fn(d->second);
}

template class SortedValues<double>;
template class SortedValues<std::string>;
template class SortedValues<int64_t>;

// ---- The per-tenant index --------------------------------------------------------------------

namespace {

using ValueKind = query::IndexPlan::ValueKind;
constexpr int kKinds = 4;

int KindIndex(ValueKind k) { return static_cast<int>(k); }

// The facts indexed for one attribute of one entity, without duplicates.
struct Facts {
  std::vector<double> numbers;
  std::vector<double> booleans;
  std::vector<std::string> strings;
  std::vector<int64_t> instants;
  bool relationship[kKinds] = {false, false, false, false};  // some value of that kind is one
  bool big_int = false;  // an integer beyond 2^53 (the index compares doubles)
  bool no_instance = false;  // the slot has no instance object (existence is then false)
};

template <typename T>
void SortUnique(std::vector<T>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

Facts FactsOf(const ngsild::AttributeSlot& slot) {
  Facts f;
  f.no_instance = std::none_of(slot.instances.begin(), slot.instances.end(),
                               [](const Json& i) { return i.is_object(); });
  query::ForEachTargetValue(slot, [&f](const Json& v, bool rel) {
    if (v.is_number()) {
      if (v.is_int()) {
        int64_t i = v.as_int();
        if (i > (int64_t{1} << 53) || i < -(int64_t{1} << 53)) f.big_int = true;
      }
      f.numbers.push_back(v.as_double());
      f.relationship[KindIndex(ValueKind::kNumber)] |= rel;
    } else if (v.is_bool()) {
      f.booleans.push_back(v.as_bool() ? 1 : 0);
      f.relationship[KindIndex(ValueKind::kBool)] |= rel;
    } else if (v.is_string()) {
      f.strings.push_back(v.as_string());
      f.relationship[KindIndex(ValueKind::kString)] |= rel;
      Micros t;
      if (query::TargetInstant(v, &t)) {
        f.instants.push_back(t);
        f.relationship[KindIndex(ValueKind::kInstant)] |= rel;
      }
    }
  });
  SortUnique(&f.numbers);
  SortUnique(&f.booleans);
  SortUnique(&f.strings);
  SortUnique(&f.instants);
  return f;
}

}  // namespace

struct QueryIndex::Tenant {
  struct Attribute {
    EntityBits has;
    SortedValues<double> numbers;
    SortedValues<double> booleans;
    SortedValues<std::string> strings;
    SortedValues<int64_t> instants;
    // Entities with some relationship value of a kind (ordering terms are then inexact), with
    // big integers, and with a slot but no instance object.
    size_t relationship[kKinds] = {0, 0, 0, 0};
    size_t big_int = 0;
    size_t no_instance = 0;
  };

  std::vector<ngsild::EntityPtr> slots;  // number -> entity (null: free)
  std::vector<uint32_t> free;
  std::map<std::string_view, uint32_t> by_id;  // keys view slots[n]->id
  std::unordered_map<std::string, EntityBits> types;
  std::unordered_map<std::string, Attribute> attributes;

  void Index(const ngsild::Entity& e, uint32_t n, bool add) {
    IndexTypes(e, n, add);
    for (const auto& slot : e.attrs) IndexSlot(slot, n, add);
  }

  // Moves entity number n from `before` to `after`, touching only the types and attributes
  // that differ: an update of one attribute re-indexes that attribute alone.
  void Reindex(const ngsild::Entity& before, const ngsild::Entity& after, uint32_t n) {
    if (before.types != after.types) {
      IndexTypes(before, n, false);
      IndexTypes(after, n, true);
    }
    std::vector<bool> same(after.attrs.size());
    for (size_t i = 0; i < after.attrs.size(); ++i) {
      const ngsild::AttributeSlot* was = before.FindSlot(after.attrs[i].name);
      same[i] = was != nullptr && was->instances == after.attrs[i].instances;
    }
    for (const auto& slot : before.attrs) {
      const ngsild::AttributeSlot* now = after.FindSlot(slot.name);
      if (now != nullptr && same[static_cast<size_t>(now - after.attrs.data())]) continue;
      IndexSlot(slot, n, false);
    }
    for (size_t i = 0; i < after.attrs.size(); ++i) {
      if (!same[i]) IndexSlot(after.attrs[i], n, true);
    }
  }

  void IndexTypes(const ngsild::Entity& e, uint32_t n, bool add) {
    for (const auto& type : e.types) {
      if (add) {
        types[type].Set(n);
      } else if (auto it = types.find(type); it != types.end()) {
        it->second.Clear(n);
      }
    }
  }

  void IndexSlot(const ngsild::AttributeSlot& slot, uint32_t n, bool add) {
    Attribute& a = attributes[slot.name];
    Facts f = FactsOf(slot);
    const int d = add ? 1 : -1;
    if (add) {
      a.has.Set(n);
    } else {
      a.has.Clear(n);
    }
    for (int k = 0; k < kKinds; ++k) a.relationship[k] += f.relationship[k] ? d : 0;
    a.big_int += f.big_int ? d : 0;
    a.no_instance += f.no_instance ? d : 0;
    auto apply = [&](auto& sorted, const auto& keys) {
      for (const auto& k : keys) {
        if (add) {
          sorted.Add(k, n);
        } else {
          sorted.Remove(k, n);
        }
      }
    };
    apply(a.numbers, f.numbers);
    apply(a.booleans, f.booleans);
    apply(a.strings, f.strings);
    apply(a.instants, f.instants);
  }

  // A candidate set under evaluation: all (no narrowing) or a dense bitmap over numbers.
  struct Set {
    bool all = true;
    bool exact = true;
    std::vector<uint64_t> words;
  };

  Set Empty(bool exact) const {
    Set s;
    s.all = false;
    s.exact = exact;
    s.words.assign((slots.size() + 63) / 64, 0);
    return s;
  }

  static void Mark(Set* s, uint32_t n) { s->words[n / 64] |= uint64_t{1} << (n % 64); }

  Set Eval(const query::IndexPlan& p) const {
    using Kind = query::IndexPlan::Kind;
    switch (p.kind) {
      case Kind::kAll: {
        Set s;
        s.exact = p.exact;
        return s;
      }
      case Kind::kType: {
        Set s = Empty(p.exact);
        if (auto it = types.find(p.name); it != types.end()) it->second.OrInto(&s.words);
        return s;
      }
      case Kind::kAttr: {
        Set s = Empty(p.exact);
        if (auto it = attributes.find(p.name); it != attributes.end()) {
          it->second.has.OrInto(&s.words);
          if (p.existence_term && it->second.no_instance > 0) s.exact = false;
        }
        return s;
      }
      case Kind::kIds: {
        Set s = Empty(p.exact);
        for (const auto& id : p.ids) {
          if (auto it = by_id.find(id); it != by_id.end()) Mark(&s, it->second);
        }
        return s;
      }
      case Kind::kValue:
        return Value(p);
      case Kind::kAnd: {
        Set acc;
        acc.exact = p.exact;
        for (const auto& c : p.children) {
          Set s = Eval(c);
          acc.exact = acc.exact && s.exact;
          if (s.all) continue;
          if (acc.all) {
            bool exact = acc.exact;
            acc = std::move(s);
            acc.exact = exact;
            continue;
          }
          for (size_t i = 0; i < acc.words.size(); ++i) acc.words[i] &= s.words[i];
        }
        return acc;
      }
      case Kind::kOr: {
        Set acc = Empty(p.exact);
        for (const auto& c : p.children) {
          Set s = Eval(c);
          acc.exact = acc.exact && s.exact;
          if (s.all) {
            Set all;
            all.exact = acc.exact;
            return all;
          }
          for (size_t i = 0; i < acc.words.size(); ++i) acc.words[i] |= s.words[i];
        }
        return acc;
      }
    }
    return Set{};
  }

  Set Value(const query::IndexPlan& p) const {
    Set s = Empty(p.exact);
    auto it = attributes.find(p.name);
    if (it == attributes.end()) return s;
    const Attribute& a = it->second;
    const int k = KindIndex(p.value_kind);
    // Relationship objects are in the index but never satisfy an ordering term.
    if (p.ordering && a.relationship[k] > 0) s.exact = false;
    auto mark = [&s](uint32_t n) { Mark(&s, n); };
    const bool lo_in = p.lo ? p.lo->inclusive : true;
    const bool hi_in = p.hi ? p.hi->inclusive : true;
    switch (p.value_kind) {
      case ValueKind::kNumber:
      case ValueKind::kBool: {
        if (p.value_kind == ValueKind::kNumber && a.big_int > 0) s.exact = false;
        double lo = p.lo ? p.lo->number : 0, hi = p.hi ? p.hi->number : 0;
        const auto& sorted = p.value_kind == ValueKind::kNumber ? a.numbers : a.booleans;
        // Doubles of integers beyond 2^53 are rounded: then bounds are closed (a superset).
        bool closed = !s.exact;
        sorted.Range(p.lo ? &lo : nullptr, lo_in || closed, p.hi ? &hi : nullptr,
                     hi_in || closed, mark);
        return s;
      }
      case ValueKind::kString: {
        const std::string* lo = p.lo ? &p.lo->text : nullptr;
        const std::string* hi = p.hi ? &p.hi->text : nullptr;
        a.strings.Range(lo, lo_in, hi, hi_in, mark);
        return s;
      }
      case ValueKind::kInstant: {
        int64_t lo = p.lo ? p.lo->instant : 0, hi = p.hi ? p.hi->instant : 0;
        a.instants.Range(p.lo ? &lo : nullptr, lo_in, p.hi ? &hi : nullptr, hi_in, mark);
        return s;
      }
    }
    return s;
  }
};

QueryIndex::QueryIndex() = default;
QueryIndex::~QueryIndex() = default;

QueryIndex::Tenant* QueryIndex::Find(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second.get();
}

void QueryIndex::OnChange(std::string_view tenant, const ngsild::EntityPtr& before,
                          const ngsild::EntityPtr& after) {
  if (!before && !after) return;
  Tenant* t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = tenants_[std::string(tenant)];
    if (!slot) slot = std::make_unique<Tenant>();
    t = slot.get();
  }
  const std::string& id = before ? before->id : after->id;
  auto it = t->by_id.find(id);
  if (it != t->by_id.end()) {
    const uint32_t n = it->second;
    if (!after) {
      t->Index(*t->slots[n], n, false);
      t->by_id.erase(it);
      t->slots[n] = nullptr;
      t->free.push_back(n);
      return;
    }
    t->Reindex(*t->slots[n], *after, n);
    // The key views the id of the entity held so far: view the new one's before letting go.
    // The id is the same, so the node goes back where it was (the hint spares the search).
    auto hint = std::next(it);
    auto node = t->by_id.extract(it);
    node.key() = after->id;
    t->by_id.insert(hint, std::move(node));
    t->slots[n] = after;
    return;
  }
  if (!after) return;
  uint32_t n;
  if (!t->free.empty()) {
    n = t->free.back();
    t->free.pop_back();
  } else {
    n = static_cast<uint32_t>(t->slots.size());
    t->slots.emplace_back();
  }
  t->slots[n] = after;
  t->by_id.emplace(std::string_view(after->id), n);
  t->Index(*after, n, true);
}

bool QueryIndex::Visit(std::string_view tenant, const query::IndexPlan& plan,
                       const std::optional<std::vector<std::string_view>>& extra, size_t want,
                       Answer* answer,
                       const std::function<bool(const ngsild::EntityPtr&)>& fn) const {
  const Tenant* t = Find(tenant);
  if (t == nullptr) return false;
  Tenant::Set set = t->Eval(plan);
  if (extra && set.all) {
    // Only the extra ids narrow the query: take the page from them directly (selecting the
    // first `want` by id) instead of marking each in a bitmap through the id map.
    answer->exact = set.exact;
    answer->candidates = extra->size();
    std::vector<std::string_view> ids = *extra;
    if (want < ids.size()) {
      std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(want), ids.end());
      ids.resize(want);
    }
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
      auto it = t->by_id.find(id);
      if (it != t->by_id.end() && !fn(t->slots[it->second])) return true;
    }
    // Past `want` the caller keeps asking only when it counts matches itself (an inexact
    // answer): give it the rest, in id order too.
    if (want < extra->size()) {
      std::vector<std::string_view> rest = *extra;
      std::sort(rest.begin(), rest.end());
      for (size_t i = want; i < rest.size(); ++i) {
        auto it = t->by_id.find(rest[i]);
        if (it != t->by_id.end() && !fn(t->slots[it->second])) return true;
      }
    }
    return true;
  }
  if (extra) {
    Tenant::Set other = t->Empty(false);
    for (const auto& id : *extra) {
      if (auto it = t->by_id.find(id); it != t->by_id.end()) Tenant::Mark(&other, it->second);
    }
    for (size_t i = 0; i < set.words.size(); ++i) set.words[i] &= other.words[i];
  }
  if (set.all) return false;
  size_t k = 0;
  for (uint64_t w : set.words) k += static_cast<size_t>(std::popcount(w));
  answer->exact = set.exact;
  answer->candidates = k;
  if (k == 0) return true;
  // Either walk the ids in order testing membership (about want * N / k steps), or collect the
  // candidates and sort them by id (about k log k).
  const double n_all = static_cast<double>(t->by_id.size());
  const double walk = want >= k ? n_all : static_cast<double>(want) * n_all / static_cast<double>(k);
  const double sort = static_cast<double>(k) * (1 + std::log2(static_cast<double>(k) + 1));
  if (walk <= sort) {
    for (const auto& [id, n] : t->by_id) {
      if (((set.words[n / 64] >> (n % 64)) & 1) == 0) continue;
      if (!fn(t->slots[n])) return true;
    }
    return true;
  }
  std::vector<const ngsild::EntityPtr*> found;
  found.reserve(k);
  for (size_t i = 0; i < set.words.size(); ++i) {
    for (uint64_t w = set.words[i]; w != 0; w &= w - 1) {
      found.push_back(&t->slots[i * 64 + static_cast<size_t>(std::countr_zero(w))]);
    }
  }
  std::sort(found.begin(), found.end(),
            [](const auto* a, const auto* b) { return (*a)->id < (*b)->id; });
  for (const auto* e : found) {
    if (!fn(*e)) return true;
  }
  return true;
}

size_t QueryIndex::Size(std::string_view tenant) const {
  const Tenant* t = Find(tenant);
  return t == nullptr ? 0 : t->by_id.size();
}

}  // namespace civitas::storage
