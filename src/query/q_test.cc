#include "query/q.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <random>

// Counts heap allocations made while g_count_allocations is set (MatchesDoesNotAllocate).
// Sanitizers bring their own allocator, which a replaced operator new would fight.
#if defined(__SANITIZE_ADDRESS__)
#define CIVITAS_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CIVITAS_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef CIVITAS_COUNT_ALLOCATIONS
#define CIVITAS_COUNT_ALLOCATIONS 1
#endif

namespace {
thread_local bool g_count_allocations = false;
thread_local int g_allocations = 0;
}  // namespace

#if CIVITAS_COUNT_ALLOCATIONS
void* operator new(std::size_t n) {
  if (g_count_allocations) ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// GCC takes free() on memory from (this replaced) operator new for a mismatch.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

namespace civitas::query {
namespace {

std::string Ex(std::string_view s) { return "ex:" + std::string(s); }

// An entity from a JSON object of attributes: {"name": instance or [instances]}; names get the
// "ex:" prefix that Ex gives (sub-attributes are written expanded, "ex:...").
ngsild::Entity Make(std::string_view attrs_json) {
  auto j = ParseJson(attrs_json);
  EXPECT_TRUE(j.ok()) << attrs_json;
  ngsild::Entity e;
  e.id = "urn:ngsi-ld:T:1";
  e.types = {"ex:T"};
  if (!j.ok()) return e;
  for (const auto& [name, v] : j->as_object()) {
    ngsild::AttributeSlot slot;
    slot.name = Ex(name);
    if (v.is_array()) {
      slot.instances.assign(v.as_array().begin(), v.as_array().end());
    } else {
      slot.instances.push_back(v);
    }
    e.attrs.push_back(std::move(slot));
  }
  return e;
}

QExpr MustParse(std::string_view q, const QOptions& options = {}) {
  auto e = QExpr::Parse(q, Ex, options);
  EXPECT_TRUE(e.ok()) << q << ": " << e.status().detail();
  return e.ok() ? *e : QExpr();
}

bool M(std::string_view q, const ngsild::Entity& e) {
  auto parsed = QExpr::Parse(q, Ex);
  EXPECT_TRUE(parsed.ok()) << q << ": " << parsed.status().detail();
  return parsed.ok() && parsed->Matches(e);
}

const char* kBuilding = R"({
  "name": {"type": "Property", "value": "Eiffel Tower"},
  "airQualityLevel": {"type": "Property", "value": 4, "unitCode": "C62",
                      "observedAt": "2020-09-09T16:40:00.000Z"},
  "height": {"type": "Property", "value": 300.5},
  "debt": {"type": "Property", "value": -12},
  "almostFull": {"type": "Property", "value": false},
  "locatedIn": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"}
})";

TEST(QTest, NumberComparisons) {
  auto e = Make(kBuilding);
  EXPECT_TRUE(M("airQualityLevel==4", e));
  EXPECT_FALSE(M("airQualityLevel==5", e));
  EXPECT_TRUE(M("airQualityLevel==4.0", e));
  EXPECT_TRUE(M("airQualityLevel==4e0", e));
  EXPECT_TRUE(M("airQualityLevel==0.4E1", e));
  EXPECT_TRUE(M("airQualityLevel!=5", e));
  EXPECT_FALSE(M("airQualityLevel!=4", e));
  EXPECT_TRUE(M("airQualityLevel>3", e));
  EXPECT_FALSE(M("airQualityLevel>4", e));
  EXPECT_TRUE(M("airQualityLevel>=4", e));
  EXPECT_FALSE(M("airQualityLevel>=4.01", e));
  EXPECT_TRUE(M("airQualityLevel<5", e));
  EXPECT_FALSE(M("airQualityLevel<4", e));
  EXPECT_TRUE(M("airQualityLevel<=4", e));
  EXPECT_FALSE(M("airQualityLevel<=3.99", e));
  EXPECT_TRUE(M("height>300", e));
  EXPECT_TRUE(M("height==300.5", e));
  EXPECT_TRUE(M("height<3.01e2", e));
  EXPECT_TRUE(M("debt==-12", e));
  EXPECT_TRUE(M("debt<-11.5", e));
  EXPECT_TRUE(M("debt>-1.2e1", e) == false);
  EXPECT_TRUE(M("debt>=-1.2e+1", e));
  EXPECT_TRUE(M("debt==-0012", e));  // leading zeros are tolerated
}

TEST(QTest, LargeIntegersCompareExactly) {
  auto e = Make(R"({"n": {"type": "Property", "value": 9007199254740993}})");
  EXPECT_TRUE(M("n==9007199254740993", e));
  EXPECT_FALSE(M("n==9007199254740992", e));
  EXPECT_TRUE(M("n>9007199254740992", e));
  EXPECT_TRUE(M("n<99999999999999999999", e));  // beyond int64: compared as a double
}

TEST(QTest, StringsAndEscapes) {
  auto e = Make(R"({
    "name": {"type": "Property", "value": "Eiffel Tower"},
    "quote": {"type": "Property", "value": "say \"hi\"\\now"},
    "accent": {"type": "Property", "value": "café 😀"}
  })");
  EXPECT_TRUE(M(R"(name=="Eiffel Tower")", e));
  EXPECT_FALSE(M(R"(name=="Eiffel")", e));
  EXPECT_TRUE(M(R"(name!="Pisa Tower")", e));
  EXPECT_TRUE(M(R"(name>"Eiffel")", e));
  EXPECT_TRUE(M(R"(name<"F")", e));
  EXPECT_TRUE(M(R"(name>="Eiffel Tower";name<="Eiffel Tower")", e));
  EXPECT_TRUE(M(R"(quote=="say \"hi\"\\now")", e));
  EXPECT_TRUE(M(R"(accent=="caf\u00e9 \ud83d\ude00")", e));
  EXPECT_TRUE(M(R"(accent=="café 😀")", e));
  EXPECT_TRUE(M(R"(name=="Eiffel\u0020Tower")", e));
  EXPECT_TRUE(M(R"(name=="Eiffel\/Tower")", e) == false);
  // Bare words are strings with == and != (the annex writes brandName!=Mercedes).
  auto w = Make(R"({"brandName": {"type": "Property", "value": "Mercedes"}})");
  EXPECT_TRUE(M("brandName==Mercedes", w));
  EXPECT_FALSE(M("brandName!=Mercedes", w));
  EXPECT_TRUE(M("brandName!=Volvo", w));
}

TEST(QTest, Booleans) {
  auto e = Make(kBuilding);
  EXPECT_TRUE(M("almostFull==false", e));
  EXPECT_FALSE(M("almostFull==true", e));
  EXPECT_TRUE(M("almostFull!=true", e));
  EXPECT_FALSE(M(R"(almostFull=="false")", e));  // a string is not a boolean
}

TEST(QTest, LogicalOperatorsAndPrecedence) {
  auto e = Make(R"({"a": {"type": "Property", "value": 1},
                    "b": {"type": "Property", "value": 2},
                    "c": {"type": "Property", "value": 3}})");
  EXPECT_TRUE(M("a==1;b==2", e));
  EXPECT_FALSE(M("a==1;b==3", e));
  EXPECT_TRUE(M("a==0|b==2", e));
  EXPECT_FALSE(M("a==0|b==0", e));
  // ';' binds tighter than '|': a==1|b==0;c==0 is a==1|(b==0;c==0).
  EXPECT_TRUE(M("a==1|b==0;c==0", e));
  EXPECT_FALSE(M("(a==1|b==0);c==0", e));
  EXPECT_TRUE(M("b==0;c==0|a==1", e));
  EXPECT_FALSE(M("b==0;(c==0|a==1)", e));
  EXPECT_TRUE(M("((a==1|b==0);c==3)", e));
  EXPECT_TRUE(M("(((a==1)))", e));
  EXPECT_TRUE(M("((a>0|b>5);(c==3;(a==1|a==2)))", e));
  EXPECT_TRUE(M(" a == 1 ; ( b == 2 | c == 0 ) ", e));  // spaces between tokens are ignored
}

