#include "ingest/mapping.h"

#include <gtest/gtest.h>

namespace civitas::ingest {
namespace {

Json J(std::string_view text) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

ResolvedDevice Make(std::string_view device_json, std::string_view group_json = "") {
  ResolvedDevice rd;
  auto d = ParseDevice(J(device_json), {"t", "/"});
  EXPECT_TRUE(d.ok()) << d.status().detail();
  rd.device = std::make_shared<const Device>(*d);
  if (!group_json.empty()) {
    auto g = ParseServiceGroup(J(group_json), {"t", "/"});
    EXPECT_TRUE(g.ok()) << g.status().detail();
    rd.group = std::make_shared<const ServiceGroup>(*g);
  }
  return rd;
}

std::vector<MeasureGroup> Ul(std::string_view text) {
  auto g = DecodeUltralight(text);
  EXPECT_TRUE(g.ok()) << g.status().detail();
  return g.ok() ? *g : std::vector<MeasureGroup>{};
}

constexpr Micros kReceived = 1714557600000000;  // 2024-05-01T10:00:00Z

const jsonld::Context& Core() {
  static const auto core = [] {
    jsonld::ContextRegistry r({}, [](const std::string& u) -> Result<std::string> {
      return Status::NotFound(u);
    });
    return r.Core();
  }();
  return *core;
}

TEST(Mapping, ObjectIdsMapToNamesAndTypesConvertUltralightText) {
  auto rd = Make(R"({"device_id": "s1", "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})",
                 R"({"apikey": "k", "entity_type": "AirQualityObserved",
                     "attributes": [{"object_id": "no2", "name": "NO2", "type": "Integer"},
                                    {"object_id": "on", "name": "active", "type": "Boolean"}]})");
  auto ups = MapMeasures(rd, Ul("t|21.5|no2|38|on|true|x|hello"), kReceived, Core());
  ASSERT_EQ(ups.size(), 1u);
  const Json& f = ups[0].fragment;
  EXPECT_EQ(f.GetString("id"), "urn:ngsi-ld:AirQualityObserved:s1");
  EXPECT_EQ(f.GetString("type"), "AirQualityObserved");
  EXPECT_EQ(*f.Find("temperature"),
            J(R"({"type": "Property", "value": 21.5, "observedAt": "2024-05-01T10:00:00.000Z"})"));
  EXPECT_EQ(f.Find("NO2")->Find("value")->as_int(), 38);
  EXPECT_EQ(*f.Find("active")->Find("value"), Json(true));
  // Unmapped: its own name, the value as received.
  EXPECT_EQ(*f.Find("x")->Find("value"), Json("hello"));
  EXPECT_EQ(ups[0].dropped, 0u);
}

TEST(Mapping, ExplicitAttrsDropsUnmappedAndBadValuesAreDropped) {
  auto rd = Make(R"({"device_id": "s1", "explicitAttrs": true,
                     "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})");
  auto ups = MapMeasures(rd, Ul("t|warm|x|1"), kReceived, Core());
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].fragment.Find("temperature"), nullptr);  // "warm" is not a Number
  EXPECT_EQ(ups[0].fragment.Find("x"), nullptr);
  EXPECT_EQ(ups[0].dropped, 2u);
}

TEST(Mapping, ReservedOrInvalidKeysAreDroppedNotWritten) {
  auto rd = Make(R"({"device_id": "s1"})");
  auto g = DecodeJsonMeasures(
      R"({"id": "urn:x", "type": "Evil", "a b": 1, "ok": null, "fine": 2, "vocab": 3, "createdAt": 4, "@id": 5})");
  ASSERT_TRUE(g.ok());
  auto ups = MapMeasures(rd, *g, kReceived, Core());
  EXPECT_EQ(ups[0].fragment.GetString("id"), "urn:ngsi-ld:Thing:s1");
  EXPECT_EQ(ups[0].fragment.GetString("type"), "Thing");
  EXPECT_EQ(ups[0].fragment.Find("a b"), nullptr);
  EXPECT_NE(ups[0].fragment.Find("fine"), nullptr);
  EXPECT_EQ(ups[0].fragment.Find("vocab"), nullptr);  // found by fuzz_measures
  EXPECT_EQ(ups[0].dropped, 7u);
}

