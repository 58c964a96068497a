#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/time.h"
#include "temporal/chunk.h"

namespace civitas::temporal {

// The aggregation methods of NGSI-LD (clause 4.5.19.1).
enum class AggrMethod { kTotalCount, kDistinctCount, kSum, kAvg, kMin, kMax, kStddev, kSumsq };

std::string_view AggrMethodName(AggrMethod m);
bool ParseAggrMethod(std::string_view name, AggrMethod* out);

// An ISO 8601 duration (P[n]Y[n]M[n]DT[n]H[n]M[n]S or P[n]W). Years and months are calendar
// units, kept apart from the fixed part: P1M after 31 January is the last day of February.
struct Duration {
  int64_t months = 0;
  Micros micros = 0;  // days, hours, minutes, seconds (a day is 24 h: instants are UTC)
  bool zero() const { return months == 0 && micros == 0; }
};

// InvalidRequest (BadRequestData) for anything that is not a duration as above.
Result<Duration> ParseDuration(std::string_view text);

// t + d: months first (the day of month is clamped to the target month's length), then the
// fixed part.
Micros AddDuration(Micros t, const Duration& d);

// A half-open period [start, end).
struct Period {
  Micros start = 0;
  Micros end = 0;
};

// The periods of length d from `from` until `to` (the last one ends at or after `to`); one
// period [from, to) when d is zero. Periods are aligned on `from` (the query's timeAt), as the
// spec's example in C.5.14 does. At most max_periods (a TooComplexQuery beyond).
Result<std::vector<Period>> MakePeriods(Micros from, Micros to, const Duration& d,
                                        size_t max_periods = 100000);

// Accumulates the samples of one period for every method at once. Numbers (and booleans, as 1
// and 0) feed the numeric methods; strings feed min/max in lexicographic order; every value
// feeds totalCount and distinctCount. A recorded deletion feeds nothing.
//
// Values are added into the current run (see kBlockSamples), whose sum starts from zero; EndRun
// adds the run to the period's totals. A caller that never ends a run gets the plain sum in
// the order of the values.
class Accumulator {
 public:
  // distinct: keep the distinct values (for distinctCount, which is 0 without them); costly,
  // so only when the method is asked for.
  explicit Accumulator(bool distinct = true) : track_distinct_(distinct) {}

  void Add(const Sample& s);
  // The same as Add for a sample whose value is this number.
  void AddNumber(double v);
  // AddNumber for v[0], ..., v[n-1], in that order.
  void AddNumbers(const double* v, size_t n);
  // Adds the current run to the totals and starts a new one.
  void EndRun();
  // A whole block as one run (after ending the current one): only valid when every sample of
  // the block is a number and distinctCount is not asked for (CanUseBlock).
  void AddBlock(const BlockStats& block);
  static bool CanUseBlock(const BlockStats& block, bool needs_distinct) {
    return !needs_distinct && block.numeric;
  }

  // The method's value over what was added (the current run included): a number, a string
  // (min/max of text) or null when it does not apply (avg of nothing, sum of strings).
  Json Value(AggrMethod m) const;

  uint64_t count() const { return count_; }

 private:
  bool track_distinct_ = true;
  uint64_t count_ = 0;
  ChunkStats numeric_;  // the ended runs; only the numeric fields are used
  ChunkStats run_;      // the current run, from zero
  std::set<std::string> distinct_;
  std::optional<std::string> min_text_, max_text_;
};

}  // namespace civitas::temporal
