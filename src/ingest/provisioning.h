#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace civitas::ingest {

// The provisioning model of the FIWARE IoT Agents (iotagent-node-lib), so that existing
// provisioning scripts work unchanged: service groups (/iot/services) and devices
// (/iot/devices), with the same JSON member names. Parsing validates a body and fills the
// defaults; ToJson gives back what GET answers. Members Civitas does not interpret (cbroker,
// protocol, timezone, endpoint, ...) are kept as given and returned, never acted on.

// One entry of `attributes`, `lazy` or `commands`: a measure key (object_id) mapped to an
// attribute name and type. object_id defaults to name.
struct AttributeMapping {
  std::string object_id;
  std::string name;
  std::string type;  // IoT Agent type: "Number", "Text", "Relationship", "geo:point", ...
  Json extra = Json::MakeObject();  // metadata, expression, ... kept as given
};

// One entry of `static_attributes`: written with every measure of the device.
struct StaticAttribute {
  std::string name;
  std::string type;
  Json value;
  Json extra = Json::MakeObject();
};

// Where a group or device lives: the fiware-service header (the NGSI-LD tenant, "" for the
// default tenant) and the fiware-servicepath header ("/" when absent).
struct Scope {
  std::string service;
  std::string subservice = "/";
};

struct ServiceGroup {
  Scope scope;
  std::string apikey;    // required
  std::string resource;  // "/iot/json", "/iot/d", ...; "" matches any
  std::string entity_type;
  bool autoprovision = false;  // Civitas default: off (the issue asks for opt-in)
  bool explicit_attrs = false;
  std::vector<AttributeMapping> attributes, lazy, commands;
  std::vector<StaticAttribute> static_attributes;
  Json extra = Json::MakeObject();
};

struct Device {
  Scope scope;
  std::string device_id;  // required
  std::string entity_name;  // "" derives urn:ngsi-ld:<entity_type>:<device_id>
  std::string entity_type;  // "" takes the group's, else "Thing"
  std::string apikey;       // "" takes the group's
  std::string transport;    // "MQTT", "HTTP" or "" (any)
  bool explicit_attrs = false;
  std::vector<AttributeMapping> attributes, lazy, commands;
  std::vector<StaticAttribute> static_attributes;
  Json extra = Json::MakeObject();
};

// Parse one element of the "services" array (POST) or a whole update body (PUT, partial: no
// member required). Errors are BadRequestData whose detail names the member.
Result<ServiceGroup> ParseServiceGroup(const Json& body, const Scope& scope);
Result<Device> ParseDevice(const Json& body, const Scope& scope);

// Applies a PUT body to an existing group or device: members given replace the stored ones.
// The keys (apikey and resource, device_id) cannot change through an update.
Result<ServiceGroup> UpdateServiceGroup(const ServiceGroup& current, const Json& body);
Result<Device> UpdateDevice(const Device& current, const Json& body);

// The GET representation (also the durable record).
Json ToJson(const ServiceGroup& g);
Json ToJson(const Device& d);

// The NGSI-LD entity id and type a device's measures go to.
std::string EntityIdOf(const Device& d, std::string_view group_entity_type);
std::string EntityTypeOf(const Device& d, std::string_view group_entity_type);

}  // namespace civitas::ingest
