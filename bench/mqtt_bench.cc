// civitas_mqtt_bench: publishes device measures to an MQTT broker and measures how fast they get
// through, end to end. Two ways of knowing that a message got through:
//   --subscribe          a plain subscriber of our own counts the messages (mosquitto alone: the
//                        ceiling), on the topic prefix given with --prefix;
//   --metrics URL        Civitas' /metrics is polled until civitas_ingest_messages_total for MQTT
//                        and outcome ok has grown by the number published (durable state).
// With --rate the publishers are paced to R messages per second in total, and with --probe the
// publish-to-queryable lag is sampled meanwhile: a probe device (apikey "probe", device "probe",
// provisioned in the default tenant with entity type Probe) publishes a sequence number, and the
// entity is read back over HTTP until it shows it.
// Prints one JSON line: messages, publish and end-to-end seconds, end-to-end rate, lag.
//
//   civitas_mqtt_bench --port P [--host H] [--messages N] [--publishers K] [--devices D]
//                      [--apikey A] [--qos 0|1] [--prefix /json] [--rate R] [--probe URL]
//                      (--subscribe | --metrics URL)

#include <mosquitto.h>

#include <algorithm>
#include <atomic>
#include <cctype>
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
  double rate = 0;    // messages per second in total; 0: as fast as the broker takes them
  std::string probe;  // Civitas base URL for lag probes; empty: none
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
  const auto start = Clock::now();
  const double per_second = o.rate / o.publishers;
  for (long i = 0; i < count; ++i) {
    if (per_second > 0) {  // paced: message i is due at i / per_second
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(i) / per_second));
      while (Clock::now() < due) mosquitto_loop(m, 1, 1);
    }
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

// Samples publish-to-queryable lag until *stop: publish a sequence number, poll the entity.
std::vector<double> Probe(const Options& o, const std::atomic<bool>* stop) {
  std::vector<double> lags_ms;
  struct mosquitto* m = mosquitto_new(nullptr, true, nullptr);
  if (mosquitto_connect(m, o.host.c_str(), o.port, 60) != MOSQ_ERR_SUCCESS) Die("probe connect");
  mosquitto_loop_start(m);
  const std::string url =
      o.probe + "/ngsi-ld/v1/entities/urn:ngsi-ld:Probe:probe?options=keyValues&attrs=seq";
  for (long n = 1; !stop->load(); ++n) {
    std::string payload = "{\"seq\": " + std::to_string(n) + "}";
    std::string want = "\"seq\":" + std::to_string(n);
    auto t0 = Clock::now();
    mosquitto_publish(m, nullptr, "/json/probe/probe/attrs", static_cast<int>(payload.size()),
                      payload.data(), 1, false);
    while (true) {
      std::string body, error;
      civitas::http::FetchUrl(url, 2000, 1 << 16, &body, &error);
      size_t at = body.find(want);
      if (at != std::string::npos &&
          (at + want.size() >= body.size() || !std::isdigit(body[at + want.size()]))) {
        break;
      }
      if (Clock::now() - t0 > std::chrono::seconds(10)) {
        Die("probe " + std::to_string(n) + " not seen; last answer: " + body + error);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    lags_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  return lags_ms;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
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
    else if (a == "--rate") o.rate = std::atof(value().c_str());
    else if (a == "--probe") o.probe = value();
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
  std::atomic<bool> publishing_done{false};
  std::vector<double> lags;
  std::thread prober;
  if (!o.probe.empty()) prober = std::thread([&] { lags = Probe(o, &publishing_done); });
  for (auto& t : threads) t.join();
  publishing_done = true;
  if (prober.joinable()) prober.join();
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
      "\"publish_seconds\": %.3f, \"end_to_end_seconds\": %.3f, \"messages_per_second\": %.0f, "
      "\"rate\": %.0f, \"lag_samples\": %zu, \"lag_p50_ms\": %.2f, \"lag_p99_ms\": %.2f, "
      "\"lag_max_ms\": %.2f}\n",
      o.subscribe ? "subscriber" : (o.probe.empty() ? "civitas" : "civitas-lag"), o.qos, total, got,
      publish_s, e2e_s, static_cast<double>(got) / e2e_s, o.rate, lags.size(),
      Percentile(lags, 0.5), Percentile(lags, 0.99), Percentile(lags, 1.0));
  return got >= total ? 0 : 1;
}
