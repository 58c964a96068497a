#include "subscription/subscription.h"

#include <gtest/gtest.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "http/http.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "storage/entity_store.h"
#include "subscription/manager.h"
#include "subscription/mqtt.h"
#include "subscription/notification.h"
#include "support/mosquitto_process.h"

namespace civitas::subscription {
namespace {

jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry r({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return r;
}
const jsonld::Context& Core() { return *Registry().Core(); }
constexpr const char* kCoreUrl = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
constexpr Micros kNow = 1'700'000'000'000'000;

Json Parse(const char* text) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

Result<SubscriptionPtr> Make(const char* body, const char* id = "urn:s:1") {
  auto def = DefinitionFromBody(Parse(body), Core(), false, kNow);
  if (!def.ok()) return def.status();
  return Compile(id, "", std::move(*def), kCoreUrl, Registry().Core());
}

SubscriptionPtr MustMake(const char* body) {
  auto s = Make(body);
  EXPECT_TRUE(s.ok()) << s.status().detail();
  return s.ok() ? *s : nullptr;
}

ngsild::EntityPtr Entity(const char* body, Micros at = kNow) {
  auto f = ngsild::ParseEntityBody(Parse(body), Core(), {});
  EXPECT_TRUE(f.ok()) << f.status().detail();
  return std::make_shared<const ngsild::Entity>(ngsild::CreateEntity(std::move(*f), at));
}

const char* kEndpoint = R"("notification":{"endpoint":{"uri":"http://127.0.0.1:1/n"}})";

std::string Sub(const std::string& members) {
  return "{\"type\":\"Subscription\"," + members + "," + kEndpoint + "}";
}

TEST(SubscriptionParseTest, ValidationErrors) {
  struct Case {
    std::string body;
    ErrorCode code;
  };
  const Case cases[] = {
      {"{}", ErrorCode::kBadRequestData},
      {"[]", ErrorCode::kInvalidRequest},
      {Sub(R"("entities":[])"), ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"id":"urn:x"}])"), ErrorCode::kBadRequestData},  // no type
      {Sub(R"("watchedAttributes":[])"), ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"throttling":-1)"), ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"throttling":1,"timeInterval":2)"),
       ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"watchedAttributes":["a"],"timeInterval":2)"),
       ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"expiresAt":"2000-01-01T00:00:00Z")"),
       ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"q":"a>>1")"), ErrorCode::kBadRequestData},
      {Sub(R"("entities":[{"type":"T"}],"notificationTrigger":["sometimes"])"),
       ErrorCode::kBadRequestData},
      {Sub(R"("id":"not a uri","entities":[{"type":"T"}])"), ErrorCode::kBadRequestData},
      {R"({"type":"Subscription","entities":[{"type":"T"}]})", ErrorCode::kBadRequestData},
      {R"({"type":"Subscription","entities":[{"type":"T"}],"notification":{"endpoint":{"uri":"x"}}})",
       ErrorCode::kBadRequestData},
      {R"({"type":"Subscription","entities":[{"type":"T"}],"notification":{"attributes":["a"],
          "pick":["a"],"endpoint":{"uri":"http://h/n"}}})",
       ErrorCode::kBadRequestData},
      {R"({"type":"Subscription","entities":[{"type":"T"}],"notification":{"pick":["a"],
          "omit":["a"],"endpoint":{"uri":"http://h/n"}}})",
       ErrorCode::kBadRequestData},
      {R"({"type":"Subscription","entities":[{"type":"T"}],"notification":{"format":"keyValues",
          "showChanges":true,"endpoint":{"uri":"http://h/n"}}})",
       ErrorCode::kBadRequestData},
  };
  for (const auto& c : cases) {
    auto s = Make(c.body.c_str());
    ASSERT_FALSE(s.ok()) << c.body;
    EXPECT_EQ(s.status().code(), c.code) << c.body << ": " << s.status().detail();
  }
}

