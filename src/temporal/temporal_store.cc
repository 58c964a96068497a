#include "temporal/temporal_store.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "temporal/record.h"

namespace civitas::temporal {
namespace {

using storage::Backend;

constexpr char kHeader = 'h';
constexpr char kRaw = 'r';
constexpr char kChunk = 'c';
// The next instance number, so numbers are never reused after a restart.
constexpr std::string_view kCounterKey = "n";

std::string Key2(std::string_view a, std::string_view b) {
  std::string k(a);
  k.push_back('\0');
  k.append(b);
  return k;
}

void PutBe64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetBe64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

std::vector<std::string_view> SplitNul(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t nul = s.find('\0', pos);
    parts.push_back(s.substr(pos, nul == std::string_view::npos ? nul : nul - pos));
    if (nul == std::string_view::npos) break;
    pos = nul + 1;
  }
  return parts;
}

Status Corrupt(std::string_view what) {
  return Status::Internal("damaged temporal record: " + std::string(what));
}

}  // namespace

Result<const ChunkIndex*> ChunkBlocks::Get(std::string_view data) const {
  std::call_once(once_, [&] {
    auto index = ComputeChunkIndex(data);
    if (index.ok()) {
      index_ = std::move(*index);
    } else {
      status_ = index.status();
    }
  });
  if (!status_.ok()) return status_;
  return &index_;
}

void Chunk::Reset(std::string new_data) {
  data = std::make_shared<const std::string>(std::move(new_data));
  blocks = std::make_shared<const ChunkBlocks>();
  first_kind.reset();
}

std::optional<ngsild::AttrKind> Series::ComputeRecordedKind() const {
  if (!open.empty()) return KindOf(open[0]);
  if (chunks.empty()) return std::nullopt;
  if (chunks.front().first_kind) return chunks.front().first_kind;
  auto d = DecodeChunk(*chunks.front().data);
  if (!d.ok() || d->empty()) return std::nullopt;
  return KindOf(d->front());
}

SeriesSet::const_iterator SeriesSet::LowerBound(std::string_view attr,
                                                std::string_view dataset) const {
  return std::lower_bound(
      v_.begin(), v_.end(), std::pair(attr, dataset),
      [](const SeriesPtr& s, const std::pair<std::string_view, std::string_view>& k) {
        return std::pair<std::string_view, std::string_view>(s->attr.str(), s->dataset) < k;
      });
}

const SeriesPtr* SeriesSet::Find(std::string_view attr, std::string_view dataset) const {
  auto it = LowerBound(attr, dataset);
  if (it == v_.end() || (*it)->attr != attr || (*it)->dataset != dataset) return nullptr;
  return &*it;
}

SeriesPtr* SeriesSet::Find(std::string_view attr, std::string_view dataset) {
  return const_cast<SeriesPtr*>(std::as_const(*this).Find(attr, dataset));
}

SeriesPtr& SeriesSet::Put(SeriesPtr s) {
  auto it = LowerBound(s->attr.str(), s->dataset);
  const auto i = it - v_.begin();
  if (it != v_.end() && (*it)->attr == s->attr && (*it)->dataset == s->dataset) {
    v_[i] = std::move(s);
  } else {
    v_.insert(it, std::move(s));
  }
  return v_[i];
}

size_t Series::size() const {
  size_t n = open.size();
  for (const auto& c : chunks) n += c.stats.count;
  return n;
}

Result<std::vector<Sample>> Series::Read(Micros from, Micros to) const {
  std::vector<Sample> out;
  for (const auto& c : chunks) {
    if (c.stats.count == 0 || c.stats.last_time < from || c.stats.first_time >= to) continue;
    auto samples = DecodeChunk(*c.data);
    if (!samples.ok()) return samples.status();
    for (auto& s : *samples) {
      if (s.time >= from && s.time < to) out.push_back(std::move(s));
    }
  }
  for (const auto& s : open) {
    if (s.time >= from && s.time < to) out.push_back(s);
  }
  // Instance numbers are given in record order: they order equal times across chunks (whose
  // order in `chunks` is not the record order after a restart).
  std::sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) {
    return a.time != b.time ? a.time < b.time : a.instance < b.instance;
  });
  return out;
}

namespace {

// Calls found(lo, hi) for the instants of s in [from, to): a sealed chunk or the open samples
// lying wholly inside as one range (from their headers), the others instant by instant, until
// found returns true. Returns whether it did.
template <typename Found>
Result<bool> ScanInstants(const Series& s, Micros from, Micros to, Found found) {
  const OpenSamples& open = s.open;
  if (!open.empty() && open.max_time() >= from && open.min_time() < to) {
    if (open.min_time() >= from && open.max_time() < to) {
      if (found(open.min_time(), open.max_time())) return true;
    } else {
      for (size_t i = 0; i < open.size(); ++i) {
        if (open.time(i) >= from && open.time(i) < to && found(open.time(i), open.time(i))) {
          return true;
        }
      }
    }
  }
  for (const auto& c : s.chunks) {
    if (c.stats.count == 0 || c.stats.last_time < from || c.stats.first_time >= to) continue;
    if (c.stats.first_time >= from && c.stats.last_time < to) {
      if (found(c.stats.first_time, c.stats.last_time)) return true;
      continue;
    }
    std::vector<Micros> times;
    std::vector<double> numbers;
    auto decoded = DecodeChunkNumbers(*c.data, &times, &numbers);
    if (!decoded.ok()) return decoded.status();
    for (Micros t : times) {
      if (t >= from && t < to && found(t, t)) return true;
    }
  }
  return false;
}

}  // namespace