TEST(QTest, ValueListsAndRanges) {
  auto e = Make(R"({"n": {"type": "Property", "value": 15},
                    "color": {"type": "Property", "value": "red"},
                    "day": {"type": "Property", "value": "2021-06-15"},
                    "at": {"type": "Property", "value": "2021-06-15T10:00:00Z"},
                    "colors": {"type": "Property", "value": ["blue", "red", "green"]}})");
  EXPECT_TRUE(M("n==10..20", e));
  EXPECT_TRUE(M("n==15..15", e));
  EXPECT_TRUE(M("n==-5..15", e));
  EXPECT_FALSE(M("n==16..20", e));
  EXPECT_FALSE(M("n!=10..20", e));
  EXPECT_TRUE(M("n!=16..20", e));
  EXPECT_TRUE(M("n==1,2,15", e));
  EXPECT_FALSE(M("n==1,2,3", e));
  EXPECT_TRUE(M("n!=1,2,3", e));
  EXPECT_FALSE(M("n!=1,15", e));
  EXPECT_TRUE(M("n==1,10..20", e));  // a list may hold ranges
  EXPECT_TRUE(M(R"(color=="black","red")", e));
  EXPECT_TRUE(M(R"(color!="black","blue")", e));
  EXPECT_FALSE(M(R"(color!="black","red")", e));
  EXPECT_TRUE(M(R"(color=="a".."s")", e));
  EXPECT_FALSE(M(R"(color=="s".."z")", e));
  EXPECT_TRUE(M("day==2021-06-01..2021-06-30", e));
  EXPECT_FALSE(M("day==2021-07-01..2021-07-30", e));
  EXPECT_TRUE(M("at==2021-06-15T09:00:00Z..2021-06-15T11:00:00Z", e));
  EXPECT_TRUE(M("at==2021-06-15T11:00:00+02:00..2021-06-15T12:00:00+02:00", e));
  EXPECT_FALSE(M("at==2021-06-15T10:00:01Z..2021-06-16T00:00:00Z", e));
  // Arrays: a match when the list value (or one of the listed values) is included.
  EXPECT_TRUE(M(R"(colors=="red")", e));
  EXPECT_TRUE(M(R"(colors=="black","red")", e));
  EXPECT_FALSE(M(R"(colors!="red")", e));
  EXPECT_TRUE(M(R"(colors!="black","yellow")", e));
  EXPECT_FALSE(M(R"(colors!="yellow","green")", e));
}

