#include "ingest/provisioning.h"

#include <gtest/gtest.h>

namespace civitas::ingest {
namespace {

Json J(std::string_view text) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

TEST(ServiceGroup, ParsesTheIotAgentBody) {
  auto g = ParseServiceGroup(J(R"({
      "apikey": "k1", "cbroker": "http://orion:1026", "entity_type": "AirQualityObserved",
      "resource": "/iot/json", "autoprovision": true,
      "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}],
      "static_attributes": [{"name": "category", "type": "Text", "value": "sensor"}]})"),
                             {"city", "/air"});
  ASSERT_TRUE(g.ok()) << g.status().detail();
  EXPECT_EQ(g->apikey, "k1");
  EXPECT_EQ(g->resource, "/iot/json");
  EXPECT_TRUE(g->autoprovision);
  ASSERT_EQ(g->attributes.size(), 1u);
  EXPECT_EQ(g->attributes[0].object_id, "t");
  EXPECT_EQ(g->attributes[0].name, "temperature");
  Json out = ToJson(*g);
  EXPECT_EQ(out.GetString("cbroker"), "http://orion:1026");  // kept, not interpreted
  EXPECT_EQ(out.GetString("service"), "city");
  EXPECT_EQ(out.GetString("subservice"), "/air");
  // The representation parses back to the same group.
  auto again = ParseServiceGroup(out, g->scope);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ToJson(*again), out);
}

TEST(ServiceGroup, AutoprovisionIsOffByDefault) {
  auto g = ParseServiceGroup(J(R"({"apikey": "k"})"), {});
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->autoprovision);
}

TEST(ServiceGroup, InvalidBodiesNameTheMember) {
  struct Case {
    const char* body;
    const char* detail_part;
  } cases[] = {
      {R"({})", "apikey is required"},
      {R"({"apikey": 3})", "apikey must be a string"},
      {R"({"apikey": "a/b"})", "apikey must not contain"},
      {R"({"apikey": "k", "resource": "iot"})", "resource must start with /"},
      {R"({"apikey": "k", "autoprovision": "yes"})", "autoprovision must be true or false"},
      {R"({"apikey": "k", "attributes": {}})", "attributes must be an array"},
      {R"({"apikey": "k", "attributes": [{"object_id": "t", "type": "Number"}]})",
       "attributes[0].name is required"},
      {R"({"apikey": "k", "attributes": [{"name": "t"}]})", "attributes[0].type is required"},
      {R"({"apikey": "k", "attributes": [{"name": "a b", "type": "Number"}]})",
       "not a valid attribute name"},
      {R"({"apikey": "k", "attributes": [{"name": "id", "type": "Text"}]})",
       "not a valid attribute name"},
      {R"({"apikey": "k", "attributes": [{"name": "createdAt", "type": "Text"}]})",
       "not a valid attribute name"},
      {R"({"apikey": "k", "static_attributes": [{"name": "vocab", "type": "Text", "value": 1}]})",
       "not a valid attribute name"},
      {R"({"apikey": "k", "attributes": [{"name": "a", "type": "T"}, {"object_id": "a", "name": "b", "type": "T"}]})",
       "mapped twice"},
      {R"({"apikey": "k", "static_attributes": [{"name": "c", "type": "Text"}]})",
       "static_attributes[0].value is required"},
      {R"({"apikey": "k", "entity_type": "A B"})", "entity_type is not a valid"},
      {R"([])", "must be a JSON object"},
  };
  for (const auto& c : cases) {
    auto g = ParseServiceGroup(J(c.body), {});
    ASSERT_FALSE(g.ok()) << c.body;
    EXPECT_EQ(g.status().code(), ErrorCode::kBadRequestData);
    EXPECT_NE(g.status().detail().find(c.detail_part), std::string::npos)
        << c.body << " -> " << g.status().detail();
  }
}

TEST(Device, DefaultsAndEntityId) {
  auto d = ParseDevice(J(R"({"device_id": "sensor1", "protocol": "PDI-IoTA-JSON",
                              "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})"),
                       {"city", "/"});
  ASSERT_TRUE(d.ok()) << d.status().detail();
  EXPECT_EQ(EntityTypeOf(*d, ""), "Thing");
  EXPECT_EQ(EntityTypeOf(*d, "Sensor"), "Sensor");
  EXPECT_EQ(EntityIdOf(*d, "Sensor"), "urn:ngsi-ld:Sensor:sensor1");
  auto named = ParseDevice(J(R"({"device_id": "s2", "entity_type": "Car", "entity_name": "urn:ngsi-ld:Car:x"})"), {});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(EntityIdOf(*named, "Sensor"), "urn:ngsi-ld:Car:x");
  EXPECT_EQ(EntityTypeOf(*named, "Sensor"), "Car");
  EXPECT_EQ(ToJson(*d).GetString("protocol"), "PDI-IoTA-JSON");
}

TEST(Device, InvalidBodies) {
  EXPECT_FALSE(ParseDevice(J(R"({})"), {}).ok());
  EXPECT_FALSE(ParseDevice(J(R"({"device_id": ""})"), {}).ok());
  EXPECT_FALSE(ParseDevice(J(R"({"device_id": "a+b"})"), {}).ok());
  EXPECT_FALSE(ParseDevice(J(R"({"device_id": "a", "entity_name": "not a uri"})"), {}).ok());
  EXPECT_FALSE(ParseDevice(J(R"({"device_id": "a", "transport": "CARRIER_PIGEON"})"), {}).ok());
  EXPECT_FALSE(ParseDevice(J(R"({"device_id": "a", "attributes": [1]})"), {}).ok());
}

TEST(Device, UpdateKeepsTheIdAndReplacesMembers) {
  auto d = ParseDevice(J(R"({"device_id": "s1", "entity_type": "A"})"), {"x", "/"});
  ASSERT_TRUE(d.ok());
  auto u = UpdateDevice(*d, J(R"({"entity_type": "B", "attributes": [{"name": "t", "type": "Number"}]})"));
  ASSERT_TRUE(u.ok()) << u.status().detail();
  EXPECT_EQ(u->entity_type, "B");
  EXPECT_EQ(u->attributes.size(), 1u);
  EXPECT_EQ(u->scope.service, "x");
  EXPECT_FALSE(UpdateDevice(*d, J(R"({"device_id": "s2"})")).ok());
  EXPECT_TRUE(UpdateDevice(*d, J(R"({"device_id": "s1"})")).ok());
  EXPECT_FALSE(UpdateDevice(*d, J(R"({"entity_name": "bad name"})")).ok());
}

}  // namespace
}  // namespace civitas::ingest
