#include "ngsild/ops.h"

#include <algorithm>

namespace civitas::ngsild {
namespace {

bool IsNullLiteral(const Json& v) { return v.is_string() && v.as_string() == kNullLiteral; }

// The value member an instance carries, if any.
const Json* ValueOf(const Json& inst, std::string_view* member) {
  for (auto m : {"value", "object", "languageMap", "vocab", "valueList", "objectList", "json"}) {
    if (const Json* v = inst.Find(m)) {
      *member = m;
      return v;
    }
  }
  return nullptr;
}

}  // namespace

bool DeletesItself(const Json& inst) {
  std::string_view member;
  const Json* v = ValueOf(inst, &member);
  if (v == nullptr) return false;
  if (IsNullLiteral(*v)) return true;
  // {"languageMap": {"@none": NULL}}, {"valueList": [NULL]}, {"objectList": [NULL]}.
  if (v->is_object() && v->size() == 1 && v->Find("@none") && IsNullLiteral(*v->Find("@none"))) {
    return true;
  }
  return v->is_array() && v->size() == 1 && IsNullLiteral(v->as_array()[0]);
}

namespace {

void Stamp(Attribute& inst, Micros created, Micros modified) {
  // No unused room: the instance is stored as it is, and a vector grown by doubling would
  // keep up to three unused members (72 bytes each) per attribute of every entity.
  if (inst.is_object() && inst.as_object().capacity() > inst.as_object().size()) {
    inst.as_object().shrink_to_fit();
  }
  inst.created_at = created;
  inst.modified_at = modified;
}

// Stamps a new instance (and nothing below it: sub-attributes carry no system times).
void StampNew(Attribute& inst, Micros now) { Stamp(inst, now, now); }

// Stamps an instance that replaces `old`, keeping old's createdAt.
void StampReplacing(Attribute& inst, const Attribute* old, Micros now) {
  Stamp(inst, old != nullptr && old->created_at != 0 ? old->created_at : now, now);
}

// Puts instance into the slot named name (creating the slot), replacing the instance with the
// same datasetId. Returns true if an instance was replaced.
bool PutInstance(Entity& e, const std::string& name, Attribute inst, Micros now) {
  AttributeSlot* slot = e.FindSlot(name);
  if (slot == nullptr) {
    StampNew(inst, now);
    e.attrs.push_back({name, {std::move(inst)}});
    return false;
  }
  int i = FindInstance(*slot, DatasetIdOf(inst));
  if (i < 0) {
    StampNew(inst, now);
    slot->instances.push_back(std::move(inst));
    return false;
  }
  StampReplacing(inst, &slot->instances[i], now);
  slot->instances[i] = std::move(inst);
  return true;
}

void RemoveEmptySlots(Entity& e) {
  e.attrs.erase(std::remove_if(e.attrs.begin(), e.attrs.end(),
                               [](const AttributeSlot& s) { return s.instances.empty(); }),
                e.attrs.end());
}

// True if a fragment instance can stand as a new attribute: a kind and that kind's value.
bool IsComplete(const Json& inst) {
  AttrKind kind;
  return inst.is_object() && ParseAttrKind(inst.GetString("type"), &kind) &&
         inst.Find(ValueMember(kind)) != nullptr;
}

// Merges fragment into target (both attribute instances): members of the fragment replace those
// of the target, sub-attributes merge recursively, kNullLiteral removes. A fragment that changes
// the kind must bring the new kind's value, or the instance would be inconsistent.
Status MergeInstance(Json& target, const Json& fragment) {
  std::string_view member;
  std::string_view new_type = fragment.GetString("type");
  if (!new_type.empty() && new_type != target.GetString("type")) {
    AttrKind kind;
    if (!ParseAttrKind(new_type, &kind) || fragment.Find(ValueMember(kind)) == nullptr) {
      return Status::BadRequest(
          "changing an attribute to a " + std::string(new_type) + " needs its \"" +
          std::string(ParseAttrKind(new_type, &kind) ? ValueMember(kind) : "value") + "\"");
    }
  }
  if (ValueOf(fragment, &member) != nullptr) {
    // A new value replaces the old one whatever member held it (the kind may change); the
    // same member is replaced in place below.
    for (auto m : {"value", "object", "languageMap", "vocab", "valueList", "objectList", "json"}) {
      if (m != member) target.Erase(m);
    }
  }
  for (const auto& [key, value] : fragment.as_object()) {
    if (key == "createdAt" || key == "modifiedAt") continue;
    if (IsNullLiteral(value) ||
        (value.is_object() && DeletesItself(value) && !IsCoreAttributeMember(key))) {
      target.Erase(key);
      continue;
    }
    if (!IsCoreAttributeMember(key)) {
      Json* existing = target.Find(key);
      if (existing != nullptr && existing->is_object() && value.is_object()) {
        CIVITAS_RETURN_IF_ERROR(MergeInstance(*existing, value));
        continue;
      }
      if (!IsComplete(value)) {
        return Status::BadRequest("a new sub-attribute needs a type and a value");
      }
    }
    target.Set(key, value);
  }
  return Status::Ok();
}

}  // namespace

Entity CreateEntity(EntityFragment fragment, Micros now) {
  Entity e;
  e.id = std::move(fragment.id);
  e.types = std::move(fragment.types);
  e.scope = std::move(fragment.scope);
  e.created_at = now;
  e.modified_at = now;
  for (auto& slot : fragment.attrs) {
    for (auto& inst : slot.instances) StampNew(inst, now);
    e.attrs.push_back(std::move(slot));
  }
  return e;
}

namespace {

// Scope values as a list of strings.
std::vector<Json> ScopeList(const Json& scope) {
  if (scope.is_array()) return scope.as_array();
  if (scope.is_null()) return {};
  return {scope};
}

// Adds the scopes of `add` that `target` does not have yet.
Json UnionScopes(const Json& target, const Json& add) {
  std::vector<Json> all = ScopeList(target);
  for (const auto& s : ScopeList(add)) {
    if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
  }
  if (all.size() == 1) return all[0];
  return Json(Json::Array(all.begin(), all.end()));
}

void AddTypes(Entity& e, std::vector<std::string>& types) {
  for (auto& t : types) {
    if (!e.HasType(t)) e.types.push_back(std::move(t));
  }
}

// Deletes the instance inst names (by datasetId) if it exists. Returns true if it did.
bool DeleteNamedInstance(Entity& e, const std::string& name, const Attribute& inst) {
  AttributeSlot* slot = e.FindSlot(name);
  if (slot == nullptr) return false;
  int i = FindInstance(*slot, DatasetIdOf(inst));
  if (i < 0) return false;
  slot->instances.erase(slot->instances.begin() + i);
  RemoveEmptySlots(e);
  return true;
}

}  // namespace

UpdateResult AppendAttributes(Entity& e, EntityFragment fragment, bool no_overwrite, Micros now) {
  UpdateResult result;
  AddTypes(e, fragment.types);
  if (fragment.has_scope) {
    e.scope = no_overwrite ? UnionScopes(e.scope, fragment.scope) : std::move(fragment.scope);
  }
  for (auto& slot : fragment.attrs) {
    bool any = false;
    for (auto& inst : slot.instances) {
      const AttributeSlot* existing = e.FindSlot(slot.name);
      if (no_overwrite && existing != nullptr && FindInstance(*existing, DatasetIdOf(inst)) >= 0) {
        continue;
      }
      PutInstance(e, slot.name, std::move(inst), now);
      any = true;
    }
    if (any) {
      result.updated.push_back(slot.name);
    } else {
      result.not_updated.emplace_back(slot.name, "attribute exists and noOverwrite was given");
    }
  }
  e.modified_at = now;
  return result;
}

UpdateResult UpdateAttributes(Entity& e, EntityFragment fragment, Micros now) {
  UpdateResult result;
  AddTypes(e, fragment.types);
  if (fragment.has_scope) {
    if (e.scope.is_null()) {
      result.not_updated.emplace_back("scope", "the entity has no scope to update");
    } else {
      e.scope = std::move(fragment.scope);
    }
  }
  for (auto& slot : fragment.attrs) {
    bool any = false;
    for (auto& inst : slot.instances) {
      if (DeletesItself(inst)) {
        any = DeleteNamedInstance(e, slot.name, inst) || any;
        continue;
      }
      PutInstance(e, slot.name, std::move(inst), now);
      any = true;
    }
    if (any) {
      result.updated.push_back(slot.name);
    } else {
      result.not_updated.emplace_back(slot.name, "no such attribute instance to delete");
    }
  }
  e.modified_at = now;
  return result;
}

void ReplaceEntity(Entity& e, EntityFragment fragment, Micros now) {
  if (!fragment.types.empty()) e.types = std::move(fragment.types);
  e.scope = fragment.has_scope ? std::move(fragment.scope) : Json();
  std::vector<AttributeSlot> old = std::move(e.attrs);
  e.attrs.clear();
  for (auto& slot : fragment.attrs) {
    for (auto& inst : slot.instances) StampNew(inst, now);
    e.attrs.push_back(std::move(slot));
  }
  e.modified_at = now;
}

Status MergeEntity(Entity& e, EntityFragment fragment, Micros now) {
  AddTypes(e, fragment.types);
  if (fragment.has_scope) e.scope = std::move(fragment.scope);
  for (auto& slot : fragment.attrs) {
    for (auto& inst : slot.instances) {
      AttributeSlot* existing = e.FindSlot(slot.name);
      int i = existing == nullptr ? -1 : FindInstance(*existing, DatasetIdOf(inst));
      if (DeletesItself(inst)) {
        if (i >= 0) existing->instances.erase(existing->instances.begin() + i);
        continue;
      }
      if (i < 0) {
        if (!IsComplete(inst)) {
          return Status::BadRequest("attribute '" + slot.name.str() +
                                    "' does not exist, and the fragment is not a complete "
                                    "attribute (it needs a type and a value)");
        }
        PutInstance(e, slot.name, std::move(inst), now);
        continue;
      }
      Attribute& target = existing->instances[i];
      CIVITAS_RETURN_IF_ERROR(MergeInstance(target, inst));
      target.modified_at = now;
    }
  }
  RemoveEmptySlots(e);
  e.modified_at = now;
  return Status::Ok();
}

Status PartialUpdateAttribute(Entity& e, const std::string& name, std::vector<Attribute> fragment,
                              Micros now) {
  AttributeSlot* slot = e.FindSlot(name);
  if (slot == nullptr) return Status::NotFound("the entity has no attribute '" + name + "'");
  for (auto& inst : fragment) {
    int i = FindInstance(*slot, DatasetIdOf(inst));
    if (i < 0) {
      return Status::NotFound("attribute '" + name + "' has no instance with that datasetId");
    }
    std::string_view type = inst.GetString("type");
    if (!type.empty() && type != slot->instances[i].GetString("type")) {
      return Status::BadRequest("attribute '" + name + "' is a " +
                                std::string(slot->instances[i].GetString("type")) + ", not a " +
                                std::string(type));
    }
  }
  for (auto& inst : fragment) {
    int i = FindInstance(*slot, DatasetIdOf(inst));
    if (DeletesItself(inst)) {
      slot->instances.erase(slot->instances.begin() + i);
      continue;
    }
    Attribute& target = slot->instances[i];
    CIVITAS_RETURN_IF_ERROR(MergeInstance(target, inst));
    target.modified_at = now;
  }
  RemoveEmptySlots(e);
  e.modified_at = now;
  return Status::Ok();
}

Status ReplaceAttribute(Entity& e, const std::string& name, std::vector<Attribute> instances,
                        Micros now) {
  if (e.FindSlot(name) == nullptr) {
    return Status::NotFound("the entity has no attribute '" + name + "'");
  }
  for (auto& inst : instances) PutInstance(e, name, std::move(inst), now);
  e.modified_at = now;
  return Status::Ok();
}

Status DeleteAttribute(Entity& e, const std::string& name, std::string_view dataset_id,
                       bool delete_all, Micros now) {
  if (name == "scope") {
    if (e.scope.is_null()) return Status::NotFound("the entity has no scope");
    e.scope = Json();
    e.modified_at = now;
    return Status::Ok();
  }
  AttributeSlot* slot = e.FindSlot(name);
  if (slot == nullptr) return Status::NotFound("the entity has no attribute '" + name + "'");
  if (delete_all) {
    slot->instances.clear();
  } else {
    int i = FindInstance(*slot, dataset_id);
    if (i < 0) {
      return Status::NotFound("attribute '" + name + "' has no instance with datasetId '" +
                              std::string(dataset_id) + "'");
    }
    slot->instances.erase(slot->instances.begin() + i);
  }
  RemoveEmptySlots(e);
  e.modified_at = now;
  return Status::Ok();
}

}  // namespace civitas::ngsild
