#include "temporal/temporal_store.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "temporal/record.h"
#include "temporal/retention_sweeper.h"

namespace civitas::temporal {
namespace {

using storage::EntityPtr;
using storage::Outcome;
using storage::WriteOp;

constexpr char kAttr[] = "https://example.org/speed";
constexpr char kOther[] = "https://example.org/name";

// A series of two sealed chunks and open samples, out of order across them, at times 0..99.
Series MixedSeries(std::vector<Sample>* all) {
  std::mt19937 rng(7);
  std::vector<Micros> times(100);
  for (int i = 0; i < 100; ++i) times[i] = i * 10;
  std::shuffle(times.begin(), times.end(), rng);
  Series s;
  for (int c = 0; c < 3; ++c) {
    std::vector<Sample> part;
    for (int i = c * 35; i < std::min(100, (c + 1) * 35); ++i) {
      Sample x;
      x.time = times[i];
      x.instance = static_cast<uint64_t>(i) + 1;
      x.number = i % 7;
      part.push_back(x);
      all->push_back(x);
    }
    if (c == 2) {
      for (const auto& x : part) s.open.Append(x);
      continue;
    }
    SortSamples(&part);
    std::string data = EncodeChunk(part);
    auto stats = ReadChunkStats(data);
    EXPECT_TRUE(stats.ok());
    s.chunks.push_back({"", std::make_shared<const std::string>(std::move(data)), *stats});
  }
  return s;
}

TEST(SeriesSet, KeepsSeriesInAttributeThenDatasetOrder) {
  auto make = [](std::string attr, std::string dataset) {
    auto s = std::make_shared<Series>();
    s->attr = std::move(attr);
    s->dataset = std::move(dataset);
    return s;
  };
  SeriesSet set;
  // "a" sorts before "ab" whatever the datasets; within an attribute, by datasetId ("" first).
  for (auto [a, d] : std::vector<std::pair<std::string, std::string>>{
           {"ab", ""}, {"a", "z"}, {"b", ""}, {"a", ""}, {"a", "m"}}) {
    set.Put(make(a, d));
  }
  std::vector<std::string> order;
  for (const SeriesPtr& s : set) order.push_back(s->attr.str() + "/" + s->dataset);
  EXPECT_EQ(order, (std::vector<std::string>{"a/", "a/m", "a/z", "ab/", "b/"}));

  ASSERT_NE(set.Find("a", "m"), nullptr);
  EXPECT_EQ((*set.Find("a", "m"))->dataset, "m");
  EXPECT_EQ(set.Find("a", "q"), nullptr);
  EXPECT_EQ(set.Find("c", ""), nullptr);

  auto replacement = make("a", "m");
  const Series* raw = replacement.get();
  set.Put(replacement);  // replaces, does not add
  EXPECT_EQ(set.size(), 5u);
  EXPECT_EQ(set.Find("a", "m")->get(), raw);

  set.EraseIf([](const Series& s) { return s.attr == "a"; });
  order.clear();
  for (const SeriesPtr& s : set) order.push_back(s->attr.str() + "/" + s->dataset);
  EXPECT_EQ(order, (std::vector<std::string>{"ab/", "b/"}));
}

TEST(Series, InstantRangeMatchesTheSamples) {
  std::vector<Sample> all;
  Series s = MixedSeries(&all);
  for (Micros from = -5; from <= 1000; from += 35) {
    for (Micros to = from; to <= 1010; to += 45) {
      std::optional<std::pair<Micros, Micros>> want;
      for (const auto& x : all) {
        if (x.time < from || x.time >= to) continue;
        if (!want) want = std::pair(x.time, x.time);
        want->first = std::min(want->first, x.time);
        want->second = std::max(want->second, x.time);
      }
      auto got = s.InstantRange(from, to);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(*got, want) << from << ".." << to;
    }
  }
  EXPECT_EQ(*s.InstantRange(std::numeric_limits<Micros>::min(), std::numeric_limits<Micros>::max()),
            std::optional(std::pair<Micros, Micros>(0, 990)));
}

TEST(Series, HasInstantInAgreesWithTheSamples) {
  std::vector<Sample> all;
  Series s = MixedSeries(&all);  // times 0, 10, ..., 990 over two chunks and open samples
  for (Micros from = -5; from <= 1000; from += 7) {
    for (Micros to = from; to <= 1010; to += 3) {
      bool want = std::any_of(all.begin(), all.end(),
                              [&](const Sample& x) { return x.time >= from && x.time < to; });
      auto got = s.HasInstantIn(from, to);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, want) << from << ".." << to;
    }
  }
}

TEST(Series, AggregateWithoutDistinctGivesTheSameValues) {
  std::vector<Sample> all;
  Series s = MixedSeries(&all);
  auto periods = MakePeriods(0, 1000, Duration{0, 170});
  ASSERT_TRUE(periods.ok());
  auto with = AggregateByInstant({&s}, *periods, true);
  auto without = AggregateByInstant({&s}, *periods, false);
  ASSERT_TRUE(with.ok() && without.ok());
  for (size_t p = 0; p < periods->size(); ++p) {
    for (auto m : {AggrMethod::kTotalCount, AggrMethod::kSum, AggrMethod::kAvg, AggrMethod::kMin,
                   AggrMethod::kMax, AggrMethod::kStddev, AggrMethod::kSumsq}) {
      EXPECT_EQ((*with)[p].Value(m), (*without)[p].Value(m)) << p << " " << AggrMethodName(m);
    }
    EXPECT_GT((*with)[p].Value(AggrMethod::kDistinctCount).as_int(), 0);
  }
}

// The reference for AggregateByInstant: every sample decoded (chunks in series order, each in
// time order, then the open samples in record order) and added one by one, a run per block
// and period (kBlockSamples), ended at the end of the block.
std::vector<Accumulator> AggregateEverySample(const std::vector<const Series*>& series,
                                              const std::vector<Period>& periods, bool distinct) {
  std::vector<Accumulator> acc(periods.size(), Accumulator(distinct));
  auto add_blocks = [&](const std::vector<Sample>& samples) {
    for (size_t b = 0; b < samples.size(); b += kBlockSamples) {
      for (size_t i = b; i < std::min(samples.size(), b + kBlockSamples); ++i) {
        for (size_t p = 0; p < periods.size(); ++p) {
          if (samples[i].time >= periods[p].start && samples[i].time < periods[p].end) {
            acc[p].Add(samples[i]);
          }
        }
      }
      for (auto& a : acc) a.EndRun();
    }
  };
  for (const Series* s : series) {
    for (const auto& c : s->chunks) {
      auto samples = DecodeChunk(*c.data);
      EXPECT_TRUE(samples.ok());
      add_blocks(*samples);
    }
    add_blocks(s->open.Decode());
  }
  return acc;
}

// The aggregation's fast paths (block pre-aggregates of chunks and open samples, a chunk's
// numbers alone, runs of numbers added at once) against AggregateEverySample, bit for bit, on
// random series: two per attribute, chunks of several sizes, numbers with NaN, text, booleans
// and deletions (some variants all numbers), open samples partly out of order; random periods
// of random lengths starting inside and outside the data, and random interval ends.
TEST(Series, AggregateMatchesAddingEverySampleInOrder) {
  std::mt19937_64 rng(17);
  const std::vector<AggrMethod> kAll = {
      AggrMethod::kTotalCount, AggrMethod::kDistinctCount, AggrMethod::kSum,    AggrMethod::kAvg,
      AggrMethod::kMin,        AggrMethod::kMax,           AggrMethod::kStddev, AggrMethod::kSumsq};
  uint64_t compared = 0, from_stats = 0;
  for (int variant = 0; variant < 12; ++variant) {
    const bool only_numbers = variant % 4 < 2;
    uint64_t instance = 1;
    auto sample = [&](Micros t) {
      Sample x;
      x.time = t;
      x.instance = instance++;
      const int kind = static_cast<int>(rng() % 40);
      if (!only_numbers && kind == 0) {
        x.value = R"("text")";
      } else if (!only_numbers && kind == 1) {
        x.value = "true";
      } else if (!only_numbers && kind == 2) {
        x.value = R"("urn:ngsi-ld:null")";
        x.extra = R"({"type":"Property","deletedAt":"2026-01-01T00:00:00Z"})";
      } else if (kind == 3 && variant % 2 == 0) {
        x.number = std::nan("");
      } else {
        x.number = std::round(std::sin(static_cast<double>(t) / 7e6) * 1e4) / 100 +
                   static_cast<double>(rng() % 1000) / 7;
      }
      return x;
    };
    std::vector<Series> series(2);
    Micros t = 0;
    for (Series& s : series) {
      t = static_cast<Micros>(rng() % 50000);
      const size_t chunks = rng() % 4;
      for (size_t c = 0; c < chunks; ++c) {
        const size_t size = std::vector<size_t>{5, 16, 17, 100, 1024}[rng() % 5];
        std::vector<Sample> part;
        for (size_t i = 0; i < size; ++i) part.push_back(sample(t += 1000 + rng() % 2000));
        SortSamples(&part);
        std::string data = EncodeChunk(part);
        auto stats = ReadChunkStats(data);
        ASSERT_TRUE(stats.ok());
        s.chunks.push_back({"", std::make_shared<const std::string>(std::move(data)), *stats});
      }
      const size_t open = rng() % 300;
      for (size_t i = 0; i < open; ++i) {  // partly out of order
        s.open.Append(sample(i % 5 == 0 ? t - static_cast<Micros>(rng() % 100000) : t += 1500));
      }
    }
    const std::vector<const Series*> both = {&series[0], &series[1]};
    for (int round = 0; round < 40; ++round) {
      const Micros d = std::vector<Micros>{997, 7000, 16000, 50000, 333333, 0}[rng() % 6];
      const Micros from = static_cast<Micros>(rng() % (t + 20000)) - 10000;
      const Micros to = from + 1 + static_cast<Micros>(rng() % (t + 20000));
      auto periods = MakePeriods(from, to, Duration{0, d});
      ASSERT_TRUE(periods.ok());
      for (bool distinct : {false, true}) {
        uint64_t undecoded = 0;
        auto got = AggregateByInstant(both, *periods, distinct, &undecoded);
        ASSERT_TRUE(got.ok());
        from_stats += undecoded;
        auto want = AggregateEverySample(both, *periods, distinct);
        for (size_t p = 0; p < periods->size(); ++p) {
          for (AggrMethod m : kAll) {
            if (m == AggrMethod::kDistinctCount && !distinct) continue;
            ASSERT_EQ(ToJsonString((*got)[p].Value(m)), ToJsonString(want[p].Value(m)))
                << "variant " << variant << " round " << round << " d=" << d << " from=" << from
                << " to=" << to << " period " << p << " " << AggrMethodName(m);
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 10000u);
  EXPECT_GT(from_stats, 0u);  // some chunks were answered from their blocks alone
}

// Sums are added in runs: however a period is covered, the same blocks give the same bits, and
// the run sums are those of adding the values in order, from zero, a block at a time.
TEST(Series, BlockRunsAreSumsInOrderFromZero) {
  Series s;
  std::vector<Sample> part;
  std::vector<double> values;
  for (int i = 0; i < 40; ++i) {
    Sample x;
    x.time = i * 10;
    x.instance = static_cast<uint64_t>(i) + 1;
    x.number = 0.1 * i + 1e-3 / (i + 1);
    values.push_back(*x.number);
    part.push_back(x);
  }
  std::string data = EncodeChunk(part);
  s.chunks.push_back({"", std::make_shared<const std::string>(data), *ReadChunkStats(data)});
  for (const auto& x : part) s.open.Append(x);
  double block_sums[3] = {0, 0, 0};
  for (int i = 0; i < 40; ++i) block_sums[i / kBlockSamples] += values[i];
  double want = 0;
  for (int copy = 0; copy < 2; ++copy) {  // the chunk's blocks, then the same as open samples
    for (double b : block_sums) want += b;
  }
  auto got = AggregateByInstant({&s}, {{0, 400}}, false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].Value(AggrMethod::kSum), Json(want));
  EXPECT_EQ((*got)[0].Value(AggrMethod::kTotalCount), Json(80));
}

// KindOf reads the type of the extra members SampleFromInstance writes without parsing them,
// and parses anything else.
TEST(Record, KindOfReadsTheTypeWithOrWithoutParsing) {
  const std::pair<const char*, ngsild::AttrKind> cases[] = {
      {R"({"type":"Relationship","observedAt":"2026-01-01T00:00:00Z"})",
       ngsild::AttrKind::kRelationship},
      {R"({"type":"GeoProperty"})", ngsild::AttrKind::kGeoProperty},
      {R"({"type":"Property"})", ngsild::AttrKind::kProperty},
      {R"({"observedAt":"2026-01-01T00:00:00Z","type":"LanguageProperty"})",
       ngsild::AttrKind::kLanguageProperty},
      {R"({ "type" : "VocabProperty" })", ngsild::AttrKind::kVocabProperty},
      {R"({"type":"Rel\u0061tionship"})", ngsild::AttrKind::kRelationship},
      {R"({"type":"Unknown"})", ngsild::AttrKind::kProperty},
      {"", ngsild::AttrKind::kProperty},
  };
  for (const auto& [extra, kind] : cases) {
    Sample s;
    s.extra = extra;
    EXPECT_EQ(KindOf(s), kind) << extra;
  }
}

class TemporalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_temporal_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    Open();
  }
  void TearDown() override {
    entities_.reset();
    temporal_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    TemporalStore::Options o;
    o.chunk_samples = 4;
    OpenWith(o);
  }
  // Reopens the store (closing it first) with these options.
  void OpenWith(const TemporalStore::Options& o) {
    entities_.reset();
    temporal_ = std::make_unique<TemporalStore>(o);
    auto backend = storage::OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok()) << backend.status().detail();
    ASSERT_TRUE(temporal_->Load(**backend).ok());
    std::unique_ptr<storage::Backend> b = std::move(*backend);
    if (wrap_) b = wrap_(std::move(b));
    auto store = storage::EntityStore::Open(std::move(b), {false, 16384});
    ASSERT_TRUE(store.ok());
    entities_ = std::move(*store);
    entities_->AddListener(temporal_.get());
  }

  Status Run(WriteOp op) {
    std::promise<Status> p;
    auto f = p.get_future();
    std::vector<WriteOp> ops;
    ops.push_back(std::move(op));
    entities_->Submit(std::move(ops), [&p](std::vector<Status> s) { p.set_value(s[0]); });
    return f.get();
  }

  // Writes the entity with speed = v (observed at `observed` when not empty) and a name that
  // never changes.
  Status PutEntity(double v, std::string observed = "") { return Run(PutOp(v, observed)); }

 public:
  static WriteOp PutOp(double v, std::string observed = "") {
    return {"", "urn:x:1", [=](const EntityPtr& cur, Micros now) -> Result<Outcome> {
              ngsild::Entity e = cur ? *cur : ngsild::Entity{};
              e.id = "urn:x:1";
              e.types = {"https://example.org/Road"};
              ngsild::Attribute speed(Json::MakeObject(), now, now);
              speed.Set("type", "Property");
              speed.Set("value", Json(v));
              if (!observed.empty()) speed.Set("observedAt", observed);
              Json name = Json::MakeObject();
              name.Set("type", "Property");
              name.Set("value", "Main street");
              e.attrs = {{kAttr, {speed}}, {kOther, {name}}};
              return Outcome::Put(std::move(e));
            }};
  }

 protected:
  static TemporalStore::Instance Obs(const char* at, double v, const char* dataset = nullptr) {
    Json inst = Json::MakeObject();
    inst.Set("type", "Property");
    inst.Set("value", Json(v));
    inst.Set("observedAt", at);
    if (dataset) inst.Set("datasetId", dataset);
    return {kAttr, inst};
  }

  std::vector<Sample> Samples(const std::string& attr = kAttr, const std::string& dataset = "") {
    HistoryPtr h = temporal_->Get("", "urn:x:1");
    if (!h) return {};
    const SeriesPtr* found = h->series.Find(attr, dataset);
    if (found == nullptr) return {};
    auto r = (*found)->Read(INT64_MIN, INT64_MAX);
    EXPECT_TRUE(r.ok());
    return *r;
  }
  // The recorded kind as temporal answers named it before Series kept it: the first open
  // sample's, else the first sample's of the first chunk (decoded).
  static std::optional<ngsild::AttrKind> KindByDecoding(const Series& s) {
    if (!s.open.empty()) return KindOf(s.open[0]);
    if (s.chunks.empty()) return std::nullopt;
    auto d = DecodeChunk(*s.chunks.front().data);
    EXPECT_TRUE(d.ok());
    if (!d.ok() || d->empty()) return std::nullopt;
    return KindOf(d->front());
  }
  // Every series of every history keeps recorded_kind as KindByDecoding computes it.
  void ExpectRecordedKindsKept() {
    for (const HistoryPtr& h : temporal_->List("")) {
      for (const SeriesPtr& s : h->series) {
        EXPECT_EQ(s->recorded_kind, KindByDecoding(*s)) << h->id << " " << s->attr.str();
      }
    }
  }
  std::optional<ngsild::AttrKind> RecordedKind(const std::string& id = "urn:x:1") {
    HistoryPtr h = temporal_->Get("", id);
    if (!h) return std::nullopt;
    const SeriesPtr* found = h->series.Find(kAttr, "");
    if (found == nullptr) return std::nullopt;
    EXPECT_EQ((*found)->recorded_kind, KindByDecoding(**found));
    return (*found)->recorded_kind;
  }
  static std::vector<double> Values(const std::vector<Sample>& s) {
    std::vector<double> v;
    for (const auto& x : s) v.push_back(x.number.value_or(-999));
    return v;
  }

  std::filesystem::path dir_;
  // Optional: wraps the backend the entity store writes through.
  std::function<std::unique_ptr<storage::Backend>(std::unique_ptr<storage::Backend>)> wrap_;
  std::unique_ptr<TemporalStore> temporal_;
  std::unique_ptr<storage::EntityStore> entities_;
};

TEST_F(TemporalStoreTest, RecordsEveryChangeOfEveryInstance) {
  ASSERT_TRUE(PutEntity(10, "2024-01-01T00:00:00Z").ok());
  ASSERT_TRUE(PutEntity(20, "2024-01-01T00:01:00Z").ok());
  ASSERT_TRUE(PutEntity(30, "2024-01-01T00:02:00Z").ok());
  auto s = Samples();
  EXPECT_EQ(Values(s), (std::vector<double>{10, 20, 30}));
  EXPECT_EQ(s[1].time, *ParseDateTime("2024-01-01T00:01:00Z"));
  // The unchanged name was recorded once, when it appeared.
  EXPECT_EQ(Samples(kOther).size(), 1u);
  HistoryPtr h = temporal_->Get("", "urn:x:1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->types, std::vector<std::string>{"https://example.org/Road"});
  // Rendered back, with observedAt from the time column.
  Json inst = InstanceFromSample(s[1]);
  EXPECT_EQ(inst.GetString("observedAt"), "2024-01-01T00:01:00Z");  // as written
  EXPECT_EQ(*inst.Find("value"), Json(20));
  EXPECT_EQ(inst.GetString("instanceId"), InstanceId(s[1].instance));
}

// Writing the same value again is a new instance of the history (the instance's modifiedAt
// is new, though its members are the same); an attribute the write did not touch is not.
TEST_F(TemporalStoreTest, WritingTheSameValueAgainIsRecorded) {
  ASSERT_TRUE(PutEntity(7).ok());
  ASSERT_TRUE(PutEntity(7).ok());
  auto s = Samples();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(Values(s), (std::vector<double>{7, 7}));
  EXPECT_LE(s[0].modified_at, s[1].modified_at);
  EXPECT_EQ(Samples(kOther).size(), 1u);
}

TEST_F(TemporalStoreTest, WithoutObservedAtTheInstantIsModifiedAt) {
  ASSERT_TRUE(PutEntity(1).ok());
  auto s = Samples();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].time, s[0].modified_at);
  EXPECT_EQ(InstanceFromSample(s[0]).Find("observedAt"), nullptr);
}