TEST(SubscriptionParseTest, StoresExpandedNamesAndRendersWithAnyContext) {
  auto s = MustMake(R"({"type":"Subscription","entities":[{"type":"Building"}],
      "watchedAttributes":["name"],"q":"name==\"x\"",
      "notification":{"attributes":["name"],"endpoint":{"uri":"http://h/n"}}})");
  ASSERT_TRUE(s);
  const std::string vocab = "https://uri.etsi.org/ngsi-ld/default-context/";
  EXPECT_EQ(s->watched, std::vector<std::string>{vocab + "name"});
  EXPECT_EQ(s->IndexTypes(), std::vector<std::string>{vocab + "Building"});
  Json shown = RenderSubscription(*s, {}, Core(), kNow, false);
  EXPECT_EQ(ToJsonString(*shown.Find("watchedAttributes")), R"(["name"])");
  EXPECT_EQ(shown.GetString("status"), "active");
  EXPECT_EQ(shown.GetString("q"), "name==\"x\"");
  EXPECT_EQ(ToJsonString(*shown.Find("notificationTrigger")),
            R"(["attributeCreated","attributeUpdated"])");
}

TEST(SubscriptionParseTest, StatusFollowsIsActiveExpiryAndFailure) {
  auto s = MustMake(R"({"type":"Subscription","entities":[{"type":"T"}],"isActive":false,
      "expiresAt":"2100-01-01T00:00:00Z","notification":{"endpoint":{"uri":"http://h/n"}}})");
  ASSERT_TRUE(s);
  DeliveryState d;
  EXPECT_EQ(StatusName(StatusOf(*s, d, kNow)), "paused");
  d.failed = true;
  EXPECT_EQ(StatusName(StatusOf(*s, d, kNow)), "failed");
  EXPECT_EQ(StatusName(StatusOf(*s, d, *ParseDateTime("2100-01-02T00:00:00Z"))), "expired");
}

TEST(SubscriptionParseTest, MergeReplacesAndRemovesMembers) {
  auto stored = DefinitionFromBody(Parse(Sub(R"("entities":[{"type":"T"}],"q":"a==1")").c_str()),
                                   Core(), false, kNow);
  ASSERT_TRUE(stored.ok());
  auto fragment = DefinitionFromBody(Parse(R"({"q":null,"throttling":5})"), Core(), true, kNow);
  ASSERT_TRUE(fragment.ok());
  auto merged = MergeDefinition(*stored, *fragment);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->Find("q"), nullptr);
  EXPECT_EQ(merged->Find("throttling")->as_int(), 5);
  auto removal = DefinitionFromBody(Parse(R"({"notification":null})"), Core(), true, kNow);
  EXPECT_FALSE(removal.ok());
}

TEST(MatchTest, EveryTrigger) {
  auto created = Entity(R"({"id":"urn:e:1","type":"T","a":1,"b":2})");
  auto updated = Entity(R"({"id":"urn:e:1","type":"T","a":5,"b":2})");
  auto added = Entity(R"({"id":"urn:e:1","type":"T","a":1,"b":2,"c":3})");
  auto removed = Entity(R"({"id":"urn:e:1","type":"T","a":1})");
  auto same_later = Entity(R"({"id":"urn:e:1","type":"T","a":1,"b":2})", kNow + 1000);

  auto reason = [](const SubscriptionPtr& s, const ngsild::EntityPtr& before,
                   const ngsild::EntityPtr& after) -> std::string {
    auto ev = MatchChange(*s, before, after, kNow);
    return ev ? std::string(TriggerName(ev->reason)) : "none";
  };
  auto all = MustMake(R"({"type":"Subscription","entities":[{"type":"T"}],
      "notificationTrigger":["entityCreated","entityDeleted","entityUpdated"],
      "notification":{"endpoint":{"uri":"http://h/n"}}})");
  EXPECT_EQ(reason(all, nullptr, created), "entityCreated");
  EXPECT_EQ(reason(all, created, nullptr), "entityDeleted");
  EXPECT_EQ(reason(all, created, updated), "attributeUpdated");
  EXPECT_EQ(reason(all, created, added), "attributeCreated");
  EXPECT_EQ(reason(all, created, removed), "attributeDeleted");
  // The same values with new system timestamps are not a change.
  EXPECT_EQ(reason(all, created, same_later), "none");

  auto by_default = MustMake(Sub(R"("entities":[{"type":"T"}])").c_str());
  EXPECT_EQ(reason(by_default, nullptr, created), "attributeCreated");
  EXPECT_EQ(reason(by_default, created, removed), "none");
  EXPECT_EQ(reason(by_default, created, nullptr), "none");

  auto watched = MustMake(Sub(R"("entities":[{"type":"T"}],"watchedAttributes":["b"])").c_str());
  EXPECT_EQ(reason(watched, created, updated), "none");  // only a changed
  EXPECT_EQ(reason(watched, nullptr, created), "attributeCreated");

  auto other_type = MustMake(Sub(R"("entities":[{"type":"U"}])").c_str());
  EXPECT_EQ(reason(other_type, created, updated), "none");

  auto with_q = MustMake(Sub(R"("entities":[{"type":"T"}],"q":"a>3")").c_str());
  EXPECT_EQ(reason(with_q, created, updated), "attributeUpdated");
  EXPECT_EQ(reason(with_q, nullptr, created), "none");

  auto deleted_watch = MustMake(Sub(R"("entities":[{"type":"T"}],
      "notificationTrigger":["attributeDeleted"],"watchedAttributes":["b"])")
                                    .c_str());
  EXPECT_EQ(reason(deleted_watch, created, removed), "attributeDeleted");
  EXPECT_EQ(reason(deleted_watch, created, nullptr), "attributeDeleted");  // entity deletion
  EXPECT_EQ(reason(deleted_watch, removed, nullptr), "none");
}

