#include "histogram.h"

#include <gtest/gtest.h>

namespace civitas::bench {
namespace {

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedError) {
  // Every value falls in a bucket whose bounds contain it, and buckets are contiguous.
  uint64_t prev_high = 0;
  for (size_t b = 0; b < 2000; ++b) {
    uint64_t lo = LatencyHistogram::BucketLow(b), hi = LatencyHistogram::BucketHigh(b);
    if (b > 0) {
      EXPECT_EQ(lo, prev_high + 1) << b;
    }
    EXPECT_EQ(LatencyHistogram::BucketOf(lo), b);
    EXPECT_EQ(LatencyHistogram::BucketOf(hi), b);
    if (lo >= 128) {
      EXPECT_LE(static_cast<double>(hi - lo + 1) / lo, 1.0 / 64 + 1e-12);
    }
    prev_high = hi;
  }
  EXPECT_EQ(LatencyHistogram::BucketOf(0), 0u);
  EXPECT_EQ(LatencyHistogram::BucketOf(127), 127u);
  // Values beyond the range are clamped into the last bucket instead of overflowing.
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX),
            LatencyHistogram::BucketOf((uint64_t{1} << 40) - 1));
}

TEST(LatencyHistogramTest, PercentilesOfAUniformSpread) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 10000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 10000u);
  EXPECT_DOUBLE_EQ(h.mean(), 5000.5);
  // Conservative and within one bucket (1/64) of the true value.
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double truth = q * 10000;
    double got = static_cast<double>(h.Percentile(q));
    EXPECT_GE(got, truth) << q;
    EXPECT_LE(got, truth * (1 + 1.0 / 64) + 1) << q;
  }
  EXPECT_EQ(h.Percentile(1.0), 10000u);
}

TEST(LatencyHistogramTest, ExactBelow128AndClampedToMax) {
  LatencyHistogram h;
  h.Record(5);
  h.Record(7);
  h.Record(1000);
  EXPECT_EQ(h.Percentile(0.5), 7u);
  EXPECT_EQ(h.Percentile(0.99), 1000u);  // the bucket holds 992..1007, clamped to the max
}

TEST(LatencyHistogramTest, MergeAddsCountsAndExtremes) {
  LatencyHistogram a, b, empty;
  EXPECT_EQ(empty.Percentile(0.5), 0u);
  EXPECT_EQ(empty.min(), 0u);
  a.Record(10);
  b.Record(20000);
  b.Record(3);
  a.Merge(b);
  a.Merge(empty);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 3u);
  EXPECT_EQ(a.max(), 20000u);
  EXPECT_EQ(a.Percentile(0.34), 10u);
}

}  // namespace
}  // namespace civitas::bench
