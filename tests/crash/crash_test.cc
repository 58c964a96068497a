// Crash test: acknowledged writes survive SIGKILL.
//
// Runs the real `civitas serve` binary with fsync on, has several writer threads create, update
// and delete entities over HTTP, kills the server with SIGKILL at a random moment, restarts it
// on the same data directory and checks that
//   - every acknowledged write (a 2xx answer) is present: created entities exist, deleted ones
//     do not, and every counter has its last acknowledged value;
//   - a request that got no answer ("in doubt") either took effect completely or not at all;
//   - nothing else appeared (the store's entity count matches the model), every entity reads
//     back as valid JSON with consistent content, and the server logged no error;
//   - history and current state agree: the temporal store holds exactly the counter values of
//     the writes that took effect (count and sum), the last of them last.
// Each writer drives only its own entities, one request at a time, so the model is exact: after
// each restart the in-doubt write is resolved from what the server shows, and the next cycle's
// checks build on that.
//
// Reproduce a run with CIVITAS_CRASH_SEED=<seed printed by the test>; CIVITAS_CRASH_CYCLES sets
// the number of kill cycles (default 24) and CIVITAS_CRASH_KEEP=1 keeps the data directory.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "support/test_client.h"

#ifndef CIVITAS_BINARY
#error "CIVITAS_BINARY must name the civitas executable"
#endif

extern char** environ;

