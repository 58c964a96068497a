// FetchUrl (one GET per connection) and Client (a kept-alive connection): small blocking
// HTTP/1.1 clients, over TLS (OpenSSL) for https URLs.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "http/http.h"

namespace civitas::http {
namespace {

constexpr int kMaxRedirects = 3;
constexpr size_t kMaxHeadBytes = 64 << 10;

using Clock = std::chrono::steady_clock;

struct Url {
  bool tls = false;  // https
  std::string host;  // without brackets for IPv6 literals
  std::string port = "80";
  std::string host_header;  // as it goes into Host
  std::string path;         // path and query, at least "/"
};

// A header or status line without white space around it, nor the CR of its CRLF.
std::string_view TrimLine(std::string_view s) {
  s = TrimOws(s);
  while (!s.empty() && s.back() == '\r') s = TrimOws(s.substr(0, s.size() - 1));
  return s;
}

bool ParseUrl(std::string_view url, Url* out, std::string* error) {
  const bool tls = StartsWithIgnoreCase(url, "https://");
  if (!tls && !StartsWithIgnoreCase(url, "http://")) {
    *error = "not an http:// or https:// URL: " + std::string(url);
    return false;
  }
  out->tls = tls;
  std::string_view rest = url.substr(tls ? 8 : 7);
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);  // drop userinfo
  if (authority.empty()) {
    *error = "URL has no host: " + std::string(url);
    return false;
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "malformed IPv6 host in URL: " + std::string(url);
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *error = "malformed URL authority: " + std::string(url);
        return false;
      }
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
  }
  if (host.empty()) {
    *error = "URL has no host: " + std::string(url);
    return false;
  }
  for (char c : port) {
    if (c < '0' || c > '9') {
      *error = "malformed port in URL: " + std::string(url);
      return false;
    }
  }
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      *error = "URL contains whitespace or control characters";
      return false;
    }
  }
  out->host = std::string(host);
  out->port = port.empty() ? (tls ? "443" : "80") : std::string(port);
  out->host_header = std::string(authority);
  out->path = path.empty() ? "/" : std::string(path);
  if (out->path.front() == '?') out->path.insert(0, "/");
  return true;
}

// Resolves a Location header against the URL it came from.
std::string ResolveLocation(const Url& base, std::string_view location) {
  if (StartsWithIgnoreCase(location, "http://") || StartsWithIgnoreCase(location, "https://")) {
    return std::string(location);
  }
  const std::string scheme = base.tls ? "https:" : "http:";
  std::string origin = scheme + "//" + base.host_header;
  if (location.substr(0, 2) == "//") return scheme + std::string(location);
  if (!location.empty() && location.front() == '/') return origin + std::string(location);
  // A relative reference: replace the last path segment (query dropped).
  std::string_view path = base.path;
  path = path.substr(0, path.find('?'));
  return origin + std::string(path.substr(0, path.rfind('/') + 1)) + std::string(location);
}

class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : end_(Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0))) {}
  // Milliseconds left, at least 0.
  int RemainingMs() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
  }

 private:
  Clock::time_point end_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void Reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for events on fd until the deadline. Returns false on timeout or error.
bool WaitFor(int fd, short events, const Deadline& deadline, std::string* error) {
  while (true) {
    int left = deadline.RemainingMs();
    if (left == 0) {
      *error = "timed out";
      return false;
    }
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, left);
    if (rc > 0) return true;
    if (rc == 0) {
      *error = "timed out";
      return false;
    }
    if (errno != EINTR) {
      *error = std::string("poll: ") + strerror(errno);
      return false;
    }
  }
}

int Connect(const Url& url, const Deadline& deadline, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  // getaddrinfo cannot be bounded by the deadline; resolution is normally quick or cached.
  int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = "cannot resolve '" + url.host + "': " + gai_strerror(rc);
    return -1;
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::string("socket: ") + strerror(errno);
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::string("connect: ") + strerror(errno);
        close(fd);
        continue;
      }
      std::string wait_error;
      if (!WaitFor(fd, POLLOUT, deadline, &wait_error)) {
        last_error = "connect: " + wait_error;
        close(fd);
        if (deadline.RemainingMs() == 0) break;
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) {
        last_error = std::string("connect: ") + strerror(so_error);
        close(fd);
        continue;
      }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    freeaddrinfo(res);
    return fd;
  }
  freeaddrinfo(res);
  *error = "cannot connect to " + url.host_header + ": " + last_error;
  return -1;
}

// The TLS client context: the system's trusted roots plus SetTlsCaFile's file, peer and host
// name verification, TLS 1.2 or newer.
std::mutex tls_mu;
SSL_CTX* tls_ctx = nullptr;
std::string tls_ca_file;

