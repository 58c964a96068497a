#include "temporal/temporal_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>

#include "temporal/record.h"

namespace civitas::temporal {
namespace {

using storage::EntityPtr;
using storage::Outcome;
using storage::WriteOp;

constexpr char kAttr[] = "https://example.org/speed";
constexpr char kOther[] = "https://example.org/name";

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
    entities_.reset();
    temporal_ = std::make_unique<TemporalStore>(TemporalStore::Options{4});
    auto backend = storage::OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok()) << backend.status().detail();
    ASSERT_TRUE(temporal_->Load(**backend).ok());
    auto store = storage::EntityStore::Open(std::move(*backend), {false, 16384});
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
  Status PutEntity(double v, std::string observed = "") {
    return Run({"", "urn:x:1", [=](const EntityPtr& cur, Micros now) -> Result<Outcome> {
                  ngsild::Entity e = cur ? *cur : ngsild::Entity{};
                  e.id = "urn:x:1";
                  e.types = {"https://example.org/Road"};
                  Json speed = Json::MakeObject();
                  speed.Set("type", "Property");
                  speed.Set("value", Json(v));
                  if (!observed.empty()) speed.Set("observedAt", observed);
                  speed.Set("modifiedAt", FormatDateTime(now));
                  Json name = Json::MakeObject();
                  name.Set("type", "Property");
                  name.Set("value", "Main street");
                  e.attrs = {{kAttr, {speed}}, {kOther, {name}}};
                  return Outcome::Put(std::move(e));
                }});
  }

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
    auto it = h->series.find(attr + std::string(1, '\0') + dataset);
    if (it == h->series.end()) return {};
    auto r = it->second->Read(INT64_MIN, INT64_MAX);
    EXPECT_TRUE(r.ok());
    return *r;
  }
  static std::vector<double> Values(const std::vector<Sample>& s) {
    std::vector<double> v;
    for (const auto& x : s) v.push_back(x.number.value_or(-999));
    return v;
  }

  std::filesystem::path dir_;
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
  Json inst = InstanceFromSample(s[1], false);
  EXPECT_EQ(inst.GetString("observedAt"), "2024-01-01T00:01:00.000Z");
  EXPECT_EQ(*inst.Find("value"), Json(20));
  EXPECT_EQ(inst.GetString("instanceId"), InstanceId(s[1].instance));
}

TEST_F(TemporalStoreTest, WithoutObservedAtTheInstantIsModifiedAt) {
  ASSERT_TRUE(PutEntity(1).ok());
  auto s = Samples();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].time, s[0].modified_at);
  EXPECT_EQ(InstanceFromSample(s[0], false).Find("observedAt"), nullptr);
}

TEST_F(TemporalStoreTest, UploadKeepsEveryObservationSortedAndSealsChunks) {
  std::vector<TemporalStore::Instance> up = {
      Obs("2024-01-01T00:05:00Z", 5), Obs("2024-01-01T00:01:00Z", 1),
      Obs("2024-01-01T00:03:00Z", 3), Obs("2024-01-01T00:03:00Z", 33),  // same instant
      Obs("2024-01-01T00:02:00Z", 2), Obs("2024-01-01T00:04:00Z", 4),
      Obs("2024-01-01T00:00:00Z", 0), Obs("2024-01-01T00:06:00Z", 6),
      Obs("2024-01-01T00:07:00Z", 7), Obs("2024-01-01T00:08:00Z", 8, "urn:ds:b")};
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {"https://example.org/Road"}, up, false)).ok());
  // The current entity is untouched.
  EXPECT_EQ(entities_->Get("", "urn:x:1"), nullptr);
  EXPECT_EQ(Values(Samples()), (std::vector<double>{0, 1, 2, 3, 33, 4, 5, 6, 7}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{8}));
  HistoryPtr h = temporal_->Get("", "urn:x:1");
  const Series& series = *h->series.at(kAttr + std::string(1, '\0'));
  EXPECT_EQ(series.chunks.size(), 2u);  // 9 samples, chunks of 4: 8 sealed, 1 open
  EXPECT_EQ(series.open.size(), 1u);
  // Out of order after sealing: still all there, in time order.
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {}, {Obs("2023-12-31T23:59:00Z", -1)}, true))
                  .ok());
  EXPECT_EQ(Values(Samples()), (std::vector<double>{-1, 0, 1, 2, 3, 33, 4, 5, 6, 7}));

  Open();  // restart
  EXPECT_EQ(Values(Samples()), (std::vector<double>{-1, 0, 1, 2, 3, 33, 4, 5, 6, 7}));
  EXPECT_EQ(Values(Samples(kAttr, "urn:ds:b")), (std::vector<double>{8}));
  EXPECT_EQ(temporal_->Get("", "urn:x:1")->types,
            std::vector<std::string>{"https://example.org/Road"});
  // Instance numbers are not reused after a restart.
  uint64_t max_before = 0;
  for (const auto& s : Samples()) max_before = std::max(max_before, s.instance);
  ASSERT_TRUE(Run(temporal_->AppendOp("", "urn:x:1", {}, {Obs("2024-02-01T00:00:00Z", 99)}, true))
                  .ok());
  EXPECT_GT(Samples().back().instance, max_before);
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
  ASSERT_TRUE(Run(temporal_->ModifyInstanceOp("", "urn:x:1", kAttr, s[1].instance, std::nullopt))
                  .ok());
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

TEST_F(TemporalStoreTest, TenantsAreSeparate) {
  ASSERT_TRUE(Run(temporal_->AppendOp("a", "urn:x:1", {"T"}, {Obs("2024-01-01T00:00:00Z", 1)},
                                      false))
                  .ok());
  EXPECT_EQ(temporal_->List("a").size(), 1u);
  EXPECT_TRUE(temporal_->List("").empty());
  EXPECT_TRUE(temporal_->List("b").empty());
}

}  // namespace
}  // namespace civitas::temporal
