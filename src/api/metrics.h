#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace civitas::api {

// Request counters by route and status, and latency histograms by route, lock-free. Rendered
// in the Prometheus text format at /metrics.
class Metrics {
 public:
  static constexpr int kMaxRoutes = 48;

  // Registers a route label and returns its index (at start-up only; not thread-safe).
  int AddRoute(std::string_view label);

  void Record(int route, int status, Micros latency);

  // Appends the request metrics to out in Prometheus text format.
  void Render(std::string& out) const;

 private:
  static constexpr std::array<int, 18> kStatuses = {200, 201, 204, 207, 301, 400, 404, 405, 406,
                                                    408, 409, 411, 413, 415, 422, 500, 501, 503};
  static constexpr std::array<double, 13> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0};
  struct Route {
    std::string label;
    std::array<std::atomic<uint64_t>, kStatuses.size() + 1> by_status{};  // last: other
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};     // last: +Inf
    std::atomic<uint64_t> sum_micros{0};
    std::atomic<uint64_t> count{0};
  };
  std::array<Route, kMaxRoutes> routes_;
  int n_routes_ = 0;
};

}  // namespace civitas::api
