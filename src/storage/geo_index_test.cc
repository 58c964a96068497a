#include "storage/geo_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <random>

#include "storage/entity_store.h"

namespace civitas::storage {
namespace {

constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";
constexpr const char* kSpace = "https://uri.etsi.org/ngsi-ld/observationSpace";

Json Geo(const char* geojson) {
  Json inst = Json::MakeObject();
  inst.Set("type", "GeoProperty");
  inst.Set("value", *ParseJson(geojson));
  return inst;
}

ngsild::EntityPtr Entity(const std::string& id, std::vector<ngsild::AttributeSlot> attrs) {
  ngsild::Entity e;
  e.id = id;
  e.types = {"https://example.org/T"};
  e.attrs = std::move(attrs);
  return std::make_shared<const ngsild::Entity>(std::move(e));
}

std::vector<std::string> Sorted(std::optional<std::vector<std::string_view>> ids) {
  EXPECT_TRUE(ids.has_value());
  if (!ids) return {};
  std::vector<std::string> out(ids->begin(), ids->end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

using Ids = std::vector<std::string>;

TEST(GeoIndexTest, CandidatesFollowPutsAndDeletes) {
  GeoIndex index;
  auto a = Entity("urn:a", {{kLocation, {Geo(R"({"type":"Point","coordinates":[10.2,56.15]})")}}});
  auto b = Entity("urn:b", {{kLocation, {Geo(R"({"type":"Point","coordinates":[12.5,55.7]})")}}});
  // A district-sized polygon (a higher grid level) and a continent-sized one (the global list).
  auto c = Entity("urn:c", {{kLocation, {Geo(R"({"type":"Polygon","coordinates":
                              [[[10.1,56.1],[10.3,56.1],[10.3,56.2],[10.1,56.1]]]})")}}});
  auto d = Entity("urn:d", {{kLocation, {Geo(R"({"type":"Polygon","coordinates":
                              [[[-10,35],[30,35],[30,70],[-10,35]]]})")}}});
  for (const auto& e : {a, b, c, d}) index.OnChange("t", nullptr, e);
  EXPECT_EQ(index.Size("t"), 4u);

  std::vector<geo::Box> aarhus = {{10.19, 56.14, 10.21, 56.16}};
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, aarhus)), (Ids{"urn:a", "urn:c", "urn:d"}));
  std::vector<geo::Box> copenhagen = {{12.4, 55.6, 12.6, 55.8}};
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, copenhagen)), (Ids{"urn:b", "urn:d"}));
  // Other tenants and other attributes are separate.
  EXPECT_EQ(Sorted(index.Candidates("u", kLocation, aarhus)), Ids{});
  EXPECT_EQ(Sorted(index.Candidates("t", kSpace, aarhus)), Ids{});

  // a moves to Copenhagen; c loses its location; d is deleted.
  auto a2 = Entity("urn:a", {{kLocation, {Geo(R"({"type":"Point","coordinates":[12.5,55.71]})")}}});
  index.OnChange("t", a, a2);
  index.OnChange("t", c, Entity("urn:c", {}));
  index.OnChange("t", d, nullptr);
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, aarhus)), Ids{});
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, copenhagen)), (Ids{"urn:a", "urn:b"}));
  EXPECT_EQ(index.Size("t"), 2u);
}

TEST(GeoIndexTest, EveryGeoPropertyAndInstanceIsIndexed) {
  GeoIndex index;
  Json second = Geo(R"({"type":"Point","coordinates":[20,50]})");
  second.Set("datasetId", "urn:ds");
  auto e = Entity("urn:e", {{kLocation, {Geo(R"({"type":"Point","coordinates":[10,50]})"), second}},
                            {kSpace, {Geo(R"({"type":"Point","coordinates":[30,50]})")}}});
  index.OnChange("t", nullptr, e);
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, {{19.9, 49.9, 20.1, 50.1}})), Ids{"urn:e"});
  EXPECT_EQ(Sorted(index.Candidates("t", kSpace, {{29.9, 49.9, 30.1, 50.1}})), Ids{"urn:e"});
  EXPECT_EQ(Sorted(index.Candidates("t", kSpace, {{19.9, 49.9, 20.1, 50.1}})), Ids{});
}

