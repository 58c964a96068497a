#include "temporal/open_samples.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace civitas::temporal {

std::string_view OpenSamples::record(size_t i) const {
  const size_t start = buf_->starts[i];
  const size_t end = i + 1 < count_ ? buf_->starts[i + 1] : bytes_;
  return {buf_->bytes.get() + start, end - start};
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
  auto next = std::make_shared<Buffer>();
  next->capacity = std::max(count_ + more_records, 2 * count_);
  next->byte_capacity = std::max(bytes_ + more_bytes, 2 * bytes_);
  next->starts = std::make_unique<uint32_t[]>(next->capacity);
  next->bytes = std::make_unique<char[]>(next->byte_capacity);
  next->times = std::make_unique<Micros[]>(next->capacity);
  next->numbers = std::make_unique<double[]>(next->capacity);
  next->numeric = std::make_unique<uint8_t[]>(next->capacity);
  next->blocks = std::make_unique<BlockStats[]>(next->capacity / kBlockSamples);
  if (count_ > 0) {
    std::memcpy(next->starts.get(), buf_->starts.get(), count_ * sizeof(uint32_t));
    std::memcpy(next->bytes.get(), buf_->bytes.get(), bytes_);
    std::memcpy(next->times.get(), buf_->times.get(), count_ * sizeof(Micros));
    std::memcpy(next->numbers.get(), buf_->numbers.get(), count_ * sizeof(double));
    std::memcpy(next->numeric.get(), buf_->numeric.get(), count_);
    std::copy_n(buf_->blocks.get(), count_ / kBlockSamples, next->blocks.get());
  }
  next->count = count_;
  buf_ = std::move(next);
}

void OpenSamples::AppendUnchecked(Micros time, std::optional<double> number, std::string_view rec) {
  if (!buf_ || buf_->count != count_ || count_ == buf_->capacity ||
      bytes_ + rec.size() > buf_->byte_capacity) {
    Reserve(1, rec.size());
  }
  std::memcpy(buf_->bytes.get() + bytes_, rec.data(), rec.size());
  buf_->starts[count_] = static_cast<uint32_t>(bytes_);
  buf_->times[count_] = time;
  buf_->numbers[count_] = number ? *number : std::numeric_limits<double>::quiet_NaN();
  buf_->numeric[count_] = number ? 1 : 0;
  min_time_ = count_ == 0 ? time : std::min(min_time_, time);
  max_time_ = count_ == 0 ? time : std::max(max_time_, time);
  ++count_;
  bytes_ += rec.size();
  buf_->count = count_;
  if (count_ % kBlockSamples == 0) {  // a block is complete
    const size_t first = count_ - kBlockSamples;
    const bool all_numbers =
        std::all_of(&buf_->numeric[first], &buf_->numeric[first] + kBlockSamples,
                    [](uint8_t n) { return n != 0; });
    buf_->blocks[first / kBlockSamples] = BlockStats::Of(
        &buf_->times[first], all_numbers ? &buf_->numbers[first] : nullptr, kBlockSamples);
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
  buf_.reset();
  count_ = bytes_ = 0;
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
