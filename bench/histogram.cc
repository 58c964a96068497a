#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace civitas::bench {
namespace {

constexpr int kSubBits = 6;                            // 64 buckets per power of two
constexpr uint64_t kLinear = uint64_t{2} << kSubBits;  // values below 128 get their own bucket
constexpr int kMaxExponent = 39;                       // largest tracked value: 2^40 - 1 µs
constexpr uint64_t kMaxValue = (uint64_t{1} << (kMaxExponent + 1)) - 1;
constexpr size_t kBuckets =
    kLinear + static_cast<size_t>(kMaxExponent - kSubBits) * (size_t{1} << kSubBits);

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t v) {
  if (v < kLinear) return static_cast<size_t>(v);
  v = std::min(v, kMaxValue);
  int e = 63 - std::countl_zero(v);  // >= kSubBits + 1
  int shift = e - kSubBits;
  return kLinear + static_cast<size_t>(e - kSubBits - 1) * (size_t{1} << kSubBits) +
         static_cast<size_t>((v >> shift) - (uint64_t{1} << kSubBits));
}

uint64_t LatencyHistogram::BucketLow(size_t bucket) {
  if (bucket < kLinear) return bucket;
  size_t k = bucket - kLinear;
  int e = kSubBits + 1 + static_cast<int>(k >> kSubBits);
  uint64_t sub = k & ((size_t{1} << kSubBits) - 1);
  return ((uint64_t{1} << kSubBits) + sub) << (e - kSubBits);
}

uint64_t LatencyHistogram::BucketHigh(size_t bucket) {
  if (bucket < kLinear) return bucket;
  size_t k = bucket - kLinear;
  int e = kSubBits + 1 + static_cast<int>(k >> kSubBits);
  return BucketLow(bucket) + (uint64_t{1} << (e - kSubBits)) - 1;
}

void LatencyHistogram::Record(uint64_t micros) {
  ++counts_[BucketOf(micros)];
  ++count_;
  sum_ += micros;
  min_ = std::min(min_, micros);
  max_ = std::max(max_, micros);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHigh(i), min(), max_);
  }
  return max_;
}

}  // namespace civitas::bench
