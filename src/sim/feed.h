#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

struct mosquitto;

namespace civitas::sim {

// What `civitas simulate` and `civitas replay` share: a minimal HTTP client for provisioning, and
// a sink that delivers JSON measures to a running Civitas over MQTT (QoS 1) or HTTP /iot/json.

// The options `civitas simulate` and `civitas replay` share, where the measures go: when `name`
// is --civitas, --mqtt or --service, stores `value` and returns true with *st (InvalidRequest
// for a bad value); else returns false.
bool ParseTargetOption(const std::string& name, const std::string& value, std::string* civitas,
                       std::string* mqtt, std::string* service, Status* st);

// One entry of a service group's or device's `attributes` (IoT Agent provisioning): the measure
// `object_id` becomes attribute `name` of this `type`, with a unitCode when `unit` is given.
Json AttributeMapping(std::string_view object_id, std::string_view name, std::string_view type,
                      std::string_view unit = "");

// A minimal blocking HTTP/1.1 client on one keep-alive connection: enough to provision and to
// post measures to Civitas. Not a general client (no TLS, no chunked responses).
class Http {
 public:
  explicit Http(std::string base);  // http://host:port
  ~Http();
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // The status of the answer, or -1 (with *error) if there was none.
  int Post(const std::string& target, const std::vector<std::string>& headers,
           const std::string& body, std::string* error);

 private:
  bool Connect(std::string* error);
  void Close();
  int ReadStatus();
  bool Fill();

  std::string host_, port_;
  int fd_ = -1;
  std::string buf_;
};

// Posts service groups ({"services": [...]}) and then devices ({"devices": [...]}, in the bodies
// given) for the tenant `service`. Groups and devices that exist already (409) are kept: a
// batch with a 409 is provisioned again one device at a time.
Status Provision(Http& http, const std::string& service, const Json& groups,
                 const std::vector<Json>& device_batches);

// Where measures go: MQTT topic /json/<apikey>/<device>/attrs at QoS 1 when mqtt_url is set,
// else POST /iot/json?k=<apikey>&i=<device> to Civitas.
class MeasureSink {
 public:
  MeasureSink(Http& http, std::string mqtt_url) : http_(http), mqtt_url_(std::move(mqtt_url)) {}
  ~MeasureSink();
  MeasureSink(const MeasureSink&) = delete;
  MeasureSink& operator=(const MeasureSink&) = delete;

  Status Open();  // connects to the MQTT broker if there is one
  bool Send(const std::string& apikey, const std::string& device, const std::string& payload);
  // Waits (up to `seconds`) until the broker has acknowledged every MQTT message sent; false if
  // some are still unacknowledged. The destructor flushes for up to 30 s.
  bool Flush(double seconds);

 private:
  std::atomic<int64_t> unacked_{0};
  Http& http_;
  std::string mqtt_url_;
  struct mosquitto* mqtt_ = nullptr;
};

}  // namespace civitas::sim
