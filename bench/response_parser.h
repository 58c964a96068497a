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
  bool chunked = false;    // Transfer-Encoding: chunked: total_bytes is unknown until
                           // ChunkedBodyEnd finds the last chunk
};

enum class FrameResult { kNeedMore, kComplete, kError };

// Reads the head of the response at the start of data and computes its framing. The body length
// comes from Content-Length; 1xx, 204 and 304 responses and responses to HEAD have no body.
// A chunked body (Transfer-Encoding: chunked, as InfluxDB answers queries) sets chunked; its end
// is found by ChunkedBodyEnd. Anything else (a close-delimited body, another transfer coding, a
// malformed head, a head longer than max_head_bytes) is an error described in *error: the
// generator must never silently misalign a pipelined stream.
//
// kComplete means the head was parsed; the caller still waits until data holds total_bytes.
FrameResult ParseResponseHead(std::string_view data, bool head_request, size_t max_head_bytes,
                              ResponseFrame* out, std::string* error);

// The end of a chunked body that starts at data[from]: kComplete with *end the offset just past
// the last chunk's trailer, kNeedMore when data does not hold it yet, kError (described in
// *error) for a malformed chunk size line or trailer.
FrameResult ChunkedBodyEnd(std::string_view data, size_t from, size_t* end, std::string* error);

}  // namespace civitas::bench
