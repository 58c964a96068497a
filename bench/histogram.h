#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace civitas::bench {

// A latency histogram over microseconds with log-linear buckets: exact below 128 µs, then 64
// buckets per power of two (a recorded value is known to within 1/64, about 1.6%), up to
// 2^40 µs (larger values are clamped). The exact minimum and maximum are kept beside the
// buckets.
//
// Not thread-safe: each load generator thread records into its own histogram, and the results
// are merged at the end.
class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t micros);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The value at quantile q (0 < q <= 1): the smallest bucket bound below which at least
  // q * count() values lie, reported as the bucket's highest value and clamped to
  // [min(), max()]; 0 when empty. Conservative: never below the true quantile.
  uint64_t Percentile(double q) const;

  // Bucket geometry, exposed for tests.
  static size_t BucketOf(uint64_t micros);
  static uint64_t BucketLow(size_t bucket);   // smallest value in the bucket
  static uint64_t BucketHigh(size_t bucket);  // largest value in the bucket

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace civitas::bench
