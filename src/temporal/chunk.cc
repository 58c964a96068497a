#include "temporal/chunk.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>

#include "temporal/bits.h"

namespace civitas::temporal {
namespace {

constexpr uint8_t kVersion = 1;
constexpr int kMaxExponent = 15;  // 10^15 < 2^53: every scaled integer is exact in a double
// Anything larger than this in a text column is damage, not data (a chunk holds a few thousand
// samples of at most the request body limit).
constexpr uint64_t kMaxTextBytes = uint64_t{1} << 30;

constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

uint64_t Bits(double d) { return std::bit_cast<uint64_t>(d); }
double FromBits(uint64_t b) { return std::bit_cast<double>(b); }

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
bool GetFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(8);
  *v = r;
  return true;
}

int BitWidth(uint64_t v) { return v == 0 ? 0 : 64 - std::countl_zero(v); }

// Decimal scaling: the integer k with k / 10^e == v bit for bit, if there is one.
bool Scale(double v, int e, int64_t* k) {
  if (!std::isfinite(v)) return false;
  double scaled = v * kPow10[e];
  if (!(std::fabs(scaled) < 9007199254740992.0)) return false;  // 2^53
  int64_t r = std::llround(scaled);
  if (Bits(static_cast<double>(r) / kPow10[e]) != Bits(v)) return false;
  *k = r;
  return true;
}

// Estimated bits to store v with exponent e, from a sample of at most 256 values.
uint64_t AlpCost(const std::vector<double>& v, int e) {
  size_t step = v.size() > 256 ? v.size() / 256 : 1;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  uint64_t exceptions = 0, n = 0;
  for (size_t i = 0; i < v.size(); i += step, ++n) {
    int64_t k;
    if (Scale(v[i], e, &k)) {
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    } else {
      ++exceptions;
    }
  }
  int width = lo > hi ? 0 : BitWidth(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo));
  return n * width + exceptions * 80;
}

void EncodeAlp(const std::vector<double>& v, int e, std::string* out) {
  std::vector<int64_t> ints(v.size());
  std::vector<uint32_t> exceptions;
  int64_t prev = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (Scale(v[i], e, &ints[i])) {
      prev = ints[i];
    } else {
      exceptions.push_back(static_cast<uint32_t>(i));
      ints[i] = prev;
    }
  }
  out->push_back(static_cast<char>(e));
  EncodeInts(ints, out);
  PutVarint(out, exceptions.size());
  uint32_t last = 0;
  for (uint32_t i : exceptions) {
    PutVarint(out, i - last);
    last = i;
    PutFixed64(out, Bits(v[i]));
  }
}

bool DecodeAlp(std::string_view* in, size_t n, std::vector<double>* v) {
  if (in->empty()) return false;
  int e = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  std::vector<int64_t> ints;
  if (e > kMaxExponent || !DecodeInts(in, n, &ints)) return false;
  v->resize(n);
  for (size_t i = 0; i < n; ++i) (*v)[i] = static_cast<double>(ints[i]) / kPow10[e];
  uint64_t count, pos = 0;
  if (!GetVarint(in, &count) || count > n) return false;
  for (uint64_t j = 0; j < count; ++j) {
    uint64_t gap, bits;
    if (!GetVarint(in, &gap) || !GetFixed64(in, &bits)) return false;
    pos += gap;
    if (pos >= n) return false;
    (*v)[pos] = FromBits(bits);
  }
  return true;
}

// Gorilla XOR: each value's bits XOR the previous one's, storing only the meaningful bits.
void EncodeXor(const std::vector<double>& v, std::string* out) {
  BitWriter w(out);
  uint64_t prev = 0;
  int prev_lead = -1, prev_trail = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    uint64_t b = Bits(v[i]);
    if (i == 0) {
      w.Write(b, 64);
      prev = b;
      continue;
    }
    uint64_t x = b ^ prev;
    prev = b;
    if (x == 0) {
      w.WriteBit(false);
      continue;
    }
    w.WriteBit(true);
    int lead = std::countl_zero(x), trail = std::countr_zero(x);
    if (prev_lead >= 0 && lead >= prev_lead && trail >= prev_trail) {
      w.WriteBit(false);
      w.Write(x >> prev_trail, 64 - prev_lead - prev_trail);
    } else {
      w.WriteBit(true);
      int len = 64 - lead - trail;
      w.Write(lead, 6);
      w.Write(len - 1, 6);
      w.Write(x >> trail, len);
      prev_lead = lead;
      prev_trail = trail;
    }
  }
  w.Flush();
}

