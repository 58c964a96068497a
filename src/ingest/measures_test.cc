#include "ingest/measures.h"

#include <gtest/gtest.h>

namespace civitas::ingest {
namespace {

TEST(JsonMeasures, ObjectIsOneGroupInPayloadOrder) {
  auto g = DecodeJsonMeasures(R"({"t": 21.5, "no2": 38, "s": "ok"})");
  ASSERT_TRUE(g.ok()) << g.status().detail();
  ASSERT_EQ(g->size(), 1u);
  const auto& v = (*g)[0].values;
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].first, "t");
  EXPECT_EQ(v[0].second, Json(21.5));
  EXPECT_EQ(v[1].first, "no2");
  EXPECT_EQ(v[1].second, Json(38));
  EXPECT_EQ(v[2].second, Json("ok"));
  EXPECT_FALSE((*g)[0].observed_at.has_value());
}

TEST(JsonMeasures, ArrayGivesSeveralGroupsWithTimeInstant) {
  auto g = DecodeJsonMeasures(
      R"([{"t": 1, "TimeInstant": "2024-05-01T10:00:00Z"}, {"t": 2, "TimeInstant": "2024-05-01T09:00:00.5Z"}])");
  ASSERT_TRUE(g.ok()) << g.status().detail();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].values.size(), 1u);  // TimeInstant is not a measure
  EXPECT_EQ(*(*g)[0].observed_at, *ParseDateTime("2024-05-01T10:00:00Z"));
  EXPECT_EQ(*(*g)[1].observed_at, *ParseDateTime("2024-05-01T09:00:00.5Z"));
}

TEST(JsonMeasures, RejectsWhatIsNotMeasures) {
  EXPECT_FALSE(DecodeJsonMeasures("").ok());
  EXPECT_FALSE(DecodeJsonMeasures("{").ok());
  EXPECT_FALSE(DecodeJsonMeasures("42").ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"("t")").ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"([{"t": 1}, 3])").ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"({"": 1})").ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"({"t": 1, "TimeInstant": "yesterday"})").ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"({"t": 1, "TimeInstant": 17})").ok());
  EXPECT_EQ(DecodeJsonMeasures("[1]").status().code(), ErrorCode::kBadRequestData);
}

TEST(JsonMeasures, LimitsAreEnforced) {
  DecodeLimits limits;
  limits.max_groups = 2;
  limits.max_values = 2;
  EXPECT_FALSE(DecodeJsonMeasures(R"([{"a":1},{"a":2},{"a":3}])", limits).ok());
  EXPECT_FALSE(DecodeJsonMeasures(R"({"a":1,"b":2,"c":3})", limits).ok());
  EXPECT_TRUE(DecodeJsonMeasures(R"([{"a":1,"b":2},{"a":2}])", limits).ok());
  std::string deep(100, '[');
  EXPECT_FALSE(DecodeJsonMeasures(deep + std::string(100, ']')).ok());
}

TEST(Ultralight, PairsBecomeStringValues) {
  auto g = DecodeUltralight("t|21.5|no2|38");
  ASSERT_TRUE(g.ok()) << g.status().detail();
  ASSERT_EQ(g->size(), 1u);
  const auto& v = (*g)[0].values;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].first, "t");
  EXPECT_EQ(v[0].second, Json("21.5"));
  EXPECT_EQ(v[1].first, "no2");
  EXPECT_EQ(v[1].second, Json("38"));
}

TEST(Ultralight, GroupsTimestampsAndWhitespace) {
  auto g = DecodeUltralight(
      "2024-05-01T10:00:00Z|t|21#t|22|TimeInstant|2024-05-01T11:00:00Z# \n h | 40 \r\n#");
  ASSERT_TRUE(g.ok()) << g.status().detail();
  ASSERT_EQ(g->size(), 3u);
  EXPECT_EQ(*(*g)[0].observed_at, *ParseDateTime("2024-05-01T10:00:00Z"));
  EXPECT_EQ(*(*g)[1].observed_at, *ParseDateTime("2024-05-01T11:00:00Z"));
  ASSERT_EQ((*g)[1].values.size(), 1u);
  EXPECT_FALSE((*g)[2].observed_at.has_value());
  EXPECT_EQ((*g)[2].values[0].first, "h");
  EXPECT_EQ((*g)[2].values[0].second, Json("40"));
}

TEST(Ultralight, EmptyValueIsKept) {
  auto g = DecodeUltralight("s|");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)[0].values[0].second, Json(""));
}

TEST(Ultralight, RejectsMalformed) {
  EXPECT_FALSE(DecodeUltralight("").ok());
  EXPECT_FALSE(DecodeUltralight("###").ok());
  EXPECT_FALSE(DecodeUltralight("t").ok());
  EXPECT_FALSE(DecodeUltralight("|21").ok());
  EXPECT_FALSE(DecodeUltralight("notatime|t|21").ok());
  EXPECT_FALSE(DecodeUltralight("t|1|TimeInstant|soon").ok());
}

TEST(Sniff, JsonOrUltralight) {
  EXPECT_EQ(SniffFormat(R"( {"t":1})"), PayloadFormat::kJson);
  EXPECT_EQ(SniffFormat("[{}]"), PayloadFormat::kJson);
  EXPECT_EQ(SniffFormat("t|1"), PayloadFormat::kUltralight);
  EXPECT_EQ(SniffFormat(""), PayloadFormat::kUltralight);
}

}  // namespace
}  // namespace civitas::ingest