// Writes that leave the GeoProperties alone keep the entries; every change of a GeoProperty
// (a new instance, a value, a kind) is seen, also when the other attributes change too.
TEST(GeoIndexTest, UpdatesOfOtherAttributesKeepTheEntries) {
  constexpr const char* kNo2 = "https://example.org/NO2";
  auto reading = [](int v) {
    Json inst = Json::MakeObject();
    inst.Set("type", "Property");
    inst.Set("value", v);
    return inst;
  };
  auto here = Geo(R"({"type":"Point","coordinates":[10,50]})");
  auto there = Geo(R"({"type":"Point","coordinates":[20,50]})");
  std::vector<geo::Box> at_here = {{9.9, 49.9, 10.1, 50.1}}, at_there = {{19.9, 49.9, 20.1, 50.1}};
  GeoIndex index;
  auto v1 = Entity("urn:e", {{kLocation, {here}}, {kNo2, {reading(1)}}});
  index.OnChange("t", nullptr, v1);
  auto v2 = Entity("urn:e", {{kNo2, {reading(2)}}, {kLocation, {here}}});
  index.OnChange("t", v1, v2);
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, at_here)), Ids{"urn:e"});
  // A second instance (datasetId) of the location, with a reading changed in the same write.
  Json second = there;
  second.Set("datasetId", "urn:ds");
  auto v3 = Entity("urn:e", {{kNo2, {reading(3)}}, {kLocation, {here, second}}});
  index.OnChange("t", v2, v3);
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, at_there)), Ids{"urn:e"});
  // The location becomes a plain Property (data, not a place): the entity leaves the index.
  Json plain = there;
  plain.Set("type", "Property");
  auto v4 = Entity("urn:e", {{kNo2, {reading(3)}}, {kLocation, {plain}}});
  index.OnChange("t", v3, v4);
  EXPECT_EQ(Sorted(index.Candidates("t", kLocation, at_there)), Ids{});
  EXPECT_EQ(index.Size("t"), 0u);
  // A GeoProperty appears under a new name.
  auto v5 = Entity("urn:e", {{kNo2, {reading(4)}}, {kLocation, {plain}}, {kSpace, {there}}});
  index.OnChange("t", v4, v5);
  EXPECT_EQ(Sorted(index.Candidates("t", kSpace, at_there)), Ids{"urn:e"});
  // ... and goes away again.
  index.OnChange("t", v5, v4);
  EXPECT_EQ(Sorted(index.Candidates("t", kSpace, at_there)), Ids{});
}

TEST(GeoIndexTest, HugeQueriesFallBackToAScan) {
  GeoIndex index;
  index.OnChange("t", nullptr,
                 Entity("urn:a", {{kLocation, {Geo(R"({"type":"Point","coordinates":[1,1]})")}}}));
  EXPECT_FALSE(index.Candidates("t", kLocation, {{-180, -90, 180, 90}}).has_value());
}

// The store keeps an index it is given consistent with the entities, including those loaded
// before the index was added.
TEST(GeoIndexTest, StoreKeepsTheIndexUpToDate) {
  auto dir = std::filesystem::temp_directory_path() /
             ("civitas_geo_index_test_" + std::to_string(::getpid()) + "_" +
              std::to_string(std::random_device{}()));
  auto put = [](std::string id, double lon) -> WriteOp {
    return {"t", id, [id, lon](const EntityPtr&, Micros now) -> Result<Outcome> {
              ngsild::Entity e;
              e.id = id;
              e.types = {"https://example.org/T"};
              e.created_at = e.modified_at = now;
              std::string g = R"({"type":"Point","coordinates":[)" + std::to_string(lon) + ",0]}";
              e.attrs = {{kLocation, {Geo(g.c_str())}}};
              return Outcome::Put(std::move(e));
            }};
  };
  auto run = [](EntityStore& store, std::vector<WriteOp> ops) {
    std::promise<std::vector<Status>> p;
    auto f = p.get_future();
    store.Submit(std::move(ops), [&p](std::vector<Status> s) { p.set_value(std::move(s)); });
    for (const auto& st : f.get()) ASSERT_TRUE(st.ok()) << st.detail();
  };
  auto ids_near = [](EntityStore& store, GeoIndex& index, double lon) {
    Ids out;
    std::vector<geo::Box> boxes = {{lon - 0.001, -0.001, lon + 0.001, 0.001}};
    store.ForEachCandidate(
        "t", [&] { return index.Candidates("t", kLocation, boxes); },
        [&](const EntityPtr& e) {
          out.push_back(e->id);
          return true;
        });
    return out;
  };
  {
    auto backend = OpenRocksDb({dir.string()});
    ASSERT_TRUE(backend.ok());
    auto store = EntityStore::Open(std::move(*backend), {false});
    ASSERT_TRUE(store.ok());
    run(**store, {put("urn:x", 1), put("urn:y", 2)});
  }
  auto backend = OpenRocksDb({dir.string()});
  ASSERT_TRUE(backend.ok());
  auto store = EntityStore::Open(std::move(*backend), {false});
  ASSERT_TRUE(store.ok());
  GeoIndex index;
  (*store)->AddIndex(&index);
  EXPECT_EQ(ids_near(**store, index, 1), Ids{"urn:x"});
  run(**store, {put("urn:x", 3), put("urn:z", 3)});
  EXPECT_EQ(ids_near(**store, index, 1), Ids{});
  EXPECT_EQ(ids_near(**store, index, 3), (Ids{"urn:x", "urn:z"}));
  run(**store, {{"t", "urn:z",
                 [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); }}});
  EXPECT_EQ(ids_near(**store, index, 3), Ids{"urn:x"});
  EXPECT_EQ(ids_near(**store, index, 2), Ids{"urn:y"});
  (*store)->Close();
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace civitas::storage
