#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "ingest/measures.h"
#include "ingest/provisioning.h"
#include "jsonld/context.h"

namespace civitas::ingest {

// A device as its measures see it: the device with the group it belongs to (if any).
struct ResolvedDevice {
  std::shared_ptr<const Device> device;
  std::shared_ptr<const ServiceGroup> group;  // null: a device provisioned without a group
};

// One NGSI-LD update built from one measure group: a normalized entity fragment
// ({"id", "type", "<attr>": {"type": "Property", "value", "observedAt"}, ...}) ready for
// ngsild::ParseEntityBody with the core context, and the time it applies at.
struct EntityUpdate {
  Json fragment;
  Micros observed_at = 0;
  size_t dropped = 0;  // measures left out (explicitAttrs, unusable names or values)
};

// Maps measure groups to entity updates the way the IoT Agents do:
//  - a key is looked up by object_id in the device's attributes, then the group's; the mapping
//    gives the attribute name and type;
//  - an unmapped key is written under its own name with its value as received, unless the
//    device or group has explicitAttrs, which drops it;
//  - the type converts the value: Number/Integer/Float parse numbers (Ultralight sends text),
//    Boolean parses true/false, Relationship gives a Relationship to the value's URI,
//    geo:point ("lat,lon") and geo:json / GeoProperty give a GeoProperty;
//  - static attributes go with every update; lazy attributes and commands are not measures;
//  - observedAt is the group's TimeInstant, else received_at;
//  - a name that ctx would not accept as an attribute name (invalid, a keyword, or an NGSI-LD
//    member such as "vocab" or "createdAt") is dropped, as is a value its type cannot carry:
//    every update is a fragment ngsild::ParseEntityBody accepts with ctx.
// The updates come back in time order (stable for equal times), so that applying them in turn
// leaves the latest measure as the entity's state.
std::vector<EntityUpdate> MapMeasures(const ResolvedDevice& device,
                                      const std::vector<MeasureGroup>& groups,
                                      Micros received_at, const jsonld::Context& ctx);

}  // namespace civitas::ingest
