#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace civitas::bench {

// The framing of one HTTP/1.1 response, as the load generator needs it: where it ends, its
// status, and whether the server closes the connection after it.
struct ResponseFrame {
  int status = 0;
  size_t head_bytes = 0;   // status line and headers, including the blank line
  size_t total_bytes = 0;  // head_bytes + body length
  bool close = false;      // "Connection: close" (or HTTP/1.0 without keep-alive)
};

enum class FrameResult { kNeedMore, kComplete, kError };

// Reads the head of the response at the start of data and computes its framing. The body length
// comes from Content-Length; 1xx, 204 and 304 responses and responses to HEAD have no body.
// Anything else (a chunked or close-delimited body, a malformed head, a head longer than
// max_head_bytes) is an error described in *error: the servers measured here always send
// Content-Length, and the generator must never silently misalign a pipelined stream.
//
// kComplete means the head was parsed; the caller still waits until data holds total_bytes.
FrameResult ParseResponseHead(std::string_view data, bool head_request, size_t max_head_bytes,
                              ResponseFrame* out, std::string* error);

}  // namespace civitas::bench