TEST(RecordTest, HasObservedAtOnlyForTheInstanceItself) {
  auto sample = [](const char* json) {
    auto inst = ParseJson(json);
    EXPECT_TRUE(inst.ok());
    return SampleFromInstance(*inst, 1000, 1);
  };
  EXPECT_TRUE(HasObservedAt(
      sample(R"({"type":"Property","value":1,"observedAt":"2024-01-01T00:00:00Z"})")));
  EXPECT_TRUE(HasObservedAt(
      sample(R"({"type":"Property","value":1,"observedAt":"2024-01-01T00:00:00.000Z"})")));
  EXPECT_TRUE(HasObservedAt(
      sample(R"({"type":"Property","value":1,"observedAt":"2024-01-01T00:00:00.5+00:00"})")));
  EXPECT_FALSE(HasObservedAt(sample(R"({"type":"Property","value":1})")));
  // observedAt of a sub-property, or inside a value, is not the instance's.
  EXPECT_FALSE(HasObservedAt(sample(
      R"({"type":"Property","value":1,"unit":{"type":"Property","value":"C","observedAt":"2024-01-01T00:00:00Z"}})")));
  EXPECT_FALSE(
      HasObservedAt(sample(R"({"type":"Property","value":{"observedAt":"x","a":[1,{"b":","}]}})")));
  EXPECT_FALSE(HasObservedAt(sample(R"({"type":"Property","value":"observedAt"})")));
  EXPECT_TRUE(HasObservedAt(sample(
      R"({"type":"Property","value":1,"note":{"type":"Property","value":"\"observedAt\""},"observedAt":"2024-01-01T00:00:00Z"})")));
}

