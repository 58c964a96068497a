#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace civitas::ngsild {

// A `pick` or `omit` expression (clause 4.21): a comma-separated list of entity member names,
// each optionally followed by a braced projection that applies to the entities it links to
// ("id,locatedAt{id,name}"). Names are stored expanded ("id", "type" and "scope" as they are).
struct Projection {
  struct Item {
    std::string name;
    std::shared_ptr<const Projection> nested;  // null when the item has no braces
  };
  std::vector<Item> items;

  bool Contains(std::string_view name) const;
  // The projection for entities linked through `name`, or null.
  std::shared_ptr<const Projection> Nested(std::string_view name) const;
};

// Parses a projection. expand maps an attribute name to its IRI. Errors (BadRequestData): empty
// items ("a,,b", "a{}", "a{,b}"), unbalanced or doubled braces, characters not allowed in names.
Result<std::shared_ptr<const Projection>> ParseProjection(
    std::string_view text, const std::function<std::string(std::string_view)>& expand);

}  // namespace civitas::ngsild
