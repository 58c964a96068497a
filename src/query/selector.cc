#include "query/selector.h"

#include <re2/re2.h>

#include <algorithm>

#include "ngsild/parse.h"

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

bool EntitySelector::Matches(const ngsild::Entity& e) const { return Matches(e.id, e.types); }

bool EntitySelector::Matches(std::string_view id, const std::vector<std::string>& types) const {
  if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) return false;
  if (id_pattern_ && !RE2::PartialMatch(id, *id_pattern_)) return false;
  if (type && !type->Matches(types)) return false;
  return true;
}

bool EntityFilter::SelectorsMatch(std::string_view id,
                                  const std::vector<std::string>& types) const {
  if (selectors.empty()) return true;
  for (const auto& s : selectors) {
    if (s.Matches(id, types)) return true;
  }
  return false;
}

bool EntityFilter::Matches(const ngsild::Entity& e) const {
  if (!SelectorsMatch(e.id, e.types)) return false;
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

IndexPlan EntitySelector::Plan() const {
  IndexPlan all;
  all.kind = IndexPlan::Kind::kAnd;
  all.exact = true;
  if (!ids.empty()) {
    IndexPlan p;
    p.kind = IndexPlan::Kind::kIds;
    p.exact = true;
    p.ids = ids;
    all.children.push_back(std::move(p));
  }
  if (id_pattern_) {
    all.exact = false;
    all.children.push_back(IndexPlan::All(false));
  }
  if (type) all.children.push_back(type->Plan());
  return all;
}

IndexPlan EntityFilter::Plan(bool geo_matched) const {
  IndexPlan all;
  all.kind = IndexPlan::Kind::kAnd;
  all.exact = true;
  auto add = [&all](IndexPlan p) {
    all.exact = all.exact && p.exact;
    all.children.push_back(std::move(p));
  };
  if (!selectors.empty()) {
    IndexPlan any;
    any.kind = IndexPlan::Kind::kOr;
    any.exact = true;
    for (const auto& s : selectors) {
      IndexPlan p = s.Plan();
      any.exact = any.exact && p.exact;
      any.children.push_back(std::move(p));
    }
    add(std::move(any));
  }
  if (!attrs.empty()) {
    IndexPlan any;
    any.kind = IndexPlan::Kind::kOr;
    any.exact = true;
    for (const auto& a : attrs) {
      IndexPlan p;
      p.kind = IndexPlan::Kind::kAttr;
      p.exact = true;
      p.name = a;
      any.children.push_back(std::move(p));
    }
    add(std::move(any));
  }
  if (!scope_q.empty()) add(IndexPlan::All(false));
  add(q.Plan());
  if (geo) add(IndexPlan::All(geo_matched));
  return all;
}

Result<EntitySelector> EntitySelectorFromJson(
    const Json& item, const std::function<std::string(std::string_view)>& expand) {
  if (!item.is_object()) return Status::BadRequest("an EntitySelector must be an object");
  EntitySelector s;
  if (const Json* id = item.Find("id")) {
    if (!id->is_string() || !ngsild::IsUri(id->as_string())) {
      return Status::BadRequest("EntitySelector id must be a URI");
    }
    s.ids.push_back(id->as_string());
  }
  if (const Json* pattern = item.Find("idPattern")) {
    if (!pattern->is_string()) return Status::BadRequest("EntitySelector idPattern: a string");
    CIVITAS_RETURN_IF_ERROR(s.SetIdPattern(pattern->as_string()));
  }
  const Json* type = item.Find("type");
  if (type == nullptr || !type->is_string()) {
    return Status::BadRequest("an EntitySelector needs a type");
  }
  auto expr = TypeExpr::Parse(type->as_string(), expand);
  if (!expr.ok()) return expr.status();
  s.type = std::move(*expr);
  return s;
}

}  // namespace civitas::query