TEST(Mapping, GeoRelationshipAndStatics) {
  auto rd = Make(R"({"device_id": "s1", "entity_name": "urn:ngsi-ld:Bin:7",
                     "attributes": [{"object_id": "p", "name": "location", "type": "geo:point"},
                                    {"object_id": "r", "name": "refStreet", "type": "Relationship"}],
                     "static_attributes": [{"name": "category", "type": "Text", "value": "bin"}]})",
                 R"({"apikey": "k", "static_attributes": [{"name": "category", "type": "Text", "value": "group"},
                                                          {"name": "owner", "type": "Text", "value": "city"}]})");
  auto ups = MapMeasures(rd, Ul("p|56.15, 10.2|r|urn:ngsi-ld:Street:1"), kReceived, Core());
  const Json& f = ups[0].fragment;
  EXPECT_EQ(f.GetString("id"), "urn:ngsi-ld:Bin:7");
  EXPECT_EQ(*f.Find("location")->Find("value"),
            J(R"({"type": "Point", "coordinates": [10.2, 56.15]})"));
  EXPECT_EQ(f.Find("location")->GetString("type"), "GeoProperty");
  EXPECT_EQ(f.Find("refStreet")->GetString("object"), "urn:ngsi-ld:Street:1");
  EXPECT_EQ(*f.Find("category")->Find("value"), Json("bin"));  // the device's wins
  EXPECT_EQ(*f.Find("owner")->Find("value"), Json("city"));
}

TEST(Mapping, UnitCodeMetadataBecomesUnitCode) {
  auto rd = Make(R"({"device_id": "s1", "attributes": [{"object_id": "t", "name": "temperature", "type": "Number",
                     "metadata": {"unitCode": {"type": "Text", "value": "CEL"}}}],
                     "static_attributes": [{"name": "height", "type": "Number", "value": 3,
                                            "metadata": {"unitCode": {"type": "Text", "value": "MTR"}}}]})");
  auto ups = MapMeasures(rd, Ul("t|21.5"), kReceived, Core());
  EXPECT_EQ(ups[0].fragment.Find("temperature")->GetString("unitCode"), "CEL");
  EXPECT_EQ(ups[0].fragment.Find("height")->GetString("unitCode"), "MTR");
}

TEST(Mapping, AGeoPointOutOfRangeIsDroppedNotWritten) {
  // Found by fuzz_measures: a latitude of 561.5 made the whole message fail.
  auto rd = Make(R"({"device_id": "s1", "attributes": [{"object_id": "p", "name": "location", "type": "geo:point"}]})");
  auto ups = MapMeasures(rd, Ul("p|561.5,10.2|t|1"), kReceived, Core());
  EXPECT_EQ(ups[0].fragment.Find("location"), nullptr);
  EXPECT_NE(ups[0].fragment.Find("t"), nullptr);
  EXPECT_EQ(ups[0].dropped, 1u);
}

TEST(Mapping, TwoSpellingsOfOneAttributeKeepTheLast) {
  // Found by fuzz_measures: "owner" and its full IRI made a fragment with the attribute twice.
  auto rd = Make(R"({"device_id": "s1"})");
  auto g = DecodeJsonMeasures(
      R"({"https://uri.etsi.org/ngsi-ld/default-context/t": 1, "t": 2})");
  ASSERT_TRUE(g.ok());
  auto ups = MapMeasures(rd, *g, kReceived, Core());
  EXPECT_EQ(ups[0].fragment.Find("https://uri.etsi.org/ngsi-ld/default-context/t"), nullptr);
  EXPECT_EQ(ups[0].fragment.Find("t")->Find("value")->as_int(), 2);
}

TEST(Mapping, GroupsComeBackInTimeOrderWithObservedAt) {
  auto rd = Make(R"({"device_id": "s1"})");
  auto g = DecodeJsonMeasures(R"([{"t": 3, "TimeInstant": "2024-05-01T12:00:00Z"},
                                  {"t": 1, "TimeInstant": "2024-05-01T08:00:00Z"},
                                  {"t": 2}])");
  ASSERT_TRUE(g.ok());
  auto ups = MapMeasures(rd, *g, kReceived, Core());
  ASSERT_EQ(ups.size(), 3u);
  EXPECT_EQ(ups[0].fragment.Find("t")->Find("value")->as_int(), 1);
  EXPECT_EQ(ups[0].fragment.Find("t")->GetString("observedAt"), "2024-05-01T08:00:00.000Z");
  EXPECT_EQ(ups[1].fragment.Find("t")->Find("value")->as_int(), 2);  // time of receipt
  EXPECT_EQ(ups[1].fragment.Find("t")->GetString("observedAt"), "2024-05-01T10:00:00.000Z");
  EXPECT_EQ(ups[2].fragment.Find("t")->Find("value")->as_int(), 3);
}

}  // namespace
}  // namespace civitas::ingest
