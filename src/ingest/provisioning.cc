#include "ingest/provisioning.h"

#include <memory>
#include <utility>

#include "jsonld/context.h"
#include "ngsild/parse.h"

namespace civitas::ingest {
namespace {

Status Bad(std::string_view what) { return Status::BadRequest(std::string(what)); }

// API keys and device ids are MQTT topic levels (/json/<apikey>/<device_id>/attrs), so they
// must not contain the level separator, the wildcards or white space.
bool ValidTopicLevel(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == '/' || c == '+' || c == '#') return false;
  }
  return true;
}

// The core @context alone: measures are written with it, so names are checked against it.
const jsonld::Context& CoreContext() {
  static const std::shared_ptr<const jsonld::Context> core = [] {
    jsonld::ContextRegistry registry({}, [](const std::string& url) -> Result<std::string> {
      return Status(ErrorCode::kLdContextNotAvailable, "offline: " + url);
    });
    return registry.Core();
  }();
  return *core;
}

// An attribute name the NGSI-LD side can carry: valid, not a keyword, not one of the entity's
// or an attribute's own members ("id", "type", "scope", "vocab", "createdAt", ...).
bool ValidAttributeName(std::string_view s) {
  return !s.empty() && s != "id" && s != "type" && ngsild::ExpandAttributeName(s, CoreContext()).ok();
}

Status GetString(const Json& v, std::string_view member, std::string* out) {
  if (!v.is_string()) return Bad(std::string(member) + " must be a string");
  *out = v.as_string();
  return Status::Ok();
}

Status GetBool(const Json& v, std::string_view member, bool* out) {
  if (!v.is_bool()) return Bad(std::string(member) + " must be true or false");
  *out = v.as_bool();
  return Status::Ok();
}

// `attributes`, `lazy` and `commands`: arrays of {object_id?, name, type?}.
Status ParseMappings(const Json& v, std::string_view member, bool type_required,
                     std::vector<AttributeMapping>* out) {
  if (!v.is_array()) return Bad(std::string(member) + " must be an array");
  out->clear();
  size_t i = 0;
  for (const Json& item : v.as_array()) {
    std::string where = std::string(member) + "[" + std::to_string(i++) + "]";
    if (!item.is_object()) return Bad(where + " must be an object");
    AttributeMapping m;
    for (const auto& [key, value] : item.as_object()) {
      if (key == "name") {
        CIVITAS_RETURN_IF_ERROR(GetString(value, where + ".name", &m.name));
      } else if (key == "object_id") {
        CIVITAS_RETURN_IF_ERROR(GetString(value, where + ".object_id", &m.object_id));
        if (m.object_id.empty()) return Bad(where + ".object_id must not be empty");
      } else if (key == "type") {
        CIVITAS_RETURN_IF_ERROR(GetString(value, where + ".type", &m.type));
      } else {
        m.extra.Set(key, value);
      }
    }
    if (m.name.empty()) return Bad(where + ".name is required");
    if (!ValidAttributeName(m.name)) return Bad(where + ".name is not a valid attribute name");
    if (type_required && m.type.empty()) return Bad(where + ".type is required");
    if (m.object_id.empty()) m.object_id = m.name;
    for (const auto& other : *out) {
      if (other.object_id == m.object_id) {
        return Bad(where + ": object_id " + m.object_id + " is mapped twice");
      }
    }
    out->push_back(std::move(m));
  }
  return Status::Ok();
}

