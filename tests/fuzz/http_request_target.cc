// fuzz_http_request: the incremental HTTP/1.1 request parser, fed the same bytes whole and in
// pieces. Both must give the same requests (pipelined ones included) and end in the same state.
//
// Input layout:
//   byte 0      limits: bit 0 small body limit, bit 1 small header limit, bit 2 small target limit
//   byte 1      n = byte % 8, the number of piece sizes that follow
//   n bytes     piece sizes (each byte + 1), used in turn; n == 0 feeds one byte at a time
//   the rest    the bytes a client sends on one connection

#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "http/http.h"
#include "http/request_parser.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

using http::RequestParser;

struct Parsed {
  http::Request request;
  bool keep_alive = false;
  int http_minor = -1;
  bool continue_expected = false;
};

struct Outcome {
  std::vector<Parsed> requests;
  RequestParser::State state = RequestParser::State::kIncomplete;
  int error_status = 0;
  std::string error_detail;
  bool started = false;
};

std::string Describe(const Outcome& o) {
  std::string s = std::to_string(o.requests.size()) + " request(s)";
  for (const Parsed& p : o.requests) {
    const http::Request& r = p.request;
    s += "\n  " + r.method + " " + r.target + " path=" + r.path + " query=" + r.query +
         " minor=" + std::to_string(p.http_minor) + " keep_alive=" + std::to_string(p.keep_alive) +
         " continue=" + std::to_string(p.continue_expected) +
         " body=" + std::to_string(r.body.size()) + "B";
    for (const http::Header& h : r.headers) s += "\n    " + h.name + ": " + h.value;
  }
  s += "\n  final state " + std::to_string(static_cast<int>(o.state)) +
       " started=" + std::to_string(o.started);
  if (o.state == RequestParser::State::kError) {
    s += " error " + std::to_string(o.error_status) + " " + o.error_detail;
  }
  return s;
}

bool SameRequest(const Parsed& a, const Parsed& b) {
  const http::Request& x = a.request;
  const http::Request& y = b.request;
  if (x.method != y.method || x.target != y.target || x.path != y.path || x.query != y.query ||
      x.body != y.body || x.headers.size() != y.headers.size()) {
    return false;
  }
  for (size_t i = 0; i < x.headers.size(); ++i) {
    if (x.headers[i].name != y.headers[i].name || x.headers[i].value != y.headers[i].value) {
      return false;
    }
  }
  return a.keep_alive == b.keep_alive && a.http_minor == b.http_minor &&
         a.continue_expected == b.continue_expected;
}

bool Same(const Outcome& a, const Outcome& b) {
  if (a.requests.size() != b.requests.size() || a.state != b.state || a.started != b.started) {
    return false;
  }
  for (size_t i = 0; i < a.requests.size(); ++i) {
    if (!SameRequest(a.requests[i], b.requests[i])) return false;
  }
  return a.state != RequestParser::State::kError ||
         (a.error_status == b.error_status && a.error_detail == b.error_detail);
}

void CheckRequest(const Parsed& p, const http::ParserLimits& limits) {
  const http::Request& r = p.request;
  FUZZ_CHECK(!r.method.empty(), "empty method");
  FUZZ_CHECK(!r.target.empty() && r.target.size() <= limits.max_target_bytes,
             "target of " + std::to_string(r.target.size()) + " bytes");
  FUZZ_CHECK(r.path == "*" || (!r.path.empty() && r.path[0] == '/'), "path '" + r.path + "'");
  FUZZ_CHECK(r.body.size() <= limits.max_body_bytes,
             "body of " + std::to_string(r.body.size()) + " bytes");
  FUZZ_CHECK(p.http_minor == 0 || p.http_minor == 1, "minor " + std::to_string(p.http_minor));
  for (const http::Header& h : r.headers) {
    FUZZ_CHECK(!h.name.empty(), "empty header name");
    for (char c : h.name) {
      FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "header name not lower-case: " + h.name);
    }
    if (h.name == "content-length" && r.FindHeader("transfer-encoding") == nullptr) {
      FUZZ_CHECK(
          h.value == std::to_string(r.body.size()) || std::stoull("0" + h.value) == r.body.size(),
          "Content-Length " + h.value + " but body of " + std::to_string(r.body.size()));
    }
  }
}

// Feeds data in pieces of the given sizes (cycled); an empty list means one byte at a time.
// Follows the server's loop: after a complete request take it and feed the rest.
Outcome Run(std::string_view data, const std::vector<size_t>& sizes,
            const http::ParserLimits& limits) {
  RequestParser parser(limits);
  Outcome out;
  size_t next_size = 0;
  bool continue_seen = false;
  while (!data.empty()) {
    size_t n = sizes.empty() ? 1 : sizes[next_size++ % sizes.size()];
    std::string_view piece = data.substr(0, n);
    data.remove_prefix(piece.size());
    while (true) {
      size_t used = parser.Feed(piece);
      FUZZ_CHECK(used <= piece.size(), "Feed consumed more than it was given");
      continue_seen = parser.TakeContinueExpected() || continue_seen;
      RequestParser::State state = parser.state();
      if (state == RequestParser::State::kComplete) {
        Parsed p;
        p.keep_alive = parser.keep_alive();
        p.http_minor = parser.http_minor();
        p.continue_expected = continue_seen;
        continue_seen = false;
        p.request = parser.TakeRequest();
        FUZZ_CHECK(parser.state() == RequestParser::State::kIncomplete && !parser.started(),
                   "TakeRequest did not reset the parser");
        CheckRequest(p, limits);
        out.requests.push_back(std::move(p));
        piece.remove_prefix(used);
        continue;  // the rest of the piece belongs to the next request
      }
      if (state == RequestParser::State::kError) {
        out.state = state;
        out.error_status = parser.error_status();
        out.error_detail = parser.error_detail();
        int s = out.error_status;
        FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505,
                   "error status " + std::to_string(s));
        FUZZ_CHECK(parser.Feed("GET / HTTP/1.1\r\n") == 0, "Feed consumed after an error");
        return out;
      }
      FUZZ_CHECK(used == piece.size(), "an incomplete request did not consume its input");
      break;
    }
  }
  out.state = parser.state();
  out.started = parser.started();
  return out;
}

}  // namespace

void FuzzHttpRequest(std::string_view data) {
  if (data.size() < 2) return;
  auto config = static_cast<uint8_t>(data[0]);
  size_t n = static_cast<uint8_t>(data[1]) % 8;
  data.remove_prefix(2);
  if (data.size() < n) return;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < n; ++i) sizes.push_back(static_cast<uint8_t>(data[i]) + size_t{1});
  data.remove_prefix(n);

  http::ParserLimits limits;
  if (config & 1) limits.max_body_bytes = 64;
  if (config & 2) limits.max_header_bytes = 256;
  if (config & 4) limits.max_target_bytes = 48;

  Outcome whole = Run(data, {data.size() + 1}, limits);
  Outcome pieces = Run(data, sizes, limits);
  FUZZ_CHECK(Same(whole, pieces), "whole: " + Describe(whole) + "\npieces: " + Describe(pieces));
}

}  // namespace civitas::fuzz
