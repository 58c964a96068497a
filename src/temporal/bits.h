#pragma once

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

  uint64_t Read(int bits) {
    uint64_t v = 0;
    for (int got = 0; got < bits;) {
      if (avail_ == 0) {
        if (pos_ >= in_.size()) {
          failed_ = true;
          return 0;
        }
        cur_ = static_cast<uint8_t>(in_[pos_++]);
        avail_ = 8;
      }
      int take = bits - got < avail_ ? bits - got : avail_;
      uint64_t part = cur_ & ((1u << take) - 1);
      v |= part << got;
      cur_ >>= take;
      avail_ -= take;
      got += take;
    }
    return v;
  }
  bool ReadBit() { return Read(1) != 0; }
  bool failed() const { return failed_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  uint32_t cur_ = 0;
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