namespace civitas::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int kWriters = 4;
constexpr int kDefaultCycles = 24;
constexpr int kMinKillDelayMs = 30;
constexpr int kMaxKillDelayMs = 400;
constexpr int kStartTimeoutMs = 15000;  // restart after a crash includes RocksDB recovery
constexpr size_t kMaxLivePerWriter = 40;
constexpr size_t kMaxReportedErrors = 20;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The `blob` attribute that goes with counter value `value`: its content is a function of the
// value, so a read can tell whether the two attributes came from the same write. Mostly short;
// one in sixteen spans several RocksDB log blocks (32 KiB), so kills also land inside large
// records.
std::string Blob(int writer, int64_t value) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t x = SplitMix(static_cast<uint64_t>(value) * 131 + static_cast<uint64_t>(writer));
  size_t len = (x % 16 == 0) ? 20000 + (x >> 8) % 60000 : (x >> 8) % 1000;
  std::string s(len, ' ');
  for (auto& c : s) {
    x = SplitMix(x);
    c = kAlphabet[x % 36];
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The server as a child process.

class ServerProcess {
 public:
  ServerProcess(std::string binary, std::string data_dir, std::string log_path)
      : binary_(std::move(binary)),
        data_dir_(std::move(data_dir)),
        log_path_(std::move(log_path)) {}
  ~ServerProcess() { Kill(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the server on a free port and waits until GET /health answers 200. Retries on another
  // port if the child exits early (the free port was taken meanwhile).
  ::testing::AssertionResult Start() {
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!Spawn(&why)) return ::testing::AssertionFailure() << why;
      if (WaitHealthy(kStartTimeoutMs, &why)) return ::testing::AssertionSuccess();
      Kill();
      if (why.find("exited") == std::string::npos) break;  // hung, not a port clash
    }
    return ::testing::AssertionFailure() << why << "\n--- server log (tail) ---\n" << LogTail();
  }

  // Spawns without waiting for readiness (to kill it during recovery).
  bool Spawn(std::string* why) {
    port_ = FreePort();
    Note("=== start " + std::to_string(++starts_) + " port " + std::to_string(port_));
    std::string port = std::to_string(port_);
    std::vector<std::string> args = {binary_,       "serve", "--bind",  "127.0.0.1",
                                     "--port",      port,    "--data",  data_dir_,
                                     "--log-level", "warn",  "--fsync", "on"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The child's environment without CIVITAS_* settings, which could change what it does
    // (CIVITAS_DEMO would add entities, CIVITAS_THREADS=1 would change timing).
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "CIVITAS_", 8) != 0) envp.push_back(*e);
    }
    envp.push_back(nullptr);

    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (null_fd < 0 || log_fd < 0) {
      *why = "open " + log_path_ + ": " + std::strerror(errno);
      if (null_fd >= 0) ::close(null_fd);
      if (log_fd >= 0) ::close(log_fd);
      return false;
    }
    const long max_fd = std::min(::sysconf(_SC_OPEN_MAX), 65536L);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec. The child dies with this process even
      // when it is killed without a chance to run TearDown (a ctest timeout, SIGPIPE).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      for (long fd = 3; fd < max_fd; ++fd) ::close(static_cast<int>(fd));  // test sockets
      ::execve(argv[0], argv.data(), envp.data());
      static constexpr char kFailed[] = "crash_test: execve failed\n";
      (void)!::write(2, kFailed, sizeof kFailed - 1);
      ::_exit(127);
    }
    int fork_errno = errno;
    ::close(null_fd);
    ::close(log_fd);
    if (pid < 0) {
      *why = std::string("fork: ") + std::strerror(fork_errno);
      return false;
    }
    pid_ = pid;
    return true;
  }

  // SIGKILL and reap. A no-op when no child is running.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  // SIGTERM, then waits up to timeout_ms for the exit. Returns the wait status, or nullopt when
  // the child did not exit in time (it is then killed).
  std::optional<int> Terminate(int timeout_ms) {
    if (pid_ <= 0) return std::nullopt;
    ::kill(pid_, SIGTERM);
    auto start = Clock::now();
    while (ElapsedMs(start) < timeout_ms) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
    return std::nullopt;
  }

  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }
  int starts() const { return starts_; }

  // Writes a marker line into the log, between the server's own lines.
  void Note(const std::string& line) {
    std::ofstream out(log_path_, std::ios::app);
    out << line << "\n";
  }

  std::string Log() const {
    std::ifstream in(log_path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string LogTail(size_t max_bytes = 4000) const {
    std::string log = Log();
    return log.size() <= max_bytes ? log : "..." + log.substr(log.size() - max_bytes);
  }

 private:
  bool WaitHealthy(int timeout_ms, std::string* why) {
    auto start = Clock::now();
    while (ElapsedMs(start) < timeout_ms) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *why = "the server exited before it was ready (wait status " + std::to_string(status) + ")";
        return false;
      }
      TestClient client("127.0.0.1", port_);
      if (client.Send("GET", "/health", {}, "", 1000).status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    *why = "GET /health did not answer within " + std::to_string(timeout_ms) + " ms";
    return false;
  }

  std::string binary_;
  std::string data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The writers and their model of what the server must hold.

enum class OpKind { kCreate, kPatch, kDelete };

struct Op {
  OpKind kind;
  int64_t value = 0;  // the counter written by a create or patch
};

struct EntityState {
  bool exists = false;
  int64_t counter = 0;
  friend bool operator==(const EntityState&, const EntityState&) = default;
};

EntityState Apply(EntityState s, const Op& op) {
  switch (op.kind) {
    case OpKind::kCreate:
    case OpKind::kPatch:
      return {true, op.value};
    case OpKind::kDelete:
      return {false, 0};
  }
  return s;
}

std::string Describe(const EntityState& s) {
  return s.exists ? "counter " + std::to_string(s.counter) : "absent";
}

std::string Describe(const Op& op) {
  switch (op.kind) {
    case OpKind::kCreate:
      return "create with counter " + std::to_string(op.value);
    case OpKind::kPatch:
      return "patch to counter " + std::to_string(op.value);
    case OpKind::kDelete:
      return "delete";
  }
  return "?";
}

struct TrackedEntity {
  std::string id;
  EntityState state;           // as acknowledged, or as resolved after a restart
  std::optional<Op> in_doubt;  // the write that was in flight when the server died
  // The counter's history as the temporal store must hold it: every create or patch that took
  // effect, recorded in the same atomic step as the entity, and every delete as a deletion
  // instance (counted by no aggregation).
  int64_t history_count = 0;
  int64_t history_sum = 0;
  int64_t history_last = 0;
  bool history_ends_deleted = false;

  void Recorded(const Op& op) {
    history_ends_deleted = op.kind == OpKind::kDelete;
    if (op.kind == OpKind::kDelete) return;
    ++history_count;
    history_sum += op.value;
    history_last = op.value;
  }
};

struct WriterStats {
  int64_t acknowledged = 0;
  int64_t in_doubt = 0;
  int64_t in_doubt_applied = 0;  // in-doubt writes found to have taken effect
  int64_t creates = 0, patches = 0, deletes = 0;
};

// One writer: a sequence of create / patch / delete requests on its own entities, one at a time
// on one keep-alive connection. Not thread-safe; Run and Verify are called from one thread at a
// time, and the results are read after that thread is joined.
class Writer {
 public:
  Writer(int index, uint64_t seed, std::string tenant)
      : index_(index), rng_(seed), tenant_(std::move(tenant)) {}

  // Writes until a request gets no answer (the server died) or `stop` is set.
  void Run(uint16_t port, const std::atomic<bool>& stop) {
    TestClient client("127.0.0.1", port);
    while (!stop.load(std::memory_order_relaxed)) {
      auto [entity, op] = NextOp();
      TrackedEntity& e = entities_[entity];
      TestClient::Reply reply = Send(client, e, op);
      if (reply.status == -1) {
        e.in_doubt = op;
        ++stats_.in_doubt;
        return;
      }
      int expected = op.kind == OpKind::kCreate ? 201 : 204;
      if (reply.status != expected) {
        Error(e.id + ": " + Describe(op) + " answered " + std::to_string(reply.status) +
              " (expected " + std::to_string(expected) + "): " + reply.body.substr(0, 300));
        return;
      }
      e.state = Apply(e.state, op);
      e.Recorded(op);
      ++stats_.acknowledged;
      switch (op.kind) {
        case OpKind::kCreate:
          ++stats_.creates;
          break;
        case OpKind::kPatch:
          ++stats_.patches;
          break;
        case OpKind::kDelete:
          ++stats_.deletes;
          break;
      }
    }
  }

  // Reads back every entity this writer ever touched and checks it against the model; resolves
  // in-doubt writes from what it finds.
  void Verify(uint16_t port) {
    TestClient client("127.0.0.1", port);
    for (TrackedEntity& e : entities_) {
      TestClient::Reply reply = client.Send(
          "GET", "/ngsi-ld/v1/entities/" + e.id + "?options=keyValues", TenantHeaders(), "");
      std::optional<EntityState> found = Parse(e.id, reply);
      if (!found) continue;  // Parse reported the error
      if (*found == e.state) {
        e.in_doubt.reset();
        continue;
      }
      if (e.in_doubt && *found == Apply(e.state, *e.in_doubt)) {
        e.state = *found;
        e.Recorded(*e.in_doubt);
        e.in_doubt.reset();
        ++stats_.in_doubt_applied;
        continue;
      }
      Error(e.id + ": found " + Describe(*found) + ", acknowledged " + Describe(e.state) +
            (e.in_doubt ? " (in doubt: " + Describe(*e.in_doubt) + ")" : ""));
    }
    for (const TrackedEntity& e : entities_) {
      if (!e.in_doubt) VerifyHistory(client, e);
    }
  }

  // History and current state agree: the counter's history holds exactly the values of the
  // writes that took effect (count and sum), and its last value is the last one written.
  void VerifyHistory(TestClient& client, const TrackedEntity& e) {
    if (e.history_count == 0) return;
    TestClient::Reply reply = client.Send(
        "GET",
        "/ngsi-ld/v1/temporal/entities/" + e.id +
            "?attrs=counter&options=aggregatedValues&aggrMethods=totalCount,sum",
        TenantHeaders(), "");
    auto json = ParseJson(reply.body);
    const Json* counter = json.ok() ? json->Find("counter") : nullptr;
    const Json* count = counter ? counter->Find("totalCount") : nullptr;
    const Json* sum = counter ? counter->Find("sum") : nullptr;
    if (reply.status != 200 || count == nullptr || sum == nullptr || !count->is_array() ||
        count->as_array().size() != 1 || !sum->is_array() || sum->as_array().size() != 1) {
      Error(e.id + ": temporal GET answered " + std::to_string(reply.status) + ": " +
            reply.body.substr(0, 300));
      return;
    }
    int64_t got_count = count->as_array()[0].as_array()[0].as_int();
    double got_sum = sum->as_array()[0].as_array()[0].as_double();
    if (got_count != e.history_count || got_sum != static_cast<double>(e.history_sum)) {
      Error(e.id + ": history has " + std::to_string(got_count) + " values summing to " +
            std::to_string(got_sum) + ", expected " + std::to_string(e.history_count) +
            " summing to " + std::to_string(e.history_sum));
      return;
    }
    reply = client.Send("GET",
                        "/ngsi-ld/v1/temporal/entities/" + e.id +
                            "?attrs=counter&options=temporalValues&lastN=1",
                        TenantHeaders(), "");
    json = ParseJson(reply.body);
    const Json* values = json.ok() && json->Find("counter") ? json->Find("counter")->Find("values")
                                                           : nullptr;
    const Json last = e.history_ends_deleted ? Json("urn:ngsi-ld:null") : Json(e.history_last);
    if (values == nullptr || !values->is_array() || values->as_array().size() != 1 ||
        values->as_array()[0].as_array()[0] != last) {
      Error(e.id + ": last history value is not " + ToJsonString(last) + ": " +
            reply.body.substr(0, 300));
    }
  }

  size_t LiveCount() const {
    return std::count_if(entities_.begin(), entities_.end(),
                         [](const TrackedEntity& e) { return e.state.exists; });
  }
  size_t EntityCount() const { return entities_.size(); }
  const WriterStats& stats() const { return stats_; }
  const std::string& tenant() const { return tenant_; }
  std::vector<std::string> TakeErrors() { return std::move(errors_); }

 private:
  Headers TenantHeaders() const {
    if (tenant_.empty()) return {};
    return {{"NGSILD-Tenant", tenant_}};
  }

  std::pair<size_t, Op> NextOp() {
    std::vector<size_t> live, dead;
    for (size_t i = 0; i < entities_.size(); ++i) {
      (entities_[i].state.exists ? live : dead).push_back(i);
    }
    auto pick = [this](const std::vector<size_t>& from) {
      return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)];
    };
    int roll = std::uniform_int_distribution<int>(0, 99)(rng_);
    int64_t value = next_value_++;
    if (live.size() < 4 || (roll < 20 && live.size() < kMaxLivePerWriter)) {
      // Recreating a deleted id checks that a delete and a later create replay in order.
      if (!dead.empty() && roll % 4 == 0) return {pick(dead), {OpKind::kCreate, value}};
      entities_.push_back(
          {"urn:ngsi-ld:Crash:" + std::to_string(index_) + ":" + std::to_string(entities_.size()),
           {},
           std::nullopt});
      return {entities_.size() - 1, {OpKind::kCreate, value}};
    }
    if (roll < 88) return {pick(live), {OpKind::kPatch, value}};
    return {pick(live), {OpKind::kDelete, 0}};
  }

  TestClient::Reply Send(TestClient& client, const TrackedEntity& e, const Op& op) {
    Headers headers = TenantHeaders();
    std::string attrs = R"("counter":{"type":"Property","value":)" + std::to_string(op.value) +
                        R"(},"blob":{"type":"Property","value":")" + Blob(index_, op.value) +
                        R"("})";
    switch (op.kind) {
      case OpKind::kCreate:
        headers.emplace_back("Content-Type", "application/json");
        return client.Send("POST", "/ngsi-ld/v1/entities", headers,
                           R"({"id":")" + e.id + R"(","type":"Crash",)" + attrs + "}");
      case OpKind::kPatch:
        headers.emplace_back("Content-Type", "application/json");
        return client.Send("PATCH", "/ngsi-ld/v1/entities/" + e.id + "/attrs", headers,
                           "{" + attrs + "}");
      case OpKind::kDelete:
        return client.Send("DELETE", "/ngsi-ld/v1/entities/" + e.id, headers, "");
    }
    return {};
  }

  // The entity's state from a keyValues GET, or nullopt (with an error recorded) when the answer
  // is not a well-formed entity or ProblemDetails.
  std::optional<EntityState> Parse(const std::string& id, const TestClient::Reply& reply) {
    if (reply.status != 200 && reply.status != 404) {
      Error(id + ": GET answered " + std::to_string(reply.status) + ": " +
            reply.body.substr(0, 300));
      return std::nullopt;
    }
    auto json = ParseJson(reply.body);
    if (!json.ok() || !json->is_object()) {
      Error(id + ": GET answered " + std::to_string(reply.status) +
            " with invalid JSON: " + reply.body.substr(0, 300));
      return std::nullopt;
    }
    if (reply.status == 404) {
      if (json->GetString("type") != "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound") {
        Error(id + ": 404 without ResourceNotFound: " + reply.body.substr(0, 300));
        return std::nullopt;
      }
      return EntityState{};
    }
    const Json* counter = json->Find("counter");
    const Json* blob = json->Find("blob");
    if (json->GetString("id") != id || json->GetString("type") != "Crash" || counter == nullptr ||
        !counter->is_int() || blob == nullptr || !blob->is_string() || json->size() != 4) {
      Error(id + ": malformed entity: " + reply.body.substr(0, 300));
      return std::nullopt;
    }
    if (blob->as_string() != Blob(index_, counter->as_int())) {
      Error(id + ": blob does not belong to counter " + std::to_string(counter->as_int()) +
            " (a torn or mixed write)");
      return std::nullopt;
    }
    return EntityState{true, counter->as_int()};
  }

  void Error(std::string what) {
    if (errors_.size() < kMaxReportedErrors) {
      errors_.push_back("writer " + std::to_string(index_) + ": " + std::move(what));
    }
  }

  int index_;
  std::mt19937_64 rng_;
  std::string tenant_;  // empty: the default tenant
  std::vector<TrackedEntity> entities_;
  int64_t next_value_ = 1;  // counters only grow, so an older value can never pass as newer
  WriterStats stats_;
  std::vector<std::string> errors_;
};

