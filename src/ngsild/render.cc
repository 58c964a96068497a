#include "ngsild/render.h"

#include <algorithm>

#include "common/time.h"

namespace civitas::ngsild {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Picks the string for lang from a languageMap: exact tag, then "@none", then the first entry.
Json PickLanguage(const Json& map, const std::string& lang, std::string* chosen) {
  if (!map.is_object() || map.size() == 0) return Json();
  if (const Json* v = map.Find(lang)) {
    *chosen = lang;
    return *v;
  }
  if (const Json* v = map.Find("@none")) {
    *chosen = "@none";
    return *v;
  }
  *chosen = map.as_object().front().first;
  return map.as_object().front().second;
}

Json CompactVocab(const Json& v, const jsonld::Context& ctx) {
  if (v.is_string()) return Json(ctx.Compact(v.as_string()));
  if (v.is_array()) {
    Json::Array out;
    for (const auto& item : v.as_array()) out.push_back(CompactVocab(item, ctx));
    return Json(std::move(out));
  }
  return v;
}

// The simplified (keyValues) value of an instance.
Json SimplifiedValue(const Attribute& inst, const jsonld::Context& ctx, const RenderOptions& o) {
  std::string_view type = inst.GetString("type");
  if (type == "Relationship") return inst.Find("object") ? *inst.Find("object") : Json();
  if (type == "LanguageProperty") {
    const Json* map = inst.Find("languageMap");
    if (map == nullptr) return Json();
    if (o.lang.empty() || o.lang == "*") {
      Json wrapped = Json::MakeObject();
      wrapped.Set("languageMap", *map);
      return wrapped;
    }
    std::string chosen;
    return PickLanguage(*map, o.lang, &chosen);
  }
  if (type == "VocabProperty") {
    const Json* v = inst.Find("vocab");
    if (v == nullptr) return Json();
    Json wrapped = Json::MakeObject();
    wrapped.Set("vocab", CompactVocab(*v, ctx));
    return wrapped;
  }
  if (type == "ListProperty") {
    Json wrapped = Json::MakeObject();
    wrapped.Set("valueList", inst.Find("valueList") ? *inst.Find("valueList") : Json());
    return wrapped;
  }
  if (type == "ListRelationship") {
    Json wrapped = Json::MakeObject();
    wrapped.Set("objectList", inst.Find("objectList") ? *inst.Find("objectList") : Json());
    return wrapped;
  }
  if (type == "JsonProperty") {
    Json wrapped = Json::MakeObject();
    wrapped.Set("json", inst.Find("json") ? *inst.Find("json") : Json());
    return wrapped;
  }
  return inst.Find("value") ? *inst.Find("value") : Json();
}

Json RenderInstance(const Attribute& inst, const jsonld::Context& ctx, const RenderOptions& o) {
  if (o.format == Format::kKeyValues) return SimplifiedValue(inst, ctx, o);
  Json out = Json::MakeObject();
  std::string_view type = inst.GetString("type");
  bool concise = o.format == Format::kConcise;
  bool lang_pick = type == "LanguageProperty" && !o.lang.empty() && o.lang != "*";
  for (const auto& [key, value] : inst.as_object()) {
    if (key == "type") {
      if (!concise) out.Set("type", lang_pick ? Json("Property") : value);
      continue;
    }
    if ((key == "createdAt" || key == "modifiedAt") && !o.sys_attrs) continue;
    if (key == "languageMap" && lang_pick) {
      std::string chosen;
      out.Set("value", PickLanguage(value, o.lang, &chosen));
      out.Set("lang", chosen);
      continue;
    }
    if (key == "vocab") {
      out.Set("vocab", CompactVocab(value, ctx));
      continue;
    }
    if (key == "objectType") {
      out.Set("objectType", CompactVocab(value, ctx));
      continue;
    }
    if (IsCoreAttributeMember(key)) {
      out.Set(key, value);
      continue;
    }
    out.Set(ctx.Compact(key), RenderInstance(value, ctx, o));
  }
  if (concise) {
    // A Property that has nothing but a non-object value is shown as the bare value; a
    // GeoProperty with nothing but its geometry as the bare geometry.
    if (out.size() == 1) {
      const Json* v = out.Find("value");
      if (v != nullptr && (type == "GeoProperty" || (type == "Property" && !v->is_object()))) {
        return *v;
      }
    }
  }
  return out;
}

}  // namespace

bool AttributeSelected(const RenderOptions& o, const std::string& iri) {
  if (!o.attrs.empty() && !Contains(o.attrs, iri)) return false;
  if (!o.pick.empty() && !Contains(o.pick, iri)) return false;
  if (Contains(o.omit, iri)) return false;
  return true;
}

Json RenderAttribute(const AttributeSlot& slot, const jsonld::Context& ctx,
                     const RenderOptions& options) {
  if (slot.instances.size() == 1) return RenderInstance(slot.instances[0], ctx, options);
  Json::Array all;
  for (const auto& inst : slot.instances) all.push_back(RenderInstance(inst, ctx, options));
  return Json(std::move(all));
}

Json RenderEntity(const Entity& e, const jsonld::Context& ctx, const RenderOptions& o) {
  Json out = Json::MakeObject();
  bool want_id = (o.pick.empty() || Contains(o.pick, "id")) && !Contains(o.omit, "id");
  bool want_type = (o.pick.empty() || Contains(o.pick, "type")) && !Contains(o.omit, "type");
  if (want_id) out.Set("id", e.id);
  if (want_type) {
    if (e.types.size() == 1) {
      out.Set("type", ctx.Compact(e.types[0]));
    } else {
      Json::Array types;
      for (const auto& t : e.types) types.emplace_back(ctx.Compact(t));
      out.Set("type", Json(std::move(types)));
    }
  }
  if (!e.scope.is_null() && (o.pick.empty() || Contains(o.pick, "scope")) &&
      !Contains(o.omit, "scope")) {
    out.Set("scope", e.scope);
  }
  if (o.sys_attrs && o.format != Format::kKeyValues) {
    out.Set("createdAt", FormatDateTime(e.created_at));
    out.Set("modifiedAt", FormatDateTime(e.modified_at));
  }
  for (const auto& slot : e.attrs) {
    if (!AttributeSelected(o, slot.name)) continue;
    out.Set(ctx.Compact(slot.name), RenderAttribute(slot, ctx, o));
  }
  if (o.with_context) out.Set("@context", ctx.source());
  return out;
}

Json RenderFeature(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options,
                   const std::string& geometry_iri) {
  RenderOptions inner = options;
  inner.with_context = false;
  Json properties = RenderEntity(e, ctx, inner);
  properties.Erase("id");
  Json geometry;
  if (const AttributeSlot* slot = e.FindSlot(geometry_iri)) {
    for (const auto& inst : slot->instances) {
      if (inst.GetString("type") == "GeoProperty" && inst.Find("value") != nullptr) {
        geometry = *inst.Find("value");
        break;
      }
    }
  }
  Json feature = Json::MakeObject();
  feature.Set("id", e.id);
  feature.Set("type", "Feature");
  feature.Set("geometry", std::move(geometry));
  feature.Set("properties", std::move(properties));
  if (options.with_context) feature.Set("@context", ctx.source());
  return feature;
}

}  // namespace civitas::ngsild
