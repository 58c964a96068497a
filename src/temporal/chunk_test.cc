#include "temporal/chunk.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "temporal/bits.h"

namespace civitas::temporal {
namespace {

constexpr Micros kMinute = 60 * 1000000LL;
constexpr Micros kT0 = 1393632000000000LL;  // 2014-03-01T00:00:00Z

Sample Num(Micros t, double v, uint64_t instance) {
  Sample s;
  s.time = t;
  s.created_at = t;
  s.modified_at = t;
  s.instance = instance;
  s.number = v;
  s.extra = R"({"type":"Property"})";
  return s;
}

// Bit-exact comparison (NaN == NaN, -0.0 != 0.0).
void ExpectSameSamples(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].time, b[i].time) << i;
    EXPECT_EQ(a[i].created_at, b[i].created_at) << i;
    EXPECT_EQ(a[i].modified_at, b[i].modified_at) << i;
    EXPECT_EQ(a[i].instance, b[i].instance) << i;
    ASSERT_EQ(a[i].number.has_value(), b[i].number.has_value()) << i;
    if (a[i].number) {
      EXPECT_EQ(std::bit_cast<uint64_t>(*a[i].number), std::bit_cast<uint64_t>(*b[i].number))
          << i << ": " << *a[i].number << " vs " << *b[i].number;
    }
    EXPECT_EQ(a[i].value, b[i].value) << i;
    EXPECT_EQ(a[i].extra, b[i].extra) << i;
  }
}

std::vector<Sample> RoundTrip(const std::vector<Sample>& in) {
  auto out = DecodeChunk(EncodeChunk(in));
  EXPECT_TRUE(out.ok()) << out.status().detail();
  return out.ok() ? *out : std::vector<Sample>{};
}

TEST(Bits, ReaderReadsWhatTheWriterWroteAndNeverMore) {
  std::mt19937_64 rng(3);
  std::vector<std::pair<uint64_t, int>> written;
  std::string out;
  {
    BitWriter w(&out);
    for (int i = 0; i < 5000; ++i) {
      int bits = static_cast<int>(rng() % 65);
      // Runs of zero bits now and then, for SkipZeros.
      uint64_t v = i % 7 == 0 ? 0 : rng() & (bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1);
      w.Write(v, bits);
      written.push_back({v, bits});
    }
  }
  BitReader r(out);
  for (size_t i = 0; i < written.size(); ++i) {
    auto [v, bits] = written[i];
    if (v == 0 && i % 3 == 0) {
      ASSERT_EQ(r.SkipZeros(bits), static_cast<size_t>(bits)) << i;
    } else {
      ASSERT_EQ(r.Read(bits), v) << i << " " << bits;
    }
  }
  EXPECT_FALSE(r.failed());
  // Only the padding of the last byte is left.
  r.SkipZeros(7);
  EXPECT_EQ(r.Read(1), 0u);
  EXPECT_TRUE(r.failed());
  // SkipZeros stops at a one bit and at its limit.
  std::string bits;
  {
    BitWriter w(&bits);
    w.Write(0, 100);
    w.Write(1, 1);
  }
  BitReader z(bits);
  EXPECT_EQ(z.SkipZeros(30), 30u);
  EXPECT_EQ(z.SkipZeros(1000), 70u);
  EXPECT_EQ(z.Read(1), 1u);
  EXPECT_FALSE(z.failed());
}

