#include "ngsild/parse.h"

#include <cmath>

#include "common/time.h"
#include "geo/geometry.h"

namespace civitas::ngsild {
namespace {

constexpr std::string_view kGeoAttrNames[] = {
    "https://uri.etsi.org/ngsi-ld/location",
    "https://uri.etsi.org/ngsi-ld/observationSpace",
    "https://uri.etsi.org/ngsi-ld/operationSpace",
};

bool IsGeoAttrName(std::string_view iri) {
  for (auto n : kGeoAttrNames) {
    if (n == iri) return true;
  }
  return false;
}

Status Bad(std::string detail) { return Status::BadRequest(std::move(detail)); }

// IRIs of NGSI-LD's own members (what "createdAt", "value", ... expand to): an attribute or
// sub-attribute named so would be indistinguishable from the member in every representation.
bool IsReservedIri(std::string_view iri) {
  static constexpr std::string_view kPrefix = "https://uri.etsi.org/ngsi-ld/";
  if (iri.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = iri.substr(kPrefix.size());
  static constexpr std::string_view kReserved[] = {
      "createdAt", "modifiedAt", "observedAt", "deletedAt", "unitCode", "datasetId",
      "instanceId", "scope", "lang", "hasValue", "hasObject", "hasLanguageMap", "hasVocab",
      "hasValueList", "hasObjectList", "hasJSON", "hasObjectType", "hasValues", "hasObjects",
      "hasPreviousValue", "hasPreviousObject", "hasPreviousLanguageMap", "hasPreviousVocab",
      "hasPreviousValueList", "hasPreviousObjectList", "hasPreviousJson", "entity"};
  for (auto r : kReserved) {
    if (rest == r) return true;
  }
  return false;
}

bool IsDateTimeValue(const Json& v) { return v.is_string() && ParseDateTime(v.as_string()); }

// Turns a concise attribute value (no "type") into a normalized instance object.
Result<Json> Normalize(const Json& value, bool partial) {
  if (!value.is_object()) {
    if (value.is_null()) return Bad("an attribute value cannot be null");
    Json inst = Json::MakeObject();
    inst.Set("type", "Property");
    inst.Set("value", value);
    return inst;
  }
  if (value.Find("type") != nullptr) {
    const Json* t = value.Find("type");
    // A bare GeoJSON geometry in concise form (its "type" is a geometry type, not a kind).
    if (t->is_string() && geo::IsGeometryTypeName(t->as_string()) &&
        value.Find("value") == nullptr) {
      Json inst = Json::MakeObject();
      inst.Set("type", "GeoProperty");
      inst.Set("value", value);
      return inst;
    }
    return value;
  }
  static constexpr std::pair<std::string_view, std::string_view> kInfer[] = {
      {"value", "Property"},          {"object", "Relationship"},
      {"languageMap", "LanguageProperty"}, {"vocab", "VocabProperty"},
      {"valueList", "ListProperty"},  {"objectList", "ListRelationship"},
      {"json", "JsonProperty"},
  };
  for (const auto& [member, kind] : kInfer) {
    if (value.Find(member) != nullptr) {
      Json inst = value;
      std::string_view k = kind;
      if (member == "value") {
        const Json* v = value.Find("value");
        if (v->is_object() && v->Find("coordinates") != nullptr && geo::ParseGeoJson(*v).ok()) {
          k = "GeoProperty";
        }
      }
      inst.as_object().insert(inst.as_object().begin(), {"type", Json(std::string(k))});
      return inst;
    }
  }
  if (partial) return value;
  return Bad("cannot infer the attribute type: give \"type\" or one of value, object, "
             "languageMap, vocab, valueList, objectList, json");
}

Status ValidateValue(AttrKind kind, const Json& inst, const jsonld::Context& ctx, Json* out,
                     std::string_view name) {
  std::string_view member = ValueMember(kind);
  const Json* v = inst.Find(member);
  std::string where = "attribute '" + std::string(name) + "': ";
  if (v == nullptr) return Bad(where + "a " + std::string(AttrKindName(kind)) + " needs \"" +
                               std::string(member) + "\"");
  if (v->is_string() && v->as_string() == kNullLiteral) {
    out->Set(member, *v);
    return Status::Ok();
  }
  switch (kind) {
    case AttrKind::kProperty:
      if (v->is_null()) return Bad(where + "value cannot be null");
      break;
    case AttrKind::kRelationship:
      if (v->is_string()) {
        if (!IsUri(v->as_string())) return Bad(where + "object must be a URI");
      } else if (v->is_array() && v->size() > 0) {
        for (const auto& o : v->as_array()) {
          if (!o.is_string() || !IsUri(o.as_string())) {
            return Bad(where + "object must be a URI or an array of URIs");
          }
        }
      } else {
        return Bad(where + "object must be a URI");
      }
      break;
    case AttrKind::kGeoProperty: {
      // The same validation as geo-queries use: what is stored can always be queried.
      auto g = geo::ParseGeoJson(*v);
      if (!g.ok()) return Bad(where + g.status().detail());
      break;
    }
    case AttrKind::kLanguageProperty:
      if (!v->is_object()) return Bad(where + "languageMap must be an object");
      for (const auto& [lang, text] : v->as_object()) {
        bool ok = text.is_string();
        if (text.is_array()) {
          ok = true;
          for (const auto& t : text.as_array()) ok = ok && t.is_string();
        }
        if (!ok || lang.empty()) {
          return Bad(where + "languageMap maps language tags to strings");
        }
      }
      break;
    case AttrKind::kVocabProperty: {
      auto expand = [&](const Json& term) -> Result<Json> {
        if (!term.is_string() || term.as_string().empty()) {
          return Bad(where + "vocab must be a string or an array of strings");
        }
        return Json(ctx.Expand(term.as_string()));
      };
      if (v->is_array()) {
        Json::Array expanded;
        for (const auto& t : v->as_array()) {
          auto e = expand(t);
          if (!e.ok()) return e.status();
          expanded.push_back(std::move(*e));
        }
        out->Set(member, Json(std::move(expanded)));
      } else {
        auto e = expand(*v);
        if (!e.ok()) return e.status();
        out->Set(member, std::move(*e));
      }
      return Status::Ok();
    }
    case AttrKind::kListProperty:
      if (!v->is_array()) return Bad(where + "valueList must be an array");
      break;
    case AttrKind::kListRelationship:
      if (!v->is_array()) return Bad(where + "objectList must be an array");
      for (const auto& o : v->as_array()) {
        const Json* uri = &o;
        if (o.is_object()) uri = o.Find("object");
        if (uri == nullptr || !uri->is_string() || !IsUri(uri->as_string())) {
          return Bad(where + "objectList must contain URIs");
        }
      }
      break;
    case AttrKind::kJsonProperty:
      if (!v->is_object() && !v->is_array()) {
        return Bad(where + "json must be a JSON object or array");
      }
      break;
  }
  out->Set(member, *v);
  return Status::Ok();
}

Result<Json> ParseInstance(std::string_view name, const Json& raw, const jsonld::Context& ctx,
                           const ParseOptions& options, int depth);

Status ParseSubAttributes(const Json& inst, const jsonld::Context& ctx,
                          const ParseOptions& options, int depth, Json* out) {
  for (const auto& [key, value] : inst.as_object()) {
    if (IsCoreAttributeMember(key)) continue;
    auto iri = ExpandAttributeName(key, ctx);
    if (!iri.ok()) return iri.status();
    auto sub = ParseInstance(*iri, value, ctx, options, depth + 1);
    if (!sub.ok()) return sub.status();
    out->Set(*iri, std::move(*sub));
  }
  return Status::Ok();
}

Result<Json> ParseInstance(std::string_view name, const Json& raw, const jsonld::Context& ctx,
                           const ParseOptions& options, int depth) {
  if (depth > 16) return Bad("sub-attributes nested too deeply");
  if (options.partial && raw.is_string() && raw.as_string() == kNullLiteral) {
    Json inst = Json::MakeObject();
    inst.Set("value", raw);
    return inst;
  }
  auto normalized = Normalize(raw, options.partial);
  if (!normalized.ok()) return normalized.status();
  const Json& inst = *normalized;
  Json out = Json::MakeObject();
  const Json* type = inst.Find("type");
  if (type == nullptr) {
    if (!options.partial) return Bad("attribute '" + std::string(name) + "' has no type");
    // A partial fragment: keep whichever value members it has, unvalidated by kind.
    for (auto member : {"value", "object", "languageMap", "vocab", "valueList", "objectList",
                        "json"}) {
      if (const Json* v = inst.Find(member)) out.Set(member, *v);
    }
  } else {
    AttrKind kind;
    if (!type->is_string() || !ParseAttrKind(type->as_string(), &kind)) {
      return Bad("attribute '" + std::string(name) + "' has an invalid type");
    }
    out.Set("type", *type);
    bool has_value = false;
    for (auto member : {"value", "object", "languageMap", "vocab", "valueList", "objectList",
                        "json"}) {
      if (inst.Find(member) != nullptr) {
        if (member != ValueMember(kind)) {
          return Bad("attribute '" + std::string(name) + "': a " +
                     std::string(AttrKindName(kind)) + " cannot have \"" + member + "\"");
        }
        has_value = true;
      }
    }
    if (has_value || !options.partial) {
      CIVITAS_RETURN_IF_ERROR(ValidateValue(kind, inst, ctx, &out, name));
    }
    if (IsGeoAttrName(name) && kind != AttrKind::kGeoProperty) {
      return Bad("attribute '" + std::string(name) + "' must be a GeoProperty");
    }
  }
  if (const Json* ot = inst.Find("objectType")) {
    if (!ot->is_string()) return Bad("objectType must be a string");
    out.Set("objectType", Json(ctx.Expand(ot->as_string())));
  }
  if (const Json* oa = inst.Find("observedAt")) {
    if (!IsDateTimeValue(*oa)) {
      return Bad("observedAt must be an ISO 8601 date-time with a time zone");
    }
    out.Set("observedAt", *oa);
  }
  if (const Json* uc = inst.Find("unitCode")) {
    if (!uc->is_string() || uc->as_string().empty()) return Bad("unitCode must be a string");
    out.Set("unitCode", *uc);
  }
  if (const Json* ds = inst.Find("datasetId")) {
    if (!ds->is_string() || !IsUri(ds->as_string())) return Bad("datasetId must be a URI");
    out.Set("datasetId", *ds);
  }
  CIVITAS_RETURN_IF_ERROR(ParseSubAttributes(inst, ctx, options, depth, &out));
  return out;
}

}  // namespace

bool IsUri(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) return false;
  char first = s[0];
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  for (size_t i = colon + 1; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '{' || c == '}' ||
        c == '|' || c == '\\' || c == '^' || c == '`') {
      return false;
    }
  }
  return true;
}

