#include "response_parser.h"

#include <gtest/gtest.h>

namespace civitas::bench {
namespace {

FrameResult Parse(std::string_view data, ResponseFrame* f, bool head = false) {
  std::string error;
  return ParseResponseHead(data, head, 1024, f, &error);
}

TEST(ResponseParserTest, ContentLengthFramesPipelinedResponses) {
  std::string two =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}"
      "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n";
  ResponseFrame f;
  ASSERT_EQ(Parse(two, &f), FrameResult::kComplete);
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(two.substr(f.total_bytes - 2, 2), "{}");
  EXPECT_FALSE(f.close);
  std::string_view rest = std::string_view(two).substr(f.total_bytes);
  ASSERT_EQ(Parse(rest, &f), FrameResult::kComplete);
  EXPECT_EQ(f.status, 204);
  EXPECT_EQ(f.total_bytes, rest.size());  // 204 has no body even without Content-Length
}

TEST(ResponseParserTest, IncompleteHeadNeedsMore) {
  ResponseFrame f;
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\nContent-Len", &f), FrameResult::kNeedMore);
  EXPECT_EQ(Parse("", &f), FrameResult::kNeedMore);
}

TEST(ResponseParserTest, NoBodyCases) {
  ResponseFrame f;
  ASSERT_EQ(Parse("HTTP/1.1 304 Not Modified\r\n\r\n", &f), FrameResult::kComplete);
  EXPECT_EQ(f.total_bytes, f.head_bytes);
  ASSERT_EQ(Parse("HTTP/1.1 100 Continue\r\n\r\n", &f), FrameResult::kComplete);
  EXPECT_EQ(f.status, 100);
  // A response to HEAD announces the length of a body it does not carry.
  ASSERT_EQ(Parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", &f, true),
            FrameResult::kComplete);
  EXPECT_EQ(f.total_bytes, f.head_bytes);
}

TEST(ResponseParserTest, ConnectionClose) {
  ResponseFrame f;
  ASSERT_EQ(
      Parse("HTTP/1.1 400 Bad\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", &f),
      FrameResult::kComplete);
  EXPECT_TRUE(f.close);
  ASSERT_EQ(Parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &f), FrameResult::kComplete);
  EXPECT_TRUE(f.close);
  ASSERT_EQ(Parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", &f),
            FrameResult::kComplete);
  EXPECT_FALSE(f.close);
}

TEST(ResponseParserTest, UnframeableResponsesAreErrors) {
  ResponseFrame f;
  for (const char* bad : {
           "HTTP/1.1 200 OK\r\n\r\n",                                // no length
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",  // not chunked
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",          // bad number
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",  // bad status
           "SMTP 220 hello\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
       }) {
    EXPECT_EQ(Parse(bad, &f), FrameResult::kError) << bad;
  }
  // A head that never ends.
  EXPECT_EQ(Parse(std::string(2000, 'x'), &f), FrameResult::kError);
}

TEST(ResponseParserTest, ChunkedBodies) {
  ResponseFrame f;
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string body = "5\r\nhello\r\n1a;ext=1\r\n" + std::string(26, 'z') + "\r\n0\r\n\r\n";
  std::string next = "HTTP/1.1 204 No Content\r\n\r\n";
  std::string all = head + body + next;
  ASSERT_EQ(Parse(all, &f), FrameResult::kComplete);
  EXPECT_TRUE(f.chunked);
  EXPECT_EQ(f.head_bytes, head.size());
  size_t end = 0;
  std::string error;
  ASSERT_EQ(ChunkedBodyEnd(all, f.head_bytes, &end, &error), FrameResult::kComplete) << error;
  EXPECT_EQ(end, head.size() + body.size());  // the next response is not swallowed
  // Every proper prefix needs more.
  for (size_t n = head.size(); n < head.size() + body.size(); ++n) {
    EXPECT_EQ(ChunkedBodyEnd(std::string_view(all).substr(0, n), f.head_bytes, &end, &error),
              FrameResult::kNeedMore)
        << n;
  }
  // Trailer fields before the blank line.
  std::string trailer = head + "0\r\nX-T: 1\r\n\r\n";
  ASSERT_EQ(ChunkedBodyEnd(trailer, head.size(), &end, &error), FrameResult::kComplete);
  EXPECT_EQ(end, trailer.size());
  for (const char* bad : {"zz\r\n", "\r\n", "3\r\nabcXY0\r\n\r\n"}) {
    EXPECT_EQ(ChunkedBodyEnd(head + bad, head.size(), &end, &error), FrameResult::kError) << bad;
  }
  // A HEAD answer or a 204 has no body, chunked or not.
  ASSERT_EQ(Parse("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", &f),
            FrameResult::kComplete);
  EXPECT_FALSE(f.chunked);
}

}  // namespace
}  // namespace civitas::bench
