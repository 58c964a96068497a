#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "ngsild/entity.h"

namespace civitas::query {

// What an index may look up to narrow a query (storage::QueryIndex answers it): a tree built
// from the type expression, the q expression and the other parts of an EntityFilter. The
// entities a node stands for are always a superset of the entities matching its part of the
// filter; `exact` says that they are the same set, provided the index holds exactly the
// looked-up facts (the index may still downgrade exactness, e.g. for integers beyond 2^53).
// The caller evaluates the full filter on every entity it returns: the plan only narrows.
struct IndexPlan {
  enum class Kind {
    kAll,    // no narrowing (exact: the part matches every entity, e.g. an empty q)
    kAnd,    // every child
    kOr,     // some child
    kType,   // entities having the type `name` (expanded)
    kAttr,   // entities having the attribute `name` (expanded)
    kValue,  // entities whose attribute `name` has a target value in [lo, hi] of value_kind
    kIds,    // entities with one of `ids`
  };
  enum class ValueKind { kNumber, kString, kBool, kInstant };
  struct Bound {
    double number = 0;   // kNumber, kBool (0 / 1)
    std::string text;    // kString
    Micros instant = 0;  // kInstant
    bool inclusive = true;
  };

  Kind kind = Kind::kAll;
  bool exact = false;
  std::string name;
  std::vector<std::string> ids;
  std::vector<IndexPlan> children;
  // kAttr: an existence term of q (needs an instance object), not just the attribute's slot.
  bool existence_term = false;
  // kValue
  ValueKind value_kind = ValueKind::kNumber;
  bool ordering = false;  // from > >= < <=: relationship objects never satisfy it
  std::optional<Bound> lo, hi;

  static IndexPlan All(bool exact_all) {
    IndexPlan p;
    p.exact = exact_all;
    return p;
  }
  // True when the plan stands for every entity, exactly: nothing in the filter narrows or
  // filters (what is left out of the plan, such as a geo-query the caller answers, aside).
  // An `or` holding such a plan does too: GET /entities without type or id has one empty
  // EntitySelector.
  bool MatchesAll() const {
    if (!exact) return false;
    auto all = [](const IndexPlan& c) { return c.MatchesAll(); };
    switch (kind) {
      case Kind::kAll:
        return true;
      case Kind::kAnd:
        return std::all_of(children.begin(), children.end(), all);
      case Kind::kOr:
        return std::any_of(children.begin(), children.end(), all);
      default:
        return false;
    }
  }
};

// The target values a q term `attr OP literal` on the attribute itself reads (clause 4.9, see
// QExpr): every value of every instance, each element of an array value, typed values
// unwrapped. fn(value, relationship). The index must record exactly these for kValue lookups.
void ForEachTargetValue(const ngsild::AttributeSlot& slot,
                        const std::function<void(const Json& value, bool relationship)>& fn);

// The instant a DateTime literal compares a target string value with (a DateTime, or a Date as
// midnight UTC); false for any other value.
bool TargetInstant(const Json& value, Micros* out);

}  // namespace civitas::query