TEST_F(TemporalStoreTest, UploadKeepsEveryObservationSortedAndSealsChunks) {
  std::vector<TemporalStore::Instance> up = {
      Obs("2024-01-01T00:05:00Z", 5), Obs("2024-01-01T00:01:00Z", 1),
      Obs("2024-01-01T00:03:00Z", 3), Obs("2024-01-01T00:03:30Z", 33),
      Obs("2024-01-01T00:02:00Z", 2), Obs("2024-01-01T00:04:00Z", 4),
      Obs("2024-01-01T00:00:00Z", 0), Obs("2024-01-01T00:06:00Z", 6),
      Obs("2024-01-01T00:07:00Z", 7), Obs("2024-01-01T00:08:00Z", 8, "urn:ds:b")};
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, up, false)).ok());
  // The current entity is untouched.
  EXPECT_EQ(entities_->Get("", "urn:x:1"), nullptr);
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 1, 2, 3, 33, 4, 5, 6, 7}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{8}));
  HistoryPtr h = temporal_->Get("", "urn:x:1");
  const Series& series = *h->series.Find(kAttr, "")[0];
  EXPECT_EQ(series.chunks.size(), 2u);  // 9 samples, chunks of 4: 8 sealed, 1 open
  EXPECT_EQ(series.open.size(), 1u);
  // Out of order after sealing: still all there, in time order.
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {}, {Obs("2023-12-31T23:59:00Z", -1)}, true)).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{-1, 0, 1, 2, 3, 33, 4, 5, 6, 7}));

  Open();  // restart
  EXPECT_EQ(Values(Samples()), (std::vector<double>{-1, 0, 1, 2, 3, 33, 4, 5, 6, 7}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{8}));
  EXPECT_EQ(temporal_->Get("", "urn:x:1")->types,
            std::vector<std::string>{"https://example.org/Road"});
  // Instance numbers are not reused after a restart.
  uint64_t max_before = 0;
  for (const auto& s : Samples()) max_before = std::max(max_before, s.instance);
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {}, {Obs("2024-02-01T00:00:00Z", 99)}, true)).ok());
  EXPECT_GT(Samples().back().instance, max_before);
}

