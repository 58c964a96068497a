// MQTT ingestion end to end: a real mosquitto on a free port, publishers using libmosquitto,
// Civitas' MqttSource feeding the Ingestor and a real store. Checks entity state, the counters
// of rejected messages, QoS 1 delivery across a Civitas restart and across a broker restart.
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "ingest/ingestor.h"
#include "ingest/mqtt_source.h"
#include "support/mosquitto_process.h"

namespace civitas::testing {
namespace {

using namespace std::chrono_literals;
using ingest::IngestOutcome;
using ingest::Transport;

constexpr std::string_view kVocab = "https://uri.etsi.org/ngsi-ld/default-context/";

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A device: publishes and, for QoS 1, waits until the broker has the message (PUBACK).
class Publisher {
 public:
  explicit Publisher(uint16_t port) {
    mosquitto_lib_init();
    m_ = mosquitto_new(nullptr, true, this);
    mosquitto_publish_callback_set(m_, [](struct mosquitto*, void* self, int) {
      static_cast<Publisher*>(self)->acked_++;
    });
    EXPECT_EQ(mosquitto_connect(m_, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
  }
  ~Publisher() {
    mosquitto_disconnect(m_);
    mosquitto_loop(m_, 10, 1);
    mosquitto_destroy(m_);
  }
  void Publish(const std::string& topic, const std::string& payload, int qos = 1) {
    int before = acked_;
    ASSERT_EQ(mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                payload.data(), qos, false),
              MOSQ_ERR_SUCCESS);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (acked_ == before && std::chrono::steady_clock::now() < deadline) {
      mosquitto_loop(m_, 20, 1);
    }
    ASSERT_GT(acked_, before) << "no PUBACK for " << topic;
  }

 private:
  struct mosquitto* m_ = nullptr;
  int acked_ = 0;
};

class MqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MosquittoProcess::Available()) GTEST_SKIP() << "mosquitto is not installed";
    mosquitto_.Start();
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_mqtt_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    auto backend = storage::OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok());
    auto store = storage::EntityStore::Open(std::move(*backend), {});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    contexts_ = std::make_unique<jsonld::ContextRegistry>(
        jsonld::ContextRegistry::Options{},
        [](const std::string& url) -> Result<std::string> { return Status::NotFound(url); });
    registry_ = std::make_unique<ingest::Registry>(ingest::RegistryPersistence{
        [this](const std::string& k, const std::string& v) { return store_->PutMeta(k, v); },
        [this](const std::string& k) { return store_->DeleteMeta(k); },
        [this](const std::vector<std::pair<std::string, std::string>>& records) {
          return store_->PutMetas(records);
        }});
    ingestor_ = std::make_unique<ingest::Ingestor>(*registry_, *store_, contexts_->Core());
    auto g = ingest::ParseServiceGroup(
        *ParseJson(R"({"apikey": "k1", "entity_type": "AirQualityObserved",
                       "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})"),
        {"aarhus", "/"});
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(registry_->AddGroups({*g}).ok());
    std::vector<ingest::Device> devices;
    for (const char* id : {"d1", "d2", "d3", "d4"}) {
      devices.push_back(*ingest::ParseDevice(*ParseJson(std::string(R"({"device_id": ")") + id + "\"}"),
                                             {"aarhus", "/"}));
    }
    ASSERT_TRUE(registry_->AddDevices(devices).ok());
  }

  void TearDown() override {
    source_.reset();
    ingestor_.reset();
    registry_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartSource() {
    auto options = ingest::ParseMqttUrl(mosquitto_.url());
    ASSERT_TRUE(options.ok());
    options->client_id = "civitas-test";
    options->reconnect_min_ms = 50;
    options->reconnect_max_ms = 400;
    source_ = std::make_unique<ingest::MqttSource>(*ingestor_, *options);
    ASSERT_TRUE(source_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return source_->subscribed(); })) << "never subscribed";
  }

  // The value of attribute attr of device's entity, or null.
  Json Value(std::string_view device, std::string_view attr) {
    auto e = store_->Get("aarhus", "urn:ngsi-ld:AirQualityObserved:" + std::string(device));
    if (e == nullptr) return Json();
    const auto* slot = e->FindSlot(std::string(kVocab) + std::string(attr));
    if (slot == nullptr || slot->instances.empty()) return Json();
    const Json* v = slot->instances[0].Find("value");
    return v != nullptr ? *v : Json();
  }

  uint64_t Count(IngestOutcome o) { return ingestor_->count(Transport::kMqtt, o); }

  MosquittoProcess mosquitto_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::EntityStore> store_;
  std::unique_ptr<jsonld::ContextRegistry> contexts_;
  std::unique_ptr<ingest::Registry> registry_;
  std::unique_ptr<ingest::Ingestor> ingestor_;
  std::unique_ptr<ingest::MqttSource> source_;
};