Result<std::optional<std::pair<Micros, Micros>>> Series::InstantRange(Micros from,
                                                                      Micros to) const {
  std::optional<std::pair<Micros, Micros>> range;
  auto scanned = ScanInstants(*this, from, to, [&range](Micros lo, Micros hi) {
    if (!range) range.emplace(lo, hi);
    range->first = std::min(range->first, lo);
    range->second = std::max(range->second, hi);
    return false;  // the whole range
  });
  if (!scanned.ok()) return scanned.status();
  return range;
}

Result<bool> Series::HasInstantIn(Micros from, Micros to) const {
  return ScanInstants(*this, from, to, [](Micros, Micros) { return true; });
}

Result<std::vector<Accumulator>> AggregateByInstant(const std::vector<const Series*>& series,
                                                    const std::vector<Period>& periods,
                                                    bool needs_distinct, uint64_t* from_stats) {
  std::vector<Accumulator> acc(periods.size(), Accumulator(needs_distinct));
  if (periods.empty()) return acc;
  const Micros from = periods.front().start, to = periods.back().end;
  // Samples come mostly in time order: the period of the previous one is tried first.
  size_t last = 0;
  auto period_of = [&](Micros t) -> int {
    if (t >= periods[last].start && t < periods[last].end) return static_cast<int>(last);
    auto it = std::upper_bound(periods.begin(), periods.end(), t,
                               [](Micros v, const Period& p) { return v < p.start; });
    if (it == periods.begin()) return -1;
    --it;
    if (t >= it->end) return -1;
    last = static_cast<size_t>(it - periods.begin());
    return static_cast<int>(last);
  };
  // The period that holds the whole block, when the block can stand for its samples; else -1.
  auto whole_in = [&](const BlockStats& b) -> int {
    if (!Accumulator::CanUseBlock(b, needs_distinct)) return -1;
    const int p = period_of(b.first_time);
    return p >= 0 && b.last_time < periods[p].end ? p : -1;
  };
  auto outside = [&](const BlockStats& b) { return b.last_time < from || b.first_time >= to; };
  std::vector<Micros> times;
  std::vector<double> numbers;
  std::vector<Sample> samples;
  std::vector<int> touched;  // the periods whose run is open
  auto end_runs = [&] {
    for (int p : touched) acc[p].EndRun();
    touched.clear();
  };
  for (const Series* s : series) {
    for (const auto& c : s->chunks) {
      if (c.stats.count == 0 || c.stats.last_time < from || c.stats.first_time >= to) continue;
      auto index = c.Index();
      if (!index.ok()) return index.status();
      const ChunkIndex& ix = **index;
      const std::vector<BlockStats>& bl = ix.blocks;
      // Whether a block is cut: only asked (a pass over the blocks) when the answer matters,
      // for a chunk whose blocks cannot be decoded alone, or to count the chunks not decoded.
      const bool cut = (!ix.seekable || from_stats) &&
                       std::any_of(bl.begin(), bl.end(), [&](const BlockStats& b) {
                         return !outside(b) && whole_in(b) < 0;
                       });
      // Decoded whole when it has a cut block and its blocks cannot be decoded alone.
      const bool decode = cut && !ix.seekable;
      bool numeric = true;
      if (decode) {
        auto decoded = DecodeChunkNumbers(*c.data, &times, &numbers);
        if (!decoded.ok()) return decoded.status();
        numeric = *decoded;
        if (!numeric) {
          auto all = DecodeChunk(*c.data);
          if (!all.ok()) return all.status();
          samples = std::move(*all);
        }
        if ((numeric ? times.size() : samples.size()) !=
            (bl.empty() ? 0 : (bl.size() - 1) * kBlockSamples + bl.back().count)) {
          return Status::Internal("damaged temporal chunk: blocks");
        }
      } else if (!cut && from_stats) {
        ++*from_stats;
      }
      for (size_t k = 0; k < bl.size(); ++k) {
        const BlockStats& b = bl[k];
        if (outside(b)) continue;
        if (const int p = whole_in(b); p >= 0) {
          acc[p].AddBlock(b);
          continue;
        }
        // Cut by a period or the interval: its samples, one run per period (a chunk is sorted
        // by time, so the samples of a period are adjacent).
        size_t begin = k * kBlockSamples, end = begin + b.count;
        if (!decode) {  // this block alone
          times.resize(kBlockSamples);
          numbers.resize(kBlockSamples);
          ix.DecodeBlock(*c.data, k, times.data(), numbers.data());
          begin = 0;
          end = b.count;
        }
        for (size_t i = begin; i < end;) {
          const int p = period_of(numeric ? times[i] : samples[i].time);
          size_t j = i + 1;
          if (p >= 0) {
            const Period& period = periods[p];
            if (numeric) {
              while (j < end && times[j] >= period.start && times[j] < period.end) ++j;
              acc[p].AddNumbers(numbers.data() + i, j - i);
            } else {
              acc[p].Add(samples[i]);
              for (; j < end && samples[j].time >= period.start && samples[j].time < period.end;
                   ++j) {
                acc[p].Add(samples[j]);
              }
            }
            acc[p].EndRun();
          }
          i = j;
        }
      }
    }
    // Open samples, in record order, by block: from their instants and numbers, decoding only
    // the records that hold no number. They need not be sorted, so a block's runs are ended
    // together at its end.
    const OpenSamples& o = s->open;
    const size_t n = o.size();
    if (n == 0 || o.max_time() < from || o.min_time() >= to) continue;
    for (size_t begin = 0; begin < n; begin += kBlockSamples) {
      const size_t end = std::min(n, begin + kBlockSamples);
      if (end - begin == kBlockSamples) {  // complete: it has pre-aggregates
        const BlockStats& b = o.block(begin / kBlockSamples);
        if (outside(b)) continue;
        if (const int p = whole_in(b); p >= 0) {
          acc[p].AddBlock(b);
          continue;
        }
      }
      for (size_t i = begin; i < end;) {
        if (!o.numeric(i)) {
          Sample x = o[i];
          const int p = period_of(x.time);
          if (p >= 0) {
            acc[p].Add(x);
            touched.push_back(p);
          }
          ++i;
          continue;
        }
        const int p = period_of(o.time(i));
        size_t j = i + 1;
        if (p >= 0) {
          const Period& period = periods[p];
          while (j < end && o.numeric(j) && o.time(j) >= period.start && o.time(j) < period.end) {
            ++j;
          }
          acc[p].AddNumbers(o.numbers(i), j - i);
          touched.push_back(p);
        }
        i = j;
      }
      end_runs();
    }
  }
  return acc;
}

