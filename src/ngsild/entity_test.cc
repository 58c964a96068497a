#include "ngsild/entity.h"

#include <gtest/gtest.h>

namespace civitas::ngsild {
namespace {

TEST(EntityTest, SerializeRoundTrip) {
  Entity e;
  e.id = "urn:ngsi-ld:Car:1";
  e.types = {"https://example.org/Car", "https://example.org/Vehicle"};
  e.scope = Json("/Madrid");
  e.created_at = 1000;
  e.modified_at = 2000;
  Attribute inst(Json::MakeObject(), 1500, 1750);
  inst.Set("type", "Property");
  inst.Set("value", 21.5);
  inst.Set("datasetId", "urn:ds:1");
  e.attrs.push_back({"https://example.org/speed", {inst}});

  auto back = DeserializeEntity(SerializeEntity(e));
  ASSERT_TRUE(back.ok()) << back.status().detail();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->types, e.types);
  EXPECT_EQ(back->scope, e.scope);
  EXPECT_EQ(back->created_at, 1000);
  EXPECT_EQ(back->modified_at, 2000);
  ASSERT_EQ(back->attrs.size(), 1u);
  EXPECT_EQ(back->attrs[0].instances[0], inst);  // the members
  EXPECT_EQ(back->attrs[0].instances[0].created_at, 1500);
  EXPECT_EQ(back->attrs[0].instances[0].modified_at, 1750);
  EXPECT_EQ(back->attrs[0].instances[0].Find("createdAt"), nullptr);
  EXPECT_EQ(FindInstance(back->attrs[0], "urn:ds:1"), 0);
  EXPECT_EQ(FindInstance(back->attrs[0], ""), -1);
}

// Records written before the system times were integers hold them as DateTime members.
TEST(EntityTest, ReadsSystemTimesWrittenAsText) {
  auto e = DeserializeEntity(
      R"({"id":"urn:x:1","type":["T"],"c":1,"m":2,"a":[{"n":"https://example.org/a","i":[)"
      R"({"type":"Property","value":1,"createdAt":"1970-01-01T00:00:01.000Z",)"
      R"("modifiedAt":"1970-01-01T00:00:03.500Z"}]}]})");
  ASSERT_TRUE(e.ok()) << e.status().detail();
  const Attribute& inst = e->attrs[0].instances[0];
  EXPECT_EQ(inst.created_at, 1000000);
  EXPECT_EQ(inst.modified_at, 3500000);
  EXPECT_EQ(ToJsonString(inst), R"({"type":"Property","value":1})");
}

TEST(EntityTest, CorruptRecordIsAnError) {
  EXPECT_FALSE(DeserializeEntity("{").ok());
  EXPECT_FALSE(DeserializeEntity(R"({"id":"x"})").ok());
  EXPECT_FALSE(DeserializeEntity(R"({"id":"x","type":[],"a":[{"n":"a","i":[)"
                                 R"({"type":"Property","value":1,"createdAt":"yesterday"}]}]})")
                   .ok());
}

TEST(EntityTest, KindNames) {
  AttrKind k;
  ASSERT_TRUE(ParseAttrKind("LanguageProperty", &k));
  EXPECT_EQ(ValueMember(k), "languageMap");
  EXPECT_EQ(AttrKindName(AttrKind::kJsonProperty), "JsonProperty");
  EXPECT_FALSE(ParseAttrKind("Propertyy", &k));
}

}  // namespace
}  // namespace civitas::ngsild
