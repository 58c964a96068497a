#include "jsonld/context.h"

#include <gtest/gtest.h>

#include <string>

#include "jsonld/core_context.h"

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

// Registries without any remote context: every test here resolves inline values only.
ContextRegistry NoFetch() {
  return ContextRegistry({}, [](const std::string& url) -> Result<std::string> {
    return Status::NotFound("unexpected fetch of " + url);
  });
}

std::shared_ptr<const Context> Resolve(std::string_view context_json) {
  ContextRegistry registry = NoFetch();
  auto ctx = registry.Resolve(Parse(context_json));
  EXPECT_TRUE(ctx.ok()) << ctx.status().detail();
  return ctx.ok() ? ctx.value() : registry.Core();
}

Status ResolveError(std::string_view context_json) {
  ContextRegistry registry = NoFetch();
  auto ctx = registry.Resolve(Parse(context_json));
  return ctx.status();
}

TEST(CoreContextUrl, RecognisesEveryVersion) {
  for (std::string_view url : {
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.4.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.5.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
           "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
       }) {
    EXPECT_TRUE(IsCoreContextUrl(url)) << url;
  }
  EXPECT_TRUE(IsCoreContextUrl(kCoreContextUrl));
  for (std::string_view url : {
           "https://example.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.json",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context/x.jsonld",
           "ftp://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
           "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/other-context.jsonld",
           "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld",
           "",
       }) {
    EXPECT_FALSE(IsCoreContextUrl(url)) << url;
  }
}

TEST(CoreContext, EmbeddedDocumentIsTheV19Core) {
  std::string_view doc = CoreContextDocument();
  EXPECT_NE(doc.find("\"@vocab\": \"https://uri.etsi.org/ngsi-ld/default-context/\""),
            std::string_view::npos);
  EXPECT_NE(doc.find("\"jsonldContext\""), std::string_view::npos);
  EXPECT_TRUE(ParseJson(doc).ok());
}

TEST(CoreContext, ExpandsCoreTerms) {
  ContextRegistry registry = NoFetch();
  auto core = registry.Core();
  ASSERT_TRUE(core->is_core());
  EXPECT_EQ(core->source(), Json(kCoreContextUrl));
  EXPECT_EQ(core->vocab(), kDefaultVocab);

  EXPECT_EQ(core->Expand("id"), "@id");
  EXPECT_EQ(core->Expand("type"), "@type");
  EXPECT_EQ(core->Expand("location"), Ngsi("location"));
  EXPECT_EQ(core->Expand("observedAt"), Ngsi("observedAt"));
  EXPECT_EQ(core->Expand("Property"), Ngsi("Property"));
  EXPECT_EQ(core->Expand("value"), Ngsi("hasValue"));
  EXPECT_EQ(core->Expand("object"), Ngsi("hasObject"));
  EXPECT_EQ(core->Expand("Point"), "https://purl.org/geojson/vocab#Point");
  EXPECT_EQ(core->Expand("description"), "http://purl.org/dc/terms/description");
  EXPECT_EQ(core->Expand("ngsi-ld:foo"), Ngsi("foo"));
}

TEST(CoreContext, UndefinedTermsUseTheDefaultVocabulary) {
  auto core = NoFetch().Core();
  EXPECT_EQ(core->Expand("speed"), Default("speed"));
  EXPECT_EQ(core->Expand("Vehicle"), Default("Vehicle"));
  EXPECT_EQ(core->Compact(Default("speed")), "speed");
  EXPECT_EQ(core->Compact(Default("Vehicle")), "Vehicle");
}

TEST(CoreContext, AbsoluteIrisAndKeywordsAreUntouched) {
  auto core = NoFetch().Core();
  for (std::string_view s :
       {"urn:ngsi-ld:Vehicle:A4567", "http://example.org/speed", "https://schema.org/name",
        "mailto:someone@example.org", "@id", "@context", "_:b0", "undefinedprefix://x"}) {
    EXPECT_EQ(core->Expand(s), s);
  }
  EXPECT_EQ(core->Compact("urn:ngsi-ld:Vehicle:A4567"), "urn:ngsi-ld:Vehicle:A4567");
  EXPECT_EQ(core->Compact("http://example.org/speed"), "http://example.org/speed");
  // Not a scheme (a space), so not an absolute IRI: vocabulary-relative.
  EXPECT_EQ(core->Expand("my term:x"), Default("my term:x"));
}