std::string TemporalStore::SeriesPrefix(char kind, const std::string& tenant, const std::string& id,
                                        const std::string& attr, const std::string& dataset) const {
  std::string k(1, kind);
  k += tenant;
  k.push_back('\0');
  k += id;
  k.push_back('\0');
  k += attr;
  k.push_back('\0');
  k += dataset;
  k.push_back('\0');
  return k;
}

Status TemporalStore::Load(Backend& backend) {
  std::map<std::string, std::shared_ptr<History>> loaded;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Series>> series;
  auto history = [&](std::string_view tenant, std::string_view id) {
    auto& h = loaded[Key2(tenant, id)];
    if (!h) {
      h = std::make_shared<History>();
      h->id = std::string(id);
    }
    return h.get();
  };
  Status st = backend.Scan(kSpace, [&](std::string_view key, std::string_view value) -> Status {
    if (key == kCounterKey) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size()) return Corrupt("counter");
      next_instance_ = std::max(next_instance_, n);
      return Status::Ok();
    }
    if (key.empty()) return Corrupt("empty key");
    char kind = key[0];
    key.remove_prefix(1);
    if (kind == kHeader) {
      auto parts = SplitNul(key);
      if (parts.size() != 2) return Corrupt("header key");
      auto json = ParseJson(value);
      if (!json.ok()) return Corrupt("header");
      History* h = history(parts[0], parts[1]);
      if (const Json* types = json->Find("types"); types && types->is_array()) {
        for (const auto& t : types->as_array()) {
          if (t.is_string()) h->types.push_back(t.as_string());
        }
      }
      return Status::Ok();
    }
    if ((kind != kRaw && kind != kChunk) || key.size() < 9) return Corrupt("key");
    uint64_t n = GetBe64(key.substr(key.size() - 8));
    auto parts = SplitNul(key.substr(0, key.size() - 9));
    if (parts.size() != 4) return Corrupt("series key");
    std::string hkey = Key2(parts[0], parts[1]);
    history(parts[0], parts[1]);
    auto& s = series[{hkey, Key2(parts[2], parts[3])}];
    if (!s) {
      s = std::make_shared<Series>();
      s->attr = std::string(parts[2]);
      s->dataset = std::string(parts[3]);
    }
    if (kind == kRaw) {
      if (!s->open.AppendRecord(value).ok()) return Corrupt("sample");
    } else {
      auto stats = ReadChunkStats(value);
      if (!stats.ok()) return stats.status();
      s->chunks.push_back({std::string(1, kind) + std::string(key),
                           std::make_shared<const std::string>(value), *stats});
    }
    next_instance_ = std::max(next_instance_, n + 1);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  for (auto& [k, s] : series) {
    // Raw records come in instance order, which is record order.
    s->RefreshRecordedKind();
    loaded[k.first]->series.Put(std::move(s));
  }
  std::unique_lock lock(mu_);
  histories_.clear();
  for (auto& [k, h] : loaded) histories_.emplace(k, std::move(h));
  return Status::Ok();
}

