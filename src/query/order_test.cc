#include "query/order.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace civitas::query {
namespace {

std::string Id(std::string_view s) { return std::string(s); }

// An entity with a Property "name" (value, createdAt and a sub-attribute "sub").
ngsild::Entity Make(std::string id, Json value, int64_t sub, std::string created) {
  ngsild::Entity e;
  e.id = std::move(id);
  e.types = {"Building"};
  ngsild::Attribute inst(Json::MakeObject());
  inst.Set("type", "Property");
  inst.Set("value", std::move(value));
  if (!created.empty()) inst.created_at = *ParseDateTime(created);
  Json sub_attr = Json::MakeObject();
  sub_attr.Set("type", "Property");
  sub_attr.Set("value", sub);
  inst.Set("sub", std::move(sub_attr));
  e.attrs.push_back({"name", {std::move(inst)}});
  return e;
}

std::vector<std::string> Sorted(const EntityOrder& o, std::vector<ngsild::Entity> v) {
  std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return o.Less(a, b); });
  std::vector<std::string> ids;
  for (const auto& e : v) ids.push_back(e.id);
  return ids;
}

TEST(EntityOrderTest, ByValueAscDescAndTieBreakById) {
  std::vector<ngsild::Entity> v = {Make("urn:c", Json("B"), 1, "2024-01-01T00:00:00Z"),
                                   Make("urn:a", Json("B"), 2, "2024-01-03T00:00:00Z"),
                                   Make("urn:b", Json("A"), 3, "2024-01-02T00:00:00Z")};
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name", Id), v),
            (std::vector<std::string>{"urn:b", "urn:a", "urn:c"}));
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name;desc", Id), v),
            (std::vector<std::string>{"urn:a", "urn:c", "urn:b"}));
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name.sub;desc", Id), v),
            (std::vector<std::string>{"urn:b", "urn:a", "urn:c"}));
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name.createdAt", Id), v),
            (std::vector<std::string>{"urn:c", "urn:b", "urn:a"}));
  // urn:c and urn:a tie on name; name.sub (1 < 2) decides.
  EXPECT_EQ(Sorted(*EntityOrder::Parse("type;asc,name;desc,name.sub", Id), v),
            (std::vector<std::string>{"urn:c", "urn:a", "urn:b"}));
  EXPECT_EQ(Sorted(*EntityOrder::Parse("id;desc", Id), v),
            (std::vector<std::string>{"urn:c", "urn:b", "urn:a"}));
}

TEST(EntityOrderTest, MixedKindsAndMissingLast) {
  ngsild::Entity none;
  none.id = "urn:0";
  std::vector<ngsild::Entity> v = {none, Make("urn:s", Json("x"), 0, ""),
                                   Make("urn:n", Json(int64_t{5}), 0, ""),
                                   Make("urn:t", Json(true), 0, "")};
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name", Id), v),
            (std::vector<std::string>{"urn:n", "urn:s", "urn:t", "urn:0"}));
  // desc turns the values round, but an entity without the attribute stays last.
  EXPECT_EQ(Sorted(*EntityOrder::Parse("name;desc", Id), v),
            (std::vector<std::string>{"urn:t", "urn:s", "urn:n", "urn:0"}));
}

TEST(EntityOrderTest, Errors) {
  EXPECT_EQ(EntityOrder::Parse("name;up", Id).status().code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(EntityOrder::Parse("name,,x", Id).status().code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(EntityOrder::Parse("a[x", Id).status().code(), ErrorCode::kBadRequestData);
  EXPECT_EQ(EntityOrder::Parse("location;dist-asc", Id).status().code(),
            ErrorCode::kNotImplemented);
}

}  // namespace
}  // namespace civitas::query
