#include "query/selector.h"

#include <gtest/gtest.h>

#include <chrono>

namespace civitas::query {
namespace {

ngsild::Entity Make(std::string id, std::vector<std::string> types,
                    std::vector<std::string> attrs = {}) {
  ngsild::Entity e;
  e.id = std::move(id);
  e.types = std::move(types);
  for (auto& a : attrs) e.attrs.push_back({a, {Json::MakeObject()}});
  return e;
}

std::string Id(std::string_view s) { return std::string(s); }

TEST(SelectorTest, IdsPatternAndType) {
  EntitySelector s;
  ASSERT_TRUE(s.SetIdPattern("^urn:ngsi-ld:Car:[0-9]+$").ok());
  s.type = *TypeExpr::Parse("Car", Id);
  EXPECT_TRUE(s.Matches(Make("urn:ngsi-ld:Car:12", {"Car"})));
  EXPECT_FALSE(s.Matches(Make("urn:ngsi-ld:Car:x", {"Car"})));
  EXPECT_FALSE(s.Matches(Make("urn:ngsi-ld:Car:12", {"Bus"})));
  EntitySelector ids;
  ids.ids = {"urn:a", "urn:b"};
  EXPECT_TRUE(ids.Matches(Make("urn:b", {"T"})));
  EXPECT_FALSE(ids.Matches(Make("urn:c", {"T"})));
  EXPECT_EQ(EntitySelector().SetIdPattern("(unclosed").code(), ErrorCode::kBadRequestData);
}

TEST(SelectorTest, HostilePatternIsLinear) {
  EntitySelector s;
  ASSERT_TRUE(s.SetIdPattern("^(a+)+$").ok());
  std::string id = "urn:" + std::string(50000, 'a') + "!";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.Matches(Make(id, {"T"})));
  // A backtracking engine takes forever here; RE2 takes milliseconds.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(SelectorTest, FilterOrsSelectorsAndNeedsOneAttr) {
  EntityFilter f;
  EntitySelector a, b;
  a.type = *TypeExpr::Parse("Car", Id);
  b.ids = {"urn:x"};
  f.selectors.push_back(std::move(a));
  f.selectors.push_back(std::move(b));
  EXPECT_TRUE(f.Matches(Make("urn:1", {"Car"})));
  EXPECT_TRUE(f.Matches(Make("urn:x", {"Bus"})));
  EXPECT_FALSE(f.Matches(Make("urn:2", {"Bus"})));
  f.attrs = {"speed"};
  EXPECT_FALSE(f.Matches(Make("urn:1", {"Car"})));
  EXPECT_TRUE(f.Matches(Make("urn:1", {"Car"}, {"speed"})));
  // The selectors' part alone: only id and types count.
  EXPECT_TRUE(f.SelectorsMatch("urn:1", {"Car"}));
  EXPECT_TRUE(f.SelectorsMatch("urn:x", {"Bus"}));
  EXPECT_FALSE(f.SelectorsMatch("urn:2", {"Bus", "Tram"}));
  EXPECT_TRUE(EntityFilter().SelectorsMatch("urn:2", {"Bus"}));
}

}  // namespace
}  // namespace civitas::query
