#include "ngsild/ops.h"

#include <gtest/gtest.h>

#include "ngsild/render.h"

namespace civitas::ngsild {
namespace {

jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry r({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return r;
}

EntityFragment Fragment(const char* text, bool partial = false) {
  auto body = ParseJson(text);
  EXPECT_TRUE(body.ok());
  ParseOptions o;
  o.partial = partial;
  auto f = ParseEntityBody(*body, *Registry().Core(), o);
  EXPECT_TRUE(f.ok()) << f.status().detail();
  return f.ok() ? std::move(*f) : EntityFragment{};
}

std::string Render(const Entity& e, RenderOptions o = {}) {
  return ToJsonString(RenderEntity(e, *Registry().Core(), o));
}

Entity Base() {
  return CreateEntity(Fragment(R"({"id":"urn:x:1","type":"T","a":1,
      "b":{"type":"Property","value":2,"unitCode":"C","q":{"type":"Property","value":9}}})"),
                      1000000);
}

TEST(OpsTest, CreateStampsSystemMembers) {
  Entity e = Base();
  EXPECT_EQ(e.created_at, 1000000);
  EXPECT_EQ(e.attrs[0].instances[0].created_at, 1000000);
  EXPECT_EQ(e.attrs[0].instances[0].modified_at, 1000000);
  // The system times are not members of the instance.
  EXPECT_EQ(e.attrs[0].instances[0].Find("createdAt"), nullptr);
  EXPECT_EQ(Render(e, {.format = Format::kKeyValues}),
            R"({"id":"urn:x:1","type":"T","a":1,"b":2})");
}

TEST(OpsTest, AppendOverwritesUnlessNoOverwrite) {
  Entity e = Base();
  auto r = AppendAttributes(e, Fragment(R"({"a":10,"c":3})"), true, 2000000);
  EXPECT_EQ(r.updated.size(), 1u);
  ASSERT_EQ(r.not_updated.size(), 1u);
  EXPECT_EQ(Render(e, {.format = Format::kKeyValues}),
            R"({"id":"urn:x:1","type":"T","a":1,"b":2,"c":3})");
  r = AppendAttributes(e, Fragment(R"({"a":10})"), false, 3000000);
  EXPECT_TRUE(r.all_ok());
  EXPECT_EQ(e.FindSlot(e.attrs[0].name)->instances[0].created_at, 1000000);
  EXPECT_EQ(e.FindSlot(e.attrs[0].name)->instances[0].modified_at, 3000000);
}

TEST(OpsTest, UpdateUpsertsAndNullDeletes) {
  Entity e = Base();
  auto r = UpdateAttributes(e, Fragment(R"({"a":5,"zz":1})"), 2000000);
  EXPECT_EQ(r.updated.size(), 2u);
  EXPECT_TRUE(r.all_ok());
  EXPECT_EQ(Render(e, {.format = Format::kKeyValues}),
            R"({"id":"urn:x:1","type":"T","a":5,"b":2,"zz":1})");
  r = UpdateAttributes(e, Fragment(R"({"zz":"urn:ngsi-ld:null","nope":"urn:ngsi-ld:null"})"),
                       3000000);
  EXPECT_EQ(r.updated.size(), 1u);
  ASSERT_EQ(r.not_updated.size(), 1u);
  EXPECT_EQ(Render(e, {.format = Format::kKeyValues}),
            R"({"id":"urn:x:1","type":"T","a":5,"b":2})");
}

TEST(OpsTest, NullForms) {
  auto inst = [](const char* text) { return *ParseJson(text); };
  EXPECT_TRUE(DeletesItself(inst(R"({"type":"Property","value":"urn:ngsi-ld:null"})")));
  EXPECT_TRUE(DeletesItself(inst(R"({"type":"Relationship","object":"urn:ngsi-ld:null"})")));
  EXPECT_TRUE(DeletesItself(inst(R"({"languageMap":{"@none":"urn:ngsi-ld:null"}})")));
  EXPECT_TRUE(DeletesItself(inst(R"({"valueList":["urn:ngsi-ld:null"]})")));
  EXPECT_FALSE(DeletesItself(inst(R"({"value":"urn:ngsi-ld:nullish"})")));
  EXPECT_FALSE(DeletesItself(inst(R"({"valueList":["urn:ngsi-ld:null", 1]})")));
}

TEST(OpsTest, MergeKeepsSubAttributesAndDeletesNull) {
  Entity e = Base();
  ASSERT_TRUE(
      MergeEntity(e, Fragment(R"({"b":{"value":7},"a":"urn:ngsi-ld:null"})", true), 2000000).ok());
  EXPECT_EQ(Render(e, {.format = Format::kConcise}),
            R"({"id":"urn:x:1","type":"T","b":{"value":7,"unitCode":"C","q":9}})");
  // A merged instance keeps its createdAt and takes the merge's modifiedAt.
  EXPECT_EQ(e.attrs[0].instances[0].created_at, 1000000);
  EXPECT_EQ(e.attrs[0].instances[0].modified_at, 2000000);
}

TEST(OpsTest, MergeRejectsIncompleteAndInconsistentInstances) {
  Entity e = Base();
  EXPECT_EQ(MergeEntity(e, Fragment(R"({"x":{"type":"Property"}})", true), 2).code(),
            ErrorCode::kBadRequestData);
  Entity f = Base();
  EXPECT_EQ(MergeEntity(f, Fragment(R"({"a":{"type":"Relationship"}})", true), 2).code(),
            ErrorCode::kBadRequestData);
  Entity g = Base();
  EXPECT_TRUE(
      MergeEntity(g, Fragment(R"({"a":{"type":"Relationship","object":"urn:x:9"}})", true), 2)
          .ok());
  EXPECT_EQ(ToJsonString(*g.attrs[0].instances[0].Find("object")), "\"urn:x:9\"");
  EXPECT_EQ(g.attrs[0].instances[0].Find("value"), nullptr);
}

TEST(OpsTest, PartialUpdateMergesIntoInstance) {
  Entity e = Base();
  auto inst = ParseAttribute(e.attrs[1].name.str(), *ParseJson(R"({"unitCode":"K"})"),
                             *Registry().Core(), {.partial = true});
  ASSERT_TRUE(inst.ok());
  ASSERT_TRUE(PartialUpdateAttribute(e, e.attrs[1].name, std::move(*inst), 2000000).ok());
  EXPECT_EQ(Render(e, {.format = Format::kConcise}),
            R"({"id":"urn:x:1","type":"T","a":1,"b":{"value":2,"unitCode":"K","q":9}})");
  EXPECT_EQ(PartialUpdateAttribute(e, "urn:nope", {}, 1).code(), ErrorCode::kResourceNotFound);
}

TEST(OpsTest, DeleteAttributeByDatasetId) {
  Entity e = CreateEntity(Fragment(R"({"id":"urn:x:1","type":"T","a":[
      {"type":"Property","value":1},{"type":"Property","value":2,"datasetId":"urn:d:2"}]})"),
                          1);
  const std::string name = e.attrs[0].name;
  EXPECT_EQ(DeleteAttribute(e, name, "urn:d:9", false, 2).code(), ErrorCode::kResourceNotFound);
  ASSERT_TRUE(DeleteAttribute(e, name, "urn:d:2", false, 2).ok());
  EXPECT_EQ(e.attrs[0].instances.size(), 1u);
  ASSERT_TRUE(DeleteAttribute(e, name, "", false, 3).ok());
  EXPECT_TRUE(e.attrs.empty());
  EXPECT_EQ(DeleteAttribute(e, name, "", true, 4).code(), ErrorCode::kResourceNotFound);
}