TEST(QTest, Patterns) {
  auto e = Make(R"({"name": {"type": "Property", "value": "Eiffel Tower"},
                    "n": {"type": "Property", "value": 5},
                    "tags": {"type": "Property", "value": ["alpha", "beta"]},
                    "rel": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"}})");
  EXPECT_TRUE(M(R"(name~="^Eiffel")", e));
  EXPECT_TRUE(M(R"(name~="Tow")", e));  // anywhere, unless anchored
  EXPECT_FALSE(M(R"(name~="^Tower")", e));
  EXPECT_TRUE(M(R"(name~="(?i)eiffel tower$")", e));
  EXPECT_TRUE(M(R"(name~="\\w+\s\w+")", e));  // "\\w" and "\w" both are \w
  EXPECT_FALSE(M(R"(name!~="^Eiffel")", e));
  EXPECT_TRUE(M(R"(name!~="^Pisa")", e));
  EXPECT_TRUE(M("name~=^Eif.*r$", e));            // unquoted
  EXPECT_TRUE(M("name~=(Pisa|Eiffel);n==5", e));  // '|' inside the pattern's group
  EXPECT_TRUE(M("name~=Pisa|n==5", e));           // '|' outside: the or operator
  EXPECT_TRUE(M("name~=[;|)]|n==5", e));          // a class holds ';' '|' ')'
  EXPECT_FALSE(M("n~=5", e));                     // not a string
  EXPECT_FALSE(M("n!~=5", e));
  EXPECT_TRUE(M("tags~=^be", e));
  EXPECT_FALSE(M("tags!~=^be", e));
  EXPECT_TRUE(M("tags!~=^gamma", e));
  EXPECT_FALSE(M("rel~=Paris", e));  // relationships take == and != only
  EXPECT_FALSE(M("rel!~=Rome", e));
  EXPECT_FALSE(M("missing~=.*", e));
  EXPECT_FALSE(M("missing!~=x", e));
  // Linear-time matching: a pattern that backtracks exponentially elsewhere.
  auto slow =
      Make(R"({"s": {"type": "Property", "value": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}})");
  EXPECT_FALSE(M(R"(s~="^(a+)+$")", slow));
}

TEST(QTest, Existence) {
  auto e = Make(kBuilding);
  EXPECT_TRUE(M("name", e));
  EXPECT_TRUE(M("locatedIn", e));
  EXPECT_FALSE(M("temperature", e));
  EXPECT_TRUE(M("!temperature", e));
  EXPECT_FALSE(M("!name", e));
  EXPECT_TRUE(M("!temperature;airQualityLevel>3", e));
  EXPECT_TRUE(M("airQualityLevel.observedAt", e));
  EXPECT_FALSE(M("name.observedAt", e));
  EXPECT_TRUE(M("!name.observedAt", e));
  EXPECT_TRUE(M("airQualityLevel.unitCode", e));
  // Comparisons need the target: a missing attribute matches no operator, not even !=.
  EXPECT_FALSE(M("temperature!=5", e));
  EXPECT_FALSE(M("temperature!=1..2", e));
}

TEST(QTest, MultiInstanceAttributes) {
  auto e = Make(R"({"speed": [
      {"type": "Property", "value": 50},
      {"type": "Property", "value": 80, "datasetId": "urn:ngsi-ld:Dataset:gps",
       "observedAt": "2024-01-01T00:00:00Z"}]})");
  EXPECT_TRUE(M("speed==50", e));
  EXPECT_TRUE(M("speed==80", e));
  EXPECT_TRUE(M("speed>70", e));
  EXPECT_TRUE(M("speed<60", e));
  EXPECT_FALSE(M("speed>90", e));
  EXPECT_FALSE(M("speed!=50", e));  // one instance is 50
  EXPECT_TRUE(M("speed!=60", e));
  EXPECT_TRUE(M("speed.datasetId==urn:ngsi-ld:Dataset:gps", e));
  EXPECT_TRUE(M("speed.observedAt", e));
  EXPECT_TRUE(M("speed.observedAt>2023-12-31T00:00:00Z", e));
}

TEST(QTest, Relationships) {
  auto e = Make(R"({
    "locatedIn": {"type": "Relationship", "object": "urn:ngsi-ld:City:Pisa"},
    "near": {"type": "Relationship", "object": ["urn:ngsi-ld:City:Lucca", "urn:ngsi-ld:City:Siena"]},
    "route": {"type": "ListRelationship",
              "objectList": [{"object": "urn:ngsi-ld:Stop:1"}, "urn:ngsi-ld:Stop:2"]},
    "owner": [{"type": "Relationship", "object": "urn:ngsi-ld:Person:A"},
              {"type": "Relationship", "object": "urn:ngsi-ld:Person:B", "datasetId": "urn:d:2"}]
  })");
  EXPECT_TRUE(M("locatedIn==urn:ngsi-ld:City:Pisa", e));
  EXPECT_FALSE(M("locatedIn==urn:ngsi-ld:City:Paris", e));
  EXPECT_TRUE(M(R"(locatedIn=="urn:ngsi-ld:City:Pisa")", e));
  EXPECT_TRUE(M("locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris", e));
  EXPECT_TRUE(M("locatedIn==urn:ngsi-ld:City:Paris,urn:ngsi-ld:City:Pisa", e));
  EXPECT_TRUE(M("locatedIn!=urn:ngsi-ld:City:Paris", e));
  EXPECT_FALSE(M("locatedIn!=urn:ngsi-ld:City:Pisa", e));
  EXPECT_FALSE(M(R"(locatedIn>"urn:a")", e));  // ordering never matches a relationship
  EXPECT_FALSE(M(R"(locatedIn<"urn:z")", e));
  EXPECT_TRUE(M("near==urn:ngsi-ld:City:Siena", e));
  EXPECT_FALSE(M("near!=urn:ngsi-ld:City:Siena", e));
  EXPECT_TRUE(M("route==urn:ngsi-ld:Stop:1", e));
  EXPECT_TRUE(M("route==urn:ngsi-ld:Stop:2", e));
  EXPECT_FALSE(M("route==urn:ngsi-ld:Stop:3", e));
  EXPECT_TRUE(M("owner==urn:ngsi-ld:Person:B", e));
  EXPECT_FALSE(M("owner!=urn:ngsi-ld:Person:A", e));
}