const History* TemporalStore::Current(const std::string& tenant, const std::string& id) const {
  std::string key = Key2(tenant, id);
  if (auto it = staged_.find(key); it != staged_.end()) return it->second.history.get();
  // The commit thread is the only writer of histories_: reading it here needs no lock.
  auto it = histories_.find(key);
  return it == histories_.end() ? nullptr : it->second.get();
}

History* TemporalStore::Stage(const std::string& tenant, const std::string& id, bool create) {
  std::string key = Key2(tenant, id);
  auto it = staged_.find(key);
  if (it == staged_.end()) {
    Staged s;
    s.tenant = tenant;
    if (auto c = histories_.find(key); c != histories_.end()) {
      s.history = std::make_shared<History>(*c->second);
    }
    it = staged_.emplace(key, std::move(s)).first;
  }
  if (!it->second.history && create) {
    it->second.history = std::make_shared<History>();
    it->second.history->id = id;
    it->second.header_dirty = true;
  }
  return it->second.history.get();
}

Series* TemporalStore::StageSeries(History* h, const std::string& tenant, const std::string& attr,
                                   const std::string& dataset, bool create) {
  SeriesPtr* found = h->series.Find(attr, dataset);
  if (found == nullptr) {
    if (!create) return nullptr;
    auto s = std::make_shared<Series>();
    s->attr = attr;
    s->dataset = dataset;
    s->staged_round = round_;
    found = &h->series.Put(std::move(s));
  } else if ((*found)->staged_round != round_) {
    auto copy = std::make_shared<Series>(**found);
    copy->staged_round = round_;
    *found = std::move(copy);
  }
  // Private to this round (staged_round): safe to modify.
  return const_cast<Series*>(found->get());
}

void TemporalStore::Record(const std::string& tenant, History* h, const std::string& attr,
                           const ngsild::Attribute& instance, Micros now, Batch* batch) {
  const std::string dataset(ngsild::DatasetIdOf(instance));
  Series* s = StageSeries(h, tenant, attr, dataset, true);
  Sample sample = SampleFromInstance(instance, now, next_instance_++);
  std::string key = SeriesPrefix(kRaw, tenant, h->id, attr, dataset);
  PutBe64(&key, sample.instance);
  std::string record = EncodeSample(sample);
  s->open.Append(sample, record);
  if (s->open.size() == 1) s->recorded_kind = KindOf(sample);  // the new first open sample
  batch->push_back(
      {Backend::Op::Kind::kPut, std::string(kSpace), std::move(key), std::move(record)});
}

void TemporalStore::RecordDeletions(const std::string& tenant, History* h,
                                    const ngsild::Entity& before, const ngsild::Entity* after,
                                    Micros at, Batch* batch) {
  for (const auto& slot : before.attrs) {
    const ngsild::AttributeSlot* now = after ? after->FindSlot(slot.name) : nullptr;
    for (const auto& inst : slot.instances) {
      if (now != nullptr && ngsild::FindInstance(*now, ngsild::DatasetIdOf(inst)) >= 0) continue;
      Record(tenant, h, slot.name, DeletionInstance(inst, at), at, batch);
    }
  }
}

void TemporalStore::RecordScope(const std::string& tenant, History* h, const Json& before,
                                const Json& after, Micros at, Batch* batch) {
  if (before == after) return;
  ngsild::Attribute inst(Json::MakeObject());
  inst.Set("type", "Property");
  if (after.is_null()) {
    Record(tenant, h, std::string(kScopeAttr), DeletionInstance(inst, at), at, batch);
    return;
  }
  inst.Set("value", after);
  inst.Set("observedAt", FormatDateTime(at));  // a copy of modifiedAt, as clause 4.5.6 asks
  Record(tenant, h, std::string(kScopeAttr), inst, at, batch);
}

void TemporalStore::DropSeries(const std::string& tenant, const History& h, const Series& s,
                               Batch* batch) {
  const std::string prefix = SeriesPrefix(kRaw, tenant, h.id, s.attr, s.dataset);
  for (const auto& sample : s.open) {
    std::string key = prefix;
    PutBe64(&key, sample.instance);
    batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), std::move(key), ""});
  }
  for (const auto& c : s.chunks) {
    batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), c.key, ""});
  }
}

std::optional<Micros> TemporalStore::Cutoff(const History& h, Micros now) const {
  Duration keep = options_.retention;
  bool typed = false;
  for (const auto& t : h.types) {
    auto it = options_.retention_by_type.find(t);
    if (it == options_.retention_by_type.end()) continue;
    if (!typed || AddDuration(now, it->second) > AddDuration(now, keep)) keep = it->second;
    typed = true;
  }
  if (keep.zero()) return std::nullopt;
  return AddDuration(now, Duration{-keep.months, -keep.micros});
}

void TemporalStore::DropExpired(const History& h, Series* s, Batch* batch) {
  const std::optional<Micros> cutoff = Cutoff(h, NowMicros());
  if (!cutoff) return;
  const size_t before = s->chunks.size();
  s->chunks.erase_if([&](const Chunk& c) {
    if (c.stats.last_time >= *cutoff) return false;
    batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), c.key, ""});
    return true;
  });
  if (s->chunks.size() != before) s->RefreshRecordedKind();
}