bool DecodeXor(std::string_view in, size_t n, std::vector<double>* v) {
  BitReader r(in);
  v->resize(n);
  uint64_t prev = 0;
  int prev_lead = -1, prev_trail = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0) {
      prev = r.Read(64);
    } else if (r.ReadBit()) {
      uint64_t x;
      if (!r.ReadBit()) {
        if (prev_lead < 0) return false;
        x = r.Read(64 - prev_lead - prev_trail) << prev_trail;
      } else {
        int lead = static_cast<int>(r.Read(6));
        int len = static_cast<int>(r.Read(6)) + 1;
        if (lead + len > 64) return false;
        int trail = 64 - lead - len;
        x = r.Read(len) << trail;
        prev_lead = lead;
        prev_trail = trail;
      }
      prev ^= x;
    }
    (*v)[i] = FromBits(prev);
    if (r.failed()) return false;
  }
  return true;
}

// One zstd context per thread, reused: ZSTD_compress and ZSTD_decompress make (and clear) a
// fresh one per call, which costs more than compressing a chunk's text columns. The output is
// the same.
ZSTD_CCtx* CompressionContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(ZSTD_createCCtx(),
                                                                      ZSTD_freeCCtx);
  return ctx.get();
}
ZSTD_DCtx* DecompressionContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(),
                                                                      ZSTD_freeDCtx);
  return ctx.get();
}

void EncodeTexts(const std::vector<const std::string*>& texts, std::string* out) {
  std::string raw;
  for (const std::string* t : texts) PutBytes(&raw, *t);
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compressCCtx(CompressionContext(), z.data(), z.size(), raw.data(), raw.size(), 3);
  if (ZSTD_isError(n)) n = 0;  // cannot happen with a bound-sized buffer
  z.resize(n);
  PutVarint(out, raw.size());
  PutBytes(out, z);
}

bool DecodeTexts(std::string_view* in, size_t n, std::vector<std::string>* texts) {
  uint64_t raw_size;
  std::string_view z;
  if (!GetVarint(in, &raw_size) || raw_size > kMaxTextBytes || !GetBytes(in, &z)) return false;
  std::string raw(raw_size, '\0');
  size_t got =
      ZSTD_decompressDCtx(DecompressionContext(), raw.data(), raw.size(), z.data(), z.size());
  if (ZSTD_isError(got) || got != raw_size) return false;
  std::string_view rv(raw);
  texts->resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::string_view t;
    if (!GetBytes(&rv, &t)) return false;
    (*texts)[i] = std::string(t);
  }
  return rv.empty();
}

Status Damaged(const char* what) {
  return Status::Internal(std::string("damaged temporal chunk: ") + what);
}

void EncodeStats(const ChunkStats& s, std::string* out) {
  PutVarint(out, s.count);
  PutVarint(out, ZigZag(s.first_time));
  PutVarint(out, ZigZag(s.last_time));
  PutVarint(out, s.numbers);
  PutFixed64(out, Bits(s.sum));
  PutFixed64(out, Bits(s.sumsq));
  PutFixed64(out, Bits(s.min));
  PutFixed64(out, Bits(s.max));
}

bool DecodeStats(std::string_view* in, ChunkStats* s) {
  uint64_t first, last, a, b, c, d;
  if (in->empty() || static_cast<uint8_t>((*in)[0]) != kVersion) return false;
  in->remove_prefix(1);
  if (!GetVarint(in, &s->count) || !GetVarint(in, &first) || !GetVarint(in, &last) ||
      !GetVarint(in, &s->numbers) || !GetFixed64(in, &a) || !GetFixed64(in, &b) ||
      !GetFixed64(in, &c) || !GetFixed64(in, &d)) {
    return false;
  }
  s->first_time = UnZigZag(first);
  s->last_time = UnZigZag(last);
  s->sum = FromBits(a);
  s->sumsq = FromBits(b);
  s->min = FromBits(c);
  s->max = FromBits(d);
  return s->numbers <= s->count;
}

}  // namespace

void SortSamples(std::vector<Sample>* samples) {
  std::stable_sort(samples->begin(), samples->end(),
                   [](const Sample& a, const Sample& b) { return a.time < b.time; });
}

namespace {

// True if `name` is a member of the top-level object of the JSON object text `e` (a
// sub-attribute may have its own observedAt). Scanned rather than parsed: queries call this for
// every instance in their interval.
bool HasTopLevelMember(std::string_view e, std::string_view name) {
  if (e.find(name) == std::string_view::npos) return false;
  int depth = 0;
  bool at_key = false;
  for (size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    if (c == '"') {
      size_t end = i + 1;
      while (end < e.size() && e[end] != '"') end += e[end] == '\\' ? 2 : 1;
      if (at_key && e.substr(i + 1, end - i - 1) == name) return true;
      at_key = false;
      i = end;
    } else if (c == '{' || c == '[') {
      ++depth;
      at_key = c == '{' && depth == 1;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',') {
      at_key = depth == 1;
    }
  }
  return false;
}

}  // namespace

bool HasObservedAt(const Sample& s) { return HasTopLevelMember(s.extra, "observedAt"); }