TEST(QTest, DatesAndTimes) {
  auto e = Make(R"({
    "t": {"type": "Property", "value": "2018-08-07T12:00:00Z",
          "observedAt": "2018-08-07T12:00:00.000Z"},
    "typed": {"type": "Property", "value": {"@type": "DateTime", "@value": "2018-08-07T12:00:00Z"}},
    "d": {"type": "Property", "value": "2018-08-07"},
    "clock": {"type": "Property", "value": "12:30:00Z"},
    "s": {"type": "Property", "value": "hello"}
  })");
  EXPECT_TRUE(M("t==2018-08-07T12:00:00Z", e));
  EXPECT_TRUE(M("t==2018-08-07T14:00:00+02:00", e));  // the same instant
  EXPECT_TRUE(M("t==2018-08-07T12:00:00.000000Z", e));
  EXPECT_TRUE(M(R"(t=="2018-08-07T12:00:00.000Z")", e));  // a quoted DateTime too
  EXPECT_TRUE(M("t>2018-08-07T11:59:59.999Z", e));
  EXPECT_FALSE(M("t>2018-08-07T12:00:00Z", e));
  EXPECT_TRUE(M("t<2018-08-07T12:00:00-00:01", e));
  EXPECT_TRUE(M("t.observedAt>=2017-12-24T12:00:00Z", e));
  EXPECT_TRUE(M("t.observedAt==2018-08-07T12:00:00Z", e));
  EXPECT_TRUE(M("typed==2018-08-07T12:00:00Z", e));
  EXPECT_TRUE(M("typed>2018-01-01T00:00:00Z", e));
  // A Date against a DateTime: midnight UTC.
  EXPECT_TRUE(M("t>=2018-08-07", e));
  EXPECT_FALSE(M("t<2018-08-07", e));
  EXPECT_TRUE(M("t<2018-08-08", e));
  EXPECT_TRUE(M("d==2018-08-07", e));
  EXPECT_TRUE(M("d>2018-08-06", e));
  EXPECT_TRUE(M("d<2018-08-07T00:00:01Z", e));
  EXPECT_TRUE(M("clock==12:30:00", e));
  EXPECT_TRUE(M("clock>12:29:59.5", e));
  EXPECT_TRUE(M("clock<12:30:00.000001Z", e));
  EXPECT_FALSE(M("clock>13:00:00", e));
  // Different types never compare: a DateTime literal against a word, a number or a date.
  EXPECT_FALSE(M("s==2018-08-07T12:00:00Z", e));
  EXPECT_FALSE(M("s>2018-08-07T12:00:00Z", e));
  EXPECT_FALSE(M("t>5", e));
  EXPECT_FALSE(M("clock>2018-08-07", e));
}

TEST(QTest, EntitySystemTimestamps) {
  auto e = Make(kBuilding);
  e.created_at = *ParseDateTime("2020-01-01T00:00:00Z");
  e.modified_at = *ParseDateTime("2021-01-01T00:00:00Z");
  EXPECT_TRUE(M(R"(modifiedAt>"2020-01-01T00:00:00Z")", e));
  EXPECT_TRUE(M("modifiedAt>2020-06-01T00:00:00Z", e));
  EXPECT_FALSE(M("createdAt>2020-06-01T00:00:00Z", e));
  EXPECT_TRUE(M("createdAt==2020-01-01", e));
  EXPECT_TRUE(M("createdAt==2019-12-31T23:00:00-01:00", e));
  EXPECT_TRUE(M("createdAt!=2020-01-02", e));
  EXPECT_TRUE(M("createdAt==2019-01-01..2020-01-01", e));
  EXPECT_FALSE(M("createdAt>5", e));
  EXPECT_TRUE(M("createdAt", e));
  EXPECT_TRUE(MustParse("modifiedAt>2020-01-01T00:00:00Z").Attributes().empty());
}

// attr.createdAt and attr.modifiedAt read the instance's system times.
TEST(QTest, AttributeSystemTimes) {
  auto e = Make(R"({"temperature": {"type": "Property", "value": 21}})");
  e.attrs[0].instances[0].created_at = *ParseDateTime("2020-01-01T00:00:00Z");
  e.attrs[0].instances[0].modified_at = *ParseDateTime("2021-01-01T00:00:00Z");
  EXPECT_TRUE(M("temperature.createdAt==2020-01-01T00:00:00Z", e));
  EXPECT_TRUE(M("temperature.createdAt<2020-06-01T00:00:00Z", e));
  EXPECT_FALSE(M("temperature.modifiedAt<2020-06-01T00:00:00Z", e));
  EXPECT_TRUE(M("temperature.modifiedAt>2020-06-01T00:00:00Z", e));
  EXPECT_TRUE(M("temperature.modifiedAt", e));
  // An instance that was never stamped has none.
  auto unstamped = Make(R"({"temperature": {"type": "Property", "value": 21}})");
  EXPECT_FALSE(M("temperature.createdAt", unstamped));
  EXPECT_FALSE(M("temperature.createdAt<2030-01-01T00:00:00Z", unstamped));
}