std::vector<std::pair<std::string, std::string>> TemporalStore::Expired(Micros now) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (options_.retention.zero() && options_.retention_by_type.empty()) return out;
  // A snapshot under the lock, the scan without it: the commit thread publishes under it.
  std::vector<std::pair<std::string, HistoryPtr>> all;  // (tenant, history)
  {
    std::shared_lock lock(mu_);
    all.reserve(histories_.size());
    for (const auto& [key, h] : histories_) all.emplace_back(key.substr(0, key.find('\0')), h);
  }
  for (const auto& [tenant, h] : all) {
    const std::optional<Micros> cutoff = Cutoff(*h, now);
    if (!cutoff) continue;
    bool expired = false;
    for (const SeriesPtr& s : h->series) {
      for (const auto& c : s->chunks) expired = expired || c.stats.last_time < *cutoff;
      if (expired) break;
    }
    if (expired) out.emplace_back(tenant, h->id);
  }
  return out;
}

storage::WriteOp TemporalStore::ExpireOp(std::string tenant, std::string id) {
  storage::WriteOp op;
  op.tenant = tenant;
  op.id = id;
  op.apply = [this, tenant, id](const storage::EntityPtr&, Micros) -> Result<storage::Outcome> {
    storage::Outcome o = storage::Outcome::None();
    o.prepare = [this, tenant, id](Batch* batch) {
      History* h = Stage(tenant, id, false);
      if (h == nullptr) return;  // deleted meanwhile
      std::vector<std::pair<std::string, std::string>> keys;
      for (const SeriesPtr& s : h->series) keys.emplace_back(s->attr, s->dataset);
      for (const auto& [attr, dataset] : keys) {
        DropExpired(*h, StageSeries(h, tenant, attr, dataset, false), batch);
      }
    };
    return o;
  };
  return op;
}

void TemporalStore::SealFull(Batch* batch) {
  for (auto& [hkey, staged] : staged_) {
    if (staged.history) SealFull(staged.tenant, staged.history.get(), batch);
  }
}

void TemporalStore::SealFull(const std::string& tenant, History* h, Batch* batch) {
  for (const SeriesPtr& series : h->series) {
    if (series->staged_round != round_) continue;
    auto* s = const_cast<Series*>(series.get());  // staged this round
    if (s->open.size() < options_.chunk_samples) {
      DropExpired(*h, s, batch);
      continue;
    }
    std::vector<Sample> sorted = s->open.Decode();
    SortSamples(&sorted);
    const std::string raw_prefix = SeriesPrefix(kRaw, tenant, h->id, s->attr, s->dataset);
    const std::string chunk_prefix = SeriesPrefix(kChunk, tenant, h->id, s->attr, s->dataset);
    // Whole chunks only; the latest remainder stays open.
    size_t sealed = sorted.size() - sorted.size() % options_.chunk_samples;
    for (size_t i = 0; i < sealed; i += options_.chunk_samples) {
      std::vector<Sample> part(sorted.begin() + i, sorted.begin() + i + options_.chunk_samples);
      uint64_t first = part[0].instance;
      for (const auto& p : part) {
        first = std::min(first, p.instance);
        std::string key = raw_prefix;
        PutBe64(&key, p.instance);
        batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), std::move(key), ""});
      }
      std::string key = chunk_prefix;
      PutBe64(&key, first);
      auto data = std::make_shared<const std::string>(EncodeChunk(part));
      ChunkStats stats;
      for (const auto& p : part) stats.Add(p);
      batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), key, *data});
      Chunk chunk{std::move(key), std::move(data), stats};
      chunk.first_kind = KindOf(part.front());
      s->chunks.push_back(std::move(chunk));
    }
    s->open.Assign(std::vector<Sample>(sorted.begin() + sealed, sorted.end()));
    s->RefreshRecordedKind();
    DropExpired(*h, s, batch);  // also what was sealed just now
  }
}

