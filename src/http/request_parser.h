#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/http.h"

namespace civitas::http {

struct ParserLimits {
  size_t max_body_bytes = 1 << 20;  // decoded body; larger gives 413
  size_t max_header_bytes =
      64 << 10;  // header lines (and trailer lines) together; larger gives 431
  size_t max_target_bytes = 128 << 10;  // request-target; longer gives 414
};

// An incremental HTTP/1.0 and HTTP/1.1 request parser (RFC 9112). Bytes may be fed in pieces of
// any size, split anywhere; the parser keeps only an incomplete line between calls and appends
// body bytes straight into the request being built.
//
// One parser parses one request at a time: Feed() stops right after the end of a request so the
// caller can dispatch it before feeding the rest (pipelined requests). After kComplete, call
// TakeRequest(), which also resets the parser for the next request. After kError the connection
// must be answered with error_status() and closed; the parser consumes nothing more.
//
// Strictness: the request line must be `method SP target SP HTTP/1.x`; header names must be
// tokens with no whitespace before the colon; obsolete line folding, control characters in
// values, a missing Host in HTTP/1.1, several differing Content-Length fields, a Content-Length
// together with Transfer-Encoding and Transfer-Encoding in HTTP/1.0 all give 400. Lines may end
// with CRLF or a bare LF. Up to 4 empty lines before a request line are ignored.
//
// Not thread-safe; one per connection.
class RequestParser {
 public:
  enum class State { kIncomplete, kComplete, kError };

  explicit RequestParser(ParserLimits limits = {});

  // Consumes a prefix of data and returns its length: everything while the request is
  // incomplete, up to the end of the request when it completes, and nothing in kComplete or
  // kError (the byte that caused an error may or may not be counted).
  size_t Feed(std::string_view data);

  State state() const;
  // True once a byte of the current request (other than leading empty lines) has been consumed.
  bool started() const { return started_; }
  bool headers_complete() const { return phase_ > Phase::kHeaders; }
  // True exactly once per request: when the headers of an HTTP/1.1 request carrying
  // "Expect: 100-continue" and a non-empty body have been parsed. The caller then sends
  // "HTTP/1.1 100 Continue" unless the body has already arrived.
  bool TakeContinueExpected();
  // Whether the connection may be reused after this request (HTTP/1.1 unless "Connection: close";
  // HTTP/1.0 only with "Connection: keep-alive"). Meaningful once headers_complete().
  bool keep_alive() const { return keep_alive_; }
  // 0 for HTTP/1.0, 1 for HTTP/1.1. Meaningful once the request line has been parsed.
  int http_minor() const { return minor_; }

  // In kError: 400, 413, 414, 431, 501 or 505, and a short human-readable reason.
  int error_status() const { return error_status_; }
  const std::string& error_detail() const { return error_detail_; }

  // In kComplete: moves the request out and resets the parser for the next one.
  Request TakeRequest();
  // Forgets any partial request.
  void Reset();

 private:
  enum class Phase : uint8_t {
    kRequestLine,
    kHeaders,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kDone,
    kError,
  };

  // Takes the next complete line (without its CRLF) starting at *pos, or stores the partial tail
  // and returns false. Also returns false after failing on an over-long line.
  bool NextLine(std::string_view data, size_t* pos, std::string_view* line);
  // head: the first bytes of the offending line.
  void FailLineTooLong(std::string_view head);
  bool ParseRequestLine(std::string_view line);
  bool ParseHeaderLine(std::string_view line, bool trailer);
  bool FinishHeaders();
  bool ParseChunkSize(std::string_view line);
  bool Fail(int status, std::string detail);

  ParserLimits limits_;
  Phase phase_ = Phase::kRequestLine;
  Request request_;
  std::string line_buf_;  // an incomplete line carried over between Feed() calls
  size_t header_bytes_ = 0;
  uint64_t remaining_ = 0;  // body or chunk bytes still to come
  int blank_lines_ = 0;
  int minor_ = 1;
  int host_count_ = 0;
  bool started_ = false;
  bool keep_alive_ = true;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool has_content_length_ = false;
  uint64_t content_length_ = 0;
  bool has_transfer_encoding_ = false;
  std::string transfer_encoding_;  // all Transfer-Encoding values joined with ','
  bool expect_continue_ = false;
  bool continue_pending_ = false;
  int error_status_ = 0;
  std::string error_detail_;
};

}  // namespace civitas::http
