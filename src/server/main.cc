#include <pthread.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/broker.h"
#include "api/iot.h"
#include "common/log.h"
#include "http/http.h"
#include "ingest/ingestor.h"
#include "ingest/mqtt_source.h"
#include "ingest/registry.h"
#include "jsonld/context.h"
#include "server/config.h"
#include "server/demo.h"
#include "server/static_files.h"
#include "sim/replay.h"
#include "sim/simulate.h"
#include "storage/backend.h"
#include "storage/entity_store.h"
#include "subscription/manager.h"
#include "temporal/retention_sweeper.h"
#include "temporal/temporal_store.h"

#ifndef CIVITAS_VERSION
#define CIVITAS_VERSION "0.0.0"
#endif

namespace civitas::server {
namespace {

constexpr std::string_view kContextMetaPrefix = "context/";

int Serve(const Config& config) {
  LogLevel level;
  if (ParseLogLevel(config.log_level, &level)) SetLogLevel(level);

  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto backend = storage::OpenRocksDb({config.data_dir + "/store"});
  if (!backend.ok()) {
    Log(LogLevel::kError, "cannot open the store", {{"error", backend.status().detail()}});
    return 1;
  }
  // The temporal store reads its history before the entity store takes the backend, then
  // records every change as a listener.
  temporal::TemporalStore::Options history_options;
  auto duration = [](const std::string& text) -> Result<temporal::Duration> {
    return temporal::ParseDuration(text);
  };
  if (!config.temporal_retention.empty()) {
    auto d = duration(config.temporal_retention);
    if (!d.ok()) {
      Log(LogLevel::kError, "bad --temporal-retention", {{"error", d.status().detail()}});
      return 1;
    }
    history_options.retention = *d;
  }
  for (const auto& [type, text] : config.temporal_retention_by_type) {
    auto d = duration(text);
    if (!d.ok()) {
      Log(LogLevel::kError, "bad --temporal-retention-type", {{"error", d.status().detail()}});
      return 1;
    }
    // Types are stored expanded; a bare name is one of the default vocabulary.
    std::string iri = type.find(':') == std::string::npos
                          ? "https://uri.etsi.org/ngsi-ld/default-context/" + type
                          : type;
    history_options.retention_by_type[iri] = *d;
  }
  temporal::TemporalStore history(history_options);
  if (Status st = history.Load(**backend); !st.ok()) {
    Log(LogLevel::kError, "cannot load the temporal store", {{"error", st.detail()}});
    return 1;
  }
  storage::EntityStore::Options store_options;
  store_options.sync = config.sync;
  storage::GeoIndex geo_index;  // declared before the store, which updates it until destroyed
  storage::QueryIndex query_index;  // likewise
  auto store = storage::EntityStore::Open(std::move(*backend), store_options);
  if (!store.ok()) {
    Log(LogLevel::kError, "cannot load the store", {{"error", store.status().detail()}});
    return 1;
  }
  storage::EntityStore& entities = **store;
  // Before anything is written (the demo city).
  entities.AddIndex(&geo_index);
  entities.AddIndex(&query_index);
  entities.AddListener(&history);
  // Retention also reaches series that are no longer written: a sweep every minute.
  std::unique_ptr<temporal::RetentionSweeper> sweeper;
  if (!history_options.retention.zero() || !history_options.retention_by_type.empty()) {
    sweeper = std::make_unique<temporal::RetentionSweeper>(&history, &entities,
                                                           std::chrono::minutes(1));
  }

  jsonld::ContextFetcher fetcher =
      [timeout = config.context_timeout_ms](const std::string& url) -> Result<std::string> {
    std::string body, error;
    int status = http::FetchUrl(url, timeout, 1 << 20, &body, &error);
    if (status < 0) return Status(ErrorCode::kLdContextNotAvailable, url + ": " + error);
    if (status != 200) {
      return Status(ErrorCode::kLdContextNotAvailable,
                    url + ": HTTP status " + std::to_string(status));
    }
    return body;
  };
  jsonld::ContextPersistence persistence{
      [&entities](const std::string& id, const std::string& record) {
        return entities.PutMeta(std::string(kContextMetaPrefix) + id, record);
      },
      [&entities](const std::string& id) {
        return entities.DeleteMeta(std::string(kContextMetaPrefix) + id);
      }};
  jsonld::ContextRegistry contexts({}, fetcher, persistence);
  Status restored = entities.ScanMeta(kContextMetaPrefix, [&](std::string_view key,
                                                              std::string_view value) {
    return contexts.Restore(std::string(key.substr(kContextMetaPrefix.size())), std::string(value));
  });
  if (!restored.ok()) {
    Log(LogLevel::kError, "cannot restore hosted contexts", {{"error", restored.detail()}});
    return 1;
  }
  for (const auto& [url, file] : config.context_preloads) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    Status st = in ? contexts.Preload(url, ss.str()) : Status::NotFound("cannot read " + file);
    if (!st.ok()) {
      Log(LogLevel::kError, "cannot preload context", {{"url", url}, {"error", st.detail()}});
      return 1;
    }
  }