void TemporalStore::OnPrepare(const std::vector<storage::Change>& changes, Batch* batch) {
  const uint64_t first_instance = next_instance_;
  for (const auto& c : changes) {
    if (!c.after) {
      // A deleted entity keeps its history, which records the deletion of every instance.
      if (!c.before || (c.before->attrs.empty() && c.before->scope.is_null())) continue;
      History* h = Stage(c.tenant, c.before->id, true);
      if (h->types.empty()) {  // its history had been deleted
        h->types = c.before->types;
        staged_[Key2(c.tenant, h->id)].header_dirty = true;
      }
      RecordDeletions(c.tenant, h, *c.before, nullptr, c.at, batch);
      RecordScope(c.tenant, h, c.before->scope, Json(), c.at, batch);
      continue;
    }
    const ngsild::Entity& e = *c.after;
    History* h = Stage(c.tenant, e.id, true);
    if (h->types != e.types) {
      h->types = e.types;
      staged_[Key2(c.tenant, e.id)].header_dirty = true;
    }
    for (const auto& slot : e.attrs) {
      const ngsild::AttributeSlot* before = c.before ? c.before->FindSlot(slot.name) : nullptr;
      for (const auto& inst : slot.instances) {
        if (before != nullptr) {
          int i = ngsild::FindInstance(*before, ngsild::DatasetIdOf(inst));
          // Unchanged: not written by this change (the same modifiedAt). A write of the same
          // value again is a new instance of the history.
          if (i >= 0 && before->instances[i].modified_at == inst.modified_at &&
              before->instances[i] == inst) {
            continue;
          }
        }
        Record(c.tenant, h, slot.name, inst, c.at, batch);
      }
    }
    if (c.before) RecordDeletions(c.tenant, h, *c.before, &e, c.at, batch);
    RecordScope(c.tenant, h, c.before ? c.before->scope : Json(), e.scope, c.at, batch);
  }
  SealFull(batch);
  for (auto& [key, s] : staged_) {
    if (!s.header_dirty || !s.history) continue;
    Json header = Json::MakeObject();
    Json types = Json::MakeArray();
    for (const auto& t : s.history->types) types.Push(Json(t));
    header.Set("types", std::move(types));
    batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), std::string(1, kHeader) + key,
                      ToJsonString(header)});
    s.header_dirty = false;
  }
  if (next_instance_ != first_instance || pending_counter_) {
    batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), std::string(kCounterKey),
                      std::to_string(next_instance_)});
    pending_counter_ = false;
  }
}

void TemporalStore::OnCommitted(const std::vector<storage::Change>&) {
  {
    std::unique_lock lock(mu_);
    for (auto& [key, s] : staged_) {
      if (s.history) {
        histories_.insert_or_assign(key, std::move(s.history));
      } else {
        histories_.erase(key);
      }
    }
  }
  staged_.clear();
  ++round_;
}

void TemporalStore::OnAborted() {
  staged_.clear();
  ++round_;
  pending_counter_ = true;
}

HistoryPtr TemporalStore::Get(std::string_view tenant, std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = histories_.find(Key2(tenant, id));
  return it == histories_.end() ? nullptr : it->second;
}

std::vector<HistoryPtr> TemporalStore::List(std::string_view tenant) const {
  return List(tenant, [](const History&) { return true; });
}

std::vector<HistoryPtr> TemporalStore::List(std::string_view tenant,
                                            const std::function<bool(const History&)>& keep) const {
  return List(tenant, keep, "", SIZE_MAX);
}

std::vector<HistoryPtr> TemporalStore::List(std::string_view tenant,
                                            const std::function<bool(const History&)>& keep,
                                            std::string_view after, size_t max) const {
  std::vector<HistoryPtr> out;
  const std::string prefix = Key2(tenant, "");
  std::shared_lock lock(mu_);
  // No id is empty: after "" is from the first.
  for (auto it = histories_.upper_bound(Key2(tenant, after));
       out.size() < max && it != histories_.end() &&
       std::string_view(it->first).substr(0, prefix.size()) == prefix;
       ++it) {
    if (keep(*it->second)) out.push_back(it->second);
  }
  return out;
}

TemporalStore::Stats TemporalStore::stats() const {
  Stats st;
  std::shared_lock lock(mu_);
  for (const auto& [k, h] : histories_) {
    for (const SeriesPtr& s : h->series) {
      st.open_samples += s->open.size();
      st.samples += s->size();
      st.chunks += s->chunks.size();
      for (const auto& c : s->chunks) st.chunk_bytes += c.data->size();
    }
  }
  return st;
}

storage::WriteOp TemporalStore::AppendOp(std::string tenant, std::string id,
                                         std::vector<std::string> types,
                                         std::vector<Instance> instances, bool must_exist) {
  storage::WriteOp op;
  op.tenant = tenant;
  op.id = id;
  op.apply = [this, tenant, id, types = std::move(types), instances = std::move(instances),
              must_exist](const storage::EntityPtr&, Micros now) -> Result<storage::Outcome> {
    if (must_exist && Current(tenant, id) == nullptr) {
      return Status::NotFound("no temporal representation of entity " + id);
    }
    storage::Outcome o = storage::Outcome::None();
    o.prepare = [this, tenant, id, types, instances, now](Batch* batch) {
      History* h = Stage(tenant, id, true);
      for (const auto& t : types) {
        if (std::find(h->types.begin(), h->types.end(), t) != h->types.end()) continue;
        h->types.push_back(t);
        staged_[Key2(tenant, id)].header_dirty = true;
      }
      // Instances observed at one instant in one series: the last of the upload wins, and it
      // replaces what the series holds at that instant. All replaced samples are dropped
      // before any is recorded, so each lookup scans only what was there before the upload.
      using SeriesInstant = std::tuple<std::string, std::string, Micros>;
      std::map<SeriesInstant, size_t> last;
      std::vector<std::optional<SeriesInstant>> keys(instances.size());
      for (size_t i = 0; i < instances.size(); ++i) {
        const ngsild::Attribute& inst = instances[i].instance;
        std::string_view text = inst.GetString("observedAt");
        auto observed = text.empty() ? std::nullopt : ParseDateTime(text);
        if (!observed) continue;
        keys[i] =
            SeriesInstant{instances[i].attr, std::string(ngsild::DatasetIdOf(inst)), *observed};
        last[*keys[i]] = i;
      }
      std::map<std::pair<std::string, std::string>, std::vector<Micros>> instants;
      for (const auto& entry : last) {
        const auto& [attr, dataset, at] = entry.first;
        instants[{attr, dataset}].push_back(at);  // sorted: `last` is ordered by instant
      }
      for (const auto& [series, at] : instants) {
        if (Series* s = StageSeries(h, tenant, series.first, series.second, false)) {
          // The hook cannot fail the op any more; a damaged chunk only keeps its samples.
          (void)DropObservedAt(tenant, *h, s, at, batch);
        }
      }
      for (size_t i = 0; i < instances.size(); ++i) {
        if (keys[i] && last.at(*keys[i]) != i) continue;  // superseded within this upload
        // An instance without system times is recorded as created and modified now.
        Record(tenant, h, instances[i].attr, instances[i].instance, now, batch);
      }
    };
    return o;
  };
  return op;
}