bool IsDeletion(const Sample& s) {
  // A number is never the NGSI-LD Null: no need to scan.
  return !s.number && HasTopLevelMember(s.extra, "deletedAt");
}

void ChunkStats::Add(const Sample& s) {
  if (count == 0 || s.time < first_time) first_time = s.time;
  if (count == 0 || s.time > last_time) last_time = s.time;
  ++count;
  if (s.number) AddValue(*s.number);
}

void ChunkStats::AddValue(double v) { AddValues(&v, 1); }

void ChunkStats::AddValues(const double* v, size_t n) {
  // In locals: the compiler keeps them in registers over a run.
  double s = sum, sq = sumsq, lo = min, hi = max;
  uint64_t k = numbers;
  for (size_t i = 0; i < n; ++i) {
    const double x = v[i];
    if (std::isnan(x)) continue;
    if (k == 0 || x < lo) lo = x;
    if (k == 0 || x > hi) hi = x;
    ++k;
    s += x;
    sq += x * x;
  }
  sum = s;
  sumsq = sq;
  min = lo;
  max = hi;
  numbers = k;
}

void ChunkStats::Merge(const ChunkStats& o) {
  if (o.count == 0) return;
  if (count == 0 || o.first_time < first_time) first_time = o.first_time;
  if (count == 0 || o.last_time > last_time) last_time = o.last_time;
  count += o.count;
  if (o.numbers == 0) return;
  if (numbers == 0 || o.min < min) min = o.min;
  if (numbers == 0 || o.max > max) max = o.max;
  numbers += o.numbers;
  sum += o.sum;
  sumsq += o.sumsq;
}

BlockStats BlockStats::Of(const Micros* times, const double* numbers, size_t n) {
  BlockStats b;
  b.count = static_cast<uint32_t>(n);
  b.numeric = numbers != nullptr;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || times[i] < b.first_time) b.first_time = times[i];
    if (i == 0 || times[i] > b.last_time) b.last_time = times[i];
  }
  if (numbers != nullptr) {
    ChunkStats v;
    v.AddValues(numbers, n);
    b.values = {static_cast<uint32_t>(v.numbers), v.sum, v.sumsq, v.min, v.max};
  }
  return b;
}

void EncodeDod(const std::vector<int64_t>& v, std::string* out) {
  std::string bits;
  {
    BitWriter w(&bits);
    uint64_t prev = 0, prev_delta = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      uint64_t cur = static_cast<uint64_t>(v[i]);
      if (i == 0) {
        w.Write(cur, 64);
        prev = cur;
        continue;
      }
      uint64_t delta = cur - prev;  // wrapping arithmetic: defined for any pair of int64
      uint64_t z = ZigZag(static_cast<int64_t>(delta - prev_delta));
      prev = cur;
      prev_delta = delta;
      if (z == 0) {
        w.Write(0b0, 1);
      } else if (z < (1u << 7)) {
        w.Write(0b01, 2);
        w.Write(z, 7);
      } else if (z < (1u << 12)) {
        w.Write(0b011, 3);
        w.Write(z, 12);
      } else if (z < (1u << 20)) {
        w.Write(0b0111, 4);
        w.Write(z, 20);
      } else if (z < (uint64_t{1} << 32)) {
        w.Write(0b01111, 5);
        w.Write(z, 32);
      } else {
        w.Write(0b11111, 5);
        w.Write(z, 64);
      }
    }
    w.Flush();
  }
  PutBytes(out, bits);
}

bool DecodeDod(std::string_view* in, size_t n, std::vector<int64_t>* v) {
  std::string_view bits;
  if (!GetBytes(in, &bits)) return false;
  BitReader r(bits);
  v->resize(n);
  uint64_t prev = 0, prev_delta = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0) {
      prev = r.Read(64);
    } else {
      // A run of zero bits: values with the previous delta (regular times), many at once.
      for (size_t run = r.SkipZeros(n - i); run > 0; --run) {
        prev += prev_delta;
        (*v)[i++] = static_cast<int64_t>(prev);
      }
      if (i == n) break;
      int ones = 0;
      while (ones < 5 && r.ReadBit()) ++ones;
      static constexpr int kWidth[] = {0, 7, 12, 20, 32, 64};
      uint64_t z = ones == 0 ? 0 : r.Read(kWidth[ones]);
      prev_delta += static_cast<uint64_t>(UnZigZag(z));
      prev += prev_delta;
    }
    (*v)[i] = static_cast<int64_t>(prev);
    if (r.failed()) return false;
  }
  return true;
}