TEST_F(MqttTest, JsonAndUltralightOnEveryTopicForm) {
  StartSource();
  Publisher pub(mosquitto_.port());
  pub.Publish("/json/k1/d1/attrs", R"({"t": 21.5, "no2": 38})");
  pub.Publish("/ul/k1/d2/attrs", "t|22.5|no2|40");
  pub.Publish("/k1/d3/attrs", R"({"t": 23.5})", 0);  // legacy topic, JSON payload, QoS 0
  pub.Publish("k1/d4/attrs", "t|24.5");                // legacy without '/', Ultralight
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == 4; }))
      << "ok=" << Count(IngestOutcome::kOk);
  EXPECT_EQ(Value("d1", "temperature"), Json(21.5));
  EXPECT_EQ(Value("d1", "no2"), Json(38));
  EXPECT_EQ(Value("d2", "temperature"), Json(22.5));  // Number: parsed from Ultralight text
  EXPECT_EQ(Value("d2", "no2"), Json("40"));          // unmapped: as received
  EXPECT_EQ(Value("d3", "temperature"), Json(23.5));
  EXPECT_EQ(Value("d4", "temperature"), Json(24.5));
}

TEST_F(MqttTest, BadMessagesAreCountedAndDoNotStopOthers) {
  StartSource();
  Publisher pub(mosquitto_.port());
  pub.Publish("/json/k1/d1/attrs", "{not json");
  pub.Publish("/json/nokey/d9/attrs", R"({"t": 1})");
  pub.Publish("/json/nokey/d1/attrs", R"({"t": 1})");  // d1 exists, with k1
  pub.Publish("/json/k1/stranger/attrs", R"({"t": 1})");
  pub.Publish("/ul/k1/d1/attrs", "|||");
  pub.Publish("/json/k1/d1/attrs", "{\"big\": \"" + std::string(2 << 20, 'x') + "\"}");
  pub.Publish("/json/k1/d1/attrs", R"({"t": 30})");
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == 1; }));
  EXPECT_EQ(source_->stats().oversized, 1u);
  EXPECT_EQ(Count(IngestOutcome::kMalformed), 2u);
  EXPECT_EQ(Count(IngestOutcome::kUnknownApikey), 1u);
  EXPECT_EQ(Count(IngestOutcome::kWrongApikey), 1u);
  EXPECT_EQ(Count(IngestOutcome::kUnknownDevice), 1u);
  EXPECT_EQ(Value("d1", "temperature"), Json(30));
  EXPECT_EQ(store_->TotalCount(), 1u);
}

TEST_F(MqttTest, QosOneMessagesPublishedWhileCivitasIsDownArriveWhenItComesBack) {
  StartSource();  // establishes the persistent session and its subscriptions
  source_.reset();
  constexpr int kMessages = 50;
  {
    Publisher pub(mosquitto_.port());
    for (int i = 1; i <= kMessages; ++i) {
      pub.Publish("/json/k1/d1/attrs", R"({"t": )" + std::to_string(i) + "}");
    }
  }
  EXPECT_EQ(Count(IngestOutcome::kOk), 0u);
  StartSource();
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == kMessages; }))
      << "ok=" << Count(IngestOutcome::kOk);
  EXPECT_EQ(Value("d1", "temperature"), Json(kMessages));  // in order: the last is the state
}

