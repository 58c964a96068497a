#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace civitas::http {
namespace {

struct Outcome {
  RequestParser::State state = RequestParser::State::kIncomplete;
  std::vector<Request> requests;
  int error_status = 0;
  std::string error_detail;
  size_t continues = 0;
};

// Feeds `input` in pieces given by `splits` (ascending offsets), collecting every complete
// request. Stops at the first error.
Outcome ParseSplit(std::string_view input, const std::vector<size_t>& splits,
                   ParserLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  size_t start = 0;
  std::vector<size_t> bounds = splits;
  bounds.push_back(input.size());
  for (size_t end : bounds) {
    std::string_view piece = input.substr(start, end - start);
    start = end;
    while (true) {
      size_t used = parser.Feed(piece);
      piece.remove_prefix(used);
      if (parser.TakeContinueExpected()) ++out.continues;
      if (parser.state() == RequestParser::State::kComplete) {
        out.requests.push_back(parser.TakeRequest());
        continue;
      }
      if (parser.state() == RequestParser::State::kError) {
        out.state = RequestParser::State::kError;
        out.error_status = parser.error_status();
        out.error_detail = parser.error_detail();
        return out;
      }
      EXPECT_TRUE(piece.empty()) << "incomplete parser must consume everything";
      break;
    }
  }
  out.state = parser.state();
  return out;
}

Outcome ParseWhole(std::string_view input, ParserLimits limits = {}) {
  return ParseSplit(input, {}, limits);
}

Outcome ParseByteByByte(std::string_view input, ParserLimits limits = {}) {
  std::vector<size_t> splits;
  for (size_t i = 1; i < input.size(); ++i) splits.push_back(i);
  return ParseSplit(input, splits, limits);
}

void ExpectSameRequest(const Request& a, const Request& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.body, b.body);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  }
}

// Parses input whole, byte by byte, and split in two at every offset; all must agree.
Outcome ParseEverySplit(std::string_view input, ParserLimits limits = {}) {
  Outcome whole = ParseWhole(input, limits);
  Outcome bytes = ParseByteByByte(input, limits);
  EXPECT_EQ(whole.state, bytes.state);
  EXPECT_EQ(whole.error_status, bytes.error_status);
  EXPECT_EQ(whole.requests.size(), bytes.requests.size());
  for (size_t i = 0; i < whole.requests.size() && i < bytes.requests.size(); ++i) {
    ExpectSameRequest(whole.requests[i], bytes.requests[i]);
  }
  for (size_t cut = 1; cut < input.size(); ++cut) {
    Outcome two = ParseSplit(input, {cut}, limits);
    EXPECT_EQ(whole.state, two.state) << "cut at " << cut;
    EXPECT_EQ(whole.error_status, two.error_status) << "cut at " << cut;
    EXPECT_EQ(whole.requests.size(), two.requests.size()) << "cut at " << cut;
    for (size_t i = 0; i < whole.requests.size() && i < two.requests.size(); ++i) {
      ExpectSameRequest(whole.requests[i], two.requests[i]);
    }
  }
  return whole;
}

TEST(RequestParserTest, SimpleGetAnySplit) {
  Outcome o = ParseEverySplit(
      "GET /ngsi-ld/v1/entities/urn%3Ax?attrs=a&type=T HTTP/1.1\r\n"
      "Host: localhost:1026\r\n"
      "Accept:   application/ld+json  \r\n"
      "X-Custom-HEADER:\tv1 v2\t\r\n"
      "\r\n");
  ASSERT_EQ(o.state, RequestParser::State::kIncomplete);  // waiting for the next request
  ASSERT_EQ(o.requests.size(), 1u);
  const Request& r = o.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/ngsi-ld/v1/entities/urn%3Ax?attrs=a&type=T");
  EXPECT_EQ(r.path, "/ngsi-ld/v1/entities/urn%3Ax");
  EXPECT_EQ(r.query, "attrs=a&type=T");
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].name, "host");
  EXPECT_EQ(r.headers[0].value, "localhost:1026");
  EXPECT_EQ(r.headers[1].name, "accept");
  EXPECT_EQ(r.headers[1].value, "application/ld+json");
  EXPECT_EQ(r.headers[2].name, "x-custom-header");
  EXPECT_EQ(r.headers[2].value, "v1 v2");
  ASSERT_NE(r.FindHeader("accept"), nullptr);
  EXPECT_EQ(*r.FindHeader("accept"), "application/ld+json");
  EXPECT_EQ(r.FindHeader("content-type"), nullptr);
  EXPECT_TRUE(r.body.empty());
}

