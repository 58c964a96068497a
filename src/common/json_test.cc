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

// The escaper skips eight bytes at a time: every special character at every position of
// strings longer and shorter than a word is escaped, and everything else copied unchanged.
TEST(JsonTest, EscapesSpecialCharactersAtEveryPosition) {
  const std::string specials[] = {"\"", "\\", "\n", "\x1f", "\x01", std::string(1, '\0')};
  const std::string escaped[] = {"\\\"", "\\\\", "\\n", "\\u001f", "\\u0001", "\\u0000"};
  for (size_t len = 1; len <= 24; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (size_t k = 0; k < std::size(specials); ++k) {
        std::string s(len, 'x');
        s[len - 1] = '\x7f';  // DEL and UTF-8 bytes need no escaping
        if (len > 2) s[len - 2] = '\xc3';
        s.replace(pos, 1, specials[k]);
        std::string expected = "\"" + s.substr(0, pos) + escaped[k] + s.substr(pos + 1) + "\"";
        std::string out;
        AppendJsonString(out, s);
        ASSERT_EQ(out, expected) << "length " << len << " position " << pos << " special " << k;
        auto back = ParseJson(out);
        if (s.find('\xc3') == std::string::npos) {  // a lone 0xc3 is not valid UTF-8
          ASSERT_TRUE(back.ok()) << out;
          EXPECT_EQ(back->as_string(), s);
        }
      }
    }
  }
  std::string plain = "https://uri.etsi.org/ngsi-ld/default-context/occupiedSpotNumber";
  std::string out;
  AppendJsonString(out, plain);
  EXPECT_EQ(out, "\"" + plain + "\"");
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

TEST(JsonTest, RawTextIsWrittenAsItIs) {
  Json o = Json::MakeObject();
  o.Set("a", Json::Raw(R"([[1.5,"x"],null])"));
  o.Set("b", Json(2));
  EXPECT_EQ(ToJsonString(o), R"({"a":[[1.5,"x"],null],"b":2})");
  // Opaque: not an array, equal only to the same text, and it round-trips through a copy.
  Json raw = Json::Raw("[1]");
  EXPECT_TRUE(raw.is_raw());
  EXPECT_FALSE(raw.is_array());
  EXPECT_EQ(raw.size(), 0u);
  EXPECT_EQ(Json(raw), Json::Raw("[1]"));
  EXPECT_NE(raw, Json::Raw("[2]"));
  EXPECT_NE(raw, *ParseJson("[1]"));
  EXPECT_EQ(raw.raw_text(), "[1]");
}

}  // namespace
}  // namespace civitas
