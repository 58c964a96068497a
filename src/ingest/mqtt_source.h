#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "ingest/ingestor.h"

struct mosquitto;
struct mosquitto_message;

namespace civitas::ingest {

struct MqttOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  bool tls = false;          // mqtts:// or a CA given
  std::string ca_file;       // PEM bundle to verify the broker with
  std::string cert_file, key_file;  // client certificate, optional
  std::string username, password;
  // Fixed, so that the broker keeps our session (clean_session=false) and queues QoS 1
  // messages while Civitas is down. Two Civitas instances must not share one.
  std::string client_id = "civitas";
  int qos = 1;  // of the subscriptions: 0 or 1
  int keepalive_seconds = 30;
  int reconnect_min_ms = 500;   // back-off after a failed connection, doubled up to max
  int reconnect_max_ms = 30000;
  // Larger payloads are dropped and counted (as the HTTP side refuses bodies over --max-body);
  // the broker's own limit (message_size_limit) is 256 MiB by default.
  size_t max_payload_bytes = 1 << 20;
};

// "mqtt://[user[:password]@]host[:port]" (port 1883) or "mqtts://..." (TLS, port 8883) into
// options (other members keep their defaults). InvalidRequest with a reason otherwise.
Result<MqttOptions> ParseMqttUrl(std::string_view url);

// Civitas as an MQTT client of a real broker (mosquitto): subscribes to the device topics and
// hands every message to the Ingestor.
//
// Sessions: clean_session=false with a fixed client id, so the broker queues QoS 1 messages
// published while Civitas is away (up to its max_queued_messages) and delivers them on
// reconnection. Connection: one thread runs the client loop and reconnects after any failure
// (refused, broker restarted, DNS, TLS) with exponential back-off, forever, until Stop.
//
// Acknowledgement and durability: a QoS 1 message is acknowledged (PUBACK) only once its
// measures are durable in the store. libmosquitto 2.0 (Debian 12) prepares the PUBACK before
// calling the message callback and has no manual acknowledgement, but in threaded mode it only
// queues it, and the queue is written by our loop (see Run) after a durability barrier. So a
// crash of Civitas at any moment loses no acknowledged message: the broker redelivers the
// unacknowledged ones to the persistent session (at least once: a measure may be applied twice,
// which an upsert with the same value and observedAt makes harmless). A store rejection is
// never silent: it is logged (rate-limited) and counted by the Ingestor as store_error, and the
// message is acknowledged (redelivering a message the store refuses would loop forever).
//
// Throughput: each turn of the loop costs one group commit (an fsync), so it is bounded by
// what the broker sends before it waits for acknowledgements: mosquitto's max_inflight_messages
// (default 20 per client!) divided by the commit time. Raise it (e.g. 1000) on the broker that
// Civitas reads from. A turn reads at most 4096 messages, which bounds memory.
class MqttSource {
 public:
  MqttSource(Ingestor& ingestor, MqttOptions options);
  ~MqttSource();  // Stop()

  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  // Starts the client thread; connecting happens there (and is retried). InvalidRequest when
  // the options cannot be applied (e.g. an unreadable CA file).
  Status Start();
  // Disconnects, stops the thread and waits until every message received is durable (or
  // failed). Idempotent.
  void Stop();

  bool connected() const { return connected_.load(); }
  // Connected and the broker has acknowledged the subscriptions (since the last connection).
  bool subscribed() const { return subscribed_.load(); }
  struct Stats {
    uint64_t connects = 0;        // successful CONNACKs
    uint64_t connect_failures = 0;
    uint64_t messages = 0;        // received on any subscribed topic
    uint64_t bad_topics = 0;      // matched a subscription but not a device topic
    uint64_t oversized = 0;       // payload over max_payload_bytes
  };
  Stats stats() const;
  // Prometheus text: connection state and the counters above.
  void Render(std::string& out) const;

 private:
  void Run();
  void Backoff();
  void WaitUntilDurable();
  size_t InFlight();
  static void OnConnect(struct mosquitto* m, void* self, int rc);
  static void OnDisconnect(struct mosquitto* m, void* self, int rc);
  static void OnSubscribe(struct mosquitto* m, void* self, int mid, int count, const int* qos);
  static void OnMessage(struct mosquitto* m, void* self, const struct mosquitto_message* msg);
  void HandleMessage(const struct mosquitto_message* msg);
  void FlushTurn();

  Ingestor& ingestor_;
  MqttOptions options_;
  struct mosquitto* mosq_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> subscribed_{false};
  int delay_ms_ = 0;  // current back-off; client thread only
  // The messages read in the current turn of the loop; client thread only.
  struct TurnMessage {
    DeviceMessage message;
    std::string payload;
  };
  std::vector<TurnMessage> turn_;

  std::mutex mu_;
  std::condition_variable cv_;  // Stop wakes the back-off; completions wake WaitUntilDurable
  size_t in_flight_ = 0;        // guarded by mu_
  int wake_fd_ = -1;            // eventfd: the last message in flight became durable, or Stop

  std::atomic<uint64_t> connects_{0}, connect_failures_{0}, messages_{0}, bad_topics_{0},
      oversized_{0};
  std::atomic<Micros> last_log_{0};
};

}  // namespace civitas::ingest
