#include "sim/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "ingest/mapping.h"
#include "jsonld/context.h"
#include "ngsild/parse.h"

namespace civitas::sim {
namespace {

TEST(Fleet, DeterministicKindsInTurnOverAarhus) {
  auto a = MakeFleet(12, 7), b = MakeFleet(12, 7);
  ASSERT_EQ(a.size(), 12u);
  std::set<std::string> ids;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].lat, b[i].lat);
    EXPECT_EQ(a[i].kind, kKinds[i % std::size(kKinds)]);
    EXPECT_GE(a[i].lat, 56.10);
    EXPECT_LE(a[i].lat, 56.20);
    EXPECT_GE(a[i].lon, 10.10);
    EXPECT_LE(a[i].lon, 10.25);
    ids.insert(a[i].id);
  }
  EXPECT_EQ(ids.size(), 12u);
  EXPECT_EQ(a[0].id, "aq-0000");
  EXPECT_EQ(a[5].id, "aq-0001");
}

TEST(Fleet, PlacedInsideTheDistrictsOfTheDemoCity) {
  std::ifstream in(std::string(CIVITAS_SOURCE_DIR) + "/data/demo/aarhus_local_community.wgs84.geojson");
  std::stringstream text;
  text << in.rdbuf();
  auto districts = ParseDistricts(text.str());
  ASSERT_TRUE(districts.ok()) << districts.status().detail();
  EXPECT_EQ(districts->size(), 24u);
  auto fleet = MakeFleet(50, 3, *districts);
  for (const auto& d : fleet) {
    ASSERT_FALSE(d.district.empty()) << d.id;
    auto it = std::find_if(districts->begin(), districts->end(),
                           [&](const District& x) { return x.id == d.district; });
    ASSERT_NE(it, districts->end());
    EXPECT_TRUE(it->Contains(d.lon, d.lat)) << d.id;
  }
  Json body = DevicesBody(fleet, 0, 1);
  const Json& statics = *body.Find("devices")->as_array()[0].Find("static_attributes");
  EXPECT_EQ(statics.as_array()[1].GetString("name"), "refDistrict");
  EXPECT_FALSE(ParseDistricts("{}").ok());
  EXPECT_FALSE(ParseDistricts("[").ok());
}

TEST(District, ContainsBySquare) {
  District sq;
  sq.rings = {{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}};
  EXPECT_TRUE(sq.Contains(0.5, 0.5));
  EXPECT_FALSE(sq.Contains(1.5, 0.5));
  EXPECT_FALSE(sq.Contains(0.5, -0.1));
}

TEST(Patterns, RushHoursAreBusierThanTheNight) {
  EXPECT_GT(Busyness(8), 2 * Busyness(3));
  EXPECT_GT(Busyness(17), 2 * Busyness(3));
  for (double h = 0; h < 24; h += 0.25) {
    EXPECT_GE(Busyness(h), 0.0);
    EXPECT_LE(Busyness(h), 1.0);
  }
}

// What the simulator sends must be what its own provisioning maps to valid NGSI-LD.
TEST(Measures, MapToValidEntitiesWithTheProvisionedNames) {
  jsonld::ContextRegistry contexts({}, [](const std::string& u) -> Result<std::string> {
    return Status::NotFound(u);
  });
  auto core = contexts.Core();
  Json groups = ServiceGroupsBody();
  auto fleet = MakeFleet(5, 1);
  Json devices = DevicesBody(fleet, 0, 5);
  ASSERT_EQ(devices.Find("devices")->size(), 5u);
  std::mt19937_64 rng(1);
  const Micros rush = *ParseDateTime("2026-12-01T08:00:00Z");
  for (size_t i = 0; i < fleet.size(); ++i) {
    auto g = ingest::ParseServiceGroup(groups.Find("services")->as_array()[i], {"aarhus", "/"});
    ASSERT_TRUE(g.ok()) << g.status().detail();
    auto d = ingest::ParseDevice(devices.Find("devices")->as_array()[i], {"aarhus", "/"});
    ASSERT_TRUE(d.ok()) << d.status().detail();
    ingest::ResolvedDevice rd{std::make_shared<const ingest::Device>(*d),
                              std::make_shared<const ingest::ServiceGroup>(*g)};
    Json m = MakeMeasure(fleet[i], rush, rng);
    EXPECT_EQ(m.GetString("TimeInstant"), "2026-12-01T08:00:00.000Z");
    auto measures = ingest::DecodeJsonMeasures(ToJsonString(m));
    ASSERT_TRUE(measures.ok());
    auto updates = ingest::MapMeasures(rd, *measures, 0, *core);
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].dropped, 0u) << ToJsonString(m);
    const Json& f = updates[0].fragment;
    EXPECT_NE(f.Find("location"), nullptr);
    auto parsed = ngsild::ParseEntityBody(f, *core, {.require_id_and_type = true});
    EXPECT_TRUE(parsed.ok()) << parsed.status().detail() << " in " << ToJsonString(f);
  }
  // Spot checks of the mapping: names, units, types.
  auto aq = ingest::ParseServiceGroup(groups.Find("services")->as_array()[0], {});
  EXPECT_EQ(aq->attributes[1].name, "NO2");
}

}  // namespace
}  // namespace civitas::sim
