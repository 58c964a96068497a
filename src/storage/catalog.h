#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/entity.h"

namespace civitas::storage {

// Which entity types and attributes exist in each tenant, with counts: the answers of the
// discovery API (/types, /attributes), kept exact and up to date incrementally from every
// committed change (never by a scan per request). Thread-safe.
class Catalog {
 public:
  struct AttributeUse {
    int64_t entities = 0;                    // entities having the attribute
    std::map<std::string, int64_t> kinds;    // "Property", ... -> entities
    std::map<std::string, int64_t> types;    // entity type IRI -> entities
  };
  struct TypeUse {
    int64_t entities = 0;
    std::map<std::string, std::map<std::string, int64_t>> attributes;  // attr -> kind -> count
  };

  // Adds (sign = +1) or removes (sign = -1) an entity's contribution.
  void Apply(std::string_view tenant, const ngsild::Entity& e, int sign);

  // Records a change from before to after (either may be null). Most updates change values
  // only; those leave the catalog as it is and cost a quick comparison.
  void Update(std::string_view tenant, const ngsild::Entity* before, const ngsild::Entity* after);

  std::vector<std::string> Types(std::string_view tenant) const;                   // sorted
  std::optional<TypeUse> Type(std::string_view tenant, std::string_view type) const;
  std::map<std::string, TypeUse> AllTypes(std::string_view tenant) const;
  std::vector<std::string> Attributes(std::string_view tenant) const;              // sorted
  std::optional<AttributeUse> Attribute(std::string_view tenant, std::string_view attr) const;
  std::map<std::string, AttributeUse> AllAttributes(std::string_view tenant) const;

 private:
  struct Tenant {
    std::map<std::string, TypeUse> types;
    std::map<std::string, AttributeUse> attributes;
  };
  mutable std::mutex mu_;
  std::map<std::string, Tenant, std::less<>> tenants_;
};

}  // namespace civitas::storage