SSL_CTX* TlsContext(std::string* error) {
  std::lock_guard lock(tls_mu);
  if (tls_ctx != nullptr) return tls_ctx;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    *error = "cannot create a TLS context";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_default_verify_paths(ctx);
  if (!tls_ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx, tls_ca_file.c_str(), nullptr) != 1) {
    SSL_CTX_free(ctx);
    *error = "cannot load TLS CA file " + tls_ca_file;
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  tls_ctx = ctx;
  return tls_ctx;
}

std::string TlsError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return std::string(what) + (e != 0 ? std::string(": ") + buf : std::string());
}

// A connection, plain or TLS, with deadline-bounded blocking operations on a non-blocking
// socket.
class Link {
 public:
  Link() = default;
  ~Link() { Close(); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  bool Open(const Url& url, const Deadline& deadline, std::string* error) {
    Close();
    fd_ = Connect(url, deadline, error);
    if (fd_ < 0) return false;
    if (!url.tls) return true;
    SSL_CTX* ctx = TlsContext(error);
    if (ctx == nullptr) return Fail();
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
      *error = TlsError("TLS setup failed");
      return Fail();
    }
    SSL_set_tlsext_host_name(ssl_, url.host.c_str());  // SNI
    SSL_set1_host(ssl_, url.host.c_str());             // the certificate must name the host
    while (true) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return true;
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!WaitFor(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error)) {
          *error = "TLS handshake with " + url.host_header + ": " + *error;
          return Fail();
        }
        continue;
      }
      long verify = SSL_get_verify_result(ssl_);
      *error = verify != X509_V_OK
                   ? "TLS handshake with " + url.host_header + ": certificate not trusted (" +
                         X509_verify_cert_error_string(verify) + ")"
                   : TlsError("TLS handshake with " + url.host_header + " failed");
      return Fail();
    }
  }

  void Close() {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);  // best effort, non-blocking
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool open() const { return fd_ >= 0; }

  bool SendAll(std::string_view data, const Deadline& deadline, std::string* error) {
    while (!data.empty()) {
      if (ssl_ != nullptr) {
        int n =
            SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
        if (n > 0) {
          data.remove_prefix(static_cast<size_t>(n));
          continue;
        }
        int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (!WaitFor(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error)) {
            return false;
          }
          continue;
        }
        *error = TlsError("TLS write failed");
        return false;
      }
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!WaitFor(fd_, POLLOUT, deadline, error)) return false;
        continue;
      }
      *error = std::string("send: ") + strerror(errno);
      return false;
    }
    return true;
  }

  // Appends what is available to *buf. Returns bytes read, 0 on EOF, -1 on error or timeout.
  ssize_t ReadSome(std::string* buf, const Deadline& deadline, std::string* error) {
    char chunk[16 << 10];
    while (true) {
      if (ssl_ != nullptr) {
        int n = SSL_read(ssl_, chunk, sizeof(chunk));
        if (n > 0) {
          buf->append(chunk, static_cast<size_t>(n));
          return n;
        }
        int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (!WaitFor(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error)) {
            return -1;
          }
          continue;
        }
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;  // closed without notify
        *error = TlsError("TLS read failed");
        return -1;
      }
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf->append(chunk, static_cast<size_t>(n));
        return n;
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!WaitFor(fd_, POLLIN, deadline, error)) return -1;
        continue;
      }
      *error = std::string("recv: ") + strerror(errno);
      return -1;
    }
  }

 private:
  bool Fail() {
    Close();
    return false;
  }
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

struct Head {
  int status = 0;
  std::vector<Header> headers;  // names lower-cased

  const std::string* Find(std::string_view name) const {
    for (const Header& h : headers) {
      if (h.name == name) return &h.value;
    }
    return nullptr;
  }
};

// Parses a status line and header block (text up to and excluding the empty line).
bool ParseHead(std::string_view text, Head* head, std::string* error) {
  size_t eol = text.find('\n');
  std::string_view status_line = TrimLine(text.substr(0, eol));
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    *error = "malformed status line";
    return false;
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    char c = status_line[i];
    if (c < '0' || c > '9') {
      *error = "malformed status code";
      return false;
    }
    status = status * 10 + (c - '0');
  }
  head->status = status;
  head->headers.clear();
  while (eol != std::string_view::npos) {
    text.remove_prefix(eol + 1);
    eol = text.find('\n');
    std::string_view line = TrimLine(text.substr(0, eol));
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "malformed header line in response";
      return false;
    }
    head->headers.push_back(
        {ToLower(line.substr(0, colon)), std::string(TrimLine(line.substr(colon + 1)))});
  }
  return true;
}

