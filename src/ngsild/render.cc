#include "ngsild/render.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "common/time.h"

namespace civitas::ngsild {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The language tags of a `lang` parameter in order of preference ("*" stands for any).
std::vector<std::string> LanguagePreferences(std::string_view lang) {
  struct Tag {
    std::string tag;
    double q;
  };
  std::vector<Tag> tags;
  size_t start = 0;
  while (start <= lang.size()) {
    size_t comma = lang.find(',', start);
    std::string_view part =
        lang.substr(start, comma == std::string_view::npos ? comma : comma - start);
    size_t semi = part.find(';');
    std::string tag(part.substr(0, semi));
    double q = 1.0;
    if (semi != std::string_view::npos) {
      std::string_view param = part.substr(semi + 1);
      if (param.substr(0, 2) == "q=")
        q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
    }
    if (!tag.empty()) tags.push_back({tag, q});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::stable_sort(tags.begin(), tags.end(), [](const Tag& a, const Tag& b) { return a.q > b.q; });
  std::vector<std::string> out;
  for (auto& t : tags) out.push_back(std::move(t.tag));
  return out;
}

// Picks the string for the preferred language from a languageMap: the first preference present
// ("*" takes the first entry), then "@none", then the first entry.
Json PickLanguage(const Json& map, const std::string& lang, std::string* chosen) {
  if (!map.is_object() || map.size() == 0) return Json();
  for (const auto& tag : LanguagePreferences(lang)) {
    if (tag == "*") break;
    if (const Json* v = map.Find(tag)) {
      *chosen = tag;
      return *v;
    }
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

Json Wrap(std::string_view member, const Json* v) {
  Json wrapped = Json::MakeObject();
  wrapped.Set(member, v ? *v : Json());
  return wrapped;
}

// The simplified (keyValues) value of an instance.
Json SimplifiedValue(const Json& inst, const jsonld::Context& ctx, const RenderOptions& o) {
  std::string_view type = inst.GetString("type");
  if (type == "Relationship") return inst.Find("object") ? *inst.Find("object") : Json();
  if (type == "LanguageProperty") {
    const Json* map = inst.Find("languageMap");
    if (map == nullptr) return Json();
    if (o.lang.empty()) return Wrap("languageMap", map);
    std::string chosen;
    return PickLanguage(*map, o.lang, &chosen);
  }
  if (type == "VocabProperty") {
    const Json* v = inst.Find("vocab");
    Json compacted = v ? CompactVocab(*v, ctx) : Json();
    return Wrap("vocab", &compacted);
  }
  if (type == "ListProperty") return Wrap("valueList", inst.Find("valueList"));
  if (type == "ListRelationship") return Wrap("objectList", inst.Find("objectList"));
  if (type == "JsonProperty") return Wrap("json", inst.Find("json"));
  return inst.Find("value") ? *inst.Find("value") : Json();
}

// Renders an instance's members, or a sub-attribute; `times` (the top-level instance) adds its
// system times with sysAttrs.
Json RenderInstance(const Json& inst, const jsonld::Context& ctx, const RenderOptions& o,
                    const Attribute* times = nullptr) {
  if (o.format == Format::kKeyValues) return SimplifiedValue(inst, ctx, o);
  Json out = Json::MakeObject();
  std::string_view type = inst.GetString("type");
  bool concise = o.format == Format::kConcise;
  bool lang_pick = type == "LanguageProperty" && !o.lang.empty();
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
    if (key == "vocab" || key == "objectType" || key == "previousVocab") {
      out.Set(key, CompactVocab(value, ctx));
      continue;
    }
    if (IsCoreAttributeMember(key)) {
      out.Set(key, value);
      continue;
    }
    out.Set(ctx.Compact(key), RenderInstance(value, ctx, o));
  }
  if (o.sys_attrs && times != nullptr && times->created_at != 0) {
    out.Set("createdAt", FormatDateTime(times->created_at));
    out.Set("modifiedAt", FormatDateTime(times->modified_at));
  }
  if (concise && out.size() == 1) {
    // A Property that has nothing but a non-object value is shown as the bare value; a
    // GeoProperty with nothing but its geometry as the bare geometry.
    const Json* v = out.Find("value");
    if (v != nullptr && (type == "GeoProperty" || (type == "Property" && !v->is_object()))) {
      return *v;
    }
  }
  return out;
}

// Renders entities, following links. `flat` collects linked entities for Join::kFlat.
class Renderer {
 public:
  Renderer(const jsonld::Context& ctx, const RenderOptions& o) : ctx_(ctx), o_(o) {}

  Json Entity(const ngsild::Entity& e, const Projection* pick, const Projection* omit, int level,
              bool top) {
    seen_.insert(e.id);
    auto want = [&](std::string_view name) {
      if (top && !o_.attrs.empty() && name != "id" && name != "type" && name != "scope" &&
          !Contains(o_.attrs, name)) {
        return false;
      }
      if (pick != nullptr && !pick->Contains(name)) return false;
      if (omit != nullptr && omit->Contains(name) && omit->Nested(name) == nullptr) return false;
      return true;
    };
    Json out = Json::MakeObject();
    if (want("id")) out.Set("id", e.id);
    if (want("type")) {
      if (e.types.size() == 1) {
        out.Set("type", ctx_.Compact(e.types[0]));
      } else {
        Json::Array types;
        for (const auto& t : e.types) types.emplace_back(ctx_.Compact(t));
        out.Set("type", Json(std::move(types)));
      }
    }
    if (!e.scope.is_null() && want("scope")) out.Set("scope", e.scope);
    if (o_.sys_attrs && o_.format != Format::kKeyValues) {
      out.Set("createdAt", FormatDateTime(e.created_at));
      out.Set("modifiedAt", FormatDateTime(e.modified_at));
    }
    for (const auto& full_slot : e.attrs) {
      if (!want(full_slot.name.str())) continue;
      AttributeSlot selected;
      if (top && !o_.dataset_ids.empty()) {
        selected.name = full_slot.name;
        for (const auto& inst : full_slot.instances) {
          std::string_view id = DatasetIdOf(inst);
          if (Contains(o_.dataset_ids, id.empty() ? std::string_view("@none") : id)) {
            selected.instances.push_back(inst);
          }
        }
        if (selected.instances.empty()) continue;
      }
      const AttributeSlot& slot = selected.instances.empty() ? full_slot : selected;
      Json rendered = RenderAttribute(slot, ctx_, o_);
      if (o_.join != Join::kNone && level < o_.join_level) {
        auto sub_pick = pick ? pick->Nested(slot.name.str()) : nullptr;
        auto sub_omit = omit ? omit->Nested(slot.name.str()) : nullptr;
        Link(slot, rendered, sub_pick.get(), sub_omit.get(), level);
      }
      out.Set(ctx_.Compact(slot.name.str()), std::move(rendered));
    }
    if (top && o_.with_context) out.Set("@context", ctx_.source());
    return out;
  }

  std::vector<Json>& flat() { return flat_; }

 private:
  // Follows the Relationship instances of slot: inline embeds the linked entities in rendered;
  // flat appends them to flat_.
  void Link(const AttributeSlot& slot, Json& rendered, const Projection* pick,
            const Projection* omit, int level) {
    for (size_t i = 0; i < slot.instances.size(); ++i) {
      const Attribute& inst = slot.instances[i];
      if (inst.GetString("type") != "Relationship") continue;
      const Json* object = inst.Find("object");
      if (object == nullptr || !object->is_string() || !o_.lookup) continue;
      EntityPtr linked = o_.lookup(object->as_string());
      if (!linked) continue;
      if (o_.join == Join::kFlat) {
        if (seen_.count(linked->id)) continue;
        seen_.insert(linked->id);
        flat_.push_back(Json());
        size_t at = flat_.size() - 1;
        Json e = Entity(*linked, pick, omit, level + 1, false);
        flat_[at] = std::move(e);
        continue;
      }
      Json e = Entity(*linked, pick, omit, level + 1, false);
      Json& target = rendered.is_array() ? rendered.as_array()[i] : rendered;
      if (o_.format == Format::kKeyValues) {
        target = std::move(e);
      } else if (target.is_object()) {
        target.Set("entity", std::move(e));
      }
    }
  }

  const jsonld::Context& ctx_;
  const RenderOptions& o_;
  std::set<std::string> seen_;
  std::vector<Json> flat_;
};

}  // namespace

bool AttributeSelected(const RenderOptions& o, const std::string& iri) {
  if (!o.attrs.empty() && !Contains(o.attrs, iri)) return false;
  if (o.pick && !o.pick->Contains(iri)) return false;
  if (o.omit && o.omit->Contains(iri) && o.omit->Nested(iri) == nullptr) return false;
  return true;
}

Json RenderAttribute(const AttributeSlot& slot, const jsonld::Context& ctx,
                     const RenderOptions& options) {
  if (slot.instances.size() == 1) {
    return RenderInstance(slot.instances[0], ctx, options, &slot.instances[0]);
  }
  if (options.format == Format::kKeyValues) {
    // Clause 4.5.4: several instances simplify to {"dataset": {datasetId or "@none": value}}.
    Json by_dataset = Json::MakeObject();
    for (const auto& inst : slot.instances) {
      std::string_view id = DatasetIdOf(inst);
      by_dataset.Set(id.empty() ? "@none" : id, RenderInstance(inst, ctx, options, &inst));
    }
    Json out = Json::MakeObject();
    out.Set("dataset", std::move(by_dataset));
    return out;
  }
  Json::Array all;
  for (const auto& inst : slot.instances) {
    all.push_back(RenderInstance(inst, ctx, options, &inst));
  }
  return Json(std::move(all));
}

Json RenderEntity(const Entity& e, const jsonld::Context& ctx, const RenderOptions& o) {
  RenderOptions inline_only = o;
  if (inline_only.join == Join::kFlat) inline_only.join = Join::kNone;
  Renderer r(ctx, inline_only);
  return r.Entity(e, o.pick.get(), o.omit.get(), 0, true);
}

Json RenderEntityFlat(const Entity& e, const jsonld::Context& ctx, const RenderOptions& o) {
  RenderOptions flat = o;
  flat.join = Join::kFlat;
  flat.with_context = false;
  Renderer r(ctx, flat);
  Json::Array all;
  Json top = r.Entity(e, o.pick.get(), o.omit.get(), 0, true);
  if (r.flat().empty()) return top;  // nothing linked was found: the entity alone
  all.push_back(std::move(top));
  for (auto& linked : r.flat()) all.push_back(std::move(linked));
  return Json(std::move(all));
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