Status ParseStatics(const Json& v, std::vector<StaticAttribute>* out) {
  if (!v.is_array()) return Bad("static_attributes must be an array");
  out->clear();
  size_t i = 0;
  for (const Json& item : v.as_array()) {
    std::string where = "static_attributes[" + std::to_string(i++) + "]";
    if (!item.is_object()) return Bad(where + " must be an object");
    StaticAttribute s;
    bool has_value = false;
    for (const auto& [key, value] : item.as_object()) {
      if (key == "name") {
        CIVITAS_RETURN_IF_ERROR(GetString(value, where + ".name", &s.name));
      } else if (key == "type") {
        CIVITAS_RETURN_IF_ERROR(GetString(value, where + ".type", &s.type));
      } else if (key == "value") {
        s.value = value;
        has_value = true;
      } else {
        s.extra.Set(key, value);
      }
    }
    if (s.name.empty()) return Bad(where + ".name is required");
    if (!ValidAttributeName(s.name)) return Bad(where + ".name is not a valid attribute name");
    if (s.type.empty()) return Bad(where + ".type is required");
    if (!has_value || s.value.is_null()) return Bad(where + ".value is required");
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Json MappingsJson(const std::vector<AttributeMapping>& ms) {
  Json arr = Json::MakeArray();
  for (const auto& m : ms) {
    Json o = Json::MakeObject();
    o.Set("object_id", m.object_id);
    o.Set("name", m.name);
    if (!m.type.empty()) o.Set("type", m.type);
    for (const auto& [k, v] : m.extra.as_object()) o.Set(k, v);
    arr.Push(std::move(o));
  }
  return arr;
}

Json StaticsJson(const std::vector<StaticAttribute>& ss) {
  Json arr = Json::MakeArray();
  for (const auto& s : ss) {
    Json o = Json::MakeObject();
    o.Set("name", s.name);
    o.Set("type", s.type);
    o.Set("value", s.value);
    for (const auto& [k, v] : s.extra.as_object()) o.Set(k, v);
    arr.Push(std::move(o));
  }
  return arr;
}

// Members of groups and devices whose values Civitas owns (taken from the request headers).
bool IsScopeMember(std::string_view key) {
  return key == "service" || key == "subservice" || key == "service_path";
}

}  // namespace

Result<ServiceGroup> ParseServiceGroup(const Json& body, const Scope& scope) {
  if (!body.is_object()) return Bad("a service group must be a JSON object");
  ServiceGroup g;
  g.scope = scope;
  for (const auto& [key, v] : body.as_object()) {
    if (key == "apikey") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &g.apikey));
    } else if (key == "resource") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &g.resource));
      if (!g.resource.empty() && g.resource[0] != '/') return Bad("resource must start with /");
    } else if (key == "entity_type") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &g.entity_type));
      if (!g.entity_type.empty() && !ngsild::IsValidName(g.entity_type)) {
        return Bad("entity_type is not a valid NGSI-LD type name");
      }
    } else if (key == "autoprovision") {
      CIVITAS_RETURN_IF_ERROR(GetBool(v, key, &g.autoprovision));
    } else if (key == "explicitAttrs") {
      CIVITAS_RETURN_IF_ERROR(GetBool(v, key, &g.explicit_attrs));
    } else if (key == "attributes") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, true, &g.attributes));
    } else if (key == "lazy") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, false, &g.lazy));
    } else if (key == "commands") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, false, &g.commands));
    } else if (key == "static_attributes") {
      CIVITAS_RETURN_IF_ERROR(ParseStatics(v, &g.static_attributes));
    } else if (!IsScopeMember(key)) {
      g.extra.Set(key, v);
    }
  }
  if (g.apikey.empty()) return Bad("apikey is required");
  if (!ValidTopicLevel(g.apikey)) {
    return Bad("apikey must not contain '/', '+', '#' or white space");
  }
  return g;
}

Result<Device> ParseDevice(const Json& body, const Scope& scope) {
  if (!body.is_object()) return Bad("a device must be a JSON object");
  Device d;
  d.scope = scope;
  for (const auto& [key, v] : body.as_object()) {
    if (key == "device_id") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &d.device_id));
    } else if (key == "entity_name") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &d.entity_name));
      if (!d.entity_name.empty() && !ngsild::IsUri(d.entity_name)) {
        return Bad("entity_name must be a URI (NGSI-LD entity ids are URIs)");
      }
    } else if (key == "entity_type") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &d.entity_type));
      if (!d.entity_type.empty() && !ngsild::IsValidName(d.entity_type)) {
        return Bad("entity_type is not a valid NGSI-LD type name");
      }
    } else if (key == "apikey") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &d.apikey));
      if (!d.apikey.empty() && !ValidTopicLevel(d.apikey)) {
        return Bad("apikey must not contain '/', '+', '#' or white space");
      }
    } else if (key == "transport") {
      CIVITAS_RETURN_IF_ERROR(GetString(v, key, &d.transport));
      if (d.transport != "MQTT" && d.transport != "HTTP" && !d.transport.empty()) {
        return Bad("transport must be MQTT or HTTP");
      }
    } else if (key == "explicitAttrs") {
      CIVITAS_RETURN_IF_ERROR(GetBool(v, key, &d.explicit_attrs));
    } else if (key == "attributes") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, true, &d.attributes));
    } else if (key == "lazy") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, false, &d.lazy));
    } else if (key == "commands") {
      CIVITAS_RETURN_IF_ERROR(ParseMappings(v, key, false, &d.commands));
    } else if (key == "static_attributes") {
      CIVITAS_RETURN_IF_ERROR(ParseStatics(v, &d.static_attributes));
    } else if (!IsScopeMember(key)) {
      d.extra.Set(key, v);
    }
  }
  if (d.device_id.empty()) return Bad("device_id is required");
  if (!ValidTopicLevel(d.device_id)) {
    return Bad("device_id must not contain '/', '+', '#' or white space");
  }
  if (d.entity_name.empty() && !d.entity_type.empty() &&
      !ngsild::IsUri(EntityIdOf(d, ""))) {
    return Bad("the entity id derived from entity_type and device_id is not a URI");
  }
  return d;
}

