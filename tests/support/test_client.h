#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace civitas::testing {

// A minimal blocking HTTP/1.1 client for tests: one keep-alive connection, reconnects when the
// server closed it. Not for production use (no TLS, no chunked responses).
class TestClient {
 public:
  struct Reply {
    int status = 0;  // -1: transport error
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    std::string Header(std::string_view lower_name) const;
  };

  TestClient(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  ~TestClient();

  Reply Send(std::string_view method, std::string_view target,
             const std::vector<std::pair<std::string, std::string>>& headers,
             std::string_view body, int timeout_ms = 10000);
  // Sends raw bytes and reads one response (for protocol tests).
  Reply SendRaw(std::string_view bytes, int timeout_ms = 10000);
  void Close();

 private:
  bool Connect(int timeout_ms);
  Reply ReadReply(int timeout_ms);

  std::string host_;
  uint16_t port_;
  int fd_ = -1;
  std::string buffer_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t FreePort();

}  // namespace civitas::testing