TEST_F(TemporalStoreTest, UploadReplacesWhatWasObservedAtTheSameInstant) {
  std::vector<TemporalStore::Instance> up;
  for (int i = 0; i < 6; ++i) {
    std::string at = "2024-01-01T00:0" + std::to_string(i) + ":00Z";
    up.push_back(Obs(at.c_str(), i));
  }
  up.push_back(Obs("2024-01-01T00:01:00Z", 100, "urn:ds:b"));
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, up, false)).ok());
  ASSERT_EQ(temporal_->Get("", "urn:x:1")->series.Find(kAttr, "")[0]->chunks.size(),
            1u);  // 0..3 sealed, 4 and 5 open
  // Again: one in a sealed chunk, one open, one new, twice the same instant in one upload, and
  // the same instant in another dataset.
  std::vector<TemporalStore::Instance> again = {
      Obs("2024-01-01T00:01:00Z", 11), Obs("2024-01-01T00:05:00Z", 55),
      Obs("2024-01-01T00:06:00Z", 6),  Obs("2024-01-01T00:07:00Z", 7),
      Obs("2024-01-01T00:07:00Z", 77), Obs("2024-01-01T00:02:00Z", 200, "urn:ds:b")};
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Car"}, again, true)).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 11, 2, 3, 4, 55, 6, 77}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{100, 200}));
  // Types are added to, not replaced (clause 5.6.11).
  EXPECT_EQ(temporal_->Get("", "urn:x:1")->types,
            (std::vector<std::string>{"https://example.org/Road", "https://example.org/Car"}));
  Open();
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 11, 2, 3, 4, 55, 6, 77}));
  EXPECT_EQ(temporal_->Get("", "urn:x:1")->types,
            (std::vector<std::string>{"https://example.org/Road", "https://example.org/Car"}));
  // Sending a whole batch again (emptied chunks are dropped, the new samples sealed anew).
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {}, again, true)).ok());
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {}, up, true)).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 77}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{100, 200}));
  EXPECT_EQ(temporal_->stats().samples, 10u);
  Open();
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 77}));
  EXPECT_EQ(temporal_->stats().samples, 10u);
}

TEST_F(TemporalStoreTest, RecordingWithoutObservedAtNeverReplaces) {
  // Changes of the current entity without observedAt are recorded at their modifiedAt; an upload
  // without observedAt is always added.
  ASSERT_TRUE(PutEntity(1).ok());
  ASSERT_TRUE(PutEntity(2).ok());
  Json inst = Json::MakeObject();
  inst.Set("type", "Property");
  inst.Set("value", Json(3));
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {}, {{kAttr, inst}, {kAttr, inst}}, true)).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{1, 2, 3, 3}));
}

TEST_F(TemporalStoreTest, AppendToMissingEntityFailsWhenItMustExist) {
  Status st = Run(temporal_->AppendOp("", "urn:x:1", {}, {Obs("2024-01-01T00:00:00Z", 1)}, true));
  EXPECT_EQ(st.code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(temporal_->Get("", "urn:x:1"), nullptr);
}

TEST_F(TemporalStoreTest, DeleteAndModifyInstances) {
  std::vector<TemporalStore::Instance> up;
  for (int i = 0; i < 6; ++i) {
    std::string at = "2024-01-01T00:0" + std::to_string(i) + ":00Z";
    up.push_back(Obs(at.c_str(), i));
  }
  up.push_back(Obs("2024-01-01T00:00:00Z", 100, "urn:ds:b"));
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {"T"}, up, false)).ok());
  auto s = Samples();
  ASSERT_EQ(s.size(), 6u);
  // One in a sealed chunk, one open.
  ASSERT_TRUE(
      Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, s[1].instance, std::nullopt)).ok());
  Json patch = Json::MakeObject();
  patch.Set("value", Json(55));
  ASSERT_TRUE(Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, s[5].instance, patch)).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 2, 3, 4, 55}));
  EXPECT_EQ(Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, 987654, std::nullopt)).code(),
            ErrorCode::kResourceNotFound);
  Open();
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 2, 3, 4, 55}));

  // The default series only, then everything.
  ASSERT_TRUE(Run(temporal_->DeleteAttrOp("", "urn:x:1", kAttr, std::nullopt, false)).ok());
  EXPECT_TRUE(Samples().empty());
  EXPECT_EQ(Samples(kAttr, "urn:ds:b").size(), 1u);
  ASSERT_TRUE(Run(temporal_->DeleteEntityOp("", "urn:x:1")).ok());
  EXPECT_EQ(temporal_->Get("", "urn:x:1"), nullptr);
  EXPECT_EQ(Run(temporal_->DeleteEntityOp("", "urn:x:1")).code(), ErrorCode::kResourceNotFound);
  Open();
  EXPECT_EQ(temporal_->Get("", "urn:x:1"), nullptr);
  EXPECT_EQ(temporal_->stats().samples, 0u);
}