TEST(MatchTest, GeoQueries) {
  auto near = MustMake(Sub(R"("entities":[{"type":"T"}],
      "geoQ":{"georel":"near;maxDistance==500","geometry":"Point","coordinates":[10.2,56.15]})")
                           .c_str());
  auto within = MustMake(Sub(R"("entities":[{"type":"T"}],
      "geoQ":{"georel":"within","geometry":"Polygon",
              "coordinates":[[[10.0,56.0],[10.4,56.0],[10.4,56.3],[10.0,56.3],[10.0,56.0]]]})")
                             .c_str());
  auto at_centre = Entity(R"({"id":"urn:e:1","type":"T",
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[10.201,56.151]}}})");
  auto far_away = Entity(R"({"id":"urn:e:2","type":"T",
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[12.5,55.7]}}})");
  auto nowhere = Entity(R"({"id":"urn:e:3","type":"T","n":1})");
  EXPECT_TRUE(MatchChange(*near, nullptr, at_centre, kNow));
  EXPECT_FALSE(MatchChange(*near, nullptr, far_away, kNow));
  EXPECT_FALSE(MatchChange(*near, nullptr, nowhere, kNow));  // no location: never matches
  EXPECT_TRUE(MatchChange(*within, nullptr, at_centre, kNow));
  EXPECT_FALSE(MatchChange(*within, nullptr, far_away, kNow));
  // Shown as given.
  Json shown = RenderSubscription(*near, {}, Core(), kNow, false);
  EXPECT_EQ(shown.Find("geoQ")->GetString("geoproperty"), "location");
  EXPECT_FALSE(Make(Sub(R"("entities":[{"type":"T"}],"geoQ":{"georel":"near","geometry":"Point",
      "coordinates":[10,56]})")
                        .c_str())
                   .ok());  // near needs a distance
}

TEST(RenderTest, DeletedAttributesShowNullAndShowChangesPrevious) {
  auto before = Entity(R"({"id":"urn:e:1","type":"T","a":1,"b":2})");
  auto after = Entity(R"({"id":"urn:e:1","type":"T","a":5})");
  auto s = MustMake(R"({"type":"Subscription","entities":[{"type":"T"}],
      "notificationTrigger":["entityUpdated"],
      "notification":{"showChanges":true,"endpoint":{"uri":"http://h/n"}}})");
  auto ev = MatchChange(*s, before, after, kNow);
  ASSERT_TRUE(ev);
  Json e = RenderEventEntity(*s, *ev, nullptr);
  EXPECT_EQ(ToJsonString(e),
            R"({"id":"urn:e:1","type":"T","a":{"type":"Property","value":5,"previousValue":1},)"
            R"("b":{"type":"Property","value":"urn:ngsi-ld:null","previousValue":2}})");

  auto kv = MustMake(R"({"type":"Subscription","entities":[{"type":"T"}],
      "notificationTrigger":["entityDeleted"],
      "notification":{"format":"keyValues","endpoint":{"uri":"http://h/n"}}})");
  auto del = MatchChange(*kv, before, nullptr, kNow);
  ASSERT_TRUE(del);
  Json d = RenderEventEntity(*kv, *del, nullptr);
  EXPECT_EQ(ToJsonString(d),
            R"({"id":"urn:e:1","type":"T","deletedAt":")" + FormatDateTime(kNow) + "\"}");
}

