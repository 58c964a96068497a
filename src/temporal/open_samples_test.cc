#include "temporal/open_samples.h"

#include <gtest/gtest.h>

#include <random>

namespace civitas::temporal {
namespace {

Sample Make(uint64_t n) {
  Sample s;
  s.time = 1'700'000'000'000'000 + static_cast<Micros>(n) * 60'000'000;
  s.created_at = s.modified_at = s.time + 5;
  s.instance = n;
  if (n % 3 == 0) {
    s.value = "\"text " + std::to_string(n) + "\"";
  } else {
    s.number = 0.1 * static_cast<double>(n);
  }
  if (n % 2 == 0) s.extra = R"({"type":"Property","unitCode":"GQ"})";
  return s;
}

std::vector<Sample> All(const OpenSamples& o) {
  std::vector<Sample> out;
  for (const Sample& s : o) out.push_back(s);
  return out;
}

TEST(OpenSamplesTest, AppendsAndDecodes) {
  OpenSamples o;
  EXPECT_TRUE(o.empty());
  std::vector<Sample> want;
  for (uint64_t n = 1; n <= 100; ++n) {
    want.push_back(Make(n));
    o.Append(want.back());
  }
  EXPECT_EQ(o.size(), 100u);
  EXPECT_EQ(o.Decode(), want);
  EXPECT_EQ(All(o), want);
  EXPECT_EQ(o[41], want[41]);
  EXPECT_EQ(o.record(7), EncodeSample(want[7]));
  EXPECT_EQ(o.min_time(), want.front().time);
  EXPECT_EQ(o.max_time(), want.back().time);
  o.Erase(99);
  EXPECT_EQ(o.max_time(), want[98].time);
}

TEST(OpenSamplesTest, CopiesDoNotSeeLaterAppends) {
  OpenSamples a;
  for (uint64_t n = 1; n <= 5; ++n) a.Append(Make(n));
  OpenSamples b = a;                                     // a published version; b is staged from it
  for (uint64_t n = 6; n <= 40; ++n) b.Append(Make(n));  // in place, then growing
  ASSERT_EQ(a.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(a[i], Make(i + 1));
  ASSERT_EQ(b.size(), 40u);
  for (uint64_t i = 0; i < 40; ++i) EXPECT_EQ(b[i], Make(i + 1));
}

TEST(OpenSamplesTest, MovesAndAssignmentsKeepEachVersionsSamples) {
  OpenSamples a;
  for (uint64_t n = 1; n <= 20; ++n) a.Append(Make(n));  // a complete block and a bit
  OpenSamples moved = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty and usable
  a.Append(Make(100));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], Make(100));
  ASSERT_EQ(moved.size(), 20u);
  EXPECT_EQ(moved[19], Make(20));
  EXPECT_EQ(moved.block(0).count, kBlockSamples);

  OpenSamples assigned;
  assigned.Append(Make(50));
  assigned = moved;  // shares moved's buffer, drops its own
  const OpenSamples& self = assigned;
  assigned = self;  // self-assignment changes nothing
  ASSERT_EQ(assigned.size(), 20u);
  assigned.Append(Make(21));  // the newest version of the shared buffer: in place
  EXPECT_EQ(moved.size(), 20u);
  moved.Append(Make(99));  // no longer the newest: copies first
  EXPECT_EQ(moved[20], Make(99));
  EXPECT_EQ(assigned[20], Make(21));
  OpenSamples target;
  target = std::move(assigned);
  EXPECT_EQ(target.size(), 21u);
  EXPECT_EQ(target.Decode().back(), Make(21));
}

TEST(OpenSamplesTest, AppendToAnOlderVersionCopies) {
  // As after an aborted commit round: the staged copy appended, then was dropped, and the
  // next round stages the committed version again.
  OpenSamples committed;
  for (uint64_t n = 1; n <= 3; ++n) committed.Append(Make(n));
  OpenSamples aborted = committed;
  aborted.Append(Make(100));
  OpenSamples next = committed;
  next.Append(Make(4));
  EXPECT_EQ(aborted.size(), 4u);
  EXPECT_EQ(aborted[3], Make(100));  // not overwritten by `next`
  EXPECT_EQ(next.size(), 4u);
  EXPECT_EQ(next[3], Make(4));
  EXPECT_EQ(committed.size(), 3u);
}

TEST(OpenSamplesTest, ReplaceEraseAndAssignLeaveCopiesAlone) {
  OpenSamples a;
  for (uint64_t n = 1; n <= 6; ++n) a.Append(Make(n));
  OpenSamples b = a;
  b.Replace(2, Make(33));
  b.Erase(0);
  EXPECT_EQ(a.Decode(),
            (std::vector<Sample>{Make(1), Make(2), Make(3), Make(4), Make(5), Make(6)}));
  EXPECT_EQ(b.Decode(), (std::vector<Sample>{Make(2), Make(33), Make(4), Make(5), Make(6)}));
  OpenSamples c = a;
  c.Assign({Make(9)});
  EXPECT_EQ(c.Decode(), std::vector<Sample>{Make(9)});
  EXPECT_EQ(a.size(), 6u);
  c.Assign({});
  EXPECT_TRUE(c.empty());
  c.Append(Make(10));
  EXPECT_EQ(c.Decode(), std::vector<Sample>{Make(10)});
}

TEST(OpenSamplesTest, RejectsRecordsThatDoNotDecode) {
  OpenSamples o;
  EXPECT_FALSE(o.AppendRecord(std::string_view("\x01garbage")).ok());
  EXPECT_FALSE(o.AppendRecord(std::string_view()).ok());
  EXPECT_TRUE(o.empty());
  EXPECT_TRUE(o.AppendRecord(EncodeSample(Make(1))).ok());
  EXPECT_EQ(o.size(), 1u);
}

// Random versions: every version keeps exactly what it saw, whatever is done to the others.
TEST(OpenSamplesTest, RandomVersionsStayIndependent) {
  std::mt19937 rng(7);
  std::vector<std::pair<OpenSamples, std::vector<Sample>>> versions(1);
  uint64_t next = 1;
  for (int step = 0; step < 2000; ++step) {
    auto& [o, model] = versions[rng() % versions.size()];
    switch (rng() % 8) {
      case 0:
        if (versions.size() < 16) versions.push_back({o, model});
        break;
      case 1:
        if (!model.empty()) {
          size_t i = rng() % model.size();
          model[i] = Make(next++);
          o.Replace(i, model[i]);
        }
        break;
      case 2:
        if (!model.empty()) {
          size_t i = rng() % model.size();
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(i));
          o.Erase(i);
        }
        break;
      default:
        model.push_back(Make(next++));
        o.Append(model.back());
    }
    for (const auto& [v, m] : versions) ASSERT_EQ(v.Decode(), m) << "step " << step;
  }
}

}  // namespace
}  // namespace civitas::temporal