TEST(IntCodec, DeltaOfDeltaRunsAndJumps) {
  // Regular stretches (zero bits, read as runs) broken by irregular deltas of every width.
  std::vector<int64_t> v;
  std::mt19937_64 rng(11);
  int64_t t = kT0, delta = kMinute;
  for (int i = 0; i < 3000; ++i) {
    if (i % 97 == 0) delta += static_cast<int64_t>(rng() % 2 ? rng() % 100 : rng() % (1LL << 40));
    t += delta;
    v.push_back(t);
  }
  std::string out;
  EncodeInts(v, &out);
  ASSERT_EQ(out[0], 0);  // delta of delta
  std::string_view in(out);
  std::vector<int64_t> back;
  ASSERT_TRUE(DecodeInts(&in, v.size(), &back));
  EXPECT_EQ(back, v);
  EXPECT_TRUE(in.empty());
  for (size_t n = 0; n + 1 < out.size(); n += 13) {
    std::string_view cut(out.data(), n);
    std::vector<int64_t> part;
    EXPECT_FALSE(DecodeInts(&cut, v.size(), &part)) << n;
  }
}

TEST(IntCodec, RegularSeriesCostsOneBitPerValue) {
  std::vector<int64_t> v;
  for (int i = 0; i < 1000; ++i) v.push_back(kT0 + i * kMinute);
  std::string out;
  EncodeInts(v, &out);
  EXPECT_LE(out.size(), 8 + 2 + 1000 / 8 + 8u);
  std::string_view in(out);
  std::vector<int64_t> back;
  ASSERT_TRUE(DecodeInts(&in, v.size(), &back));
  EXPECT_EQ(back, v);
  EXPECT_TRUE(in.empty());
}

TEST(IntCodec, ExtremesAndEveryBucket) {
  std::vector<int64_t> v = {0,         INT64_MAX,    INT64_MIN, -1, 1, 100,       5000,     1 << 19,
                            1LL << 31, -(1LL << 40), 7,         7,  7, INT64_MIN, INT64_MAX};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) v.push_back(static_cast<int64_t>(rng()) >> (rng() % 64));
  std::string out;
  EncodeInts(v, &out);
  std::string_view in(out);
  std::vector<int64_t> back;
  ASSERT_TRUE(DecodeInts(&in, v.size(), &back));
  EXPECT_EQ(back, v);
}

TEST(DoubleCodec, DecimalsUseFewBits) {
  std::vector<double> v;
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) v.push_back((static_cast<int>(rng() % 4000) - 1000) / 100.0);
  std::string out;
  EncodeDoubles(v, &out);
  EXPECT_LE(out.size(), 1000 * 12 / 8 + 16u);  // 12 bits for 4000 distinct hundredths
  std::string_view in(out);
  std::vector<double> back;
  ASSERT_TRUE(DecodeDoubles(&in, v.size(), &back));
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(back[i], v[i]);
}

TEST(DoubleCodec, SpecialValuesAreExceptions) {
  std::vector<double> v = {1.5,
                           std::numeric_limits<double>::quiet_NaN(),
                           2.25,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           -0.0,
                           0.0,
                           1e300,
                           5e-324,
                           0.1 + 0.2,
                           -3.75};
  std::string out;
  EncodeDoubles(v, &out);
  std::string_view in(out);
  std::vector<double> back;
  ASSERT_TRUE(DecodeDoubles(&in, v.size(), &back));
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint64_t>(back[i]), std::bit_cast<uint64_t>(v[i])) << i;
  }
}

TEST(DoubleCodec, RandomBitsFallBackToXor) {
  std::mt19937_64 rng(3);
  std::vector<double> v;
  for (int i = 0; i < 500; ++i) {
    double d = std::bit_cast<double>(rng());
    v.push_back(d);
  }
  std::string out;
  EncodeDoubles(v, &out);
  EXPECT_LE(out.size(), 500 * 8 + 500 / 4 + 16u);  // never much worse than raw
  std::string_view in(out);
  std::vector<double> back;
  ASSERT_TRUE(DecodeDoubles(&in, v.size(), &back));
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint64_t>(back[i]), std::bit_cast<uint64_t>(v[i])) << i;
  }
}