TEST(RenderTest, InstanceDeletionAndWholeAttributeDeletion) {
  auto before = Entity(R"({"id":"urn:e:1","type":"T",
      "name":[{"type":"Property","value":"a"},
              {"type":"Property","value":"b","datasetId":"urn:d:1"}],
      "street":{"type":"LanguageProperty","languageMap":{"fr":"rue"}}})");
  auto one_gone = Entity(R"({"id":"urn:e:1","type":"T","name":{"type":"Property","value":"a"},
      "street":{"type":"LanguageProperty","languageMap":{"fr":"rue"}}})");
  auto all_gone = Entity(R"({"id":"urn:e:1","type":"T"})");
  auto s = MustMake(
      Sub(R"("entities":[{"type":"T"}],"notificationTrigger":["attributeDeleted"])").c_str());
  auto ev = MatchChange(*s, before, one_gone, kNow);
  ASSERT_TRUE(ev);  // removing one instance is an attribute deletion
  EXPECT_EQ(ToJsonString(RenderEventEntity(*s, *ev, nullptr)),
            R"({"id":"urn:e:1","type":"T","name":[{"type":"Property","value":"a"},)"
            R"({"type":"Property","value":"urn:ngsi-ld:null","datasetId":"urn:d:1"}],)"
            R"("street":{"type":"LanguageProperty","languageMap":{"fr":"rue"}}})");
  ev = MatchChange(*s, before, all_gone, kNow);
  ASSERT_TRUE(ev);  // a whole attribute gone is one null, whatever its instances were
  EXPECT_EQ(ToJsonString(RenderEventEntity(*s, *ev, nullptr)),
            R"({"id":"urn:e:1","type":"T","name":{"type":"Property","value":"urn:ngsi-ld:null"},)"
            R"("street":{"type":"LanguageProperty","languageMap":{"@none":"urn:ngsi-ld:null"}}})");
}

// --- Delivery through a real HTTP receiver. ---

