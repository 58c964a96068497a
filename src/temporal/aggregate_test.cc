#include "temporal/aggregate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace civitas::temporal {
namespace {

Micros T(const char* iso) { return *ParseDateTime(iso); }

Sample Num(double v) {
  Sample s;
  s.number = v;
  return s;
}
Sample Text(const char* json) {
  Sample s;
  s.value = json;
  return s;
}

TEST(Duration, Parses) {
  auto d = ParseDuration("PT1H");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->micros, 3600LL * 1000000);
  EXPECT_EQ(d->months, 0);
  d = ParseDuration("P1Y2M3DT4H5M6.5S");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->months, 14);
  EXPECT_EQ(d->micros, ((3 * 24 + 4) * 3600LL + 5 * 60 + 6) * 1000000 + 500000);
  d = ParseDuration("P2W");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->micros, 14 * 86400LL * 1000000);
  EXPECT_TRUE(ParseDuration("PT0S")->zero());
  EXPECT_TRUE(ParseDuration("P0D")->zero());
  for (const char* bad : {"", "P", "PT", "1H", "PH", "P1H", "PT1D", "P1DT", "P1M1Y", "PT1.5M",
                          "P1D2", "PT-1H", "P1.5D", "P99999999999Y", "P9999999W", "pt1h"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(Duration, CalendarMonthsClampToMonthLength) {
  Duration m{1, 0};
  EXPECT_EQ(AddDuration(T("2024-01-31T10:00:00Z"), m), T("2024-02-29T10:00:00Z"));
  EXPECT_EQ(AddDuration(T("2023-01-31T10:00:00Z"), m), T("2023-02-28T10:00:00Z"));
  EXPECT_EQ(AddDuration(T("2023-12-15T00:00:00Z"), m), T("2024-01-15T00:00:00Z"));
  EXPECT_EQ(AddDuration(T("2024-02-29T00:00:00Z"), Duration{12, 0}), T("2025-02-28T00:00:00Z"));
  EXPECT_EQ(AddDuration(T("1969-12-31T23:00:00Z"), m), T("1970-01-31T23:00:00Z"));
}

TEST(Periods, FixedDurationAlignedOnStart) {
  auto p =
      MakePeriods(T("2024-01-01T00:30:00Z"), T("2024-01-01T03:00:00Z"), *ParseDuration("PT1H"));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].start, T("2024-01-01T00:30:00Z"));
  EXPECT_EQ((*p)[0].end, T("2024-01-01T01:30:00Z"));
  EXPECT_EQ((*p)[2].end, T("2024-01-01T03:30:00Z"));  // the last period is whole
}

TEST(Periods, MonthsFollowTheCalendar) {
  auto p = MakePeriods(T("2024-01-31T00:00:00Z"), T("2024-05-01T00:00:00Z"), Duration{1, 0});
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 4u);
  EXPECT_EQ((*p)[0].end, T("2024-02-29T00:00:00Z"));
  EXPECT_EQ((*p)[1].end, T("2024-03-31T00:00:00Z"));  // not the 29th: offsets from the start
  EXPECT_EQ((*p)[2].end, T("2024-04-30T00:00:00Z"));
  EXPECT_EQ((*p)[3].end, T("2024-05-31T00:00:00Z"));
}

TEST(Periods, ZeroDurationIsTheWholeInterval) {
  auto p = MakePeriods(10, 20, Duration{});
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].start, 10);
  EXPECT_EQ((*p)[0].end, 20);
}

TEST(Periods, TooManyIsAnError) {
  auto p = MakePeriods(0, 1000000000000LL, Duration{0, 1}, 1000);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kTooComplexQuery);
}

TEST(Accumulator, EveryMethodOnNumbers) {
  Accumulator a;
  for (double v : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) a.Add(Num(v));
  EXPECT_EQ(a.Value(AggrMethod::kTotalCount), Json(8));
  EXPECT_EQ(a.Value(AggrMethod::kDistinctCount), Json(5));
  EXPECT_EQ(a.Value(AggrMethod::kSum), Json(40.0));
  EXPECT_EQ(a.Value(AggrMethod::kAvg), Json(5.0));
  EXPECT_EQ(a.Value(AggrMethod::kMin), Json(2.0));
  EXPECT_EQ(a.Value(AggrMethod::kMax), Json(9.0));
  EXPECT_EQ(a.Value(AggrMethod::kStddev), Json(2.0));
  EXPECT_EQ(a.Value(AggrMethod::kSumsq), Json(232.0));
}