Result<std::string> ExpandAttributeName(std::string_view name, const jsonld::Context& ctx) {
  if (!IsValidName(name) || name == "scope") {
    return Bad("invalid attribute name '" + std::string(name) + "'");
  }
  std::string iri = ctx.Expand(name);
  if (iri.empty() || iri[0] == '@') {
    return Bad("'" + std::string(name) + "' is a JSON-LD keyword, not an attribute name");
  }
  if (IsReservedIri(iri)) {
    return Bad("'" + std::string(name) + "' names an NGSI-LD member, not an attribute");
  }
  return iri;
}

bool IsValidName(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\'' || c == '=' ||
        c == ';' || c == '(' || c == ')') {
      return false;
    }
  }
  return true;
}

bool IsGeoJsonGeometry(const Json& v, std::string* why) {
  auto g = geo::ParseGeoJson(v);
  if (!g.ok()) *why = g.status().detail();
  return g.ok();
}

Result<std::vector<Attribute>> ParseAttribute(std::string_view attr_iri, const Json& value,
                                              const jsonld::Context& ctx,
                                              const ParseOptions& options) {
  std::vector<Attribute> instances;
  if (value.is_array() && !value.as_array().empty() && value.as_array()[0].is_object() &&
      (value.as_array()[0].Find("type") != nullptr ||
       value.as_array()[0].Find("value") != nullptr ||
       value.as_array()[0].Find("object") != nullptr)) {
    // An array of instances (multi-attribute); a plain array is a concise Property value.
    for (const auto& item : value.as_array()) {
      auto inst = ParseInstance(attr_iri, item, ctx, options, 0);
      if (!inst.ok()) return inst.status();
      std::string_view ds = DatasetIdOf(*inst);
      for (const auto& prev : instances) {
        if (DatasetIdOf(prev) == ds) {
          return Bad("attribute '" + std::string(attr_iri) +
                     "' has two instances with the same datasetId");
        }
      }
      instances.emplace_back(std::move(*inst));
    }
    return instances;
  }
  auto inst = ParseInstance(attr_iri, value, ctx, options, 0);
  if (!inst.ok()) return inst.status();
  instances.emplace_back(std::move(*inst));
  return instances;
}

