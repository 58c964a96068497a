// civitas_loadgen: an HTTP/1.1 load generator for keep-alive connections, on epoll.
//
// Each I/O thread owns a share of the connections and its own epoll loop, histogram and counters
// (nothing shared on the hot path except the request counters of -n mode and of sequential
// {i}); the results are merged when every thread has stopped. Requests are formatted from a
// precompiled template straight into the connection's output buffer, and a connection keeps up
// to -p requests in flight (pipelining). A request's latency runs from the moment it is written
// to the moment its whole response has been read.
//
// Bounded by construction: with -d it stops issuing at the end of the window and abandons what
// is still in flight (reported as "unfinished"); with -n it stops once n requests have been
// answered, have failed or have timed out, and in any case after --max-time seconds or when no
// response has arrived for twice the request timeout.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/json.h"
#include "histogram.h"
#include "request_template.h"
#include "response_parser.h"

namespace civitas::bench {
namespace {

constexpr size_t kMaxHeadBytes = 64 << 10;
constexpr size_t kReadChunk = 64 << 10;
constexpr int64_t kConnectRetryNs = 50'000'000;  // after a failed connect
constexpr int64_t kScanIntervalNs = 2'000'000;   // timeouts and reconnects are checked this often
constexpr size_t kSampleBytes = 300;             // of the first unexpected response

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  std::string url;
  std::string host;
  std::string port;
  std::string host_header;
  std::string path;
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  std::vector<std::string> bodies;  // --bodies: one of these per request, in turn ({i} picks)
  int connections = 64;
  int pipeline = 1;
  int threads = 1;
  double duration_s = 0;  // 0: not given
  uint64_t requests = 0;  // 0: not given
  double warmup_s = 0;
  int timeout_ms = 5000;
  double max_time_s = 300;
  uint64_t range = 1;
  bool random = false;
  uint64_t rand_max = 1000000;
  uint64_t seed = 1;
  std::string json_file;
  std::string label;
  bool strict = false;
  bool quiet = false;
  bool help = false;
};

const char kUsage[] =
    R"(usage: civitas_loadgen [options] http://HOST:PORT/PATH

Sends HTTP/1.1 requests over keep-alive connections and reports latency percentiles,
throughput, status classes and errors; the last line of output is a JSON result.

  -c, --connections N   keep-alive connections (default 64)
  -p, --pipeline N      requests in flight per connection (default 1)
  -t, --threads N       I/O threads (default 1)
  -d, --duration SEC    measure for SEC seconds (default 10 unless -n is given)
  -n, --requests N      measure exactly N requests instead
  -w, --warmup SEC      run unmeasured for SEC seconds first (default 0)
  -m, --method METHOD   request method (default GET)
  -H, --header 'N: V'   add a request header (repeatable)
  -b, --body TEXT       request body
      --body-file FILE  request body from a file
      --bodies FILE     many bodies, separated by the byte 0x1E: request k sends body k modulo
                        their number (with --random: a random one); --range is ignored
      --range N         {i} in the path and body is a counter modulo N (default 1)
      --random          ... or a uniformly random number in [0, N)
      --rand-max N      {rand} is a random number in [0, N) (default 1000000)
      --seed N          seed of the random numbers (default 1)
      --timeout MS      per-request (and connect) timeout (default 5000)
      --max-time SEC    with -n: give up after SEC seconds (default 300)
      --json FILE       also write the JSON result to FILE
      --label NAME      a name carried into the JSON result
      --strict          exit 1 unless every response was 2xx and nothing failed
  -q, --quiet           print only the JSON result
)";

bool ParseU64(std::string_view s, uint64_t min, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseSeconds(const std::string& s, double min, double max, double* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v >= min && v <= max)) return false;
  *out = v;
  return true;
}

