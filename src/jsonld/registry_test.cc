#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jsonld/context.h"

namespace civitas::jsonld {
namespace {

constexpr std::string_view kNgsiLd = "https://uri.etsi.org/ngsi-ld/";
std::string Ngsi(std::string_view s) { return std::string(kNgsiLd) + std::string(s); }
std::string Default(std::string_view s) { return std::string(kDefaultVocab) + std::string(s); }

Json Parse(std::string_view text) {
  Result<Json> j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << j.status().detail();
  return j.ok() ? j.value() : Json();
}

// Serves documents from a map; counts fetches per URL; can be told to fail or to be slow.
class FakeFetcher {
 public:
  void Serve(const std::string& url, std::string doc) {
    std::lock_guard lock(mu_);
    docs_[url] = std::move(doc);
  }
  void Remove(const std::string& url) {
    std::lock_guard lock(mu_);
    docs_.erase(url);
  }
  void SetDelay(std::chrono::milliseconds d) { delay_ = d; }
  int Count(const std::string& url) {
    std::lock_guard lock(mu_);
    return counts_[url];
  }
  int Total() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [_, c] : counts_) n += c;
    return n;
  }
  ContextFetcher AsFetcher() {
    return [this](const std::string& url) -> Result<std::string> {
      if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
      std::lock_guard lock(mu_);
      ++counts_[url];
      auto it = docs_.find(url);
      if (it == docs_.end()) return Status(ErrorCode::kServiceUnavailable, "connection refused");
      return it->second;
    };
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> docs_;
  std::map<std::string, int> counts_;
  std::chrono::milliseconds delay_{0};
};

// Records what the registry persists.
struct FakeStore {
  std::mutex mu;
  std::map<std::string, std::string> records;
  int removes = 0;
  bool fail = false;
  ContextPersistence AsPersistence() {
    return {[this](const std::string& id, const std::string& record) {
              std::lock_guard lock(mu);
              if (fail) return Status::Internal("disk full");
              records[id] = record;
              return Status::Ok();
            },
            [this](const std::string& id) {
              std::lock_guard lock(mu);
              ++removes;
              records.erase(id);
              return Status::Ok();
            }};
  }
};

const char kUrlA[] = "https://example.org/a.jsonld";
const char kUrlB[] = "https://example.org/b.jsonld";
const char kUrlC[] = "https://example.org/c.jsonld";
const char kDocA[] = R"({"@context": {"a": "http://a.org/a", "ex": "http://ex.org/"}})";
const char kDocB[] = R"({"@context": {"b": "http://b.org/b"}})";
const char kDocC[] = R"({"@context": {"c": "http://c.org/c"}})";

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() {
    fetcher_.Serve(kUrlA, kDocA);
    fetcher_.Serve(kUrlB, kDocB);
    fetcher_.Serve(kUrlC, kDocC);
  }
  ContextRegistry Make(ContextRegistry::Options options = {}) {
    if (!options.clock) options.clock = [this] { return now_.load(); };
    return ContextRegistry(options, fetcher_.AsFetcher(), store_.AsPersistence());
  }
  std::shared_ptr<const Context> MustResolve(ContextRegistry& r, const Json& v,
                                             std::string_view tenant = {}) {
    auto ctx = r.Resolve(v, tenant);
    EXPECT_TRUE(ctx.ok()) << ctx.status().detail();
    return ctx.ok() ? ctx.value() : r.Core();
  }
  static const Json* Member(const Json& j, std::string_view key) { return j.Find(key); }
  // The details object of `id` in List(true, ...), or null.
  static Json Listed(const ContextRegistry& r, std::string_view id, std::string_view kind = {},
                     std::string_view tenant = {}) {
    Json list = r.List(true, kind, tenant);
    for (const Json& item : list.as_array()) {
      if (item.GetString("localId") == id || item.GetString("URL") == id) return item;
    }
    return Json();
  }
  static int64_t Hits(const ContextRegistry& r, std::string_view id, std::string_view tenant = {}) {
    auto d = r.Get(id, true, tenant);
    EXPECT_TRUE(d.ok()) << d.status().detail();
    const Json* n = d.ok() ? d->Find("numberOfHits") : nullptr;
    return n != nullptr && n->is_int() ? n->as_int() : -1;
  }

