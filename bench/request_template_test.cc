#include "request_template.h"

#include <gtest/gtest.h>

namespace civitas::bench {
namespace {

TEST(RequestTemplateTest, FixedRequest) {
  auto t = RequestTemplate::Compile("GET", "127.0.0.1:1026", "/ngsi-ld/v1/entities/urn:x:1",
                                    {"Accept: application/json"}, "");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->uses_index());
  std::string out;
  t->Append(out, 7, 9);
  EXPECT_EQ(out,
            "GET /ngsi-ld/v1/entities/urn:x:1 HTTP/1.1\r\nHost: 127.0.0.1:1026\r\n"
            "Accept: application/json\r\n\r\n");
}

TEST(RequestTemplateTest, PlaceholdersInPathAndBodyWithContentLength) {
  auto t = RequestTemplate::Compile("PATCH", "h", "/e/urn:B:{i}/attrs",
                                    {"Content-Type: application/json"},
                                    R"({"v":{"type":"Property","value":{rand}}})");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->uses_index());
  EXPECT_TRUE(t->uses_rand());
  std::string out;
  t->Append(out, 42, 123456);
  std::string body = R"({"v":{"type":"Property","value":123456}})";
  EXPECT_EQ(out,
            "PATCH /e/urn:B:42/attrs HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
  // Appends: several requests go into one buffer back to back.
  size_t first = out.size();
  t->Append(out, 0, 5);
  EXPECT_EQ(out.substr(first, 22), "PATCH /e/urn:B:0/attrs");
}

TEST(RequestTemplateTest, ExplicitHostAndEmptyPostBody) {
  auto t = RequestTemplate::Compile("POST", "h", "/x", {"Host: other"}, "");
  ASSERT_TRUE(t.ok());
  std::string out;
  t->Append(out, 0, 0);
  EXPECT_EQ(out, "POST /x HTTP/1.1\r\nHost: other\r\nContent-Length: 0\r\n\r\n");
}

TEST(RequestTemplateTest, RejectsBadInput) {
  EXPECT_FALSE(RequestTemplate::Compile("GET", "h", "x", {}, "").ok());
  EXPECT_FALSE(RequestTemplate::Compile("GET", "h", "/a b", {}, "").ok());
  EXPECT_FALSE(RequestTemplate::Compile("G T", "h", "/", {}, "").ok());
  EXPECT_FALSE(RequestTemplate::Compile("GET", "h", "/", {"NoColon"}, "").ok());
  EXPECT_FALSE(RequestTemplate::Compile("POST", "h", "/", {"Content-Length: 3"}, "abc").ok());
}

}  // namespace
}  // namespace civitas::bench
