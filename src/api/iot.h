#pragma once

#include <string_view>

#include "api/metrics.h"
#include "http/http.h"
#include "ingest/ingestor.h"

namespace civitas::api {

// The FIWARE IoT Agent API beside the NGSI-LD API, as its own http::Handler for paths under
// /iot/ (the server sends those here and everything else to the Broker):
//   /iot/services          GET, POST, PUT, DELETE   service groups (?resource=&apikey=)
//   /iot/devices           GET, POST                devices
//   /iot/devices/{id}      GET, PUT, DELETE
//   /iot/json?k=&i=        POST                     JSON measures
//   /iot/d?k=&i=           POST (body), GET (&d=)   Ultralight 2.0 measures
//   /iot/about             GET
// Bodies, status codes and errors ({"name": "...", "message": "..."}) follow the IoT Agents.
// The fiware-service header is the NGSI-LD tenant ("" when absent) and fiware-servicepath the
// subservice ("/" when absent). A measure is answered once it is durable.
class IotApi {
 public:
  // metrics: the Broker's, so that /metrics shows these routes too (routes are added here, at
  // start-up).
  IotApi(ingest::Ingestor& ingestor, Metrics& metrics, size_t max_json_depth = 64);

  static bool Owns(std::string_view path) { return path.substr(0, 5) == "/iot/"; }

  void Handle(http::Request&& request, http::Responder respond);

 private:
  ingest::Ingestor& ingestor_;
  Metrics& metrics_;
  size_t max_json_depth_;
  int metric_services_, metric_devices_, metric_device_, metric_measures_, metric_other_;
};

}  // namespace civitas::api