TEST(CoreContext, CompactsCoreIris) {
  auto core = NoFetch().Core();
  EXPECT_EQ(core->Compact(Ngsi("location")), "location");
  EXPECT_EQ(core->Compact(Ngsi("observedAt")), "observedAt");
  EXPECT_EQ(core->Compact(Ngsi("hasValue")), "value");
  EXPECT_EQ(core->Compact(Ngsi("isContainedBy")), "containedBy");
  EXPECT_EQ(core->Compact("@id"), "id");
  EXPECT_EQ(core->Compact("@type"), "type");
  EXPECT_EQ(core->Compact("@value"), "@value");
  // No term: a compact IRI with the core prefixes.
  EXPECT_EQ(core->Compact(Ngsi("somethingNew")), "ngsi-ld:somethingNew");
  EXPECT_EQ(core->Compact("https://purl.org/geojson/vocab#Other"), "geojson:Other");
  // The default-vocabulary remainder would collide with a core term: a compact IRI instead.
  EXPECT_EQ(core->Compact(Default("location")), "ngsi-ld:default-context/location");
}

TEST(CoreContext, TypeCoercionsAndContainers) {
  auto core = NoFetch().Core();
  const TermDefinition* observed = core->Find("observedAt");
  ASSERT_NE(observed, nullptr);
  EXPECT_EQ(observed->iri, Ngsi("observedAt"));
  EXPECT_EQ(observed->type, Ngsi("DateTime"));
  ASSERT_NE(core->Find("datasetId"), nullptr);
  EXPECT_EQ(core->Find("datasetId")->type, "@id");
  ASSERT_NE(core->Find("vocab"), nullptr);
  EXPECT_EQ(core->Find("vocab")->type, "@vocab");
  ASSERT_NE(core->Find("json"), nullptr);
  EXPECT_EQ(core->Find("json")->type, "@json");
  ASSERT_NE(core->Find("coordinates"), nullptr);
  EXPECT_EQ(core->Find("coordinates")->container, "@list");
  ASSERT_NE(core->Find("languageMap"), nullptr);
  EXPECT_EQ(core->Find("languageMap")->container, "@language");
  ASSERT_NE(core->Find("dataset"), nullptr);
  EXPECT_EQ(core->Find("dataset")->container, "@index");
  EXPECT_EQ(core->Find("speed"), nullptr);
  // Find expands first; FindByIri goes from the IRI.
  EXPECT_EQ(core->Find("ngsi-ld:observedAt"), observed);
  EXPECT_EQ(core->FindByIri(Ngsi("observedAt")), observed);
  EXPECT_EQ(core->FindByIri(Ngsi("nothing")), nullptr);
}

TEST(CoreContext, RoundTrips) {
  auto core = NoFetch().Core();
  for (std::string_view iri : {Ngsi("location"), Default("speed"), Default("location"), Ngsi("x/y"),
                               std::string("urn:x:y"), std::string("http://example.org/a#b"),
                               Default("a:b"), std::string("https://purl.org/geojson/vocab#Point"),
                               Default(""), Default("@x"), Ngsi("//x"), Ngsi("@context")}) {
    EXPECT_EQ(core->Expand(core->Compact(iri)), iri) << iri << " -> " << core->Compact(iri);
  }
}