  // Subscriptions listen to the change stream from the first write on (the demo city's too).
  if (!config.tls_ca_file.empty()) http::SetTlsCaFile(config.tls_ca_file);
  subscription::Manager::Options subscription_options;
  subscription_options.max_consecutive_failures = config.notification_max_failures;
  subscription_options.tls_ca_file = config.tls_ca_file;
  subscription::Manager subscriptions(entities, subscription_options);
  entities.AddListener(&subscriptions);
  if (Status st = subscriptions.Load(
          [&contexts](const std::string& url) { return contexts.Resolve(Json(url)); });
      !st.ok()) {
    Log(LogLevel::kError, "cannot load subscriptions", {{"error", st.detail()}});
    return 1;
  }
  subscriptions.Start();

  if (!config.demo_dir.empty()) {
    auto n = LoadDemo(config.demo_dir, entities, *contexts.Core());
    if (!n.ok()) {
      Log(LogLevel::kError, "cannot load the demo city", {{"error", n.status().detail()}});
      return 1;
    }
    Log(LogLevel::kInfo, "demo city loaded", {{"created", std::to_string(*n)}});
  }

  // Device ingestion: provisioning restored from the store's meta records.
  ingest::Registry registry(ingest::RegistryPersistence{
      [&entities](const std::string& k, const std::string& v) { return entities.PutMeta(k, v); },
      [&entities](const std::string& k) { return entities.DeleteMeta(k); },
      [&entities](const std::vector<std::pair<std::string, std::string>>& records) {
        return entities.PutMetas(records);
      }});
  restored = entities.ScanMeta(ingest::Registry::kMetaPrefix,
                               [&registry](std::string_view key, std::string_view value) {
                                 return registry.Restore(key, value);
                               });
  if (!restored.ok()) {
    Log(LogLevel::kError, "cannot restore device provisioning", {{"error", restored.detail()}});
    return 1;
  }
  ingest::Ingestor ingestor(registry, entities, contexts.Core());