class Receiver {
 public:
  explicit Receiver(int fail_every = 0) : fail_every_(fail_every) {
    http::ServerOptions o;
    o.bind = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<http::Server>(o, [this](http::Request&& req, http::Responder r) {
      http::Response resp;
      {
        std::lock_guard lock(mu_);
        ++requests_;
        if (fail_every_ > 0 && requests_ % fail_every_ == 0) {
          resp.status = 500;
        } else {
          auto body = ParseJson(req.body);
          if (body.ok()) bodies_.push_back(std::move(*body));
          for (const auto& h : req.headers) headers_.push_back(h);
          resp.status = 200;
        }
      }
      cv_.notify_all();
      r(std::move(resp));
    });
    std::string error;
    EXPECT_TRUE(server_->Start(&error)) << error;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/n"; }
  // Waits until n notifications arrived (or 10 s).
  std::vector<Json> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return bodies_.size() >= n; });
    return bodies_;
  }
  std::vector<http::Header> headers() {
    std::lock_guard lock(mu_);
    return headers_;
  }

 private:
  int fail_every_;
  std::mutex mu_;
  std::condition_variable cv_;
  int requests_ = 0;
  std::vector<Json> bodies_;
  std::vector<http::Header> headers_;
  std::unique_ptr<http::Server> server_;
};

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas-sub-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    auto backend = storage::OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok());
    auto store = storage::EntityStore::Open(std::move(*backend), {false, 16384});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    Manager::Options o;
    o.retry_initial = 20'000;
    o.max_consecutive_failures = 50;
    o.clock = [this] { return NowMicros() + skew_.load(); };
    o.tls_ca_file = tls_ca_file_;
    manager_ = std::make_unique<Manager>(*store_, o);
    store_->AddListener(manager_.get());
    ASSERT_TRUE(manager_->Load([](const std::string&) { return Registry().Core(); }).ok());
    manager_->Start();
  }
  void Close() {
    manager_->Stop();
    store_->Close();
    store_.reset();
    manager_.reset();
  }
  // Writes entity states one commit at a time.
  void Put(const char* body) {
    auto e = Entity(body);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<storage::WriteOp> ops;
    ops.push_back({"", e->id, [e](const ngsild::EntityPtr&, Micros) -> Result<storage::Outcome> {
                     return storage::Outcome::Put(*e);
                   }});
    store_->Submit(std::move(ops), [&](std::vector<Status> st) {
      EXPECT_TRUE(st[0].ok());
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  SubscriptionPtr Subscribe(const std::string& members, const std::string& url,
                            const char* id = "urn:s:1") {
    std::string body = "{\"type\":\"Subscription\"," + members +
                       ",\"notification\":{\"format\":\"keyValues\",\"endpoint\":{\"uri\":\"" +
                       url + "\",\"receiverInfo\":[{\"key\":\"X-Test\",\"value\":\"yes\"}]}}}";
    auto def = DefinitionFromBody(Parse(body.c_str()), Core(), false, NowMicros());
    EXPECT_TRUE(def.ok()) << def.status().detail();
    auto s = Compile(id, "", std::move(*def), kCoreUrl, Registry().Core());
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE(manager_->Create(*s).ok());
    return *s;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::EntityStore> store_;
  std::unique_ptr<Manager> manager_;
  std::atomic<Micros> skew_{0};
  std::string tls_ca_file_;
};

TEST_F(ManagerTest, DeliversEveryChangeInOrderWithReceiverInfo) {
  Receiver receiver;
  Subscribe(R"("entities":[{"type":"T"}])", receiver.url());
  for (int i = 0; i < 20; ++i) {
    std::string body = R"({"id":"urn:e:1","type":"T","n":)" + std::to_string(i) + "}";
    Put(body.c_str());
  }
  auto got = receiver.WaitFor(20);
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    const Json& n = got[static_cast<size_t>(i)];
    EXPECT_EQ(n.GetString("type"), "Notification");
    EXPECT_EQ(n.GetString("subscriptionId"), "urn:s:1");
    EXPECT_EQ(n.Find("data")->as_array()[0].Find("n")->as_int(), i);
  }
  bool saw_info = false;
  for (const auto& h : receiver.headers()) saw_info |= h.name == "x-test" && h.value == "yes";
  EXPECT_TRUE(saw_info);
  // The sender records the outcome just after the receiver answers.
  auto shown = manager_->Render("", "urn:s:1", Core(), false);
  for (int i = 0; i < 100 && shown->Find("notification")->Find("timesSent")->as_int() < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    shown = manager_->Render("", "urn:s:1", Core(), false);
  }
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->Find("notification")->Find("timesSent")->as_int(), 20);
  EXPECT_EQ(shown->Find("notification")->GetString("status"), "ok");
}

TEST_F(ManagerTest, WatchedAttributesWithoutTypesMatchThroughTheAttributeIndex) {
  Receiver receiver;
  Subscribe(R"("watchedAttributes":["no2"])", receiver.url());
  Put(R"({"id":"urn:e:1","type":"A","pm10":1})");  // no watched attribute
  Put(R"({"id":"urn:e:2","type":"B","no2":40})");  // any type
  Put(R"({"id":"urn:e:1","type":"A","pm10":2})");
  Put(R"({"id":"urn:e:1","type":"A","pm10":2,"no2":7})");
  // Two changes concern it (they may arrive in one notification or two).
  auto ids = [&] {
    std::vector<std::string> out;
    for (const auto& n : receiver.WaitFor(1)) {
      for (const auto& e : n.Find("data")->as_array()) out.emplace_back(e.GetString("id"));
    }
    return out;
  };
  for (int i = 0; i < 500 && ids().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing else comes
  EXPECT_EQ(ids(), (std::vector<std::string>{"urn:e:2", "urn:e:1"}));
}

TEST_F(ManagerTest, GeoQueriesWithoutTypesMatchThroughTheCellIndex) {
  Receiver receiver;
  // Any type, within a box around Aarhus (a local-only subscription, as /events makes).
  Subscribe(R"("localOnly":true,"geoQ":{"georel":"within","geometry":"Polygon",
      "coordinates":[[[10.0,56.0],[10.4,56.0],[10.4,56.3],[10.0,56.3],[10.0,56.0]]]})",
            receiver.url());
  Put(R"({"id":"urn:e:1","type":"A","location":{"type":"GeoProperty",
      "value":{"type":"Point","coordinates":[12.5,55.7]}}})");    // Copenhagen
  Put(R"({"id":"urn:e:2","type":"B","location":{"type":"GeoProperty",
      "value":{"type":"Point","coordinates":[10.2,56.15]}}})");   // Aarhus
  Put(R"({"id":"urn:e:1","type":"A","location":{"type":"GeoProperty",
      "value":{"type":"Point","coordinates":[10.21,56.16]}}})");  // moved into the area
  std::vector<std::string> ids;
  for (int i = 0; i < 500 && ids.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ids.clear();
    for (const auto& n : receiver.WaitFor(0)) {
      for (const auto& e : n.Find("data")->as_array()) ids.emplace_back(e.GetString("id"));
    }
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"urn:e:2", "urn:e:1"}));
}