TEST(QTest, SubAttributePaths) {
  auto e = Make(R"({
    "temperature": {"type": "Property", "value": 21, "unitCode": "CEL",
      "ex:accuracy": {"type": "Property", "value": 0.5,
        "ex:method": {"type": "Property", "value": "calibrated", "observedAt": "2020-01-01T00:00:00Z"}},
      "ex:sensor": {"type": "Relationship", "object": "urn:ngsi-ld:Device:7"}}
  })");
  EXPECT_TRUE(M("temperature.accuracy<1", e));
  EXPECT_FALSE(M("temperature.accuracy>1", e));
  EXPECT_TRUE(M(R"(temperature.accuracy.method=="calibrated")", e));
  EXPECT_TRUE(M("temperature.accuracy.method.observedAt<2021-01-01T00:00:00Z", e));
  EXPECT_TRUE(M("temperature.sensor==urn:ngsi-ld:Device:7", e));
  EXPECT_FALSE(M(R"(temperature.sensor>"a")", e));
  EXPECT_TRUE(M(R"(temperature.unitCode=="CEL")", e));
  EXPECT_TRUE(M("temperature.unitCode==CEL", e));
  EXPECT_FALSE(M("temperature.missing", e));
  EXPECT_FALSE(M("temperature.missing==1", e));
  EXPECT_TRUE(M("temperature.accuracy", e));
  EXPECT_EQ(MustParse("temperature.accuracy>1").Attributes(),
            std::vector<std::string>{"ex:temperature"});
}

TEST(QTest, CompoundValuePaths) {
  auto e = Make(R"({
    "address": {"type": "Property", "value": {"city": "Berlin", "street": "Ulrich Strasse",
                                             "geo": {"zip": 10115}}},
    "sensor": {"type": "Property", "value": 40,
      "ex:rawdata": {"type": "Property",
                     "value": {"airquality": {"particulate": 40, "PM20": 85}}}},
    "parkingTickets": {"type": "JsonProperty",
                       "json": {"id": "85a6cc52", "value": "Overstay 60 minutes"}},
    "stops": {"type": "Property", "value": [{"name": "A", "n": 1}, {"name": "B", "n": 2}]},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [13.4, 52.5]}}
  })");
  EXPECT_TRUE(M(R"(address[city]=="Berlin")", e));
  EXPECT_FALSE(M(R"(address[city]=="Paris")", e));
  EXPECT_FALSE(M(R"(address[postcode]=="Berlin")", e));
  EXPECT_FALSE(M(R"(address[postcode]!="Berlin")", e));  // undefined: non-existent
  EXPECT_TRUE(M("address[city]", e));
  EXPECT_FALSE(M("address[postcode]", e));
  EXPECT_TRUE(M("!address[postcode]", e));
  EXPECT_TRUE(M("address[geo.zip]==10115", e));
  EXPECT_TRUE(M("address[geo.zip]>10000", e));
  EXPECT_TRUE(M("sensor.rawdata[airquality.particulate]==40", e));
  EXPECT_FALSE(M("sensor.rawdata[airquality.PM20]<80", e));
  EXPECT_TRUE(M(R"(parkingTickets[value]=="Overstay 60 minutes")", e));
  EXPECT_TRUE(M(R"(stops[name]=="B")", e));    // a member applies to each element
  EXPECT_TRUE(M(R"(stops[0.name]=="A")", e));  // a number indexes
  EXPECT_FALSE(M(R"(stops[0.name]=="B")", e));
  EXPECT_FALSE(M(R"(stops[5.name]=="B")", e));
  EXPECT_TRUE(M("stops[1.n]==2", e));
  EXPECT_TRUE(M(R"(address[*]=="Berlin")", e));
  EXPECT_TRUE(M(R"(location[type]=="Point")", e));
  EXPECT_TRUE(M("location[coordinates]==52.5", e));
  EXPECT_FALSE(M(R"(address=="Berlin")", e));  // an object is not a string
  EXPECT_TRUE(M("address!=5", e));             // ... so it is unequal
}

TEST(QTest, LanguageProperties) {
  auto e = Make(R"({
    "color": {"type": "LanguageProperty", "languageMap": {"fr": "rouge", "en": "red", "de": "rot"}},
    "words": {"type": "LanguageProperty",
              "languageMap": {"fr": ["chat", "rouge"], "en": ["red", "cat"]}},
    "marque": {"type": "LanguageProperty", "languageMap": {"en-GB": "Vauxhall Viva"}}
  })");
  EXPECT_TRUE(M(R"(color=="rouge")", e));  // no language: any
  EXPECT_TRUE(M(R"(color[en]=="red")", e));
  EXPECT_FALSE(M(R"(color[en]=="rouge")", e));
  EXPECT_TRUE(M(R"(color[*]=="rouge")", e));
  EXPECT_FALSE(M(R"(color[*]!="red")", e));
  EXPECT_TRUE(M(R"(color[*]!="blue")", e));
  EXPECT_TRUE(M(R"(color[en]!="rouge")", e));
  EXPECT_FALSE(M(R"(color[it]!="rosso")", e));  // no such language: non-existent
  EXPECT_TRUE(M(R"(color[de]~="^ro")", e));
  EXPECT_TRUE(M(R"(words[en]=="cat")", e));
  EXPECT_FALSE(M(R"(words[en]=="chat")", e));
  EXPECT_FALSE(M(R"(words[fr]!="rouge")", e));
  EXPECT_TRUE(M(R"(marque[en-GB]=="Vauxhall Viva")", e));
  EXPECT_TRUE(M("color[en]", e));
  EXPECT_FALSE(M("color[es]", e));
}

