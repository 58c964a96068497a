#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "api/broker.h"
#include "api/iot.h"
#include "http/http.h"
#include "jsonld/context.h"
#include "storage/entity_store.h"
#include "storage/geo_index.h"
#include "storage/query_index.h"
#include "subscription/manager.h"
#include "temporal/temporal_store.h"

namespace civitas::testing {

// A complete broker in this process, as `civitas serve` wires it, on a free loopback port with
// its own data directory, plus a static file server for remote @context documents.
class BrokerFixture {
 public:
  // contexts_dir: files served at http://127.0.0.1:<context_port>/<name>.
  explicit BrokerFixture(std::string contexts_dir);
  ~BrokerFixture();

  // Starts (or restarts, keeping the data directory) the broker.
  void Start();
  void Stop();

  // Broker settings, applied by the next Start().
  void set_temporal_max_instances(size_t n) { temporal_max_instances_ = n; }

  uint16_t port() const { return server_ ? server_->port() : 0; }
  std::string context_base() const;
  const std::filesystem::path& data_dir() const { return dir_; }

 private:
  std::string contexts_dir_;
  size_t temporal_max_instances_ = api::Broker::Options{}.temporal_max_instances;
  std::filesystem::path dir_;
  std::unique_ptr<http::Server> context_server_;
  std::unique_ptr<storage::GeoIndex> geo_index_;  // outlives store_, which updates it
  std::unique_ptr<storage::QueryIndex> query_index_;  // likewise
  std::unique_ptr<temporal::TemporalStore> temporal_;  // outlives store_ (its listener)
  std::unique_ptr<storage::EntityStore> store_;
  std::unique_ptr<subscription::Manager> subscriptions_;
  std::unique_ptr<jsonld::ContextRegistry> contexts_;
  std::unique_ptr<api::Broker> broker_;
  std::unique_ptr<ingest::Registry> registry_;
  std::unique_ptr<ingest::Ingestor> ingestor_;
  std::unique_ptr<api::IotApi> iot_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace civitas::testing
