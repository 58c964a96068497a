#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace civitas {

// Instants are microseconds since the Unix epoch, UTC.
using Micros = int64_t;

Micros NowMicros();

// Parses an ISO 8601 / RFC 3339 date-time that carries a zone ("Z" or "+hh:mm"), with an
// optional fraction of any length. Returns nullopt for anything else (including a missing zone
// and instants outside the years 0000-9999 once the offset is applied).
std::optional<Micros> ParseDateTime(std::string_view s);
// Parses "YYYY-MM-DD" (a Date) and "hh:mm:ss[.f][Z]" (a Time) for the typed literals of NGSI-LD.
bool IsDate(std::string_view s);
bool IsTime(std::string_view s);

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, and back (for calendar
// arithmetic such as aggregation periods of P1M).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);

// Formats as "YYYY-MM-DDThh:mm:ss.mmmZ" (milliseconds, as the NGSI-LD examples use). Instants
// outside the years 0000-9999 are clamped to that range.
std::string FormatDateTime(Micros t);

}  // namespace civitas
