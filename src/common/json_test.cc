#include "common/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace civitas {
namespace {

TEST(JsonTest, RoundTripKeepsMemberOrderAndTypes) {
  auto r = ParseJson(R"({"b":1,"a":[true,null,2.5,"x\"y"],"c":{"d":-7}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToJsonString(*r), R"({"b":1,"a":[true,null,2.5,"x\"y"],"c":{"d":-7}})");
  EXPECT_TRUE(r->Find("b")->is_int());
  EXPECT_TRUE(r->Find("a")->as_array()[2].is_double());
}

TEST(JsonTest, SyntaxErrorIsInvalidRequest) {
  auto r = ParseJson("{\"a\":");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidRequest);
}

TEST(JsonTest, DepthLimitIsBadRequest) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = ParseJson(deep, 32);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kBadRequestData);
  EXPECT_TRUE(ParseJson(deep, 128).ok());
}

TEST(JsonTest, EscapesControlCharacters) {
  Json j(std::string("a\nb\x01"));
  EXPECT_EQ(ToJsonString(j), "\"a\\nb\\u0001\"");
}

TEST(JsonTest, NonFiniteDoublesSerializeAsNull) {
  Json::Array a{Json(std::numeric_limits<double>::quiet_NaN()),
                Json(std::numeric_limits<double>::infinity())};
  EXPECT_EQ(ToJsonString(Json(a)), "[null,null]");
}

TEST(JsonTest, SetReplacesInPlaceAndEraseRemoves) {
  Json o = Json::MakeObject();
  o.Set("x", 1);
  o.Set("y", 2);
  o.Set("x", 3);
  EXPECT_EQ(ToJsonString(o), R"({"x":3,"y":2})");
  EXPECT_TRUE(o.Erase("x"));
  EXPECT_FALSE(o.Erase("x"));
  EXPECT_EQ(ToJsonString(o), R"({"y":2})");
}

TEST(JsonTest, DuplicateKeysLastWins) {
  auto r = ParseJson(R"({"a":1,"a":2})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToJsonString(*r), R"({"a":2})");
}

TEST(JsonTest, LargeObjectsKeepLastDuplicate) {
  std::string text = "{";
  for (int i = 0; i < 1000; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k7\":-7,\"k999\":-999}";
  auto r = ParseJson(text);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1000u);
  EXPECT_EQ(r->Find("k7")->as_int(), -7);
  EXPECT_EQ(r->Find("k999")->as_int(), -999);
  EXPECT_EQ(r->as_object()[500].first, "k500");
}

TEST(JsonTest, ShortestDoubleRepresentation) {
  EXPECT_EQ(ToJsonString(Json(0.1)), "0.1");
  EXPECT_EQ(ToJsonString(Json(21.5)), "21.5");
}

}  // namespace
}  // namespace civitas
