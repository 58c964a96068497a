#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace civitas::subscription {

// An MQTT endpoint of a subscription: mqtt[s]://[user[:password]@]host[:port]/topic.
struct MqttEndpoint {
  bool tls = false;
  std::string host;
  int port = 1883;
  std::string user, password;
  std::string topic;
  std::string ca_file;  // mqtts: trusted CAs (PEM); empty: the system's (/etc/ssl/certs)
};
Result<MqttEndpoint> ParseMqttUri(std::string_view uri);

// Publishes notifications to MQTT brokers (libmosquitto), keeping one connection per broker and
// credentials. Blocking, with a timeout; not thread-safe: one per sender thread.
class MqttPublisher {
 public:
  MqttPublisher();
  ~MqttPublisher();
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // version: "mqtt3.1.1" (default) or "mqtt5.0"; qos 0, 1 or 2. Returns once the broker has
  // the message (QoS 1/2: acknowledged; QoS 0: written to the socket).
  Status Publish(const MqttEndpoint& endpoint, std::string_view version, int qos,
                 std::string_view payload, int timeout_ms);

 private:
  struct Connection;
  std::map<std::string, std::unique_ptr<Connection>> connections_;
};

}  // namespace civitas::subscription