TEST(OpsTest, ReplaceEntityDropsOldAttributes) {
  Entity e = Base();
  ReplaceEntity(e, Fragment(R"({"type":"U","z":1})"), 5000000);
  EXPECT_EQ(Render(e, {.format = Format::kKeyValues}), R"({"id":"urn:x:1","type":"U","z":1})");
  EXPECT_EQ(e.created_at, 1000000);
}

TEST(OpsTest, RenderFiltersAndSysAttrs) {
  Entity e = Base();
  RenderOptions o;
  o.format = Format::kKeyValues;
  auto expand = [](std::string_view n) { return Registry().Core()->Expand(n); };
  o.pick = *ParseProjection("id,b", expand);
  EXPECT_EQ(Render(e, o), R"({"id":"urn:x:1","b":2})");
  RenderOptions s;
  s.sys_attrs = true;
  s.omit = *ParseProjection("type,b", expand);
  EXPECT_EQ(
      Render(e, s),
      R"({"id":"urn:x:1","createdAt":"1970-01-01T00:00:01.000Z","modifiedAt":"1970-01-01T00:00:01.000Z","a":{"type":"Property","value":1,"createdAt":"1970-01-01T00:00:01.000Z","modifiedAt":"1970-01-01T00:00:01.000Z"}})");
}

TEST(OpsTest, LanguagePropertyWithLang) {
  Entity e = CreateEntity(
      Fragment(
          R"({"id":"urn:x:1","type":"T","n":{"type":"LanguageProperty","languageMap":{"en":"Park","da":"Parkering"}}})"),
      1);
  RenderOptions o;
  o.lang = "da";
  EXPECT_EQ(
      Render(e, o),
      R"({"id":"urn:x:1","type":"T","n":{"type":"Property","value":"Parkering","lang":"da"}})");
  o.format = Format::kKeyValues;
  o.lang = "fr";
  EXPECT_EQ(Render(e, o), R"({"id":"urn:x:1","type":"T","n":"Park"})");
}

}  // namespace
}  // namespace civitas::ngsild
