#include "ingest/mqtt_source.h"

#include <mosquitto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace civitas::ingest {
namespace {

// The subscriptions: with and without the leading '/', as the IoT Agents accept both.
constexpr const char* kTopics[] = {"/json/+/+/attrs", "/ul/+/+/attrs", "/+/+/attrs",
                                   "json/+/+/attrs",  "ul/+/+/attrs",  "+/+/attrs"};

void InitLibrary() {
  static const int once = [] { return mosquitto_lib_init(); }();
  (void)once;
}

}  // namespace

Result<MqttOptions> ParseMqttUrl(std::string_view url) {
  MqttOptions o;
  // Errors go to the log: never show a password that the URL may carry.
  std::string shown(url);
  if (size_t at = shown.rfind('@'), scheme = shown.find("://");
      at != std::string::npos && scheme != std::string::npos && at > scheme) {
    shown.replace(scheme + 3, at - scheme - 3, "***");
  }
  auto bad = [&](std::string_view why) {
    return Status::InvalidRequest("MQTT URL " + shown + ": " + std::string(why));
  };
  std::string_view rest;
  if (url.substr(0, 7) == "mqtt://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "mqtts://") {
    rest = url.substr(8);
    o.tls = true;
    o.port = 8883;
  } else {
    return bad("expected mqtt://host[:port] or mqtts://host[:port]");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    size_t colon = cred.find(':');
    o.username = std::string(cred.substr(0, colon));
    if (colon != std::string_view::npos) o.password = std::string(cred.substr(colon + 1));
    if (o.username.empty()) return bad("empty user name");
  }
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    host = rest.substr(0, colon);
    std::string_view port = rest.substr(colon + 1);
    int p = 0;
    if (port.empty() || port.size() > 5) return bad("bad port");
    for (char c : port) {
      if (c < '0' || c > '9') return bad("bad port");
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return bad("bad port");
    o.port = p;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host.find('/') != std::string_view::npos) return bad("missing host");
  o.host = std::string(host);
  return o;
}

MqttSource::MqttSource(Ingestor& ingestor, MqttOptions options)
    : ingestor_(ingestor), options_(std::move(options)) {
  InitLibrary();
}

MqttSource::~MqttSource() {
  Stop();
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status MqttSource::Start() {
  if (mosq_ != nullptr) return Status::Ok();
  mosq_ = mosquitto_new(options_.client_id.c_str(), /*clean_session=*/false, this);
  if (mosq_ == nullptr) return Status::Internal("cannot create the MQTT client");
  mosquitto_connect_callback_set(mosq_, &MqttSource::OnConnect);
  mosquitto_disconnect_callback_set(mosq_, &MqttSource::OnDisconnect);
  mosquitto_message_callback_set(mosq_, &MqttSource::OnMessage);
  mosquitto_subscribe_callback_set(mosq_, &MqttSource::OnSubscribe);
  // Queue outgoing packets (PUBACKs included) for mosquitto_loop_write instead of writing them
  // at once: Run() writes them only after the messages are durable.
  mosquitto_threaded_set(mosq_, true);
  if (!options_.username.empty()) {
    int rc = mosquitto_username_pw_set(
        mosq_, options_.username.c_str(),
        options_.password.empty() ? nullptr : options_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::InvalidRequest(std::string("MQTT credentials: ") + mosquitto_strerror(rc));
    }
  }
  if (options_.tls || !options_.ca_file.empty()) {
    int rc = mosquitto_tls_set(
        mosq_, options_.ca_file.empty() ? nullptr : options_.ca_file.c_str(),
        options_.ca_file.empty() ? "/etc/ssl/certs" : nullptr,
        options_.cert_file.empty() ? nullptr : options_.cert_file.c_str(),
        options_.key_file.empty() ? nullptr : options_.key_file.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::InvalidRequest(std::string("MQTT TLS: ") + mosquitto_strerror(rc));
    }
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::Internal("eventfd failed");
  delay_ms_ = options_.reconnect_min_ms;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void MqttSource::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
  // Every message handed to the store completes before we return: a clean stop loses none.
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void MqttSource::Backoff() {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(delay_ms_), [this] { return stopping_.load(); });
  delay_ms_ = std::min(delay_ms_ * 2, options_.reconnect_max_ms);
}

namespace {

std::string ErrorText(int rc) {
  return rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno)) : std::string(mosquitto_strerror(rc));
}

}  // namespace

size_t MqttSource::InFlight() {
  std::lock_guard lock(mu_);
  return in_flight_;
}

void MqttSource::WaitUntilDurable() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
}

