#include "temporal/aggregate.h"

#include <cmath>
#include <limits>

namespace civitas::temporal {
namespace {

constexpr Micros kSecond = 1000000;

struct MethodName {
  AggrMethod method;
  std::string_view name;
};
constexpr MethodName kMethods[] = {
    {AggrMethod::kTotalCount, "totalCount"},
    {AggrMethod::kDistinctCount, "distinctCount"},
    {AggrMethod::kSum, "sum"},
    {AggrMethod::kAvg, "avg"},
    {AggrMethod::kMin, "min"},
    {AggrMethod::kMax, "max"},
    {AggrMethod::kStddev, "stddev"},
    {AggrMethod::kSumsq, "sumsq"},
};

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::string_view AggrMethodName(AggrMethod m) {
  for (const auto& k : kMethods) {
    if (k.method == m) return k.name;
  }
  return "";
}

bool ParseAggrMethod(std::string_view name, AggrMethod* out) {
  for (const auto& k : kMethods) {
    if (k.name == name) {
      *out = k.method;
      return true;
    }
  }
  return false;
}

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return Status::BadRequest("invalid ISO 8601 duration '" + std::string(text) +
                              "' (expected P[n]Y[n]M[n]DT[n]H[n]M[n]S or P[n]W)");
  };
  if (text.size() < 2 || text[0] != 'P') return bad();
  Duration d;
  bool in_time = false, any = false;
  // Designators must come in this order; `next` is the index of the first allowed one.
  static constexpr std::string_view kDate = "YMWD", kTime = "HMS";
  size_t next = 0;
  size_t i = 1;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return bad();
      in_time = true;
      next = 0;
      ++i;
      if (i == text.size()) return bad();  // "PT" alone
      continue;
    }
    size_t start = i;
    int64_t whole = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      whole = whole * 10 + (text[i] - '0');
      // Bounded so that no combination of elements overflows 64-bit microseconds.
      if (whole > 1000000) return bad();
      ++i;
    }
    if (i == start) return bad();
    // A fraction is allowed on seconds only (the lowest-order element).
    double fraction = 0;
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
      ++i;
      double scale = 0.1;
      size_t fstart = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        fraction += (text[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == fstart || i >= text.size() || text[i] != 'S' || !in_time) return bad();
    }
    if (i >= text.size()) return bad();
    std::string_view order = in_time ? kTime : kDate;
    size_t pos = order.find(text[i], next);
    if (pos == std::string_view::npos) return bad();
    next = pos + 1;
    any = true;
    char unit = text[i++];
    if (!in_time) {
      switch (unit) {
        case 'Y':
          d.months += whole * 12;
          break;
        case 'M':
          d.months += whole;
          break;
        case 'W':
          d.micros += whole * 7 * 86400 * kSecond;
          break;
        case 'D':
          d.micros += whole * 86400 * kSecond;
          break;
      }
    } else {
      switch (unit) {
        case 'H':
          d.micros += whole * 3600 * kSecond;
          break;
        case 'M':
          d.micros += whole * 60 * kSecond;
          break;
        case 'S':
          d.micros += whole * kSecond + static_cast<Micros>(std::llround(fraction * kSecond));
          break;
      }
    }
  }
  if (!any) return bad();
  return d;
}

Micros AddDuration(Micros t, const Duration& d) {
  if (d.months != 0) {
    constexpr Micros kDay = 86400 * kSecond;
    int64_t days = t >= 0 ? t / kDay : -((-t + kDay - 1) / kDay);
    Micros in_day = t - days * kDay;
    int64_t y;
    unsigned m, day;
    CivilFromDays(days, &y, &m, &day);
    int64_t total = y * 12 + (m - 1) + d.months;
    int64_t ny = total >= 0 ? total / 12 : -((-total + 11) / 12);
    unsigned nm = static_cast<unsigned>(total - ny * 12) + 1;
    unsigned nd = std::min(day, DaysInMonth(ny, nm));
    t = DaysFromCivil(ny, nm, nd) * kDay + in_day;
  }
  return t + d.micros;
}

