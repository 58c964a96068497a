#include "api/metrics.h"

#include <cstdio>

namespace civitas::api {

int Metrics::AddRoute(std::string_view label) {
  for (int i = 0; i < n_routes_; ++i) {
    if (routes_[i].label == label) return i;
  }
  if (n_routes_ == kMaxRoutes) return kMaxRoutes - 1;
  routes_[n_routes_].label = std::string(label);
  return n_routes_++;
}

void Metrics::Record(int route, int status, Micros latency) {
  if (route < 0 || route >= n_routes_) return;
  Route& r = routes_[route];
  size_t si = kStatuses.size();
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) {
      si = i;
      break;
    }
  }
  r.by_status[si].fetch_add(1, std::memory_order_relaxed);
  double seconds = static_cast<double>(latency) / 1e6;
  size_t bi = kBuckets.size();
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      bi = i;
      break;
    }
  }
  r.buckets[bi].fetch_add(1, std::memory_order_relaxed);
  r.sum_micros.fetch_add(static_cast<uint64_t>(latency < 0 ? 0 : latency),
                         std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::Render(std::string& out) const {
  char buf[256];
  out += "# HELP civitas_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE civitas_http_requests_total counter\n";
  for (int i = 0; i < n_routes_; ++i) {
    const Route& r = routes_[i];
    for (size_t s = 0; s <= kStatuses.size(); ++s) {
      uint64_t v = r.by_status[s].load(std::memory_order_relaxed);
      if (v == 0) continue;
      std::string code = s < kStatuses.size() ? std::to_string(kStatuses[s]) : "other";
      std::snprintf(buf, sizeof buf,
                    "civitas_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                    r.label.c_str(), code.c_str(), static_cast<unsigned long long>(v));
      out += buf;
    }
  }
  out += "# HELP civitas_http_request_duration_seconds Request latency by route.\n";
  out += "# TYPE civitas_http_request_duration_seconds histogram\n";
  for (int i = 0; i < n_routes_; ++i) {
    const Route& r = routes_[i];
    uint64_t count = r.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += r.buckets[b].load(std::memory_order_relaxed);
      std::string le = b < kBuckets.size() ? std::to_string(kBuckets[b]) : "+Inf";
      std::snprintf(buf, sizeof buf,
                    "civitas_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                    r.label.c_str(), le.c_str(), static_cast<unsigned long long>(cumulative));
      out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "civitas_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "civitas_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  r.label.c_str(), static_cast<double>(r.sum_micros.load()) / 1e6, r.label.c_str(),
                  static_cast<unsigned long long>(count));
    out += buf;
  }
}

}  // namespace civitas::api
