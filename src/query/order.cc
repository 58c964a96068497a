#include "query/order.h"

#include <cstdint>

namespace civitas::query {
namespace {

constexpr std::string_view kEntityMembers[] = {"id", "type", "createdAt", "modifiedAt"};

bool IsEntityMember(std::string_view name) {
  for (auto m : kEntityMembers) {
    if (m == name) return true;
  }
  return false;
}

// Clause 4.23.2: numbers, strings, objects, arrays, booleans, null, then no value at all.
int Rank(const Json* v) {
  if (v == nullptr) return 6;
  if (v->is_number()) return 0;
  if (v->is_string()) return 1;
  if (v->is_object()) return 2;
  if (v->is_array()) return 3;
  if (v->is_bool()) return 4;
  return 5;
}

// -1, 0 or 1 for two values of the same rank.
int CompareSameRank(const Json& a, const Json& b) {
  if (a.is_number()) {
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : (y < x ? 1 : 0);
  }
  if (a.is_string()) return a.as_string().compare(b.as_string()) < 0 ? -1 : (a == b ? 0 : 1);
  if (a.is_bool()) return static_cast<int>(a.as_bool()) - static_cast<int>(b.as_bool());
  if (a.is_null()) return 0;
  // Objects and arrays: by their serialization, which is at least a total order.
  int c = ToJsonString(a).compare(ToJsonString(b));
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// The value a term orders by in e; *holder keeps a value built on the fly.
const Json* TermValue(const EntityOrder::Term& t, const ngsild::Entity& e, Json* holder) {
  if (t.attr.empty()) {
    if (t.member == "id") {
      *holder = Json(e.id);
    } else if (t.member == "type") {
      if (e.types.empty()) return nullptr;
      *holder = Json(e.types.front());
    } else if (t.member == "createdAt") {
      *holder = Json(static_cast<int64_t>(e.created_at));
    } else {
      *holder = Json(static_cast<int64_t>(e.modified_at));
    }
    return holder;
  }
  const ngsild::AttributeSlot* slot = e.FindSlot(t.attr);
  if (slot == nullptr || slot->instances.empty()) return nullptr;
  int at = ngsild::FindInstance(*slot, "");
  const ngsild::Attribute& inst = slot->instances[at < 0 ? 0 : at];
  if (!t.path.empty() && (t.path[0] == "createdAt" || t.path[0] == "modifiedAt")) {
    // System times are kept beside the members, as integers (the order of their text).
    Micros time = t.path[0] == "createdAt" ? inst.created_at : inst.modified_at;
    if (t.path.size() > 1 || time == 0) return nullptr;
    *holder = Json(static_cast<int64_t>(time));
    return holder;
  }
  const Json* node = &inst;
  bool is_attribute = true;  // node is an attribute (instance), not yet a value
  for (const auto& step : t.path) {
    if (!is_attribute || !node->is_object()) return nullptr;
    node = node->Find(step);
    if (node == nullptr) return nullptr;
    is_attribute = !ngsild::IsCoreAttributeMember(step);
  }
  if (is_attribute) {
    if (!node->is_object()) return nullptr;
    const Json* v = nullptr;
    for (const char* member : {"value", "object", "languageMap", "vocab", "valueList",
                               "objectList", "json"}) {
      if ((v = node->Find(member)) != nullptr) break;
    }
    node = v;
    if (node == nullptr) return nullptr;
  }
  for (const auto& key : t.keys) {
    if (!node->is_object()) return nullptr;
    node = node->Find(key);
    if (node == nullptr) return nullptr;
  }
  return node;
}

}  // namespace

Result<EntityOrder> EntityOrder::Parse(
    std::string_view text, const std::function<std::string(std::string_view)>& expand) {
  EntityOrder order;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                           : comma - start);
    Term term;
    size_t semi = item.find(';');
    std::string_view path = item.substr(0, semi);
    if (semi != std::string_view::npos) {
      std::string_view dir = item.substr(semi + 1);
      if (dir == "desc") {
        term.descending = true;
      } else if (dir == "dist-asc" || dir == "dist-desc") {
        return Status(ErrorCode::kNotImplemented,
                      "orderBy by distance (dist-asc, dist-desc) is not implemented yet");
      } else if (dir != "asc") {
        return Status::BadRequest("orderBy direction must be asc or desc, not '" +
                                  std::string(dir) + "'");
      }
    }
    size_t bracket = path.find('[');
    std::string_view names = path.substr(0, bracket);
    if (bracket != std::string_view::npos) {
      std::string_view rest = path.substr(bracket);
      while (!rest.empty()) {
        size_t close = rest.find(']');
        if (rest.front() != '[' || close == std::string_view::npos || close == 1) {
          return Status::BadRequest("malformed orderBy path '" + std::string(path) + "'");
        }
        term.keys.emplace_back(rest.substr(1, close - 1));
        rest = rest.substr(close + 1);
      }
    }
    if (names.empty()) return Status::BadRequest("empty term in orderBy '" + std::string(text) + "'");
    size_t dot = names.find('.');
    std::string_view first = names.substr(0, dot);
    if (first.empty()) return Status::BadRequest("empty name in orderBy '" + std::string(text) + "'");
    if (dot == std::string_view::npos && term.keys.empty() && IsEntityMember(first)) {
      term.member = std::string(first);
    } else {
      term.attr = expand(first);
      std::string_view rest = dot == std::string_view::npos ? "" : names.substr(dot + 1);
      while (dot != std::string_view::npos) {
        size_t next = rest.find('.');
        std::string_view name = rest.substr(0, next);
        if (name.empty()) {
          return Status::BadRequest("empty name in orderBy '" + std::string(text) + "'");
        }
        term.path.push_back(ngsild::IsCoreAttributeMember(name) ? std::string(name)
                                                                : expand(name));
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
      }
    }
    order.terms_.push_back(std::move(term));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return order;
}

bool EntityOrder::Less(const ngsild::Entity& a, const ngsild::Entity& b) const {
  for (const auto& t : terms_) {
    Json ha, hb;
    const Json* va = TermValue(t, a, &ha);
    const Json* vb = TermValue(t, b, &hb);
    int ra = Rank(va), rb = Rank(vb);
    int c = 0;
    if (ra != rb) {
      // The kind order does not turn round with desc: a missing value stays last.
      c = ra < rb ? -1 : 1;
      if (t.descending && ra < 5 && rb < 5) c = -c;
    } else if (ra < 6) {
      c = CompareSameRank(*va, *vb);
      if (t.descending) c = -c;
    }
    if (c != 0) return c < 0;
  }
  return a.id < b.id;
}

}  // namespace civitas::query
