#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "temporal/chunk.h"

namespace civitas::temporal {

// The samples of a series recorded since its last seal, in record order, kept as their
// encoded records (EncodeSample) in a buffer that the versions of the series share.
//
// A version sees the first size() records of the buffer; they never change while a version
// can see them. Appending to the newest version writes past its end, which no other version
// can see, so copying a Series (once per series per commit round) costs O(1) instead of
// O(open samples), and an open sample takes its encoded size (about 40 bytes) instead of a
// Sample with its strings. Anything else copies the records first: an append to a version
// that is not the newest (after an aborted round), Replace, Erase and Assign.
//
// Thread safety: as for any value, but a copy may be read on other threads while the
// original is appended to (the TemporalStore's commit thread stages a copy and publishes it
// under its lock; readers read published versions).
class OpenSamples {
 public:
  OpenSamples() = default;
  OpenSamples(const OpenSamples& o);
  OpenSamples& operator=(const OpenSamples& o);
  OpenSamples(OpenSamples&& o) noexcept;
  OpenSamples& operator=(OpenSamples&& o) noexcept;
  ~OpenSamples();

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // The encoded record of sample i (i < size()).
  std::string_view record(size_t i) const;
  // Sample i, decoded. Records are valid: they come from EncodeSample or were checked by
  // Append.
  Sample operator[](size_t i) const;
  std::vector<Sample> Decode() const;

  // Sample i's instant, and its number when it has one (else NaN; numeric(i) tells), without
  // decoding its record: for aggregations.
  Micros time(size_t i) const { return buf_->times()[i]; }
  bool numeric(size_t i) const { return buf_->numeric()[i] != 0; }
  // The numbers of samples i, i+1, ... (NaN where numeric() is false).
  const double* numbers(size_t i) const { return buf_->numbers() + i; }
  // The pre-aggregates of block k (samples [k * kBlockSamples, (k + 1) * kBlockSamples)) once it
  // is complete: k < size() / kBlockSamples.
  const BlockStats& block(size_t k) const { return buf_->blocks()[k]; }

  // The earliest and latest instant (Sample::time) of the samples; only when not empty.
  Micros min_time() const { return min_time_; }
  Micros max_time() const { return max_time_; }

  // Appends an encoded record. BadRequest (nothing appended) when it does not decode.
  Status AppendRecord(std::string_view record);
  void Append(const Sample& s);
  // The same, when the caller already has the record: record == EncodeSample(s).
  void Append(const Sample& s, std::string_view record);
  void Assign(const std::vector<Sample>& samples);
  void Replace(size_t i, const Sample& s);
  void Erase(size_t i);

  // Iterates decoded samples: `for (const Sample& s : open)`.
  class Iterator {
   public:
    Iterator(const OpenSamples* o, size_t i) : o_(o), i_(i) {}
    Sample operator*() const { return (*o_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return i_ != other.i_; }

   private:
    const OpenSamples* o_;
    size_t i_;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, count_}; }

 private:
  // One allocation (a series with one open sample costs about 100 bytes): this header, then
  // each record's instant and number (NaN and numeric 0 when it has none) and the stats of each
  // complete block, which aggregations read instead of the records, then where each record
  // begins in the record bytes, then the bytes. Shared by the versions of a series (refs).
  struct alignas(8) Buffer {
    std::atomic<uint32_t> refs{1};
    uint32_t capacity = 0;       // records
    uint32_t byte_capacity = 0;  // record bytes
    // The extent of the newest version: only appends to it may write in place.
    uint32_t count = 0;

    Micros* times() { return reinterpret_cast<Micros*>(this + 1); }
    double* numbers() { return reinterpret_cast<double*>(times() + capacity); }
    BlockStats* blocks() { return reinterpret_cast<BlockStats*>(numbers() + capacity); }
    uint32_t* starts() { return reinterpret_cast<uint32_t*>(blocks() + capacity / kBlockSamples); }
    uint8_t* numeric() { return reinterpret_cast<uint8_t*>(starts() + capacity); }
    char* bytes() { return reinterpret_cast<char*>(numeric() + capacity); }

    static Buffer* New(size_t capacity, size_t byte_capacity);
    void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
    void Unref();
  };
  // Makes buf_ private to this version (a copy of its records) with room for `more_records`
  // more records of `more_bytes` bytes in all.
  void Reserve(size_t more_records, size_t more_bytes);
  void AppendUnchecked(Micros time, std::optional<double> number, std::string_view record);

  Buffer* buf_ = nullptr;
  size_t count_ = 0;  // records this version sees
  size_t bytes_ = 0;  // their bytes
  Micros min_time_ = 0, max_time_ = 0;
};

}  // namespace civitas::temporal