bool ParseSize(std::string_view digits, int base, uint64_t* out) {
  if (digits.empty()) return false;
  uint64_t v = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (v > (uint64_t{1} << 56)) return false;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// Reads one response from fd. Returns the status or -1 with *error. *reusable tells whether
// the connection may carry another request (the body was delimited and the server did not ask
// to close); *got_bytes whether anything at all arrived (a reused connection that the server
// had closed yields nothing, and the request may then be retried on a new one).
int ReadResponse(Link& fd, const Deadline& deadline, size_t max_bytes, Head* head,
                 std::string* body, std::string* error, bool* reusable, bool* got_bytes) {
  *reusable = false;
  *got_bytes = false;
  std::string buf;
  size_t pos = 0;  // start of the unparsed input in buf
  // The head, skipping interim (1xx) responses.
  while (true) {
    size_t end = buf.find("\r\n\r\n", pos);
    size_t sep = 4;
    size_t lf = buf.find("\n\n", pos);
    if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
      end = lf;
      sep = 2;
    }
    if (end == std::string::npos) {
      if (buf.size() - pos > kMaxHeadBytes) {
        *error = "response header too large";
        return -1;
      }
      ssize_t n = fd.ReadSome(&buf, deadline, error);
      if (n < 0) return -1;
      if (n == 0) {
        *error = "connection closed before the response header";
        return -1;
      }
      *got_bytes = true;
      continue;
    }
    if (!ParseHead(std::string_view(buf).substr(pos, end - pos), head, error)) return -1;
    pos = end + sep;
    if (head->status >= 100 && head->status < 200) continue;
    break;
  }

  body->clear();
  const std::string* connection = head->Find("connection");
  bool keep_alive =
      connection == nullptr || ToLower(*connection).find("close") == std::string::npos;
  if (head->status == 204 || head->status == 304) {
    *reusable = keep_alive;
    return head->status;
  }
  const std::string* te = head->Find("transfer-encoding");
  const std::string* cl = head->Find("content-length");
  auto too_large = [&] {
    *error = "response body exceeds " + std::to_string(max_bytes) + " bytes";
    return -1;
  };

  if (te != nullptr && ToLower(*te).find("chunked") != std::string::npos) {
    // Decode chunks as they arrive: size line, data, CRLF; a zero size, trailers, empty line.
    enum { kSize, kData, kDataEnd, kTrailer } phase = kSize;
    uint64_t remaining = 0;
    while (true) {
      bool progressed = true;
      while (progressed) {
        progressed = false;
        if (phase == kData) {
          size_t n = std::min<uint64_t>(remaining, buf.size() - pos);
          body->append(buf, pos, n);
          pos += n;
          remaining -= n;
          if (remaining == 0) phase = kDataEnd;
          progressed = n > 0 || remaining == 0;
          continue;
        }
        size_t eol = buf.find('\n', pos);
        if (eol == std::string::npos) break;
        std::string_view line = TrimLine(std::string_view(buf).substr(pos, eol - pos));
        pos = eol + 1;
        progressed = true;
        if (phase == kSize) {
          std::string_view digits = TrimOws(line.substr(0, line.find(';')));
          if (!ParseSize(digits, 16, &remaining)) {
            *error = "malformed chunk size in response";
            return -1;
          }
          if (remaining == 0) {
            phase = kTrailer;
          } else {
            if (body->size() + remaining > max_bytes) return too_large();
            phase = kData;
          }
        } else if (phase == kDataEnd) {
          if (!line.empty()) {
            *error = "malformed chunk in response";
            return -1;
          }
          phase = kSize;
        } else if (phase == kTrailer && line.empty()) {
          *reusable = keep_alive && pos == buf.size();
          return head->status;
        }
      }
      if (pos > (64 << 10)) {  // keep the buffer small
        buf.erase(0, pos);
        pos = 0;
      }
      ssize_t n = fd.ReadSome(&buf, deadline, error);
      if (n < 0) return -1;
      if (n == 0) {
        *error = "connection closed in the middle of a chunked body";
        return -1;
      }
    }
  }

  if (cl != nullptr) {
    uint64_t length = 0;
    if (!ParseSize(*cl, 10, &length)) {
      *error = "malformed Content-Length in response";
      return -1;
    }
    if (length > max_bytes) return too_large();
    while (buf.size() - pos < length) {
      ssize_t n = fd.ReadSome(&buf, deadline, error);
      if (n < 0) return -1;
      if (n == 0) {
        *error = "connection closed before the end of the body";
        return -1;
      }
    }
    body->assign(buf, pos, static_cast<size_t>(length));
    *reusable = keep_alive && buf.size() - pos == length;
    return head->status;
  }

  // Neither: the body runs until the server closes.
  while (true) {
    if (buf.size() - pos > max_bytes) return too_large();
    ssize_t n = fd.ReadSome(&buf, deadline, error);
    if (n < 0) return -1;
    if (n == 0) break;
  }
  body->assign(buf, pos, std::string::npos);
  return head->status;
}