TEST(QTest, VocabAndListProperties) {
  auto e = Make(R"({
    "category": {"type": "VocabProperty", "vocab": "ex:commercial"},
    "kinds": {"type": "VocabProperty", "vocab": ["ex:a", "ex:b"]},
    "readings": {"type": "ListProperty", "valueList": [1, 5, 9]}
  })");
  EXPECT_FALSE(M("category==commercial", e));  // compared as written...
  EXPECT_TRUE(M("category==ex:commercial", e));
  QOptions expand;
  expand.expand_values = {"category", "kinds"};
  EXPECT_TRUE(MustParse("category==commercial", expand).Matches(e));  // ...or expanded
  EXPECT_TRUE(MustParse(R"(category=="commercial")", expand).Matches(e));
  EXPECT_TRUE(MustParse("kinds==x,b", expand).Matches(e));
  EXPECT_FALSE(MustParse("kinds==x,y", expand).Matches(e));
  EXPECT_TRUE(M("readings==5", e));
  EXPECT_TRUE(M("readings>8", e));
  EXPECT_FALSE(M("readings>9", e));
  EXPECT_TRUE(M("readings==6..10", e));
  EXPECT_FALSE(M("readings!=9", e));
}

TEST(QTest, TypeMismatchesAreNotMatches) {
  auto e = Make(R"({"n": {"type": "Property", "value": 5},
                    "s": {"type": "Property", "value": "5"},
                    "b": {"type": "Property", "value": true}})");
  EXPECT_FALSE(M(R"(n=="5")", e));
  EXPECT_FALSE(M("s==5", e));
  EXPECT_FALSE(M(R"(n>"4")", e));
  EXPECT_FALSE(M("s>4", e));
  EXPECT_FALSE(M("b==1", e));
  EXPECT_FALSE(M("n==true", e));
  EXPECT_FALSE(M("n==1..9;s==1..9", e));
  EXPECT_TRUE(M("s==\"1\"..\"9\"", e));
  // Clause 4.9: values of different types "shall be considered unequal".
  EXPECT_TRUE(M(R"(n!="5")", e));
  EXPECT_TRUE(M("s!=5", e));
}

TEST(QTest, LinkedEntities) {
  auto station = Make(R"({"sensor": {"type": "Relationship", "object": "urn:ngsi-ld:Device:345"},
                          "sensors": {"type": "Relationship",
                                      "object": ["urn:ngsi-ld:Device:1", "urn:ngsi-ld:Device:345"]},
                          "name": {"type": "Property", "value": "ws"}})");
  auto device =
      std::make_shared<ngsild::Entity>(Make(R"({"humidity": {"type": "Property", "value": 40},
               "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:9"}})"));
  device->id = "urn:ngsi-ld:Device:345";
  device->types = {"ex:Device"};
  auto person =
      std::make_shared<ngsild::Entity>(Make(R"({"name": {"type": "Property", "value": "Ann"}})"));
  person->id = "urn:ngsi-ld:Person:9";
  int lookups = 0;
  EntityLookup lookup = [&](std::string_view id) -> ngsild::EntityPtr {
    ++lookups;
    if (id == device->id) return device;
    if (id == person->id) return person;
    return nullptr;
  };
  auto match = [&](std::string_view q) { return MustParse(q).Matches(station, lookup); };
  EXPECT_TRUE(match("sensor{humidity}==40"));
  EXPECT_FALSE(match("sensor{humidity}==41"));
  EXPECT_TRUE(match("sensor{humidity}>39;name==ws"));
  EXPECT_TRUE(match("sensor{Device:humidity}==40"));
  EXPECT_TRUE(match("sensor{Building,Device:humidity}==40"));
  EXPECT_FALSE(match("sensor{Vehicle:humidity}==40"));
  EXPECT_TRUE(match("sensor{humidity}"));
  EXPECT_FALSE(match("sensor{temperature}"));
  EXPECT_TRUE(match("!sensor{temperature}"));
  EXPECT_FALSE(match("!sensor{humidity}"));
  EXPECT_TRUE(match("sensors{humidity}==40"));  // any of the objects
  EXPECT_TRUE(match(R"(sensor{owner{name}}=="Ann")"));
  EXPECT_FALSE(match(R"(sensor{owner{name}}=="Bob")"));
  EXPECT_FALSE(match("name{humidity}==40"));  // a Property links nowhere
  EXPECT_GT(lookups, 0);
  // Without a lookup no linked entity is visible.
  EXPECT_FALSE(MustParse("sensor{humidity}==40").Matches(station));
  EXPECT_TRUE(MustParse("!sensor{humidity}").Matches(station));
  EXPECT_EQ(MustParse("sensor{humidity}==40").LinkDepth(), 1);
  EXPECT_EQ(MustParse("a==1|sensor{owner{name}}==1").LinkDepth(), 2);
  EXPECT_EQ(MustParse("a==1").LinkDepth(), 0);
  EXPECT_EQ(MustParse("sensor{owner{name}}==1").Attributes(),
            std::vector<std::string>{"ex:sensor"});
}

TEST(QTest, LinkedLookupsAreBounded) {
  // 50 objects per level, 5 levels: 50^5 lookups without a budget.
  std::string objects;
  for (int i = 0; i < 50; ++i) {
    objects += std::string(i ? "," : "") + "\"urn:ngsi-ld:X:" + std::to_string(i) + "\"";
  }
  auto node = std::make_shared<ngsild::Entity>(
      Make(R"({"next": {"type": "Relationship", "object": [)" + objects + "]}}"));
  int lookups = 0;
  EntityLookup lookup = [&](std::string_view) -> ngsild::EntityPtr {
    ++lookups;
    return node;
  };
  EXPECT_FALSE(MustParse("next{next{next{next{next{missing}}}}}").Matches(*node, lookup));
  EXPECT_LE(lookups, 1000);
  lookups = 0;
  EXPECT_TRUE(MustParse("next{next{next{next{next}}}}").Matches(*node, lookup));
  EXPECT_LE(lookups, 10);
}