Result<std::vector<Period>> MakePeriods(Micros from, Micros to, const Duration& d,
                                        size_t max_periods) {
  std::vector<Period> periods;
  if (d.zero() || d.months < 0 || d.micros < 0) {
    periods.push_back({from, to});
    return periods;
  }
  Micros start = from;
  // Months are added to the first start each time (not step by step), so 31 Jan + P1M + P1M is
  // 31 March, not 28 March.
  for (int64_t k = 1; start < to; ++k) {
    if (periods.size() >= max_periods) {
      return Status(ErrorCode::kTooComplexQuery,
                    "the aggregation would have more than " + std::to_string(max_periods) +
                        " periods; use a longer aggrPeriodDuration or a shorter interval");
    }
    Duration dk{d.months * k, d.micros * k};
    Micros end = AddDuration(from, dk);
    if (end <= start) break;  // cannot happen for a positive duration; guards the loop
    periods.push_back({start, end});
    start = end;
  }
  if (periods.empty()) periods.push_back({from, AddDuration(from, d)});
  return periods;
}

namespace {

// The numeric part of o added to *into: one addition for the sums.
// o: a ChunkStats or a BlockStats::Values.
template <typename Stats>
void MergeNumbers(const Stats& o, ChunkStats* into) {
  if (o.numbers == 0) return;
  if (into->numbers == 0 || o.min < into->min) into->min = o.min;
  if (into->numbers == 0 || o.max > into->max) into->max = o.max;
  into->numbers += o.numbers;
  into->sum += o.sum;
  into->sumsq += o.sumsq;
}

}  // namespace

void Accumulator::AddNumber(double v) {
  ++count_;
  run_.AddValue(v);
  // Distinct values by their JSON text, so 1 and 1.0 count once.
  if (track_distinct_) distinct_.insert(ToJsonString(Json(v)));
}

void Accumulator::AddNumbers(const double* v, size_t n) {
  if (track_distinct_) {
    for (size_t i = 0; i < n; ++i) AddNumber(v[i]);
    return;
  }
  count_ += n;
  run_.AddValues(v, n);
}

void Accumulator::EndRun() {
  MergeNumbers(run_, &numeric_);
  run_ = ChunkStats();
}

void Accumulator::Add(const Sample& s) {
  if (IsDeletion(s)) return;  // the NGSI-LD Null is no value
  if (s.number) return AddNumber(*s.number);
  ++count_;
  if (track_distinct_) distinct_.insert(s.value);
  if (s.value == "true" || s.value == "false") {
    run_.AddValue(s.value == "true" ? 1.0 : 0.0);
  } else if (!s.value.empty() && s.value[0] == '"') {
    if (!min_text_ || s.value < *min_text_) min_text_ = s.value;
    if (!max_text_ || s.value > *max_text_) max_text_ = s.value;
  }
}

void Accumulator::AddBlock(const BlockStats& block) {
  EndRun();
  count_ += block.count;
  MergeNumbers(block.values, &numeric_);
}

Json Accumulator::Value(AggrMethod m) const {
  ChunkStats numeric = numeric_;
  MergeNumbers(run_, &numeric);
  const uint64_t n = numeric.numbers;
  auto text = [](const std::optional<std::string>& t) -> Json {
    auto parsed = ParseJson(*t);
    return parsed.ok() ? *parsed : Json();
  };
  switch (m) {
    case AggrMethod::kTotalCount:
      return Json(static_cast<int64_t>(count_));
    case AggrMethod::kDistinctCount:
      return Json(static_cast<int64_t>(distinct_.size()));
    case AggrMethod::kSum:
      return n == 0 ? Json() : Json(numeric.sum);
    case AggrMethod::kSumsq:
      return n == 0 ? Json() : Json(numeric.sumsq);
    case AggrMethod::kAvg:
      return n == 0 ? Json() : Json(numeric.sum / static_cast<double>(n));
    case AggrMethod::kMin:
      if (n > 0) return Json(numeric.min);
      return min_text_ ? text(min_text_) : Json();
    case AggrMethod::kMax:
      if (n > 0) return Json(numeric.max);
      return max_text_ ? text(max_text_) : Json();
    case AggrMethod::kStddev: {
      if (n == 0) return Json();
      // Population standard deviation; clamped at 0 against rounding.
      double mean = numeric.sum / static_cast<double>(n);
      double var = numeric.sumsq / static_cast<double>(n) - mean * mean;
      return Json(std::sqrt(var > 0 ? var : 0.0));
    }
  }
  return Json();
}

}  // namespace civitas::temporal