TEST_F(ManagerTest, RetriesFailuresWithoutLosingOrReordering) {
  Receiver receiver(/*fail_every=*/2);  // every second request fails
  Subscribe(R"("entities":[{"type":"T"}])", receiver.url());
  for (int i = 0; i < 10; ++i) {
    std::string body = R"({"id":"urn:e:1","type":"T","n":)" + std::to_string(i) + "}";
    Put(body.c_str());
  }
  auto got = receiver.WaitFor(10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[static_cast<size_t>(i)].Find("data")->as_array()[0].Find("n")->as_int(), i);
  }
  auto shown = manager_->Render("", "urn:s:1", Core(), false);
  ASSERT_TRUE(shown.ok());
  EXPECT_GE(shown->Find("notification")->Find("timesFailed")->as_int(), 9);
  EXPECT_NE(shown->Find("notification")->Find("lastFailure"), nullptr);
}

TEST_F(ManagerTest, ThrottlingDeliversTheNewestStateAfterTheWindow) {
  Receiver receiver;
  Subscribe(R"("entities":[{"type":"T"}],"throttling":30)", receiver.url());
  Put(R"({"id":"urn:e:1","type":"T","n":0})");
  ASSERT_EQ(receiver.WaitFor(1).size(), 1u);
  for (int i = 1; i <= 5; ++i) {
    std::string body = R"({"id":"urn:e:1","type":"T","n":)" + std::to_string(i) + "}";
    Put(body.c_str());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(receiver.WaitFor(1).size(), 1u);  // still inside the window
  skew_ += 31'000'000;                        // the window ends
  auto got = receiver.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  const auto& data = got[1].Find("data")->as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].Find("n")->as_int(), 5);
}

TEST_F(ManagerTest, PeriodicNotificationsAndPersistence) {
  Receiver receiver;
  Put(R"({"id":"urn:e:1","type":"T","n":1})");
  Put(R"({"id":"urn:e:2","type":"T","n":2})");
  Subscribe(R"("entities":[{"type":"T"}],"timeInterval":60)", receiver.url());
  skew_ += 61'000'000;
  auto got = receiver.WaitFor(1);
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(got[0].Find("data")->as_array().size(), 2u);
  Close();
  Open();
  EXPECT_NE(manager_->Find("", "urn:s:1"), nullptr);
  EXPECT_TRUE(manager_->Delete("", "urn:s:1").ok());
  Close();
  Open();
  EXPECT_EQ(manager_->Find("", "urn:s:1"), nullptr);
}

TEST(MqttUriTest, Forms) {
  auto a = ParseMqttUri("mqtt://user:p%40ss@broker:1884/city/air");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "broker");
  EXPECT_EQ(a->port, 1884);
  EXPECT_EQ(a->user, "user");
  EXPECT_EQ(a->password, "p@ss");
  EXPECT_EQ(a->topic, "city/air");
  auto b = ParseMqttUri("mqtts://broker/t");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, 8883);
  EXPECT_FALSE(ParseMqttUri("mqtt://broker").ok());
  EXPECT_FALSE(ParseMqttUri("mqtt://broker:99999/t").ok());
  EXPECT_FALSE(ParseMqttUri("mqtt:///t").ok());
}

