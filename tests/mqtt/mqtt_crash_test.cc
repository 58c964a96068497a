// QoS 1 measures survive SIGKILL of Civitas: the real `civitas serve --mqtt` binary against a
// real mosquitto (persistent session), killed four times while a device publishes, restarted on the
// same data directory. Every message the broker accepted must end up in the entity, because
// Civitas acknowledges a message only after it is durable and the broker redelivers the rest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "common/json.h"
#include "support/mosquitto_process.h"
#include "support/test_client.h"

#ifndef CIVITAS_BINARY
#error "CIVITAS_BINARY must name the civitas executable"
#endif

namespace civitas::testing {
namespace {

using namespace std::chrono_literals;

class CivitasProcess {
 public:
  CivitasProcess(std::filesystem::path dir, std::string mqtt_url)
      : dir_(std::move(dir)), mqtt_url_(std::move(mqtt_url)), port_(FreePort()) {}
  ~CivitasProcess() { Kill(); }

  void Start() {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int log = ::open((dir_ / "civitas.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      std::string port = std::to_string(port_);
      std::string data = (dir_ / "data").string();
      ::execl(CIVITAS_BINARY, CIVITAS_BINARY, "serve", "--bind", "127.0.0.1", "--port",
              port.c_str(), "--data", data.c_str(), "--threads", "1", "--mqtt", mqtt_url_.c_str(),
              "--mqtt-client-id", "civitas-crash-test", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    TestClient client("127.0.0.1", port_);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (client.Send("GET", "/health", {}, "", 500).status != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "civitas did not start";
      std::this_thread::sleep_for(20ms);
    }
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  uint16_t port() const { return port_; }

 private:
  std::filesystem::path dir_;
  std::string mqtt_url_;
  uint16_t port_;
  pid_t pid_ = -1;
};

TEST(MqttCrashTest, NoAcceptedQosOneMessageIsLostWhenCivitasIsKilled) {
  if (!MosquittoProcess::Available()) GTEST_SKIP() << "mosquitto is not installed";
  MosquittoProcess broker;
  broker.Start();
  auto dir = std::filesystem::temp_directory_path() /
             ("civitas_mqtt_crash_" + std::to_string(::getpid()) + "_" +
              std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  CivitasProcess civitas(dir, broker.url());
  civitas.Start();

  TestClient http("127.0.0.1", civitas.port());
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"}, {"fiware-service", "crash"}};
  ASSERT_EQ(http.Send("POST", "/iot/services", headers,
                      R"({"services": [{"apikey": "k", "entity_type": "Counter"}]})")
                .status,
            201);
  ASSERT_EQ(http.Send("POST", "/iot/devices", headers, R"({"devices": [{"device_id": "c"}]})")
                .status,
            201);
  // Let the MQTT session subscribe before publishing.
  auto subscribed = [&] {
    auto r = http.Send("GET", "/metrics", {}, "");
    return r.body.find("civitas_mqtt_subscribed 1") != std::string::npos;
  };
  for (int i = 0; i < 500 && !subscribed(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(subscribed());

  // The device: each message adds its own attribute, so the entity shows every one received.
  constexpr int kMessages = 600;
  std::atomic<int> accepted{0};
  std::thread device([&] {
    mosquitto_lib_init();
    struct mosquitto* m = mosquitto_new(nullptr, true, &accepted);
    mosquitto_publish_callback_set(m, [](struct mosquitto*, void* n, int) {
      ++*static_cast<std::atomic<int>*>(n);
    });
    if (mosquitto_connect(m, "127.0.0.1", broker.port(), 30) != MOSQ_ERR_SUCCESS) return;
    for (int i = 0; i < kMessages; ++i) {
      std::string payload = "{\"m";  // built in steps: GCC 12 warns falsely on "m" + ...
      payload += std::to_string(i);
      payload += "\": ";
      payload += std::to_string(i);
      payload += "}";
      int before = accepted;
      mosquitto_publish(m, nullptr, "/json/k/c/attrs", static_cast<int>(payload.size()),
                        payload.data(), 1, false);
      while (accepted == before) mosquitto_loop(m, 20, 1);  // the broker has it (PUBACK)
      std::this_thread::sleep_for(2ms);
    }
    mosquitto_disconnect(m);
    mosquitto_loop(m, 10, 1);
    mosquitto_destroy(m);
  });

  constexpr int kKills = 4;
  for (int kill = 0; kill < kKills; ++kill) {
    while (accepted < kMessages * (kill + 1) / (kKills + 1)) std::this_thread::sleep_for(1ms);
    civitas.Kill();
    std::this_thread::sleep_for(100ms);  // messages queue in the broker meanwhile
    civitas.Start();
  }
  device.join();
  ASSERT_EQ(accepted, kMessages);

  TestClient reader("127.0.0.1", civitas.port());
  size_t have = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = reader.Send("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Counter:c?options=keyValues",
                         {{"NGSILD-Tenant", "crash"}}, "");
    if (r.status == 200) {
      auto j = ParseJson(r.body);
      if (j.ok()) have = j->size() - 2;  // minus id and type
      body = r.body;
      if (have == kMessages) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(have, static_cast<size_t>(kMessages));
  auto j = ParseJson(body);
  ASSERT_TRUE(j.ok());
  for (int i = 0; i < kMessages; ++i) {
    std::string name = "m";
    name += std::to_string(i);
    const Json* v = j->Find(name);
    ASSERT_NE(v, nullptr) << "message " << i << " was lost";
    EXPECT_EQ(*v, Json(i));
  }
  civitas.Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace civitas::testing
