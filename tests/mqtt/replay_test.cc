// civitas replay against a real broker in this process (HTTP transport): it provisions the car
// parks and air sensors of the shipped data and their rows become history with the rows' times.
#include "sim/replay.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "support/broker_fixture.h"
#include "support/test_client.h"

namespace civitas::testing {
namespace {

TEST(ReplayTest, ShippedRowsBecomeEntitiesWithHistory) {
  BrokerFixture broker(".");
  broker.Start();
  auto options = sim::ParseReplayOptions(
      {"--civitas", "http://127.0.0.1:" + std::to_string(broker.port()), "--data",
       std::string(CIVITAS_SOURCE_DIR) + "/data/replay", "--datasets", "parking,air", "--limit",
       "200", "--speedup", "0", "--service", "replaycity", "--quiet"});
  ASSERT_TRUE(options.ok()) << options.status().detail();
  ASSERT_EQ(sim::RunReplay(*options), 0);

  TestClient client("127.0.0.1", broker.port());
  auto r =
      client.Send("GET", "/ngsi-ld/v1/entities?type=OffStreetParking&limit=100&options=keyValues",
                  {{"NGSILD-Tenant", "replaycity"}}, "");
  ASSERT_EQ(r.status, 200) << r.body;
  auto parks = ParseJson(r.body);
  ASSERT_TRUE(parks.ok());
  ASSERT_EQ(parks->size(), 8u) << r.body;  // every car park reports at the first instant
  for (const Json& e : parks->as_array()) {
    EXPECT_NE(e.Find("location"), nullptr) << ToJsonString(e);
    EXPECT_NE(e.Find("occupiedSpotNumber"), nullptr) << ToJsonString(e);
    EXPECT_NE(e.Find("totalSpotNumber"), nullptr) << ToJsonString(e);
  }

  // The first Aberdeen sensor's readings of 2019-04-01 00:01:25, 00:03:54, ... are its history.
  r = client.Send("GET",
                  "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-15092"
                  "?attrs=PM10",
                  {{"NGSILD-Tenant", "replaycity"}}, "");
  ASSERT_EQ(r.status, 200) << r.body;
  auto aq = ParseJson(r.body);
  ASSERT_TRUE(aq.ok());
  const Json* pm10 = aq->Find("PM10");
  ASSERT_NE(pm10, nullptr) << r.body;
  ASSERT_TRUE(pm10->is_array()) << r.body;
  EXPECT_GE(pm10->size(), 3u) << r.body;
  bool first_reading = false;
  for (const Json& i : pm10->as_array()) {
    if (i.GetString("observedAt") == "2019-04-01T00:01:25.000Z") {
      first_reading = true;
      EXPECT_DOUBLE_EQ(i.Find("value")->as_double(), 9.77);
    }
  }
  EXPECT_TRUE(first_reading) << r.body;
}

TEST(ReplayTest, RejectsBadOptions) {
  EXPECT_FALSE(sim::ParseReplayOptions({"--datasets", "traffic,weather"}).ok());
  EXPECT_FALSE(sim::ParseReplayOptions({"--speedup", "fast"}).ok());
  EXPECT_FALSE(sim::ParseReplayOptions({"--limit", "0"}).ok());
  EXPECT_FALSE(sim::ParseReplayOptions({"--mqtt", "tcp://x"}).ok());
  auto o = sim::ParseReplayOptions({"--datasets", "air,traffic"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->datasets, (std::vector<sim::Dataset>{sim::Dataset::kAir, sim::Dataset::kTraffic}));
  EXPECT_EQ(sim::ParseReplayOptions({})->speedup, 60);
}

TEST(ReplayTest, MissingDataIsAnError) {
  auto options = sim::ParseReplayOptions({"--data", "/nonexistent", "--quiet"});
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(sim::RunReplay(*options), 1);
}

}  // namespace
}  // namespace civitas::testing