// Frame of reference: the minimum, then every value's distance to it in a fixed bit width.
// Better than delta-of-delta for jitter (arrival delays), which has no regular deltas.
void EncodeFor(const std::vector<int64_t>& v, std::string* out) {
  int64_t lo = v.empty() ? 0 : *std::min_element(v.begin(), v.end());
  uint64_t range = 0;
  for (int64_t x : v) range = std::max(range, static_cast<uint64_t>(x) - static_cast<uint64_t>(lo));
  int width = BitWidth(range);
  PutVarint(out, ZigZag(lo));
  out->push_back(static_cast<char>(width));
  std::string bits;
  {
    BitWriter w(&bits);
    for (int64_t x : v) w.Write(static_cast<uint64_t>(x) - static_cast<uint64_t>(lo), width);
  }
  PutBytes(out, bits);
}

bool DecodeFor(std::string_view* in, size_t n, std::vector<int64_t>* v) {
  uint64_t zlo;
  if (!GetVarint(in, &zlo) || in->empty()) return false;
  int width = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  std::string_view bits;
  if (width > 64 || !GetBytes(in, &bits)) return false;
  BitReader r(bits);
  v->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*v)[i] = static_cast<int64_t>(static_cast<uint64_t>(UnZigZag(zlo)) + r.Read(width));
  }
  return !r.failed();
}

void EncodeInts(const std::vector<int64_t>& v, std::string* out) {
  // Three candidates: delta of delta (regular times), frame of reference (jitter, small
  // ranges), frame of reference on deltas (random walks, like most sensor readings).
  std::string best, cand;
  EncodeDod(v, &cand);
  best = std::string(1, '\0') + cand;
  cand.clear();
  EncodeFor(v, &cand);
  if (cand.size() + 1 < best.size()) best = std::string(1, '\1') + cand;
  std::vector<int64_t> deltas(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    deltas[i] = static_cast<int64_t>(static_cast<uint64_t>(v[i]) -
                                     static_cast<uint64_t>(i == 0 ? 0 : v[i - 1]));
  }
  if (!v.empty()) deltas[0] = 0;
  cand.clear();
  if (!v.empty()) PutVarint(&cand, ZigZag(v[0]));
  EncodeFor(deltas, &cand);
  if (cand.size() + 1 < best.size()) best = std::string(1, '\2') + cand;
  out->append(best);
}

bool DecodeInts(std::string_view* in, size_t n, std::vector<int64_t>* v) {
  if (in->empty()) return false;
  uint8_t mode = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  if (mode == 0) return DecodeDod(in, n, v);
  if (mode == 1) return DecodeFor(in, n, v);
  if (mode != 2) return false;
  uint64_t first = 0;
  if (n > 0 && !GetVarint(in, &first)) return false;
  if (!DecodeFor(in, n, v)) return false;
  uint64_t acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = i == 0 ? static_cast<uint64_t>(UnZigZag(first)) : acc + static_cast<uint64_t>((*v)[i]);
    (*v)[i] = static_cast<int64_t>(acc);
  }
  return true;
}

namespace {

// Moves *in past a column written by EncodeInts of n values without decoding it. Checks its
// framing and that its bits can hold n values, not the values themselves.
bool SkipInts(std::string_view* in, size_t n) {
  if (in->empty()) return false;
  const uint8_t mode = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  std::string_view bits;
  if (mode == 0) {  // delta of delta: 64 bits, then at least one per value
    return GetBytes(in, &bits) && (n == 0 || bits.size() * 8 >= 64 + (n - 1));
  }
  uint64_t skip;
  if (mode == 2 && n > 0 && !GetVarint(in, &skip)) return false;
  if (mode != 1 && mode != 2) return false;
  if (!GetVarint(in, &skip) || in->empty()) return false;  // frame of reference
  const unsigned width = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return width <= 64 && GetBytes(in, &bits) && bits.size() * 8 >= n * width;
}

}  // namespace

void EncodeDoubles(const std::vector<double>& v, std::string* out) {
  int best_e = 0;
  uint64_t best = UINT64_MAX;
  for (int e = 0; e <= kMaxExponent; ++e) {
    uint64_t cost = AlpCost(v, e);
    if (cost < best) {
      best = cost;
      best_e = e;
    }
  }
  std::string alp;
  EncodeAlp(v, best_e, &alp);
  // Not decimal (or too many digits): Gorilla XOR may do better.
  if (alp.size() > v.size() * 2) {
    std::string x;
    EncodeXor(v, &x);
    if (x.size() < alp.size()) {
      out->push_back(1);
      PutBytes(out, x);
      return;
    }
  }
  out->push_back(0);
  PutBytes(out, alp);
}

bool DecodeDoubles(std::string_view* in, size_t n, std::vector<double>* v) {
  if (in->empty()) return false;
  uint8_t mode = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  std::string_view body;
  if (!GetBytes(in, &body)) return false;
  if (mode == 1) return DecodeXor(body, n, v);
  if (mode != 0) return false;
  return DecodeAlp(&body, n, v) && body.empty();
}