// One GET on a fresh connection. Returns the status or -1 with *error.
int FetchOnce(const Url& url, const Deadline& deadline, size_t max_bytes, Head* head,
              std::string* body, std::string* error) {
  Link link;
  if (!link.Open(url, deadline, error)) return -1;
  std::string request = "GET " + url.path + " HTTP/1.1\r\nHost: " + url.host_header +
                        "\r\nUser-Agent: civitas\r\n"
                        "Accept: application/ld+json, application/json;q=0.9, */*;q=0.1\r\n"
                        "Accept-Encoding: identity\r\nConnection: close\r\n\r\n";
  if (!link.SendAll(request, deadline, error)) return -1;
  bool reusable, got_bytes;
  return ReadResponse(link, deadline, max_bytes, head, body, error, &reusable, &got_bytes);
}

}  // namespace

int FetchUrl(std::string_view url, int timeout_ms, size_t max_bytes, std::string* body,
             std::string* error, std::string* content_type) {
  Deadline deadline(timeout_ms);
  std::string current(url);
  body->clear();
  if (content_type != nullptr) content_type->clear();
  for (int redirects = 0;; ++redirects) {
    Url parsed;
    if (!ParseUrl(current, &parsed, error)) return -1;
    Head head;
    int status = FetchOnce(parsed, deadline, max_bytes, &head, body, error);
    if (status < 0) {
      body->clear();
      return -1;
    }
    const std::string* location = head.Find("location");
    bool redirect =
        (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
        location != nullptr && !location->empty();
    if (!redirect) {
      if (content_type != nullptr) {
        const std::string* ct = head.Find("content-type");
        *content_type = ct != nullptr ? *ct : std::string();
      }
      return status;
    }
    if (redirects == kMaxRedirects) {
      body->clear();
      *error = "too many redirects (more than " + std::to_string(kMaxRedirects) + ")";
      return -1;
    }
    current = ResolveLocation(parsed, *location);
  }
}

}  // namespace civitas::http

namespace civitas::http {

struct Client::Conn {
  std::string origin;  // scheme and host of the open connection
  Link link;
};

Client::Client() : conn_(std::make_unique<Conn>()) {}
Client::~Client() = default;

void Client::Close() {
  conn_->link.Close();
  conn_->origin.clear();
}

int Client::Send(std::string_view method, std::string_view url, const std::vector<Header>& headers,
                 std::string_view body, int timeout_ms, size_t max_bytes, ClientResponse* out,
                 std::string* error) {
  Deadline deadline(timeout_ms);
  Url parsed;
  if (!ParseUrl(url, &parsed, error)) return -1;
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(parsed.path).append(" HTTP/1.1\r\nHost: ");
  request.append(parsed.host_header).append("\r\nUser-Agent: civitas\r\n");
  for (const Header& h : headers) {
    request.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  request.append(body);

  // A kept-alive connection may have been closed by the server meanwhile: when nothing at all
  // comes back on a reused connection, the request is sent once more on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::string origin = (parsed.tls ? "https://" : "http://") + parsed.host_header;
    bool reused = conn_->link.open() && conn_->origin == origin;
    if (!reused) {
      Close();
      if (!conn_->link.Open(parsed, deadline, error)) return -1;
      conn_->origin = origin;
    }
    Head head;
    bool reusable = false, got_bytes = false;
    int status = -1;
    if (conn_->link.SendAll(request, deadline, error)) {
      status = ReadResponse(conn_->link, deadline, max_bytes, &head, &out->body, error, &reusable,
                            &got_bytes);
    }
    if (status < 0) {
      Close();
      if (reused && !got_bytes && deadline.RemainingMs() > 0) continue;
      return -1;
    }
    if (!reusable) Close();
    out->status = status;
    out->headers = std::move(head.headers);
    return status;
  }
  return -1;
}

}  // namespace civitas::http

namespace civitas::http {

void SetTlsCaFile(std::string path) {
  std::lock_guard lock(tls_mu);
  tls_ca_file = std::move(path);
  if (tls_ctx != nullptr) {
    SSL_CTX_free(tls_ctx);  // rebuilt on next use (connections keep their own reference)
    tls_ctx = nullptr;
  }
}

}  // namespace civitas::http
