#include "ingest/mapping.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "ngsild/parse.h"

namespace civitas::ingest {
namespace {

const AttributeMapping* FindMapping(const std::vector<AttributeMapping>& ms,
                                    std::string_view object_id) {
  for (const auto& m : ms) {
    if (m.object_id == object_id) return &m;
  }
  return nullptr;
}

// A number from a JSON number or from text ("21.5"); nullopt when it is neither.
std::optional<Json> AsNumber(const Json& v) {
  if (v.is_number()) return v;
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.as_string();
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (*end == '\0' && errno == 0) return Json(static_cast<int64_t>(i));
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (*end == '\0' && errno == 0 && std::isfinite(d)) return Json(d);
  return std::nullopt;
}

std::optional<Json> AsBool(const Json& v) {
  if (v.is_bool()) return v;
  if (v.is_string()) {
    if (v.as_string() == "true") return Json(true);
    if (v.as_string() == "false") return Json(false);
  }
  return std::nullopt;
}

// "lat,lon" (the IoT Agents' geo:point) as a GeoJSON Point.
std::optional<Json> GeoPoint(const Json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.as_string();
  size_t comma = s.find(',');
  if (comma == std::string::npos) return std::nullopt;
  auto lat = AsNumber(Json(std::string(s.substr(0, comma))));
  std::string lon_text(s.substr(comma + 1));
  lon_text.erase(0, lon_text.find_first_not_of(' '));
  auto lon = AsNumber(Json(lon_text));
  if (!lat || !lon) return std::nullopt;
  Json point = Json::MakeObject();
  point.Set("type", "Point");
  Json coords = Json::MakeArray();
  coords.Push(lon->as_double());
  coords.Push(lat->as_double());
  point.Set("coordinates", std::move(coords));
  return point;
}

bool IsNumberType(std::string_view t) {
  return t == "Number" || t == "Integer" || t == "Float" || t == "number" || t == "integer" ||
         t == "float";
}

// The normalized NGSI-LD attribute for a value of an IoT Agent type; nullopt when the value
// cannot be that type (the measure is dropped and counted, never written wrongly).
std::optional<Json> MakeAttribute(std::string_view type, const Json& value) {
  if (value.is_null()) return std::nullopt;
  Json attr = Json::MakeObject();
  if (type == "Relationship") {
    if (!value.is_string() || !ngsild::IsUri(value.as_string())) return std::nullopt;
    attr.Set("type", "Relationship");
    attr.Set("object", value);
    return attr;
  }
  if (type == "geo:point") {
    auto p = GeoPoint(value);
    std::string why;
    if (!p || !ngsild::IsGeoJsonGeometry(*p, &why)) return std::nullopt;  // e.g. latitude 561
    attr.Set("type", "GeoProperty");
    attr.Set("value", std::move(*p));
    return attr;
  }
  if (type == "geo:json" || type == "GeoProperty") {
    std::string why;
    if (!value.is_object() || !ngsild::IsGeoJsonGeometry(value, &why)) return std::nullopt;
    attr.Set("type", "GeoProperty");
    attr.Set("value", value);
    return attr;
  }
  attr.Set("type", "Property");
  if (IsNumberType(type)) {
    auto n = AsNumber(value);
    if (!n) return std::nullopt;
    attr.Set("value", std::move(*n));
  } else if (type == "Boolean" || type == "boolean") {
    auto b = AsBool(value);
    if (!b) return std::nullopt;
    attr.Set("value", std::move(*b));
  } else {
    attr.Set("value", value);
  }
  return attr;
}

// The IoT Agents' attribute metadata {"unitCode": {"type": "Text", "value": "CEL"}} becomes the
// NGSI-LD unitCode member. Other metadata are kept in provisioning but not written.
void ApplyMetadata(const Json& extra, Json& attr) {
  const Json* metadata = extra.Find("metadata");
  if (metadata == nullptr || !metadata->is_object()) return;
  const Json* unit = metadata->Find("unitCode");
  if (unit == nullptr) return;
  const Json* value = unit->is_object() ? unit->Find("value") : unit;
  if (value != nullptr && value->is_string() && !value->as_string().empty()) {
    attr.Set("unitCode", *value);
  }
}

// The attribute's expanded name, or nullopt when ctx does not accept it as one.
std::optional<std::string> ExpandedName(std::string_view name, const jsonld::Context& ctx) {
  if (name.empty() || name == "id" || name == "type") return std::nullopt;
  auto iri = ngsild::ExpandAttributeName(name, ctx);
  if (!iri.ok()) return std::nullopt;
  return std::move(*iri);
}

// Sets the attribute `name` in fragment; another spelling of the same attribute ("owner" and
// its full IRI) is replaced, as the same spelling is: the last one written wins.
void SetAttribute(Json& fragment, std::vector<std::pair<std::string, std::string>>& written,
                  std::string iri, std::string_view name, Json attr) {
  for (auto& [w_iri, w_name] : written) {
    if (w_iri == iri) {
      if (w_name != name) {
        fragment.Erase(w_name);
        w_name = std::string(name);
      }
      fragment.Set(name, std::move(attr));
      return;
    }
  }
  written.emplace_back(std::move(iri), std::string(name));
  fragment.Set(name, std::move(attr));
}

}  // namespace

std::vector<EntityUpdate> MapMeasures(const ResolvedDevice& rd,
                                      const std::vector<MeasureGroup>& groups,
                                      Micros received_at, const jsonld::Context& ctx) {
  const Device& d = *rd.device;
  const ServiceGroup* g = rd.group.get();
  std::string_view group_type = g != nullptr ? std::string_view(g->entity_type) : "";
  const std::string id = EntityIdOf(d, group_type);
  const std::string type = EntityTypeOf(d, group_type);
  const bool explicit_attrs = d.explicit_attrs || (g != nullptr && g->explicit_attrs);

  std::vector<EntityUpdate> updates;
  updates.reserve(groups.size());
  for (const MeasureGroup& mg : groups) {
    EntityUpdate u;
    u.observed_at = mg.observed_at.value_or(received_at);
    const std::string observed = FormatDateTime(u.observed_at);
    u.fragment = Json::MakeObject();
    u.fragment.Set("id", id);
    u.fragment.Set("type", type);
    std::vector<std::pair<std::string, std::string>> written;  // expanded name, member name
    for (const auto& [key, value] : mg.values) {
      const AttributeMapping* m = FindMapping(d.attributes, key);
      if (m == nullptr && g != nullptr) m = FindMapping(g->attributes, key);
      if (m == nullptr && explicit_attrs) {
        ++u.dropped;
        continue;
      }
      std::string_view name = m != nullptr ? std::string_view(m->name) : std::string_view(key);
      std::string_view attr_type = m != nullptr ? std::string_view(m->type) : "";
      auto iri = ExpandedName(name, ctx);
      auto attr = iri ? MakeAttribute(attr_type, value) : std::nullopt;
      if (!attr) {
        ++u.dropped;
        continue;
      }
      attr->Set("observedAt", observed);
      if (m != nullptr) ApplyMetadata(m->extra, *attr);
      SetAttribute(u.fragment, written, std::move(*iri), name, std::move(*attr));
    }
    // Static attributes: the group's first, the device's override them by name.
    auto add_statics = [&](const std::vector<StaticAttribute>& statics) {
      for (const auto& s : statics) {
        auto iri = ExpandedName(s.name, ctx);  // provisioning cannot check every reserved name
        if (!iri) continue;
        if (auto attr = MakeAttribute(s.type, s.value)) {
          ApplyMetadata(s.extra, *attr);
          SetAttribute(u.fragment, written, std::move(*iri), s.name, std::move(*attr));
        }
      }
    };
    if (g != nullptr) add_statics(g->static_attributes);
    add_statics(d.static_attributes);
    updates.push_back(std::move(u));
  }
  std::stable_sort(updates.begin(), updates.end(),
                   [](const EntityUpdate& a, const EntityUpdate& b) {
                     return a.observed_at < b.observed_at;
                   });
  return updates;
}

}  // namespace civitas::ingest
