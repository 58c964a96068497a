#include "ngsild/render.h"

#include <gtest/gtest.h>

#include <map>

#include "ngsild/ops.h"
#include "ngsild/parse.h"

namespace civitas::ngsild {
namespace {

jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry r({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return r;
}

std::string Expand(std::string_view n) { return Registry().Core()->Expand(n); }

EntityPtr Make(const char* text) {
  auto f = ParseEntityBody(*ParseJson(text), *Registry().Core(), {.require_id_and_type = true});
  EXPECT_TRUE(f.ok()) << f.status().detail();
  return std::make_shared<const Entity>(CreateEntity(std::move(*f), 0));
}

TEST(ProjectionTest, ParsesNestedAndRejectsMalformed) {
  auto p = ParseProjection("id,locatedAt{id,name,isIn{id}}", Expand);
  ASSERT_TRUE(p.ok()) << p.status().detail();
  ASSERT_EQ((*p)->items.size(), 2u);
  EXPECT_TRUE((*p)->Contains("id"));
  auto nested = (*p)->Nested(Expand("locatedAt"));
  ASSERT_NE(nested, nullptr);
  EXPECT_TRUE(nested->Contains(Expand("name")));
  EXPECT_NE(nested->Nested(Expand("isIn")), nullptr);
  for (const char* bad : {"id;name", "id,locatedAt{name", "id,locatedAt{{name}", "id,,name",
                          "id,locatedAt{,name}", "id,locatedAt{}", "", "a}", "{a}"}) {
    auto r = ParseProjection(bad, Expand);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.status().code(), ErrorCode::kBadRequestData) << bad;
  }
}

class LinkedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto e : {Make(R"({"id":"urn:B:1","type":"Building","name":"Hall",
                            "locatedAt":{"type":"Relationship","object":"urn:C:1"}})"),
                   Make(R"({"id":"urn:C:1","type":"City","name":"Aarhus",
                            "isIn":{"type":"Relationship","object":"urn:K:1"}})"),
                   Make(R"({"id":"urn:K:1","type":"Country","name":"Denmark"})")}) {
      entities_[e->id] = e;
    }
    o_.lookup = [this](const std::string& id) -> EntityPtr {
      auto it = entities_.find(id);
      return it == entities_.end() ? nullptr : it->second;
    };
  }
  std::string Render(const std::string& id) {
    return ToJsonString(RenderEntity(*entities_[id], *Registry().Core(), o_));
  }
  std::map<std::string, EntityPtr> entities_;
  RenderOptions o_;
};

TEST_F(LinkedTest, InlineKeyValuesFollowsJoinLevel) {
  o_.format = Format::kKeyValues;
  o_.join = Join::kInline;
  EXPECT_EQ(Render("urn:B:1"),
            R"({"id":"urn:B:1","type":"Building","name":"Hall","locatedAt":{"id":"urn:C:1","type":"City","name":"Aarhus","isIn":"urn:K:1"}})");
  o_.join_level = 2;
  EXPECT_EQ(Render("urn:B:1"),
            R"({"id":"urn:B:1","type":"Building","name":"Hall","locatedAt":{"id":"urn:C:1","type":"City","name":"Aarhus","isIn":{"id":"urn:K:1","type":"Country","name":"Denmark"}}})");
}

TEST_F(LinkedTest, InlineNormalizedAddsEntityMember) {
  o_.join = Join::kInline;
  o_.pick = *ParseProjection("id,locatedAt{id,name}", Expand);
  EXPECT_EQ(Render("urn:B:1"),
            R"({"id":"urn:B:1","locatedAt":{"type":"Relationship","object":"urn:C:1","entity":{"id":"urn:C:1","name":{"type":"Property","value":"Aarhus"}}}})");
}

TEST_F(LinkedTest, FlatListsEachEntityOnce) {
  o_.format = Format::kKeyValues;
  o_.join_level = 3;
  // omit applies to the top entity; braces carry it to the linked ones.
  o_.omit = *ParseProjection("name,locatedAt{type}", Expand);
  EXPECT_EQ(ToJsonString(RenderEntityFlat(*entities_["urn:B:1"], *Registry().Core(), o_)),
            R"([{"id":"urn:B:1","type":"Building","locatedAt":"urn:C:1"},{"id":"urn:C:1","name":"Aarhus","isIn":"urn:K:1"},{"id":"urn:K:1","type":"Country","name":"Denmark"}])");
}

TEST_F(LinkedTest, LanguagePreferences) {
  auto e = Make(R"({"id":"urn:S:1","type":"Street","n":{"type":"LanguageProperty",
      "languageMap":{"fr":"Grand Place","nl":"Grote Markt"}}})");
  RenderOptions o;
  o.format = Format::kKeyValues;
  for (auto [lang, want] : {std::pair{"nl", "Grote Markt"}, {"fr-CH,fr;q=0.9", "Grand Place"},
                            {"de,nl;q=0.8,*;q=0.5", "Grote Markt"}, {"*", "Grand Place"},
                            {"de", "Grand Place"}}) {
    o.lang = lang;
    EXPECT_EQ(ToJsonString(*RenderEntity(*e, *Registry().Core(), o).Find("n")),
              "\"" + std::string(want) + "\"")
        << lang;
  }
}

}  // namespace
}  // namespace civitas::ngsild
