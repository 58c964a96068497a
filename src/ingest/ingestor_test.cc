#include "ingest/ingestor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <random>

namespace civitas::ingest {
namespace {

constexpr std::string_view kDefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/";

Json J(std::string_view text) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

// A real store in a temporary directory, the registry on its meta records, and the ingestor.
class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_ingest_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    auto backend = storage::OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok());
    auto store = storage::EntityStore::Open(std::move(*backend), {});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    contexts_ = std::make_unique<jsonld::ContextRegistry>(
        jsonld::ContextRegistry::Options{},
        [](const std::string& url) -> Result<std::string> { return Status::NotFound(url); });
    registry_ = std::make_unique<Registry>(RegistryPersistence{
        [this](const std::string& k, const std::string& v) { return store_->PutMeta(k, v); },
        [this](const std::string& k) { return store_->DeleteMeta(k); },
        [this](const std::vector<std::pair<std::string, std::string>>& records) {
          return store_->PutMetas(records);
        }});
    ingestor_ = std::make_unique<Ingestor>(*registry_, *store_, contexts_->Core());
  }
  void TearDown() override {
    ingestor_.reset();
    registry_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  IngestResult Send(std::string apikey, std::string device, std::string payload,
                    PayloadFormat format = PayloadFormat::kJson, Micros at = 0) {
    DeviceMessage m;
    m.transport = Transport::kMqtt;
    m.format = format;
    m.apikey = std::move(apikey);
    m.device_id = std::move(device);
    m.payload = payload;
    m.received_at = at != 0 ? at : NowMicros();
    std::promise<IngestResult> p;
    auto f = p.get_future();
    ingestor_->Ingest(m, [&p](IngestResult r) { p.set_value(std::move(r)); });
    return f.get();
  }

  const Json* Value(const storage::EntityPtr& e, std::string_view attr) {
    if (e == nullptr) return nullptr;
    const auto* slot = e->FindSlot(std::string(kDefaultVocab) + std::string(attr));
    if (slot == nullptr || slot->instances.empty()) return nullptr;
    return slot->instances[0].Find("value");
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::EntityStore> store_;
  std::unique_ptr<jsonld::ContextRegistry> contexts_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Ingestor> ingestor_;
};

TEST_F(IngestorTest, JsonAndUltralightMeasuresUpsertTheEntityInTheServiceTenant) {
  auto g = ParseServiceGroup(J(R"({"apikey": "k1", "entity_type": "AirQualityObserved",
      "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})"), {"aarhus", "/"});
  ASSERT_TRUE(registry_->AddGroups({*g}).ok());
  auto d = ParseDevice(J(R"({"device_id": "aq1"})"), {"aarhus", "/"});
  ASSERT_TRUE(registry_->AddDevices({*d}).ok());

  auto r = Send("k1", "aq1", R"({"t": 21.5, "no2": 38})");
  ASSERT_EQ(r.outcome, IngestOutcome::kOk) << r.status.detail();
  auto e = store_->Get("aarhus", "urn:ngsi-ld:AirQualityObserved:aq1");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(*Value(e, "temperature"), Json(21.5));
  EXPECT_EQ(*Value(e, "no2"), Json(38));
  EXPECT_EQ(store_->Get("", "urn:ngsi-ld:AirQualityObserved:aq1"), nullptr);

  r = Send("k1", "aq1", "t|22.5", PayloadFormat::kUltralight);
  ASSERT_EQ(r.outcome, IngestOutcome::kOk) << r.status.detail();
  e = store_->Get("aarhus", "urn:ngsi-ld:AirQualityObserved:aq1");
  EXPECT_EQ(*Value(e, "temperature"), Json(22.5));
  EXPECT_EQ(*Value(e, "no2"), Json(38));  // untouched
  EXPECT_EQ(ingestor_->count(Transport::kMqtt, IngestOutcome::kOk), 2u);
}

TEST_F(IngestorTest, SeveralGroupsAreAppliedInTimeOrder) {
  ASSERT_TRUE(registry_->AddGroups({*ParseServiceGroup(J(R"({"apikey": "k"})"), {})}).ok());
  ASSERT_TRUE(registry_->AddDevices({*ParseDevice(J(R"({"device_id": "d"})"), {})}).ok());
  auto r = Send("k", "d", "2024-05-01T12:00:00Z|c|3#2024-05-01T08:00:00Z|c|1#2024-05-01T10:00:00Z|c|2",
                PayloadFormat::kUltralight);
  ASSERT_EQ(r.outcome, IngestOutcome::kOk) << r.status.detail();
  EXPECT_EQ(r.groups, 3u);
  auto e = store_->Get("", "urn:ngsi-ld:Thing:d");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(*Value(e, "c"), Json("3"));  // the latest observation is the state
  const auto* slot = e->FindSlot(std::string(kDefaultVocab) + "c");
  EXPECT_EQ(slot->instances[0].GetString("observedAt"), "2024-05-01T12:00:00.000Z");
}

TEST_F(IngestorTest, RejectionsAreCountedAndWriteNothing) {
  ASSERT_TRUE(registry_->AddGroups({*ParseServiceGroup(J(R"({"apikey": "k"})"), {})}).ok());
  ASSERT_TRUE(registry_->AddDevices({*ParseDevice(J(R"({"device_id": "d"})"), {})}).ok());
  EXPECT_EQ(Send("k", "d", "{oops").outcome, IngestOutcome::kMalformed);
  EXPECT_EQ(Send("nokey", "x", R"({"a":1})").outcome, IngestOutcome::kUnknownApikey);
  EXPECT_EQ(Send("k", "stranger", R"({"a":1})").outcome, IngestOutcome::kUnknownDevice);
  EXPECT_EQ(Send("bad", "d", R"({"a":1})").outcome, IngestOutcome::kWrongApikey);
  EXPECT_EQ(store_->TotalCount(), 0u);
  EXPECT_EQ(ingestor_->count(Transport::kMqtt, IngestOutcome::kMalformed), 1u);
  std::string metrics;
  ingestor_->Render(metrics);
  EXPECT_NE(metrics.find(R"(civitas_ingest_messages_total{transport="mqtt",outcome="unknown_device"} 1)"),
            std::string::npos)
      << metrics;
}

TEST_F(IngestorTest, AutoprovisionedDeviceSurvivesInTheStore) {
  ASSERT_TRUE(registry_->AddGroups({*ParseServiceGroup(
      J(R"({"apikey": "k", "autoprovision": true, "entity_type": "Noise"})"), {"t", "/"})}).ok());
  ASSERT_EQ(Send("k", "n1", R"({"db": 55})").outcome, IngestOutcome::kOk);
  EXPECT_NE(store_->Get("t", "urn:ngsi-ld:Noise:n1"), nullptr);
  Registry reloaded({});
  Status st = store_->ScanMeta(Registry::kMetaPrefix, [&](std::string_view k, std::string_view v) {
    return reloaded.Restore(k, v);
  });
  ASSERT_TRUE(st.ok()) << st.detail();
  EXPECT_NE(reloaded.GetDevice({"t", "/"}, "n1"), nullptr);
}

}  // namespace
}  // namespace civitas::ingest