storage::WriteOp TemporalStore::DeleteEntityOp(std::string tenant, std::string id) {
  storage::WriteOp op;
  op.tenant = tenant;
  op.id = id;
  op.apply = [this, tenant, id](const storage::EntityPtr&, Micros) -> Result<storage::Outcome> {
    if (Current(tenant, id) == nullptr) {
      return Status::NotFound("no temporal representation of entity " + id);
    }
    storage::Outcome o = storage::Outcome::None();
    o.prepare = [this, tenant, id](Batch* batch) {
      History* h = Stage(tenant, id, false);
      if (h == nullptr) return;
      for (const SeriesPtr& s : h->series) DropSeries(tenant, *h, *s, batch);
      const std::string key = Key2(tenant, id);
      batch->push_back(
          {Backend::Op::Kind::kDelete, std::string(kSpace), std::string(1, kHeader) + key, ""});
      auto& staged = staged_[key];
      staged.history.reset();
      staged.header_dirty = false;
    };
    return o;
  };
  return op;
}

storage::WriteOp TemporalStore::DeleteAttrOp(std::string tenant, std::string id, std::string attr,
                                             std::optional<std::string> dataset, bool all) {
  storage::WriteOp op;
  op.tenant = tenant;
  op.id = id;
  auto matches = [attr, dataset, all](const Series& s) {
    return s.attr == attr && (all || s.dataset == dataset.value_or(""));
  };
  op.apply = [this, tenant, id, matches](const storage::EntityPtr&,
                                         Micros) -> Result<storage::Outcome> {
    const History* cur = Current(tenant, id);
    if (cur == nullptr) return Status::NotFound("no temporal representation of entity " + id);
    bool any = false;
    for (const SeriesPtr& s : cur->series) any = any || matches(*s);
    if (!any) return Status::NotFound("the entity has no such attribute in its history");
    storage::Outcome o = storage::Outcome::None();
    o.prepare = [this, tenant, id, matches](Batch* batch) {
      History* h = Stage(tenant, id, false);
      h->series.EraseIf([&](const Series& s) {
        if (!matches(s)) return false;
        DropSeries(tenant, *h, s, batch);
        return true;
      });
    };
    return o;
  };
  return op;
}

Status TemporalStore::RewriteInstance(const std::string& tenant, History* h, Series* s,
                                      uint64_t instance,
                                      const std::optional<ngsild::Attribute>& patch, Batch* batch) {
  auto merged = [&](const Sample& old) {
    ngsild::Attribute inst = InstanceFromSample(old);
    for (const auto& [k, v] : patch->as_object()) inst.Set(k, v);
    inst.modified_at = NowMicros();
    Sample n = SampleFromInstance(inst, old.modified_at, old.instance);
    n.created_at = old.created_at;
    return n;
  };
  for (size_t i = 0; i < s->open.size(); ++i) {
    if (s->open[i].instance != instance) continue;
    std::string key = SeriesPrefix(kRaw, tenant, h->id, s->attr, s->dataset);
    PutBe64(&key, instance);
    if (patch) {
      Sample updated = merged(s->open[i]);
      batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), key, EncodeSample(updated)});
      s->open.Replace(i, updated);
    } else {
      s->open.Erase(i);
      batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), key, ""});
    }
    s->RefreshRecordedKind();
    return Status::Ok();
  }
  for (size_t c = 0; c < s->chunks.size(); ++c) {
    auto samples = DecodeChunk(*s->chunks[c].data);
    if (!samples.ok()) return samples.status();
    auto it = std::find_if(samples->begin(), samples->end(),
                           [&](const Sample& x) { return x.instance == instance; });
    if (it == samples->end()) continue;
    if (patch) {
      *it = merged(*it);
      SortSamples(&*samples);
    } else {
      samples->erase(it);
    }
    Chunk& chunk = s->chunks.mutable_at(c);
    if (samples->empty()) {
      batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), chunk.key, ""});
      s->chunks.erase(c);
      s->RefreshRecordedKind();
      return Status::Ok();
    }
    chunk.Reset(EncodeChunk(*samples));
    chunk.first_kind = KindOf(samples->front());
    chunk.stats = ChunkStats();
    for (const auto& x : *samples) chunk.stats.Add(x);
    batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), chunk.key, *chunk.data});
    s->RefreshRecordedKind();
    return Status::Ok();
  }
  return Status::NotFound("no attribute instance " + InstanceId(instance));
}

