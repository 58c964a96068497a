// fuzz_measures: device payloads (JSON and Ultralight 2.0 measures, MQTT topics) through the
// decoders and the mapping to NGSI-LD.
//
// Properties:
//  - the decoders and the topic parser never crash, whatever the bytes;
//  - every decoded group maps to an entity fragment that ngsild::ParseEntityBody accepts: the
//    Ingestor relies on MapMeasures never building an invalid update (bad names and values are
//    dropped and counted instead), so one bad measure cannot fail a whole message;
//  - the updates come back in non-decreasing observedAt order, one per group.

#include <memory>
#include <string>

#include "check.h"
#include "ingest/mapping.h"
#include "ingest/measures.h"
#include "jsonld/context.h"
#include "ngsild/parse.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

const jsonld::Context& Core() {
  static const std::shared_ptr<const jsonld::Context> core = [] {
    jsonld::ContextRegistry registry({}, [](const std::string&) -> Result<std::string> {
      return Status(ErrorCode::kLdContextNotAvailable, "offline");
    });
    return registry.Core();
  }();
  return *core;
}

// A device whose mappings exercise every type conversion.
const ingest::ResolvedDevice& Device() {
  static const ingest::ResolvedDevice device = [] {
    ingest::ResolvedDevice d;
    auto dev = ingest::ParseDevice(
        *ParseJson(R"({"device_id": "d1", "attributes": [
            {"object_id": "t", "name": "temperature", "type": "Number",
             "metadata": {"unitCode": {"type": "Text", "value": "CEL"}}},
            {"object_id": "b", "name": "on", "type": "Boolean"},
            {"object_id": "p", "name": "location", "type": "geo:point"},
            {"object_id": "g", "name": "shape", "type": "geo:json"},
            {"object_id": "r", "name": "refParent", "type": "Relationship"}]})"),
        {"fuzz", "/"});
    auto group = ingest::ParseServiceGroup(
        *ParseJson(R"({"apikey": "k", "entity_type": "Thing",
            "static_attributes": [{"name": "owner", "type": "Text", "value": "city"}]})"),
        {"fuzz", "/"});
    d.device = std::make_shared<const ingest::Device>(*dev);
    d.group = std::make_shared<const ingest::ServiceGroup>(*group);
    return d;
  }();
  return device;
}

void CheckMapping(const std::vector<ingest::MeasureGroup>& groups, const char* format) {
  auto updates = ingest::MapMeasures(Device(), groups, 1714557600000000, Core());
  FUZZ_CHECK(updates.size() == groups.size(), std::string(format) + ": one update per group");
  Micros last = INT64_MIN;
  for (const auto& u : updates) {
    FUZZ_CHECK(u.observed_at >= last, std::string(format) + ": updates out of time order");
    last = u.observed_at;
    auto fragment = ngsild::ParseEntityBody(u.fragment, Core(), {.require_id_and_type = true});
    FUZZ_CHECK(fragment.ok(), std::string(format) + ": mapped fragment rejected: " +
                                  fragment.status().detail() + " in " + ToJsonString(u.fragment));
  }
}

}  // namespace

void FuzzMeasures(std::string_view data) {
  (void)ingest::ParseDeviceTopic(data);
  (void)ingest::SniffFormat(data);
  if (auto groups = ingest::DecodeJsonMeasures(data); groups.ok()) CheckMapping(*groups, "json");
  if (auto groups = ingest::DecodeUltralight(data); groups.ok()) CheckMapping(*groups, "ul");
}

}  // namespace civitas::fuzz
