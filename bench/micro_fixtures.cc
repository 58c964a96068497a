#include "micro_fixtures.h"

#include <cstdio>
#include <cstdlib>

#include "common/json.h"
#include "common/time.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"

namespace civitas::bench {

const char* const kSensorEntity = R"({
  "id": "urn:ngsi-ld:AirQualityObserved:Aarhus:0042",
  "type": "AirQualityObserved",
  "NO2": {"type": "Property", "value": 22.7, "unitCode": "GQ",
          "observedAt": "2024-03-01T12:00:00Z"},
  "PM10": {"type": "Property", "value": 14.2, "unitCode": "GQ",
           "observedAt": "2024-03-01T12:00:00Z"},
  "temperature": {"type": "Property", "value": 6.5, "unitCode": "CEL",
                  "observedAt": "2024-03-01T12:00:00Z"},
  "name": {"type": "Property", "value": "Banegårdspladsen"},
  "refDistrict": {"type": "Relationship", "object": "urn:ngsi-ld:District:Aarhus:Midtbyen"},
  "location": {"type": "GeoProperty",
               "value": {"type": "Point", "coordinates": [10.2039, 56.1496]}}
})";

const jsonld::Context& CoreContext() {
  static jsonld::ContextRegistry registry({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  static std::shared_ptr<const jsonld::Context> core = registry.Core();
  return *core;
}

namespace {

ngsild::Entity FromJson(const Json& body) {
  auto fragment = ngsild::ParseEntityBody(body, CoreContext(), {.require_id_and_type = true});
  if (!fragment.ok()) {
    std::fprintf(stderr, "micro bench fixture: %s\n", fragment.status().detail().c_str());
    std::abort();
  }
  return ngsild::CreateEntity(std::move(*fragment), NowMicros());
}

Json SensorJson() {
  auto body = ParseJson(kSensorEntity);
  if (!body.ok()) std::abort();
  return std::move(*body);
}

}  // namespace

ngsild::Entity MakeSensor() { return FromJson(SensorJson()); }

ngsild::Entity MakeSensor(const std::string& id, double no2, double pm10) {
  Json body = SensorJson();
  body.Set("id", Json(id));
  body.Find("NO2")->Set("value", Json(no2));
  body.Find("PM10")->Set("value", Json(pm10));
  return FromJson(body);
}

}  // namespace civitas::bench