TEST(Chunk, RoundTripMixedSeries) {
  std::vector<Sample> in;
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    Sample s = Num(kT0 + i * kMinute + (rng() % 1000), (rng() % 1000) / 10.0, i + 1);
    if (i % 7 == 0) {
      s.number.reset();
      s.value = "\"text " + std::to_string(i) + "\"";
    }
    if (i % 11 == 0) s.extra = R"({"type":"Property","unitCode":"KMH"})";
    if (i % 13 == 0) s.extra.clear();
    s.modified_at += 17;
    in.push_back(s);
  }
  in.push_back(Num(kT0 + 400 * kMinute, std::nan(""), 1000));
  in.push_back(Num(kT0 + 400 * kMinute, -0.0, 1001));  // duplicate time
  in.push_back(Num(kT0 + 401 * kMinute, std::numeric_limits<double>::infinity(), 1002));
  ExpectSameSamples(RoundTrip(in), in);
}

TEST(Sample, RoundTripAndDamage) {
  Sample a = Num(kT0, -0.0, 42);
  a.modified_at = kT0 + 1500;
  a.created_at = kT0 - 7;
  Sample b;
  b.time = INT64_MIN;
  b.created_at = INT64_MAX;
  b.value = R"("text")";
  for (const Sample& s : {a, b}) {
    std::string rec = EncodeSample(s);
    auto back = DecodeSample(rec);
    ASSERT_TRUE(back.ok());
    ExpectSameSamples({*back}, {s});
    for (size_t n = 0; n < rec.size(); ++n) {
      EXPECT_FALSE(DecodeSample(std::string_view(rec).substr(0, n)).ok()) << n;
    }
  }
}

TEST(Sample, NumberAloneMatchesTheFullDecode) {
  Sample text;
  text.time = kT0 + 5;
  text.value = R"("text")";
  text.extra = R"({"type":"Property","unitCode":"GQ"})";
  for (const Sample& s : {Num(kT0, 12.5, 1), Num(-3, std::nan(""), 2), text}) {
    std::string rec = EncodeSample(s);
    Micros t = 0;
    std::optional<double> v;
    ASSERT_TRUE(DecodeSampleNumber(rec, &t, &v));
    EXPECT_EQ(t, s.time);
    ASSERT_EQ(v.has_value(), s.number.has_value());
    if (v) EXPECT_EQ(std::bit_cast<uint64_t>(*v), std::bit_cast<uint64_t>(*s.number));
    // A truncated record fails where the number would be read.
    EXPECT_FALSE(DecodeSampleNumber(std::string_view(rec).substr(0, 1), &t, &v));
    if (s.number) {  // up to the number's last byte (the extras follow, unread)
      for (size_t n = 0; n < rec.size() - 1 - s.extra.size(); ++n) {
        EXPECT_FALSE(DecodeSampleNumber(std::string_view(rec).substr(0, n), &t, &v)) << n;
      }
    }
  }
  Micros t;
  std::optional<double> v;
  EXPECT_FALSE(DecodeSampleNumber(EncodeChunk({Num(kT0, 1, 1)}), &t, &v));
}