std::string EncodeChunk(const std::vector<Sample>& samples) {
  ChunkStats stats;
  for (const auto& s : samples) stats.Add(s);
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  EncodeStats(stats, &out);
  std::vector<int64_t> col(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) col[i] = samples[i].time;
  EncodeInts(col, &out);
  // System times either as they are (constant, or one per upload batch) or as offsets from
  // the instant (0 without observedAt, an arrival delay with it), whichever is smaller.
  // Wrapping subtraction: any pair of int64 round-trips.
  auto system_column = [&](Micros Sample::*field) {
    std::vector<int64_t> abs(samples.size()), off(samples.size());
    for (size_t i = 0; i < samples.size(); ++i) {
      abs[i] = samples[i].*field;
      off[i] = static_cast<int64_t>(static_cast<uint64_t>(abs[i]) -
                                    static_cast<uint64_t>(samples[i].time));
    }
    std::string a, o;
    EncodeInts(abs, &a);
    EncodeInts(off, &o);
    out.push_back(a.size() <= o.size() ? 0 : 1);
    out.append(a.size() <= o.size() ? a : o);
  };
  system_column(&Sample::created_at);
  system_column(&Sample::modified_at);
  for (size_t i = 0; i < samples.size(); ++i) col[i] = static_cast<int64_t>(samples[i].instance);
  EncodeInts(col, &out);

  // Which samples are numeric: all (0), none (1), or a bitmap (2).
  std::vector<double> numbers;
  std::vector<const std::string*> texts, extras;
  for (const auto& s : samples) {
    if (s.number) {
      numbers.push_back(*s.number);
    } else {
      texts.push_back(&s.value);
    }
    extras.push_back(&s.extra);
  }
  if (texts.empty()) {
    out.push_back(0);
  } else if (numbers.empty()) {
    out.push_back(1);
  } else {
    out.push_back(2);
    std::string map;
    BitWriter w(&map);
    for (const auto& s : samples) w.WriteBit(s.number.has_value());
    w.Flush();
    PutBytes(&out, map);
  }
  if (!numbers.empty()) EncodeDoubles(numbers, &out);
  if (!texts.empty()) EncodeTexts(texts, &out);
  EncodeTexts(extras, &out);
  return out;
}

std::string EncodeSample(const Sample& s) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | kVersion));  // never a chunk's first byte
  PutVarint(&out, ZigZag(s.time));
  auto offset = [&](Micros a) {  // wrapping: defined for any pair of int64
    return ZigZag(static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(s.time)));
  };
  PutVarint(&out, offset(s.created_at));
  PutVarint(&out, offset(s.modified_at));
  PutVarint(&out, s.instance);
  out.push_back(s.number ? 1 : 0);
  if (s.number) {
    PutFixed64(&out, Bits(*s.number));
  } else {
    PutBytes(&out, s.value);
  }
  PutBytes(&out, s.extra);
  return out;
}

Result<Sample> DecodeSample(std::string_view in) {
  Sample s;
  uint64_t t, c, m;
  if (in.empty() || static_cast<uint8_t>(in[0]) != (0x80 | kVersion)) return Damaged("sample");
  in.remove_prefix(1);
  if (!GetVarint(&in, &t) || !GetVarint(&in, &c) || !GetVarint(&in, &m) ||
      !GetVarint(&in, &s.instance) || in.empty()) {
    return Damaged("sample");
  }
  s.time = UnZigZag(t);
  s.created_at =
      static_cast<Micros>(static_cast<uint64_t>(s.time) + static_cast<uint64_t>(UnZigZag(c)));
  s.modified_at =
      static_cast<Micros>(static_cast<uint64_t>(s.time) + static_cast<uint64_t>(UnZigZag(m)));
  bool numeric = in[0] == 1;
  in.remove_prefix(1);
  std::string_view text;
  if (numeric) {
    uint64_t bits;
    if (!GetFixed64(&in, &bits)) return Damaged("sample");
    s.number = FromBits(bits);
  } else {
    if (!GetBytes(&in, &text)) return Damaged("sample");
    s.value = std::string(text);
  }
  if (!GetBytes(&in, &text) || !in.empty()) return Damaged("sample");
  s.extra = std::string(text);
  return s;
}

bool DecodeSampleNumber(std::string_view in, Micros* time, std::optional<double>* number) {
  uint64_t t, skip;
  if (in.empty() || static_cast<uint8_t>(in[0]) != (0x80 | kVersion)) return false;
  in.remove_prefix(1);
  if (!GetVarint(&in, &t) || !GetVarint(&in, &skip) || !GetVarint(&in, &skip) ||
      !GetVarint(&in, &skip) || in.empty()) {
    return false;
  }
  *time = UnZigZag(t);
  number->reset();
  if (in[0] == 1) {
    in.remove_prefix(1);
    uint64_t bits;
    if (!GetFixed64(&in, &bits)) return false;
    *number = FromBits(bits);
  }
  return true;
}