// Series::recorded_kind follows the first open sample, else the first sample of the first
// chunk, through appends, seals, reloads, rewrites, replacements and deletions.
TEST_F(TemporalStoreTest, RecordedKindIsKeptWithoutDecoding) {
  using ngsild::AttrKind;
  auto rel = [](const char* at) {
    Json inst = Json::MakeObject();
    inst.Set("type", "Relationship");
    inst.Set("object", "urn:x:other");
    inst.Set("observedAt", at);
    return TemporalStore::Instance{kAttr, inst};
  };
  auto append = [&](std::vector<TemporalStore::Instance> up) {
    return Run(temporal_->AppendOp("", "urn:x:1", {"T"}, std::move(up), false));
  };
  EXPECT_EQ(RecordedKind(), std::nullopt);
  ASSERT_TRUE(append({rel("2024-01-01T00:00:00Z"), Obs("2024-01-01T00:01:00Z", 1),
                      Obs("2024-01-01T00:02:00Z", 2)})
                  .ok());
  EXPECT_EQ(RecordedKind(), AttrKind::kRelationship);  // the first open sample
  // The fourth sample seals all four (chunk_samples 4): the kind of the chunk's first.
  ASSERT_TRUE(append({Obs("2024-01-01T00:03:00Z", 3)}).ok());
  ASSERT_EQ(temporal_->Get("", "urn:x:1")->series.begin()[0]->open.size(), 0u);
  EXPECT_EQ(RecordedKind(), AttrKind::kRelationship);
  Open();  // the loaded chunk is decoded once, at load
  EXPECT_EQ(RecordedKind(), AttrKind::kRelationship);
  ASSERT_TRUE(append({Obs("2024-01-01T00:04:00Z", 4)}).ok());
  EXPECT_EQ(RecordedKind(), AttrKind::kProperty);  // open again
  auto s = Samples();
  ASSERT_EQ(s.size(), 5u);
  // The open sample deleted: the chunk's first again.
  ASSERT_TRUE(
      Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, s[4].instance, std::nullopt)).ok());
  EXPECT_EQ(RecordedKind(), AttrKind::kRelationship);
  // The chunk's first deleted (the chunk rewritten): its new first.
  ASSERT_TRUE(
      Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, s[0].instance, std::nullopt)).ok());
  EXPECT_EQ(RecordedKind(), AttrKind::kProperty);
  // An upload at the chunk's first instant replaces it there; the replacement is open.
  ASSERT_TRUE(append({rel("2024-01-01T00:01:00Z")}).ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{-999, 2, 3}));
  EXPECT_EQ(RecordedKind(), AttrKind::kRelationship);
  ASSERT_TRUE(
      Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, Samples()[0].instance, std::nullopt))
          .ok());
  EXPECT_EQ(RecordedKind(), AttrKind::kProperty);  // the rewritten chunk's first
  Open();
  EXPECT_EQ(RecordedKind(), AttrKind::kProperty);
  // The whole series deleted: no kind; a Core API deletion records the kind it deleted.
  ASSERT_TRUE(Run(temporal_->DeleteAttrOp("", "urn:x:1", kAttr, std::nullopt, false)).ok());
  EXPECT_EQ(RecordedKind(), std::nullopt);
  ASSERT_TRUE(PutEntity(10, "2024-01-02T00:00:00Z").ok());
  ASSERT_TRUE(Run({"", "urn:x:1",
                   [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); }})
                  .ok());
  ASSERT_EQ(Samples().size(), 2u);
  ASSERT_TRUE(IsDeletion(Samples()[1]));
  EXPECT_EQ(RecordedKind(), AttrKind::kProperty);
  ExpectRecordedKindsKept();
  Open();
  ExpectRecordedKindsKept();
}

TEST(RecordTest, DeletionInstanceHoldsTheNullOfItsKind) {
  const Micros at = *ParseDateTime("2024-06-01T10:00:00.250Z");
  auto deletion = [&](const char* json) {
    auto inst = ParseJson(json);
    EXPECT_TRUE(inst.ok());
    return DeletionInstance(*inst, at);
  };
  auto json = [](const char* text) { return *ParseJson(text); };
  ngsild::Attribute p = deletion(R"({"type":"Property","value":5,
                        "observedAt":"2024-01-01T00:00:00Z","unitCode":"KMH","datasetId":"urn:ds:1"})");
  EXPECT_EQ(p, json(R"({"type":"Property","value":"urn:ngsi-ld:null","datasetId":"urn:ds:1",
                        "deletedAt":"2024-06-01T10:00:00.250Z"})"));
  EXPECT_EQ(p.created_at, at);
  EXPECT_EQ(p.modified_at, at);
  auto null_of = [&](const char* instance, const char* member) {
    return *deletion(instance).Find(member);
  };
  const Json null("urn:ngsi-ld:null");
  EXPECT_EQ(null_of(R"({"type":"Relationship","object":"urn:a"})", "object"), null);
  EXPECT_EQ(null_of(R"({"type":"LanguageProperty","languageMap":{"en":"x"}})", "languageMap"),
            json(R"({"@none":"urn:ngsi-ld:null"})"));
  EXPECT_EQ(null_of(R"({"type":"ListProperty","valueList":[1,2]})", "valueList"),
            json(R"(["urn:ngsi-ld:null"])"));
  EXPECT_EQ(
      null_of(R"({"type":"ListRelationship","objectList":[{"object":"urn:a"}]})", "objectList"),
      json(R"(["urn:ngsi-ld:null"])"));
  EXPECT_EQ(null_of(R"({"type":"VocabProperty","vocab":"https://x/y"})", "vocab"), null);

  // As a sample: its instant is the deletion, it is told apart from values, it comes back whole.
  Sample s = SampleFromInstance(p, 0, 7);
  EXPECT_TRUE(IsDeletion(s));
  EXPECT_FALSE(HasObservedAt(s));
  EXPECT_EQ(s.time, at);
  ngsild::Attribute back = InstanceFromSample(s);
  back.Erase("instanceId");
  EXPECT_EQ(back, p);
  EXPECT_EQ(back.created_at, at);
  EXPECT_EQ(back.modified_at, at);
  EXPECT_FALSE(IsDeletion(SampleFromInstance(json(R"({"type":"Property","value":5})"), 0, 1)));
  // "deletedAt" as a value, or in a sub-attribute, is not the instance's.
  EXPECT_FALSE(IsDeletion(SampleFromInstance(json(R"({"type":"Property","value":"deletedAt",
               "note":{"type":"Property","value":1,"deletedAt":"2024-01-01T00:00:00Z"}})"),
                                             0, 1)));
}

