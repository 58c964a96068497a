// fuzz_time: ISO 8601 date-times (civitas::ParseDateTime / FormatDateTime).
//
// Properties:
//  - a string ParseDateTime accepts formats to a string it accepts again, denoting the same
//    instant truncated to the millisecond (FormatDateTime writes milliseconds; instants before
//    1970 are truncated towards the past, like the calendar fields they print);
//  - a formatted string is always "YYYY-MM-DDThh:mm:ss.mmmZ";
//  - the first 8 bytes, as an instant in microseconds, format without undefined behaviour, and
//    the instants of years 0000 to 9999 round-trip the same way;
//  - IsDate and IsTime agree with ParseDateTime on the date-time they make together.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "check.h"
#include "common/time.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the instants a four-digit year can write.
constexpr Micros kMinFormattable = -62'167'219'200'000'000;
constexpr Micros kEndFormattable = 253'402'300'800'000'000;

Micros FloorToMillis(Micros t) {
  Micros r = t % 1000;
  if (r < 0) r += 1000;
  return t - r;
}

bool HasFormattedShape(const std::string& s) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = kShape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

void CheckRoundTrip(Micros t, const std::string& origin) {
  std::string formatted = FormatDateTime(t);
  std::string where = origin + " -> " + std::to_string(t) + " -> " + formatted;
  FUZZ_CHECK(HasFormattedShape(formatted), "badly formatted: " + where);
  std::optional<Micros> back = ParseDateTime(formatted);
  FUZZ_CHECK(back.has_value(), "formatted date-time does not parse: " + where);
  FUZZ_CHECK(*back == FloorToMillis(t), "round trip gives " + std::to_string(*back) +
                                            ", expected " + std::to_string(FloorToMillis(t)) +
                                            ": " + where);
}

}  // namespace

void FuzzTime(std::string_view data) {
  if (std::optional<Micros> t = ParseDateTime(data); t.has_value()) {
    CheckRoundTrip(*t, "'" + std::string(data) + "'");
  }

  if (IsDate(data)) {
    std::string midnight = std::string(data) + "T00:00:00Z";
    FUZZ_CHECK(ParseDateTime(midnight).has_value(), "IsDate but not a date-time: " + midnight);
  }
  if (IsTime(data)) {
    std::string on_a_day = "2024-02-29T" + std::string(data);
    if (!data.ends_with('Z') && !data.ends_with('z')) on_a_day += 'Z';
    FUZZ_CHECK(ParseDateTime(on_a_day).has_value(), "IsTime but not a date-time: " + on_a_day);
  }

  if (data.size() >= sizeof(int64_t)) {
    int64_t raw;
    std::memcpy(&raw, data.data(), sizeof raw);
    std::string formatted = FormatDateTime(raw);  // any instant: UBSan watches the arithmetic
    if (raw >= kMinFormattable && raw < kEndFormattable) {
      CheckRoundTrip(raw, "instant " + std::to_string(raw));
    }
  }
}

}  // namespace civitas::fuzz
