// The epoll HTTP/1.1 server behind http.h.
//
// Threading: each I/O thread runs one Loop that owns a SO_REUSEPORT listening socket, an epoll
// instance, an eventfd and every connection it accepted. Connection state is touched only by its
// loop's thread. A Responder called on another thread posts (connection id, sequence number,
// response) to the loop's mutex-protected queue and writes the eventfd; the loop looks the
// connection up by id, so a completion for a connection that has gone is simply dropped. A
// Responder called on the loop's own thread (the common synchronous case) completes directly.
//
// Per connection, every dispatched request gets a Slot in a ring, in request order. Completions
// fill slots in any order; the ready prefix of the ring is moved to the output buffer, so
// responses are always written in request order. Reading pauses while max_pipelined slots are
// open or too much output is unsent.
//
// Sockets are edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET registered once, never
// modified): `readable` remembers that unread data may remain, e.g. while reading is paused.
// A connection that must close after its last response half-closes (shutdown SHUT_WR) and then
// discards input until the peer closes or kLingerMs pass, so a client still sending (e.g. an
// oversized body after a 413) sees the response rather than a reset.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "http/http.h"
#include "http/request_parser.h"

namespace civitas::http {
namespace {

constexpr int kTickMs = 250;             // timer resolution for timeouts
constexpr size_t kReadChunk = 64 << 10;  // per-loop read buffer
constexpr int kMaxIovecs = 64;
constexpr size_t kLargeBody = 16 << 10;         // bodies this large are written without a copy
constexpr size_t kMaxUnsentOutput = 1 << 20;    // reading pauses above this much unsent output
constexpr size_t kMaxStreamBacklog = 8 << 20;   // a stream's client that lags more is dropped
constexpr size_t kMaxSpareCapacity = 64 << 10;  // output buffer capacity kept for reuse
constexpr int kLingerMs = 2000;
constexpr int kMaxEvents = 256;
constexpr int kAcceptBatch = 64;
constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnId = 2;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      break;
  }
  if (status < 300) return "OK";
  if (status < 400) return "Redirection";
  if (status < 500) return "Client Error";
  return "Server Error";
}

std::string_view ProblemType(int status) {
  switch (status) {
    case 400:
    case 408:
      return "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest";
    case 413:
    case 414:
    case 431:
      return "https://uri.etsi.org/ngsi-ld/errors/BadRequestData";
    case 501:
    case 505:
      return "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported";
    default:
      return "https://uri.etsi.org/ngsi-ld/errors/InternalError";
  }
}

Response ProblemResponse(int status, std::string_view detail) {
  Response r;
  r.status = status;
  r.AddHeader("Content-Type", "application/json");
  r.body = "{\"type\":";
  AppendJsonString(r.body, ProblemType(status));
  r.body += ",\"title\":";
  AppendJsonString(r.body, ReasonPhrase(status));
  r.body += ",\"detail\":";
  AppendJsonString(r.body, detail);
  r.body += '}';
  return r;
}

void AppendNumber(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

// Headers the server writes itself, and headers that could split the response.
bool SkipResponseHeader(const Header& h) {
  if (h.name.empty() ||
      h.name.find_first_of(std::string_view(":\r\n \t\0", 6)) != std::string::npos) {
    return true;
  }
  if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) return true;
  switch (h.name.size()) {
    case 4:
      return EqualsIgnoreCase(h.name, "date");
    case 10:
      return EqualsIgnoreCase(h.name, "connection") || EqualsIgnoreCase(h.name, "keep-alive");
    case 14:
      return EqualsIgnoreCase(h.name, "content-length");
    case 17:
      return EqualsIgnoreCase(h.name, "transfer-encoding");
    default:
      return false;
  }
}

struct ResponseFlags {
  bool head_request = false;       // write no body
  bool close = false;              // "Connection: close"
  bool keep_alive_header = false;  // HTTP/1.0 keep-alive: "Connection: keep-alive"
  bool streamed = false;           // the body follows as a stream: no Content-Length
};

