#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace civitas::server {

// Settings of `civitas serve`. Each comes from a flag, else from its environment variable,
// else from its default (see Usage()).
struct Config {
  std::string bind = "0.0.0.0";
  int port = 1026;
  int threads = 0;  // 0: one per core
  std::string data_dir = "civitas-data";
  size_t max_body_bytes = 1 << 20;
  size_t max_target_bytes = 128 << 10;
  size_t max_json_depth = 64;
  size_t temporal_max_instances = 1000;  // per entity in one temporal response
  std::string temporal_retention;  // ISO 8601 duration; empty: keep history forever
  std::vector<std::pair<std::string, std::string>> temporal_retention_by_type;  // type, duration
  int context_timeout_ms = 5000;
  bool sync = true;
  std::string tls_ca_file;             // extra trusted CAs for https clients
  int notification_max_failures = 20;  // then a subscription's status is "failed"
  std::string log_level = "info";
  std::string demo_dir;  // load the demo city from here at start (if not loaded yet)
  std::string web_dir;   // the dashboard's files; "" means web/dist if present, "off" none
  std::vector<std::pair<std::string, std::string>> context_preloads;  // URL, file
  // Device ingestion over MQTT: off when mqtt_url is empty.
  std::string mqtt_url;  // mqtt://[user:pass@]host[:port] or mqtts://...
  std::string mqtt_username, mqtt_password;  // override the URL's
  std::string mqtt_ca;                       // CA file; implies TLS
  std::string mqtt_cert, mqtt_key;           // client certificate
  std::string mqtt_client_id = "civitas";
  int mqtt_qos = 1;
};

std::string Usage();

// Parses `serve` arguments (argv after the command) over the environment. Errors are
// InvalidRequest with a message for the user.
Result<Config> ParseConfig(const std::vector<std::string>& args);

}  // namespace civitas::server