// http://host:port/path (the port defaults to 80; IPv6 literals in brackets).
bool ParseTargetUrl(std::string_view url, Options* o) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  o->path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty()) return false;
  o->host_header = std::string(authority);
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    o->host = std::string(authority.substr(0, colon));
    o->port = std::string(authority.substr(colon + 1));
  } else {
    o->host = std::string(authority);
    o->port = "80";
  }
  if (o->host.size() >= 2 && o->host.front() == '[' && o->host.back() == ']') {
    o->host = o->host.substr(1, o->host.size() - 2);
  }
  uint64_t port = 0;
  return !o->host.empty() && ParseU64(o->port, 1, 65535, &port);
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  auto bad = [](const std::string& what) { return Status::InvalidRequest(what); };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    uint64_t n = 0;
    if (a == "-h" || a == "--help") {
      o.help = true;
      return o;
    } else if (a == "--random") {
      o.random = true;
    } else if (a == "--strict") {
      o.strict = true;
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      if (!value(&v)) return bad(a + ": missing value");
      if (a == "-c" || a == "--connections") {
        if (!ParseU64(v, 1, 100000, &n)) return bad(a + ": expected 1..100000");
        o.connections = static_cast<int>(n);
      } else if (a == "-p" || a == "--pipeline") {
        if (!ParseU64(v, 1, 1024, &n)) return bad(a + ": expected 1..1024");
        o.pipeline = static_cast<int>(n);
      } else if (a == "-t" || a == "--threads") {
        if (!ParseU64(v, 1, 256, &n)) return bad(a + ": expected 1..256");
        o.threads = static_cast<int>(n);
      } else if (a == "-d" || a == "--duration") {
        if (!ParseSeconds(v, 0.001, 86400, &o.duration_s)) return bad(a + ": expected seconds");
      } else if (a == "-n" || a == "--requests") {
        if (!ParseU64(v, 1, UINT64_MAX / 2, &o.requests)) return bad(a + ": expected a count");
      } else if (a == "-w" || a == "--warmup") {
        if (!ParseSeconds(v, 0, 86400, &o.warmup_s)) return bad(a + ": expected seconds");
      } else if (a == "-m" || a == "--method") {
        o.method = v;
      } else if (a == "-H" || a == "--header") {
        o.headers.push_back(v);
      } else if (a == "-b" || a == "--body") {
        o.body = v;
      } else if (a == "--body-file") {
        std::ifstream in(v, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) return bad("cannot read " + v);
        o.body = ss.str();
      } else if (a == "--bodies") {
        std::ifstream in(v, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) return bad("cannot read " + v);
        std::string all = ss.str();
        size_t from = 0;
        while (from < all.size()) {
          size_t to = all.find('\x1e', from);
          if (to == std::string::npos) to = all.size();
          if (to > from) o.bodies.push_back(all.substr(from, to - from));
          from = to + 1;
        }
        if (o.bodies.empty()) return bad("no bodies in " + v);
      } else if (a == "--range") {
        if (!ParseU64(v, 1, UINT64_MAX / 2, &o.range)) return bad(a + ": expected N >= 1");
      } else if (a == "--rand-max") {
        if (!ParseU64(v, 1, UINT64_MAX / 2, &o.rand_max)) return bad(a + ": expected N >= 1");
      } else if (a == "--seed") {
        if (!ParseU64(v, 0, UINT64_MAX / 2, &o.seed)) return bad(a + ": expected a number");
      } else if (a == "--timeout") {
        if (!ParseU64(v, 1, 3600000, &n)) return bad(a + ": expected milliseconds");
        o.timeout_ms = static_cast<int>(n);
      } else if (a == "--max-time") {
        if (!ParseSeconds(v, 0.001, 86400, &o.max_time_s)) return bad(a + ": expected seconds");
      } else if (a == "--json") {
        o.json_file = v;
      } else if (a == "--label") {
        o.label = v;
      } else {
        return bad("unknown option " + a);
      }
    } else if (o.url.empty()) {
      o.url = a;
    } else {
      return bad("more than one URL: " + a);
    }
  }
  if (o.url.empty()) return bad("missing the target URL");
  if (!ParseTargetUrl(o.url, &o)) return bad("expected a URL like http://127.0.0.1:1026/path");
  if (o.requests == 0 && o.duration_s == 0) o.duration_s = 10;
  if (o.requests != 0 && o.duration_s != 0) return bad("give -d or -n, not both");
  o.threads = std::min(o.threads, o.connections);
  return o;
}

// splitmix64: fast, and good enough to spread requests over ids.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) {  // Lemire's multiply-shift: no division, negligible bias
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

 private:
  uint64_t s_;
};