// Appends the status line, headers and a small body to *out. A large body is moved to
// *large_body instead (written from its own buffer); *large_body is left alone otherwise.
void SerializeResponse(Response& r, ResponseFlags flags, std::string_view date_line,
                       std::string* out, std::string* large_body) {
  int status = r.status;
  if (status < 200 || status > 999) {
    Log(LogLevel::kError, "handler returned an invalid HTTP status",
        {{"status", std::to_string(status)}});
    r = ProblemResponse(500, "invalid response status");
    status = 500;
  }
  // 204 and 304 carry no body and (for 204, must not; for 304 need not) no Content-Length.
  bool bodiless_status = status == 204 || status == 304;
  out->append("HTTP/1.1 ");
  AppendNumber(*out, static_cast<uint64_t>(status));
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\n");
  for (const Header& h : r.headers) {
    if (SkipResponseHeader(h)) continue;
    out->append(h.name);
    out->append(": ");
    out->append(h.value);
    out->append("\r\n");
  }
  out->append(date_line);
  if (!bodiless_status && !flags.streamed) {
    out->append("Content-Length: ");
    AppendNumber(*out, r.body.size());
    out->append("\r\n");
  }
  if (flags.close) {
    out->append("Connection: close\r\n");
  } else if (flags.keep_alive_header) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
  if (flags.head_request || bodiless_status || r.body.empty()) return;
  if (r.body.size() >= kLargeBody) {
    *large_body = std::move(r.body);
  } else {
    out->append(r.body);
  }
}

// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" for the given second (locale-independent).
std::string FormatDateLine(time_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  tm g;
  gmtime_r(&t, &g);
  char buf[64];
  snprintf(buf, sizeof(buf), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", kDays[g.tm_wday],
           g.tm_mday, kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  return buf;
}

std::string FormatPeer(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "unix";
}

// Output waiting to be written: small pieces coalesce into one string; large bodies are kept as
// their own chunks. Written with sendmsg (gathered, MSG_NOSIGNAL).
class OutBuffer {
 public:
  enum class WriteResult { kDone, kBlocked, kError };

  bool empty() const { return chunks_.empty(); }
  size_t size() const {
    size_t n = 0;
    for (const std::string& c : chunks_) n += c.size();
    return n - offset_;
  }

  // The string to append small output to.
  std::string& Tail() {
    if (chunks_.empty() || tail_sealed_) {
      chunks_.push_back(std::move(spare_));
      spare_ = std::string();
      tail_sealed_ = false;
    }
    return chunks_.back();
  }
  void AppendOwned(std::string&& s) {
    if (s.empty()) return;
    chunks_.push_back(std::move(s));
    tail_sealed_ = true;
  }

  // Writes until done or the socket is full. *progress says whether any byte was written.
  WriteResult Write(int fd, bool* progress) {
    *progress = false;
    while (!chunks_.empty()) {
      if (chunks_.front().size() == offset_) {  // an empty tail left by Tail()
        PopFront();
        continue;
      }
      iovec iov[kMaxIovecs];
      int count = 0;
      size_t off = offset_;
      for (std::string& c : chunks_) {
        if (count == kMaxIovecs) break;
        if (c.size() == off) continue;
        iov[count].iov_base = c.data() + off;
        iov[count].iov_len = c.size() - off;
        ++count;
        off = 0;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(count);
      ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteResult::kBlocked;
        return WriteResult::kError;
      }
      *progress = true;
      Consume(static_cast<size_t>(n));
    }
    return WriteResult::kDone;
  }

  void Clear() {
    chunks_.clear();
    offset_ = 0;
    tail_sealed_ = false;
  }

 private:
  void Consume(size_t n) {
    while (n > 0) {
      size_t avail = chunks_.front().size() - offset_;
      if (n < avail) {
        offset_ += n;
        return;
      }
      n -= avail;
      PopFront();
    }
    while (!chunks_.empty() && chunks_.front().size() == offset_) PopFront();
  }
  void PopFront() {
    std::string& front = chunks_.front();
    if (front.capacity() <= kMaxSpareCapacity && front.capacity() > spare_.capacity()) {
      front.clear();
      spare_ = std::move(front);
    }
    chunks_.pop_front();
    offset_ = 0;
    if (chunks_.empty()) tail_sealed_ = false;
  }

  std::deque<std::string> chunks_;
  size_t offset_ = 0;  // bytes of chunks_.front() already written
  bool tail_sealed_ = false;
  std::string spare_;  // a cleared buffer kept for the next Tail()
};

// One response position on a connection, in request order.
struct Slot {
  uint64_t seq = 0;
  bool ready = false;
  ResponseFlags flags;
  std::string data;        // serialized response once ready (head and small body)
  std::string large_body;  // a large body, written after data
};

// A growable ring of slots; indices are positions from the front. Slots are reused in place,
// so their buffers keep their capacity.
class SlotRing {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  Slot& front() { return ring_[head_]; }
  Slot& at(size_t i) { return ring_[(head_ + i) & (ring_.size() - 1)]; }
  Slot& PushBack() {
    if (size_ == ring_.size()) Grow();
    Slot& s = ring_[(head_ + size_) & (ring_.size() - 1)];
    ++size_;
    s.ready = false;
    s.flags = ResponseFlags();
    s.data.clear();
    s.large_body.clear();
    return s;
  }
  void PopFront() {
    head_ = (head_ + 1) & (ring_.size() - 1);
    --size_;
  }

 private:
  void Grow() {
    std::vector<Slot> bigger(ring_.empty() ? 4 : ring_.size() * 2);
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move(at(i));
    ring_ = std::move(bigger);
    head_ = 0;
  }
  std::vector<Slot> ring_;  // size is zero or a power of two
  size_t head_ = 0;
  size_t size_ = 0;
};

struct Conn {
  Conn(uint64_t id_in, int fd_in, std::string peer_in, const ParserLimits& limits)
      : id(id_in), fd(fd_in), peer(std::move(peer_in)), parser(limits) {}

  uint64_t id;
  int fd;
  std::string peer;
  RequestParser parser;
  SlotRing slots;
  uint64_t next_seq = 0;  // sequence number of the next slot; the front slot is next_seq - size
  OutBuffer out;
  std::string stash;  // bytes read but not parsed because reading paused
  int64_t last_activity_ms = 0;
  int64_t request_start_ms = 0;  // when the first byte of the current partial request arrived
  int64_t linger_deadline_ms = 0;
  bool readable = false;  // edge-triggered: unread input may remain
  bool rdhup = false;     // the peer has half-closed; read until EOF
  bool read_eof = false;
  bool no_more_requests = false;  // a closing response or a protocol error is queued
  bool close_when_done = false;   // close once every slot is written
  bool lingering = false;
  bool dirty = false;
  bool dead = false;
  // A streamed response: its Stream (closed when the connection dies), and stream bytes that
  // arrived before the response head left its slot.
  std::shared_ptr<class StreamImpl> stream;
  std::string stream_backlog;
};

struct alignas(64) LoopStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> protocol_errors{0};
};

