#include "query/selector.h"

#include <re2/re2.h>

#include <algorithm>

namespace civitas::query {

EntitySelector::EntitySelector() = default;
EntitySelector::~EntitySelector() = default;
EntitySelector::EntitySelector(EntitySelector&&) noexcept = default;
EntitySelector& EntitySelector::operator=(EntitySelector&&) noexcept = default;

Status EntitySelector::SetIdPattern(std::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(8 << 20);
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) return Status::BadRequest("invalid idPattern: " + re->error());
  id_pattern_ = std::move(re);
  return Status::Ok();
}

bool EntitySelector::Matches(const ngsild::Entity& e) const {
  if (!ids.empty() && std::find(ids.begin(), ids.end(), e.id) == ids.end()) return false;
  if (id_pattern_ && !RE2::PartialMatch(e.id, *id_pattern_)) return false;
  if (type && !type->Matches(e.types)) return false;
  return true;
}

bool EntityFilter::Matches(const ngsild::Entity& e) const {
  if (!selectors.empty()) {
    bool any = false;
    for (const auto& s : selectors) {
      if (s.Matches(e)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (!attrs.empty()) {
    bool any = false;
    for (const auto& a : attrs) {
      if (e.FindSlot(a) != nullptr) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (!scope_q.Matches(e.scope)) return false;
  // Last: the geometric test is the most expensive.
  if (!(lookup ? q.Matches(e, lookup) : q.Matches(e))) return false;
  return !geo || geo->Matches(e);
}

}  // namespace civitas::query