TEST(Chunk, NumbersAloneMatchTheFullDecode) {
  std::vector<Sample> numbers, mixed;
  for (int i = 0; i < 300; ++i) {
    Sample s = Num(kT0 + i * 1000 + (i % 7), i % 11 == 0 ? std::nan("") : i * 0.1, i + 1);
    s.created_at = kT0 - i;
    s.modified_at = s.time + 50 * i;
    s.extra = R"({"type":"Property","unitCode":"GQ"})";
    numbers.push_back(s);
    if (i % 5 == 0) s.number.reset(), s.value = R"("x")";
    mixed.push_back(s);
  }
  std::vector<Micros> times;
  std::vector<double> values;
  std::string chunk = EncodeChunk(numbers);
  auto all = DecodeChunkNumbers(chunk, &times, &values);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(*all);
  ASSERT_EQ(times.size(), numbers.size());
  ASSERT_EQ(values.size(), numbers.size());
  for (size_t i = 0; i < numbers.size(); ++i) {
    EXPECT_EQ(times[i], numbers[i].time);
    EXPECT_EQ(std::bit_cast<uint64_t>(values[i]), std::bit_cast<uint64_t>(*numbers[i].number));
  }
  auto some = DecodeChunkNumbers(EncodeChunk(mixed), &times, &values);
  ASSERT_TRUE(some.ok());
  EXPECT_FALSE(*some);
  EXPECT_EQ(times.size(), mixed.size());
  EXPECT_TRUE(values.empty());
  auto none = DecodeChunkNumbers(EncodeChunk({}), &times, &values);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(times.empty());
  // A cut chunk fails, or (cut in the columns not read) gives what the whole one gives.
  size_t failed = 0;
  for (size_t n = 0; n + 1 < chunk.size(); n += 7) {
    auto cut = DecodeChunkNumbers(std::string_view(chunk).substr(0, n), &times, &values);
    if (!cut.ok()) {
      ++failed;
      continue;
    }
    ASSERT_EQ(values.size(), numbers.size()) << n;
    EXPECT_EQ(times.back(), numbers.back().time) << n;
  }
  EXPECT_GT(failed, 0u);
}

// ChunkIndex: each block's stats and, when seekable, each block decoded alone are those of the
// full decode, for every coding of the time and value columns (delta of delta, frame of
// reference, frame of reference on deltas), with ALP exceptions, and for chunks that cannot
// be decoded a block at a time (text, XOR-coded values).
TEST(Chunk, BlocksDecodedAloneMatchTheFullDecode) {
  std::mt19937_64 rng(23);
  std::map<std::pair<int, int>, int> modes;  // (time mode, value mode) of seekable chunks
  int seekable = 0, not_seekable = 0;
  for (int variant = 0; variant < 60; ++variant) {
    const size_t n = std::vector<size_t>{1, 15, 16, 17, 33, 500, 1024}[variant % 7];
    std::vector<Sample> in;
    Micros t = kT0;
    int64_t walk = 0;
    for (size_t i = 0; i < n; ++i) {
      const int tv = variant % 3, vv = (variant / 3) % 5;
      t += tv == 0   ? kMinute
           : tv == 1 ? kMinute + static_cast<Micros>(rng() % 5000000)
                     : static_cast<Micros>(rng() % (1LL << 40));
      walk += static_cast<int64_t>(rng() % 200) - 100;
      double v = vv == 0   ? (i % 13) * 0.25
                 : vv == 1 ? static_cast<double>(rng() % 1000) / 10
                 : vv == 2 ? static_cast<double>(walk) / 100 + 1e6
                 : vv == 3 ? std::sin(static_cast<double>(i))  // not decimal: XOR
                           : static_cast<double>(rng() % 100);
      if (vv == 4 && i % 7 == 3) {  // exceptions
        v = std::vector<double>{std::nan(""), -0.0, std::numeric_limits<double>::infinity(),
                                0.1234567890123456}[rng() % 4];
      }
      in.push_back(Num(t, v, i + 1));
    }
    if (variant % 11 == 10) in[n / 2].number.reset(), in[n / 2].value = R"("text")";
    SortSamples(&in);
    const std::string chunk = EncodeChunk(in);
    auto index = ComputeChunkIndex(chunk);
    ASSERT_TRUE(index.ok()) << variant;
    std::vector<Micros> times;
    std::vector<double> numbers;
    auto numeric = DecodeChunkNumbers(chunk, &times, &numbers);
    ASSERT_TRUE(numeric.ok());
    ASSERT_EQ(index->blocks.size(), (n + kBlockSamples - 1) / kBlockSamples);
    for (size_t k = 0; k < index->blocks.size(); ++k) {
      const BlockStats& b = index->blocks[k];
      const size_t begin = k * kBlockSamples, count = std::min(kBlockSamples, n - begin);
      ASSERT_EQ(b.count, count);
      EXPECT_EQ(b.first_time, in[begin].time);
      EXPECT_EQ(b.last_time, in[begin + count - 1].time);
      EXPECT_EQ(b.numeric, *numeric || k != (n / 2) / kBlockSamples) << variant << " " << k;
      if (!index->seekable) continue;
      ASSERT_TRUE(*numeric);
      const BlockStats want = BlockStats::Of(&times[begin], &numbers[begin], count);
      EXPECT_EQ(std::bit_cast<uint64_t>(b.values.sum), std::bit_cast<uint64_t>(want.values.sum));
      Micros got_t[kBlockSamples];
      double got_v[kBlockSamples];
      index->DecodeBlock(chunk, k, got_t, got_v);
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(got_t[i], times[begin + i]) << variant << " block " << k << " " << i;
        ASSERT_EQ(std::bit_cast<uint64_t>(got_v[i]), std::bit_cast<uint64_t>(numbers[begin + i]))
            << variant << " block " << k << " " << i;
      }
    }
    if (index->seekable) {
      ++seekable;
      ++modes[{index->time.mode, index->value.mode}];
    } else {
      ++not_seekable;
      // Text, or values coded with XOR (not decimal, or a single value).
      EXPECT_TRUE(!*numeric || (variant / 3) % 5 == 3 || n == 1) << variant;
    }
  }
  EXPECT_GT(seekable, 30);
  EXPECT_GT(not_seekable, 5);
  std::set<int> time_modes, value_modes;
  for (const auto& [m, count] : modes) {
    time_modes.insert(m.first);
    value_modes.insert(m.second);
  }
  // (Sorted instants are never smaller as they are than as deltas: frame of reference is only
  // seen on values, through the same cursor.)
  EXPECT_EQ(time_modes, (std::set<int>{0, 2}));
  EXPECT_EQ(value_modes, (std::set<int>{0, 1, 2}));
}

