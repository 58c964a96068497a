#include "api/negotiation.h"

#include <gtest/gtest.h>

#include "api/problem.h"

namespace civitas::api {
namespace {

TEST(NegotiationTest, AcceptChoosesByQuality) {
  std::string a = "application/ld+json;q=0.5, application/json";
  EXPECT_EQ(*NegotiateAccept(&a, false), MediaType::kJson);
  std::string b = "application/ld+json";
  EXPECT_EQ(*NegotiateAccept(&b, false), MediaType::kJsonLd);
  std::string c = "*/*";
  EXPECT_EQ(*NegotiateAccept(&c, false), MediaType::kJson);
  EXPECT_EQ(*NegotiateAccept(nullptr, false), MediaType::kJson);
  std::string geo = "application/geo+json";
  EXPECT_EQ(*NegotiateAccept(&geo, true), MediaType::kGeoJson);
  auto r = NegotiateAccept(&geo, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(HttpStatusOf(r.status().code()), 406);
  std::string xml = "text/xml";
  EXPECT_FALSE(NegotiateAccept(&xml, true).ok());
}

TEST(NegotiationTest, LinkHeaderContext) {
  auto r = ContextFromLink(
      "<https://example.org/ctx.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
      "type=\"application/ld+json\"");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(**r, "https://example.org/ctx.jsonld");
  auto none = ContextFromLink("<https://example.org/x>; rel=\"next\"");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto two = ContextFromLink(
      "<a:1>; rel=\"http://www.w3.org/ns/json-ld#context\", <a:2>; "
      "rel=\"http://www.w3.org/ns/json-ld#context\"");
  EXPECT_FALSE(two.ok());
  EXPECT_EQ(ContextLink("u:1"),
            "<u:1>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"");
}

TEST(NegotiationTest, QueryParams) {
  QueryParams p({{"attrs", "a,b"}, {"options", "keyValues,sysAttrs"}, {"attrs", "c"}});
  EXPECT_EQ(p.List("attrs"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(p.HasOption("sysAttrs"));
  EXPECT_FALSE(p.HasOption("concise"));
  EXPECT_EQ(*p.Get("attrs"), "a,b");
}

TEST(NegotiationTest, ProblemDetailsShape) {
  auto r = ProblemResponse(Status::NotFound("gone"));
  EXPECT_EQ(r.status, 404);
  auto body = ParseJson(r.body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("type"), "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound");
  EXPECT_EQ(body->GetString("detail"), "gone");
  EXPECT_EQ(HttpStatusOf(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kLdContextNotAvailable), 503);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kOperationNotSupported), 422);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kNotImplemented), 501);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnsupportedMediaType), 415);
}

TEST(NegotiationTest, MediaTypeOfStripsParameters) {
  EXPECT_EQ(MediaTypeOf("Application/JSON; charset=utf-8"), "application/json");
}

}  // namespace
}  // namespace civitas::api
