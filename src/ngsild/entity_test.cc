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
  Json inst = Json::MakeObject();
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
  EXPECT_EQ(back->attrs[0].instances[0], inst);
  EXPECT_EQ(FindInstance(back->attrs[0], "urn:ds:1"), 0);
  EXPECT_EQ(FindInstance(back->attrs[0], ""), -1);
}

TEST(EntityTest, CorruptRecordIsAnError) {
  EXPECT_FALSE(DeserializeEntity("{").ok());
  EXPECT_FALSE(DeserializeEntity(R"({"id":"x"})").ok());
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
