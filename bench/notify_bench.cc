// Notification benchmark (issue 6): drives a running Civitas over HTTP and receives its
// notifications on a local HTTP receiver in this process.
//
//   civitas_notify_bench --url http://127.0.0.1:PORT [--mode latency|fanout|writes]
//       [--entities 1000] [--subs 1] [--rate 10000] [--batch 50] [--threads 4] [--duration 10]
//
// latency: updates at --rate (batch upserts of --batch entities, each with a unique value),
//          one subscription; latency = arrival of the value at the receiver - acknowledgement of
//          the write that carried it (0 when the notification arrived first).
// fanout:  --subs subscriptions on the same entities; updates at --rate; counts what the
//          receiver gets per second until everything expected has arrived.
// writes:  updates as fast as --threads connections go (no pacing), with --subs subscriptions
//          (0 for none), for the write throughput with and without subscriptions.
// Prints one JSON object on stdout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "http/http.h"

using namespace civitas;
using Clock = std::chrono::steady_clock;

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Args {
  std::string url, mode = "latency";
  int entities = 1000, subs = 1, rate = 10000, batch = 50, threads = 4;
  double duration = 10;
};

// Arrival times by value (values are unique per update) and counters.
class Receiver {
 public:
  explicit Receiver(bool keep_times) : keep_times_(keep_times) {
    http::ServerOptions o;
    o.bind = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    server_ = std::make_unique<http::Server>(o, [this](http::Request&& req, http::Responder r) {
      int64_t now = NowNs();
      posts_.fetch_add(1, std::memory_order_relaxed);
      auto n = ParseJson(req.body);
      if (n.ok() && n->Find("data") != nullptr) {
        const auto& data = n->Find("data")->as_array();
        items_.fetch_add(data.size(), std::memory_order_relaxed);
        last_ns_.store(now, std::memory_order_relaxed);
        if (keep_times_) {
          std::lock_guard lock(mu_);
          for (const auto& e : data) {
            const Json* v = e.Find("v");
            if (v != nullptr && v->is_int()) arrivals_.emplace(v->as_int(), now);
          }
        }
      }
      r(http::Response{});
    });
    std::string error;
    if (!server_->Start(&error)) {
      std::fprintf(stderr, "receiver: %s\n", error.c_str());
      std::exit(1);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/n"; }
  uint64_t items() const { return items_.load(); }
  uint64_t posts() const { return posts_.load(); }
  int64_t last_ns() const { return last_ns_.load(); }
  std::unordered_map<int64_t, int64_t> arrivals() {
    std::lock_guard lock(mu_);
    return arrivals_;
  }

 private:
  bool keep_times_;
  std::atomic<uint64_t> items_{0}, posts_{0};
  std::atomic<int64_t> last_ns_{0};
  std::mutex mu_;
  std::unordered_map<int64_t, int64_t> arrivals_;
  std::unique_ptr<http::Server> server_;
};

int Send(http::Client& c, const Args& a, const char* method, const std::string& path,
         const std::string& body) {
  http::ClientResponse r;
  std::string error;
  int st = c.Send(method, a.url + path, {{"Content-Type", "application/json"}}, body, 30000,
                  1 << 20, &r, &error);
  if (st < 0) std::fprintf(stderr, "%s %s: %s\n", method, path.c_str(), error.c_str());
  return st;
}

std::string Batch(int first, int count, int entities, int64_t* value) {
  std::string body = "[";
  for (int i = 0; i < count; ++i) {
    if (i) body += ",";
    int e = (first + i) % entities;
    body += R"({"id":"urn:ngsi-ld:Bench:)" + std::to_string(e) +
            R"(","type":"Bench","v":{"type":"Property","value":)" + std::to_string((*value)++) +
            "}}";
  }
  return body + "]";
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url")
      a.url = v;
    else if (k == "--mode")
      a.mode = v;
    else if (k == "--entities")
      a.entities = std::atoi(v.c_str());
    else if (k == "--subs")
      a.subs = std::atoi(v.c_str());
    else if (k == "--rate")
      a.rate = std::atoi(v.c_str());
    else if (k == "--batch")
      a.batch = std::atoi(v.c_str());
    else if (k == "--threads")
      a.threads = std::atoi(v.c_str());
    else if (k == "--duration")
      a.duration = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.url.empty()) {
    std::fprintf(stderr, "usage: civitas_notify_bench --url http://127.0.0.1:PORT [...]\n");
    return 2;
  }
  a.url += "/ngsi-ld/v1";
  Receiver receiver(a.mode == "latency");
  http::Client setup;
  // Entities first (so that the updates are updates), then the subscriptions.
  int64_t value = 0;
  for (int first = 0; first < a.entities; first += 500) {
    int st = Send(setup, a, "POST", "/entityOperations/upsert",
                  Batch(first, std::min(500, a.entities - first), a.entities, &value));
    if (st != 201 && st != 204) {
      std::fprintf(stderr, "loading entities: status %d\n", st);
      return 1;
    }
  }
  for (int s = 0; s < a.subs; ++s) {
    std::string body = R"({"type":"Subscription","entities":[{"type":"Bench"}],)"
                       R"("notification":{"format":"keyValues","attributes":["v"],)"
                       R"("endpoint":{"uri":")" +
                       receiver.url() + "\"}}}";
    if (Send(setup, a, "POST", "/subscriptions", body) != 201) {
      std::fprintf(stderr, "creating subscription %d failed\n", s);
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t items_before = receiver.items();

  // Writers: each thread sends batches; paced unless mode == writes.
  std::atomic<int64_t> next_value{1'000'000'000};
  std::atomic<uint64_t> updates{0}, failed{0};
  std::mutex acks_mu;
  std::vector<std::pair<int64_t, int64_t>> acks;  // (first value, ack ns) per batch
  const bool paced = a.mode != "writes";
  const double batches_per_thread_per_s =
      static_cast<double>(a.rate) / a.batch / std::max(1, a.threads);
  const int64_t start_ns = NowNs();
  const int64_t end_ns = start_ns + static_cast<int64_t>(a.duration * 1e9);
  std::vector<std::thread> writers;
  for (int t = 0; t < a.threads; ++t) {
    writers.emplace_back([&, t] {
      http::Client c;
      int64_t k = 0;
      int cursor = t * 97;
      while (true) {
        int64_t due = start_ns +
                      static_cast<int64_t>(static_cast<double>(k) * 1e9 / batches_per_thread_per_s);
        if (paced) {
          int64_t now = NowNs();
          if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
        }
        if (NowNs() >= end_ns) break;
        int64_t first = next_value.fetch_add(a.batch);
        int64_t v = first;
        std::string body = Batch(cursor, a.batch, a.entities, &v);
        cursor = (cursor + a.batch) % a.entities;
        int st = Send(c, a, "POST", "/entityOperations/upsert", body);
        int64_t acked = NowNs();
        if (st == 204 || st == 201) {
          updates.fetch_add(static_cast<uint64_t>(a.batch));
          if (a.mode == "latency") {
            std::lock_guard lock(acks_mu);
            acks.emplace_back(first, acked);
          }
        } else {
          failed.fetch_add(1);
        }
        ++k;
      }
    });
  }
  for (auto& w : writers) w.join();
  const int64_t writes_done_ns = NowNs();
  const double write_secs = static_cast<double>(writes_done_ns - start_ns) / 1e9;

  // Wait for the notifications to drain (everything expected, or 60 s of silence-bounded wait).
  // (Not for writes: with many subscriptions the backlog takes long; only the write rate counts.)
  const uint64_t expected = a.mode == "writes" ? 0 : updates.load() * static_cast<uint64_t>(a.subs);
  auto drain_deadline = Clock::now() + std::chrono::seconds(60);
  while (a.subs > 0 && receiver.items() - items_before < expected &&
         Clock::now() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint64_t got = receiver.items() - items_before;

  Json out = Json::MakeObject();
  out.Set("mode", Json(a.mode));
  out.Set("subscriptions", Json(a.subs));
  out.Set("updates", Json(static_cast<int64_t>(updates.load())));
  out.Set("failed_requests", Json(static_cast<int64_t>(failed.load())));
  out.Set("updates_per_s", Json(static_cast<double>(updates.load()) / write_secs));
  out.Set("expected_notified_entities", Json(static_cast<int64_t>(expected)));
  out.Set("notified_entities", Json(static_cast<int64_t>(got)));
  out.Set("notification_posts", Json(static_cast<int64_t>(receiver.posts())));
  if (a.mode == "fanout" && got > 0) {
    double secs = static_cast<double>(receiver.last_ns() - start_ns) / 1e9;
    out.Set("notified_entities_per_s", Json(static_cast<double>(got) / secs));
    out.Set("notification_posts_per_s", Json(static_cast<double>(receiver.posts()) / secs));
  }
  if (a.mode == "latency") {
    auto arrivals = receiver.arrivals();
    std::vector<double> ms;
    int early = 0;
    for (const auto& [first, acked] : acks) {
      for (int64_t v = first; v < first + a.batch; ++v) {
        auto it = arrivals.find(v);
        if (it == arrivals.end()) continue;
        double d = static_cast<double>(it->second - acked) / 1e6;
        if (d < 0) {
          ++early;
          d = 0;
        }
        ms.push_back(d);
      }
    }
    out.Set("latency_samples", Json(static_cast<int64_t>(ms.size())));
    out.Set("arrived_before_ack", Json(early));
    out.Set("latency_p50_ms", Json(Percentile(ms, 0.50)));
    out.Set("latency_p90_ms", Json(Percentile(ms, 0.90)));
    out.Set("latency_p99_ms", Json(Percentile(ms, 0.99)));
    out.Set("latency_max_ms", Json(ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end())));
  }
  std::printf("%s\n", ToJsonString(out).c_str());
  return got < expected ? 1 : 0;
}