TEST(Chunk, NumbersAloneSkipColumnsOfEveryMode) {
  // createdAt as is and as offsets, jittered (frame of reference), instances as a random walk
  // (frame of reference on deltas) or regular (delta of delta): the columns skipped unread.
  std::mt19937_64 rng(9);
  for (int variant = 0; variant < 4; ++variant) {
    std::vector<Sample> in;
    uint64_t instance = 1;
    for (int i = 0; i < 500; ++i) {
      Sample s = Num(kT0 + i * kMinute, (i % 13) * 0.25, instance);
      instance += variant % 2 == 0 ? 1 : 1 + rng() % 1000;
      s.created_at = variant < 2 ? kT0 : s.time + static_cast<Micros>(rng() % 5000000);
      s.modified_at = s.time + (variant == 3 ? static_cast<Micros>(rng() % (1LL << 50)) : 0);
      in.push_back(s);
    }
    std::string chunk = EncodeChunk(in);
    std::vector<Micros> times;
    std::vector<double> values;
    auto all = DecodeChunkNumbers(chunk, &times, &values);
    ASSERT_TRUE(all.ok()) << variant;
    ASSERT_TRUE(*all);
    ASSERT_EQ(values.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(times[i], in[i].time);
      EXPECT_EQ(values[i], *in[i].number);
    }
    // A cut chunk fails, unless the cut is in the extras (after the values), which are unread.
    const std::vector<Micros> all_times = times;
    const std::vector<double> all_values = values;
    size_t failed = 0;
    for (size_t n = 0; n < chunk.size(); ++n) {
      auto cut = DecodeChunkNumbers(std::string_view(chunk).substr(0, n), &times, &values);
      if (!cut.ok()) {
        ++failed;
        continue;
      }
      EXPECT_EQ(times, all_times) << n;
      EXPECT_EQ(values, all_values) << n;
    }
    EXPECT_GT(failed, chunk.size() * 9 / 10) << variant;
  }
}