Result<ChunkStats> ReadChunkStats(std::string_view chunk) {
  ChunkStats s;
  if (!DecodeStats(&chunk, &s)) return Damaged("header");
  return s;
}

Result<bool> DecodeChunkNumbers(std::string_view in, std::vector<Micros>* times,
                                std::vector<double>* numbers) {
  numbers->clear();
  ChunkStats stats;
  if (!DecodeStats(&in, &stats)) return Damaged("header");
  if (stats.count > in.size() * 8) return Damaged("count");
  const size_t n = stats.count;
  if (!DecodeInts(&in, n, times)) return Damaged("time column");
  // createdAt and modifiedAt (a mode byte each), then instance numbers: skipped.
  for (int i = 0; i < 2; ++i) {
    if (in.empty() || static_cast<uint8_t>(in[0]) > 1) return Damaged("system column");
    in.remove_prefix(1);
    if (!SkipInts(&in, n)) return Damaged("system column");
  }
  if (!SkipInts(&in, n)) return Damaged("instance column");
  if (in.empty()) return Damaged("value kind");
  if (in[0] != 0) return false;  // not all numbers
  in.remove_prefix(1);
  if (n > 0 && !DecodeDoubles(&in, n, numbers)) return Damaged("numeric values");
  return true;
}

Result<std::vector<Sample>> DecodeChunk(std::string_view in) {
  ChunkStats stats;
  if (!DecodeStats(&in, &stats)) return Damaged("header");
  // Every sample takes at least one bit in each column: a count beyond that is damage.
  if (stats.count > in.size() * 8) return Damaged("count");
  const size_t n = stats.count;
  std::vector<Sample> samples(n);
  std::vector<int64_t> col;
  if (!DecodeInts(&in, n, &col)) return Damaged("time column");
  for (size_t i = 0; i < n; ++i) samples[i].time = col[i];
  auto system_column = [&](Micros Sample::*field) {
    if (in.empty()) return false;
    bool offset = in[0] == 1;
    if (static_cast<uint8_t>(in[0]) > 1) return false;
    in.remove_prefix(1);
    if (!DecodeInts(&in, n, &col)) return false;
    for (size_t i = 0; i < n; ++i) {
      samples[i].*field = static_cast<Micros>(
          static_cast<uint64_t>(col[i]) + (offset ? static_cast<uint64_t>(samples[i].time) : 0));
    }
    return true;
  };
  if (!system_column(&Sample::created_at)) return Damaged("createdAt column");
  if (!system_column(&Sample::modified_at)) return Damaged("modifiedAt column");
  if (!DecodeInts(&in, n, &col)) return Damaged("instance column");
  for (size_t i = 0; i < n; ++i) samples[i].instance = static_cast<uint64_t>(col[i]);

  if (in.empty()) return Damaged("value kind");
  uint8_t kind = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  std::vector<bool> numeric(n, kind == 0);
  if (kind == 2) {
    std::string_view map;
    if (!GetBytes(&in, &map)) return Damaged("value map");
    BitReader r(map);
    for (size_t i = 0; i < n; ++i) numeric[i] = r.ReadBit();
    if (r.failed()) return Damaged("value map");
  } else if (kind > 2) {
    return Damaged("value kind");
  }
  size_t num_count = std::count(numeric.begin(), numeric.end(), true);
  if (num_count > 0) {
    std::vector<double> numbers;
    if (!DecodeDoubles(&in, num_count, &numbers)) return Damaged("numeric values");
    for (size_t i = 0, j = 0; i < n; ++i) {
      if (numeric[i]) samples[i].number = numbers[j++];
    }
  }
  std::vector<std::string> texts;
  if (num_count < n) {
    if (!DecodeTexts(&in, n - num_count, &texts)) return Damaged("text values");
    for (size_t i = 0, j = 0; i < n; ++i) {
      if (!numeric[i]) samples[i].value = std::move(texts[j++]);
    }
  }
  if (!DecodeTexts(&in, n, &texts)) return Damaged("extras");
  for (size_t i = 0; i < n; ++i) samples[i].extra = std::move(texts[i]);
  if (!in.empty()) return Damaged("trailing bytes");
  return samples;
}

namespace {

constexpr int kDodWidth[] = {0, 7, 12, 20, 32, 64};

// The framing of an EncodeInts column of n values at *in, relative to `base` (the chunk).
bool ParseIntColumn(std::string_view base, std::string_view* in, size_t n, IntColumnLayout* c) {
  if (in->empty()) return false;
  c->mode = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  std::string_view bits;
  if (c->mode == 0) {
    if (!GetBytes(in, &bits)) return false;
  } else {
    uint64_t v;
    if (c->mode == 2 && n > 0) {
      if (!GetVarint(in, &v)) return false;
      c->first = UnZigZag(v);
    } else if (c->mode != 1 && c->mode != 2) {
      return false;
    }
    if (!GetVarint(in, &v) || in->empty()) return false;
    c->lo = UnZigZag(v);
    c->width = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    if (c->width > 64 || !GetBytes(in, &bits)) return false;
  }
  c->bits_offset = static_cast<size_t>(bits.data() - base.data());
  c->bits_size = bits.size();
  return true;
}

// Decodes an integer column value by value, from its start or from a block's checkpoint.
class IntCursor {
 public:
  IntCursor(std::string_view base, const IntColumnLayout& c)
      : c_(c), bits_(Bits(base, c)), r_(bits_) {}