TEST(UserContext, DefinesTermsAndPrefixesInAnyOrder) {
  auto ctx = Resolve(R"({
    "Vehicle": "ex:Vehicle",
    "speed": {"@id": "ex:speed", "@type": "xsd:float"},
    "owner": {"@id": "ex:owner", "@type": "@id"},
    "tags": {"@id": "ex:tags", "@container": ["@set"]},
    "byLang": {"@id": "ex:byLang", "@container": ["@language", "@set"]},
    "ex": "http://example.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#"
  })");
  EXPECT_FALSE(ctx->is_core());
  EXPECT_EQ(ctx->Expand("Vehicle"), "http://example.org/Vehicle");
  EXPECT_EQ(ctx->Expand("speed"), "http://example.org/speed");
  EXPECT_EQ(ctx->Expand("ex:brand"), "http://example.org/brand");
  const TermDefinition* speed = ctx->Find("speed");
  ASSERT_NE(speed, nullptr);
  EXPECT_EQ(speed->type, "http://www.w3.org/2001/XMLSchema#float");
  EXPECT_EQ(ctx->Find("owner")->type, "@id");
  EXPECT_EQ(ctx->Find("tags")->container, "@set");
  EXPECT_EQ(ctx->Find("byLang")->container, "@language");

  EXPECT_EQ(ctx->Compact("http://example.org/Vehicle"), "Vehicle");
  EXPECT_EQ(ctx->Compact("http://example.org/brand"), "ex:brand");
  EXPECT_EQ(ctx->Compact("http://www.w3.org/2001/XMLSchema#int"), "xsd:int");
  // Core terms are still there.
  EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
  EXPECT_EQ(ctx->Compact(Ngsi("location")), "location");
  EXPECT_EQ(ctx->Expand("brand"), Default("brand"));
}

TEST(UserContext, CompactIriTermValueUsingCorePrefix) {
  // A user context may use the core prefixes without defining them.
  auto ctx = Resolve(R"({"temperature": "ngsi-ld:temperature", "kind": "geojson:kind"})");
  EXPECT_EQ(ctx->Expand("temperature"), Ngsi("temperature"));
  EXPECT_EQ(ctx->Expand("kind"), "https://purl.org/geojson/vocab#kind");
  EXPECT_EQ(ctx->Compact(Ngsi("temperature")), "temperature");
}

