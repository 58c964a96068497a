#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/interned.h"
#include "common/json.h"
#include "common/time.h"

namespace civitas::ngsild {

// The kinds of NGSI-LD attributes (clause 4.5).
enum class AttrKind {
  kProperty,
  kRelationship,
  kGeoProperty,
  kLanguageProperty,
  kVocabProperty,
  kListProperty,
  kListRelationship,
  kJsonProperty,
};

std::string_view AttrKindName(AttrKind kind);  // "Property", ...
bool ParseAttrKind(std::string_view name, AttrKind* out);
// The member that carries the value of a kind: "value", "object", "languageMap", "vocab",
// "valueList", "objectList", "json".
std::string_view ValueMember(AttrKind kind);

// One attribute instance: its members, expanded and normalized, in a Json object
//  - "type": the kind name ("Property", ...);
//  - the kind's value member ("value", "object", ...); VocabProperty values are expanded IRIs;
//  - optional "objectType", "observedAt", "unitCode", "datasetId" (core members, short names);
//  - sub-attributes under their expanded IRI, each itself a normalized attribute;
// and the system times createdAt and modifiedAt, set by the broker, kept beside the members as
// integers (0: not stamped) rather than as two more members of DateTime text: an instance is
// kept in memory for every attribute of every entity, and two members with their strings took
// about 200 bytes of it. Copying an Attribute into a plain Json keeps the members only, and a
// Json made an Attribute is unstamped.
struct Attribute : Json {
  Micros created_at = 0;
  Micros modified_at = 0;

  Attribute() = default;
  Attribute(Json members) : Json(std::move(members)) {}  // NOLINT: unstamped members
  Attribute(Json members, Micros created, Micros modified)
      : Json(std::move(members)), created_at(created), modified_at(modified) {}
};

// Core member names of an attribute that are not sub-attributes.
bool IsCoreAttributeMember(std::string_view key);

// An attribute's instances: at most one default instance (no datasetId) and at most one per
// datasetId.
struct AttributeSlot {
  Interned name;  // expanded IRI
  std::vector<Attribute> instances;
};

// An entity in expanded form: type names and attribute names are full IRIs. Entities are
// immutable once stored (copy-on-write); readers share them through EntityPtr.
struct Entity {
  std::string id;
  std::vector<std::string> types;
  Json scope;  // null, or a string / array of strings
  Micros created_at = 0;
  Micros modified_at = 0;
  std::vector<AttributeSlot> attrs;  // in insertion order

  AttributeSlot* FindSlot(std::string_view name);
  const AttributeSlot* FindSlot(std::string_view name) const;
  // The same for a slot's name (a template, so that a std::string still takes the overload
  // above rather than becoming an Interned).
  template <std::same_as<Interned> T>
  AttributeSlot* FindSlot(const T& name) {
    return FindSlot(std::string_view(name.str()));
  }
  template <std::same_as<Interned> T>
  const AttributeSlot* FindSlot(const T& name) const {
    return FindSlot(std::string_view(name.str()));
  }
  bool HasType(std::string_view type_iri) const;
};

using EntityPtr = std::shared_ptr<const Entity>;

// The datasetId of an instance ("" for the default instance).
std::string_view DatasetIdOf(const Json& instance);

// Index of the instance with this datasetId in slot, or -1.
int FindInstance(const AttributeSlot& slot, std::string_view dataset_id);

// Storage form: a compact JSON record for the backend (expanded names, integer timestamps).
std::string SerializeEntity(const Entity& e);
Result<Entity> DeserializeEntity(std::string_view record);

}  // namespace civitas::ngsild
