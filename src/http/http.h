#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace civitas::http {

struct Header {
  std::string name;  // lower-case on requests (parsed); as given on responses
  std::string value;
};

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // the raw request-target, e.g. "/ngsi-ld/v1/entities/urn%3Ax?attrs=a"
  std::string path;    // target before '?', NOT percent-decoded (routers decode per segment)
  std::string query;   // target after '?', raw ("" when absent)
  std::vector<Header> headers;
  std::string body;
  std::string peer;  // "ip:port" of the client

  // First header with this (lower-case) name, or nullptr.
  const std::string* FindHeader(std::string_view lower_name) const;
};

// The body of a streamed response (server-sent events), written over time from any thread.
class Stream {
 public:
  virtual ~Stream() = default;
  // Queues bytes for the client. False once the connection has closed: stop writing.
  virtual bool Write(std::string data) = 0;
  // Ends the response; the connection closes once the queued bytes are written.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;  // Content-Length, Connection and Date are added by the server
  std::string body;
  // Set for a streamed response: the server writes the head without Content-Length (and with
  // "Connection: close"), then calls on_stream on its I/O thread (it must not block) with the
  // Stream that carries the body. The connection takes no further requests, has no idle
  // timeout (the writer sends its own heartbeats) and is closed if the client stops reading.
  std::function<void(std::shared_ptr<Stream>)> on_stream;

  Response& AddHeader(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

// Completes one request. May be called from any thread, exactly once. If the connection has gone
// away by then the response is dropped. Responses on one connection are always written in request
// order (HTTP/1.1 pipelining), whatever order handlers complete in.
using Responder = std::function<void(Response)>;

// The application. Called on a server I/O thread; it must not block for long. It either calls
// respond before returning or keeps it and calls it later from another thread (e.g. after a
// durable commit).
using Handler = std::function<void(Request&& request, Responder respond)>;

struct ServerOptions {
  std::string bind = "0.0.0.0";
  uint16_t port = 1026;                 // 0 picks a free port; see Server::port()
  int threads = 0;                      // I/O threads; 0 means one per core
  size_t max_body_bytes = 1 << 20;      // larger bodies get 413
  size_t max_header_bytes = 64 << 10;   // all header lines together; larger gets 431
  size_t max_target_bytes = 128 << 10;  // request line target; longer gets 414
  int idle_timeout_ms = 60000;          // keep-alive connection idle for this long is closed
  int read_timeout_ms = 30000;          // a started request must arrive completely within this
  size_t max_pipelined = 256;  // requests in flight on one connection before reading pauses
};

// An HTTP/1.1 server: keep-alive, pipelining, Content-Length and chunked request bodies,
// Expect: 100-continue. One epoll loop per I/O thread, each accepting on its own SO_REUSEPORT
// socket. Protocol errors are answered by the server itself with a small JSON body
// ({"type": ..., "title": ..., "detail": ...}, NGSI-LD ProblemDetails shape) and close the
// connection: 400 malformed, 413 body too large, 414 target too long, 431 headers too large,
// 408 on read timeout (silently closed if nothing of a request was received), 501 for an
// unsupported Transfer-Encoding.
class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // calls Stop()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns false and fills *error if binding fails.
  bool Start(std::string* error);
  // The bound port (useful with port 0).
  uint16_t port() const;
  // Stops accepting, waits up to drain_ms for requests in flight to be answered and written,
  // then closes every connection and joins the threads. Idempotent. Must not be called from a
  // handler (it runs on an I/O thread that Stop joins).
  void Stop(int drain_ms = 5000);

  // Counters for /metrics.
  struct Stats {
    uint64_t connections_accepted = 0;
    uint64_t connections_open = 0;
    uint64_t requests = 0;
    uint64_t protocol_errors = 0;
  };
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-decodes one path segment or query component. With plus_as_space, '+' becomes ' '
// (application/x-www-form-urlencoded query strings). Returns false on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out, bool plus_as_space);

// Splits a query string into decoded (name, value) pairs in order. Returns false on a malformed
// escape. A parameter without '=' has an empty value.
bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out);

// A blocking HTTP/1.1 GET for small documents (remote JSON-LD contexts). http:// and https://
// (certificates verified against the system's roots), follows up to 3 redirects, Content-Length and
// chunked bodies, gives up after timeout_ms in total. Returns the HTTP status (or -1 with *error
// set on a transport failure) and fills *body.
int FetchUrl(std::string_view url, int timeout_ms, size_t max_bytes, std::string* body,
             std::string* error, std::string* content_type = nullptr);

// Trusts the CA certificates in this PEM file for https, besides the system's (for private CAs
// and tests). Takes effect for new connections.
void SetTlsCaFile(std::string path);

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;  // names lower-cased
  std::string body;
};

// A blocking HTTP/1.1 client (http and https) that keeps one connection alive and reuses it while
// requests go to the same origin, e.g. a notifier posting to one endpoint. Not thread-safe: one
// per sending thread.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request (Host and Content-Length are added) and reads the response, within
  // timeout_ms. Returns the status, or -1 with *error (the connection is then closed).
  int Send(std::string_view method, std::string_view url, const std::vector<Header>& headers,
           std::string_view body, int timeout_ms, size_t max_bytes, ClientResponse* out,
           std::string* error);
  void Close();

 private:
  struct Conn;
  std::unique_ptr<Conn> conn_;
};

}  // namespace civitas::http
