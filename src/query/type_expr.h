#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "query/index_plan.h"

namespace civitas::query {

// An entity type selector (clause 4.17): type names joined by ',' or '|' (either) and ';'
// (all), with parentheses: "Building", "Car,Bus", "(Vehicle;Electric)|Bicycle".
class TypeExpr {
 public:
  // Parses text; expand maps each type name to its IRI. Errors are BadRequestData naming the
  // position.
  static Result<TypeExpr> Parse(std::string_view text,
                                const std::function<std::string(std::string_view)>& expand);

  // True if an entity with these (expanded) types matches.
  bool Matches(const std::vector<std::string>& types) const;

  // The type names that, if any of them is absent, cannot match: for an expression that is a
  // plain disjunction of names, all of them (used to pick index candidates); empty otherwise.
  std::vector<std::string> AlternativeNames() const;

  // The expression as type look-ups (exact: a type index answers it completely).
  IndexPlan Plan() const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace civitas::query