TEST_F(TemporalStoreTest, RecordsDeletionsDurably) {
  ASSERT_TRUE(PutEntity(10, "2024-01-01T00:00:00Z").ok());
  // The name deleted (a Core API attribute deletion); the speed did not change.
  ASSERT_TRUE(Run({"", "urn:x:1",
                   [](const EntityPtr& cur, Micros) -> Result<Outcome> {
                     ngsild::Entity e = *cur;
                     std::erase_if(e.attrs, [](const auto& slot) { return slot.name == kOther; });
                     return Outcome::Put(std::move(e));
                   }})
                  .ok());
  auto names = Samples(kOther);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_FALSE(IsDeletion(names[0]));
  EXPECT_TRUE(IsDeletion(names[1]));
  EXPECT_EQ(Samples().size(), 1u);
  // The entity deleted: the deletion of what it still had (the speed), once.
  auto erase = [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); };
  ASSERT_TRUE(Run({"", "urn:x:1", erase}).ok());
  Open();
  auto speeds = Samples();
  ASSERT_EQ(speeds.size(), 2u);
  EXPECT_EQ(speeds[0].number, 10);
  ASSERT_TRUE(IsDeletion(speeds[1]));
  ngsild::Attribute inst = InstanceFromSample(speeds[1]);
  EXPECT_EQ(*inst.Find("value"), Json("urn:ngsi-ld:null"));
  EXPECT_EQ(inst.GetString("deletedAt"), FormatDateTime(inst.modified_at));
  EXPECT_EQ(Samples(kOther).size(), 2u);
  EXPECT_EQ(temporal_->Get("", "urn:x:1")->types,
            std::vector<std::string>{"https://example.org/Road"});

  // An entity whose history was erased (temporal API) gets one again when it is deleted.
  ASSERT_TRUE(PutEntity(30, "2024-01-02T00:00:00Z").ok());
  ASSERT_TRUE(Run(temporal_->DeleteEntityOp("", "urn:x:1")).ok());
  ASSERT_TRUE(Run({"", "urn:x:1", erase}).ok());
  Open();
  HistoryPtr h = temporal_->Get("", "urn:x:1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->types, std::vector<std::string>{"https://example.org/Road"});
  ASSERT_EQ(Samples().size(), 1u);
  EXPECT_TRUE(IsDeletion(Samples()[0]));
  ASSERT_EQ(Samples(kOther).size(), 1u);
  EXPECT_TRUE(IsDeletion(Samples(kOther)[0]));
}

TEST_F(TemporalStoreTest, AggregationsLeaveDeletionsOut) {
  ASSERT_TRUE(PutEntity(10, "2024-01-01T00:00:00Z").ok());
  ASSERT_TRUE(PutEntity(20, "2024-01-01T00:01:00Z").ok());
  ASSERT_TRUE(Run({"", "urn:x:1",
                   [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); }})
                  .ok());
  ASSERT_EQ(Samples().size(), 3u);
  HistoryPtr h = temporal_->Get("", "urn:x:1");
  const Series* s = h->series.Find(kAttr, "")[0].get();
  auto acc = AggregateByInstant({s}, {{INT64_MIN, INT64_MAX}}, true);
  ASSERT_TRUE(acc.ok());
  EXPECT_EQ((*acc)[0].Value(AggrMethod::kTotalCount), Json(2));
  EXPECT_EQ((*acc)[0].Value(AggrMethod::kDistinctCount), Json(2));
  EXPECT_EQ((*acc)[0].Value(AggrMethod::kMax), Json(20.0));
}

TEST_F(TemporalStoreTest, RetentionDropsWholeChunksOnWrite) {
  TemporalStore::Options o;
  o.chunk_samples = 4;
  o.retention = *ParseDuration("P30D");
  o.retention_by_type["https://example.org/Archive"] = *ParseDuration("P100Y");
  OpenWith(o);

  std::vector<TemporalStore::Instance> old;
  for (int i = 0; i < 9; ++i) {
    std::string at = "2020-01-01T00:0" + std::to_string(i) + ":00Z";
    old.push_back(Obs(at.c_str(), i));
  }
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, old, false)).ok());
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:2", {"https://example.org/Archive"}, old, false)).ok());
  // The write that sealed them also dropped them (older than 30 days); the open one stays.
  EXPECT_EQ(Values(Samples()), (std::vector<double>{8}));
  // The per-type setting keeps the archive.
  HistoryPtr archive = temporal_->Get("", "urn:x:2");
  EXPECT_EQ(archive->series.begin()[0]->size(), 9u);
  ExpectRecordedKindsKept();
  Open();
  EXPECT_EQ(Values(Samples()), (std::vector<double>{8}));
  ExpectRecordedKindsKept();
}

// Chunks of a series that is never written again expire by the sweep, durably; histories
// within retention are not touched.
TEST_F(TemporalStoreTest, RetentionSweepReachesSeriesNoLongerWritten) {
  std::vector<TemporalStore::Instance> old, recent;
  const Micros now = NowMicros();
  for (int i = 0; i < 9; ++i) {
    std::string at = "2020-01-01T00:0" + std::to_string(i) + ":00Z";
    old.push_back(Obs(at.c_str(), i));
    recent.push_back(Obs(FormatDateTime(now - (9 - i) * 60'000'000LL).c_str(), 100 + i));
  }
  // Written while no retention was set: two sealed chunks and one open sample each.
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, old, false)).ok());
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:2", {"https://example.org/Road"}, recent, false)).ok());
  EXPECT_TRUE(temporal_->Expired(now).empty());  // no retention: nothing expires

  TemporalStore::Options retained;
  retained.chunk_samples = 4;
  retained.retention = *ParseDuration("P30D");
  OpenWith(retained);
  using Key = std::pair<std::string, std::string>;
  EXPECT_EQ(temporal_->Expired(NowMicros()), (std::vector<Key>{{"", "urn:x:1"}}));
  {
    RetentionSweeper sweeper(temporal_.get(), entities_.get(), std::chrono::hours(1));
    EXPECT_EQ(sweeper.SweepOnce(), 1u);
    EXPECT_EQ(sweeper.SweepOnce(), 0u);  // nothing left to drop
  }
  EXPECT_EQ(Values(Samples()), (std::vector<double>{8}));  // the open sample stays
  HistoryPtr kept = temporal_->Get("", "urn:x:2");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->series.begin()[0]->size(), 9u);
  OpenWith(retained);  // durable
  EXPECT_EQ(Values(Samples()), (std::vector<double>{8}));
  EXPECT_TRUE(temporal_->Expired(NowMicros()).empty());
}

// The sweeper's own thread runs sweeps at its interval and stops promptly.
TEST_F(TemporalStoreTest, RetentionSweeperRunsOnItsOwnThread) {
  std::vector<TemporalStore::Instance> old;
  for (int i = 0; i < 9; ++i) {
    std::string at = "2020-01-01T00:0" + std::to_string(i) + ":00Z";
    old.push_back(Obs(at.c_str(), i));
  }
  ASSERT_TRUE(
      Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, old, false)).ok());
  TemporalStore::Options o;
  o.chunk_samples = 4;
  o.retention = *ParseDuration("P30D");
  OpenWith(o);
  RetentionSweeper sweeper(temporal_.get(), entities_.get(), std::chrono::milliseconds(10));
  for (int i = 0; i < 500 && Samples().size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Values(Samples()), (std::vector<double>{8}));
  sweeper.Stop();
}

constexpr Micros kMinute = 60'000'000;

