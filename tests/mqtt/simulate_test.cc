// civitas simulate against a real broker in this process (HTTP transport): it provisions its
// fleet and every device gets measures, with the patterns' attributes, in the chosen tenant.
#include <gtest/gtest.h>

#include "common/json.h"
#include "sim/simulate.h"
#include "support/broker_fixture.h"
#include "support/test_client.h"

namespace civitas::testing {
namespace {

TEST(SimulateTest, EveryDeviceOfTheFleetReportsOverHttp) {
  BrokerFixture broker(".");
  broker.Start();
  auto options = sim::ParseSimOptions({"--civitas", "http://127.0.0.1:" + std::to_string(broker.port()),
                                       "--devices", "10", "--rate", "200", "--duration", "0.5",
                                       "--service", "simcity", "--quiet"});
  ASSERT_TRUE(options.ok()) << options.status().detail();
  ASSERT_EQ(sim::RunSimulation(*options), 0);
  // A second run finds its fleet provisioned already and carries on.
  ASSERT_EQ(sim::RunSimulation(*options), 0);

  TestClient client("127.0.0.1", broker.port());
  auto r = client.Send("GET",
                       "/ngsi-ld/v1/entities?type=AirQualityObserved,ParkingSpot,"
                       "TrafficFlowObserved,NoiseLevelObserved,Streetlight&limit=100&options=keyValues",
                       {{"NGSILD-Tenant", "simcity"}}, "");
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = ParseJson(r.body);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 10u) << r.body;
  for (const Json& e : list->as_array()) {
    EXPECT_NE(e.Find("location"), nullptr) << ToJsonString(e);
    if (e.GetString("type") == "AirQualityObserved") {
      EXPECT_NE(e.Find("NO2"), nullptr) << ToJsonString(e);
      EXPECT_NE(e.Find("temperature"), nullptr);
    }
    if (e.GetString("type") == "TrafficFlowObserved") {
      EXPECT_NE(e.Find("intensity"), nullptr) << ToJsonString(e);
    }
  }
}

TEST(SimulateTest, RejectsBadOptions) {
  EXPECT_FALSE(sim::ParseSimOptions({"--rate", "fast"}).ok());
  EXPECT_FALSE(sim::ParseSimOptions({"--civitas", "ftp://x"}).ok());
  EXPECT_FALSE(sim::ParseSimOptions({"--mqtt", "tcp://x"}).ok());
  EXPECT_FALSE(sim::ParseSimOptions({"--devices"}).ok());
  EXPECT_TRUE(sim::ParseSimOptions({}).ok());
}

}  // namespace
}  // namespace civitas::testing