namespace {

// A PUT body merged over the stored representation; keys may not change.
Result<Json> Merge(Json current, const Json& body, std::initializer_list<std::string_view> keys) {
  if (!body.is_object()) return Bad("the update must be a JSON object");
  for (const auto& [key, v] : body.as_object()) {
    for (auto k : keys) {
      if (key == k && !(v == *current.Find(k))) {
        return Bad(std::string(k) + " cannot be changed by an update");
      }
    }
    current.Set(key, v);
  }
  return current;
}

}  // namespace

Result<ServiceGroup> UpdateServiceGroup(const ServiceGroup& current, const Json& body) {
  auto merged = Merge(ToJson(current), body, {"apikey", "resource"});
  if (!merged.ok()) return merged.status();
  return ParseServiceGroup(*merged, current.scope);
}

Result<Device> UpdateDevice(const Device& current, const Json& body) {
  auto merged = Merge(ToJson(current), body, {"device_id"});
  if (!merged.ok()) return merged.status();
  return ParseDevice(*merged, current.scope);
}

Json ToJson(const ServiceGroup& g) {
  Json o = Json::MakeObject();
  o.Set("apikey", g.apikey);
  o.Set("resource", g.resource);
  if (!g.entity_type.empty()) o.Set("entity_type", g.entity_type);
  o.Set("service", g.scope.service);
  o.Set("subservice", g.scope.subservice);
  o.Set("autoprovision", g.autoprovision);
  o.Set("explicitAttrs", g.explicit_attrs);
  o.Set("attributes", MappingsJson(g.attributes));
  o.Set("lazy", MappingsJson(g.lazy));
  o.Set("commands", MappingsJson(g.commands));
  o.Set("static_attributes", StaticsJson(g.static_attributes));
  for (const auto& [k, v] : g.extra.as_object()) o.Set(k, v);
  return o;
}

Json ToJson(const Device& d) {
  Json o = Json::MakeObject();
  o.Set("device_id", d.device_id);
  o.Set("service", d.scope.service);
  o.Set("service_path", d.scope.subservice);
  if (!d.entity_name.empty()) o.Set("entity_name", d.entity_name);
  if (!d.entity_type.empty()) o.Set("entity_type", d.entity_type);
  if (!d.apikey.empty()) o.Set("apikey", d.apikey);
  if (!d.transport.empty()) o.Set("transport", d.transport);
  o.Set("explicitAttrs", d.explicit_attrs);
  o.Set("attributes", MappingsJson(d.attributes));
  o.Set("lazy", MappingsJson(d.lazy));
  o.Set("commands", MappingsJson(d.commands));
  o.Set("static_attributes", StaticsJson(d.static_attributes));
  for (const auto& [k, v] : d.extra.as_object()) o.Set(k, v);
  return o;
}

std::string EntityTypeOf(const Device& d, std::string_view group_entity_type) {
  if (!d.entity_type.empty()) return d.entity_type;
  if (!group_entity_type.empty()) return std::string(group_entity_type);
  return "Thing";  // the IoT Agents' default type
}

std::string EntityIdOf(const Device& d, std::string_view group_entity_type) {
  if (!d.entity_name.empty()) return d.entity_name;
  return "urn:ngsi-ld:" + EntityTypeOf(d, group_entity_type) + ":" + d.device_id;
}

}  // namespace civitas::ingest
