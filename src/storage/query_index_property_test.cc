// Property test: queries answered with the QueryIndex (and the GeoIndex) give exactly what a scan
// of the tenant gives (same page, same order, same count), on random entities, random type
// expressions, random q expressions and random geo-queries, while entities are created, changed
// and deleted.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>

#include "storage/entity_store.h"
#include "storage/geo_index.h"
#include "storage/query_index.h"
#include "storage/query_runner.h"

namespace civitas::storage {
namespace {

const std::string kBase = "https://ex.org/";
constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";
std::string Expand(std::string_view name) { return kBase + std::string(name); }

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

  Json ScalarValue() {
    switch (Int(0, 9)) {
      case 0:
      case 1:
        return Json(int64_t{Int(-3, 20)});
      case 2:
        return Json(Int(-6, 40) / 2.0);
      case 3:
        return Json(Pick<std::string>({"x", "y", "z", "abc", "urn:ngsi-ld:X:1", ""}));
      case 4:
        return Json(Chance(0.5));
      case 5:
        return Json("2024-01-0" + std::to_string(Int(1, 5)) + "T0" + std::to_string(Int(0, 3)) +
                    ":00:00Z");
      case 6:
        return Json("2024-01-0" + std::to_string(Int(1, 5)));
      case 7: {
        Json::Array a;
        for (int k = Int(0, 3); k > 0; --k) a.push_back(Json(int64_t{Int(0, 12)}));
        return Json(std::move(a));
      }
      case 8: {
        if (Chance(0.3)) return Json(int64_t{9007199254740993} + Int(0, 2));
        Json typed = Json::MakeObject();
        typed.Set("@type", "DateTime");
        typed.Set("@value", "2024-01-0" + std::to_string(Int(1, 5)) + "T12:00:00Z");
        return typed;
      }
      default:
        return Json(int64_t{Int(0, 10)});
    }
  }

  Json Instance(bool relationship) {
    Json inst = Json::MakeObject();
    if (relationship) {
      inst.Set("type", "Relationship");
      if (Chance(0.8)) {
        inst.Set("object", "urn:ngsi-ld:X:" + std::to_string(Int(1, 3)));
      } else {
        inst.Set("object", Json(int64_t{Int(0, 10)}));  // odd, but must not fool the index
      }
    } else {
      inst.Set("type", "Property");
      inst.Set("value", ScalarValue());
    }
    return inst;
  }

  ngsild::Entity Entity(const std::string& id) {
    ngsild::Entity e;
    e.id = id;
    e.types.push_back(Expand(Pick<std::string>({"A", "B", "C", "D"})));
    if (Chance(0.3)) e.types.push_back(Expand(Pick<std::string>({"A", "B", "C", "D"})));
    for (const char* name : {"a", "b", "c", "r"}) {
      if (!Chance(0.65)) continue;
      bool rel = std::string(name) == "r" ? Chance(0.8) : Chance(0.05);
      ngsild::AttributeSlot slot{Expand(name), {Instance(rel)}};
      if (Chance(0.15)) {
        Json other = Instance(rel);
        other.Set("datasetId", "urn:ngsi-ld:Dataset:2");
        slot.instances.push_back(std::move(other));
      }
      e.attrs.push_back(std::move(slot));
    }
    // Most entities have a location: a point in a 0.1 degree square (about 25 x 25 cells of
    // the spatial index), now and then a second one (datasetId) or a small polygon.
    if (Chance(0.8)) {
      ngsild::AttributeSlot slot{kLocation, {Location()}};
      if (Chance(0.1)) {
        Json other = Location();
        other.Set("datasetId", "urn:ngsi-ld:Dataset:2");
        slot.instances.push_back(std::move(other));
      }
      e.attrs.push_back(std::move(slot));
    }
    return e;
  }

