#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "http/http.h"

namespace civitas::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct ParsedResponse {
  int status = 0;
  std::vector<Header> headers;  // names lower-cased
  std::string body;

  const std::string* Find(std::string_view name) const {
    for (const Header& h : headers) {
      if (h.name == name) return &h.value;
    }
    return nullptr;
  }
  int Count(std::string_view name) const {
    int n = 0;
    for (const Header& h : headers) n += h.name == name;
    return n;
  }
};

// A raw-socket client, to control exactly which bytes go out and to read exactly what comes
// back.
class TestClient {
 public:
  explicit TestClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TestClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  uint16_t local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response. Bodies are framed by Content-Length (absent: no body unless
  // until_close). With head_request, no body is read whatever Content-Length says.
  bool ReadResponse(ParsedResponse* r, int timeout_ms = 5000, bool head_request = false) {
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return false;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    size_t eol = head.find("\r\n");
    std::string status_line = head.substr(0, eol);
    if (status_line.size() < 12 || status_line.compare(0, 9, "HTTP/1.1 ") != 0) return false;
    r->status = std::stoi(status_line.substr(9, 3));
    r->headers.clear();
    r->body.clear();
    while (eol != std::string::npos) {
      size_t start = eol + 2;
      eol = head.find("\r\n", start);
      std::string line =
          head.substr(start, eol == std::string::npos ? std::string::npos : eol - start);
      size_t colon = line.find(':');
      if (colon == std::string::npos) return false;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r->headers.push_back({name, value});
    }
    if (head_request || r->status < 200) return true;
    const std::string* cl = r->Find("content-length");
    size_t length = cl != nullptr ? std::stoul(*cl) : 0;
    while (buf_.size() < length) {
      if (!Fill(deadline)) return false;
    }
    r->body = buf_.substr(0, length);
    buf_.erase(0, length);
    return true;
  }

  // Reads exactly n raw bytes.
  bool ReadRaw(size_t n, std::string* out, int timeout_ms = 5000) {
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    while (buf_.size() < n) {
      if (!Fill(deadline)) return false;
    }
    *out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }

  // True if the server closes the connection (EOF or reset) within timeout_ms, with no
  // further bytes arriving first.
  bool WaitClosed(int timeout_ms) {
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    while (true) {
      if (!buf_.empty()) return false;
      if (Clock::now() >= deadline) return false;
      if (!Fill(deadline)) return eof_;
    }
  }

  // Reads everything until the server closes; false on timeout.
  bool ReadUntilClosed(int timeout_ms) {
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    while (!eof_) {
      if (Clock::now() >= deadline) return false;
      Fill(deadline);
    }
    return true;
  }

  // No data within timeout_ms and the connection still open.
  bool QuietFor(int timeout_ms) {
    auto deadline = Clock::now() + milliseconds(timeout_ms);
    bool got = Fill(deadline);
    return !got && !eof_ && buf_.empty();
  }

  // Closes with a reset (SO_LINGER 0).
  void Abort() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  void Close() {
    close(fd_);
    fd_ = -1;
  }

  const std::string& buffered() const { return buf_; }

 private:
  bool Fill(Clock::time_point deadline) {
    while (true) {
      int left = static_cast<int>(
          std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int rc = poll(&p, 1, left);
      if (rc <= 0) return false;
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      eof_ = true;  // 0 or ECONNRESET
      return false;
    }
  }

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

// Echoes the method, path, query and body; sets X-Peer to the client address.
void Echo(Request&& req, Responder respond) {
  Response r;
  r.AddHeader("Content-Type", "text/plain");
  r.AddHeader("X-Method", req.method);
  r.AddHeader("X-Path", req.path);
  r.AddHeader("X-Query", req.query);
  r.AddHeader("X-Peer", req.peer);
  const std::string* ua = req.FindHeader("user-agent");
  if (ua != nullptr) r.AddHeader("X-UA", *ua);
  r.body = req.body.empty() ? "hello " + req.path : req.body;
  respond(std::move(r));
}

ServerOptions TestOptions() {
  ServerOptions o;
  o.bind = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  return o;
}

std::unique_ptr<Server> StartServer(ServerOptions options, Handler handler) {
  auto server = std::make_unique<Server>(std::move(options), std::move(handler));
  std::string error;
  EXPECT_TRUE(server->Start(&error)) << error;
  EXPECT_NE(server->port(), 0);
  return server;
}

// Waits until cond() holds or the timeout passes.
template <typename Cond>
bool Eventually(Cond cond, int timeout_ms = 5000) {
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return cond();
}

// Holds responders for a test to complete later, from any thread.
class Parked {
 public:
  void Add(Request&& req, Responder respond) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back({std::move(req), std::move(respond)});
    cv_.notify_all();
  }
  bool WaitFor(size_t n, int timeout_ms = 5000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, milliseconds(timeout_ms), [&] { return items_.size() >= n; });
  }
  std::vector<std::pair<Request, Responder>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(items_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<Request, Responder>> items_;
};

TEST(ServerTest, StartsOnPortZeroAndStopsTwice) {
  auto server = StartServer(TestOptions(), Echo);
  std::string error;
  EXPECT_FALSE(server->Start(&error)) << "second Start must fail";
  server->Stop();
  server->Stop();
  TestClient c(server->port());
  EXPECT_FALSE(c.connected()) << "listeners are closed after Stop";
}

TEST(ServerTest, BindFailureIsReported) {
  ServerOptions o = TestOptions();
  o.bind = "203.0.113.77";  // TEST-NET-3: not a local address
  Server server(o, Echo);
  std::string error;
  EXPECT_FALSE(server.Start(&error));
  EXPECT_NE(error.find("bind"), std::string::npos) << error;
}

TEST(ServerTest, SecondServerOnTheSamePortIsRefused) {
  // SO_REUSEPORT must not let two servers share one port without anyone noticing.
  auto first = StartServer(TestOptions(), Echo);
  ServerOptions o = TestOptions();
  o.port = first->port();
  Server second(o, Echo);
  std::string error;
  EXPECT_FALSE(second.Start(&error));
  EXPECT_NE(error.find("bind"), std::string::npos) << error;
}

TEST(ServerTest, KeepAliveReusesOneConnection) {
  auto server = StartServer(TestOptions(), Echo);
  TestClient c(server->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 5; ++i) {
    std::string path = "/r" + std::to_string(i);
    ASSERT_TRUE(c.Send(Get(path + "?a=1", "User-Agent: t\r\n")));
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello " + path);
    EXPECT_EQ(*r.Find("x-path"), path);
    EXPECT_EQ(*r.Find("x-query"), "a=1");
    EXPECT_EQ(*r.Find("x-ua"), "t");
    EXPECT_EQ(*r.Find("x-peer"), "127.0.0.1:" + std::to_string(c.local_port()));
    EXPECT_EQ(*r.Find("content-length"), std::to_string(r.body.size()));
    ASSERT_NE(r.Find("date"), nullptr);
    EXPECT_TRUE(r.Find("date")->ends_with(" GMT"));
    EXPECT_EQ(r.Find("connection"), nullptr);
  }
  Server::Stats s = server->stats();
  EXPECT_EQ(s.connections_accepted, 1u);
  EXPECT_EQ(s.connections_open, 1u);
  EXPECT_EQ(s.requests, 5u);
  EXPECT_EQ(s.protocol_errors, 0u);
  c.Close();
  EXPECT_TRUE(Eventually([&] { return server->stats().connections_open == 0; }));
}

TEST(ServerTest, PipelinedRequestsCompletedOutOfOrderAnswerInOrder) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  TestClient c(server->port());
  constexpr int kRequests = 50;
  std::string batch;
  for (int i = 0; i < kRequests; ++i) {
    if (i % 3 == 1) {
      std::string body = "body" + std::to_string(i);
      batch += "POST /p" + std::to_string(i) +
               " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    } else {
      batch += Get("/p" + std::to_string(i));
    }
  }
  ASSERT_TRUE(c.Send(batch));  // one write
  ASSERT_TRUE(parked.WaitFor(kRequests));
  auto items = parked.Take();
  ASSERT_EQ(items.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(items[i].first.path, "/p" + std::to_string(i));
  // Complete in a shuffled order from another thread.
  std::vector<int> order(kRequests);
  for (int i = 0; i < kRequests; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  std::thread completer([&] {
    for (int i : order) {
      Response r;
      r.body = "answer " + items[i].first.path + " " + items[i].first.body;
      items[i].second(std::move(r));
      if (i % 7 == 0) std::this_thread::sleep_for(milliseconds(1));
    }
  });
  for (int i = 0; i < kRequests; ++i) {
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << i;
    std::string expected_body = i % 3 == 1 ? "body" + std::to_string(i) : "";
    EXPECT_EQ(r.body, "answer /p" + std::to_string(i) + " " + expected_body);
  }
  completer.join();
  EXPECT_EQ(server->stats().requests, static_cast<uint64_t>(kRequests));
}

TEST(ServerTest, PipelineLimitPausesAndResumesReading) {
  ServerOptions o = TestOptions();
  o.max_pipelined = 4;
  std::atomic<int> max_in_flight{0};
  std::atomic<int> in_flight{0};
  std::mutex mu;
  std::vector<Responder> pending;
  auto server = StartServer(o, [&](Request&& req, Responder respond) {
    int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::lock_guard<std::mutex> lock(mu);
    pending.push_back([respond = std::move(respond), path = req.path](Response r) {
      r.body = path;
      respond(std::move(r));
    });
  });
  std::atomic<bool> done{false};
  std::thread completer([&] {
    while (!done) {
      std::vector<Responder> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        batch.swap(pending);
      }
      std::reverse(batch.begin(), batch.end());
      for (Responder& r : batch) {
        --in_flight;
        r(Response{});
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  TestClient c(server->port());
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += Get("/q" + std::to_string(i));
  ASSERT_TRUE(c.Send(batch));
  for (int i = 0; i < 200; ++i) {
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << i;
    EXPECT_EQ(r.body, "/q" + std::to_string(i));
  }
  done = true;
  completer.join();
  EXPECT_LE(max_in_flight.load(), 4);
}

TEST(ServerTest, HeadSendsNoBody) {
  auto server = StartServer(TestOptions(), Echo);
  TestClient c(server->port());
  ASSERT_TRUE(c.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r, 5000, /*head_request=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(*r.Find("content-length"), std::to_string(std::string("hello /h").size()));
  // The next response must follow immediately: no body bytes in between.
  ASSERT_TRUE(c.Send(Get("/after")));
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello /after");
}

TEST(ServerTest, ExpectContinue) {
  auto server = StartServer(TestOptions(), Echo);
  TestClient c(server->port());
  ASSERT_TRUE(
      c.Send("POST /c HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 7\r\n\r\n"));
  std::string interim;
  ASSERT_TRUE(c.ReadRaw(25, &interim));
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("payload"));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "payload");
}

TEST(ServerTest, ExpectContinueWithOversizedBodyGets413) {
  ServerOptions o = TestOptions();
  o.max_body_bytes = 10;
  auto server = StartServer(o, Echo);
  TestClient c(server->port());
  ASSERT_TRUE(
      c.Send("POST /c HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 413) << "no 100 Continue for a body that will be refused";
}

TEST(ServerTest, BodyTooLargeGets413AndClose) {
  ServerOptions o = TestOptions();
  o.max_body_bytes = 100;
  auto server = StartServer(o, Echo);
  TestClient c(server->port());
  // The client keeps sending the body it announced; it must still see the 413.
  ASSERT_TRUE(c.Send("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(50000, 'x')));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(*r.Find("connection"), "close");
  EXPECT_EQ(*r.Find("content-type"), "application/json");
  Result<Json> body = ParseJson(r.body);
  ASSERT_TRUE(body.ok()) << r.body;
  EXPECT_EQ(body->GetString("type"), "https://uri.etsi.org/ngsi-ld/errors/BadRequestData");
  EXPECT_EQ(body->GetString("title"), "Content Too Large");
  EXPECT_FALSE(body->GetString("detail").empty());
  c.Send(std::string(50000, 'x'));
  EXPECT_TRUE(c.WaitClosed(5000));
  EXPECT_EQ(server->stats().protocol_errors, 1u);
  EXPECT_EQ(server->stats().requests, 0u);
}

TEST(ServerTest, ProtocolErrorsAnsweredAndClosed) {
  ServerOptions o = TestOptions();
  o.max_target_bytes = 64;
  o.max_header_bytes = 256;
  auto server = StartServer(o, Echo);
  struct Case {
    std::string request;
    int status;
    std::string_view type;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 400, "InvalidRequest"},
      {"GET / HTTP/1.1\r\n\r\n", 400, "InvalidRequest"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "InvalidRequest"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2x\r\n\r\n", 400, "InvalidRequest"},
      {"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
       "OperationNotSupported"},
      {Get("/" + std::string(100, 'a')), 414, "BadRequestData"},
      {Get("/", "X-Big: " + std::string(300, 'b') + "\r\n"), 431, "BadRequestData"},
  };
  for (const Case& k : cases) {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(k.request));
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r)) << k.request;
    EXPECT_EQ(r.status, k.status) << k.request;
    EXPECT_EQ(*r.Find("connection"), "close");
    Result<Json> body = ParseJson(r.body);
    ASSERT_TRUE(body.ok()) << r.body;
    EXPECT_EQ(body->GetString("type"),
              "https://uri.etsi.org/ngsi-ld/errors/" + std::string(k.type));
    EXPECT_TRUE(c.WaitClosed(5000)) << k.request;
  }
  EXPECT_EQ(server->stats().protocol_errors, std::size(cases));
}

TEST(ServerTest, ErrorAfterPipelinedRequestsComesInOrder) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/one") + Get("/two") + "BROKEN\r\n\r\n" + Get("/never")));
  ASSERT_TRUE(parked.WaitFor(2));
  ASSERT_TRUE(c.QuietFor(100)) << "the 400 must wait for the earlier responses";
  auto items = parked.Take();
  ASSERT_EQ(items.size(), 2u);
  items[1].second(Response{});
  items[0].second(Response{});
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(c.WaitClosed(5000));
  EXPECT_EQ(server->stats().requests, 2u);
}

TEST(ServerTest, ConnectionCloseAndHttp10) {
  auto server = StartServer(TestOptions(), Echo);
  {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(Get("/x", "Connection: close\r\n") + Get("/ignored")));
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.body, "hello /x");
    EXPECT_EQ(*r.Find("connection"), "close");
    EXPECT_TRUE(c.WaitClosed(5000)) << "nothing after Connection: close is answered";
  }
  {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r));
    EXPECT_EQ(r.body, "hello /old");
    EXPECT_EQ(*r.Find("connection"), "close");
    EXPECT_TRUE(c.WaitClosed(5000));
  }
  {
    TestClient c(server->port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.Send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      ParsedResponse r;
      ASSERT_TRUE(c.ReadResponse(&r));
      EXPECT_EQ(*r.Find("connection"), "keep-alive");
    }
  }
}

TEST(ServerTest, ChunkedRequestBody) {
  auto server = StartServer(TestOptions(), Echo);
  TestClient c(server->port());
  ASSERT_TRUE(c.Send("POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  ASSERT_TRUE(c.Send("4;x=y\r\nWiki\r\n"));
  ASSERT_TRUE(c.Send("5\r\npedia\r\n0\r\nTrailer: 1\r\n\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "Wikipedia");
}

TEST(ServerTest, RequestSentByteByByte) {
  auto server = StartServer(TestOptions(), Echo);
  TestClient c(server->port());
  std::string req = "PUT /slow?z=9 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
  for (char ch : req) ASSERT_TRUE(c.Send(std::string(1, ch)));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(*r.Find("x-query"), "z=9");
}

TEST(ServerTest, LargeResponseBodyAndServerHeaders) {
  std::string big(3 << 20, 'z');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    Response r;
    r.AddHeader("Content-Length", "5");          // ignored: the server frames the body itself
    r.AddHeader("connection", "close");          // ignored too
    r.AddHeader("X-Bad", "a\r\nInjected: yes");  // dropped: would split the response
    r.body = req.path == "/big" ? big : "small";
    respond(std::move(r));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/big") + Get("/small") + Get("/big")));
  const std::string* expectations[] = {&big, nullptr, &big};
  for (const std::string* expected : expectations) {
    ParsedResponse r;
    ASSERT_TRUE(c.ReadResponse(&r, 10000));
    EXPECT_EQ(r.Count("content-length"), 1);
    EXPECT_EQ(r.Find("connection"), nullptr);
    EXPECT_EQ(r.Find("x-bad"), nullptr);
    EXPECT_EQ(r.Find("injected"), nullptr);
    if (expected != nullptr) {
      EXPECT_TRUE(r.body == *expected) << "large body mismatch, size " << r.body.size();
    } else {
      EXPECT_EQ(r.body, "small");
    }
  }
}

TEST(ServerTest, StatusLineAndBodilessStatuses) {
  auto server = StartServer(TestOptions(), [](Request&& req, Responder respond) {
    Response r;
    r.status = std::stoi(req.path.substr(1));
    r.body = "ignored for 204/304";
    respond(std::move(r));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/204") + Get("/201") + Get("/404")));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Find("content-length"), nullptr);
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 201);
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 404);

  std::string raw;
  TestClient c2(server->port());
  ASSERT_TRUE(c2.Send(Get("/207")));
  ASSERT_TRUE(c2.ReadRaw(24, &raw));
  EXPECT_EQ(raw, "HTTP/1.1 207 Multi-Statu");
}

TEST(ServerTest, HandlerExceptionGives500) {
  auto server = StartServer(TestOptions(), [](Request&& req, Responder respond) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    Echo(std::move(req), std::move(respond));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/throw") + Get("/fine")));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 500);
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
}

TEST(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o = TestOptions();
  o.idle_timeout_ms = 300;
  auto server = StartServer(o, Echo);
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/")));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  auto start = Clock::now();
  EXPECT_TRUE(c.WaitClosed(3000));
  auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_GE(waited, 200);
  // A connection that never sends anything is closed silently too.
  TestClient silent(server->port());
  EXPECT_TRUE(silent.WaitClosed(3000));
  EXPECT_TRUE(silent.buffered().empty());
  EXPECT_TRUE(Eventually([&] { return server->stats().connections_open == 0; }));
}

TEST(ServerTest, SlowHandlerIsNotAnIdleConnection) {
  ServerOptions o = TestOptions();
  o.idle_timeout_ms = 200;
  Parked parked;
  auto server = StartServer(
      o, [&](Request&& req, Responder respond) { parked.Add(std::move(req), std::move(respond)); });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/slow")));
  ASSERT_TRUE(parked.WaitFor(1));
  ASSERT_TRUE(c.QuietFor(700));
  parked.Take()[0].second(Response{});
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
}

TEST(ServerTest, PeerThatStopsReadingIsClosed) {
  ServerOptions o = TestOptions();
  o.idle_timeout_ms = 300;
  std::string big(1 << 20, 'x');
  auto server = StartServer(o, [&](Request&& req, Responder respond) {
    Response r;
    r.body = big;
    respond(std::move(r));
  });
  TestClient c(server->port());
  std::string batch;
  for (int i = 0; i < 40; ++i) batch += Get("/big");
  ASSERT_TRUE(c.Send(batch));  // and never read the 40 MB of answers
  ASSERT_TRUE(Eventually([&] { return server->stats().requests >= 1; }));
  EXPECT_EQ(server->stats().connections_open, 1u);
  auto start = Clock::now();
  EXPECT_TRUE(Eventually([&] { return server->stats().connections_open == 0; }, 5000));
  EXPECT_GE(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count(), 200);
  EXPECT_LT(server->stats().requests, 40u) << "reading paused while output was backed up";
}

TEST(ServerTest, HalfClosedClientStillGetsAnswers) {
  auto server = StartServer(TestOptions(), [](Request&& req, Responder respond) {
    std::thread([req = std::move(req), respond = std::move(respond)]() mutable {
      std::this_thread::sleep_for(milliseconds(50));
      Echo(std::move(req), std::move(respond));
    }).detach();
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/one") + Get("/two")));
  c.ShutdownWrite();
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "hello /one");
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "hello /two");
  EXPECT_TRUE(c.WaitClosed(3000));
}

TEST(ServerTest, IncompleteRequestTimesOutWith408) {
  ServerOptions o = TestOptions();
  o.read_timeout_ms = 300;
  auto server = StartServer(o, Echo);
  TestClient c(server->port());
  ASSERT_TRUE(c.Send("GET /partial HTTP/1.1\r\nHost: t\r\n"));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r, 3000));
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(*r.Find("connection"), "close");
  EXPECT_TRUE(c.WaitClosed(3000));
}

TEST(ServerTest, StopDrainsDelayedResponse) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  TestClient busy(server->port());
  TestClient idle(server->port());
  ASSERT_TRUE(busy.Send(Get("/delayed")));
  ASSERT_TRUE(parked.WaitFor(1));
  ASSERT_TRUE(Eventually([&] { return server->stats().connections_open == 2; }));
  std::thread responder([&] {
    std::this_thread::sleep_for(milliseconds(300));
    auto items = parked.Take();
    Response r;
    r.body = "late but delivered";
    items[0].second(std::move(r));
  });
  auto start = Clock::now();
  server->Stop(5000);
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  responder.join();
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 4000);
  ParsedResponse r;
  ASSERT_TRUE(busy.ReadResponse(&r));
  EXPECT_EQ(r.body, "late but delivered");
  EXPECT_EQ(*r.Find("connection"), "close");
  EXPECT_TRUE(busy.WaitClosed(2000));
  EXPECT_TRUE(idle.WaitClosed(2000));
  EXPECT_EQ(server->stats().connections_open, 0u);
}

TEST(ServerTest, StopGivesUpAfterDrainTime) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/never")));
  ASSERT_TRUE(parked.WaitFor(1));
  auto start = Clock::now();
  server->Stop(200);
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_GE(took, 150);
  EXPECT_LT(took, 2000);
  EXPECT_TRUE(c.WaitClosed(2000));
  // Responding after Stop, and after the server is gone, is harmless.
  auto items = parked.Take();
  ASSERT_EQ(items.size(), 1u);
  items[0].second(Response{});
  server.reset();
}

TEST(ServerTest, ResponderOutlivingServerIsHarmless) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/x")));
  ASSERT_TRUE(parked.WaitFor(1));
  server->Stop(0);
  server.reset();
  auto items = parked.Take();
  items[0].second(Response{});  // must not touch freed memory (ASan checks this)
}

TEST(ServerTest, ConnectionClosedBeforeDelayedCompletion) {
  Parked parked;
  auto server = StartServer(TestOptions(), [&](Request&& req, Responder respond) {
    parked.Add(std::move(req), std::move(respond));
  });
  {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(Get("/a") + Get("/b")));
    ASSERT_TRUE(parked.WaitFor(2));
    c.Abort();  // reset: the server drops the connection with both requests in flight
  }
  ASSERT_TRUE(Eventually([&] { return server->stats().connections_open == 0; }));
  {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(Get("/c")));
    ASSERT_TRUE(parked.WaitFor(3));
    c.Close();  // orderly close with a request in flight
  }
  auto items = parked.Take();
  ASSERT_EQ(items.size(), 3u);
  // Complete from another thread and from several at once.
  std::vector<std::thread> threads;
  for (auto& item : items) {
    threads.emplace_back([respond = std::move(item.second)] { respond(Response{}); });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(Eventually([&] { return server->stats().connections_open == 0; }));
  // The server is still healthy.
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/d")));
  ASSERT_TRUE(parked.WaitFor(1));
  parked.Take()[0].second(Response{});
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
}

TEST(ServerTest, RespondingTwiceIsIgnored) {
  auto server = StartServer(TestOptions(), [](Request&& req, Responder respond) {
    Response r;
    r.body = "first";
    Responder copy = respond;
    respond(std::move(r));
    Response again;
    again.body = "second";
    copy(std::move(again));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/1") + Get("/2")));
  ParsedResponse r;
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "first");
  ASSERT_TRUE(c.ReadResponse(&r));
  EXPECT_EQ(r.body, "first");
  EXPECT_TRUE(c.QuietFor(100));
}

TEST(ServerTest, ManyConnectionsAcrossThreads) {
  ServerOptions o = TestOptions();
  o.threads = 4;
  auto server = StartServer(o, [](Request&& req, Responder respond) {
    // Alternate between answering inline and from another thread.
    if (req.path.back() % 2 == 0) {
      Echo(std::move(req), std::move(respond));
    } else {
      std::thread([req = std::move(req), respond = std::move(respond)]() mutable {
        Echo(std::move(req), std::move(respond));
      }).detach();
    }
  });
  constexpr int kClients = 16;
  constexpr int kPerClient = 40;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      TestClient c(server->port());
      for (int j = 0; j < kPerClient; j += 4) {
        std::string batch;
        for (int k = j; k < j + 4; ++k)
          batch += Get("/c" + std::to_string(i) + "r" + std::to_string(k));
        if (!c.Send(batch)) return;
        for (int k = j; k < j + 4; ++k) {
          ParsedResponse r;
          if (!c.ReadResponse(&r)) return;
          if (r.body == "hello /c" + std::to_string(i) + "r" + std::to_string(k)) ++ok;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kPerClient);
  EXPECT_EQ(server->stats().connections_accepted, static_cast<uint64_t>(kClients));
  EXPECT_EQ(server->stats().requests, static_cast<uint64_t>(kClients * kPerClient));
}

}  // namespace
}  // namespace civitas::http

namespace civitas::http {
namespace {

TEST(ServerStreamTest, StreamedBodyArrivesOverTimeAndEndsWithClose) {
  ServerOptions o = TestOptions();
  o.idle_timeout_ms = 200;  // a stream has no idle timeout
  std::shared_ptr<Stream> stream;
  std::mutex mu;
  auto server = StartServer(o, [&](Request&&, Responder respond) {
    Response r;
    r.AddHeader("Content-Type", "text/event-stream");
    r.on_stream = [&](std::shared_ptr<Stream> s) {
      std::lock_guard lock(mu);
      stream = std::move(s);
    };
    respond(std::move(r));
  });
  TestClient c(server->port());
  ASSERT_TRUE(c.Send(Get("/events") + Get("/ignored")));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return stream != nullptr;
  }));
  std::this_thread::sleep_for(milliseconds(400));  // longer than the idle timeout
  std::thread writer([&] {
    EXPECT_TRUE(stream->Write("data: one\n\n"));
    EXPECT_TRUE(stream->Write("data: two\n\n"));
    stream->Close();
  });
  writer.join();
  EXPECT_TRUE(c.ReadUntilClosed(3000));
  const std::string& got = c.buffered();
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(got.find("Content-Length"), std::string::npos);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_NE(got.find("\r\n\r\ndata: one\n\ndata: two\n\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("/ignored"), std::string::npos);
}

TEST(ServerStreamTest, WriterLearnsThatTheClientLeft) {
  std::shared_ptr<Stream> stream;
  std::mutex mu;
  auto server = StartServer(TestOptions(), [&](Request&&, Responder respond) {
    Response r;
    r.on_stream = [&](std::shared_ptr<Stream> s) {
      std::lock_guard lock(mu);
      stream = std::move(s);
    };
    respond(std::move(r));
  });
  {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(Get("/events")));
    ASSERT_TRUE(Eventually([&] {
      std::lock_guard lock(mu);
      return stream != nullptr;
    }));
    c.Abort();
  }
  EXPECT_TRUE(Eventually([&] {
    stream->Write(":\n\n");
    return stream->closed();
  }));
}

}  // namespace
}  // namespace civitas::http