TEST(Accumulator, AddNumbersIsAddNumberInOrder) {
  std::vector<double> v;
  for (int i = 0; i < 200; ++i) v.push_back(std::sin(i) * 1e3 + i * 0.1);
  v[3] = std::nan("");
  v[0] = -0.0;
  v[50] = std::numeric_limits<double>::infinity();
  for (bool distinct : {false, true}) {
    Accumulator one(distinct), many(distinct);
    for (double x : v) one.AddNumber(x);
    many.AddNumbers(v.data(), 10);
    many.AddNumbers(v.data() + 10, 0);
    many.AddNumbers(v.data() + 10, v.size() - 10);
    for (auto m :
         {AggrMethod::kTotalCount, AggrMethod::kDistinctCount, AggrMethod::kSum, AggrMethod::kAvg,
          AggrMethod::kMin, AggrMethod::kMax, AggrMethod::kStddev, AggrMethod::kSumsq}) {
      EXPECT_EQ(ToJsonString(one.Value(m)), ToJsonString(many.Value(m)))
          << distinct << " " << AggrMethodName(m);
    }
  }
}

TEST(Accumulator, StringsBooleansAndNothing) {
  Accumulator a;
  a.Add(Text("\"pear\""));
  a.Add(Text("\"apple\""));
  a.Add(Text("\"pear\""));
  EXPECT_EQ(a.Value(AggrMethod::kMin), Json("apple"));
  EXPECT_EQ(a.Value(AggrMethod::kMax), Json("pear"));
  EXPECT_EQ(a.Value(AggrMethod::kDistinctCount), Json(2));
  EXPECT_TRUE(a.Value(AggrMethod::kAvg).is_null());
  Accumulator b;
  b.Add(Text("true"));
  b.Add(Text("false"));
  b.Add(Text("true"));
  EXPECT_EQ(b.Value(AggrMethod::kSum), Json(2.0));
  Accumulator empty;
  EXPECT_EQ(empty.Value(AggrMethod::kTotalCount), Json(0));
  EXPECT_TRUE(empty.Value(AggrMethod::kMax).is_null());
}

// A block's pre-aggregates stand for its samples added as one run, after the runs before it.
TEST(Accumulator, ABlockIsOneRun) {
  std::vector<Micros> times;
  std::vector<double> v;
  for (int i = 0; i < 40; ++i) {
    times.push_back(i);
    v.push_back(std::sin(i) * 100 + 0.1 * i);
  }
  v[7] = std::nan("");
  const BlockStats block = BlockStats::Of(times.data() + 8, v.data() + 8, 16);
  EXPECT_EQ(block.first_time, 8);
  EXPECT_EQ(block.last_time, 23);
  EXPECT_EQ(block.count, 16u);
  Accumulator by_block, by_run;
  for (Accumulator* a : {&by_block, &by_run}) {
    a->AddNumbers(v.data(), 5);  // a run of its own
    a->EndRun();
    a->AddNumbers(v.data() + 5, 3);  // ended by the block
  }
  by_block.AddBlock(block);
  by_run.EndRun();
  by_run.AddNumbers(v.data() + 8, 16);
  by_run.EndRun();
  for (Accumulator* a : {&by_block, &by_run}) a->AddNumbers(v.data() + 24, 16);
  for (auto m : {AggrMethod::kTotalCount, AggrMethod::kSum, AggrMethod::kAvg, AggrMethod::kMin,
                 AggrMethod::kMax, AggrMethod::kStddev, AggrMethod::kSumsq}) {
    EXPECT_EQ(ToJsonString(by_block.Value(m)), ToJsonString(by_run.Value(m))) << AggrMethodName(m);
  }
  EXPECT_EQ(by_block.Value(AggrMethod::kTotalCount), Json(40));
  EXPECT_TRUE(Accumulator::CanUseBlock(block, false));
  EXPECT_FALSE(Accumulator::CanUseBlock(block, true));
  EXPECT_FALSE(Accumulator::CanUseBlock(BlockStats::Of(times.data(), nullptr, 16), false));
}

TEST(Accumulator, WithoutDistinctOnlyDistinctCountDiffers) {
  Accumulator all, lean(false);
  for (const Sample& s : {Num(3), Num(3), Num(-1.5), Text("\"a\""), Text("true"), Num(7)}) {
    all.Add(s);
    lean.Add(s);
  }
  for (auto m : {AggrMethod::kTotalCount, AggrMethod::kSum, AggrMethod::kAvg, AggrMethod::kMin,
                 AggrMethod::kMax, AggrMethod::kStddev, AggrMethod::kSumsq}) {
    EXPECT_EQ(all.Value(m), lean.Value(m)) << AggrMethodName(m);
  }
  EXPECT_EQ(all.Value(AggrMethod::kDistinctCount), Json(5));
  Accumulator by_number;
  by_number.AddNumber(3);
  by_number.AddNumber(3.0);
  EXPECT_EQ(by_number.Value(AggrMethod::kDistinctCount), Json(1));
  EXPECT_EQ(by_number.Value(AggrMethod::kSum), Json(6.0));
}

TEST(AggrMethod, Names) {
  AggrMethod m;
  EXPECT_TRUE(ParseAggrMethod("stddev", &m));
  EXPECT_EQ(m, AggrMethod::kStddev);
  EXPECT_FALSE(ParseAggrMethod("median", &m));
}

}  // namespace
}  // namespace civitas::temporal