// A mosquitto of our own on a free loopback port.
class Mosquitto {
 public:
  explicit Mosquitto(int port = 0) {
    if (port != 0) {
      port_ = port;
      Start();
      return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    close(fd);
    Start();
  }
  void Start() {
    conf_ = std::filesystem::temp_directory_path() /
            ("civitas-mosquitto-" + std::to_string(getpid()) + ".conf");
    std::ofstream(conf_) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Mosquitto() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(conf_);
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path conf_;
};

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> messages;
};

// Listens on one topic of a broker (libmosquitto's own thread).
class MqttListener {
 public:
  MqttListener(int port, const char* topic) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, &inbox_);
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* p, const mosquitto_message* m) {
      auto* in = static_cast<Inbox*>(p);
      std::lock_guard lock(in->mu);
      in->messages.emplace_back(static_cast<const char*>(m->payload),
                                static_cast<size_t>(m->payloadlen));
      in->cv.notify_all();
    });
    for (int i = 0; i < 100 && !connected_; ++i) {  // mosquitto takes a moment to listen
      connected_ = mosquitto_connect(mosq_, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS;
      if (!connected_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!connected_) return;
    mosquitto_subscribe(mosq_, nullptr, topic, 1);
    mosquitto_loop_start(mosq_);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the SUBSCRIBE goes out
  }
  ~MqttListener() {
    if (connected_) mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  bool connected() const { return connected_; }
  std::vector<std::string> WaitFor(size_t n) {
    std::unique_lock lock(inbox_.mu);
    inbox_.cv.wait_for(lock, std::chrono::seconds(10), [&] { return inbox_.messages.size() >= n; });
    return inbox_.messages;
  }

 private:
  Inbox inbox_;
  mosquitto* mosq_ = nullptr;
  bool connected_ = false;
};

TEST_F(ManagerTest, PublishesToAnMqttBrokerAndSurvivesItsRestart) {
  if (access("/usr/sbin/mosquitto", X_OK) != 0) GTEST_SKIP() << "mosquitto is not installed";
  auto broker = std::make_unique<Mosquitto>();
  const int port = broker->port();
  {
    MqttListener listener(port, "city/air");
    ASSERT_TRUE(listener.connected());
    Subscribe(R"("entities":[{"type":"T"}])",
              "mqtt://127.0.0.1:" + std::to_string(port) + "/city/air");
    Put(R"({"id":"urn:e:1","type":"T","no2":41})");
    auto messages = listener.WaitFor(1);
    ASSERT_EQ(messages.size(), 1u);
    auto message = ParseJson(messages[0]);
    ASSERT_TRUE(message.ok()) << messages[0];
    EXPECT_EQ(message->Find("metadata")->GetString("Content-Type"), "application/json");
    EXPECT_EQ(message->Find("metadata")->GetString("X-Test"), "yes");
    const Json& body = *message->Find("body");
    EXPECT_EQ(body.GetString("type"), "Notification");
    EXPECT_EQ(body.Find("data")->as_array()[0].Find("no2")->as_int(), 41);
  }
  // The broker restarts: the next notification goes out on a new connection at once.
  broker.reset();
  broker = std::make_unique<Mosquitto>(port);
  MqttListener listener(port, "city/air");
  ASSERT_TRUE(listener.connected());
  uint64_t failures_before = manager_->stats().failures;
  Put(R"({"id":"urn:e:1","type":"T","no2":42})");
  auto messages = listener.WaitFor(1);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find(R"("no2":42)"), std::string::npos);
  EXPECT_EQ(manager_->stats().failures, failures_before);
}

TEST_F(ManagerTest, PublishesOverMqttsWithTheConfiguredCa) {
  if (!testing::MosquittoProcess::Available()) GTEST_SKIP() << "mosquitto is not installed";
  testing::MosquittoProcess broker;
  if (!broker.AddTlsListener()) GTEST_SKIP() << "openssl could not make certificates";
  broker.Start();
  tls_ca_file_ = broker.ca_file();
  Close();
  Open();
  MqttListener listener(broker.port(), "city/tls");  // reads on the plain listener
  ASSERT_TRUE(listener.connected());
  Subscribe(R"("entities":[{"type":"T"}])",
            "mqtts://127.0.0.1:" + std::to_string(broker.tls_port()) + "/city/tls");
  Put(R"({"id":"urn:e:1","type":"T","no2":43})");
  auto messages = listener.WaitFor(1);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find(R"("no2":43)"), std::string::npos);
  auto shown = manager_->Render("", "urn:s:1", Core(), false);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->Find("notification")->GetString("status"), "ok");
}

}  // namespace
}  // namespace civitas::subscription