  // Positions the cursor before value i = k * kBlockSamples.
  void Seek(size_t k) {
    i_ = k * kBlockSamples;
    uint64_t bit = i_ * static_cast<uint64_t>(c_.width);
    if (c_.mode != 1 && k > 0) {
      const auto& cp = c_.checkpoints[k];
      bit = cp.bit;
      prev_ = cp.prev;
      prev_delta_ = cp.prev_delta;
    }
    r_ = BitReader(bits_.substr(std::min<size_t>(bit / 8, bits_.size())));
    r_.Read(static_cast<int>(bit % 8));
  }
  // The state before the next value, on a cursor that was not moved by Seek.
  IntColumnLayout::Checkpoint State() const { return {r_.position(), prev_, prev_delta_}; }

  uint64_t Next() {
    uint64_t v = 0;
    if (c_.mode == 0) {
      if (i_ == 0) {
        prev_ = r_.Read(64);
      } else {
        if (r_.ReadBit()) {
          int ones = 1;
          while (ones < 5 && r_.ReadBit()) ++ones;
          prev_delta_ += static_cast<uint64_t>(UnZigZag(r_.Read(kDodWidth[ones])));
        }
        prev_ += prev_delta_;
      }
      v = prev_;
    } else {
      v = static_cast<uint64_t>(c_.lo) + r_.Read(c_.width);
      if (c_.mode == 2) {
        prev_ = i_ == 0 ? static_cast<uint64_t>(c_.first) : prev_ + v;
        v = prev_;
      }
    }
    ++i_;
    return v;
  }
  // Next() n times, into out[0..n): the same values, but a run of zero delta-of-deltas (regular
  // instants) is taken at once.
  void Fill(uint64_t* out, size_t n) {
    if (c_.mode == 1) return FillPacked(out, n);
    if (c_.mode != 0) {
      for (size_t i = 0; i < n; ++i) out[i] = Next();
      return;
    }
    size_t i = 0;
    if (i < n && i_ == 0) out[i++] = Next();
    while (i < n) {
      for (size_t run = r_.SkipZeros(n - i); run > 0; --run) {
        prev_ += prev_delta_;
        out[i++] = prev_;
        ++i_;
      }
      if (i < n) out[i++] = Next();  // a delta-of-delta that is not zero (or the input ended)
    }
  }
  bool failed() const { return r_.failed(); }

 private:
  // Fill for frame of reference: value i is the `width` bits at bit i * width. Each is read
  // with one unaligned load when the input holds 8 bytes from its first byte (it always does
  // but near the column's end, where Next() reads instead).
  void FillPacked(uint64_t* out, size_t n) {
    const int width = c_.width;
    const uint64_t first_bit = i_ * static_cast<uint64_t>(width);
    const uint64_t end_bit = first_bit + n * static_cast<uint64_t>(width);
    if constexpr (std::endian::native == std::endian::little) {
      if (width <= 56 && end_bit / 8 + 8 <= bits_.size()) {
        const uint64_t mask = (uint64_t{1} << width) - 1;
        const auto lo = static_cast<uint64_t>(c_.lo);
        for (size_t i = 0; i < n; ++i) {
          const uint64_t bit = first_bit + i * static_cast<uint64_t>(width);
          uint64_t w;
          std::memcpy(&w, bits_.data() + bit / 8, sizeof w);
          out[i] = lo + ((w >> (bit % 8)) & mask);
        }
        // The reader where Next() would have left it.
        i_ += n;
        r_ = BitReader(bits_.substr(end_bit / 8));
        r_.Read(static_cast<int>(end_bit % 8));
        return;
      }
    }
    for (size_t i = 0; i < n; ++i) out[i] = Next();
  }

  static std::string_view Bits(std::string_view base, const IntColumnLayout& c) {
    return base.substr(c.bits_offset, c.bits_size);
  }

