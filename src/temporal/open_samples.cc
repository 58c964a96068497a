#include "temporal/open_samples.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

namespace civitas::temporal {

// The arrays follow one another in the buffer: each must be aligned where the previous ends.
static_assert(alignof(Micros) <= 8 && alignof(double) <= 8 && alignof(BlockStats) <= 8 &&
              sizeof(BlockStats) % 8 == 0);

OpenSamples::Buffer* OpenSamples::Buffer::New(size_t capacity, size_t byte_capacity) {
  static_assert(sizeof(Buffer) % 8 == 0);
  const size_t size = sizeof(Buffer) +
                      capacity * (sizeof(Micros) + sizeof(double) + sizeof(uint32_t) + 1) +
                      capacity / kBlockSamples * sizeof(BlockStats) + byte_capacity;
  auto* b = new (::operator new(size)) Buffer;
  b->capacity = static_cast<uint32_t>(capacity);
  b->byte_capacity = static_cast<uint32_t>(byte_capacity);
  return b;
}

void OpenSamples::Buffer::Unref() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~Buffer();
    ::operator delete(this);
  }
}

OpenSamples::OpenSamples(const OpenSamples& o)
    : buf_(o.buf_), count_(o.count_), bytes_(o.bytes_), min_time_(o.min_time_),
      max_time_(o.max_time_) {
  if (buf_ != nullptr) buf_->Ref();
}

OpenSamples& OpenSamples::operator=(const OpenSamples& o) {
  if (this != &o) {
    OpenSamples copy(o);
    *this = std::move(copy);
  }
  return *this;
}

OpenSamples::OpenSamples(OpenSamples&& o) noexcept
    : buf_(std::exchange(o.buf_, nullptr)), count_(std::exchange(o.count_, 0)),
      bytes_(std::exchange(o.bytes_, 0)), min_time_(o.min_time_), max_time_(o.max_time_) {}

OpenSamples& OpenSamples::operator=(OpenSamples&& o) noexcept {
  if (this != &o) {
    if (buf_ != nullptr) buf_->Unref();
    buf_ = std::exchange(o.buf_, nullptr);
    count_ = std::exchange(o.count_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
    min_time_ = o.min_time_;
    max_time_ = o.max_time_;
  }
  return *this;
}

OpenSamples::~OpenSamples() {
  if (buf_ != nullptr) buf_->Unref();
}

std::string_view OpenSamples::record(size_t i) const {
  const size_t start = buf_->starts()[i];
  const size_t end = i + 1 < count_ ? buf_->starts()[i + 1] : bytes_;
  return {buf_->bytes() + start, end - start};
}

Sample OpenSamples::operator[](size_t i) const {
  auto s = DecodeSample(record(i));
  return s.ok() ? std::move(*s) : Sample{};  // cannot fail: every record was checked
}

std::vector<Sample> OpenSamples::Decode() const {
  std::vector<Sample> out;
  out.reserve(count_);
  for (size_t i = 0; i < count_; ++i) out.push_back((*this)[i]);
  return out;
}

void OpenSamples::Reserve(size_t more_records, size_t more_bytes) {
  Buffer* next = Buffer::New(std::max(count_ + more_records, 2 * count_),
                             std::max(bytes_ + more_bytes, 2 * bytes_));
  if (count_ > 0) {
    std::memcpy(next->starts(), buf_->starts(), count_ * sizeof(uint32_t));
    std::memcpy(next->bytes(), buf_->bytes(), bytes_);
    std::memcpy(next->times(), buf_->times(), count_ * sizeof(Micros));
    std::memcpy(next->numbers(), buf_->numbers(), count_ * sizeof(double));
    std::memcpy(next->numeric(), buf_->numeric(), count_);
    std::copy_n(buf_->blocks(), count_ / kBlockSamples, next->blocks());
  }
  next->count = static_cast<uint32_t>(count_);
  if (buf_ != nullptr) buf_->Unref();
  buf_ = next;
}

void OpenSamples::AppendUnchecked(Micros time, std::optional<double> number, std::string_view rec) {
  if (!buf_ || buf_->count != count_ || count_ == buf_->capacity ||
      bytes_ + rec.size() > buf_->byte_capacity) {
    Reserve(1, rec.size());
  }
  std::memcpy(buf_->bytes() + bytes_, rec.data(), rec.size());
  buf_->starts()[count_] = static_cast<uint32_t>(bytes_);
  buf_->times()[count_] = time;
  buf_->numbers()[count_] = number ? *number : std::numeric_limits<double>::quiet_NaN();
  buf_->numeric()[count_] = number ? 1 : 0;
  min_time_ = count_ == 0 ? time : std::min(min_time_, time);
  max_time_ = count_ == 0 ? time : std::max(max_time_, time);
  ++count_;
  bytes_ += rec.size();
  buf_->count = static_cast<uint32_t>(count_);
  if (count_ % kBlockSamples == 0) {  // a block is complete
    const size_t first = count_ - kBlockSamples;
    const uint8_t* numeric = buf_->numeric() + first;
    const bool all_numbers =
        std::all_of(numeric, numeric + kBlockSamples, [](uint8_t n) { return n != 0; });
    buf_->blocks()[first / kBlockSamples] =
        BlockStats::Of(buf_->times() + first, all_numbers ? buf_->numbers() + first : nullptr,
                       kBlockSamples);
  }
}

Status OpenSamples::AppendRecord(std::string_view rec) {
  auto s = DecodeSample(rec);
  if (!s.ok()) return Status::BadRequest("not a sample record");
  AppendUnchecked(s->time, s->number, rec);
  return Status::Ok();
}

void OpenSamples::Append(const Sample& s) { AppendUnchecked(s.time, s.number, EncodeSample(s)); }

void OpenSamples::Append(const Sample& s, std::string_view record) {
  AppendUnchecked(s.time, s.number, record);
}

void OpenSamples::Assign(const std::vector<Sample>& samples) {
  *this = OpenSamples();
  std::vector<std::string> records;
  records.reserve(samples.size());
  size_t total = 0;
  for (const auto& s : samples) total += records.emplace_back(EncodeSample(s)).size();
  if (records.empty()) return;
  Reserve(records.size(), total);
  for (size_t i = 0; i < records.size(); ++i)
    AppendUnchecked(samples[i].time, samples[i].number, records[i]);
}

void OpenSamples::Replace(size_t i, const Sample& s) {
  std::vector<Sample> all = Decode();
  all[i] = s;
  Assign(all);
}

void OpenSamples::Erase(size_t i) {
  std::vector<Sample> all = Decode();
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(i));
  Assign(all);
}

}  // namespace civitas::temporal
