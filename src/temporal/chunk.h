#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace civitas::temporal {

// One recorded instance of one attribute series (tenant, entity, attribute, datasetId), split
// into the columns the chunk codecs compress separately.
struct Sample {
  Micros time = 0;  // the instant: observedAt, else modifiedAt
  Micros created_at = 0;
  Micros modified_at = 0;
  uint64_t instance = 0;         // instance number, unique within the series (the instanceId)
  std::optional<double> number;  // the value when it is a JSON number
  std::string value;             // the value as JSON text when it is not a number ("" when numeric)
  std::string extra;             // the instance's other members as a JSON object text ("" if none)

  friend bool operator==(const Sample&, const Sample&) = default;
};

// Sorts by time, keeping the given order for equal times (the order they were recorded in).
void SortSamples(std::vector<Sample>* samples);

// True if the sample's instance had an observedAt (its time is then that instant, else
// modifiedAt); see temporal::SampleFromInstance.
bool HasObservedAt(const Sample& s);
// True if the sample records a deletion (it has a deletedAt; its time is then that instant).
bool IsDeletion(const Sample& s);

// Pre-aggregates of a chunk's numeric values, readable without decoding the columns. NaN values
// are counted in `count` but in none of the numeric aggregates.
struct ChunkStats {
  uint64_t count = 0;    // samples
  uint64_t numbers = 0;  // samples with a numeric (non-NaN) value
  double sum = 0;
  double sumsq = 0;
  double min = 0;  // valid when numbers > 0
  double max = 0;
  Micros first_time = 0;
  Micros last_time = 0;

  void Add(const Sample& s);
  // The numeric part of Add for a value v: sum, sumsq, min, max and numbers (NaN is counted
  // nowhere); count and the times are left as they are.
  void AddValue(double v);
  // AddValue for v[0], ..., v[n-1], in that order.
  void AddValues(const double* v, size_t n);
  void Merge(const ChunkStats& o);
};

// Sums are built in runs, so that pre-aggregates can stand for the samples they cover and
// every path gives the same bits. The samples of a chunk, and the open samples of a series in
// record order, are cut into blocks of kBlockSamples (the last one may be shorter); a run is
// the samples of one block that fall into one aggregation period. A run's sum (and sum of
// squares) starts from zero and adds its values in order; a period's sum adds its runs, block
// by block, in the order the blocks are visited (the series, its chunks, then its open
// samples). A block that lies wholly inside a period is one run, whose pre-aggregates
// (BlockStats) are computed the same way when the block is made.
constexpr size_t kBlockSamples = 16;

// The pre-aggregates of one block: its time range and its numbers (sum and sumsq from zero,
// in the block's order; NaN counted in none of them).
struct BlockStats {
  Micros first_time = 0;  // the smallest and largest instant in the block
  Micros last_time = 0;
  uint32_t count = 0;   // samples
  bool numeric = true;  // every sample's value is a number (NaN included)
  // The numeric part of ChunkStats::AddValues of its numbers. Only these fields, so that a
  // block takes one cache line: aggregations read the blocks of every series they visit.
  struct Values {
    uint32_t numbers = 0;
    double sum = 0;
    double sumsq = 0;
    double min = 0;  // valid when numbers > 0
    double max = 0;
  } values;

  // The stats of samples [begin, begin + n): times and, when all are numbers, their values
  // (numbers == nullptr: not all are numbers; the block can only be decoded).
  static BlockStats Of(const Micros* times, const double* numbers, size_t n);
};
static_assert(sizeof(BlockStats) == 64);

// A chunk is a self-describing byte string:
//   u8 version (1) | varint count | stats (first/last time as zigzag varints, numbers varint,
//   sum/sumsq/min/max as raw doubles) | four int64 columns (time, createdAt and modifiedAt as
//   offsets from time, instance), each delta-of-delta bit packed as in Gorilla or, when that is
//   smaller (arrival jitter), frame-of-reference bit packed | u8 value kind (all numbers, none,
//   or a bitmap) | value column(s) | extra column.
// Numeric value columns use decimal scaling (ALP): the smallest exponent e such that the
// values are exact integers once multiplied by 10^e, stored as frame-of-reference bit-packed
// integers with the others (NaN, infinities, -0.0, too many digits) as exceptions; a series
// that is not decimal at all falls back to Gorilla XOR. Text values and extras are zstd.
//
// Samples must be sorted (SortSamples). Encoding never fails; decoding fails with Internal on
// damaged input and never reads out of bounds.
std::string EncodeChunk(const std::vector<Sample>& samples);
Result<std::vector<Sample>> DecodeChunk(std::string_view chunk);
Result<ChunkStats> ReadChunkStats(std::string_view chunk);
// Only the instants and, when every value of the chunk is a number, the numbers (true; false
// leaves *numbers empty), in the chunk's order: for aggregations, which need neither the
// strings nor the other columns. Internal on damaged input.
Result<bool> DecodeChunkNumbers(std::string_view chunk, std::vector<Micros>* times,
                                std::vector<double>* numbers);

// Where an integer column of a chunk lies, and how it is coded (see EncodeInts).
struct IntColumnLayout {
  uint8_t mode = 0;  // 0 delta of delta, 1 frame of reference, 2 frame of reference on deltas
  size_t bits_offset = 0, bits_size = 0;  // its bit-packed part, in the chunk's bytes
  int64_t lo = 0;                         // frame of reference
  int width = 0;
  int64_t first = 0;  // mode 2: the first value
  // Modes 0 and 2, per block: the decoder's state before the block's first value.
  struct Checkpoint {
    uint64_t bit = 0, prev = 0, prev_delta = 0;
  };
  std::vector<Checkpoint> checkpoints;
};

// The blocks of a chunk (kBlockSamples each, the last one shorter) and, when the chunk allows
// it (every value a number, decimal-scaled, its columns read back the same), what it takes to
// decode one block without the others.
struct ChunkIndex {
  std::vector<BlockStats> blocks;
  bool seekable = false;
  IntColumnLayout time, value;
  int exponent = 0;                                     // decimal scaling of the values
  std::vector<std::pair<uint32_t, double>> exceptions;  // (index, value), by index

  // Block k's instants and numbers (blocks[k].count of each) from `chunk`, the bytes this
  // index was made from; only when seekable.
  void DecodeBlock(std::string_view chunk, size_t k, Micros* times, double* numbers) const;
};

// Decodes the chunk; Internal on damaged input.
Result<ChunkIndex> ComputeChunkIndex(std::string_view chunk);

// One sample on its own (the raw records of a series' open part): plain varints and strings,
// no compression, so that recording an observation costs microseconds.
std::string EncodeSample(const Sample& s);
Result<Sample> DecodeSample(std::string_view record);
// Only the instant and, when the value is a number, the number of a record, without copying
// its strings: for aggregations. False on a damaged record.
bool DecodeSampleNumber(std::string_view record, Micros* time, std::optional<double>* number);

// Lower-level codecs, exposed for tests and measurements.
// Delta of delta (Gorilla) or frame of reference, whichever is smaller.
void EncodeInts(const std::vector<int64_t>& v, std::string* out);
bool DecodeInts(std::string_view* in, size_t n, std::vector<int64_t>* v);
void EncodeDoubles(const std::vector<double>& v, std::string* out);  // ALP or XOR
bool DecodeDoubles(std::string_view* in, size_t n, std::vector<double>* v);

}  // namespace civitas::temporal
