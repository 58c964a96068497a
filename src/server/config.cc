#include "server/config.h"

#include <cstdlib>
#include <string_view>

#include "ingest/mqtt_source.h"

namespace civitas::server {
namespace {

bool ParseInt(std::string_view s, long long min, long long max, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::string copy(s);
  long long v = std::strtoll(copy.c_str(), &end, 10);
  if (*end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

// Applies one setting by its flag name (without dashes).
Status Apply(Config& c, std::string_view name, std::string_view value) {
  long long n = 0;
  auto bad = [&](std::string_view why) {
    return Status::InvalidRequest("--" + std::string(name) + ": " + std::string(why));
  };
  if (name == "port") {
    if (!ParseInt(value, 0, 65535, &n)) return bad("expected a port number");
    c.port = static_cast<int>(n);
  } else if (name == "bind") {
    c.bind = std::string(value);
  } else if (name == "threads") {
    if (!ParseInt(value, 0, 256, &n)) return bad("expected 0..256");
    c.threads = static_cast<int>(n);
  } else if (name == "data") {
    if (value.empty()) return bad("expected a directory");
    c.data_dir = std::string(value);
  } else if (name == "max-body") {
    if (!ParseInt(value, 1024, 1LL << 30, &n)) return bad("expected bytes (1024..1 GiB)");
    c.max_body_bytes = static_cast<size_t>(n);
  } else if (name == "max-url") {
    if (!ParseInt(value, 1024, 16LL << 20, &n)) return bad("expected bytes (1024..16 MiB)");
    c.max_target_bytes = static_cast<size_t>(n);
  } else if (name == "max-json-depth") {
    if (!ParseInt(value, 4, 1024, &n)) return bad("expected 4..1024");
    c.max_json_depth = static_cast<size_t>(n);
  } else if (name == "temporal-max-instances") {
    if (!ParseInt(value, 1, 1000000, &n)) return bad("expected 1..1000000");
    c.temporal_max_instances = static_cast<size_t>(n);
  } else if (name == "temporal-retention") {
    if (value.empty() || value[0] != 'P') return bad("expected an ISO 8601 duration (P30D)");
    c.temporal_retention = std::string(value);
  } else if (name == "temporal-retention-type") {
    size_t eq = value.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == value.size() || value[eq + 1] != 'P') {
      return bad("expected TYPE=DURATION (Vehicle=P7D)");
    }
    c.temporal_retention_by_type.emplace_back(std::string(value.substr(0, eq)),
                                              std::string(value.substr(eq + 1)));
  } else if (name == "context-timeout-ms") {
    if (!ParseInt(value, 1, 600000, &n)) return bad("expected milliseconds");
    c.context_timeout_ms = static_cast<int>(n);
  } else if (name == "tls-ca-file") {
    if (value.empty()) return bad("expected a PEM file");
    c.tls_ca_file = std::string(value);
  } else if (name == "notification-max-failures") {
    if (!ParseInt(value, 0, 1000000, &n)) return bad("expected 0..1000000");
    c.notification_max_failures = static_cast<int>(n);
  } else if (name == "fsync") {
    if (value != "on" && value != "off") return bad("expected on or off");
    c.sync = value == "on";
  } else if (name == "log-level") {
    if (value != "debug" && value != "info" && value != "warn" && value != "error") {
      return bad("expected debug, info, warn or error");
    }
    c.log_level = std::string(value);
  } else if (name == "demo") {
    c.demo_dir = std::string(value);
  } else if (name == "web") {
    c.web_dir = std::string(value);
  } else if (name == "context-preload") {
    size_t eq = value.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == value.size()) {
      return bad("expected URL=FILE");
    }
    c.context_preloads.emplace_back(std::string(value.substr(0, eq)),
                                    std::string(value.substr(eq + 1)));
  } else if (name == "mqtt") {
    if (auto o = ingest::ParseMqttUrl(value); !o.ok()) return bad(o.status().detail());
    c.mqtt_url = std::string(value);
  } else if (name == "mqtt-username") {
    c.mqtt_username = std::string(value);
  } else if (name == "mqtt-password") {
    c.mqtt_password = std::string(value);
  } else if (name == "mqtt-ca") {
    c.mqtt_ca = std::string(value);
  } else if (name == "mqtt-cert") {
    c.mqtt_cert = std::string(value);
  } else if (name == "mqtt-key") {
    c.mqtt_key = std::string(value);
  } else if (name == "mqtt-client-id") {
    if (value.empty() || value.size() > 23 * 8) return bad("expected a client id");
    c.mqtt_client_id = std::string(value);
  } else if (name == "mqtt-qos") {
    if (value != "0" && value != "1") return bad("expected 0 or 1");
    c.mqtt_qos = value == "1" ? 1 : 0;
  } else {
    return Status::InvalidRequest("unknown option --" + std::string(name));
  }
  return Status::Ok();
}

struct EnvVar {
  const char* env;
  const char* flag;
};
constexpr EnvVar kEnv[] = {
    {"CIVITAS_PORT", "port"},
    {"CIVITAS_BIND", "bind"},
    {"CIVITAS_THREADS", "threads"},
    {"CIVITAS_DATA", "data"},
    {"CIVITAS_MAX_BODY", "max-body"},
    {"CIVITAS_TEMPORAL_MAX_INSTANCES", "temporal-max-instances"},
    {"CIVITAS_TEMPORAL_RETENTION", "temporal-retention"},
    {"CIVITAS_MAX_URL", "max-url"},
    {"CIVITAS_MAX_JSON_DEPTH", "max-json-depth"},
    {"CIVITAS_CONTEXT_TIMEOUT_MS", "context-timeout-ms"},
    {"CIVITAS_FSYNC", "fsync"},
    {"CIVITAS_TLS_CA_FILE", "tls-ca-file"},
    {"CIVITAS_NOTIFICATION_MAX_FAILURES", "notification-max-failures"},
    {"CIVITAS_LOG_LEVEL", "log-level"},
    {"CIVITAS_DEMO", "demo"},
    {"CIVITAS_WEB", "web"},
    {"CIVITAS_MQTT", "mqtt"},
    {"CIVITAS_MQTT_USERNAME", "mqtt-username"},
    {"CIVITAS_MQTT_PASSWORD", "mqtt-password"},
    {"CIVITAS_MQTT_CA", "mqtt-ca"},
    {"CIVITAS_MQTT_CERT", "mqtt-cert"},
    {"CIVITAS_MQTT_KEY", "mqtt-key"},
    {"CIVITAS_MQTT_CLIENT_ID", "mqtt-client-id"},
    {"CIVITAS_MQTT_QOS", "mqtt-qos"},
};

}  // namespace

std::string Usage() {
  return R"(civitas - an NGSI-LD context broker with a built-in temporal store

Usage:
  civitas serve [options]     run the broker
  civitas simulate [options]  feed a running Civitas with a simulated sensor fleet
                              (civitas simulate --help)
  civitas replay [options]    feed a running Civitas with the real Aarhus and Aberdeen data
                              (civitas replay --help)
  civitas version             print the version
  civitas --help              this text

Options of serve (environment variable in brackets):
  --port N                 listen port, default 1026 [CIVITAS_PORT]
  --bind ADDR              listen address, default 0.0.0.0 [CIVITAS_BIND]
  --threads N              HTTP I/O threads, default one per core [CIVITAS_THREADS]
  --data DIR               data directory, default ./civitas-data [CIVITAS_DATA]
  --max-body BYTES         largest request body, default 1048576 [CIVITAS_MAX_BODY]
  --max-url BYTES          longest request target, default 131072 [CIVITAS_MAX_URL]
  --max-json-depth N       deepest JSON nesting accepted, default 64 [CIVITAS_MAX_JSON_DEPTH]
  --temporal-max-instances N  attribute instances per entity in one temporal response (more:
                           206 and Content-Range), default 1000 [CIVITAS_TEMPORAL_MAX_INSTANCES]
  --temporal-retention DURATION  drop history older than this (ISO 8601, e.g. P90D), whole
                           chunks at a time, on the next write to a series and by a sweep
                           every minute; default: keep everything [CIVITAS_TEMPORAL_RETENTION]
  --temporal-retention-type TYPE=DURATION  the same for entities of one type (a full IRI, or a
                           name of the default vocabulary); repeatable
  --context-timeout-ms MS  timeout for fetching a remote @context, default 5000
                           [CIVITAS_CONTEXT_TIMEOUT_MS]
  --context-preload URL=FILE
                           serve the @context at URL from FILE, never fetching it
                           (repeatable; CIVITAS_CONTEXT_PRELOAD=URL=FILE,URL=FILE)
  --tls-ca-file FILE       trust these CA certificates (PEM) for https and mqtts
                           notification endpoints and @context URLs (https: besides the
                           system's) [CIVITAS_TLS_CA_FILE]
  --notification-max-failures N
                           consecutive failed notifications (each retried with back-off)
                           before a subscription's status becomes "failed"; 0: never,
                           default 20 [CIVITAS_NOTIFICATION_MAX_FAILURES]
  --fsync on|off           fsync every group commit, default on; off loses the last
                           writes on power loss [CIVITAS_FSYNC]
  --log-level LEVEL        debug, info, warn or error, default info [CIVITAS_LOG_LEVEL]
  --demo DIR               load the demo city from DIR at start, once [CIVITAS_DEMO]
  --web DIR                serve the dashboard's files from DIR at /, default web/dist
                           when it exists; "off" serves none [CIVITAS_WEB]

Device ingestion (the IoT Agent API is always served under /iot/):
  --mqtt URL               take device measures from this MQTT broker:
                           mqtt://[user:pass@]host[:port] or mqtts://... [CIVITAS_MQTT]
  --mqtt-username NAME     [CIVITAS_MQTT_USERNAME]
  --mqtt-password SECRET   prefer the environment variable [CIVITAS_MQTT_PASSWORD]
  --mqtt-ca FILE           CA certificates (PEM) to verify the broker; turns on TLS
                           [CIVITAS_MQTT_CA]
  --mqtt-cert FILE, --mqtt-key FILE
                           client certificate and key [CIVITAS_MQTT_CERT, CIVITAS_MQTT_KEY]
  --mqtt-client-id ID      fixed id of the persistent session, default civitas
                           [CIVITAS_MQTT_CLIENT_ID]
  --mqtt-qos 0|1           QoS of the subscriptions, default 1 [CIVITAS_MQTT_QOS]

Logs are structured lines on stderr. SIGTERM or SIGINT shuts down cleanly.
)";
}

Result<Config> ParseConfig(const std::vector<std::string>& args) {
  Config c;
  for (const auto& e : kEnv) {
    if (const char* v = std::getenv(e.env); v != nullptr && *v != '\0') {
      Status st = Apply(c, e.flag, v);
      if (!st.ok()) return Status::InvalidRequest(std::string(e.env) + ": " + st.detail());
    }
  }
  if (const char* v = std::getenv("CIVITAS_CONTEXT_PRELOAD"); v != nullptr && *v != '\0') {
    std::string_view all(v);
    while (!all.empty()) {
      size_t comma = all.find(',');
      CIVITAS_RETURN_IF_ERROR(Apply(c, "context-preload", all.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      all.remove_prefix(comma + 1);
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a.substr(0, 2) != "--") return Status::InvalidRequest("unexpected argument " + args[i]);
    a.remove_prefix(2);
    std::string_view name = a;
    std::string value;
    size_t eq = a.find('=');
    if (eq != std::string_view::npos && a.substr(0, eq) != "context-preload") {
      name = a.substr(0, eq);
      value = std::string(a.substr(eq + 1));
    } else if (a.substr(0, 16) == "context-preload=") {
      name = "context-preload";
      value = std::string(a.substr(16));
    } else {
      if (i + 1 >= args.size()) {
        return Status::InvalidRequest("--" + std::string(name) + " needs a value");
      }
      value = args[++i];
    }
    CIVITAS_RETURN_IF_ERROR(Apply(c, name, value));
  }
  return c;
}

}  // namespace civitas::server
