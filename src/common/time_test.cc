#include "common/time.h"

#include <gtest/gtest.h>

namespace civitas {
namespace {

TEST(TimeTest, ParsesZonesAndFractions) {
  EXPECT_EQ(ParseDateTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseDateTime("1970-01-01T00:00:01.5Z"), 1500000);
  EXPECT_EQ(ParseDateTime("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(ParseDateTime("1969-12-31T23:00:00-01:00"), 0);
  EXPECT_EQ(ParseDateTime("2020-02-29T12:00:00.123456789Z"), 1582977600123456);
}

TEST(TimeTest, RejectsMissingZoneAndBadDates) {
  EXPECT_FALSE(ParseDateTime("2020-01-01T00:00:00"));
  EXPECT_FALSE(ParseDateTime("2021-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseDateTime("2021-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseDateTime("2021-01-01 00:00:00Z"));
  EXPECT_FALSE(ParseDateTime("yesterday"));
  EXPECT_FALSE(ParseDateTime("2021-01-01T00:00:00Zjunk"));
}

TEST(TimeTest, FormatRoundTrips) {
  EXPECT_EQ(FormatDateTime(0), "1970-01-01T00:00:00.000Z");
  auto t = ParseDateTime("2024-06-30T23:59:58.250Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatDateTime(*t), "2024-06-30T23:59:58.250Z");
  EXPECT_EQ(FormatDateTime(-1000), "1969-12-31T23:59:59.999Z");
}

TEST(TimeTest, InstantsStayWithinFourDigitYears) {
  EXPECT_TRUE(ParseDateTime("0000-01-01T00:00:00Z"));
  EXPECT_TRUE(ParseDateTime("9999-12-31T23:59:59.999Z"));
  EXPECT_FALSE(ParseDateTime("9999-12-31T23:59:59-01:00"));  // the offset moves it to 10000
  EXPECT_FALSE(ParseDateTime("0000-01-01T00:00:00+01:00"));  // and this one before year 0
  EXPECT_FALSE(ParseDateTime("9999-12-31T23:59:60Z"));
  EXPECT_EQ(FormatDateTime(INT64_MIN), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatDateTime(INT64_MAX), "9999-12-31T23:59:59.999Z");
}

TEST(TimeTest, DateAndTimeLiterals) {
  EXPECT_TRUE(IsDate("2024-02-29"));
  EXPECT_FALSE(IsDate("2023-02-29"));
  EXPECT_TRUE(IsTime("12:30:00"));
  EXPECT_TRUE(IsTime("12:30:00.5Z"));
  EXPECT_FALSE(IsTime("25:00:00"));
}

}  // namespace
}  // namespace civitas
