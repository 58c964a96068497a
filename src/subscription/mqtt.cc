#include "subscription/mqtt.h"

#include <mosquitto.h>

#include <chrono>
#include <mutex>

#include "http/http.h"

namespace civitas::subscription {
namespace {

void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

}  // namespace

Result<MqttEndpoint> ParseMqttUri(std::string_view uri) {
  MqttEndpoint e;
  if (uri.starts_with("mqtts://")) {
    e.tls = true;
    e.port = 8883;
    uri.remove_prefix(8);
  } else if (uri.starts_with("mqtt://")) {
    uri.remove_prefix(7);
  } else {
    return Status::BadRequest("not an mqtt:// or mqtts:// URI");
  }
  size_t slash = uri.find('/');
  std::string_view authority = uri.substr(0, slash);
  std::string_view topic = slash == std::string_view::npos ? "" : uri.substr(slash + 1);
  if (topic.empty()) return Status::BadRequest("an MQTT endpoint needs a topic: mqtt://host/topic");
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    std::string user(userinfo.substr(0, colon)), password;
    if (colon != std::string_view::npos) password = std::string(userinfo.substr(colon + 1));
    if (!http::PercentDecode(user, &e.user, false) ||
        !http::PercentDecode(password, &e.password, false)) {
      return Status::BadRequest("malformed user information in the MQTT endpoint");
    }
  }
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    int p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return Status::BadRequest("malformed MQTT port");
      p = p * 10 + (c - '0');
    }
    if (port.empty() || p == 0 || p > 65535) return Status::BadRequest("malformed MQTT port");
    e.port = p;
    authority = authority.substr(0, colon);
  }
  if (authority.starts_with('[') && authority.ends_with(']')) {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return Status::BadRequest("an MQTT endpoint needs a host");
  e.host = std::string(authority);
  e.topic = std::string(topic);
  return e;
}

struct MqttPublisher::Connection {
  mosquitto* mosq = nullptr;
  bool connected = false;
  int acked_mid = -1;  // last message id acknowledged (on_publish)
  ~Connection() {
    if (mosq != nullptr) {
      if (connected) mosquitto_disconnect(mosq);
      mosquitto_destroy(mosq);
    }
  }
};

MqttPublisher::MqttPublisher() { InitLibrary(); }
MqttPublisher::~MqttPublisher() = default;

Status MqttPublisher::Publish(const MqttEndpoint& e, std::string_view version, int qos,
                              std::string_view payload, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const bool v5 = version == "mqtt5.0";
  std::string key = (e.tls ? "s|" + e.ca_file + "|" : "|") + e.host + "|" + std::to_string(e.port) +
                    "|" + e.user + "|" + e.password + "|" + (v5 ? "5" : "3");
  auto& conn = connections_[key];
  if (conn && !conn->connected) conn.reset();
  // A kept connection may have died since (broker restarted): find out before publishing, so
  // the notification goes out on a new connection instead of failing once per sender thread.
  if (conn && mosquitto_loop(conn->mosq, 0, 1) != MOSQ_ERR_SUCCESS) conn.reset();
  bool fresh = false;
  if (!conn) {
    fresh = true;
    if (connections_.size() > 64) {
      connections_.clear();
      return Publish(e, version, qos, payload, timeout_ms);
    }
    conn = std::make_unique<Connection>();
    conn->mosq = mosquitto_new(nullptr, true, conn.get());
    if (conn->mosq == nullptr) {
      connections_.erase(key);
      return Status::Internal("cannot create an MQTT client");
    }
    mosquitto_int_option(conn->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (!e.user.empty()) {
      mosquitto_username_pw_set(conn->mosq, e.user.c_str(),
                                e.password.empty() ? nullptr : e.password.c_str());
    }
    if (e.tls) {
      mosquitto_tls_set(conn->mosq, e.ca_file.empty() ? nullptr : e.ca_file.c_str(),
                        e.ca_file.empty() ? "/etc/ssl/certs" : nullptr, nullptr, nullptr, nullptr);
    }
    mosquitto_publish_callback_set(conn->mosq, [](mosquitto*, void* self, int mid) {
      static_cast<Connection*>(self)->acked_mid = mid;
    });
    mosquitto_connect_callback_set(conn->mosq, [](mosquitto*, void* self, int rc) {
      static_cast<Connection*>(self)->connected = rc == 0;
    });
    int rc = mosquitto_connect(conn->mosq, e.host.c_str(), e.port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
      std::string why = mosquitto_strerror(rc);
      connections_.erase(key);
      return Status(ErrorCode::kServiceUnavailable,
                    "cannot connect to MQTT broker " + e.host + ": " + why);
    }
    // Wait for CONNACK.
    while (!conn->connected && Clock::now() < deadline) {
      rc = mosquitto_loop(conn->mosq, 50, 1);
      if (rc != MOSQ_ERR_SUCCESS) break;
    }
    if (!conn->connected) {
      connections_.erase(key);
      return Status(ErrorCode::kServiceUnavailable,
                    "MQTT broker " + e.host + " did not accept the connection");
    }
  }
  const bool reused = !fresh;
  int mid = 0;
  int rc = mosquitto_publish(conn->mosq, &mid, e.topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    connections_.erase(key);
    return Status(ErrorCode::kServiceUnavailable,
                  std::string("MQTT publish failed: ") + mosquitto_strerror(rc));
  }
  while (Clock::now() < deadline) {
    bool done = qos == 0 ? !mosquitto_want_write(conn->mosq) : conn->acked_mid == mid;
    if (done) return Status::Ok();
    rc = mosquitto_loop(conn->mosq, 20, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      connections_.erase(key);
      if (reused && Clock::now() < deadline) {
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        return Publish(e, version, qos, payload, std::max(left, 1));  // once, on a new one
      }
      return Status(ErrorCode::kServiceUnavailable,
                    std::string("MQTT connection lost: ") + mosquitto_strerror(rc));
    }
  }
  connections_.erase(key);
  return Status(ErrorCode::kServiceUnavailable, "MQTT publish timed out");
}

}  // namespace civitas::subscription