struct Completion {
  uint64_t conn_id;
  uint64_t seq;
  Response response;
  enum class Kind { kResponse, kStreamData, kStreamClose } kind = Kind::kResponse;
  std::string data;  // kStreamData
};

class Loop;

class StreamImpl : public Stream {
 public:
  StreamImpl(std::weak_ptr<Loop> loop, uint64_t conn_id)
      : loop_(std::move(loop)), conn_id_(conn_id) {}
  bool Write(std::string data) override;
  void Close() override;
  bool closed() const override { return closed_.load(std::memory_order_acquire); }
  void MarkClosed() { closed_.store(true, std::memory_order_release); }

 private:
  std::weak_ptr<Loop> loop_;
  uint64_t conn_id_;
  std::atomic<bool> closed_{false};
};

// The loop whose thread this is, so that a Responder called on its own loop's thread completes
// directly instead of going through the queue.
thread_local Loop* tls_current_loop = nullptr;

class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(const ServerOptions& options, const Handler& handler)
      : options_(options),
        handler_(handler),
        limits_{options.max_body_bytes, options.max_header_bytes, options.max_target_bytes},
        max_pipelined_(std::max<size_t>(options.max_pipelined, 1)) {}

  ~Loop() {
    if (listen_fd_ >= 0) close(listen_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
  }

  // Takes ownership of listen_fd. Returns false with *error on failure.
  bool Init(int listen_fd, std::string* error) {
    listen_fd_ = listen_fd;
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
      *error = std::string("epoll/eventfd: ") + strerror(errno);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0 || !WatchListener()) {
      *error = std::string("epoll_ctl: ") + strerror(errno);
      return false;
    }
    return true;
  }

  void Run() {
    tls_current_loop = this;
    read_buf_.reset(new char[kReadChunk]);
    epoll_event events[kMaxEvents];
    now_ = NowMs();
    last_scan_ms_ = now_;
    UpdateDate();
    while (true) {
      int timeout = kTickMs;
      if (draining_) {
        timeout = static_cast<int>(std::clamp<int64_t>(drain_deadline_ms_ - now_, 0, kTickMs));
      }
      int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
      if (n < 0 && errno != EINTR) {
        Log(LogLevel::kError, "epoll_wait failed", {{"error", strerror(errno)}});
        break;
      }
      now_ = NowMs();
      UpdateDate();
      for (int i = 0; i < n; ++i) {
        uint64_t id = events[i].data.u64;
        if (id == kListenerId) {
          Accept();
        } else if (id == kWakeId) {
          OnWake();
        } else {
          auto it = conns_.find(id);
          if (it != conns_.end()) OnConnEvent(it->second.get(), events[i].events);
        }
      }
      ProcessDirty();
      Reap();
      if (now_ - last_scan_ms_ >= kTickMs) {
        last_scan_ms_ = now_;
        Scan();
        ProcessDirty();
        Reap();
      }
      if (draining_ && (now_ >= drain_deadline_ms_ || OnlyLingeringLeft())) break;
    }
    for (auto& [id, c] : conns_) Kill(c.get());
    Reap();
    CloseListener();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      queue_.clear();
    }
    tls_current_loop = nullptr;
  }

  // Thread-safe. Makes the loop stop accepting, finish what is in flight, and exit by drain_ms.
  void RequestStop(int drain_ms) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stop_requested_ = true;
      stop_drain_ms_ = drain_ms;
    }
    Wake();
  }

  // Thread-safe; the Responder's body.
  void Complete(uint64_t conn_id, uint64_t seq, Response&& response) {
    if (tls_current_loop == this) {
      CompleteOnLoop(conn_id, seq, std::move(response));
      return;
    }
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      was_empty = queue_.empty();
      queue_.push_back(Completion{conn_id, seq, std::move(response)});
    }
    if (was_empty) Wake();
  }

  // Thread-safe: stream bytes (or the end of the stream) for a connection.
  void PostStream(uint64_t conn_id, Completion::Kind kind, std::string data) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      was_empty = queue_.empty();
      Completion c{conn_id, 0, Response(), kind, std::move(data)};
      queue_.push_back(std::move(c));
    }
    if (was_empty) Wake();
  }

  const LoopStats& stats() const { return stats_; }

 private:
  bool WatchListener() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerId;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
  }

  void CloseListener() {
    if (listen_fd_ < 0) return;
    close(listen_fd_);  // also removes it from the epoll set
    listen_fd_ = -1;
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t rc = write(wake_fd_, &one, sizeof(one));
    (void)rc;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
  }

  void UpdateDate() {
    time_t t = time(nullptr);
    if (t != date_second_) {
      date_second_ = t;
      date_line_ = FormatDateLine(t);
    }
  }

  void OnWake() {
    uint64_t value;
    ssize_t rc = read(wake_fd_, &value, sizeof(value));
    (void)rc;
    bool stop = false;
    int drain_ms = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::swap(queue_, work_);
      stop = std::exchange(stop_requested_, false);
      drain_ms = stop_drain_ms_;
    }
    for (Completion& c : work_) {
      if (c.kind == Completion::Kind::kResponse) {
        CompleteOnLoop(c.conn_id, c.seq, std::move(c.response));
      } else {
        StreamOnLoop(c.conn_id, c.kind == Completion::Kind::kStreamClose, std::move(c.data));
      }
    }
    work_.clear();
    if (stop && !draining_) BeginDrain(drain_ms);
  }

  void BeginDrain(int drain_ms) {
    draining_ = true;
    drain_deadline_ms_ = now_ + std::max(drain_ms, 0);
    CloseListener();
    for (auto& [id, conn] : conns_) {
      Conn* c = conn.get();
      if (c->dead || c->lingering) continue;
      c->no_more_requests = true;
      c->stash.clear();
      if (c->stream) c->close_when_done = true;
      if (c->slots.empty()) MarkDirty(c);  // nothing in flight: close once output is written
    }
  }

  bool OnlyLingeringLeft() const {
    for (const auto& [id, c] : conns_) {
      if (!c->dead && !c->lingering) return false;
    }
    return true;
  }

  void Accept() {
    if (listen_fd_ < 0) return;  // closed earlier in this batch of events
    for (int i = 0; i < kAcceptBatch; ++i) {
      sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      int fd =
          accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        // Out of descriptors or memory: stop polling the listener for a tick, or the
        // level-triggered listener would spin.
        Log(LogLevel::kWarn, "accept failed", {{"error", strerror(errno)}});
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        accept_paused_ = true;
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      uint64_t id = next_conn_id_++;
      auto conn = std::make_unique<Conn>(id, fd, FormatPeer(ss), limits_);
      conn->last_activity_ms = now_;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        continue;
      }
      stats_.accepted.fetch_add(1, std::memory_order_relaxed);
      conns_.emplace(id, std::move(conn));
    }
  }

  void OnConnEvent(Conn* c, uint32_t events) {
    if (c->dead) return;
    if (events & EPOLLERR) {
      Kill(c);
      return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP)) c->rdhup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
      c->readable = true;
      if (c->lingering) {
        DiscardInput(c);
      } else {
        ReadInput(c);
      }
    }
    if (!c->dead && (events & EPOLLOUT) && !c->out.empty()) MarkDirty(c);
  }

  bool Paused(Conn* c) const {
    return c->slots.size() >= max_pipelined_ || c->out.size() > kMaxUnsentOutput;
  }

  void ReadInput(Conn* c) {
    DrainStash(c);
    if (!c->stash.empty()) return;  // still paused
    while (c->readable && !c->dead && !c->no_more_requests && !c->read_eof && !Paused(c)) {
      ssize_t n = recv(c->fd, read_buf_.get(), kReadChunk, 0);
      if (n > 0) {
        c->last_activity_ms = now_;
        // A short read drained the socket; edge-triggered epoll reports the next arrival.
        // After a half-close, read on until recv() returns 0.
        if (static_cast<size_t>(n) < kReadChunk && !c->rdhup) c->readable = false;
        Consume(c, read_buf_.get(), static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        c->readable = false;
        OnEof(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->readable = false;
        return;
      }
      Kill(c);  // ECONNRESET and friends: whatever is in flight is dropped
      return;
    }
  }

  void OnEof(Conn* c) {
    c->read_eof = true;
    c->no_more_requests = true;
    c->close_when_done = true;
    c->stash.clear();
    c->request_start_ms = 0;
    // A partial request cannot be answered; earlier responses are still written.
    MarkDirty(c);
  }

  // Feeds input to the parser and dispatches complete requests. Input arriving while reading
  // is paused is kept in c->stash.
  void Consume(Conn* c, const char* data, size_t len) {
    while (len > 0 && !c->no_more_requests && !c->dead) {
      if (Paused(c)) {
        c->stash.append(data, len);
        return;
      }
      size_t used = c->parser.Feed(std::string_view(data, len));
      data += used;
      len -= used;
      if (c->request_start_ms == 0 && c->parser.started()) c->request_start_ms = now_;
      switch (c->parser.state()) {
        case RequestParser::State::kComplete:
          Dispatch(c);
          break;
        case RequestParser::State::kError:
          QueueError(c, c->parser.error_status(), c->parser.error_detail());
          return;
        case RequestParser::State::kIncomplete:
          if (c->parser.TakeContinueExpected()) QueueRaw(c, "HTTP/1.1 100 Continue\r\n\r\n");
          break;
      }
    }
  }

  void Dispatch(Conn* c) {
    bool keep_alive = c->parser.keep_alive() && !draining_;
    bool http10 = c->parser.http_minor() == 0;
    Request request = c->parser.TakeRequest();
    request.peer = c->peer;
    c->request_start_ms = 0;
    Slot& slot = c->slots.PushBack();
    uint64_t seq = c->next_seq++;
    slot.seq = seq;
    slot.flags.head_request = request.method == "HEAD";
    slot.flags.close = !keep_alive;
    slot.flags.keep_alive_header = keep_alive && http10;
    if (!keep_alive) c->no_more_requests = true;
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    uint64_t conn_id = c->id;
    // `slot` and even `c` may not be used after this call: the handler may respond (and the
    // slot be recycled) before it returns.
    try {
      handler_(std::move(request), [loop = shared_from_this(), conn_id, seq](Response response) {
        loop->Complete(conn_id, seq, std::move(response));
      });
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "request handler threw", {{"error", e.what()}});
      CompleteOnLoop(conn_id, seq, ProblemResponse(500, "internal error"));
    } catch (...) {
      Log(LogLevel::kError, "request handler threw");
      CompleteOnLoop(conn_id, seq, ProblemResponse(500, "internal error"));
    }
  }

  // Queues a protocol-error response after whatever is in flight and closes after it.
  void QueueError(Conn* c, int status, std::string_view detail) {
    stats_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kDebug, "HTTP protocol error",
        {{"peer", c->peer}, {"status", std::to_string(status)}, {"detail", detail}});
    c->no_more_requests = true;
    c->close_when_done = true;
    c->request_start_ms = 0;
    c->stash.clear();
    Response r = ProblemResponse(status, detail);
    ResponseFlags flags;
    flags.close = true;
    if (c->slots.empty()) {
      std::string large;
      SerializeResponse(r, flags, date_line_, &c->out.Tail(), &large);
      c->out.AppendOwned(std::move(large));
    } else {
      Slot& s = c->slots.PushBack();
      s.seq = c->next_seq++;
      s.ready = true;
      s.flags = flags;
      SerializeResponse(r, flags, date_line_, &s.data, &s.large_body);
    }
    MarkDirty(c);
  }

  // Queues bytes that are not a response to a request (an interim "100 Continue").
  void QueueRaw(Conn* c, std::string_view bytes) {
    if (c->slots.empty()) {
      c->out.Tail().append(bytes);
    } else {
      Slot& s = c->slots.PushBack();
      s.seq = c->next_seq++;
      s.ready = true;
      s.data.assign(bytes);
    }
    MarkDirty(c);
  }

  void CompleteOnLoop(uint64_t conn_id, uint64_t seq, Response&& response) {
    auto it = conns_.find(conn_id);
    if (it == conns_.end()) return;  // the connection has gone: drop the response
    Conn* c = it->second.get();
    if (c->dead || c->slots.empty()) return;
    uint64_t first = c->next_seq - c->slots.size();
    if (seq < first || seq >= c->next_seq) return;  // already answered
    Slot& slot = c->slots.at(seq - first);
    if (slot.ready) return;  // a second call for the same request
    slot.ready = true;
    std::function<void(std::shared_ptr<Stream>)> on_stream = std::move(response.on_stream);
    if (on_stream) {
      // The last response on this connection; its body follows as the stream's bytes.
      slot.flags.close = true;
      slot.flags.streamed = true;
      c->no_more_requests = true;
      c->stash.clear();
      c->stream = std::make_shared<StreamImpl>(weak_from_this(), c->id);
    }
    // While draining, the last response says the connection is closing.
    if (draining_ && seq + 1 == c->next_seq) slot.flags.close = true;
    if (slot.flags.close && !on_stream) c->close_when_done = true;
    if (seq == first) {
      std::string large;
      SerializeResponse(response, slot.flags, date_line_, &c->out.Tail(), &large);
      c->out.AppendOwned(std::move(large));
      c->slots.PopFront();
      MoveReadySlots(c);
    } else {
      SerializeResponse(response, slot.flags, date_line_, &slot.data, &slot.large_body);
    }
    MarkDirty(c);
    if (on_stream) {
      std::shared_ptr<Stream> stream = c->stream;
      try {
        on_stream(std::move(stream));
      } catch (...) {
        Log(LogLevel::kError, "stream handler threw");
      }
    }
  }

  void StreamOnLoop(uint64_t conn_id, bool close, std::string data) {
    auto it = conns_.find(conn_id);
    if (it == conns_.end()) return;
    Conn* c = it->second.get();
    if (c->dead || !c->stream || c->lingering) return;
    if (close) {
      c->close_when_done = true;
    } else if (!c->slots.empty()) {
      c->stream_backlog += data;  // the head is still waiting for earlier responses
    } else {
      c->out.Tail().append(data);
      if (c->out.size() > kMaxStreamBacklog) {
        Kill(c);  // the client stopped reading
        return;
      }
    }
    MarkDirty(c);
  }

  // Moves the ready prefix of the slot ring to the output buffer.
  void MoveReadySlots(Conn* c) {
    while (!c->slots.empty() && c->slots.front().ready) {
      Slot& s = c->slots.front();
      c->out.Tail().append(s.data);
      if (!s.large_body.empty()) c->out.AppendOwned(std::move(s.large_body));
      c->slots.PopFront();
    }
    if (c->slots.empty() && !c->stream_backlog.empty()) {
      c->out.Tail().append(c->stream_backlog);
      c->stream_backlog.clear();
    }
  }

  void MarkDirty(Conn* c) {
    if (c->dirty || c->dead) return;
    c->dirty = true;
    dirty_.push_back(c);
  }

  // Writes output, closes connections that are done, and resumes paused reading. Handling one
  // connection can make more dirty (synchronous responses), so the list is walked by index.
  void ProcessDirty() {
    for (size_t i = 0; i < dirty_.size(); ++i) {
      Conn* c = dirty_[i];
      c->dirty = false;
      if (!c->dead) Flush(c);
    }
    dirty_.clear();
  }

  void Flush(Conn* c) {
    if (!c->out.empty()) {
      bool progress = false;
      OutBuffer::WriteResult r = c->out.Write(c->fd, &progress);
      if (progress) c->last_activity_ms = now_;
      if (r == OutBuffer::WriteResult::kError) {
        Kill(c);
        return;
      }
    }
    if (c->out.empty() && c->slots.empty() && !c->lingering && (c->close_when_done || draining_)) {
      if (c->read_eof) {
        Kill(c);
      } else {
        StartLinger(c);
      }
      return;
    }
    if (c->lingering) return;
    // Resume reading if it was paused and is no longer. Whatever this dispatches marks the
    // connection dirty again if there is more to write.
    if (c->readable || !c->stash.empty()) ReadInput(c);
  }

  // Parses input stashed while reading was paused, before any newer input.
  void DrainStash(Conn* c) {
    if (c->stash.empty() || Paused(c) || c->no_more_requests) return;
    std::string pending = std::move(c->stash);
    c->stash.clear();
    Consume(c, pending.data(), pending.size());
  }

  void StartLinger(Conn* c) {
    if (c->stream) c->stream->MarkClosed();
    c->lingering = true;
    c->linger_deadline_ms = now_ + kLingerMs;
    c->stash.clear();
    shutdown(c->fd, SHUT_WR);
    c->readable = true;
    DiscardInput(c);
  }

  void DiscardInput(Conn* c) {
    while (c->readable && !c->dead) {
      ssize_t n = recv(c->fd, read_buf_.get(), kReadChunk, 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->readable = false;
        return;
      }
      Kill(c);  // EOF or error
    }
  }

  void Kill(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    if (c->stream) c->stream->MarkClosed();
    close(c->fd);  // also removes it from the epoll set
    c->fd = -1;
    stats_.closed.fetch_add(1, std::memory_order_relaxed);
    reap_.push_back(c->id);
  }

  void Reap() {
    for (uint64_t id : reap_) conns_.erase(id);
    reap_.clear();
  }

  // Timeouts, checked every tick.
  void Scan() {
    if (accept_paused_ && listen_fd_ >= 0 && !draining_) {
      accept_paused_ = !WatchListener();
    }
    for (auto& [id, conn] : conns_) {
      Conn* c = conn.get();
      if (c->dead) continue;
      if (c->lingering) {
        if (now_ >= c->linger_deadline_ms) Kill(c);
        continue;
      }
      if (!c->no_more_requests && c->request_start_ms != 0 && !Paused(c) &&
          now_ - c->request_start_ms >= options_.read_timeout_ms) {
        QueueError(c, 408,
                   "the request did not arrive within " + std::to_string(options_.read_timeout_ms) +
                       " ms");
        continue;
      }
      if (c->stream && !c->close_when_done) continue;  // the writer sends heartbeats
      if (now_ - c->last_activity_ms < options_.idle_timeout_ms) continue;
      // No byte moved either way for idle_timeout_ms. Close unless a handler is still working
      // or a request is arriving (the read timeout covers that), except that a peer which
      // stopped reading our output is closed whatever else is pending.
      bool waiting_for_handler = !c->slots.empty();  // the ready prefix is never kept
      bool partial_request = c->request_start_ms != 0;
      if (!c->out.empty() || (!waiting_for_handler && !partial_request)) Kill(c);
    }
  }

  const ServerOptions& options_;
  const Handler& handler_;
  const ParserLimits limits_;
  const size_t max_pipelined_;

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool accept_paused_ = false;

  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_id_ = kFirstConnId;
  std::vector<Conn*> dirty_;
  std::vector<uint64_t> reap_;
  std::unique_ptr<char[]> read_buf_;
  int64_t now_ = 0;
  int64_t last_scan_ms_ = 0;
  time_t date_second_ = 0;
  std::string date_line_;
  bool draining_ = false;
  int64_t drain_deadline_ms_ = 0;

  std::vector<Completion> work_;  // swapped with queue_, so both keep their capacity

  std::mutex mu_;  // guards the members below
  std::vector<Completion> queue_;
  bool stop_requested_ = false;
  int stop_drain_ms_ = 0;
  bool stopped_ = false;

  LoopStats stats_;
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  bool Start(std::string* error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) {
      *error = "server already started";
      return false;
    }
    int threads = options_.threads > 0 ? options_.threads
                                       : static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(threads, 1);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port_str = std::to_string(options_.port);
    int rc = getaddrinfo(options_.bind.empty() ? nullptr : options_.bind.c_str(), port_str.c_str(),
                         &hints, &res);
    if (rc != 0 || res == nullptr) {
      *error = "cannot resolve bind address '" + options_.bind + "': " + gai_strerror(rc);
      return false;
    }
    sockaddr_storage addr{};
    socklen_t addr_len = static_cast<socklen_t>(res->ai_addrlen);
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    int family = res->ai_family;
    freeaddrinfo(res);

    std::vector<int> fds;
    uint16_t port = options_.port;
    auto fail = [&](const std::string& what) {
      *error = what + " " + options_.bind + ":" + std::to_string(port) + ": " + strerror(errno);
      for (int fd : fds) close(fd);
      return false;
    };
    // SO_REUSEPORT would let a second server on the same port silently share the traffic with
    // this one. A probe bound without it fails if anyone listens there already.
    if (port != 0) {
      int probe = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (probe < 0) return fail("socket");
      int one = 1;
      setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      bool taken = bind(probe, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0;
      int saved = errno;
      close(probe);
      if (taken) {
        errno = saved;
        return fail("bind");
      }
    }
    for (int i = 0; i < threads; ++i) {
      int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return fail("socket");
      fds.push_back(fd);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        return fail("SO_REUSEPORT");
      }
      // With port 0 the first socket picks the port and the others join it.
      if (family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
      } else {
        reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
      }
      if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) return fail("bind");
      if (listen(fd, SOMAXCONN) != 0) return fail("listen");
      if (port == 0) {
        sockaddr_storage bound{};
        socklen_t len = sizeof(bound);
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
          return fail("getsockname");
        }
        port =
            ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
      }
    }

    for (size_t i = 0; i < fds.size(); ++i) {
      auto loop = std::make_shared<Loop>(options_, handler_);
      int fd = fds[i];
      fds[i] = -1;
      if (!loop->Init(fd, error)) {
        for (int rest : fds) {
          if (rest >= 0) close(rest);
        }
        loops_.clear();
        return false;
      }
      loops_.push_back(std::move(loop));
    }
    for (auto& loop : loops_) {
      threads_.emplace_back([l = loop.get()] { l->Run(); });
    }
    port_.store(port, std::memory_order_release);
    started_ = true;
    running_.store(true, std::memory_order_release);
    return true;
  }

  uint16_t port() const { return port_.load(std::memory_order_acquire); }

  void Stop(int drain_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    for (auto& loop : loops_) loop->RequestStop(drain_ms);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  Stats stats() const {
    Stats s;
    if (!running_.load(std::memory_order_acquire)) return s;
    for (const auto& loop : loops_) {
      const LoopStats& ls = loop->stats();
      uint64_t accepted = ls.accepted.load(std::memory_order_relaxed);
      uint64_t closed = ls.closed.load(std::memory_order_relaxed);
      s.connections_accepted += accepted;
      s.connections_open += accepted >= closed ? accepted - closed : 0;
      s.requests += ls.requests.load(std::memory_order_relaxed);
      s.protocol_errors += ls.protocol_errors.load(std::memory_order_relaxed);
    }
    return s;
  }

 private:
  // Loops keep references to these two, so they never change after construction.
  const ServerOptions options_;
  const Handler handler_;

  std::mutex mu_;  // serializes Start and Stop
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint16_t> port_{0};
  // Set once loops_ is complete; loops_ never changes afterwards, so stats() reads it unlocked.
  std::atomic<bool> running_{false};
  // Shared with the Responders that are still around, which may outlive the server: a late
  // completion then finds its loop stopped and is dropped.
  std::vector<std::shared_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() { Stop(); }

bool StreamImpl::Write(std::string data) {
  if (closed()) return false;
  auto loop = loop_.lock();
  if (!loop) {
    MarkClosed();
    return false;
  }
  loop->PostStream(conn_id_, Completion::Kind::kStreamData, std::move(data));
  return true;
}

void StreamImpl::Close() {
  if (auto loop = loop_.lock()) loop->PostStream(conn_id_, Completion::Kind::kStreamClose, {});
}

bool Server::Start(std::string* error) { return impl_->Start(error); }

uint16_t Server::port() const { return impl_->port(); }

void Server::Stop(int drain_ms) { impl_->Stop(drain_ms); }

Server::Stats Server::stats() const { return impl_->stats(); }

}  // namespace civitas::http