  double Coord(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  static Json Position(double lon, double lat) { return Json(Json::Array{Json(lon), Json(lat)}); }
  static Json Ring(double lon, double lat, double w, double h) {
    return Json(Json::Array{Position(lon, lat), Position(lon + w, lat), Position(lon + w, lat + h),
                            Position(lon, lat + h), Position(lon, lat)});
  }

  Json Location() {
    Json g = Json::MakeObject();
    if (Chance(0.05)) {
      g.Set("type", "Polygon");
      g.Set("coordinates",
            Json(Json::Array{Ring(Coord(10, 10.1), Coord(56, 56.1), Coord(0.001, 0.02), 0.01)}));
    } else {
      g.Set("type", "Point");
      g.Set("coordinates", Position(Coord(10, 10.1), Coord(56, 56.1)));
    }
    Json inst = Json::MakeObject();
    inst.Set("type", "GeoProperty");
    inst.Set("value", std::move(g));
    return inst;
  }

  // near;maxDistance around a point, or within / intersects a box or a triangle, mostly
  // inside the entities' square: sizes from a cell to most of the square.
  query::GeoFilter Geo() {
    query::GeoFilter f;
    f.property = kLocation;
    std::string georel, type, coordinates;
    if (Chance(0.4)) {
      georel = "near;maxDistance==" + std::to_string(Int(0, 4000));
      type = "Point";
      AppendJson(coordinates, Position(Coord(9.99, 10.11), Coord(55.99, 56.11)));
    } else {
      georel = Chance(0.5) ? "within" : "intersects";
      type = "Polygon";
      double lon = Coord(9.98, 10.1), lat = Coord(55.98, 56.1), w = Coord(0.001, 0.09);
      if (Chance(0.5)) {
        AppendJson(coordinates, Json(Json::Array{Ring(lon, lat, w, Coord(0.001, 0.09))}));
      } else {
        Json ring(Json::Array{Position(lon, lat), Position(lon + w, lat + w / 3),
                              Position(lon + w / 4, lat + w), Position(lon, lat)});
        AppendJson(coordinates, Json(Json::Array{ring}));
      }
    }
    auto q = geo::ParseGeoQueryParams(georel, type, coordinates, std::nullopt);
    if (q.ok()) f.query = std::move(*q);
    return f;
  }

  std::string Literal() {
    switch (Int(0, 11)) {
      case 0:
      case 1:
        return std::to_string(Int(-3, 20));
      case 2:
        return std::to_string(Int(-6, 40) / 2) + ".5";
      case 3:
        return "\"" + Pick<std::string>({"x", "y", "z", "abc", "a", "zz"}) + "\"";
      case 4:
        return Chance(0.5) ? "true" : "false";
      case 5:
        return "2024-01-0" + std::to_string(Int(1, 5)) + "T0" + std::to_string(Int(0, 3)) +
               ":00:00Z";
      case 6:
        return "2024-01-0" + std::to_string(Int(1, 5));
      case 7:
        return "urn:ngsi-ld:X:" + std::to_string(Int(1, 3));
      case 8:
        return "9007199254740993";
      case 9:
        return "\"2024-01-03T00:00:00Z\"";
      default:
        return std::to_string(Int(0, 12));
    }
  }

  std::string Term() {
    std::string attr = Pick<std::string>({"a", "b", "c", "r", "zz"});
    switch (Int(0, 12)) {
      case 0:
        return attr;
      case 1:
        return "!" + attr;
      case 2:
        return attr + "!=" + Literal();
      case 3:
        return attr + "~=" + Pick<std::string>({"x", "^a", "\"1\""});
      case 4:
        return attr + "==" + Literal() + "," + Literal();
      case 5: {
        int lo = Int(-3, 10);
        return attr + "==" + std::to_string(lo) + ".." + std::to_string(lo + Int(0, 8));
      }
      case 6:
        return attr + "==\"a\"..\"y\"";
      case 7:
        return attr + "==2024-01-02T00:00:00Z..2024-01-04T00:00:00Z";
      default:
        return attr + Pick<std::string>({"==", ">", ">=", "<", "<="}) + Literal();
    }
  }

  std::string Q(int depth) {
    if (depth > 2 || Chance(0.45)) return Term();
    std::string out;
    const char* sep = Chance(0.5) ? ";" : "|";
    for (int k = Int(2, 3); k > 0; --k) {
      if (!out.empty()) out += sep;
      std::string sub = Q(depth + 1);
      out += Chance(0.5) ? "(" + sub + ")" : sub;
    }
    return out;
  }

  std::string Types(int depth) {
    if (depth > 1 || Chance(0.5)) return Pick<std::string>({"A", "B", "C", "D", "E"});
    std::string out;
    std::string sep = Pick<std::string>({",", "|", ";"});
    for (int k = Int(2, 3); k > 0; --k) {
      if (!out.empty()) out += sep;
      out += "(" + Types(depth + 1) + ")";
    }
    return out;
  }

 private:
  std::mt19937 rng_;
};

class QueryIndexPropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_qindex_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
    auto backend = OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok()) << backend.status().detail();
    auto store = EntityStore::Open(std::move(*backend), {.sync = false});
    ASSERT_TRUE(store.ok()) << store.status().detail();
    store_ = std::move(*store);
    store_->AddIndex(&index_);
    store_->AddIndex(&geo_index_);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Write(std::vector<std::pair<std::string, std::optional<ngsild::Entity>>> writes) {
    std::vector<WriteOp> ops;
    for (auto& [id, e] : writes) {
      auto shared = std::make_shared<std::optional<ngsild::Entity>>(std::move(e));
      ops.push_back({"t", id, [shared](const EntityPtr&, Micros) -> Result<Outcome> {
                       if (!*shared) return Outcome::Delete();
                       return Outcome::Put(**shared);
                     }});
    }
    std::promise<void> p;
    store_->Submit(std::move(ops), [&p](std::vector<Status>) { p.set_value(); });
    p.get_future().get();
  }