TEST(Chunk, EncodingDoesNotDependOnWhatWasEncodedBefore) {
  // The zstd contexts are reused per thread: a chunk's bytes must not depend on them.
  std::vector<Sample> a, b;
  for (int i = 0; i < 300; ++i) {
    Sample s = Num(kT0 + i * kMinute, i, i + 1);
    s.number.reset();
    s.value = "\"state " + std::to_string(i % 17) + "\"";
    a.push_back(s);
    s.value = "\"" + std::string(static_cast<size_t>(i % 50), 'x') + "\"";
    s.extra = R"({"type":"Property","unitCode":"CEL"})";
    b.push_back(s);
  }
  const std::string first = EncodeChunk(a);
  const std::string other = EncodeChunk(b);
  EXPECT_EQ(EncodeChunk(a), first);
  std::string elsewhere;
  std::thread([&] { elsewhere = EncodeChunk(a); }).join();
  EXPECT_EQ(elsewhere, first);
  ExpectSameSamples(RoundTrip(a), a);
  ExpectSameSamples(RoundTrip(b), b);
  EXPECT_EQ(EncodeChunk(b), other);
}

TEST(Chunk, OnlyTextAndEmpty) {
  std::vector<Sample> in;
  for (int i = 0; i < 10; ++i) {
    Sample s;
    s.time = kT0 + i;
    s.value = R"({"a":[1,2,3]})";
    in.push_back(s);
  }
  ExpectSameSamples(RoundTrip(in), in);
  ExpectSameSamples(RoundTrip({}), {});
}

TEST(Chunk, SortIsStableForEqualTimes) {
  std::vector<Sample> in = {Num(30, 3, 1), Num(10, 1, 2), Num(30, 4, 3), Num(20, 2, 4),
                            Num(10, 5, 5)};
  SortSamples(&in);
  std::vector<uint64_t> order;
  for (const auto& s : in) order.push_back(s.instance);
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 5, 4, 1, 3}));
  ExpectSameSamples(RoundTrip(in), in);
}

TEST(Chunk, StatsMatchTheSamples) {
  std::vector<Sample> in = {Num(1, 2, 1), Num(2, -4, 2), Num(3, std::nan(""), 3), Num(4, 10, 4)};
  auto stats = ReadChunkStats(EncodeChunk(in));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->count, 4u);
  EXPECT_EQ(stats->numbers, 3u);
  EXPECT_EQ(stats->sum, 8);
  EXPECT_EQ(stats->sumsq, 4 + 16 + 100);
  EXPECT_EQ(stats->min, -4);
  EXPECT_EQ(stats->max, 10);
  EXPECT_EQ(stats->first_time, 1);
  EXPECT_EQ(stats->last_time, 4);
}

TEST(Chunk, DamagedInputFailsCleanly) {
  std::vector<Sample> in;
  for (int i = 0; i < 100; ++i) in.push_back(Num(kT0 + i * kMinute, i * 0.5, i));
  in[5].number.reset();
  in[5].value = "\"x\"";
  std::string chunk = EncodeChunk(in);
  // Every truncation and many single-byte corruptions: an error or some samples, never a crash.
  for (size_t n = 0; n < chunk.size(); ++n) {
    auto r = DecodeChunk(std::string_view(chunk).substr(0, n));
    EXPECT_FALSE(r.ok()) << n;
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = chunk;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    (void)DecodeChunk(bad);
  }
}

// The Aarhus road-traffic week (5-minute readings): one road segment's average speed, as the
// broker records it from uploads (createdAt = modifiedAt = upload time, consecutive instances).
std::map<std::string, std::vector<std::pair<Micros, double>>> LoadAarhus() {
  std::map<std::string, std::vector<std::pair<Micros, double>>> series;
  gzFile f = gzopen("/work/shared/data/aarhus/traffic_2014-03-01_to_03-07.csv.gz", "rb");
  if (f == nullptr) return series;
  char line[512];
  bool header = true;
  while (gzgets(f, line, sizeof line) != nullptr) {
    if (header) {
      header = false;
      continue;
    }
    // status,avgMeasuredTime,avgSpeed,extID,medianMeasuredTime,TIMESTAMP,vehicleCount,_id,REPORT_ID
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) cols.push_back(c);
    if (cols.size() < 9) continue;
    auto t = ParseDateTime(cols[5] + "Z");  // treated as UTC
    if (!t) continue;
    while (!cols[8].empty() && (cols[8].back() == '\n' || cols[8].back() == '\r'))
      cols[8].pop_back();
    series[cols[8]].push_back({*t, std::stod(cols[2])});
  }
  gzclose(f);
  return series;
}

