#include "common/time.h"

#include <algorithm>
#include <chrono>

namespace civitas {

Micros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Howard Hinnant's algorithms.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

namespace {

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the instants ISO 8601 dates can write
// with four-digit years.
constexpr Micros kMinMicros = -62167219200LL * 1000000LL;
constexpr Micros kMaxMicros = 253402300799LL * 1000000LL + 999999;

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool ValidDate(int y, int m, int d) {
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  if (d > kDays[m - 1]) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

// Parses hh:mm:ss[.fraction] at pos; returns microseconds of day, advances pos.
bool ParseClock(std::string_view s, size_t* pos, int64_t* micros) {
  int hh, mm, ss;
  size_t p = *pos;
  if (!Digits(s, p, 2, &hh) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, &mm) ||
      p + 5 >= s.size() || s[p + 5] != ':' || !Digits(s, p + 6, 2, &ss)) {
    return false;
  }
  if (hh > 23 || mm > 59 || ss > 60) return false;
  p += 8;
  int64_t frac = 0;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    size_t start = p;
    int64_t scale = 100000;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (scale > 0) {
        frac += (s[p] - '0') * scale;
        scale /= 10;
      }
      ++p;
    }
    if (p == start) return false;
  }
  *micros = ((hh * 60 + mm) * 60 + ss) * 1000000LL + frac;
  *pos = p;
  return true;
}

}  // namespace

std::optional<Micros> ParseDateTime(std::string_view s) {
  int y, m, d;
  if (!Digits(s, 0, 4, &y) || s.size() < 11 || s[4] != '-' || !Digits(s, 5, 2, &m) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't')) {
    return std::nullopt;
  }
  if (!ValidDate(y, m, d)) return std::nullopt;
  size_t pos = 11;
  int64_t clock;
  if (!ParseClock(s, &pos, &clock)) return std::nullopt;
  if (pos >= s.size()) return std::nullopt;  // a zone is required
  int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh)) return std::nullopt;
    size_t mpos = pos + 3;
    if (mpos < s.size() && s[mpos] == ':') ++mpos;
    if (!Digits(s, mpos, 2, &om) || oh > 23 || om > 59) return std::nullopt;
    offset = (oh * 60 + om) * 60 * 1000000LL * (s[pos] == '-' ? -1 : 1);
    pos = mpos + 2;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  Micros t = DaysFromCivil(y, m, d) * 86400LL * 1000000LL + clock - offset;
  if (t < kMinMicros || t > kMaxMicros) return std::nullopt;  // outside years 0000-9999
  return t;
}

bool IsDate(std::string_view s) {
  int y, m, d;
  return s.size() == 10 && Digits(s, 0, 4, &y) && s[4] == '-' && Digits(s, 5, 2, &m) &&
         s[7] == '-' && Digits(s, 8, 2, &d) && ValidDate(y, m, d);
}

bool IsTime(std::string_view s) {
  size_t pos = 0;
  int64_t clock;
  if (!ParseClock(s, &pos, &clock)) return false;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) ++pos;
  return pos == s.size();
}

std::string FormatDateTime(Micros t) {
  t = std::clamp(t, kMinMicros, kMaxMicros);
  int64_t days = t >= 0 ? t / 86400000000LL : -((-t + 86400000000LL - 1) / 86400000000LL);
  int64_t rem = t - days * 86400000000LL;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  int64_t secs = rem / 1000000;
  int ms = static_cast<int>((rem % 1000000) / 1000);
  // Written digit by digit (no snprintf): this runs for every attribute of every write.
  char buf[24];
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
  buf[10] = 'T';
  put(11, secs / 3600, 2);
  buf[13] = ':';
  put(14, (secs / 60) % 60, 2);
  buf[16] = ':';
  put(17, secs % 60, 2);
  buf[19] = '.';
  put(20, ms, 3);
  buf[23] = 'Z';
  return std::string(buf, sizeof buf);
}

}  // namespace civitas
