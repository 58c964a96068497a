#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"

namespace civitas::http {
namespace {

using Clock = std::chrono::steady_clock;

// Routes for FetchUrl, served by our own Server.
class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.bind = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<Server>(o, [this](Request&& req, Responder respond) {
      Handle(std::move(req), std::move(respond));
    });
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    server_->Stop(0);
    std::lock_guard<std::mutex> lock(mu_);
    parked_.clear();
  }

  void Handle(Request&& req, Responder respond) {
    Response r;
    const std::string& p = req.path;
    if (p == "/context.jsonld") {
      r.AddHeader("Content-Type", "application/ld+json");
      r.body = R"({"@context":{"name":"https://schema.org/name"}})";
    } else if (p.starts_with("/redirect/")) {
      int n = std::stoi(p.substr(10));
      if (n == 0) {
        r.body = "arrived";
      } else {
        r.status = 302;
        r.AddHeader("Location", "/redirect/" + std::to_string(n - 1));
      }
    } else if (p == "/absolute") {
      r.status = 301;
      r.AddHeader("Location", base_ + "/context.jsonld");
    } else if (p == "/dir/sub/page") {
      r.status = 307;
      r.AddHeader("Location", "other?x=1");
    } else if (p == "/dir/sub/other") {
      r.body = "relative ok " + req.query;
    } else if (p == "/big") {
      r.body = std::string(10000, 'b');
    } else if (p == "/missing") {
      r.status = 404;
      r.body = "nope";
    } else if (p == "/headers") {
      const std::string* host = req.FindHeader("host");
      r.body = req.method + " " + req.target + " host=" + (host != nullptr ? *host : "");
    } else if (p == "/slow") {
      std::lock_guard<std::mutex> lock(mu_);
      parked_.push_back(std::move(respond));
      return;
    } else {
      r.status = 404;
    }
    respond(std::move(r));
  }

  std::unique_ptr<Server> server_;
  std::string base_;
  std::mutex mu_;
  std::vector<Responder> parked_;
};