// Fails every `every`-th commit.
class FlakyBackend : public storage::Backend {
 public:
  FlakyBackend(std::unique_ptr<storage::Backend> inner, int every)
      : inner_(std::move(inner)), every_(every) {}
  Status Commit(const Batch& batch, bool sync) override {
    if (++commits_ % every_ == 0) return Status::Internal("disk on fire");
    return inner_->Commit(batch, sync);
  }
  Status Scan(std::string_view space,
              const std::function<Status(std::string_view, std::string_view)>& fn) override {
    return inner_->Scan(space, fn);
  }
  uint64_t DiskBytes() override { return inner_->DiskBytes(); }

 private:
  std::unique_ptr<storage::Backend> inner_;
  int every_;
  int commits_ = 0;
};

// Writes 0..n-1 as speeds observed one minute apart, each its own submission, without waiting
// for one before the next (many commit rounds of a few writes each). Returns the speeds whose
// writes were acknowledged.
std::vector<double> WriteMany(storage::EntityStore& store, int n) {
  std::vector<std::future<Status>> done;
  for (int i = 0; i < n; ++i) {
    auto p = std::make_shared<std::promise<Status>>();
    done.push_back(p->get_future());
    std::vector<WriteOp> ops;
    ops.push_back(TemporalStoreTest::PutOp(i, FormatDateTime(kMinute * (i + 1))));
    store.Submit(std::move(ops), [p](std::vector<Status> s) { p->set_value(s[0]); });
    // A short pause now and then: rounds of a few writes each, not one round of all.
    if (i % 4 == 3) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::vector<double> acked;
  for (int i = 0; i < n; ++i) {
    if (done[i].get().ok()) acked.push_back(i);
  }
  return acked;
}

TEST_F(TemporalStoreTest, ManyRoundsRecordEveryWriteOnce) {
  Open();  // 4 samples per chunk: seals in most rounds
  std::vector<double> acked = WriteMany(*entities_, 300);
  ASSERT_EQ(acked.size(), 300u);
  EXPECT_EQ(Values(Samples()), acked);
  Open();
  EXPECT_EQ(Values(Samples()), acked);
  EXPECT_EQ(Samples(kOther).size(), 1u);
}

TEST_F(TemporalStoreTest, FailedCommitsLeaveExactlyTheAcknowledgedHistory) {
  wrap_ = [](std::unique_ptr<storage::Backend> inner) {
    return std::make_unique<FlakyBackend>(std::move(inner), 3);
  };
  Open();
  std::vector<double> acked = WriteMany(*entities_, 300);
  EXPECT_LT(acked.size(), 300u);
  EXPECT_GT(acked.size(), 0u);
  EXPECT_EQ(Values(Samples()), acked);
  // Written again after the failures, on top of what is durable.
  ASSERT_TRUE(PutEntity(1000, FormatDateTime(kMinute * 1000)).ok() ||
              PutEntity(1000, FormatDateTime(kMinute * 1000)).ok());
  acked.push_back(1000);
  EXPECT_EQ(Values(Samples()), acked);
  wrap_ = nullptr;
  Open();
  EXPECT_EQ(Values(Samples()), acked);
}

TEST(ChunkList, CopiesShareUntilOneChanges) {
  ChunkList a;
  a.push_back({"c1", std::make_shared<const std::string>("x"), ChunkStats()});
  a.push_back({"c2", std::make_shared<const std::string>("y"), ChunkStats()});
  ChunkList b = a;
  EXPECT_TRUE(b.SharedWith(a));
  b.erase_if([](const Chunk& c) { return c.key == "none"; });  // nothing to erase: still shared
  EXPECT_TRUE(b.SharedWith(a));
  b.push_back({"c3", std::make_shared<const std::string>("z"), ChunkStats()});
  EXPECT_FALSE(b.SharedWith(a));
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(b.size(), 3u);
  ChunkList c = a;
  c.mutable_at(0).key = "changed";
  c.erase(1);
  EXPECT_EQ(a[0].key, "c1");
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(c[0].key, "changed");
  EXPECT_EQ(c.size(), 1u);
}

TEST_F(TemporalStoreTest, AWriteSharesTheSealedChunksOfTheVersionBefore) {
  Open();  // 4 samples per chunk
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(PutEntity(i, FormatDateTime(kMinute * (i + 1))).ok());
  }
  HistoryPtr before = temporal_->Get("", "urn:x:1");
  SeriesPtr s1 = before->series.Find(kAttr, "")[0];
  ASSERT_EQ(s1->chunks.size(), 2u);
  ASSERT_TRUE(PutEntity(9, FormatDateTime(kMinute * 10)).ok());  // open: 2 samples, no seal
  SeriesPtr s2 = temporal_->Get("", "urn:x:1")->series.Find(kAttr, "")[0];
  EXPECT_NE(s1.get(), s2.get());
  EXPECT_TRUE(s2->chunks.SharedWith(s1->chunks));
  for (int i = 10; i < 12; ++i) {  // the third chunk is sealed
    ASSERT_TRUE(PutEntity(i, FormatDateTime(kMinute * (i + 1))).ok());
  }
  SeriesPtr s3 = temporal_->Get("", "urn:x:1")->series.Find(kAttr, "")[0];
  EXPECT_FALSE(s3->chunks.SharedWith(s1->chunks));
  EXPECT_EQ(s3->chunks.size(), 3u);
  EXPECT_EQ(s1->chunks.size(), 2u);  // the older versions are untouched
  EXPECT_EQ(s2->chunks.size(), 2u);
  EXPECT_EQ(Values(Samples()).size(), 12u);
}

TEST_F(TemporalStoreTest, TenantsAreSeparate) {
  ASSERT_TRUE(
      Run(temporal_->AppendOp("a", "urn:x:1", {"T"}, {Obs("2024-01-01T00:00:00Z", 1)}, false))
          .ok());
  ASSERT_TRUE(
      Run(temporal_->AppendOp("a", "urn:x:2", {"U"}, {Obs("2024-01-01T00:00:00Z", 2)}, false))
          .ok());
  EXPECT_EQ(temporal_->List("a").size(), 2u);
  EXPECT_TRUE(temporal_->List("").empty());
  EXPECT_TRUE(temporal_->List("b").empty());
  // Only what `keep` accepts.
  auto u = temporal_->List(
      "a", [](const History& h) { return h.types == std::vector<std::string>{"U"}; });
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0]->id, "urn:x:2");
}

TEST_F(TemporalStoreTest, ListsInBatchesAfterAnId) {
  for (const char* tenant : {"a", "ab", ""}) {
    for (const char* id : {"urn:x:1", "urn:x:2", "urn:x:3", "urn:x:4"}) {
      ASSERT_TRUE(
          Run(temporal_->AppendOp(tenant, id, {"T"}, {Obs("2024-01-01T00:00:00Z", 1)}, false))
              .ok());
    }
  }
  auto all = [](const History&) { return true; };
  auto not3 = [](const History& h) { return h.id != "urn:x:3"; };
  auto ids = [](const std::vector<HistoryPtr>& v) {
    std::vector<std::string> out;
    for (const auto& h : v) out.push_back(h->id);
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids(temporal_->List("a", all, "", 2)), (Ids{"urn:x:1", "urn:x:2"}));
  EXPECT_EQ(ids(temporal_->List("a", all, "urn:x:2", 2)), (Ids{"urn:x:3", "urn:x:4"}));
  EXPECT_EQ(ids(temporal_->List("a", all, "urn:x:4", 2)), Ids{});  // not into tenant "ab"
  // `max` counts the histories kept; `after` need not be an id of the tenant.
  EXPECT_EQ(ids(temporal_->List("a", not3, "urn:x:1", 2)), (Ids{"urn:x:2", "urn:x:4"}));
  EXPECT_EQ(ids(temporal_->List("ab", all, "urn:x:25", 9)), (Ids{"urn:x:3", "urn:x:4"}));
  EXPECT_EQ(ids(temporal_->List("", all, "", 9)), ids(temporal_->List("")));
  EXPECT_EQ(temporal_->List("", all, "", 9).size(), 4u);
}

