// Server-sent events end to end: a real broker, a raw socket reading the stream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/broker_fixture.h"
#include "support/test_client.h"

namespace civitas::testing {
namespace {

// An EventSource-like reader: sends one GET and accumulates the stream.
class EventReader {
 public:
  EventReader(uint16_t port, const std::string& target, const std::string& extra_headers = "") {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n" +
                      extra_headers + "\r\n";
    EXPECT_EQ(send(fd_, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  }
  ~EventReader() { close(fd_); }
  // Reads until text contains `needle` occurrences times or 10 s pass.
  bool WaitFor(const std::string& needle, int occurrences = 1) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (Count(needle) < occurrences) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char buf[8192];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      text_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  int Count(const std::string& needle) const {
    int n = 0;
    for (size_t at = text_.find(needle); at != std::string::npos; at = text_.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }
  const std::string& text() const { return text_; }

 private:
  int fd_ = -1;
  std::string text_;
};

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override { broker_.Start(); }
  TestClient::Reply Post(const std::string& target, const std::string& body) {
    TestClient c("127.0.0.1", broker_.port());
    return c.Send("POST", target, {{"Content-Type", "application/json"}}, body);
  }
  TestClient::Reply Patch(const std::string& target, const std::string& body) {
    TestClient c("127.0.0.1", broker_.port());
    return c.Send("PATCH", target, {{"Content-Type", "application/json"}}, body);
  }
  BrokerFixture broker_{CIVITAS_SOURCE_DIR "/tests/api/contexts"};
};

TEST_F(EventsTest, AdHocFilterStreamsMatchingChanges) {
  EventReader reader(broker_.port(), "/ngsi-ld/v1/events?type=Sensor&q=no2>40&options=keyValues");
  ASSERT_TRUE(reader.WaitFor("retry:"));
  EXPECT_NE(reader.text().find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_EQ(Post("/ngsi-ld/v1/entities", R"({"id":"urn:s:1","type":"Sensor","no2":30})").status,
            201);
  EXPECT_EQ(Post("/ngsi-ld/v1/entities", R"({"id":"urn:p:1","type":"Park","no2":99})").status, 201);
  EXPECT_EQ(Patch("/ngsi-ld/v1/entities/urn:s:1/attrs", R"({"no2":45})").status, 204);
  ASSERT_TRUE(reader.WaitFor("event: notification"));
  EXPECT_NE(reader.text().find(R"("data":[{"id":"urn:s:1","type":"Sensor","no2":45}])"),
            std::string::npos)
      << reader.text();
  // Neither the park nor the first value (below the threshold) was sent.
  EXPECT_EQ(reader.Count("event: notification"), 1);
  EXPECT_EQ(reader.text().find("urn:p:1"), std::string::npos);
}

TEST_F(EventsTest, AdHocGeoFilter) {
  // Within 1 km of Aarhus city hall.
  EventReader reader(broker_.port(),
                     "/ngsi-ld/v1/events?type=Sensor&georel=near%3BmaxDistance%3D%3D1000"
                     "&geometry=Point&coordinates=%5B10.2039,56.1529%5D&options=keyValues");
  ASSERT_TRUE(reader.WaitFor("retry:"));
  Post("/ngsi-ld/v1/entities", R"({"id":"urn:s:far","type":"Sensor","n":1,
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[12.57,55.68]}}})");
  Post("/ngsi-ld/v1/entities", R"({"id":"urn:s:near","type":"Sensor","n":2,
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[10.205,56.153]}}})");
  ASSERT_TRUE(reader.WaitFor("event: notification"));
  EXPECT_NE(reader.text().find("urn:s:near"), std::string::npos);
  EXPECT_EQ(reader.text().find("urn:s:far"), std::string::npos);
}

TEST_F(EventsTest, SubscriptionStreamResumesAfterLastEventId) {
  ASSERT_EQ(Post("/ngsi-ld/v1/subscriptions", R"({"id":"urn:sub:1","type":"Subscription",
      "entities":[{"type":"Sensor"}],"notification":{"format":"keyValues",
      "endpoint":{"uri":"urn:civitas:sse"}}})")
                .status,
            201);
  std::string first_id;
  {
    EventReader reader(broker_.port(), "/ngsi-ld/v1/subscriptions/urn:sub:1/events");
    ASSERT_TRUE(reader.WaitFor("retry:"));
    Post("/ngsi-ld/v1/entities", R"({"id":"urn:s:1","type":"Sensor","n":1})");
    ASSERT_TRUE(reader.WaitFor("event: notification"));
    ASSERT_TRUE(reader.WaitFor("}\n\n"));
    size_t at = reader.text().find("id: ");
    ASSERT_NE(at, std::string::npos);
    first_id = reader.text().substr(at + 4, reader.text().find('\n', at) - at - 4);
  }
  // Changes while nobody listens are kept for a while...
  Patch("/ngsi-ld/v1/entities/urn:s:1/attrs", R"({"n":2})");
  Patch("/ngsi-ld/v1/entities/urn:s:1/attrs", R"({"n":3})");
  EventReader again(broker_.port(), "/ngsi-ld/v1/subscriptions/urn:sub:1/events",
                    "Last-Event-ID: " + first_id + "\r\n");
  ASSERT_TRUE(again.WaitFor("event: notification", 2)) << again.text();
  size_t two = again.text().find(R"("n":2)");
  size_t three = again.text().find(R"("n":3)");
  EXPECT_NE(two, std::string::npos);
  EXPECT_NE(three, std::string::npos);
  EXPECT_LT(two, three);
  EXPECT_EQ(again.text().find(R"("n":1)"), std::string::npos);  // before the given id
}

TEST_F(EventsTest, TenantAsAParameter) {
  // EventSource cannot send NGSILD-Tenant: the stream takes ?tenant=.
  EventReader reader(broker_.port(), "/ngsi-ld/v1/events?type=Sensor&tenant=aarhus");
  ASSERT_TRUE(reader.WaitFor("retry:"));
  Post("/ngsi-ld/v1/entities", R"({"id":"urn:s:default","type":"Sensor","n":1})");
  TestClient c("127.0.0.1", broker_.port());
  ASSERT_EQ(c.Send("POST", "/ngsi-ld/v1/entities",
                   {{"Content-Type", "application/json"}, {"NGSILD-Tenant", "aarhus"}},
                   R"({"id":"urn:s:aarhus","type":"Sensor","n":2})")
                .status,
            201);
  ASSERT_TRUE(reader.WaitFor("event: notification"));
  EXPECT_NE(reader.text().find("urn:s:aarhus"), std::string::npos);
  EXPECT_EQ(reader.text().find("urn:s:default"), std::string::npos);
}

TEST_F(EventsTest, UnknownSubscriptionIs404) {
  TestClient c("127.0.0.1", broker_.port());
  EXPECT_EQ(c.Send("GET", "/ngsi-ld/v1/subscriptions/urn:none/events", {}, "").status, 404);
}

}  // namespace
}  // namespace civitas::testing