Status TemporalStore::DropObservedAt(const std::string& tenant, const History& h, Series* s,
                                     const std::vector<Micros>& instants, Batch* batch) {
  auto observed_then = [&](const Sample& x) {
    return std::binary_search(instants.begin(), instants.end(), x.time) && HasObservedAt(x);
  };
  const std::string raw_prefix = SeriesPrefix(kRaw, tenant, h.id, s->attr, s->dataset);
  // The open samples are decoded only when one of the instants is in their range.
  bool changed = false;  // open or chunks: recorded_kind is computed again
  auto first = s->open.empty()
                   ? instants.end()
                   : std::lower_bound(instants.begin(), instants.end(), s->open.min_time());
  if (first != instants.end() && *first <= s->open.max_time()) {
    std::vector<Sample> open = s->open.Decode();
    size_t dropped = std::erase_if(open, [&](const Sample& x) {
      if (!observed_then(x)) return false;
      std::string key = raw_prefix;
      PutBe64(&key, x.instance);
      batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), std::move(key), ""});
      return true;
    });
    if (dropped > 0) {
      s->open.Assign(open);
      changed = true;
    }
  }
  // Each chunk that may hold one of the instants is decoded and rewritten once.
  for (size_t c = 0; c < s->chunks.size();) {
    const Chunk& probe = s->chunks[c];
    auto it = std::lower_bound(instants.begin(), instants.end(), probe.stats.first_time);
    if (probe.stats.count == 0 || it == instants.end() || *it > probe.stats.last_time) {
      ++c;
      continue;
    }
    auto samples = DecodeChunk(*probe.data);
    if (!samples.ok()) {
      if (changed) s->RefreshRecordedKind();
      return samples.status();
    }
    if (std::erase_if(*samples, observed_then) == 0) {
      ++c;
      continue;
    }
    Chunk& chunk = s->chunks.mutable_at(c);  // the series' own list from here
    changed = true;
    if (samples->empty()) {
      batch->push_back({Backend::Op::Kind::kDelete, std::string(kSpace), chunk.key, ""});
      s->chunks.erase(c);
      continue;
    }
    chunk.Reset(EncodeChunk(*samples));
    chunk.first_kind = KindOf(samples->front());
    chunk.stats = ChunkStats();
    for (const auto& x : *samples) chunk.stats.Add(x);
    batch->push_back({Backend::Op::Kind::kPut, std::string(kSpace), chunk.key, *chunk.data});
    ++c;
  }
  if (changed) s->RefreshRecordedKind();
  return Status::Ok();
}

storage::WriteOp TemporalStore::ModifyInstanceOp(std::string tenant, std::string id,
                                                 std::string attr, uint64_t instance,
                                                 std::optional<ngsild::Attribute> patch) {
  storage::WriteOp op;
  op.tenant = tenant;
  op.id = id;
  op.apply = [this, tenant, id, attr, instance, patch](const storage::EntityPtr&,
                                                       Micros) -> Result<storage::Outcome> {
    const History* cur = Current(tenant, id);
    if (cur == nullptr) return Status::NotFound("no temporal representation of entity " + id);
    // Find the instance now, so that the op fails cleanly when it does not exist; the prepare
    // hook runs right after, on the same thread, and sees the same state.
    bool found = false;
    for (const SeriesPtr& s : cur->series) {
      if (s->attr != attr) continue;
      for (const auto& x : s->open) found = found || x.instance == instance;
      for (size_t c = 0; c < s->chunks.size() && !found; ++c) {
        auto samples = DecodeChunk(*s->chunks[c].data);
        if (!samples.ok()) return samples.status();
        for (const auto& x : *samples) found = found || x.instance == instance;
      }
      if (found) break;
    }
    if (!found) return Status::NotFound("no attribute instance " + InstanceId(instance));
    storage::Outcome o = storage::Outcome::None();
    o.prepare = [this, tenant, id, attr, instance, patch](Batch* batch) {
      History* h = Stage(tenant, id, false);
      std::vector<std::string> datasets;
      for (const SeriesPtr& s : h->series) {
        if (s->attr == attr) datasets.push_back(s->dataset);
      }
      for (const auto& dataset : datasets) {
        Series* ms = StageSeries(h, tenant, attr, dataset, false);
        if (RewriteInstance(tenant, h, ms, instance, patch, batch).ok()) return;
      }
    };
    return o;
  };
  return op;
}

}  // namespace civitas::temporal