// The client loop, written out instead of mosquitto_loop() so that acknowledgements wait for
// durability. With mosquitto_threaded_set(true), libmosquitto only queues the PUBACK of a QoS 1
// message (it prepares it before the callback, but into its output queue); the queue is written
// by mosquitto_loop_write alone. Each turn reads what has arrived and hands it to the store in
// one batch (one group commit); the output queue is written only in a turn where every message
// read so far is durable. Reading goes on meanwhile, so the next batch is decoded while the
// previous one commits; the broker's in-flight window bounds how far reading runs ahead. A
// crash before the write leaves the messages unacknowledged, and the broker sends them again
// to our persistent session.
void MqttSource::Run() {
  constexpr int kMaxReadsPerTurn = 4096;
  bool need_connect = true;
  while (!stopping_) {
    if (need_connect) {
      int rc = mosquitto_connect(mosq_, options_.host.c_str(), options_.port,
                                 options_.keepalive_seconds);
      if (rc != MOSQ_ERR_SUCCESS) {
        connect_failures_.fetch_add(1, std::memory_order_relaxed);
        Micros now = NowMicros();
        if (now - last_log_.load() >= 5000000) {
          last_log_ = now;
          Log(LogLevel::kWarn, "cannot connect to the MQTT broker",
              {{"host", options_.host},
               {"port", std::to_string(options_.port)},
               {"error", ErrorText(rc)},
               {"retry_ms", std::to_string(delay_ms_)}});
        }
        Backoff();
        continue;
      }
      need_connect = false;  // CONNECT is queued; CONNACK arrives through the loop (OnConnect)
    }
    int rc = MOSQ_ERR_SUCCESS;
    int fd = mosquitto_socket(mosq_);
    if (fd < 0) {
      rc = MOSQ_ERR_NO_CONN;
    } else {
      // Acknowledgements (and anything else queued) go out only when every message read so
      // far is durable; until then only reading continues, so the next batch is decoded while
      // the previous one commits. The wake fd fires when the last pending message is durable.
      const bool can_write = InFlight() == 0 && mosquitto_want_write(mosq_);
      pollfd p[2] = {{fd, static_cast<short>(POLLIN | (can_write ? POLLOUT : 0)), 0},
                     {wake_fd_, POLLIN, 0}};
      ::poll(p, 2, 100);
      if (p[1].revents & POLLIN) {
        uint64_t drained;
        (void)!::read(wake_fd_, &drained, sizeof drained);
      }
      // Read at least once per turn: TLS may hold decrypted bytes that poll cannot see.
      bool more = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
      rc = mosquitto_loop_read(mosq_, 1);
      for (int i = 1; i < kMaxReadsPerTurn && more && rc == MOSQ_ERR_SUCCESS; ++i) {
        pollfd q{fd, POLLIN, 0};
        more = ::poll(&q, 1, 0) > 0;
        if (more) rc = mosquitto_loop_read(mosq_, 1);
      }
      FlushTurn();  // everything read goes to the store in one Submit
      if (rc == MOSQ_ERR_SUCCESS && InFlight() == 0 && mosquitto_want_write(mosq_)) {
        rc = mosquitto_loop_write(mosq_, 1);
      }
      if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_misc(mosq_);
    }
    if (rc != MOSQ_ERR_SUCCESS && !stopping_) {
      subscribed_ = false;
      if (connected_.exchange(false)) {
        Log(LogLevel::kWarn, "MQTT connection lost", {{"error", ErrorText(rc)}});
      } else {
        connect_failures_.fetch_add(1, std::memory_order_relaxed);
      }
      need_connect = true;
      Backoff();
    }
  }
  FlushTurn();
  WaitUntilDurable();
  if (connected_.exchange(false)) {
    // Sends the last PUBACKs (everything read is durable now) and DISCONNECT.
    mosquitto_disconnect(mosq_);
    for (int i = 0; i < 10 && mosquitto_want_write(mosq_); ++i) {
      if (mosquitto_loop_write(mosq_, 1) != MOSQ_ERR_SUCCESS) break;
    }
  }
}

void MqttSource::OnConnect(struct mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<MqttSource*>(self_ptr);
  if (rc != 0) {
    self->connect_failures_.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kWarn, "the MQTT broker refused the connection",
        {{"reason", mosquitto_connack_string(rc)}});
    return;  // the broker closes the connection; the loop reconnects with back-off
  }
  self->connected_ = true;
  self->connects_.fetch_add(1, std::memory_order_relaxed);
  self->delay_ms_ = self->options_.reconnect_min_ms;
  // The session keeps the subscriptions, but a new or expired session has none.
  char* topics[std::size(kTopics)];
  for (size_t i = 0; i < std::size(kTopics); ++i) topics[i] = const_cast<char*>(kTopics[i]);
  int sub = mosquitto_subscribe_multiple(m, nullptr, static_cast<int>(std::size(kTopics)), topics,
                                         self->options_.qos, 0, nullptr);
  if (sub != MOSQ_ERR_SUCCESS) {
    Log(LogLevel::kError, "cannot subscribe to the device topics",
        {{"error", mosquitto_strerror(sub)}});
  }
  Log(LogLevel::kInfo, "connected to the MQTT broker",
      {{"host", self->options_.host},
       {"port", std::to_string(self->options_.port)},
       {"client_id", self->options_.client_id}});
}