TEST(QTest, AttributesAndIndexableTerms) {
  auto q = MustParse("a==1;(b>2|c);a<5;d.e==3;f[g]==1;h~=x");
  EXPECT_EQ(q.Attributes(),
            (std::vector<std::string>{"ex:a", "ex:b", "ex:c", "ex:d", "ex:f", "ex:h"}));
  auto terms = MustParse(R"(a==1;b>=2.5;c=="x";d==true;e==1..9;f!=2;g==1,2;h>2020-01-01;i==urn:x)")
                   .IndexableTerms();
  ASSERT_EQ(terms.size(), 7u);
  EXPECT_EQ(terms[0].attribute, "ex:a");
  EXPECT_EQ(terms[0].op, "==");
  EXPECT_EQ(terms[0].literal, Json(1));
  EXPECT_EQ(terms[1].op, ">=");
  EXPECT_EQ(terms[1].literal, Json(2.5));
  EXPECT_EQ(terms[2].literal, Json("x"));
  EXPECT_EQ(terms[3].literal, Json(true));
  EXPECT_EQ(terms[4].attribute, "ex:e");
  EXPECT_EQ(terms[4].op, ">=");
  EXPECT_EQ(terms[5].op, "<=");
  EXPECT_EQ(terms[5].literal, Json(9));
  EXPECT_EQ(terms[6].attribute, "ex:i");
  EXPECT_EQ(terms[6].literal, Json("urn:x"));
  EXPECT_TRUE(MustParse("a==1|b==2").IndexableTerms().empty());
  EXPECT_EQ(MustParse("a==1").IndexableTerms().size(), 1u);
  EXPECT_TRUE(MustParse(R"(a=="2020-01-01T00:00:00Z")").IndexableTerms().empty());
  EXPECT_TRUE(MustParse("a.b==1;c[d]==2;e{f}==3").IndexableTerms().empty());
}

TEST(QTest, DefaultMatchesEverythingAndCopiesShare) {
  auto e = Make(kBuilding);
  EXPECT_TRUE(QExpr().Matches(e));
  QExpr q = MustParse("airQualityLevel==4");
  QExpr copy = q;
  EXPECT_TRUE(copy.Matches(e));
}

TEST(QTest, MatchesDoesNotAllocate) {
  if (!CIVITAS_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under sanitizers";
  auto e = Make(R"({
    "name": {"type": "Property", "value": "Eiffel Tower", "observedAt": "2020-01-01T00:00:00Z"},
    "n": [{"type": "Property", "value": 4}, {"type": "Property", "value": 7, "datasetId": "urn:d"}],
    "address": {"type": "Property", "value": {"city": "Berlin", "list": [1, 2, 3]}},
    "color": {"type": "LanguageProperty", "languageMap": {"en": "red", "fr": "rouge"}},
    "rel": {"type": "Relationship", "object": "urn:ngsi-ld:City:Pisa"}
  })");
  const char* queries[] = {
      "n==7;n>=5;n!=1..3;n==1,2,7",
      R"(name~="^Eif";name!~="Pisa";name>"A")",
      "name.observedAt>2019-01-01T00:00:00Z;name.observedAt<2021-01-01",
      R"(address[city]=="Berlin";address[list]==3;!address[zip])",
      R"(color[fr]=="rouge";color=="red";color[*]!="blue")",
      "rel==urn:ngsi-ld:City:Pisa;rel!=urn:x|missing",
      "(n<0|n>100)|(name;!name)",
  };
  for (const char* q : queries) {
    QExpr expr = MustParse(q);
    bool first = expr.Matches(e);  // lets RE2 build its lazy state outside the count
    g_allocations = 0;
    g_count_allocations = true;
    bool again = false;
    for (int i = 0; i < 100; ++i) again = expr.Matches(e);
    g_count_allocations = false;
    EXPECT_EQ(g_allocations, 0) << q;
    EXPECT_EQ(first, again);
  }
}

struct BadCase {
  const char* q;
  size_t position;
};

TEST(QTest, ErrorsNamePosition) {
  std::string deep(40, '(');
  deep += "a==1" + std::string(40, ')');
  const std::vector<BadCase> cases = {
      {"", 0},
      {"   ", 3},
      {"a==", 3},
      {"a=1", 1},
      {"(a==1", 0},
      {"a==1)", 4},
      {"a==1;;b", 5},
      {"a==1|", 5},
      {"a==\"abc", 3},
      {"a>1..5", 2},
      {"a>1,2", 3},
      {"a>true", 2},
      {"a>abc", 2},
      {"a~=\"(\"", 3},
      {"a~=", 3},
      {"!a==1", 0},
      {"a[b", 1},
      {"a[]==1", 2},
      {"a{b", 1},
      {"a{T,:b}==1", 4},
      {"1a==1", 0},
      {"a==1 b==2", 5},
      {"a==\"\\x\"", 4},
      {"a==\"\\ud800\"", 4},
      {"a==\"\\u12\"", 4},
      {"id==urn:x", 0},
      {"type==Building", 0},
      {"a==1..\"z\"", 3},
      {"a==1..", 6},
      {"a.observedAt.b==1", 12},
      {"createdAt.x==1", 9},
      {"a==1e999", 3},
      {"a[b][c]==1", 4},
      {"a==1,", 5},
      {"a.==1", 2},
      {"a~=x(", 3},
      {deep.c_str(), 32},
  };
  for (const auto& c : cases) {
    auto e = QExpr::Parse(c.q, Ex);
    ASSERT_FALSE(e.ok()) << c.q;
    EXPECT_EQ(e.status().code(), ErrorCode::kBadRequestData) << c.q;
    std::string want = "position " + std::to_string(c.position) + ":";
    EXPECT_NE(e.status().detail().find(want), std::string::npos)
        << c.q << " -> " << e.status().detail();
  }
}