  FakeFetcher fetcher_;
  FakeStore store_;
  std::atomic<Micros> now_{1'700'000'000'000'000};
};

TEST_F(RegistryTest, NullAndCoreUrlsGiveTheCoreWithoutFetching) {
  ContextRegistry r = Make();
  auto core = MustResolve(r, Json());
  EXPECT_EQ(core, r.Core());
  EXPECT_TRUE(core->is_core());
  EXPECT_EQ(MustResolve(r, Json(kCoreContextUrl)), r.Core());
  for (std::string_view v : {"1.3", "1.4", "1.5", "1.6", "1.7", "1.8"}) {
    std::string url =
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v" + std::string(v) + ".jsonld";
    auto ctx = MustResolve(r, Json(url));
    EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
    EXPECT_EQ(ctx->source(), Json(url));
  }
  auto unversioned =
      MustResolve(r, Json("http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"));
  EXPECT_EQ(unversioned->Expand("observedAt"), Ngsi("observedAt"));
  EXPECT_EQ(fetcher_.Total(), 0);
}

TEST_F(RegistryTest, RemoteContextFetchedOnceWhileCached) {
  ContextRegistry r = Make();
  for (int i = 0; i < 3; ++i) {
    auto ctx = MustResolve(r, Json(kUrlA));
    EXPECT_EQ(ctx->Expand("a"), "http://a.org/a");
    EXPECT_EQ(ctx->Expand("ex:thing"), "http://ex.org/thing");
    EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
    EXPECT_EQ(ctx->source(), Json(kUrlA));
  }
  // Different values that include the same URL still use the cached document.
  MustResolve(r, Parse(R"(["https://example.org/a.jsonld", {"x": "http://x.org/x"}])"));
  MustResolve(r, Parse(R"(["https://example.org/a.jsonld", "https://example.org/b.jsonld"])"));
  EXPECT_EQ(fetcher_.Count(kUrlA), 1);
  EXPECT_EQ(fetcher_.Count(kUrlB), 1);
  // The same value twice is the same active context (the Resolve cache).
  EXPECT_EQ(MustResolve(r, Json(kUrlA)), MustResolve(r, Json(kUrlA)));
}

TEST_F(RegistryTest, ArrayMixingUrlInlineAndCore) {
  ContextRegistry r = Make();
  auto ctx = MustResolve(r, Parse(R"([
      "https://example.org/a.jsonld",
      {"speed": "ex:speed", "a": "http://override.org/a"},
      "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"])"));
  EXPECT_EQ(ctx->Expand("speed"), "http://ex.org/speed");  // prefix from the remote document
  EXPECT_EQ(ctx->Expand("a"), "http://override.org/a");    // later definitions win
  EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
  EXPECT_EQ(ctx->Expand("other"), Default("other"));
  EXPECT_EQ(ctx->Compact("http://ex.org/speed"), "speed");
  EXPECT_EQ(fetcher_.Total(), 1);
}

TEST_F(RegistryTest, FetchFailuresAreLdContextNotAvailable) {
  fetcher_.Serve("https://example.org/not-json", "{not json");
  fetcher_.Serve("https://example.org/no-context", R"({"a": "http://a"})");
  fetcher_.Serve("https://example.org/array", R"([{"@context": {}}])");
  fetcher_.Serve("https://example.org/bad-term", R"({"@context": {"a": 5}})");
  fetcher_.Serve("https://example.org/big", std::string(2000, ' ') + R"({"@context": {}})");
  ContextRegistry::Options options;
  options.max_document_bytes = 1000;
  ContextRegistry r = Make(options);
  for (std::string_view url : {"https://example.org/missing", "https://example.org/not-json",
                               "https://example.org/no-context", "https://example.org/array",
                               "https://example.org/bad-term", "https://example.org/big"}) {
    auto ctx = r.Resolve(Json(url));
    ASSERT_FALSE(ctx.ok()) << url;
    EXPECT_EQ(ctx.status().code(), ErrorCode::kLdContextNotAvailable) << url;
    EXPECT_NE(ctx.status().detail().find(url), std::string::npos) << ctx.status().detail();
    // Inside an array too.
    Json array = Json::MakeArray();
    array.Push(Json(kUrlA));
    array.Push(Json(url));
    EXPECT_EQ(r.Resolve(array).status().code(), ErrorCode::kLdContextNotAvailable) << url;
  }
  // Failures are not cached: once the server answers, the context resolves.
  fetcher_.Serve("https://example.org/missing", kDocB);
  auto ctx = r.Resolve(Json("https://example.org/missing"));
  ASSERT_TRUE(ctx.ok()) << ctx.status().detail();
  EXPECT_EQ((*ctx)->Expand("b"), "http://b.org/b");
}

TEST_F(RegistryTest, InvalidValuesAreReportedBeforeFetching) {
  ContextRegistry r = Make();
  Status st = r.Resolve(Parse(R"(["https://example.org/unfetched.jsonld", 7])")).status();
  EXPECT_EQ(st.code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(fetcher_.Total(), 0);
  EXPECT_EQ(r.Resolve(Json("ContextURI")).status().code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(r.Resolve(Json(42)).status().code(), ErrorCode::kBadRequestData);
}

TEST_F(RegistryTest, LruEvictionOfCachedDocuments) {
  ContextRegistry::Options options;
  options.max_cached_documents = 2;
  ContextRegistry r = Make(options);
  MustResolve(r, Json(kUrlA));
  MustResolve(r, Json(kUrlB));
  MustResolve(r, Json(kUrlA));  // A is now the most recently used
  MustResolve(r, Json(kUrlC));  // evicts B
  EXPECT_TRUE(r.Get(kUrlA, true).ok());
  EXPECT_FALSE(r.Get(kUrlB, true).ok());
  EXPECT_TRUE(r.Get(kUrlC, true).ok());
  EXPECT_EQ(r.List(false, "Cached").size(), 3u);  // the core + A + C

  MustResolve(r, Json(kUrlB));  // fetched again, evicts A
  EXPECT_EQ(fetcher_.Count(kUrlB), 2);
  EXPECT_EQ(fetcher_.Count(kUrlA), 1);
  MustResolve(r, Json(kUrlC));
  EXPECT_EQ(fetcher_.Count(kUrlC), 1);
  MustResolve(r, Json(kUrlA));
  EXPECT_EQ(fetcher_.Count(kUrlA), 2);
}

TEST_F(RegistryTest, RemoteContextsLoadingRemoteContexts) {
  fetcher_.Serve("https://example.org/1",
                 R"({"@context": ["https://example.org/2", {"one": "http://n/1"}]})");
  fetcher_.Serve("https://example.org/2", R"({"@context": "https://example.org/3"})");
  fetcher_.Serve("https://example.org/3", R"({"@context": {"three": "http://n/3"}})");
  fetcher_.Serve("https://example.org/cycle1", R"({"@context": "https://example.org/cycle2"})");
  fetcher_.Serve("https://example.org/cycle2", R"({"@context": ["https://example.org/cycle1"]})");

  ContextRegistry::Options options;
  options.max_remote_depth = 3;
  ContextRegistry r = Make(options);
  auto ctx = MustResolve(r, Json("https://example.org/1"));
  EXPECT_EQ(ctx->Expand("one"), "http://n/1");
  EXPECT_EQ(ctx->Expand("three"), "http://n/3");

  options.max_remote_depth = 2;
  ContextRegistry shallow = Make(options);
  Status st = shallow.Resolve(Json("https://example.org/1")).status();
  EXPECT_EQ(st.code(), ErrorCode::kLdContextNotAvailable);
  EXPECT_NE(st.detail().find("deeper"), std::string::npos) << st.detail();
  // The same documents one level less deep are fine.
  EXPECT_TRUE(shallow.Resolve(Json("https://example.org/2")).ok());

  st = r.Resolve(Json("https://example.org/cycle1")).status();
  EXPECT_EQ(st.code(), ErrorCode::kLdContextNotAvailable);
  EXPECT_NE(st.detail().find("cycle"), std::string::npos) << st.detail();
  EXPECT_EQ(fetcher_.Count("https://example.org/cycle1"), 1);
}

TEST_F(RegistryTest, HostedContextsLifecycle) {
  ContextRegistry r = Make();
  Json body = Parse(R"({"@context": {"A1": "urn:ngsi-ld:attributes:A1",
                                      "A2": "urn:ngsi-ld:attributes:A2"}, "extra": 1})");
  auto id = r.AddHosted(body);
  ASSERT_TRUE(id.ok()) << id.status().detail();
  EXPECT_EQ(id->size(), 32u);
  std::string path = std::string(kJsonldContextsPath) + *id;

  // Persisted.
  ASSERT_EQ(store_.records.count(*id), 1u);
  Json record = Parse(store_.records[*id]);
  EXPECT_EQ(record.GetString("kind"), "Hosted");

  // Serve: the @context member only.
  auto served = r.Get(*id, false);
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(*served, Parse(R"({"@context": {"A1": "urn:ngsi-ld:attributes:A1",
                                            "A2": "urn:ngsi-ld:attributes:A2"}})"));
  EXPECT_TRUE(r.Get(path, false).ok());
  EXPECT_TRUE(r.Get("http://broker:9090" + path, false).ok());

  // Details.
  auto details = r.Get(*id, true);
  ASSERT_TRUE(details.ok());
  EXPECT_EQ(details->GetString("URL"), path);
  EXPECT_EQ(details->GetString("localId"), *id);
  EXPECT_EQ(details->GetString("kind"), "Hosted");
  EXPECT_EQ(details->GetString("createdAt"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(details->Find("numberOfHits")->as_int(), 0);
  EXPECT_EQ(details->Find("lastUsage"), nullptr);
  EXPECT_EQ(details->Find("expiresAt"), nullptr);
  for (const auto& [key, _] : details->as_object()) {
    EXPECT_TRUE(key == "URL" || key == "localId" || key == "kind" || key == "createdAt" ||
                key == "numberOfHits")
        << key;
  }

  // Listed.
  Json urls = r.List(false, "");
  ASSERT_TRUE(urls.is_array());
  EXPECT_EQ(urls.as_array()[0], Json(kCoreContextUrl));
  EXPECT_NE(std::find(urls.as_array().begin(), urls.as_array().end(), Json(path)),
            urls.as_array().end());
  EXPECT_EQ(r.List(false, "Hosted"), Parse("[\"" + path + "\"]"));
  EXPECT_EQ(r.List(false, "ImplicitlyCreated"), Json::MakeArray());
  EXPECT_EQ(r.List(true, "Hosted").as_array()[0], *details);

  // Used by requests, relative or absolute, without any fetch.
  auto ctx = MustResolve(r, Json(path));
  EXPECT_EQ(ctx->Expand("A1"), "urn:ngsi-ld:attributes:A1");
  EXPECT_EQ(ctx->Compact("urn:ngsi-ld:attributes:A2"), "A2");
  auto abs = MustResolve(r, Json("http://localhost:9090" + path));
  EXPECT_EQ(abs->Expand("A2"), "urn:ngsi-ld:attributes:A2");
  EXPECT_EQ(fetcher_.Total(), 0);
  EXPECT_EQ(Hits(r, *id), 2);

  // Delete.
  EXPECT_EQ(r.Delete(*id, true).code(), ErrorCode::kBadRequestData);  // only Cached reload
  EXPECT_TRUE(r.Delete(path, false).ok());
  EXPECT_EQ(store_.records.count(*id), 0u);
  EXPECT_EQ(r.Get(*id, false).status().code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Delete(*id, false).code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Resolve(Json(path)).status().code(), ErrorCode::kLdContextNotAvailable);
  EXPECT_EQ(r.List(false, "Hosted"), Json::MakeArray());
}

TEST_F(RegistryTest, HostedContextWithUrlsCachesThem) {
  ContextRegistry r = Make();
  auto id = r.AddHosted(Parse(R"({"@context": ["https://example.org/a.jsonld",
                                               "https://example.org/b.jsonld"]})"));
  ASSERT_TRUE(id.ok()) << id.status().detail();
  EXPECT_EQ(fetcher_.Total(), 0);  // not fetched when added
  auto ctx = MustResolve(r, Json("http://localhost:9090" + std::string(kJsonldContextsPath) + *id));
  EXPECT_EQ(ctx->Expand("a"), "http://a.org/a");
  EXPECT_EQ(ctx->Expand("b"), "http://b.org/b");
  for (const char* url : {kUrlA, kUrlB}) {
    auto d = r.Get(url, true);
    ASSERT_TRUE(d.ok()) << url;
    EXPECT_EQ(d->GetString("kind"), "Cached");
    EXPECT_EQ(d->GetString("URL"), url);
  }
}

TEST_F(RegistryTest, AddHostedValidation) {
  ContextRegistry r = Make();
  struct Case {
    const char* body;
    ErrorCode code;
  } cases[] = {
      {R"({"A1": "urn:a"})", ErrorCode::kInvalidRequest},
      {R"([{"@context": {}}])", ErrorCode::kInvalidRequest},
      {R"("x")", ErrorCode::kInvalidRequest},
      {R"({"@context": 42})", ErrorCode::kBadRequestData},
      {R"({"@context": true})", ErrorCode::kBadRequestData},
      {R"({"@context": null})", ErrorCode::kBadRequestData},
      {R"({"@context": ["https://example.org/ctx.jsonld", 7]})", ErrorCode::kBadRequestData},
      {R"({"@context": {"a": 5}})", ErrorCode::kBadRequestData},
      {R"({"@context": {"a": "b:x", "b": "a:x"}})", ErrorCode::kBadRequestData},
      {R"({"@context": "not a url"})", ErrorCode::kBadRequestData},
  };
  for (const Case& c : cases) {
    auto id = r.AddHosted(Parse(c.body));
    ASSERT_FALSE(id.ok()) << c.body;
    EXPECT_EQ(id.status().code(), c.code) << c.body << ": " << id.status().detail();
  }
  EXPECT_EQ(r.List(false, "Hosted"), Json::MakeArray());
  EXPECT_TRUE(store_.records.empty());

  // Valid shapes: object, URL, array of both, empty object.
  for (const char* body :
       {R"({"@context": {}})", R"({"@context": "https://example.org/a.jsonld"})",
        R"({"@context": ["https://example.org/a.jsonld", {"x": "http://x"}]})"}) {
    EXPECT_TRUE(r.AddHosted(Parse(body)).ok()) << body;
  }
  EXPECT_EQ(fetcher_.Total(), 0);

  // A persistence failure leaves nothing behind.
  store_.fail = true;
  auto failed = r.AddHosted(Parse(R"({"@context": {}})"));
  EXPECT_EQ(failed.status().code(), ErrorCode::kInternalError);
  EXPECT_EQ(r.List(false, "Hosted").size(), 3u);
}

TEST_F(RegistryTest, RestoreFromPersistedRecords) {
  std::string hosted_id;
  std::string implicit_url;
  {
    ContextRegistry r = Make();
    hosted_id = r.AddHosted(Parse(R"({"@context": {"h": "http://h.org/h"}})")).value();
    implicit_url = r.StoreImplicit(Parse(R"([{"i": "http://i.org/i"}])"), "t1").value();
  }
  ASSERT_EQ(store_.records.size(), 2u);

  ContextRegistry restored = Make();
  for (const auto& [id, record] : store_.records) {
    EXPECT_TRUE(restored.Restore(id, record).ok()) << record;
  }
  EXPECT_EQ(restored.Get(hosted_id, false).value(),
            Parse(R"({"@context": {"h": "http://h.org/h"}})"));
  EXPECT_EQ(restored.Get(hosted_id, true)->GetString("createdAt"), "2023-11-14T22:13:20.000Z");
  auto ctx = MustResolve(restored, Json(implicit_url), "t1");
  EXPECT_EQ(ctx->Expand("i"), "http://i.org/i");
  // The implicit entry is deduplicated against its restored content.
  EXPECT_EQ(restored.StoreImplicit(Parse(R"([{"i": "http://i.org/i"}])"), "t1").value(),
            implicit_url);
  // Restore does not save again.
  EXPECT_EQ(store_.records.size(), 2u);

  EXPECT_EQ(restored.Restore("x", "{bad").code(), ErrorCode::kInvalidRequest);
  EXPECT_EQ(restored.Restore("x", R"({"kind": "Cached", "@context": {}})").code(),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(restored.Restore("x", R"({"kind": "Hosted"})").code(), ErrorCode::kInvalidRequest);
}

TEST_F(RegistryTest, TenantsDoNotSeeEachOthersContexts) {
  ContextRegistry r = Make();
  auto id = r.AddHosted(Parse(R"({"@context": {"TenantPrivateTerm": "urn:p"}})"), "a");
  ASSERT_TRUE(id.ok());
  std::string path = std::string(kJsonldContextsPath) + *id;

  EXPECT_TRUE(r.Get(*id, false, "a").ok());
  EXPECT_EQ(r.Get(*id, false, "b").status().code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Get(*id, true, "b").status().code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Get(*id, false).status().code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(ToJsonString(r.List(true, "", "b")).find(*id), std::string::npos);
  EXPECT_EQ(ToJsonString(r.List(false, "", "b")).find(*id), std::string::npos);
  EXPECT_NE(ToJsonString(r.List(false, "", "a")).find(*id), std::string::npos);
  EXPECT_EQ(r.Resolve(Json(path), "b").status().code(), ErrorCode::kLdContextNotAvailable);
  EXPECT_EQ(MustResolve(r, Json(path), "a")->Expand("TenantPrivateTerm"), "urn:p");
  EXPECT_EQ(r.Delete(*id, false, "b").code(), ErrorCode::kResourceNotFound);
  EXPECT_TRUE(r.Get(*id, false, "a").ok());
  EXPECT_TRUE(r.Delete(*id, false, "a").ok());
}

TEST_F(RegistryTest, DeleteAndReloadSemantics) {
  ContextRegistry r = Make();
  // The core context.
  EXPECT_EQ(r.Delete(kCoreContextUrl, false).code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(
      r.Delete("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", false).code(),
      ErrorCode::kBadRequestData);
  EXPECT_TRUE(
      r.Delete("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", true).ok());
  EXPECT_EQ(r.Delete("", false).code(), ErrorCode::kBadRequestData);
  // Unknown ids.
  EXPECT_EQ(r.Delete("wrong_id_context", false).code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Delete("wrong_id_context", true).code(), ErrorCode::kBadRequestData);

  // A Cached entry: evicted by URL or by localId, and fetched again on next use.
  MustResolve(r, Json(kUrlA));
  EXPECT_TRUE(r.Delete(kUrlA, false).ok());
  EXPECT_EQ(r.Get(kUrlA, true).status().code(), ErrorCode::kResourceNotFound);
  MustResolve(r, Json(kUrlA));
  EXPECT_EQ(fetcher_.Count(kUrlA), 2);
  std::string local_id(r.Get(kUrlA, true)->GetString("localId"));
  EXPECT_TRUE(r.Delete(local_id, false).ok());
  EXPECT_FALSE(r.Get(kUrlA, true).ok());

  // Reload replaces the content; the next resolution sees it.
  MustResolve(r, Json(kUrlB));
  fetcher_.Serve(kUrlB, R"({"@context": {"b": "http://b2.org/b"}})");
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b.org/b");
  now_ += 5'000'000;
  EXPECT_TRUE(r.Delete(kUrlB, true).ok());
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b2.org/b");
  EXPECT_EQ(r.Get(kUrlB, true)->GetString("createdAt"), "2023-11-14T22:13:25.000Z");

  // A failed reload keeps the entry.
  fetcher_.Remove(kUrlB);
  Status st = r.Delete(kUrlB, true);
  EXPECT_EQ(st.code(), ErrorCode::kLdContextNotAvailable);
  auto kept = r.Get(kUrlB, true);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->GetString("kind"), "Cached");
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b2.org/b");
  EXPECT_TRUE(r.Delete(kUrlB, false).ok());
  EXPECT_EQ(r.Get(kUrlB, true).status().code(), ErrorCode::kResourceNotFound);
}

TEST_F(RegistryTest, ServeRules) {
  ContextRegistry r = Make();
  MustResolve(r, Json(kUrlA));
  EXPECT_EQ(r.Get(kUrlA, false).status().code(), ErrorCode::kOperationNotSupported);
  EXPECT_EQ(r.Get(kCoreContextUrl, false).status().code(), ErrorCode::kOperationNotSupported);
  auto core = r.Get("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", true);
  ASSERT_TRUE(core.ok());
  EXPECT_EQ(core->GetString("URL"), kCoreContextUrl);
  EXPECT_EQ(core->GetString("kind"), "Cached");
  EXPECT_EQ(core->GetString("localId"), "core");
  EXPECT_EQ(ToJsonString(*core->Find("extraInfo")), R"({"builtIn":true})");
  EXPECT_EQ(r.Get("core", true)->GetString("URL"), kCoreContextUrl);
  EXPECT_EQ(r.Get("wrong_id_context", true).status().code(), ErrorCode::kResourceNotFound);
  EXPECT_EQ(r.Get("", true).status().code(), ErrorCode::kResourceNotFound);

  auto a = r.Get(kUrlA, true);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->GetString("URL"), kUrlA);
  EXPECT_EQ(a->GetString("expiresAt"), "2023-11-15T22:13:20.000Z");  // 24 h
  EXPECT_EQ(a->GetString("lastUsage"), "2023-11-14T22:13:20.000Z");
  // By localId too.
  EXPECT_EQ(r.Get(a->GetString("localId"), true)->GetString("URL"), kUrlA);
}

TEST_F(RegistryTest, NumberOfHitsAsTheEtsiTestsExpect) {
  ContextRegistry r = Make();
  // 053_04: a Hosted context; reading its metadata is not a hit, using it is.
  std::string hosted = r.AddHosted(Parse(R"({"@context": {"A1": "urn:a1"}})")).value();
  std::string hosted_path = std::string(kJsonldContextsPath) + hosted;
  EXPECT_EQ(Hits(r, hosted), 0);
  MustResolve(r, Json(hosted_path));
  EXPECT_EQ(Hits(r, hosted), 1);

  // 053_06: a Cached context: the fetching request counts, and each metadata read counts after
  // the response.
  MustResolve(r, Json(kUrlC));
  EXPECT_EQ(Hits(r, kUrlC), 1);
  MustResolve(r, Json(kUrlC));
  EXPECT_EQ(Hits(r, kUrlC), 3);

  // 053_08: an ImplicitlyCreated context (a subscription's array of URLs).
  Json array = Parse(R"(["https://example.org/a.jsonld", "https://example.org/b.jsonld"])");
  MustResolve(r, array);
  std::string url = r.StoreImplicit(array).value();
  std::string implicit = url.substr(url.rfind('/') + 1);
  EXPECT_EQ(Listed(r, implicit, "ImplicitlyCreated").GetString("kind"), "ImplicitlyCreated");
  MustResolve(r, Json(url));
  Hits(r, implicit);
  EXPECT_EQ(Hits(r, implicit), 2);
  // Both URLs of the array are Cached entries (052_06).
  Json cached = r.List(false, "Cached");
  for (const char* u : {kUrlA, kUrlB}) {
    EXPECT_NE(std::find(cached.as_array().begin(), cached.as_array().end(), Json(u)),
              cached.as_array().end());
  }
  // Serving an ImplicitlyCreated context gives its content.
  EXPECT_EQ(r.Get(implicit, false).value(), Parse(R"({"@context": ["https://example.org/a.jsonld",
                                                                  "https://example.org/b.jsonld"]})"));
  // 051_06: deletable by localId; reload is refused (051_07).
  EXPECT_EQ(r.Delete(implicit, true).code(), ErrorCode::kBadRequestData);
  EXPECT_TRUE(r.Delete(implicit, false).ok());
}

TEST_F(RegistryTest, StoreImplicit) {
  ContextRegistry::Options options;
  options.public_base_url = "http://broker:9090/";
  options.max_implicit_contexts = 2;
  ContextRegistry r = Make(options);
  EXPECT_EQ(r.StoreImplicit(Json(kUrlA)).value(), kUrlA);
  EXPECT_EQ(r.StoreImplicit(Json()).value(), kCoreContextUrl);
  EXPECT_EQ(r.StoreImplicit(Json(3)).status().code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(r.StoreImplicit(Parse(R"({"a": 3})")).status().code(), ErrorCode::kBadRequestData);

  Json one = Parse(R"([{"x": "http://x.org/1"}])");
  Json two = Parse(R"({"x": "http://x.org/2"})");
  Json three = Parse(R"({"x": "http://x.org/3"})");
  std::string u1 = r.StoreImplicit(one).value();
  EXPECT_TRUE(u1.starts_with("http://broker:9090/ngsi-ld/v1/jsonldContexts/")) << u1;
  EXPECT_EQ(r.StoreImplicit(one).value(), u1);
  now_ += 1'000'000;
  std::string u2 = r.StoreImplicit(two).value();
  EXPECT_NE(u1, u2);
  EXPECT_EQ(r.List(false, "ImplicitlyCreated"), Parse("[\"" + u1 + "\", \"" + u2 + "\"]"));
  now_ += 1'000'000;
  EXPECT_EQ(MustResolve(r, Json(u1))->Expand("x"), "http://x.org/1");
  // Over the bound (shared by all tenants): the least recently used goes (u2: u1 was just used).
  now_ += 1'000'000;
  std::string u3 = r.StoreImplicit(three).value();
  EXPECT_EQ(r.List(false, "ImplicitlyCreated"), Parse("[\"" + u1 + "\", \"" + u3 + "\"]"));
  EXPECT_EQ(store_.records.size(), 2u);
  EXPECT_EQ(store_.removes, 1);
  EXPECT_EQ(r.Resolve(Json(u2)).status().code(), ErrorCode::kLdContextNotAvailable);
  // The same content in another tenant is another entry, invisible here.
  ContextRegistry big = Make();
  std::string mine = big.StoreImplicit(one).value();
  std::string theirs = big.StoreImplicit(one, "other-tenant").value();
  EXPECT_NE(mine, theirs);
  EXPECT_EQ(big.List(false, "ImplicitlyCreated").size(), 1u);
  EXPECT_EQ(big.List(false, "ImplicitlyCreated", "other-tenant"), Parse("[\"" + theirs + "\"]"));
  EXPECT_EQ(r.List(true, "Hosted"), Json::MakeArray());
}

TEST_F(RegistryTest, CachedDocumentsExpire) {
  ContextRegistry::Options options;
  options.cached_ttl = std::chrono::seconds(60);
  ContextRegistry r = Make(options);
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b.org/b");
  now_ += 30'000'000;
  MustResolve(r, Json(kUrlB));
  EXPECT_EQ(fetcher_.Count(kUrlB), 1);
  now_ += 31'000'000;
  fetcher_.Serve(kUrlB, R"({"@context": {"b": "http://b2.org/b"}})");
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b2.org/b");
  EXPECT_EQ(fetcher_.Count(kUrlB), 2);
  // Expired and the server is down: the old copy keeps serving, retried later.
  now_ += 61'000'000;
  fetcher_.Remove(kUrlB);
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b2.org/b");
  EXPECT_EQ(MustResolve(r, Json(kUrlB))->Expand("b"), "http://b2.org/b");
  EXPECT_EQ(fetcher_.Count(kUrlB), 3);
}

TEST_F(RegistryTest, PreloadedDocuments) {
  ContextRegistry::Options options;
  options.max_cached_documents = 1;
  ContextRegistry r = Make(options);
  EXPECT_TRUE(
      r.Preload("https://preloaded.org/ctx.jsonld", R"({"@context": {"p": "urn:p"}})").ok());
  EXPECT_EQ(r.Preload(std::string(kCoreContextUrl), kDocA).code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(r.Preload("https://x.org/bad", "{").code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(r.Preload("https://x.org/bad", R"({"@context": 1})").code(),
            ErrorCode::kBadRequestData);
  EXPECT_EQ(r.Preload("not-a-url", kDocA).code(), ErrorCode::kBadRequestData);
  MustResolve(r, Json(kUrlA));
  MustResolve(r, Json(kUrlB));  // evicts A, never the preloaded document
  EXPECT_EQ(MustResolve(r, Json("https://preloaded.org/ctx.jsonld"))->Expand("p"), "urn:p");
  EXPECT_EQ(fetcher_.Count("https://preloaded.org/ctx.jsonld"), 0);
  auto d = r.Get("https://preloaded.org/ctx.jsonld", true);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Find("expiresAt"), nullptr);
  EXPECT_EQ(ToJsonString(*d->Find("extraInfo")), R"({"preloaded":true})");
  EXPECT_FALSE(r.Get(kUrlA, true).ok());
}

TEST_F(RegistryTest, ConcurrentResolve) {
  fetcher_.SetDelay(std::chrono::milliseconds(2));
  std::vector<std::string> urls;
  for (int i = 0; i < 8; ++i) {
    std::string url = "https://example.org/ctx" + std::to_string(i) + ".jsonld";
    fetcher_.Serve(url, R"({"@context": {"t)" + std::to_string(i) + R"(": "http://t.org/)" +
                            std::to_string(i) + "\"}}");
    urls.push_back(url);
  }
  ContextRegistry::Options options;
  options.max_cached_contexts = 16;  // small enough to churn
  ContextRegistry r = Make(options);
  std::string hosted = r.AddHosted(Parse(R"({"@context": {"h": "urn:h"}})")).value();

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 200; ++n) {
        int i = (t + n) % 8;
        Json value = Json::MakeArray();
        value.Push(Json(urls[i]));
        Json inline_ctx = Json::MakeObject();
        inline_ctx.Set("n" + std::to_string(n % 20),
                       Json("http://n.org/" + std::to_string(n % 20)));
        value.Push(inline_ctx);
        if (n % 3 == 0) value.Push(Json(std::string(kJsonldContextsPath) + hosted));
        auto ctx = r.Resolve(n % 5 == 0 ? Json(urls[i]) : value);
        if (!ctx.ok() ||
            (*ctx)->Expand("t" + std::to_string(i)) != "http://t.org/" + std::to_string(i) ||
            (*ctx)->Expand("location") != Ngsi("location")) {
          ++failures;
        }
        if (n % 50 == 0) {
          r.List(true, "");
          (void)r.Get(urls[i], true);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const std::string& url : urls) EXPECT_EQ(fetcher_.Count(url), 1) << url;
  int64_t total = 0;
  for (const std::string& url : urls) total += Hits(r, url);
  EXPECT_GE(total, 8 * 200);
}

TEST_F(RegistryTest, ConcurrentManagement) {
  ContextRegistry r = Make();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 100; ++n) {
        std::string term = "term" + std::to_string(t) + "_" + std::to_string(n);
        Json body = Json::MakeObject();
        Json ctx = Json::MakeObject();
        ctx.Set(term, Json("urn:" + term));
        body.Set("@context", ctx);
        auto id = r.AddHosted(body);
        if (!id.ok()) {
          ++failures;
          continue;
        }
        std::string path = std::string(kJsonldContextsPath) + *id;
        auto resolved = r.Resolve(Json(path));
        if (!resolved.ok() || (*resolved)->Expand(term) != "urn:" + term) ++failures;
        if (!r.Delete(*id, false).ok()) ++failures;
        if (r.Resolve(Json(path)).ok()) ++failures;
        r.List(n % 2 == 0, "Hosted");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(r.List(false, "Hosted"), Json::MakeArray());
  EXPECT_TRUE(store_.records.empty());
}

}  // namespace
}  // namespace civitas::jsonld
