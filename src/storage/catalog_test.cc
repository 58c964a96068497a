#include "storage/catalog.h"

#include <gtest/gtest.h>

namespace civitas::storage {
namespace {

ngsild::Entity Make(std::vector<std::string> types,
                    std::vector<std::pair<std::string, std::string>> attrs) {
  ngsild::Entity e;
  e.id = "urn:x";
  e.types = std::move(types);
  for (auto& [name, kind] : attrs) {
    Json inst = Json::MakeObject();
    inst.Set("type", kind);
    e.attrs.push_back({name, {inst}});
  }
  return e;
}

TEST(CatalogTest, CountsFollowAddsAndRemoves) {
  Catalog c;
  auto a = Make({"Building"}, {{"name", "Property"}, {"owner", "Relationship"}});
  auto b = Make({"Building", "Landmark"}, {{"name", "Property"}});
  c.Apply("", a, +1);
  c.Apply("", b, +1);
  c.Apply("other", a, +1);
  EXPECT_EQ(c.Types(""), (std::vector<std::string>{"Building", "Landmark"}));
  EXPECT_EQ(c.Type("", "Building")->entities, 2);
  EXPECT_EQ(c.Type("", "Building")->attributes.at("owner").at("Relationship"), 1);
  EXPECT_EQ(c.Attribute("", "name")->entities, 2);
  EXPECT_EQ(c.Attribute("", "name")->types.at("Landmark"), 1);
  c.Apply("", b, -1);
  EXPECT_EQ(c.Types(""), (std::vector<std::string>{"Building"}));
  EXPECT_EQ(c.Attribute("", "name")->entities, 1);
  c.Apply("", a, -1);
  EXPECT_TRUE(c.Types("").empty());
  EXPECT_TRUE(c.Attributes("").empty());
  EXPECT_EQ(c.Types("other"), (std::vector<std::string>{"Building"}));
  EXPECT_FALSE(c.Type("nope", "Building").has_value());
}

TEST(CatalogTest, UpdateSkipsValueOnlyChangesButFollowsShapeChanges) {
  Catalog c;
  auto a = Make({"Building"}, {{"name", "Property"}});
  c.Update("", nullptr, &a);
  auto same = a;
  same.attrs[0].instances[0].Set("value", 7);
  c.Update("", &a, &same);
  EXPECT_EQ(c.Attribute("", "name")->kinds.at("Property"), 1);
  auto changed = Make({"Building"}, {{"name", "Relationship"}});
  c.Update("", &same, &changed);
  EXPECT_EQ(c.Attribute("", "name")->kinds.count("Property"), 0u);
  EXPECT_EQ(c.Attribute("", "name")->kinds.at("Relationship"), 1);
  c.Update("", &changed, nullptr);
  EXPECT_TRUE(c.Types("").empty());
}

}  // namespace
}  // namespace civitas::storage
