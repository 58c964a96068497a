#include "support/broker_fixture.h"

#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace civitas::testing {

BrokerFixture::BrokerFixture(std::string contexts_dir) : contexts_dir_(std::move(contexts_dir)) {
  dir_ = std::filesystem::temp_directory_path() / ("civitas_fixture_" + std::to_string(::getpid()) +
                                                   "_" + std::to_string(std::random_device{}()));
  http::ServerOptions o;
  o.bind = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  context_server_ = std::make_unique<http::Server>(
      o, [dir = contexts_dir_](http::Request&& req, http::Responder respond) {
        http::Response r;
        std::string name = req.path.substr(req.path.rfind('/') + 1);
        std::ifstream in(dir + "/" + name, std::ios::binary);
        if (name.empty() || !in) {
          r.status = 404;
        } else {
          std::stringstream ss;
          ss << in.rdbuf();
          r.body = ss.str();
          r.AddHeader("Content-Type", "application/ld+json");
        }
        respond(std::move(r));
      });
  std::string error;
  if (!context_server_->Start(&error)) throw std::runtime_error("context server: " + error);
}

BrokerFixture::~BrokerFixture() {
  Stop();
  context_server_->Stop(0);
  std::filesystem::remove_all(dir_);
}

std::string BrokerFixture::context_base() const {
  return "http://127.0.0.1:" + std::to_string(context_server_->port());
}

void BrokerFixture::Start() {
  Stop();
  auto backend = storage::OpenRocksDb({(dir_ / "store").string()});
  if (!backend.ok()) throw std::runtime_error(backend.status().detail());
  temporal_ = std::make_unique<temporal::TemporalStore>(temporal::TemporalStore::Options{});
  if (Status st = temporal_->Load(**backend); !st.ok()) throw std::runtime_error(st.detail());
  auto store = storage::EntityStore::Open(std::move(*backend), {});
  if (!store.ok()) throw std::runtime_error(store.status().detail());
  store_ = std::move(*store);
  geo_index_ = std::make_unique<storage::GeoIndex>();
  store_->AddIndex(geo_index_.get());
  query_index_ = std::make_unique<storage::QueryIndex>();
  store_->AddIndex(query_index_.get());
  store_->AddListener(temporal_.get());
  storage::EntityStore* s = store_.get();
  contexts_ = std::make_unique<jsonld::ContextRegistry>(
      jsonld::ContextRegistry::Options{},
      [](const std::string& url) -> Result<std::string> {
        std::string body, error;
        int status = http::FetchUrl(url, 2000, 1 << 20, &body, &error);
        if (status != 200) {
          return Status(ErrorCode::kLdContextNotAvailable, url + ": " + error);
        }
        return body;
      },
      jsonld::ContextPersistence{
          [s](const std::string& id, const std::string& rec) {
            return s->PutMeta("context/" + id, rec);
          },
          [s](const std::string& id) { return s->DeleteMeta("context/" + id); }});
  Status st = store_->ScanMeta("context/", [&](std::string_view k, std::string_view v) {
    return contexts_->Restore(std::string(k.substr(8)), std::string(v));
  });
  if (!st.ok()) throw std::runtime_error(st.detail());
  subscription::Manager::Options so;
  so.retry_initial = 50'000;
  so.max_consecutive_failures = 3;
  subscriptions_ = std::make_unique<subscription::Manager>(*store_, so);
  store_->AddListener(subscriptions_.get());
  st = subscriptions_->Load(
      [this](const std::string& url) { return contexts_->Resolve(Json(url)); });
  if (!st.ok()) throw std::runtime_error(st.detail());
  subscriptions_->Start();
  api::Broker::Options bo;
  bo.subscriptions = subscriptions_.get();
  bo.geo_index = geo_index_.get();
  bo.query_index = query_index_.get();
  bo.temporal = temporal_.get();
  bo.temporal_max_instances = temporal_max_instances_;
  broker_ = std::make_unique<api::Broker>(*store_, *contexts_, bo);
  registry_ = std::make_unique<ingest::Registry>(ingest::RegistryPersistence{
      [s](const std::string& k, const std::string& v) { return s->PutMeta(k, v); },
      [s](const std::string& k) { return s->DeleteMeta(k); },
      [s](const std::vector<std::pair<std::string, std::string>>& records) {
        return s->PutMetas(records);
      }});
  st = store_->ScanMeta(ingest::Registry::kMetaPrefix, [&](std::string_view k, std::string_view v) {
    return registry_->Restore(k, v);
  });
  if (!st.ok()) throw std::runtime_error(st.detail());
  ingestor_ = std::make_unique<ingest::Ingestor>(*registry_, *store_, contexts_->Core());
  iot_ = std::make_unique<api::IotApi>(*ingestor_, broker_->metrics());
  broker_->SetMetricsHook([i = ingestor_.get()](std::string& out) { i->Render(out); });
  http::ServerOptions o;
  o.bind = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  server_ = std::make_unique<http::Server>(
      o, [b = broker_.get(), iot = iot_.get()](http::Request&& req, http::Responder respond) {
        if (api::IotApi::Owns(req.path)) {
          iot->Handle(std::move(req), std::move(respond));
        } else {
          b->Handle(std::move(req), std::move(respond));
        }
      });
  std::string error;
  if (!server_->Start(&error)) throw std::runtime_error("broker server: " + error);
}

void BrokerFixture::Stop() {
  if (server_) server_->Stop(2000);
  server_.reset();
  if (subscriptions_) subscriptions_->Stop();
  if (store_) store_->Close();
  iot_.reset();
  ingestor_.reset();
  registry_.reset();
  broker_.reset();
  contexts_.reset();
  store_.reset();
  subscriptions_.reset();
  geo_index_.reset();
  query_index_.reset();
  temporal_.reset();
}

}  // namespace civitas::testing