struct Counters {
  uint64_t completed = 0;     // measured responses
  uint64_t by_class[6] = {};  // index status / 100 (0: anything else)
  std::vector<uint64_t> by_status = std::vector<uint64_t>(600, 0);
  uint64_t connect_errors = 0;   // connect() refused, failed or timed out
  uint64_t timeouts = 0;         // measured requests without a response within --timeout
  uint64_t resets = 0;           // measured requests lost with their connection
  uint64_t protocol_errors = 0;  // responses that could not be framed
  uint64_t unfinished = 0;       // measured requests still in flight at the end
  uint64_t connections_opened = 0;
  std::string first_unexpected;  // the first non-2xx response (head and start of body)
  std::string first_error;

  void Merge(const Counters& o) {
    completed += o.completed;
    for (int i = 0; i < 6; ++i) by_class[i] += o.by_class[i];
    for (size_t i = 0; i < by_status.size(); ++i) by_status[i] += o.by_status[i];
    connect_errors += o.connect_errors;
    timeouts += o.timeouts;
    resets += o.resets;
    protocol_errors += o.protocol_errors;
    unfinished += o.unfinished;
    connections_opened += o.connections_opened;
    if (first_unexpected.empty()) first_unexpected = o.first_unexpected;
    if (first_error.empty()) first_error = o.first_error;
  }
};

// State shared by the worker threads. The timeline: start, warm-up until measure_start, then the
// measured window until measure_end (duration mode) or until the tickets of -n run out.
struct Shared {
  const Options* opt = nullptr;
  const RequestTemplate* tmpl = nullptr;
  const std::vector<RequestTemplate>* many = nullptr;  // --bodies
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int64_t start_ns = 0;
  int64_t measure_start_ns = 0;
  int64_t measure_end_ns = 0;  // INT64_MAX with -n
  int64_t deadline_ns = 0;     // hard stop
  std::atomic<uint64_t> tickets{0};
  std::atomic<uint64_t> next_index{0};
  std::atomic<bool> abort{false};
  std::mutex abort_mu;
  std::string abort_reason;

  void Abort(const std::string& why) {
    std::lock_guard<std::mutex> lock(abort_mu);
    if (abort_reason.empty()) abort_reason = why;
    abort.store(true);
  }
};

class Worker {
 public:
  Worker(Shared& shared, int id, int connections)
      : shared_(shared),
        opt_(*shared.opt),
        tmpl_(*shared.tmpl),
        rng_(shared.opt->seed * 0x100000001b3ULL + static_cast<uint64_t>(id) + 1),
        conns_(static_cast<size_t>(connections)) {
    for (Conn& c : conns_) c.ring.resize(static_cast<size_t>(opt_.pipeline));
  }

  void Run();

  const LatencyHistogram& histogram() const { return hist_; }
  const Counters& counters() const { return counters_; }
  int64_t last_measured_ns() const { return last_measured_ns_; }

 private:
  enum class State { kIdle, kConnecting, kOpen };
  enum class Issue { kNone, kWarmup, kMeasured };
  struct Slot {
    int64_t sent_ns;
    bool measured;
  };
  struct Conn {
    int fd = -1;
    State state = State::kIdle;
    int64_t retry_at_ns = 0;
    int64_t connect_started_ns = 0;
    bool want_out = false;  // EPOLLOUT registered
    std::string out;
    size_t out_off = 0;
    std::string in;
    size_t in_off = 0;
    bool have_frame = false;
    ResponseFrame frame;
    std::vector<Slot> ring;  // requests in flight, oldest at head
    size_t head = 0;
    size_t count = 0;
  };
  enum class Loss { kReset, kTimeout, kProtocol };

  Issue NextIssue(int64_t now);
  void Connect(size_t i, int64_t now);
  void FinishConnect(size_t i, int64_t now);
  void Fill(size_t i, int64_t now);
  void Flush(size_t i, int64_t now);
  void OnReadable(size_t i);
  void Parse(size_t i, int64_t now);
  void Close(size_t i, Loss loss, int64_t now, int64_t retry_delay_ns);
  void Watch(size_t i, uint32_t events, bool add);
  void Scan(int64_t now);
  void NoteError(const std::string& what) {
    if (counters_.first_error.empty()) counters_.first_error = what;
  }
  // An unparsable response: counted, noted and the connection closed.
  void ProtocolError(size_t i, const std::string& what, int64_t now) {
    ++counters_.protocol_errors;
    NoteError(what);
    Close(i, Loss::kProtocol, now, 0);
  }