TEST_F(MqttTest, ReconnectsAfterTheBrokerRestartsAndLosesNothingQueued) {
  StartSource();
  mosquitto_.Stop();
  ASSERT_TRUE(WaitFor([&] { return !source_->connected(); }));
  mosquitto_.Start();
  ASSERT_TRUE(WaitFor([&] { return source_->subscribed(); })) << "did not reconnect";
  EXPECT_GE(source_->stats().connects, 2u);
  Publisher pub(mosquitto_.port());
  for (int i = 1; i <= 20; ++i) pub.Publish("/ul/k1/d2/attrs", "t|" + std::to_string(i));
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == 20; }));
  EXPECT_EQ(Value("d2", "temperature"), Json(20));
}

TEST_F(MqttTest, KeepsRetryingWhileTheBrokerIsDown) {
  mosquitto_.Kill();
  auto options = ingest::ParseMqttUrl(mosquitto_.url());
  options->client_id = "civitas-retry";
  options->reconnect_min_ms = 20;
  options->reconnect_max_ms = 100;
  source_ = std::make_unique<ingest::MqttSource>(*ingestor_, *options);
  ASSERT_TRUE(source_->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return source_->stats().connect_failures >= 3; }));
  mosquitto_.Start();
  ASSERT_TRUE(WaitFor([&] { return source_->subscribed(); }));
  Publisher pub(mosquitto_.port());
  pub.Publish("/json/k1/d3/attrs", R"({"t": 5})");
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == 1; }));
}

// TLS: Civitas connects with mqtts:// and a CA file to a listener whose certificate that CA
// signed; the device publishes on the plain listener of the same broker.
class MqttTlsTest : public MqttTest {
 protected:
  void SetUp() override {
    if (!MosquittoProcess::Available()) GTEST_SKIP() << "mosquitto is not installed";
    if (!tls_broker_.AddTlsListener()) GTEST_SKIP() << "openssl could not make certificates";
    MqttTest::SetUp();
  }
  MosquittoProcess tls_broker_;
};

TEST_F(MqttTlsTest, MeasuresArriveOverTls) {
  tls_broker_.Start();
  auto options = ingest::ParseMqttUrl("mqtts://127.0.0.1:" + std::to_string(tls_broker_.tls_port()));
  ASSERT_TRUE(options.ok());
  options->ca_file = tls_broker_.ca_file();
  options->client_id = "civitas-tls";
  source_ = std::make_unique<ingest::MqttSource>(*ingestor_, *options);
  ASSERT_TRUE(source_->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return source_->subscribed(); })) << "no TLS session";
  Publisher pub(tls_broker_.port());
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 30; ++i) pub.Publish("/ul/k1/d1/attrs", "t|" + std::to_string(i));
  ASSERT_TRUE(WaitFor([&] { return Count(IngestOutcome::kOk) == 30; }, 5s))
      << "ok=" << Count(IngestOutcome::kOk);
  // Reading must not stall on bytes TLS has decrypted but poll cannot see.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(Value("d1", "temperature"), Json(30));
}

TEST_F(MqttTlsTest, AnUntrustedBrokerIsRefused) {
  tls_broker_.Start();
  auto options = ingest::ParseMqttUrl("mqtts://127.0.0.1:" + std::to_string(tls_broker_.tls_port()));
  ASSERT_TRUE(options.ok());
  options->ca_file = "/etc/ssl/certs/ca-certificates.crt";  // does not know the test CA
  options->client_id = "civitas-tls-untrusted";
  options->reconnect_min_ms = 20;
  options->reconnect_max_ms = 50;
  source_ = std::make_unique<ingest::MqttSource>(*ingestor_, *options);
  ASSERT_TRUE(source_->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return source_->stats().connect_failures >= 2; }));
  EXPECT_FALSE(source_->connected());
}

}  // namespace
}  // namespace civitas::testing