// The issue's correctness check at the store level: replay the Aarhus road-traffic week
// (848,864 observations on 449 segments) as entity upserts, in batches, so every observation
// goes through the change stream; then compare hourly and whole-week totalCount, sum, avg, min
// and max with the same aggregates computed directly from the CSV.
TEST(TemporalAarhus, HourlyAggregatesMatchTheCsv) {
  gzFile f = gzopen("/work/shared/data/aarhus/traffic_2014-03-01_to_03-07.csv.gz", "rb");
  if (f == nullptr) GTEST_SKIP() << "Aarhus data not found";
  struct Row {
    std::string segment;
    std::string at;
    double speed;
  };
  std::vector<Row> rows;
  char line[512];
  bool header = true;
  while (gzgets(f, line, sizeof line) != nullptr) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) cols.push_back(c);
    if (cols.size() < 9) continue;
    while (!cols[8].empty() && (cols[8].back() == '\n' || cols[8].back() == '\r'))
      cols[8].pop_back();
    rows.push_back({cols[8], cols[5] + "Z", std::stod(cols[2])});  // timestamps taken as UTC
  }
  gzclose(f);
  ASSERT_EQ(rows.size(), 848864u);
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer build is about ten times slower: one segment in eight (about 106,000
  // observations), compared the same way.
  std::erase_if(rows, [](const Row& r) { return std::hash<std::string>()(r.segment) % 8 != 0; });
#endif
  const size_t replayed = rows.size();

  auto dir = std::filesystem::temp_directory_path() /
             ("civitas_temporal_aarhus_" + std::to_string(::getpid()));
  TemporalStore temporal({});
  {
    auto backend = storage::OpenRocksDb({dir.string()});
    ASSERT_TRUE(backend.ok());
    ASSERT_TRUE(temporal.Load(**backend).ok());
    auto store = storage::EntityStore::Open(std::move(*backend), {false, 16384});
    ASSERT_TRUE(store.ok());
    (*store)->AddListener(&temporal);
    const std::string attr = "https://example.org/avgSpeed";
    for (size_t i = 0; i < rows.size(); i += 4096) {
      std::vector<WriteOp> ops;
      for (size_t j = i; j < std::min(rows.size(), i + 4096); ++j) {
        const Row& r = rows[j];
        std::string id = "urn:ngsi-ld:TrafficFlowObserved:" + r.segment;
        ops.push_back({"", id, [id, r, attr](const EntityPtr& cur, Micros now) -> Result<Outcome> {
                         ngsild::Entity e = cur ? *cur : ngsild::Entity{};
                         e.id = id;
                         e.types = {"https://example.org/TrafficFlowObserved"};
                         ngsild::Attribute v(Json::MakeObject(), now, now);
                         v.Set("type", "Property");
                         v.Set("value", Json(r.speed));
                         v.Set("observedAt", r.at);
                         e.attrs = {{attr, {v}}};
                         return Outcome::Put(std::move(e));
                       }});
      }
      std::promise<void> done;
      (*store)->Submit(std::move(ops), [&done](std::vector<Status> st) {
        for (const auto& s : st) EXPECT_TRUE(s.ok());
        done.set_value();
      });
      done.get_future().wait();
    }
    (*store)->Close();
  }

  // Expected, straight from the CSV: per segment, per hour.
  struct Agg {
    uint64_t count = 0;
    double sum = 0, min = INFINITY, max = -INFINITY;
  };
  std::map<std::string, std::map<Micros, Agg>> expected;
  const Micros kHour = 3600LL * 1000000;
  for (const auto& r : rows) {
    Micros t = *ParseDateTime(r.at);
    Agg& a = expected[r.segment][t - t % kHour];
    ++a.count;
    a.sum += r.speed;
    a.min = std::min(a.min, r.speed);
    a.max = std::max(a.max, r.speed);
  }
  const Micros week_start = *ParseDateTime("2014-03-01T00:00:00Z");
  auto hours = MakePeriods(week_start, week_start + 7 * 24 * kHour, *ParseDuration("PT1H"));
  ASSERT_TRUE(hours.ok());
  std::vector<Period> week = {{week_start, week_start + 7 * 24 * kHour}};
  uint64_t from_stats = 0, checked = 0;
  auto histories = temporal.List("");
  ASSERT_EQ(histories.size(), expected.size());
  for (const HistoryPtr& h : histories) {
    std::string segment = h->id.substr(h->id.rfind(':') + 1);
    const auto& want = expected.at(segment);
    std::vector<const Series*> series;
    for (const SeriesPtr& s : h->series) series.push_back(s.get());
    auto got = AggregateByInstant(series, *hours, false);
    ASSERT_TRUE(got.ok());
    for (size_t p = 0; p < hours->size(); ++p) {
      auto it = want.find((*hours)[p].start);
      const Accumulator& a = (*got)[p];
      if (it == want.end()) {
        EXPECT_EQ(a.count(), 0u);
        continue;
      }
      const Agg& w = it->second;
      ASSERT_EQ(a.Value(AggrMethod::kTotalCount), Json(static_cast<int64_t>(w.count)));
      EXPECT_NEAR(a.Value(AggrMethod::kSum).as_double(), w.sum, 1e-9 * std::fabs(w.sum) + 1e-9);
      EXPECT_NEAR(a.Value(AggrMethod::kAvg).as_double(), w.sum / w.count, 1e-9);
      EXPECT_EQ(a.Value(AggrMethod::kMin), Json(w.min));
      EXPECT_EQ(a.Value(AggrMethod::kMax), Json(w.max));
      ++checked;
    }
    // The whole week: every sealed chunk answers from its header.
    auto whole = AggregateByInstant(series, week, false, &from_stats);
    ASSERT_TRUE(whole.ok());
    Agg total;
    for (const auto& [hour, a] : want) {
      total.count += a.count;
      total.sum += a.sum;
    }
    EXPECT_EQ((*whole)[0].count(), total.count);
    EXPECT_NEAR((*whole)[0].Value(AggrMethod::kSum).as_double(), total.sum, 1e-6);
  }
  // (Scaled to what was replayed: the sanitizer build replays one segment in eight.)
  EXPECT_GT(checked, 70000u * replayed / 848864u);
  EXPECT_GT(from_stats, 400u * replayed / 848864u);
  auto stats = temporal.stats();
  EXPECT_EQ(stats.samples, replayed);
  std::printf("Aarhus replay: %llu samples, %llu chunks, %.3f bytes/observation in chunks\n",
              static_cast<unsigned long long>(stats.samples),
              static_cast<unsigned long long>(stats.chunks),
              static_cast<double>(stats.chunk_bytes) / (stats.samples - stats.open_samples));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace civitas::temporal