  QueryIndex index_;  // outlive store_
  GeoIndex geo_index_;
  std::filesystem::path dir_;
  std::unique_ptr<EntityStore> store_;
};

TEST_F(QueryIndexPropertyTest, IndexedQueriesEqualScans) {
  const uint32_t seed = 20261201;
  Gen gen(seed);
  constexpr int kEntities = 400;
  auto id_of = [](int i) { return "urn:ngsi-ld:E:" + std::to_string(i); };
  std::vector<std::pair<std::string, std::optional<ngsild::Entity>>> initial;
  for (int i = 0; i < kEntities; ++i) initial.emplace_back(id_of(i), gen.Entity(id_of(i)));
  Write(std::move(initial));

  // 4,000 queries take a few seconds; the sanitizer build, much slower, runs 600.
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 600;
#else
  constexpr int kRounds = 4000;
#endif
  int parsed = 0, indexed = 0, exact_counts = 0, nonempty = 0;
  int geo_queries = 0, geo_indexed = 0, geo_exact_counts = 0, pure_geo = 0, pure_geo_paged = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (round % 50 == 49) {  // entities change, vanish and come back: the index must follow
      std::vector<std::pair<std::string, std::optional<ngsild::Entity>>> changes;
      for (int k = 0; k < 15; ++k) {
        std::string id = id_of(gen.Int(0, kEntities + 20));
        EntityPtr current = store_->Get("t", id);
        if (gen.Chance(0.3)) {
          changes.emplace_back(id, std::nullopt);
        } else if (current && gen.Chance(0.5)) {
          // An update of part of the entity: most types and attributes stay as they were, so
          // the index must re-index exactly what changed.
          ngsild::Entity e = *current;
          ngsild::Entity other = gen.Entity(id);
          if (gen.Chance(0.2)) e.types = other.types;
          if (!other.attrs.empty()) {
            const auto& slot = other.attrs[gen.Int(0, static_cast<int>(other.attrs.size()) - 1)];
            if (auto* mine = e.FindSlot(slot.name)) {
              *mine = slot;
            } else {
              e.attrs.push_back(slot);
            }
          }
          if (!e.attrs.empty() && gen.Chance(0.2)) e.attrs.erase(e.attrs.begin());
          changes.emplace_back(id, std::move(e));
        } else {
          changes.emplace_back(id, gen.Entity(id));
        }
      }
      Write(std::move(changes));
    }
    query::EntityFilter filter;
    std::string text_q, text_type;
    if (gen.Chance(0.85)) {
      text_q = gen.Q(0);
      auto q = query::QExpr::Parse(text_q, Expand);
      if (!q.ok()) continue;
      filter.q = std::move(*q);
    }
    if (gen.Chance(0.6)) {
      text_type = gen.Types(0);
      auto type = query::TypeExpr::Parse(text_type, Expand);
      ASSERT_TRUE(type.ok()) << text_type;
      query::EntitySelector s;
      s.type = std::move(*type);
      if (gen.Chance(0.1)) s.ids = {id_of(gen.Int(0, 40)), id_of(gen.Int(0, 40))};
      filter.selectors.push_back(std::move(s));
    } else if (gen.Chance(0.5)) {
      filter.selectors.emplace_back();  // as GET /entities without type or id builds it
    }
    if (gen.Chance(0.1)) filter.attrs = {Expand("b"), Expand("zz")};
    std::string text_geo;
    if (gen.Chance(0.35)) {
      filter.geo = gen.Geo();
      text_geo = filter.geo->query.geometry.type;
      ++geo_queries;
    }
    ++parsed;
    QuerySpec spec;
    spec.filter = &filter;
    spec.count = gen.Chance(0.7);
    spec.offset = gen.Chance(0.5) ? 0 : gen.Int(0, 30);
    spec.limit = spec.count && gen.Chance(0.1) ? 0 : gen.Int(1, 40);
    QueryPage expected = RunQuery(*store_, nullptr, nullptr, "t", spec);
    QueryPage actual = RunQuery(*store_, &index_, &geo_index_, "t", spec);
    std::vector<std::string> want, got;
    for (const auto& e : expected.entities) want.push_back(e->id);
    for (const auto& e : actual.entities) got.push_back(e->id);
    ASSERT_EQ(got, want) << "seed " << seed << " round " << round << " q=" << text_q
                         << " type=" << text_type << " geo=" << text_geo;
    ASSERT_EQ(actual.matched, expected.matched)
        << "seed " << seed << " round " << round << " q=" << text_q << " type=" << text_type
        << " geo=" << text_geo << " count=" << spec.count
        << " from index=" << actual.count_from_index;
    ASSERT_STREQ(expected.plan, "scan");
    if (std::string(actual.plan) == "index") ++indexed;
    if (std::string(actual.plan) == "index+geo") ++indexed;
    if (filter.geo && std::string(actual.plan) != "scan") {  // "index+geo" or "geo"
      ++geo_indexed;
      if (actual.count_from_index) ++geo_exact_counts;
    }
    if (actual.count_from_index) ++exact_counts;
    if (!want.empty()) ++nonempty;
    // A geo-query and nothing else: the spatial index pages it (the plan "geo") whenever the
    // query has a search area it can use.
    if (filter.geo && text_q.empty() && text_type.empty() && filter.attrs.empty() &&
        filter.geo->query.SearchBoxes()) {
      ++pure_geo;
      if (std::string(actual.plan) == "geo" && actual.count_from_index == spec.count) {
        ++pure_geo_paged;
      }
    }
  }
  EXPECT_GE(pure_geo, 3);  // about 70 in the release build, 5 in the sanitizer build's fewer rounds
  EXPECT_GT(pure_geo_paged, pure_geo * 9 / 10);
  // The test means something only if most cases were answered by the index, many with an
  // exact count, and many had results.
  EXPECT_GT(parsed, kRounds / 2);
  EXPECT_GT(indexed, parsed / 2);
  EXPECT_GT(exact_counts, parsed / 10);
  EXPECT_GT(nonempty, parsed / 4);
  EXPECT_GT(geo_indexed, geo_queries * 9 / 10);
  EXPECT_GT(geo_exact_counts, geo_queries / 10);
  EXPECT_EQ(index_.Size("t"), store_->Count("t"));
  std::printf(
      "parsed %d, indexed %d, exact counts %d, non-empty %d, geo %d (indexed %d, exact "
      "counts %d)\n",
      parsed, indexed, exact_counts, nonempty, geo_queries, geo_indexed, geo_exact_counts);
}

}  // namespace
}  // namespace civitas::storage
