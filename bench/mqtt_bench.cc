// civitas_mqtt_bench: publishes device measures to an MQTT broker and measures how fast they get
// through, end to end. Two ways of knowing that a message got through:
//   --subscribe          a plain subscriber of our own counts the messages (mosquitto alone: the
//                        ceiling), on the topic prefix given with --prefix;
//   --metrics URL        Civitas' /metrics is polled until civitas_ingest_messages_total for MQTT
//                        and outcome ok has grown by the number published (durable state).
// Prints one JSON line: messages, publish and end-to-end seconds, end-to-end rate.
//
//   civitas_mqtt_bench --port P [--host H] [--messages N] [--publishers K] [--devices D]
//                      [--apikey A] [--qos 0|1] [--prefix /json] (--subscribe | --metrics URL)

#include <mosquitto.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  long messages = 100000;
  int publishers = 4;
  int devices = 100;
  std::string apikey = "bench";
  int qos = 1;
  std::string prefix = "/json";
  bool subscribe = false;
  std::string metrics_url;
  int window = 1000;  // unacknowledged QoS 1 messages per publisher
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "civitas_mqtt_bench: %s\n", why.c_str());
  std::exit(2);
}

// The MQTT ok counter in a /metrics text, or -1.
long OkCount(const std::string& url) {
  std::string body, error;
  if (civitas::http::FetchUrl(url, 2000, 1 << 20, &body, &error) != 200) return -1;
  static const char kKey[] =
      "civitas_ingest_messages_total{transport=\"mqtt\",outcome=\"ok\"} ";
  size_t at = body.find(kKey);
  if (at == std::string::npos) return -1;
  return std::strtol(body.c_str() + at + sizeof kKey - 1, nullptr, 10);
}

void Publish(const Options& o, int index, long count, std::atomic<long>* acked) {
  std::atomic<long> local{0};  // PUBACKs of this publisher
  struct mosquitto* m = mosquitto_new(nullptr, true, &local);
  mosquitto_publish_callback_set(m, [](struct mosquitto*, void* a, int) {
    static_cast<std::atomic<long>*>(a)->fetch_add(1);
  });
  if (mosquitto_connect(m, o.host.c_str(), o.port, 60) != MOSQ_ERR_SUCCESS) Die("cannot connect");
  long sent = 0;
  char payload[96];
  for (long i = 0; i < count; ++i) {
    int device = static_cast<int>((index * count + i) % o.devices);
    std::string topic = o.prefix + "/" + o.apikey + "/d" + std::to_string(device) + "/attrs";
    int n = std::snprintf(payload, sizeof payload, "{\"t\": %ld.5, \"no2\": %ld}", i % 40, i % 200);
    while (mosquitto_publish(m, nullptr, topic.c_str(), n, payload, o.qos, false) ==
           MOSQ_ERR_NOMEM) {
      mosquitto_loop(m, 1, 1);
    }
    ++sent;
    // Keep at most `window` messages unacknowledged (QoS 0: just keep the socket flowing).
    while (o.qos > 0 && sent - local.load() > o.window) mosquitto_loop(m, 5, 1);
    if (o.qos == 0 && (i % 256) == 0) mosquitto_loop(m, 0, 1);
  }
  if (o.qos > 0) {
    while (local.load() < sent) mosquitto_loop(m, 5, 1);
  } else {
    while (mosquitto_want_write(m)) mosquitto_loop(m, 5, 1);
  }
  acked->fetch_add(sent);
  mosquitto_disconnect(m);
  mosquitto_loop(m, 10, 1);
  mosquitto_destroy(m);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--messages") o.messages = std::atol(value().c_str());
    else if (a == "--publishers") o.publishers = std::atoi(value().c_str());
    else if (a == "--devices") o.devices = std::atoi(value().c_str());
    else if (a == "--apikey") o.apikey = value();
    else if (a == "--qos") o.qos = std::atoi(value().c_str());
    else if (a == "--prefix") o.prefix = value();
    else if (a == "--window") o.window = std::atoi(value().c_str());
    else if (a == "--subscribe") o.subscribe = true;
    else if (a == "--metrics") o.metrics_url = value();
    else Die("unknown option " + a);
  }
  if (o.subscribe != o.metrics_url.empty()) Die("give exactly one of --subscribe, --metrics");
  if (o.publishers < 1 || o.messages < o.publishers || o.devices < 1) Die("bad sizes");
  mosquitto_lib_init();

  // The counting side.
  std::atomic<long> received{0};
  struct mosquitto* sub = nullptr;
  long base = 0;
  if (o.subscribe) {
    sub = mosquitto_new(nullptr, true, &received);
    mosquitto_message_callback_set(sub, [](struct mosquitto*, void* r, const mosquitto_message*) {
      static_cast<std::atomic<long>*>(r)->fetch_add(1);
    });
    if (mosquitto_connect(sub, o.host.c_str(), o.port, 60) != MOSQ_ERR_SUCCESS) {
      Die("subscriber cannot connect");
    }
    std::string topic = o.prefix + "/+/+/attrs";
    mosquitto_subscribe(sub, nullptr, topic.c_str(), o.qos);
    for (int i = 0; i < 20; ++i) mosquitto_loop(sub, 10, 1);  // SUBACK
    mosquitto_loop_start(sub);
  } else {
    base = OkCount(o.metrics_url);
    if (base < 0) Die("cannot read " + o.metrics_url);
  }

  auto start = Clock::now();
  std::atomic<long> acked{0};
  std::vector<std::thread> threads;
  long per = o.messages / o.publishers;
  long total = per * o.publishers;
  for (int p = 0; p < o.publishers; ++p) {
    threads.emplace_back(Publish, std::cref(o), p, per, &acked);
  }
  for (auto& t : threads) t.join();
  double publish_s = std::chrono::duration<double>(Clock::now() - start).count();

  auto deadline = Clock::now() + std::chrono::seconds(300);
  long got = 0;
  while (Clock::now() < deadline) {
    got = o.subscribe ? received.load() : OkCount(o.metrics_url) - base;
    if (got >= total) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(o.subscribe ? 1 : 5));
  }
  double e2e_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (sub != nullptr) {
    mosquitto_disconnect(sub);
    mosquitto_loop_stop(sub, false);
    mosquitto_destroy(sub);
  }
  std::printf(
      "{\"mode\": \"%s\", \"qos\": %d, \"messages\": %ld, \"delivered\": %ld, "
      "\"publish_seconds\": %.3f, \"end_to_end_seconds\": %.3f, \"messages_per_second\": %.0f}\n",
      o.subscribe ? "subscriber" : "civitas", o.qos, total, got, publish_s, e2e_s,
      static_cast<double>(got) / e2e_s);
  return got >= total ? 0 : 1;
}