  Shared& shared_;
  const Options& opt_;
  const RequestTemplate& tmpl_;
  Rng rng_;
  std::vector<Conn> conns_;
  int epoll_fd_ = -1;
  LatencyHistogram hist_;
  Counters counters_;
  bool tickets_exhausted_ = false;
  uint64_t measured_in_flight_ = 0;
  int64_t last_progress_ns_ = 0;
  int64_t last_measured_ns_ = 0;
  char read_buf_[kReadChunk];
};

Worker::Issue Worker::NextIssue(int64_t now) {
  if (now < shared_.measure_start_ns) return Issue::kWarmup;
  if (opt_.requests != 0) {
    if (tickets_exhausted_) return Issue::kNone;
    if (shared_.tickets.fetch_add(1, std::memory_order_relaxed) < opt_.requests) {
      return Issue::kMeasured;
    }
    tickets_exhausted_ = true;
    return Issue::kNone;
  }
  return now < shared_.measure_end_ns ? Issue::kMeasured : Issue::kNone;
}

void Worker::Watch(size_t i, uint32_t events, bool add) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = i;
  epoll_ctl(epoll_fd_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, conns_[i].fd, &ev);
}

void Worker::Connect(size_t i, int64_t now) {
  Conn& c = conns_[i];
  int fd = socket(shared_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++counters_.connect_errors;
    NoteError(std::string("socket: ") + strerror(errno));
    c.retry_at_ns = now + kConnectRetryNs;
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.fd = fd;
  c.connect_started_ns = now;
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&shared_.addr), shared_.addr_len);
  if (rc == 0) {
    c.state = State::kConnecting;
    Watch(i, EPOLLIN, true);
    FinishConnect(i, now);
    return;
  }
  if (errno != EINPROGRESS) {
    ++counters_.connect_errors;
    NoteError(std::string("connect: ") + strerror(errno));
    close(fd);
    c.fd = -1;
    c.retry_at_ns = now + kConnectRetryNs;
    return;
  }
  c.state = State::kConnecting;
  c.want_out = true;
  Watch(i, EPOLLOUT, true);
}

void Worker::FinishConnect(size_t i, int64_t now) {
  Conn& c = conns_[i];
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    ++counters_.connect_errors;
    NoteError(std::string("connect: ") + strerror(err));
    Close(i, Loss::kReset, now, kConnectRetryNs);
    return;
  }
  c.state = State::kOpen;
  c.want_out = false;
  Watch(i, EPOLLIN, false);
  ++counters_.connections_opened;
  Fill(i, now);
}

void Worker::Fill(size_t i, int64_t now) {
  Conn& c = conns_[i];
  const size_t depth = c.ring.size();
  bool added = false;
  while (c.count < depth && !shared_.abort.load(std::memory_order_relaxed)) {
    Issue issue = NextIssue(now);
    if (issue == Issue::kNone) break;
    uint64_t index = 0;
    if (shared_.many != nullptr) {
      const auto& many = *shared_.many;
      uint64_t k = opt_.random ? rng_.Below(many.size())
                               : shared_.next_index.fetch_add(1, std::memory_order_relaxed);
      many[k % many.size()].Append(c.out, 0, 0);
    } else if (tmpl_.uses_index()) {
      index = opt_.random ? rng_.Below(opt_.range)
                          : shared_.next_index.fetch_add(1, std::memory_order_relaxed) % opt_.range;
    }
    if (shared_.many == nullptr) {
      uint64_t rand = tmpl_.uses_rand() ? rng_.Below(opt_.rand_max) : 0;
      tmpl_.Append(c.out, index, rand);
    }
    bool measured = issue == Issue::kMeasured;
    c.ring[(c.head + c.count) % depth] = {now, measured};
    ++c.count;
    if (measured) ++measured_in_flight_;
    added = true;
  }
  if (added) Flush(i, now);
}

void Worker::Flush(size_t i, int64_t now) {
  Conn& c = conns_[i];
  while (c.out_off < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      NoteError(std::string("send: ") + strerror(errno));
      Close(i, Loss::kReset, now, 0);
      return;
    }
  }
  bool pending = c.out_off < c.out.size();
  if (!pending) {
    c.out.clear();
    c.out_off = 0;
  }
  if (pending != c.want_out) {
    c.want_out = pending;
    Watch(i, pending ? EPOLLIN | EPOLLOUT : EPOLLIN, false);
  }
}

