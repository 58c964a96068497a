#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ngsild/entity.h"
#include "query/geo_filter.h"
#include "query/q.h"
#include "query/scope.h"
#include "query/type_expr.h"

namespace re2 {
class RE2;
}

namespace civitas::query {

// One EntitySelector (clause 5.2.33): entities whose id is one of `ids` (or matches
// `id_pattern`) and whose types match `type`. Parts left empty match everything.
class EntitySelector {
 public:
  EntitySelector();
  ~EntitySelector();
  EntitySelector(EntitySelector&&) noexcept;
  EntitySelector& operator=(EntitySelector&&) noexcept;

  std::vector<std::string> ids;
  std::optional<TypeExpr> type;

  // Sets the id pattern, a regular expression evaluated in linear time (RE2), so a hostile
  // pattern cannot stall the server. BadRequestData if it does not compile.
  Status SetIdPattern(std::string_view pattern);

  bool Matches(const ngsild::Entity& e) const;
  // The same test on an entity's id and types alone (a selector looks at nothing else).
  bool Matches(std::string_view id, const std::vector<std::string>& types) const;
  // Index look-ups narrowing the selector (see IndexPlan).
  IndexPlan Plan() const;

 private:
  std::unique_ptr<re2::RE2> id_pattern_;
};

// Parses an EntitySelector object {"id"?, "idPattern"?, "type"} (type is mandatory; a type
// expression). expand maps type names to IRIs. Errors are BadRequestData.
Result<EntitySelector> EntitySelectorFromJson(
    const Json& item, const std::function<std::string(std::string_view)>& expand);

// What a query asks for: entities matching any selector (all entities when there is none),
// having at least one of `attrs` (when given), and matching `q`, `scope_q` and `geo` (when
// given).
struct EntityFilter {
  std::vector<EntitySelector> selectors;
  std::vector<std::string> attrs;  // expanded
  QExpr q;                         // default: matches everything
  ScopeQ scope_q;                  // default: matches everything
  std::optional<GeoFilter> geo;    // none: no geo-query
  EntityLookup lookup;             // for q terms on linked entities (rel{attr}); may be empty

  bool Matches(const ngsild::Entity& e) const;
  // Whether an entity with this id and these types can match: the selectors' part of Matches,
  // for callers that can skip building an Entity for the rest.
  bool SelectorsMatch(std::string_view id, const std::vector<std::string>& types) const;
  // Index look-ups narrowing the filter (see IndexPlan). The geo-query is not part of it (the
  // spatial index answers it): a filter with one is exact only when the caller intersects the
  // plan's answer with exactly the geo-query's matches (geo_matched).
  IndexPlan Plan(bool geo_matched = false) const;
};

}  // namespace civitas::query