TEST_F(FetchTest, FetchesDocumentWithContentType) {
  std::string body, error, content_type;
  int status = FetchUrl(base_ + "/context.jsonld", 5000, 1 << 20, &body, &error, &content_type);
  EXPECT_EQ(status, 200) << error;
  EXPECT_EQ(body, R"({"@context":{"name":"https://schema.org/name"}})");
  EXPECT_EQ(content_type, "application/ld+json");
}

TEST_F(FetchTest, SendsOriginFormTargetAndHost) {
  std::string body, error;
  int status = FetchUrl(base_ + "/headers?a=b#frag", 5000, 1 << 20, &body, &error);
  EXPECT_EQ(status, 200) << error;
  EXPECT_EQ(body, "GET /headers?a=b host=127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(FetchTest, ReturnsErrorStatusesWithBody) {
  std::string body, error;
  EXPECT_EQ(FetchUrl(base_ + "/missing", 5000, 1 << 20, &body, &error), 404);
  EXPECT_EQ(body, "nope");
}

TEST_F(FetchTest, FollowsUpToThreeRedirects) {
  std::string body, error;
  EXPECT_EQ(FetchUrl(base_ + "/redirect/3", 5000, 1 << 20, &body, &error), 200) << error;
  EXPECT_EQ(body, "arrived");
  EXPECT_EQ(FetchUrl(base_ + "/redirect/4", 5000, 1 << 20, &body, &error), -1);
  EXPECT_NE(error.find("redirect"), std::string::npos) << error;
  EXPECT_TRUE(body.empty());
}

TEST_F(FetchTest, ResolvesAbsoluteAndRelativeLocations) {
  std::string body, error;
  EXPECT_EQ(FetchUrl(base_ + "/absolute", 5000, 1 << 20, &body, &error), 200) << error;
  EXPECT_EQ(body, R"({"@context":{"name":"https://schema.org/name"}})");
  EXPECT_EQ(FetchUrl(base_ + "/dir/sub/page", 5000, 1 << 20, &body, &error), 200) << error;
  EXPECT_EQ(body, "relative ok x=1");
}

TEST_F(FetchTest, EnforcesMaxBytes) {
  std::string body, error;
  EXPECT_EQ(FetchUrl(base_ + "/big", 5000, 10000, &body, &error), 200) << error;
  EXPECT_EQ(body.size(), 10000u);
  EXPECT_EQ(FetchUrl(base_ + "/big", 5000, 9999, &body, &error), -1);
  EXPECT_NE(error.find("exceeds"), std::string::npos) << error;
}

TEST_F(FetchTest, TimesOutWithinDeadline) {
  std::string body, error;
  auto start = Clock::now();
  EXPECT_EQ(FetchUrl(base_ + "/slow", 300, 1 << 20, &body, &error), -1);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 2000);
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
}

TEST(FetchUrlTest, RejectsOtherSchemes) {
  std::string body, error;
  EXPECT_EQ(FetchUrl("ftp://example.org/x", 1000, 1 << 20, &body, &error), -1);
  EXPECT_EQ(FetchUrl("http://", 1000, 1 << 20, &body, &error), -1);
  EXPECT_EQ(FetchUrl("http://host:port/", 1000, 1 << 20, &body, &error), -1);
  EXPECT_EQ(FetchUrl("http://a b/", 1000, 1 << 20, &body, &error), -1);
}

TEST(FetchUrlTest, ConnectionRefused) {
  // Find a port nobody listens on: bind, note it, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  std::string body, error;
  EXPECT_EQ(FetchUrl("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/", 2000,
                     1 << 20, &body, &error),
            -1);
  EXPECT_FALSE(error.empty());
}

// A one-shot server that answers any request with canned bytes and closes.
class CannedServer {
 public:
  explicit CannedServer(std::string response) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 4);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedServer() {
    thread_.join();
    close(fd_);
  }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    // Dribble the response out in small pieces to exercise incremental parsing.
    for (size_t i = 0; i < response_.size(); i += 7) {
      send(c, response_.data() + i, std::min<size_t>(7, response_.size() - i), MSG_NOSIGNAL);
    }
    close(c);
  }

  std::string response_;
  std::string request_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(FetchUrlTest, ChunkedResponse) {
  CannedServer s(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\n{\"a\":\r\n3\r\n42}\r\n0\r\nX-Trailer: t\r\n\r\n");
  std::string body, error, ct;
  EXPECT_EQ(FetchUrl(s.url("/c"), 5000, 100, &body, &error, &ct), 200) << error;
  EXPECT_EQ(body, "{\"a\":42}");
  EXPECT_EQ(ct, "application/json");
  EXPECT_TRUE(s.request().starts_with("GET /c HTTP/1.1\r\n")) << s.request();
  EXPECT_NE(s.request().find("Connection: close\r\n"), std::string::npos);
}

TEST(FetchUrlTest, ChunkedResponseOverLimit) {
  CannedServer s(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n");
  std::string body, error;
  EXPECT_EQ(FetchUrl(s.url(), 5000, 10, &body, &error), -1);
  EXPECT_TRUE(body.empty());
}

TEST(FetchUrlTest, BodyUntilClose) {
  CannedServer s("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  std::string body, error;
  EXPECT_EQ(FetchUrl(s.url(), 5000, 100, &body, &error), 200) << error;
  EXPECT_EQ(body, "until the end");
}

TEST(FetchUrlTest, SkipsInterimResponses) {
  CannedServer s("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  std::string body, error;
  EXPECT_EQ(FetchUrl(s.url(), 5000, 100, &body, &error), 200) << error;
  EXPECT_EQ(body, "ok");
}

TEST(FetchUrlTest, TruncatedBodyIsAnError) {
  CannedServer s("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  std::string body, error;
  EXPECT_EQ(FetchUrl(s.url(), 5000, 100, &body, &error), -1);
  EXPECT_FALSE(error.empty());
}

TEST(FetchUrlTest, MalformedStatusLine) {
  CannedServer s("SPDY/3 200 OK\r\n\r\n");
  std::string body, error;
  EXPECT_EQ(FetchUrl(s.url(), 5000, 100, &body, &error), -1);
  EXPECT_NE(error.find("status"), std::string::npos) << error;
}

}  // namespace
}  // namespace civitas::http

namespace civitas::http {
namespace {

// An HTTPS echo server (Python's http.server over ssl) with a self-signed certificate for
// 127.0.0.1 made by the openssl command.
class HttpsServer {
 public:
  HttpsServer() {
    dir_ = std::filesystem::temp_directory_path() / ("civitas-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        (dir_ / "key.pem").string() + " -out " + cert() + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) return;
    std::ofstream(dir_ / "server.py") << R"(
import http.server, os, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers.get("Content-Length", 0))))
    def do_GET(self):
        self.reply(b'{"@context": {"a": "http://example.org/a"}}')
    def log_message(self, *args):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
class S(http.server.ThreadingHTTPServer):
    # The handshake happens in the handler's thread: a client that gives up cannot stop us.
    def get_request(self):
        sock, addr = self.socket.accept()
        return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
    def handle_error(self, request, client_address):
        pass
srv = S(("127.0.0.1", 0), H)
os.write(1, b"%d\n" % srv.server_address[1])
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the reader closes its end once it has the port
srv.serve_forever()
)";
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      std::string script = (dir_ / "server.py").string(), key = (dir_ / "key.pem").string();
      execlp("python3", "python3", script.c_str(), cert().c_str(), key.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (line.size() < 16 && read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    port_ = std::atoi(line.c_str());
    // Wait until it accepts connections (a busy machine can be slow to get there).
    for (int i = 0; i < 250 && port_ > 0; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool up = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      close(fd);
      if (up) break;
      usleep(20000);
    }
  }
  ~HttpsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  bool ok() const { return port_ > 0; }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string url(std::string_view path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(TlsTest, PostAndGetOverHttpsWithAVerifiedCertificate) {
  HttpsServer server;
  if (!server.ok()) GTEST_SKIP() << "needs the openssl command and python3";
  // Not trusted yet: the handshake fails and says why.
  SetTlsCaFile("");
  Client client;
  ClientResponse r;
  std::string error;
  EXPECT_EQ(client.Send("POST", server.url("/n"), {}, "x", 5000, 1 << 20, &r, &error), -1);
  EXPECT_NE(error.find("not trusted"), std::string::npos) << error;

  SetTlsCaFile(server.cert());
  for (int i = 0; i < 3; ++i) {  // the same kept-alive TLS connection
    std::string body = R"({"n":)" + std::to_string(i) + "}";
    ASSERT_EQ(client.Send("POST", server.url("/n"), {{"Content-Type", "application/json"}}, body,
                          5000, 1 << 20, &r, &error),
              200)
        << error;
    EXPECT_EQ(r.body, body);
  }
  std::string doc;
  EXPECT_EQ(FetchUrl(server.url("/ctx.jsonld"), 5000, 1 << 20, &doc, &error), 200) << error;
  EXPECT_NE(doc.find("@context"), std::string::npos);
  SetTlsCaFile("");
}

}  // namespace
}  // namespace civitas::http
