#pragma once

#include <memory>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace civitas::query {

// A scope query (the scopeQ parameter, ETSI GS CIM 009 clause 4.19).
//
// Grammar as implemented (a superset of the ABNF of clause 4.19, which allows parentheses only
// around one conjunction; positions in error details count bytes from 0):
//
//   ScopeQ  = Or
//   Or      = And *(("|" / ",") And)     ; ";" binds tighter than "|" and ","
//   And     = Factor *(";" Factor)
//   Factor  = "(" Or ")" / Pattern
//   Pattern = "/#"                       ; any non-empty scope
//           / ["/"] Level *("/" Level) ["/#"]
//   Level   = "+" / 1*(any byte but / ; | , ( ) # + space and controls)
//
// A pattern matches a scope level by level: "+" matches exactly one level, a trailing "/#"
// also matches every scope below (and the scope itself). The leading "/" is optional on both
// sides ("Madrid" is "/Madrid"). A text wrapped in double quotes is read without them.
//
// An entity matches when its scope (null, a string or an array of strings) makes the
// expression true, a pattern being true when one of the entity's scopes matches it; an entity
// without scope matches nothing. Immutable, cheap to copy; Matches does not allocate.
class ScopeQ {
 public:
  // An empty scope query: matches every entity.
  ScopeQ() = default;

  // Parses text (already URL-decoded). Errors are BadRequestData naming the position.
  static Result<ScopeQ> Parse(std::string_view text);

  bool Matches(const Json& scope) const;
  // True for the empty query (matches every entity).
  bool empty() const { return root_ == nullptr; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace civitas::query