TEST(Chunk, AarhusTrafficBytesPerObservation) {
  auto series = LoadAarhus();
  if (series.empty()) GTEST_SKIP() << "Aarhus data not found";
  size_t total_bytes = 0, total_obs = 0;
  const Micros upload = kT0 + 7 * 86400 * 1000000LL;
  uint64_t instance = 0;
  for (auto& [id, points] : series) {
    std::vector<Sample> samples;
    for (auto& [t, v] : points) {
      Sample s = Num(t, v, ++instance);
      s.created_at = s.modified_at = upload;
      samples.push_back(s);
    }
    SortSamples(&samples);
    // Chunks of at most 1024 samples, as the store seals them.
    for (size_t i = 0; i < samples.size(); i += 1024) {
      std::vector<Sample> part(samples.begin() + i,
                               samples.begin() + std::min(samples.size(), i + 1024));
      std::string chunk = EncodeChunk(part);
      total_bytes += chunk.size();
      total_obs += part.size();
      if (id == series.begin()->first) ExpectSameSamples(RoundTrip(part), part);
    }
  }
  double per_obs = static_cast<double>(total_bytes) / total_obs;
  std::printf("Aarhus avgSpeed: %zu observations on %zu segments, %.3f bytes/observation\n",
              total_obs, series.size(), per_obs);
  EXPECT_EQ(total_obs, 848864u);
  EXPECT_LE(per_obs, 2.0);
}

// A regular series of decimal readings: one per 60 s (observedAt), 1-2 decimals, drifting like
// a sensor. `arrival_jitter_ms` > 0: each reading committed on its own, modifiedAt = observedAt
// plus a random delay (ms precision, as the store keeps system times); 0: uploaded in batches,
// modifiedAt = createdAt = the batch's commit time.
double RegularDecimalBytesPerObservation(int arrival_jitter_ms) {
  std::vector<Sample> samples;
  std::mt19937 rng(1);
  double v = 20.0;
  const Micros created = kT0 - 1000;
  for (int i = 0; i < 1440; ++i) {
    v += (static_cast<int>(rng() % 21) - 10) / 100.0;
    double reading = std::round(v * 100) / 100;
    Sample s = Num(kT0 + i * kMinute, reading, i + 1);
    s.created_at = created;
    if (arrival_jitter_ms > 0) {
      s.modified_at = s.time + (200 + rng() % arrival_jitter_ms) * 1000;
    } else {
      s.modified_at = kT0 + (i / 60 + 1) * 60 * kMinute;  // hourly uploads
      s.created_at = s.modified_at;
    }
    samples.push_back(s);
  }
  std::string chunk = EncodeChunk(samples);
  ExpectSameSamples(RoundTrip(samples), samples);
  return static_cast<double>(chunk.size()) / samples.size();
}

TEST(Chunk, RegularDecimalReadingsUnderTwoBytes) {
  double uploaded = RegularDecimalBytesPerObservation(0);
  double live = RegularDecimalBytesPerObservation(300);
  std::printf(
      "regular decimal readings: %.3f bytes/observation uploaded, %.3f live (300 ms "
      "arrival jitter)\n",
      uploaded, live);
  EXPECT_LE(uploaded, 2.0);
  // The arrival delay is noise (about 9 bits here) that no codec can remove.
  EXPECT_LE(live, 3.5);
}

}  // namespace
}  // namespace civitas::temporal