// ---- A randomized comparison against an independent reference evaluator -----------------

// The reference: an expression tree over numeric comparisons, evaluated directly.
struct RefNode {
  enum Kind { kTerm, kAnd, kOr } kind = kTerm;
  std::string attr;
  std::string op;
  double value = 0;
  std::vector<RefNode> kids;
};

using RefEntity = std::map<std::string, std::optional<double>>;

bool RefEval(const RefNode& n, const RefEntity& e) {
  if (n.kind == RefNode::kAnd) {
    for (const auto& k : n.kids) {
      if (!RefEval(k, e)) return false;
    }
    return true;
  }
  if (n.kind == RefNode::kOr) {
    for (const auto& k : n.kids) {
      if (RefEval(k, e)) return true;
    }
    return false;
  }
  auto it = e.find(n.attr);
  if (it == e.end() || !it->second) return false;  // no target: no comparison holds
  double v = *it->second;
  if (n.op == "==") return v == n.value;
  if (n.op == "!=") return v != n.value;
  if (n.op == ">") return v > n.value;
  if (n.op == ">=") return v >= n.value;
  if (n.op == "<") return v < n.value;
  return v <= n.value;
}

std::string FormatNumber(double v) {
  if (v == static_cast<int>(v)) return std::to_string(static_cast<int>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

RefNode RandomTree(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> pick(0, 9);
  RefNode n;
  if (depth == 0 || pick(rng) < 4) {
    static const char* kAttrs[] = {"a", "b", "c"};
    static const char* kOps[] = {"==", "!=", ">", ">=", "<", "<="};
    n.attr = kAttrs[std::uniform_int_distribution<int>(0, 2)(rng)];
    n.op = kOps[std::uniform_int_distribution<int>(0, 5)(rng)];
    n.value = std::uniform_int_distribution<int>(-6, 6)(rng) / 2.0;
    return n;
  }
  n.kind = pick(rng) < 5 ? RefNode::kAnd : RefNode::kOr;
  int count = std::uniform_int_distribution<int>(2, 4)(rng);
  for (int i = 0; i < count; ++i) n.kids.push_back(RandomTree(rng, depth - 1));
  return n;
}

// Renders with the parentheses precedence requires (an Or inside an And, or any group inside a
// group of the same kind is kept only sometimes), plus random redundant ones.
std::string Render(const RefNode& n, std::mt19937& rng, bool in_and) {
  std::bernoulli_distribution extra(0.2);
  std::string s;
  if (n.kind == RefNode::kTerm) {
    s = n.attr + n.op + FormatNumber(n.value);
  } else {
    const char* sep = n.kind == RefNode::kAnd ? ";" : "|";
    for (size_t i = 0; i < n.kids.size(); ++i) {
      if (i > 0) s += sep;
      s += Render(n.kids[i], rng, n.kind == RefNode::kAnd);
    }
    bool needed = n.kind == RefNode::kOr && in_and;
    if (needed || extra(rng)) return "(" + s + ")";
    return s;
  }
  return extra(rng) ? "(" + s + ")" : s;
}

TEST(QTest, RandomizedAgainstReference) {
  std::mt19937 rng(20240611);
  std::vector<std::pair<RefEntity, ngsild::Entity>> entities;
  for (int i = 0; i < 24; ++i) {
    RefEntity ref;
    std::string json = "{";
    for (const char* attr : {"a", "b", "c"}) {
      if (std::bernoulli_distribution(0.2)(rng)) {
        ref[attr] = std::nullopt;
        continue;
      }
      double v = std::uniform_int_distribution<int>(-6, 6)(rng) / 2.0;
      ref[attr] = v;
      if (json.size() > 1) json += ",";
      json +=
          "\"" + std::string(attr) + "\":{\"type\":\"Property\",\"value\":" + FormatNumber(v) + "}";
    }
    json += "}";
    entities.emplace_back(ref, Make(json));
  }
  int matched = 0;
  for (int i = 0; i < 4000; ++i) {
    RefNode tree = RandomTree(rng, 4);
    std::string text = Render(tree, rng, false);
    auto q = QExpr::Parse(text, Ex);
    ASSERT_TRUE(q.ok()) << text << ": " << q.status().detail();
    for (const auto& [ref, entity] : entities) {
      bool want = RefEval(tree, ref);
      ASSERT_EQ(q->Matches(entity), want) << text;
      matched += want;
    }
  }
  EXPECT_GT(matched, 1000);  // the property is not vacuous
}

// Random strings over the grammar's alphabet: parsing and matching never crash or hang.
TEST(QTest, RandomInputsAreHandled) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab.[]{}()=!<>~;|,\"\\0123456789-:eTZ*+ u";
  auto e = Make(R"({"a": [{"type": "Property", "value": {"b": [1, {"a": 2}]},
                          "ex:b": {"type": "Property", "value": "x"}},
                         {"type": "Relationship", "object": "urn:a"}],
                    "b": {"type": "LanguageProperty", "languageMap": {"en": "a"}}})");
  EntityLookup lookup = [&](std::string_view) { return std::make_shared<ngsild::Entity>(e); };
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    int len = std::uniform_int_distribution<int>(0, 24)(rng);
    for (int j = 0; j < len; ++j) {
      s += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    }
    auto q = QExpr::Parse(s, Ex);
    if (!q.ok()) {
      EXPECT_EQ(q.status().code(), ErrorCode::kBadRequestData);
      continue;
    }
    ++parsed;
    (void)q->Matches(e);
    (void)q->Matches(e, lookup);
    (void)q->Attributes();
    (void)q->IndexableTerms();
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace civitas::query
