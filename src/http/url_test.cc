#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http/http.h"

namespace civitas::http {
namespace {

TEST(PercentDecodeTest, DecodesEscapes) {
  std::string out;
  ASSERT_TRUE(PercentDecode("urn%3Angsi-ld%3ABuilding%3A001", &out, false));
  EXPECT_EQ(out, "urn:ngsi-ld:Building:001");
  ASSERT_TRUE(PercentDecode("%e2%82%AC%20x", &out, false));
  EXPECT_EQ(out, "\xe2\x82\xac x");
  ASSERT_TRUE(PercentDecode("", &out, false));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(PercentDecode("%00", &out, false));
  EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(PercentDecodeTest, PlusAsSpaceOnlyWhenAsked) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a+b%2B", &out, false));
  EXPECT_EQ(out, "a+b+");
  ASSERT_TRUE(PercentDecode("a+b%2B", &out, true));
  EXPECT_EQ(out, "a b+");
}

TEST(PercentDecodeTest, RejectsMalformedEscapes) {
  std::string out;
  EXPECT_FALSE(PercentDecode("%", &out, false));
  EXPECT_FALSE(PercentDecode("abc%4", &out, false));
  EXPECT_FALSE(PercentDecode("%zz", &out, false));
  EXPECT_FALSE(PercentDecode("%4g", &out, false));
  EXPECT_FALSE(PercentDecode("%%41", &out, false));
}

TEST(ParseQueryTest, SplitsAndDecodesInOrder) {
  std::vector<std::pair<std::string, std::string>> q;
  ASSERT_TRUE(ParseQuery("type=Building&attrs=name,height&q=height%3E10;name==%22A+B%22&flag", &q));
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"type", "Building"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"attrs", "name,height"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"q", "height>10;name==\"A B\""}));
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"flag", ""}));
}

TEST(ParseQueryTest, EdgeCases) {
  std::vector<std::pair<std::string, std::string>> q;
  ASSERT_TRUE(ParseQuery("", &q));
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(ParseQuery("&&a=1&&", &q));
  ASSERT_EQ(q.size(), 1u);
  ASSERT_TRUE(ParseQuery("a==b&=c&d=", &q));
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "=b"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"", "c"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"d", ""}));
  ASSERT_TRUE(ParseQuery("a=1&a=2", &q));
  ASSERT_EQ(q.size(), 2u) << "repeated names are kept";
  EXPECT_FALSE(ParseQuery("a=%G1", &q));
  EXPECT_FALSE(ParseQuery("a%=1", &q));
}

}  // namespace
}  // namespace civitas::http