// ---------------------------------------------------------------------------------------------

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/civitas-crash-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    // A private copy of the binary: every restart runs the same build even if the build tree
    // is relinked meanwhile.
    std::error_code ec;
    std::filesystem::copy_file(CIVITAS_BINARY, dir_ + "/civitas", ec);
    ASSERT_FALSE(ec) << "copy " CIVITAS_BINARY ": " << ec.message();
    std::filesystem::create_directories(dir_ + "/data");
    server_ =
        std::make_unique<ServerProcess>(dir_ + "/civitas", dir_ + "/data", dir_ + "/server.log");

    seed_ = static_cast<uint64_t>(EnvInt("CIVITAS_CRASH_SEED", 0));
    if (seed_ == 0) {
      std::random_device device;
      seed_ = (static_cast<uint64_t>(device()) << 32) | device();
    }
    std::printf("crash test seed %llu (CIVITAS_CRASH_SEED=%llu reproduces the choices), dir %s\n",
                static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_),
                dir_.c_str());
    RecordProperty("seed", std::to_string(seed_));
    rng_.seed(seed_);
    for (int w = 0; w < kWriters; ++w) {
      // The last writer works in its own tenant, so tenant creation is part of what must
      // survive.
      writers_.emplace_back(w, SplitMix(seed_ + static_cast<uint64_t>(w)),
                            w == kWriters - 1 ? "crash" : "");
    }
  }

  void TearDown() override {
    server_.reset();  // kills the child if it still runs
    if (HasFailure()) {
      std::printf("seed was %llu\n", static_cast<unsigned long long>(seed_));
    }
    if (EnvInt("CIVITAS_CRASH_KEEP", 0) != 0) {
      std::printf("kept %s\n", dir_.c_str());
    } else if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // Writes from all writers until `end_writes` has stopped the server (it must make the
  // writers' requests fail), then joins them.
  template <typename EndWrites>
  void WriteUntil(EndWrites end_writes) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    uint16_t port = server_->port();
    for (auto& w : writers_) threads.emplace_back([&w, port, &stop] { w.Run(port, stop); });
    end_writes();
    stop = true;
    for (auto& t : threads) t.join();
    ReportErrors();
  }

  // Checks every writer's entities in parallel, then the store's entity count and the log.
  void VerifyAll(const std::string& when) {
    SCOPED_TRACE(when);
    std::vector<std::thread> threads;
    uint16_t port = server_->port();
    for (auto& w : writers_) threads.emplace_back([&w, port] { w.Verify(port); });
    for (auto& t : threads) t.join();
    ReportErrors();

    size_t live = 0;
    for (const auto& w : writers_) live += w.LiveCount();
    TestClient client("127.0.0.1", port);
    auto metrics = client.Send("GET", "/metrics", {}, "");
    ASSERT_EQ(metrics.status, 200);
    const std::string kGauge = "\ncivitas_store_entities ";
    size_t at = metrics.body.find(kGauge);
    ASSERT_NE(at, std::string::npos) << metrics.body;
    EXPECT_EQ(std::strtoull(metrics.body.c_str() + at + kGauge.size(), nullptr, 10), live)
        << "the store holds entities no acknowledged or in-doubt write created";

    // The same through a query per tenant, which reads the indexes rebuilt on start.
    std::map<std::string, size_t> live_by_tenant;
    for (const auto& w : writers_) live_by_tenant[w.tenant()] += w.LiveCount();
    for (const auto& [tenant, expected] : live_by_tenant) {
      Headers headers;
      if (!tenant.empty()) headers.emplace_back("NGSILD-Tenant", tenant);
      auto r =
          client.Send("GET", "/ngsi-ld/v1/entities?type=Crash&count=true&limit=0", headers, "");
      if (r.status == 404 && expected == 0) continue;  // the tenant was never created
      ASSERT_EQ(r.status, 200) << "tenant '" << tenant << "': " << r.body;
      EXPECT_EQ(r.Header("ngsild-results-count"), std::to_string(expected))
          << "tenant '" << tenant << "'";
    }
    CheckLog();
  }

  void ReportErrors() {
    for (auto& w : writers_) {
      for (const auto& e : w.TakeErrors()) ADD_FAILURE() << e;
    }
  }

  // The server logs at warn level; after a SIGKILL and recovery it must have nothing to say
  // about corruption, and no errors at all (nor sanitizer reports, in the ASan build).
  void CheckLog() {
    std::istringstream log(server_->Log());
    std::string line;
    while (std::getline(log, line)) {
      std::string lower = line;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower.find("corrupt") != std::string::npos ||
          lower.find("level=error") != std::string::npos ||
          lower.find("sanitizer") != std::string::npos ||
          lower.find("runtime error:") != std::string::npos) {
        ADD_FAILURE() << "server log: " << line;
      }
    }
  }

  std::string dir_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<Writer> writers_;
};