  const IntColumnLayout& c_;
  std::string_view bits_;
  BitReader r_;
  size_t i_ = 0;
  uint64_t prev_ = 0, prev_delta_ = 0;
};

// Fills in the layout and checkpoints of a chunk whose every value is a number (times and
// numbers: its full decode); false (not seekable) for anything else, or when reading the
// columns this way does not give back exactly the full decode.
bool IndexLayout(std::string_view chunk, const std::vector<Micros>& times,
                 const std::vector<double>& numbers, ChunkIndex* index) {
  const size_t n = times.size();
  std::string_view in = chunk;
  ChunkStats stats;
  if (!DecodeStats(&in, &stats) || !ParseIntColumn(chunk, &in, n, &index->time)) return false;
  for (int i = 0; i < 2; ++i) {  // createdAt, modifiedAt
    if (in.empty()) return false;
    in.remove_prefix(1);
    if (!SkipInts(&in, n)) return false;
  }
  if (!SkipInts(&in, n) || in.size() < 2 || in[0] != 0 || in[1] != 0) return false;  // ALP
  in.remove_prefix(2);
  std::string_view body;
  if (!GetBytes(&in, &body) || body.empty()) return false;
  index->exponent = static_cast<uint8_t>(body[0]);
  body.remove_prefix(1);
  if (index->exponent > kMaxExponent || !ParseIntColumn(chunk, &body, n, &index->value)) {
    return false;
  }
  uint64_t count, pos = 0;
  if (!GetVarint(&body, &count) || count > n) return false;
  for (uint64_t j = 0; j < count; ++j) {
    uint64_t gap, bits;
    if (!GetVarint(&body, &gap) || !GetFixed64(&body, &bits)) return false;
    pos += gap;
    if (pos >= n) return false;
    index->exceptions.emplace_back(static_cast<uint32_t>(pos), FromBits(bits));
  }
  IntCursor t(chunk, index->time), v(chunk, index->value);
  size_t e = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i % kBlockSamples == 0) {
      index->time.checkpoints.push_back(t.State());
      index->value.checkpoints.push_back(v.State());
    }
    const Micros time = static_cast<Micros>(t.Next());
    double x = static_cast<double>(static_cast<int64_t>(v.Next())) / kPow10[index->exponent];
    if (e < index->exceptions.size() && index->exceptions[e].first == i)
      x = index->exceptions[e++].second;
    if (time != times[i] || Bits(x) != Bits(numbers[i])) return false;
  }
  if (t.failed() || v.failed()) return false;
  if (index->time.mode == 1) index->time.checkpoints.clear();
  if (index->value.mode == 1) index->value.checkpoints.clear();
  return true;
}

}  // namespace

void ChunkIndex::DecodeBlock(std::string_view chunk, size_t k, Micros* times,
                             double* numbers) const {
  IntCursor t(chunk, time), v(chunk, value);
  t.Seek(k);
  v.Seek(k);
  const size_t begin = k * kBlockSamples, n = std::min<size_t>(blocks[k].count, kBlockSamples);
  const double scale = kPow10[exponent];
  uint64_t tv[kBlockSamples], vv[kBlockSamples];
  t.Fill(tv, n);
  v.Fill(vv, n);
  for (size_t i = 0; i < n; ++i) {
    times[i] = static_cast<Micros>(tv[i]);
    numbers[i] = static_cast<double>(static_cast<int64_t>(vv[i])) / scale;
  }
  auto it =
      std::lower_bound(exceptions.begin(), exceptions.end(), begin,
                       [](const std::pair<uint32_t, double>& x, size_t i) { return x.first < i; });
  for (; it != exceptions.end() && it->first < begin + n; ++it)
    numbers[it->first - begin] = it->second;
}

Result<ChunkIndex> ComputeChunkIndex(std::string_view chunk) {
  ChunkIndex index;
  std::vector<BlockStats>& blocks = index.blocks;
  std::vector<Micros> times;
  std::vector<double> numbers;
  auto numeric = DecodeChunkNumbers(chunk, &times, &numbers);
  if (!numeric.ok()) return numeric.status();
  if (*numeric) {
    for (size_t b = 0; b < times.size(); b += kBlockSamples) {
      const size_t n = std::min(kBlockSamples, times.size() - b);
      blocks.push_back(BlockStats::Of(times.data() + b, numbers.data() + b, n));
    }
    ChunkIndex layout;
    if (IndexLayout(chunk, times, numbers, &layout)) {
      layout.blocks = std::move(blocks);
      layout.seekable = true;
      return layout;
    }
    return index;
  }
  auto samples = DecodeChunk(chunk);
  if (!samples.ok()) return samples.status();
  for (size_t b = 0; b < samples->size(); b += kBlockSamples) {
    const size_t n = std::min(kBlockSamples, samples->size() - b);
    times.clear();
    numbers.clear();
    for (size_t i = b; i < b + n; ++i) {
      times.push_back((*samples)[i].time);
      if ((*samples)[i].number) numbers.push_back(*(*samples)[i].number);
    }
    blocks.push_back(
        BlockStats::Of(times.data(), numbers.size() == n ? numbers.data() : nullptr, n));
  }
  return index;
}

}  // namespace civitas::temporal