void MqttSource::OnDisconnect(struct mosquitto*, void* self_ptr, int) {
  auto* self = static_cast<MqttSource*>(self_ptr);
  self->connected_ = false;
  self->subscribed_ = false;
}

void MqttSource::OnSubscribe(struct mosquitto*, void* self_ptr, int, int count, const int* qos) {
  auto* self = static_cast<MqttSource*>(self_ptr);
  for (int i = 0; i < count; ++i) {
    if (qos[i] > 2) {  // 0x80: the broker refused this subscription (ACL)
      Log(LogLevel::kError, "the MQTT broker refused a device topic subscription",
          {{"topic", kTopics[i < static_cast<int>(std::size(kTopics)) ? i : 0]}});
    }
  }
  self->subscribed_ = true;
}

void MqttSource::OnMessage(struct mosquitto*, void* self_ptr, const struct mosquitto_message* msg) {
  static_cast<MqttSource*>(self_ptr)->HandleMessage(msg);
}

void MqttSource::HandleMessage(const struct mosquitto_message* msg) {
  const Micros received = NowMicros();
  messages_.fetch_add(1, std::memory_order_relaxed);
  auto topic = ParseDeviceTopic(msg->topic != nullptr ? msg->topic : "");
  if (!topic) {
    bad_topics_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::string_view payload(static_cast<const char*>(msg->payload),
                           msg->payload != nullptr ? static_cast<size_t>(msg->payloadlen) : 0);
  if (payload.size() > options_.max_payload_bytes) {
    oversized_.fetch_add(1, std::memory_order_relaxed);
    Micros now = NowMicros();
    if (now - last_log_.load() >= 1000000) {
      last_log_ = now;
      Log(LogLevel::kWarn, "MQTT message dropped: payload too large",
          {{"topic", msg->topic != nullptr ? msg->topic : ""},
           {"bytes", std::to_string(payload.size())}});
    }
    return;
  }
  // Collected for the end of the read phase (FlushTurn); libmosquitto frees msg after this.
  TurnMessage t;
  t.message.transport = Transport::kMqtt;
  t.message.format = topic->format.value_or(SniffFormat(payload));
  t.message.apikey = std::move(topic->apikey);
  t.message.device_id = std::move(topic->device_id);
  t.message.received_at = received;
  t.payload.assign(payload);
  turn_.push_back(std::move(t));
}

void MqttSource::FlushTurn() {
  if (turn_.empty()) return;
  std::vector<Ingestor::Pending> batch;
  batch.reserve(turn_.size());
  for (TurnMessage& t : turn_) {
    t.message.payload = t.payload;  // turn_ no longer grows: the views stay valid
    batch.push_back({t.message, [this](IngestResult) {
                       // Outcomes are counted and logged by the Ingestor; here the accounting.
                       std::lock_guard lock(mu_);
                       if (--in_flight_ == 0) {
                         cv_.notify_all();
                         uint64_t one = 1;
                         (void)!::write(wake_fd_, &one, sizeof one);
                       }
                     }});
  }
  {
    std::lock_guard lock(mu_);
    in_flight_ += batch.size();
  }
  ingestor_.IngestBatch(std::move(batch));
  turn_.clear();
}

MqttSource::Stats MqttSource::stats() const {
  return {connects_.load(), connect_failures_.load(), messages_.load(), bad_topics_.load(),
          oversized_.load()};
}

void MqttSource::Render(std::string& out) const {
  Stats s = stats();
  out += "# TYPE civitas_mqtt_connected gauge\ncivitas_mqtt_connected " +
         std::string(connected() ? "1" : "0") + "\n";
  out += "# TYPE civitas_mqtt_subscribed gauge\ncivitas_mqtt_subscribed " +
         std::string(subscribed() ? "1" : "0") + "\n";
  out += "# TYPE civitas_mqtt_connects_total counter\ncivitas_mqtt_connects_total " +
         std::to_string(s.connects) + "\n";
  out += "# TYPE civitas_mqtt_connect_failures_total counter\n"
         "civitas_mqtt_connect_failures_total " +
         std::to_string(s.connect_failures) + "\n";
  out += "# TYPE civitas_mqtt_messages_total counter\ncivitas_mqtt_messages_total " +
         std::to_string(s.messages) + "\n";
  out += "# TYPE civitas_mqtt_bad_topics_total counter\ncivitas_mqtt_bad_topics_total " +
         std::to_string(s.bad_topics) + "\n";
  out += "# TYPE civitas_mqtt_oversized_total counter\ncivitas_mqtt_oversized_total " +
         std::to_string(s.oversized) + "\n";
}

}  // namespace civitas::ingest