TEST(UserContext, TermWithoutIdUsesTheVocabulary) {
  auto ctx =
      Resolve(R"({"speed": {"@type": "xsd:float"}, "xsd": "http://www.w3.org/2001/XMLSchema#"})");
  EXPECT_EQ(ctx->Expand("speed"), Default("speed"));
  EXPECT_EQ(ctx->Find("speed")->type, "http://www.w3.org/2001/XMLSchema#float");
  auto with_vocab = Resolve(R"({"@vocab": "http://v.org/", "speed": {"@type": "@id"}})");
  EXPECT_EQ(with_vocab->Expand("speed"), "http://v.org/speed");
}

TEST(UserContext, UserVocabOverridesTheDefault) {
  auto ctx = Resolve(R"({"@vocab": "http://example.org/ns#", "name": "https://schema.org/name"})");
  EXPECT_EQ(ctx->vocab(), "http://example.org/ns#");
  EXPECT_EQ(ctx->Expand("speed"), "http://example.org/ns#speed");
  EXPECT_EQ(ctx->Compact("http://example.org/ns#speed"), "speed");
  EXPECT_EQ(ctx->Expand("name"), "https://schema.org/name");
  EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
  // The default vocabulary no longer applies: such IRIs compact with the core prefix.
  EXPECT_EQ(ctx->Compact(Default("speed")), "ngsi-ld:default-context/speed");
  // @vocab may be a compact IRI or a term.
  auto compact = Resolve(R"({"ex": "http://example.org/", "@vocab": "ex:terms/"})");
  EXPECT_EQ(compact->Expand("x"), "http://example.org/terms/x");
  // null @vocab falls back to the default.
  auto reset = Resolve(R"([{"@vocab": "http://a.org/"}, {"@vocab": null}])");
  EXPECT_EQ(reset->Expand("x"), Default("x"));
}

TEST(UserContext, CoreTermsWinOverUserDefinitions) {
  auto ctx = Resolve(R"({
    "location": "http://example.org/location",
    "type": "http://example.org/type",
    "observedAt": {"@id": "http://example.org/observedAt", "@type": "xsd:string"},
    "Property": "http://example.org/Property",
    "name": "https://schema.org/name"
  })");
  EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
  EXPECT_EQ(ctx->Expand("type"), "@type");
  EXPECT_EQ(ctx->Expand("observedAt"), Ngsi("observedAt"));
  EXPECT_EQ(ctx->Find("observedAt")->type, Ngsi("DateTime"));
  EXPECT_EQ(ctx->Expand("Property"), Ngsi("Property"));
  EXPECT_EQ(ctx->Expand("name"), "https://schema.org/name");
  // The overridden user IRIs are not compacted to the core terms.
  EXPECT_EQ(ctx->Compact("http://example.org/location"), "http://example.org/location");
}

TEST(UserContext, UserTermsArePreferredWhenCompacting) {
  auto ctx = Resolve(R"({"loc": "https://uri.etsi.org/ngsi-ld/location", "myId": "@id",
                         "bb": "http://e.org/x", "a": "http://e.org/x", "zz": "http://e.org/x"})");
  EXPECT_EQ(ctx->Compact(Ngsi("location")), "loc");
  EXPECT_EQ(ctx->Expand("loc"), Ngsi("location"));
  EXPECT_EQ(ctx->Expand("location"), Ngsi("location"));
  // Keywords keep the NGSI-LD aliases.
  EXPECT_EQ(ctx->Compact("@id"), "id");
  EXPECT_EQ(ctx->Expand("myId"), "@id");
  // Shortest, then lexicographically least.
  EXPECT_EQ(ctx->Compact("http://e.org/x"), "a");
}

TEST(UserContext, NullUnsetsATerm) {
  auto ctx = Resolve(R"([{"speed": "http://a.org/speed", "ex": "http://ex.org/"},
                         {"speed": null, "ex": {"@id": null}}])");
  EXPECT_EQ(ctx->Expand("speed"), Default("speed"));
  EXPECT_EQ(ctx->Find("speed"), nullptr);
  EXPECT_EQ(ctx->Expand("ex:y"), "ex:y");
  // null in the array resets what came before it.
  auto reset = Resolve(R"([{"speed": "http://a.org/speed"}, null, {"x": "http://a.org/x"}])");
  EXPECT_EQ(reset->Expand("speed"), Default("speed"));
  EXPECT_EQ(reset->Expand("x"), "http://a.org/x");
}

TEST(UserContext, LaterDefinitionsOverrideEarlierOnes) {
  auto ctx = Resolve(R"([{"speed": "http://a.org/speed"}, {"speed": "http://b.org/speed"}])");
  EXPECT_EQ(ctx->Expand("speed"), "http://b.org/speed");
  // A term value naming a term defined in an earlier context.
  auto chained = Resolve(R"([{"ex": "http://ex.org/"}, {"Car": "ex:Car"}])");
  EXPECT_EQ(chained->Expand("Car"), "http://ex.org/Car");
}

TEST(UserContext, IgnoresFeaturesNgsiLdDoesNotUse) {
  auto ctx = Resolve(R"({
    "@version": 1.1, "@protected": true, "@propagate": false, "@base": "http://base.org/",
    "@language": "en", "@direction": "ltr", "@import": "https://example.org/imported.jsonld",
    "@somethingNew": {"x": 1},
    "parent": {"@reverse": "http://example.org/child"},
    "scoped": {"@id": "http://example.org/scoped", "@context": {"inner": "http://example.org/i"},
               "@protected": true, "@propagate": true, "@language": "fr", "@nest": "x"},
    "@type": {"@container": "@set"},
    "nested": {"@id": "http://example.org/nested", "@prefix": true},
    "": "http://example.org/empty"
  })");
  EXPECT_EQ(ctx->Expand("scoped"), "http://example.org/scoped");
  EXPECT_EQ(ctx->Expand("inner"), Default("inner"));
  EXPECT_EQ(ctx->Find("parent"), nullptr);
  EXPECT_EQ(ctx->Expand("nested:x"), "http://example.org/nestedx");
  EXPECT_EQ(ctx->Compact("http://example.org/nestedy"), "nested:y");
  EXPECT_EQ(ctx->Expand("type"), "@type");
}

TEST(UserContext, AliasesAndCompactIriTerms) {
  auto ctx = Resolve(R"({"schema": "https://schema.org/", "schema:name": {"@type": "@id"},
                         "identifier": "@id", "weird": "@not-a-keyword!"})");
  EXPECT_EQ(ctx->Expand("schema:name"), "https://schema.org/name");
  EXPECT_EQ(ctx->Find("schema:name")->type, "@id");
  EXPECT_EQ(ctx->Expand("identifier"), "@id");
  EXPECT_EQ(ctx->Find("weird"), nullptr);
  EXPECT_EQ(ctx->Compact("https://schema.org/name"), "schema:name");
  EXPECT_EQ(ctx->Compact("https://schema.org/other"), "schema:other");
}

TEST(UserContext, SourceIsWhatTheClientGave) {
  Json value = Parse(
      R"([{"a": "http://a.org/a"}, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"])");
  ContextRegistry registry = NoFetch();
  auto ctx = registry.Resolve(value);
  ASSERT_TRUE(ctx.ok()) << ctx.status().detail();
  EXPECT_EQ((*ctx)->source(), value);
  EXPECT_FALSE((*ctx)->is_core());
  EXPECT_EQ((*ctx)->Expand("a"), "http://a.org/a");
  EXPECT_EQ((*ctx)->Expand("location"), Ngsi("location"));
}

// Found by fuzz_context: Compact gave strings that Expand keeps as they are.
TEST(UserContext, CompactionNeverGivesWhatExpandKeeps) {
  auto ctx = Resolve(R"({"@vocab": "http://e.org/", "ex": "http://example.org/",
                         "_": "http://u.org/"})");
  for (std::string_view iri : {"http://e.org/@q", "http://example.org///foo", "http://u.org/z",
                               "http://e.org/name", "http://example.org/a"}) {
    EXPECT_EQ(ctx->Expand(ctx->Compact(iri)), iri) << iri << " -> " << ctx->Compact(iri);
  }
  EXPECT_EQ(ctx->Compact("http://example.org/a"), "ex:a");
  EXPECT_EQ(ctx->Compact("http://e.org/name"), "name");
}

// Found by fuzz_context: each term defined through the next one recursed once per term, so a
// long chain in a request body overflowed the stack.
TEST(UserContext, LongChainsOfDefinitionsAreRejected) {
  auto chain = [](int n) {
    std::string s = "{";
    for (int i = 0; i < n; ++i) {
      s += "\"a" + std::to_string(i) + "\": \"a" + std::to_string(i + 1) + ":\", ";
    }
    return s + "\"a" + std::to_string(n) + "\": \"http://e.org/\"}";
  };
  EXPECT_EQ(Resolve(chain(100))->Expand("a0"), "http://e.org/");
  Status st = ResolveError(chain(50000));
  EXPECT_EQ(st.code(), ErrorCode::kBadRequestData) << st.detail();
}

TEST(UserContext, InvalidContexts) {
  for (std::string_view bad : {
           "42",
           "true",
           R"(["https://example.org/ctx.jsonld", 7])",
           R"([["x"]])",
           R"({"a": 5})",
           R"({"a": true})",
           R"({"a": ["http://x"]})",
           R"({"a": {"@id": 5}})",
           R"({"a": {"@type": 5}})",
           R"({"a": {"@container": 5}})",
           R"({"a": {"@container": [1]}})",
           R"({"@vocab": 5})",
           R"({"a": "b:x", "b": "a:y"})",
           R"({"a": {"@type": ""}})",
           R"("not a url")",
           R"("urn:x:y")",
           R"({"a": ""})",
           R"({"@vocab": "@id"})",
       }) {
    Status st = ResolveError(bad);
    EXPECT_EQ(st.code(), ErrorCode::kBadRequestData) << bad << ": " << st.detail();
  }
}

}  // namespace
}  // namespace civitas::jsonld