Result<EntityFragment> ParseEntityBody(const Json& body, const jsonld::Context& ctx,
                                       const ParseOptions& options) {
  if (!body.is_object()) return Status::InvalidRequest("the body must be a JSON object");
  EntityFragment f;
  for (const auto& [key, value] : body.as_object()) {
    if (key == "@context" || key == "createdAt" || key == "modifiedAt" || key == "deletedAt") {
      continue;
    }
    if (key == "id" || key == "@id") {
      if (!value.is_string() || !IsUri(value.as_string())) {
        return Bad("the entity id must be a URI");
      }
      f.id = value.as_string();
      continue;
    }
    if (key == "type" || key == "@type") {
      auto add = [&](const Json& t) -> Status {
        if (!t.is_string() || !IsValidName(t.as_string())) {
          return Bad("invalid entity type");
        }
        std::string iri = ctx.Expand(t.as_string());
        if (iri.empty() || iri[0] == '@') return Bad("invalid entity type '" + t.as_string() + "'");
        for (const auto& existing : f.types) {
          if (existing == iri) return Status::Ok();
        }
        f.types.push_back(std::move(iri));
        return Status::Ok();
      };
      if (value.is_array()) {
        if (value.size() == 0) return Bad("the entity type list is empty");
        for (const auto& t : value.as_array()) CIVITAS_RETURN_IF_ERROR(add(t));
      } else {
        CIVITAS_RETURN_IF_ERROR(add(value));
      }
      continue;
    }
    if (key == "scope") {
      bool ok = value.is_string();
      if (value.is_array()) {
        ok = value.size() > 0;
        for (const auto& s : value.as_array()) ok = ok && s.is_string();
      }
      if (!ok) return Bad("scope must be a string or an array of strings");
      f.has_scope = true;
      f.scope = value;
      continue;
    }
    auto iri = ExpandAttributeName(key, ctx);
    if (!iri.ok()) return iri.status();
    auto instances = ParseAttribute(*iri, value, ctx, options);
    if (!instances.ok()) return instances.status();
    for (auto& slot : f.attrs) {
      if (slot.name == *iri) return Bad("attribute '" + key + "' appears twice");
    }
    f.attrs.push_back({std::move(*iri), std::move(*instances)});
  }
  if (options.require_id_and_type) {
    if (f.id.empty()) return Bad("the entity has no id");
    if (f.types.empty()) return Bad("the entity has no type");
  }
  return f;
}

}  // namespace civitas::ngsild
