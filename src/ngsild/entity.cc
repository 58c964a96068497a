#include "ngsild/entity.h"

#include <array>

namespace civitas::ngsild {
namespace {

struct KindInfo {
  AttrKind kind;
  std::string_view name;
  std::string_view member;
};

constexpr std::array<KindInfo, 8> kKinds = {{
    {AttrKind::kProperty, "Property", "value"},
    {AttrKind::kRelationship, "Relationship", "object"},
    {AttrKind::kGeoProperty, "GeoProperty", "value"},
    {AttrKind::kLanguageProperty, "LanguageProperty", "languageMap"},
    {AttrKind::kVocabProperty, "VocabProperty", "vocab"},
    {AttrKind::kListProperty, "ListProperty", "valueList"},
    {AttrKind::kListRelationship, "ListRelationship", "objectList"},
    {AttrKind::kJsonProperty, "JsonProperty", "json"},
}};

}  // namespace

std::string_view AttrKindName(AttrKind kind) { return kKinds[static_cast<int>(kind)].name; }
std::string_view ValueMember(AttrKind kind) { return kKinds[static_cast<int>(kind)].member; }

bool ParseAttrKind(std::string_view name, AttrKind* out) {
  for (const auto& k : kKinds) {
    if (k.name == name) {
      *out = k.kind;
      return true;
    }
  }
  return false;
}

bool IsCoreAttributeMember(std::string_view key) {
  static constexpr std::string_view kCore[] = {
      "type",      "value",      "object",     "languageMap", "vocab",      "valueList",
      "objectList", "json",      "objectType", "observedAt",  "unitCode",   "datasetId",
      "createdAt", "modifiedAt", "instanceId", "lang",        "deletedAt",  "previousValue",
      "previousObject", "previousLanguageMap", "previousVocab", "previousValueList",
      "previousObjectList", "previousJson", "@context"};
  for (auto k : kCore) {
    if (k == key) return true;
  }
  return false;
}

AttributeSlot* Entity::FindSlot(std::string_view name) {
  for (auto& s : attrs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const AttributeSlot* Entity::FindSlot(std::string_view name) const {
  for (const auto& s : attrs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Entity::HasType(std::string_view type_iri) const {
  for (const auto& t : types) {
    if (t == type_iri) return true;
  }
  return false;
}

std::string_view DatasetIdOf(const Json& instance) { return instance.GetString("datasetId"); }

int FindInstance(const AttributeSlot& slot, std::string_view dataset_id) {
  for (size_t i = 0; i < slot.instances.size(); ++i) {
    if (DatasetIdOf(slot.instances[i]) == dataset_id) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// An instance in the record: its members, then its system times as integer members
// "createdAt" and "modifiedAt" (microseconds). Members never have these names (the parser
// drops them from input), so they cannot collide.
void AppendInstance(std::string& out, const Attribute& inst) {
  size_t start = out.size();
  AppendJson(out, inst);
  if (out.size() - start < 2 || out.back() != '}') return;  // not an object: kept as it is
  out.pop_back();
  if (out.size() - start > 1) out.push_back(',');
  out.append("\"createdAt\":").append(std::to_string(inst.created_at));
  out.append(",\"modifiedAt\":").append(std::to_string(inst.modified_at));
  out.push_back('}');
}

// Reads an instance that AppendInstance wrote. Records written before the system times were
// integers hold them as DateTime text; both forms are read.
Result<Attribute> ReadInstance(const Json& stored) {
  Attribute inst{stored};
  for (auto [name, field] : {std::pair{"createdAt", &Attribute::created_at},
                             std::pair{"modifiedAt", &Attribute::modified_at}}) {
    const Json* t = inst.Find(name);
    if (t == nullptr) continue;
    if (t->is_int()) {
      inst.*field = t->as_int();
    } else if (auto parsed = t->is_string() ? ParseDateTime(t->as_string()) : std::nullopt) {
      inst.*field = *parsed;
    } else {
      return Status::Internal("corrupt entity record: bad system time of an attribute");
    }
    inst.Erase(name);
  }
  if (inst.is_object()) inst.as_object().shrink_to_fit();
  return inst;
}

}  // namespace

std::string SerializeEntity(const Entity& e) {
  // Written directly (no intermediate Json copy): this runs on the commit thread for every
  // write. The format is the one DeserializeEntity reads.
  std::string out;
  out.reserve(1024);
  out.append("{\"id\":");
  AppendJsonString(out, e.id);
  out.append(",\"type\":[");
  for (size_t i = 0; i < e.types.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, e.types[i]);
  }
  out.push_back(']');
  if (!e.scope.is_null()) {
    out.append(",\"scope\":");
    AppendJson(out, e.scope);
  }
  out.append(",\"c\":").append(std::to_string(e.created_at));
  out.append(",\"m\":").append(std::to_string(e.modified_at));
  out.append(",\"a\":[");
  for (size_t i = 0; i < e.attrs.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"n\":");
    AppendJsonString(out, e.attrs[i].name.str());
    out.append(",\"i\":[");
    const auto& instances = e.attrs[i].instances;
    for (size_t k = 0; k < instances.size(); ++k) {
      if (k > 0) out.push_back(',');
      AppendInstance(out, instances[k]);
    }
    out.append("]}");
  }
  out.append("]}");
  return out;
}

Result<Entity> DeserializeEntity(std::string_view record) {
  auto parsed = ParseJson(record, 512);
  if (!parsed.ok()) return Status::Internal("corrupt entity record: " + parsed.status().detail());
  const Json& rec = *parsed;
  const Json* id = rec.Find("id");
  const Json* types = rec.Find("type");
  const Json* attrs = rec.Find("a");
  if (id == nullptr || !id->is_string() || types == nullptr || !types->is_array() ||
      attrs == nullptr || !attrs->is_array()) {
    return Status::Internal("corrupt entity record: missing members");
  }
  Entity e;
  e.id = id->as_string();
  for (const auto& t : types->as_array()) {
    if (t.is_string()) e.types.push_back(t.as_string());
  }
  if (const Json* s = rec.Find("scope")) e.scope = *s;
  if (const Json* c = rec.Find("c"); c && c->is_int()) e.created_at = c->as_int();
  if (const Json* m = rec.Find("m"); m && m->is_int()) e.modified_at = m->as_int();
  for (const auto& s : attrs->as_array()) {
    const Json* n = s.Find("n");
    const Json* i = s.Find("i");
    if (n == nullptr || !n->is_string() || i == nullptr || !i->is_array()) {
      return Status::Internal("corrupt entity record: bad attribute");
    }
    AttributeSlot slot{n->as_string(), {}};
    slot.instances.reserve(i->size());
    for (const auto& inst : i->as_array()) {
      auto read = ReadInstance(inst);
      if (!read.ok()) return read.status();
      slot.instances.push_back(std::move(*read));
    }
    e.attrs.push_back(std::move(slot));
  }
  return e;
}

}  // namespace civitas::ngsild