TEST(RequestParserTest, ContentLengthBodyAnySplit) {
  Outcome o = ParseEverySplit(
      "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\n"
      "Content-Type: application/json\r\n\r\n{\"id\":\"urn\"}\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "{\"id\":\"urn\"}\n");
  EXPECT_EQ(o.requests[0].query, "");
}

TEST(RequestParserTest, ChunkedWithExtensionsAndTrailersAnySplit) {
  Outcome o = ParseEverySplit(
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1 ; ext\r\n,\r\n"
      "0006\r\n world\r\n"
      "A;a=1;b=\"q\"\r\n0123456789\r\n"
      "0;last\r\n"
      "Trailer-One: x\r\n"
      "Checksum: abc\r\n"
      "\r\n");
  ASSERT_EQ(o.state, RequestParser::State::kIncomplete);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "hello, world0123456789");
  // Trailer fields are not added to the request headers.
  EXPECT_EQ(o.requests[0].FindHeader("checksum"), nullptr);
  EXPECT_NE(o.requests[0].FindHeader("transfer-encoding"), nullptr);
}

TEST(RequestParserTest, ChunkedWithoutTrailers) {
  Outcome o = ParseEverySplit(
      "PATCH /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "abc");
}

TEST(RequestParserTest, PipelinedRequestsParsedOneAtATime) {
  std::string input =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "DELETE /c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  RequestParser parser;
  size_t used = parser.Feed(input);
  EXPECT_EQ(used, std::string("GET /a HTTP/1.1\r\nHost: h\r\n\r\n").size());
  ASSERT_EQ(parser.state(), RequestParser::State::kComplete);
  EXPECT_EQ(parser.Feed("more"), 0u) << "a complete parser consumes nothing";
  EXPECT_EQ(parser.TakeRequest().path, "/a");

  Outcome o = ParseEverySplit(input);
  ASSERT_EQ(o.requests.size(), 3u);
  EXPECT_EQ(o.requests[0].method, "GET");
  EXPECT_EQ(o.requests[1].method, "POST");
  EXPECT_EQ(o.requests[1].body, "hi");
  EXPECT_EQ(o.requests[2].method, "DELETE");
  EXPECT_EQ(o.requests[2].query, "x=1");
}

TEST(RequestParserTest, KeepAliveSemantics) {
  struct Case {
    const char* input;
    bool keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
  };
  for (const Case& c : cases) {
    RequestParser parser;
    parser.Feed(c.input);
    ASSERT_EQ(parser.state(), RequestParser::State::kComplete) << c.input;
    EXPECT_EQ(parser.keep_alive(), c.keep_alive) << c.input;
  }
}

TEST(RequestParserTest, HttpVersions) {
  RequestParser parser;
  parser.Feed("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(parser.state(), RequestParser::State::kComplete);
  EXPECT_EQ(parser.http_minor(), 0);
  EXPECT_EQ(ParseWhole("GET / HTTP/2.0\r\nHost: h\r\n\r\n").error_status, 505);
  EXPECT_EQ(ParseWhole("GET / HTTP/1.1 \r\nHost: h\r\n\r\n").error_status, 400);
  EXPECT_EQ(ParseWhole("GET / http/1.1\r\nHost: h\r\n\r\n").error_status, 400);
  EXPECT_EQ(ParseWhole("GET / HTTP/11\r\nHost: h\r\n\r\n").error_status, 400);
  EXPECT_EQ(ParseWhole("GET /\r\n\r\n").error_status, 400);
}

TEST(RequestParserTest, ExpectContinue) {
  {
    RequestParser parser;
    parser.Feed("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
    EXPECT_EQ(parser.state(), RequestParser::State::kIncomplete);
    EXPECT_TRUE(parser.TakeContinueExpected());
    EXPECT_FALSE(parser.TakeContinueExpected()) << "reported once";
    parser.Feed("abc");
    ASSERT_EQ(parser.state(), RequestParser::State::kComplete);
    EXPECT_EQ(parser.TakeRequest().body, "abc");
  }
  // No body: nothing to wait for.
  Outcome o = ParseByteByByte("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(o.continues, 0u);
  // HTTP/1.0 clients do not understand 100 Continue.
  o = ParseWhole("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(o.continues, 0u);
  o = ParseByteByByte(
      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nx\r\n0\r\n\r\n");
  EXPECT_EQ(o.continues, 1u);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "x");
}

TEST(RequestParserTest, BodyTooLargeByContentLength) {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  // Rejected as soon as the headers are complete, before any body byte.
  Outcome o = ParseByteByByte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits);
  EXPECT_EQ(o.error_status, 413);
  o = ParseWhole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                 limits);
  EXPECT_EQ(o.error_status, 413);
  o = ParseWhole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "0123456789");
}

TEST(RequestParserTest, BodyTooLargeChunked) {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  Outcome o = ParseEverySplit(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
      limits);
  EXPECT_EQ(o.error_status, 413);
  o = ParseWhole(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
      limits);
  EXPECT_EQ(o.error_status, 413);
  o = ParseWhole(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "000000000000000000000000005\r\n01234\r\n0\r\n\r\n",
      limits);
  ASSERT_EQ(o.requests.size(), 1u) << o.error_detail;
  EXPECT_EQ(o.requests[0].body, "01234");
}

TEST(RequestParserTest, TargetTooLong) {
  ParserLimits limits;
  limits.max_target_bytes = 20;
  std::string ok_target = "/" + std::string(19, 'a');
  Outcome o = ParseWhole("GET " + ok_target + " HTTP/1.1\r\nHost: h\r\n\r\n", limits);
  ASSERT_EQ(o.requests.size(), 1u);
  std::string long_target = "/" + std::string(20, 'a');
  o = ParseEverySplit("GET " + long_target + " HTTP/1.1\r\nHost: h\r\n\r\n", limits);
  EXPECT_EQ(o.error_status, 414);
  // A line that never ends is rejected once it is hopelessly long, not buffered forever.
  RequestParser parser(limits);
  std::string endless = "GET /" + std::string(1000, 'b');
  for (char c : endless) {
    parser.Feed(std::string_view(&c, 1));
    if (parser.state() == RequestParser::State::kError) break;
  }
  EXPECT_EQ(parser.error_status(), 414);
  // Without a method-sized first word, it is just malformed.
  RequestParser garbage(limits);
  garbage.Feed(std::string(200, 'x'));
  EXPECT_EQ(garbage.error_status(), 400);
}

TEST(RequestParserTest, HeadersTooLarge) {
  ParserLimits limits;
  limits.max_header_bytes = 100;
  std::string small = "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + std::string(60, 'v') + "\r\n\r\n";
  ASSERT_EQ(ParseWhole(small, limits).requests.size(), 1u);
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + std::string(60, 'v') +
                    "\r\nX-B: " + std::string(30, 'w') + "\r\n\r\n";
  EXPECT_EQ(ParseEverySplit(big, limits).error_status, 431);
  // One endless header line.
  RequestParser parser(limits);
  parser.Feed("GET / HTTP/1.1\r\nX-Long: ");
  for (int i = 0; i < 200 && parser.state() != RequestParser::State::kError; ++i) {
    parser.Feed("z");
  }
  EXPECT_EQ(parser.error_status(), 431);
  // Trailers count against the same limit.
  std::string trailers =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " +
      std::string(100, 't') + "\r\n\r\n";
  EXPECT_EQ(ParseWhole(trailers, limits).error_status, 431);
}

TEST(RequestParserTest, RejectsAmbiguousOrInvalidFraming) {
  struct Case {
    const char* input;
    int status;
  } cases[] = {
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n", 400},
  };
  for (const Case& c : cases) {
    Outcome o = ParseEverySplit(c.input);
    EXPECT_EQ(o.state, RequestParser::State::kError) << c.input;
    EXPECT_EQ(o.error_status, c.status) << c.input << " -> " << o.error_detail;
    EXPECT_TRUE(o.requests.empty()) << c.input;
  }
  // Identical repeated Content-Length fields are allowed.
  Outcome o =
      ParseWhole("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "ok");
}

TEST(RequestParserTest, RejectsMalformedHeadersAndRequestLines) {
  const char* cases[] = {
      "GET / HTTP/1.1\r\n\r\n",                                     // no Host in HTTP/1.1
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",               // two Hosts
      "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n continued\r\n\r\n",  // obs-fold
      "GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n",               // space before colon
      "GET / HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n",             // empty name
      "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n",  // control character
      "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",    // bare CR
      "GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n",      // not a token
      "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
      " GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: h\r\n\r\n",  // '*' only for OPTIONS
      "CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n",
      "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  // too many leading blank lines
  };
  for (const char* c : cases) {
    Outcome o = ParseEverySplit(c);
    EXPECT_EQ(o.error_status, 400) << c;
  }
}

TEST(RequestParserTest, LeniencyThatIsAllowed) {
  // Empty lines before a request, bare LF line ends, absolute-form and '*' targets.
  Outcome o = ParseEverySplit(
      "\r\n\r\nGET http://example.org:8080/p/q?x=%20 HTTP/1.1\nHost: example.org\n\n"
      "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET http://example.org HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 3u);
  EXPECT_EQ(o.requests[0].target, "http://example.org:8080/p/q?x=%20");
  EXPECT_EQ(o.requests[0].path, "/p/q");
  EXPECT_EQ(o.requests[0].query, "x=%20");
  EXPECT_EQ(o.requests[1].method, "OPTIONS");
  EXPECT_EQ(o.requests[1].path, "*");
  EXPECT_EQ(o.requests[2].path, "/");
}

TEST(RequestParserTest, StartedIgnoresLeadingEmptyLines) {
  RequestParser parser;
  parser.Feed("\r\n");
  EXPECT_FALSE(parser.started());
  parser.Feed("G");
  EXPECT_TRUE(parser.started());
  parser.Feed("ET / HTTP/1.1\r\nHost: h\r\n");
  EXPECT_FALSE(parser.headers_complete());
  parser.Feed("\r\n");
  EXPECT_TRUE(parser.headers_complete());
  ASSERT_EQ(parser.state(), RequestParser::State::kComplete);
  parser.TakeRequest();
  EXPECT_FALSE(parser.started()) << "TakeRequest resets for the next request";
}

TEST(RequestParserTest, ErrorStopsConsuming) {
  RequestParser parser;
  parser.Feed("BAD\r\n");
  ASSERT_EQ(parser.state(), RequestParser::State::kError);
  EXPECT_EQ(parser.Feed("GET / HTTP/1.1\r\n"), 0u);
  EXPECT_FALSE(parser.error_detail().empty());
  parser.Reset();
  parser.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(parser.state(), RequestParser::State::kComplete);
}

TEST(RequestParserTest, LargeBodyAcrossManyPieces) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body.push_back(static_cast<char>('a' + i % 26));
  std::string input =
      "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  std::vector<size_t> splits;
  for (size_t i = 7; i < input.size(); i += 997) splits.push_back(i);
  Outcome o = ParseSplit(input, splits);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, body);
}

// A cheap deterministic fuzz: mutated requests must never crash, and a random split of the
// input must give exactly what parsing it whole gives.
TEST(RequestParserTest, MutatedInputsAgreeAcrossSplits) {
  const std::string seeds[] = {
      "GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
      "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
      "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: "
      "v\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  };
  ParserLimits limits;
  limits.max_body_bytes = 64;
  limits.max_header_bytes = 128;
  limits.max_target_bytes = 32;
  std::mt19937 rng(1234);
  const char alphabet[] = "\r\n :;,0123456789aAfFzZ/?%-\t\x01\x7f\xff";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string input = seeds[iter % std::size(seeds)];
    input += seeds[(iter / 4) % std::size(seeds)];  // pipelined pairs
    int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      size_t at = rng() % input.size();
      switch (rng() % 3) {
        case 0:
          input[at] = alphabet[rng() % (sizeof(alphabet) - 1)];
          break;
        case 1:
          input.insert(at, 1, alphabet[rng() % (sizeof(alphabet) - 1)]);
          break;
        default:
          input.erase(at, 1 + rng() % 3);
          break;
      }
      if (input.empty()) input = "x";
    }
    Outcome whole = ParseWhole(input, limits);
    std::vector<size_t> splits;
    for (size_t i = 1; i < input.size(); ++i) {
      if (rng() % 4 == 0) splits.push_back(i);
    }
    Outcome split = ParseSplit(input, splits, limits);
    ASSERT_EQ(whole.state, split.state) << input;
    ASSERT_EQ(whole.error_status, split.error_status) << input;
    ASSERT_EQ(whole.requests.size(), split.requests.size()) << input;
    for (size_t i = 0; i < whole.requests.size(); ++i) {
      ExpectSameRequest(whole.requests[i], split.requests[i]);
      EXPECT_LE(whole.requests[i].body.size(), limits.max_body_bytes);
      EXPECT_LE(whole.requests[i].target.size(), limits.max_target_bytes);
    }
    if (whole.state == RequestParser::State::kError) {
      EXPECT_TRUE(whole.error_status == 400 || whole.error_status == 413 ||
                  whole.error_status == 414 || whole.error_status == 431 ||
                  whole.error_status == 501 || whole.error_status == 505)
          << whole.error_status;
    }
  }
}

}  // namespace
}  // namespace civitas::http