TEST_F(CrashTest, SigkillKeepsEveryAcknowledgedWrite) {
  const int cycles =
      static_cast<int>(std::max<int64_t>(1, EnvInt("CIVITAS_CRASH_CYCLES", kDefaultCycles)));
  const auto start = Clock::now();
  ASSERT_TRUE(server_->Start());
  VerifyAll("initial start");

  int64_t prev_acked = 0;
  int recovery_kills = 0;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    const int delay_ms = std::uniform_int_distribution<int>(kMinKillDelayMs, kMaxKillDelayMs)(rng_);
    WriteUntil([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      server_->Note("=== SIGKILL (cycle " + std::to_string(cycle) + ", after " +
                    std::to_string(delay_ms) + " ms of writes)");
      server_->Kill();
    });
    ASSERT_FALSE(HasFailure()) << "cycle " << cycle;

    // Every fourth cycle, also kill the restarted server during its recovery, before it is ready.
    if (cycle % 4 == 0) {
      std::string why;
      ASSERT_TRUE(server_->Spawn(&why)) << why;
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng_)));
      server_->Note("=== SIGKILL during recovery");
      server_->Kill();
      ++recovery_kills;
    }

    ASSERT_TRUE(server_->Start()) << "restart after cycle " << cycle;
    VerifyAll("after SIGKILL " + std::to_string(cycle));
    ASSERT_FALSE(HasFailure()) << "cycle " << cycle;

    int64_t acked = 0;
    for (const auto& w : writers_) acked += w.stats().acknowledged;
    std::printf("cycle %2d: killed after %3d ms, %4lld writes acknowledged\n", cycle, delay_ms,
                static_cast<long long>(acked - prev_acked));
    prev_acked = acked;
  }

  // A clean shutdown while writes are in flight: exit code 0, nothing acknowledged lost.
  WriteUntil([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    server_->Note("=== SIGTERM with writes in flight");
    auto status = server_->Terminate(10000);
    ASSERT_TRUE(status.has_value()) << "no exit within 10 s of SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  });
  ASSERT_TRUE(server_->Start());
  VerifyAll("after SIGTERM");
  server_->Note("=== SIGTERM idle");
  auto status = server_->Terminate(10000);
  ASSERT_TRUE(status.has_value()) << "no exit within 10 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  CheckLog();

  WriterStats total;
  size_t entities = 0, live = 0;
  for (const auto& w : writers_) {
    total.acknowledged += w.stats().acknowledged;
    total.in_doubt += w.stats().in_doubt;
    total.in_doubt_applied += w.stats().in_doubt_applied;
    total.creates += w.stats().creates;
    total.patches += w.stats().patches;
    total.deletes += w.stats().deletes;
    entities += w.EntityCount();
    live += w.LiveCount();
  }
  std::printf(
      "%d SIGKILLs during writes + %d during recovery, %d starts, %.1f s: %lld writes "
      "acknowledged (%lld creates, %lld patches, %lld deletes), %lld in doubt (%lld of them "
      "applied), %zu entities (%zu live)\n",
      cycles, recovery_kills, server_->starts(), ElapsedMs(start) / 1000.0,
      static_cast<long long>(total.acknowledged), static_cast<long long>(total.creates),
      static_cast<long long>(total.patches), static_cast<long long>(total.deletes),
      static_cast<long long>(total.in_doubt), static_cast<long long>(total.in_doubt_applied),
      entities, live);
  RecordProperty("acknowledged", std::to_string(total.acknowledged));
  RecordProperty("in_doubt", std::to_string(total.in_doubt));
  // The test only means something if the kills hit a server under load.
  EXPECT_GE(total.acknowledged, 10 * cycles);
  EXPECT_GE(total.in_doubt, cycles / 2);
}

}  // namespace
}  // namespace civitas::testing