void Worker::OnReadable(size_t i) {
  Conn& c = conns_[i];
  bool eof = false;
  for (;;) {
    ssize_t n = recv(c.fd, read_buf_, sizeof read_buf_, 0);
    if (n > 0) {
      c.in.append(read_buf_, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof read_buf_) break;
    } else if (n == 0) {
      eof = true;
      break;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      NoteError(std::string("recv: ") + strerror(errno));
      eof = true;
      break;
    }
  }
  int64_t now = NowNs();
  Parse(i, now);
  if (eof && c.state == State::kOpen) {
    if (c.count > 0) NoteError("connection closed by the server with requests in flight");
    Close(i, Loss::kReset, now, 0);
  }
}

void Worker::Parse(size_t i, int64_t now) {
  Conn& c = conns_[i];
  const size_t depth = c.ring.size();
  for (;;) {
    std::string_view data(c.in.data() + c.in_off, c.in.size() - c.in_off);
    if (data.empty()) break;
    if (!c.have_frame) {
      std::string error;
      FrameResult r = ParseResponseHead(data, tmpl_.is_head(), kMaxHeadBytes, &c.frame, &error);
      if (r == FrameResult::kNeedMore) break;
      if (r == FrameResult::kError) return ProtocolError(i, error, now);
      c.have_frame = true;
    }
    if (c.frame.chunked) {
      size_t end = 0;
      std::string error;
      FrameResult r = ChunkedBodyEnd(data, c.frame.head_bytes, &end, &error);
      if (r == FrameResult::kNeedMore) break;
      if (r == FrameResult::kError) return ProtocolError(i, error, now);
      c.frame.total_bytes = end;
      c.frame.chunked = false;
    }
    if (data.size() < c.frame.total_bytes) break;
    c.have_frame = false;
    c.in_off += c.frame.total_bytes;
    int status = c.frame.status;
    if (status < 200) continue;  // interim response; the final one follows
    if (c.count == 0) {
      ++counters_.protocol_errors;
      NoteError("a response arrived for no request");
      Close(i, Loss::kProtocol, now, 0);
      return;
    }
    Slot slot = c.ring[c.head];
    c.head = (c.head + 1) % depth;
    --c.count;
    last_progress_ns_ = now;
    if (slot.measured) {
      --measured_in_flight_;
      if (now <= shared_.measure_end_ns) {
        hist_.Record(static_cast<uint64_t>(now - slot.sent_ns) / 1000);
        ++counters_.completed;
        ++counters_.by_class[status / 100 < 6 ? status / 100 : 0];
        ++counters_.by_status[static_cast<size_t>(status) % 600];
        last_measured_ns_ = now;
        if ((status < 200 || status > 299) && counters_.first_unexpected.empty()) {
          counters_.first_unexpected =
              std::string(data.substr(0, std::min(c.frame.total_bytes, kSampleBytes)));
        }
      }
    }
    if (c.frame.close) {
      Close(i, Loss::kReset, now, 0);
      return;
    }
  }
  if (c.in_off == c.in.size()) {
    c.in.clear();
    c.in_off = 0;
  } else if (c.in_off > kReadChunk) {
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  Fill(i, now);
}

void Worker::Close(size_t i, Loss loss, int64_t now, int64_t retry_delay_ns) {
  Conn& c = conns_[i];
  const size_t depth = c.ring.size();
  for (size_t k = 0; k < c.count; ++k) {
    if (!c.ring[(c.head + k) % depth].measured) continue;
    --measured_in_flight_;
    if (loss == Loss::kTimeout) {
      ++counters_.timeouts;
    } else {
      ++counters_.resets;
    }
  }
  if (c.fd >= 0) close(c.fd);  // also removes it from the epoll set
  c.fd = -1;
  c.state = State::kIdle;
  c.retry_at_ns = now + retry_delay_ns;
  c.want_out = false;
  c.out.clear();
  c.out_off = 0;
  c.in.clear();
  c.in_off = 0;
  c.have_frame = false;
  c.head = 0;
  c.count = 0;
}

void Worker::Scan(int64_t now) {
  const int64_t timeout_ns = static_cast<int64_t>(opt_.timeout_ms) * 1'000'000;
  for (size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    switch (c.state) {
      case State::kIdle:
        if (now >= c.retry_at_ns) Connect(i, now);
        break;
      case State::kConnecting:
        if (now - c.connect_started_ns > timeout_ns) {
          ++counters_.connect_errors;
          NoteError("connect timed out");
          Close(i, Loss::kReset, now, 0);
        }
        break;
      case State::kOpen:
        if (c.count > 0 && now - c.ring[c.head].sent_ns > timeout_ns) {
          NoteError("request timed out");
          Close(i, Loss::kTimeout, now, 0);
        } else if (c.count == 0) {
          Fill(i, now);  // idle since the warm-up or a reconnect
        }
        break;
    }
  }
}

void Worker::Run() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    shared_.Abort(std::string("epoll_create1: ") + strerror(errno));
    return;
  }
  const bool by_count = opt_.requests != 0;
  const int64_t stall_ns = 2 * static_cast<int64_t>(opt_.timeout_ms) * 1'000'000 + 1'000'000'000;
  last_progress_ns_ = NowNs();
  int64_t next_scan = 0;
  std::vector<epoll_event> events(512);
  for (;;) {
    int64_t now = NowNs();
    if (shared_.abort.load(std::memory_order_relaxed)) break;
    if (now >= shared_.deadline_ns) {
      if (by_count) shared_.Abort("--max-time reached before all requests were answered");
      break;
    }
    if (!by_count && now >= shared_.measure_end_ns) break;
    if (by_count && tickets_exhausted_ && measured_in_flight_ == 0) break;
    if (by_count && now - last_progress_ns_ > stall_ns) {
      shared_.Abort("no response for " + std::to_string(stall_ns / 1'000'000'000) + " s");
      break;
    }
    if (now >= next_scan) {
      Scan(now);
      next_scan = now + kScanIntervalNs;
    }
    int64_t wait_ns = next_scan - now;
    if (!by_count) wait_ns = std::min(wait_ns, shared_.measure_end_ns - now);
    int wait_ms = static_cast<int>(std::max<int64_t>(0, (wait_ns + 999'999) / 1'000'000));
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), wait_ms);
    if (n < 0 && errno != EINTR) {
      shared_.Abort(std::string("epoll_wait: ") + strerror(errno));
      break;
    }
    for (int k = 0; k < n; ++k) {
      size_t i = events[static_cast<size_t>(k)].data.u64;
      uint32_t ev = events[static_cast<size_t>(k)].events;
      Conn& c = conns_[i];
      if (c.state == State::kConnecting) {
        FinishConnect(i, NowNs());
        continue;
      }
      if (c.state != State::kOpen) continue;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable(i);
      if (c.state == State::kOpen && (ev & EPOLLOUT)) Flush(i, NowNs());
    }
  }
  for (Conn& c : conns_) {
    for (size_t k = 0; k < c.count; ++k) {
      if (c.ring[(c.head + k) % c.ring.size()].measured) ++counters_.unfinished;
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
  close(epoll_fd_);
}

double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

double CpuSeconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

// Everything a run measured, merged over the workers.
struct Outcome {
  LatencyHistogram hist;
  Counters counters;
  double window_s = 0;  // the measured window
  double rps = 0;
  double cpu_user_s = 0;  // of this process, over the whole run
  double cpu_sys_s = 0;
  std::string aborted;  // why the run was cut short, or ""

  uint64_t errors() const {
    return counters.connect_errors + counters.timeouts + counters.resets + counters.protocol_errors;
  }
  double CpuPerRequestUs() const {
    return counters.completed == 0
               ? 0.0
               : (cpu_user_s + cpu_sys_s) * 1e6 / static_cast<double>(counters.completed);
  }
};

double Ms(uint64_t us) { return Round3(static_cast<double>(us) / 1000.0); }

Json OrNull(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json ResultJson(const Options& opt, const Outcome& o) {
  const Counters& c = o.counters;
  Json r = Json::MakeObject();
  r.Set("label", opt.label);
  r.Set("method", opt.method);
  r.Set("url", opt.url);
  r.Set("connections", opt.connections);
  r.Set("pipeline", opt.pipeline);
  r.Set("threads", opt.threads);
  r.Set("warmup_s", Round3(opt.warmup_s));
  r.Set("duration_s", Round3(o.window_s));
  r.Set("requests", static_cast<int64_t>(c.completed));
  r.Set("throughput_rps", Round3(o.rps));
  Json latency = Json::MakeObject();
  latency.Set("min", Ms(o.hist.min()));
  latency.Set("mean", Round3(o.hist.mean() / 1000.0));
  latency.Set("p50", Ms(o.hist.Percentile(0.50)));
  latency.Set("p90", Ms(o.hist.Percentile(0.90)));
  latency.Set("p99", Ms(o.hist.Percentile(0.99)));
  latency.Set("p999", Ms(o.hist.Percentile(0.999)));
  latency.Set("max", Ms(o.hist.max()));
  r.Set("latency_ms", std::move(latency));
  Json classes = Json::MakeObject();
  for (int k = 1; k <= 5; ++k) {
    classes.Set(std::to_string(k) + "xx", static_cast<int64_t>(c.by_class[k]));
  }
  r.Set("status_classes", std::move(classes));
  Json codes = Json::MakeObject();
  for (size_t s = 0; s < c.by_status.size(); ++s) {
    if (c.by_status[s] != 0) codes.Set(std::to_string(s), static_cast<int64_t>(c.by_status[s]));
  }
  r.Set("status_codes", std::move(codes));
  Json errors = Json::MakeObject();
  errors.Set("connect", static_cast<int64_t>(c.connect_errors));
  errors.Set("timeout", static_cast<int64_t>(c.timeouts));
  errors.Set("reset", static_cast<int64_t>(c.resets));
  errors.Set("protocol", static_cast<int64_t>(c.protocol_errors));
  r.Set("errors", std::move(errors));
  r.Set("unfinished", static_cast<int64_t>(c.unfinished));
  r.Set("connections_opened", static_cast<int64_t>(c.connections_opened));
  r.Set("cpu_user_s", Round3(o.cpu_user_s));
  r.Set("cpu_sys_s", Round3(o.cpu_sys_s));
  r.Set("cpu_us_per_request", c.completed == 0 ? Json(nullptr) : Json(Round3(o.CpuPerRequestUs())));
  r.Set("aborted", OrNull(o.aborted));
  r.Set("first_error", OrNull(c.first_error));
  r.Set("first_unexpected", OrNull(c.first_unexpected));
  return r;
}

void PrintSummary(const Options& opt, const Outcome& o) {
  const Counters& c = o.counters;
  const LatencyHistogram& h = o.hist;
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("%s %s: %d connections, pipeline %d, %d thread%s, ", opt.method.c_str(),
              opt.url.c_str(), opt.connections, opt.pipeline, opt.threads,
              opt.threads == 1 ? "" : "s");
  if (opt.requests != 0) {
    std::printf("%llu requests\n", u(opt.requests));
  } else {
    std::printf("%g s (+%g s warm-up)\n", opt.duration_s, opt.warmup_s);
  }
  std::printf("  requests   %llu in %.3f s: %.1f req/s\n", u(c.completed), o.window_s, o.rps);
  std::printf("  latency    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n",
              Ms(h.Percentile(0.5)), Ms(h.Percentile(0.9)), Ms(h.Percentile(0.99)),
              Ms(h.Percentile(0.999)), Ms(h.max()), h.mean() / 1000.0);
  std::printf("  status     2xx %llu  3xx %llu  4xx %llu  5xx %llu  other %llu\n", u(c.by_class[2]),
              u(c.by_class[3]), u(c.by_class[4]), u(c.by_class[5]),
              u(c.by_class[0] + c.by_class[1]));
  std::printf(
      "  errors     connect %llu  timeout %llu  reset %llu  protocol %llu  "
      "(unfinished at the end: %llu)\n",
      u(c.connect_errors), u(c.timeouts), u(c.resets), u(c.protocol_errors), u(c.unfinished));
  std::printf("  cpu        user %.2f s  sys %.2f s  (%.1f us per request)\n", o.cpu_user_s,
              o.cpu_sys_s, o.CpuPerRequestUs());
  if (!c.first_error.empty()) std::printf("  first error: %s\n", c.first_error.c_str());
  if (!c.first_unexpected.empty()) {
    std::printf("  first non-2xx response:\n%s\n", c.first_unexpected.c_str());
  }
  if (!o.aborted.empty()) std::printf("  ABORTED: %s\n", o.aborted.c_str());
}

bool Resolve(const Options& opt, Shared* shared) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(opt.host.c_str(), opt.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::cerr << "civitas_loadgen: cannot resolve " << opt.host << ": " << gai_strerror(rc) << "\n";
    return false;
  }
  std::memcpy(&shared->addr, res->ai_addr, res->ai_addrlen);
  shared->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

// Runs the workers over the whole timeline and merges what they measured.
Outcome RunLoad(const Options& opt, Shared& shared) {
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const bool by_count = opt.requests != 0;
  shared.start_ns = NowNs();
  shared.measure_start_ns = shared.start_ns + static_cast<int64_t>(opt.warmup_s * 1e9);
  shared.measure_end_ns =
      by_count ? INT64_MAX : shared.measure_start_ns + static_cast<int64_t>(opt.duration_s * 1e9);
  shared.deadline_ns = by_count
                           ? shared.measure_start_ns + static_cast<int64_t>(opt.max_time_s * 1e9)
                           : shared.measure_end_ns;

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < opt.threads; ++t) {
    int share = opt.connections / opt.threads + (t < opt.connections % opt.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(shared, t, share));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });
  if (opt.warmup_s > 0) {
    // The CPU figure covers the measured window (and the drain), not the warm-up.
    timespec until{shared.measure_start_ns / 1'000'000'000,
                   shared.measure_start_ns % 1'000'000'000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
    getrusage(RUSAGE_SELF, &before);
  }
  for (auto& th : threads) th.join();
  int64_t end_ns = NowNs();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);

  Outcome o;
  int64_t last_measured = 0;
  for (auto& w : workers) {
    o.hist.Merge(w->histogram());
    o.counters.Merge(w->counters());
    last_measured = std::max(last_measured, w->last_measured_ns());
  }
  // -d: its window (shorter if the run was aborted); -n: from the end of the warm-up to the
  // last answer.
  int64_t window_ns = by_count
                          ? (last_measured != 0 ? last_measured : end_ns) - shared.measure_start_ns
                          : std::min(end_ns, shared.measure_end_ns) - shared.measure_start_ns;
  o.window_s = static_cast<double>(std::max<int64_t>(window_ns, 1)) / 1e9;
  o.rps = static_cast<double>(o.counters.completed) / o.window_s;
  o.cpu_user_s = CpuSeconds(after.ru_utime) - CpuSeconds(before.ru_utime);
  o.cpu_sys_s = CpuSeconds(after.ru_stime) - CpuSeconds(before.ru_stime);
  o.aborted = shared.abort_reason;
  return o;
}

int Main(int argc, char** argv) {
  auto parsed = ParseArgs(argc, argv);
  if (parsed.ok() && parsed->help) {
    std::cout << kUsage;
    return 0;
  }
  if (!parsed.ok()) {
    std::cerr << "civitas_loadgen: " << parsed.status().detail() << "\n\n" << kUsage;
    return 2;
  }
  std::vector<std::string> bodies = std::move(parsed->bodies);  // held once, in the templates
  const Options& opt = *parsed;
  auto tmpl =
      RequestTemplate::Compile(opt.method, opt.host_header, opt.path, opt.headers, opt.body);
  if (!tmpl.ok()) {
    std::cerr << "civitas_loadgen: " << tmpl.status().detail() << "\n";
    return 2;
  }
  // --bodies: a template per body, compiled once (no placeholders are expanded in them).
  std::vector<RequestTemplate> many;
  for (std::string& body : bodies) {
    auto t = RequestTemplate::Compile(opt.method, opt.host_header, opt.path, opt.headers, body);
    if (!t.ok()) {
      std::cerr << "civitas_loadgen: " << t.status().detail() << "\n";
      return 2;
    }
    many.push_back(std::move(*t));
    std::string().swap(body);
  }
  signal(SIGPIPE, SIG_IGN);

  Shared shared;
  shared.opt = &opt;
  shared.tmpl = &*tmpl;
  if (!many.empty()) shared.many = &many;
  if (!Resolve(opt, &shared)) return 1;
  Outcome outcome = RunLoad(opt, shared);

  std::string json = ToJsonString(ResultJson(opt, outcome));
  if (!opt.quiet) PrintSummary(opt, outcome);
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
  if (!opt.json_file.empty()) {
    std::ofstream out(opt.json_file, std::ios::binary | std::ios::trunc);
    out << json << "\n";
    if (!out) {
      std::cerr << "civitas_loadgen: cannot write " << opt.json_file << "\n";
      return 1;
    }
  }
  if (!outcome.aborted.empty()) return 1;
  if (opt.strict) {
    const Counters& c = outcome.counters;
    if (outcome.errors() != 0 || c.completed == 0 || c.by_class[2] != c.completed) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace civitas::bench

int main(int argc, char** argv) { return civitas::bench::Main(argc, argv); }
