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
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",  // chunked
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

}  // namespace
}  // namespace civitas::bench
