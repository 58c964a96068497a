#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "ngsild/entity.h"

namespace civitas::query {

// Entity ordering (the orderBy parameter, ETSI GS CIM 009 V1.9.1 clause 4.23).
//
//   OrderBy = Term *("," Term)
//   Term    = Path [";" ("asc" / "desc")]
//   Path    = "id" / "type" / "createdAt" / "modifiedAt"          ; entity members
//           / AttrName *("." Name) ["[" Key "]" *("[" Key "]")]  ; an attribute, its sub-attributes
//
// An attribute term orders by the value of the attribute's first instance (the object of a
// Relationship); "attr.createdAt", "attr.observedAt", ... by that member of the instance, and
// "attr.sub" by the value of a sub-attribute; "[key]" reads into a JSON object value. Values of
// mixed kinds compare in the order of clause 4.23.2: numbers, strings, objects, arrays,
// booleans, null, and a missing value last (in either direction). Entities equal on every term
// are ordered by id, so paging through an ordered result is stable.
//
// Strings compare by code point (UTF-8 bytes), not by the ICU root collation that clause 4.23.1
// names as the default. Not supported (Parse answers NotImplemented): the distance orders
// dist-asc and dist-desc (the API also answers 501 to collation, orderFrom, orderGeometry).
class EntityOrder {
 public:
  struct Term {
    // Either an entity member ("id", "type", "createdAt", "modifiedAt") with attr empty, or
    // an expanded attribute name followed by the path into it.
    std::string member;
    std::string attr;
    std::vector<std::string> path;  // sub-attribute names (expanded) or instance members
    std::vector<std::string> keys;  // [key] path into the value
    bool descending = false;
  };

  // Parses text; expand maps an attribute (or sub-attribute) name to its IRI.
  static Result<EntityOrder> Parse(std::string_view text,
                                   const std::function<std::string(std::string_view)>& expand);

  // Strict weak order: true if a comes before b.
  bool Less(const ngsild::Entity& a, const ngsild::Entity& b) const;

  const std::vector<Term>& terms() const { return terms_; }

 private:
  std::vector<Term> terms_;
};

}  // namespace civitas::query