  api::Broker::Options broker_options;
  broker_options.version = CIVITAS_VERSION;
  broker_options.max_json_depth = config.max_json_depth;
  broker_options.subscriptions = &subscriptions;
  broker_options.geo_index = &geo_index;
  broker_options.query_index = &query_index;
  broker_options.temporal = &history;
  broker_options.temporal_max_instances = config.temporal_max_instances;
  api::Broker broker(entities, contexts, broker_options);
  api::IotApi iot(ingestor, broker.metrics(), config.max_json_depth);
  http::ServerOptions http_options;
  http_options.bind = config.bind;
  http_options.port = static_cast<uint16_t>(config.port);
  http_options.threads = config.threads;
  http_options.max_body_bytes = config.max_body_bytes;
  http_options.max_target_bytes = config.max_target_bytes;
  // The dashboard (web/dist, built by ./dev demo) at /, beside the API.
  std::string web_dir = config.web_dir;
  if (web_dir.empty() && std::ifstream("web/dist/index.html")) web_dir = "web/dist";
  if (web_dir == "off") web_dir.clear();
  std::unique_ptr<StaticFiles> web;
  if (!web_dir.empty()) web = std::make_unique<StaticFiles>(web_dir);
  http::Server server(http_options,
                      [&broker, &iot, &web](http::Request&& req, http::Responder respond) {
                        if (web && StaticFiles::Owns(req.path)) {
                          respond(web->Serve(req));
                        } else if (api::IotApi::Owns(req.path)) {
                          iot.Handle(std::move(req), std::move(respond));
                        } else {
                          broker.Handle(std::move(req), std::move(respond));
                        }
                      });
  std::unique_ptr<ingest::MqttSource> mqtt;
  if (!config.mqtt_url.empty()) {
    auto options = ingest::ParseMqttUrl(config.mqtt_url);
    if (!options.ok()) {
      Log(LogLevel::kError, "bad MQTT URL", {{"error", options.status().detail()}});
      return 1;
    }
    if (!config.mqtt_username.empty()) options->username = config.mqtt_username;
    if (!config.mqtt_password.empty()) options->password = config.mqtt_password;
    options->ca_file = config.mqtt_ca;
    options->cert_file = config.mqtt_cert;
    options->key_file = config.mqtt_key;
    options->client_id = config.mqtt_client_id;
    options->qos = config.mqtt_qos;
    mqtt = std::make_unique<ingest::MqttSource>(ingestor, *options);
    if (Status st = mqtt->Start(); !st.ok()) {
      Log(LogLevel::kError, "cannot start MQTT ingestion", {{"error", st.detail()}});
      return 1;
    }
  }
  broker.SetMetricsHook([&server, &subscriptions, &ingestor, &mqtt](std::string& out) {
    ingestor.Render(out);
    if (mqtt) mqtt->Render(out);
    auto n = subscriptions.stats();
    auto metric = [&out](const char* type, const char* name, uint64_t value) {
      out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
      out.append(name).append(" ").append(std::to_string(value)).append("\n");
    };
    metric("gauge", "civitas_subscriptions", n.subscriptions);
    metric("counter", "civitas_notification_events_total", n.events);
    metric("counter", "civitas_notifications_sent_total", n.notifications);
    metric("counter", "civitas_notification_failures_total", n.failures);
    metric("counter", "civitas_notification_matching_stalls_total", n.stalls);
    metric("counter", "civitas_notification_coalesced_total", n.coalesced);
    auto s = server.stats();
    out +=
        "# TYPE civitas_http_connections_accepted_total counter\n"
        "civitas_http_connections_accepted_total " +
        std::to_string(s.connections_accepted) + "\n";
    out += "# TYPE civitas_http_connections_open gauge\ncivitas_http_connections_open " +
           std::to_string(s.connections_open) + "\n";
    out +=
        "# TYPE civitas_http_protocol_errors_total counter\n"
        "civitas_http_protocol_errors_total " +
        std::to_string(s.protocol_errors) + "\n";
  });
  std::string error;
  if (!server.Start(&error)) {
    Log(LogLevel::kError, "cannot listen", {{"error", error}});
    return 1;
  }
  Log(LogLevel::kInfo, "civitas listening",
      {{"bind", config.bind},
       {"port", std::to_string(server.port())},
       {"data", config.data_dir},
       {"web", web_dir.empty() ? "off" : web_dir},
       {"version", CIVITAS_VERSION}});

  int sig = 0;
  sigwait(&signals, &sig);
  Log(LogLevel::kInfo, "shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  // MQTT first: Stop waits until every message it took is durable, while the store is open.
  if (mqtt) mqtt->Stop();
  server.Stop(5000);
  subscriptions.Stop();
  if (sweeper) sweeper->Stop();
  entities.Close();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace civitas::server

int main(int argc, char** argv) {
  using civitas::server::Usage;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << Usage();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "civitas " << CIVITAS_VERSION << "\n";
    return 0;
  }
  if (args[0] == "serve") {
    args.erase(args.begin());
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << Usage();
        return 0;
      }
    }
    auto config = civitas::server::ParseConfig(args);
    if (!config.ok()) {
      std::cerr << "civitas: " << config.status().detail() << "\n\n" << Usage();
      return 2;
    }
    return civitas::server::Serve(*config);
  }
  if (args[0] == "simulate") {
    args.erase(args.begin());
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << civitas::sim::SimUsage();
        return 0;
      }
    }
    auto options = civitas::sim::ParseSimOptions(args);
    if (!options.ok()) {
      std::cerr << "civitas simulate: " << options.status().detail() << "\n\n"
                << civitas::sim::SimUsage();
      return 2;
    }
    return civitas::sim::RunSimulation(*options);
  }
  if (args[0] == "replay") {
    args.erase(args.begin());
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << civitas::sim::ReplayUsage();
        return 0;
      }
    }
    auto options = civitas::sim::ParseReplayOptions(args);
    if (!options.ok()) {
      std::cerr << "civitas replay: " << options.status().detail() << "\n\n"
                << civitas::sim::ReplayUsage();
      return 2;
    }
    return civitas::sim::RunReplay(*options);
  }
  std::cerr << "civitas: unknown command '" << args[0] << "'\n\n" << Usage();
  return 2;
}
