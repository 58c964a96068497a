#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace civitas::temporal {

// Little-endian bit streams for the chunk codecs. The writer appends to a string; the reader
// never reads past its input (a truncated or corrupt stream sets failed() and yields zeros), so
// decoding damaged data cannot crash.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  ~BitWriter() { Flush(); }

  // Writes the low `bits` bits of v (bits <= 64).
  void Write(uint64_t v, int bits) {
    while (bits > 0) {
      int take = bits < 64 - used_ ? bits : 64 - used_;
      uint64_t part = take == 64 ? v : (v & ((uint64_t{1} << take) - 1));
      acc_ |= part << used_;
      used_ += take;
      bits -= take;
      v = take == 64 ? 0 : v >> take;
      if (used_ == 64) {
        for (int i = 0; i < 8; ++i) out_->push_back(static_cast<char>(acc_ >> (8 * i)));
        acc_ = 0;
        used_ = 0;
      }
    }
  }
  void WriteBit(bool b) { Write(b ? 1 : 0, 1); }
  // Writes the pending bits, padded to a whole byte. Further writes start a new byte.
  void Flush() {
    for (int i = 0; i < used_; i += 8) out_->push_back(static_cast<char>(acc_ >> i));
    acc_ = 0;
    used_ = 0;
  }

 private:
  std::string* out_;
  uint64_t acc_ = 0;
  int used_ = 0;
};

class BitReader {
 public:
  explicit BitReader(std::string_view in) : in_(in) {}

  // The next `bits` bits (bits <= 64); 0 and failed() when the input ends before them.
  uint64_t Read(int bits) {
    if (bits > 56) {
      uint64_t lo = Read(32);
      uint64_t hi = Read(bits - 32);
      return failed_ ? 0 : lo | (hi << 32);
    }
    if (avail_ < bits) {
      Refill();
      if (avail_ < bits) {
        failed_ = true;
        buf_ = 0;
        avail_ = 0;
        return 0;
      }
    }
    uint64_t v = buf_ & ((uint64_t{1} << bits) - 1);
    buf_ >>= bits;
    avail_ -= bits;
    return v;
  }
  bool ReadBit() { return Read(1) != 0; }
  // Consumes the zero bits ahead, at most `max`, and returns how many there were.
  size_t SkipZeros(size_t max) {
    size_t skipped = 0;
    while (skipped < max) {
      if (avail_ == 0) Refill();
      if (avail_ == 0) break;
      int zeros = buf_ == 0 ? avail_ : std::min(std::countr_zero(buf_), avail_);
      zeros = static_cast<int>(std::min<size_t>(zeros, max - skipped));
      skipped += zeros;
      buf_ = zeros == 64 ? 0 : buf_ >> zeros;
      avail_ -= zeros;
      if (avail_ > 0) break;  // a one bit is next
    }
    return skipped;
  }
  bool failed() const { return failed_; }
  // The bits consumed so far.
  size_t position() const { return pos_ * 8 - static_cast<size_t>(avail_); }

 private:
  // Loads whole bytes into buf_ until it holds more than 56 bits or the input ends.
  void Refill() {
    if (in_.size() - pos_ >= 8) {
      uint64_t w = 0;
      for (int i = 0; i < 8; ++i) {
        w |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
      }
      const int take = (64 - avail_) >> 3;  // whole bytes that fit (avail_ < 56)
      buf_ |= (take == 8 ? w : w & ((uint64_t{1} << (8 * take)) - 1)) << avail_;
      pos_ += take;
      avail_ += 8 * take;
      return;
    }
    while (avail_ <= 56 && pos_ < in_.size()) {
      buf_ |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_++])) << avail_;
      avail_ += 8;
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
  uint64_t buf_ = 0;  // the next avail_ bits, lowest first
  int avail_ = 0;
  bool failed_ = false;
};

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint from *in, advancing it. False when truncated or too long.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = r;
      return true;
    }
  }
  return false;
}

// A length-prefixed byte string.
inline void PutBytes(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}
inline bool GetBytes(std::string_view* in, std::string_view* s) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  *s = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

}  // namespace civitas::temporal
