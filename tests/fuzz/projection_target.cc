// fuzz_projection: `pick` / `omit` expressions (ngsild::ParseProjection).
//
// The expansion used here is reversible ("urn:fuzz:" + name), so a parsed projection can be
// printed back; the grammar has exactly one spelling per projection, so the print must equal the
// input.

#include <string>

#include "check.h"
#include "ngsild/parse.h"
#include "ngsild/projection.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

constexpr std::string_view kPrefix = "urn:fuzz:";

std::string Expand(std::string_view name) { return std::string(kPrefix) + std::string(name); }

void Print(const ngsild::Projection& p, int depth, std::string& out) {
  FUZZ_CHECK(depth <= 9, "projection nested " + std::to_string(depth) + " levels");
  FUZZ_CHECK(!p.items.empty(), "empty projection");
  bool first = true;
  for (const auto& item : p.items) {
    if (!first) out.push_back(',');
    first = false;
    std::string_view name = item.name;
    if (name != "id" && name != "type" && name != "scope") {
      FUZZ_CHECK(name.starts_with(kPrefix), "name not expanded: " + item.name);
      name.remove_prefix(kPrefix.size());
    }
    FUZZ_CHECK(ngsild::IsValidName(name), "invalid name accepted: " + std::string(name));
    FUZZ_CHECK(p.Contains(item.name), "Contains misses " + item.name);
    out.append(name);
    if (item.nested != nullptr) {
      out.push_back('{');
      Print(*item.nested, depth + 1, out);
      out.push_back('}');
    }
  }
}

}  // namespace

void FuzzProjection(std::string_view data) {
  auto p = ngsild::ParseProjection(data, Expand);
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == ErrorCode::kBadRequestData, p.status().detail());
    return;
  }
  FUZZ_CHECK(*p != nullptr, "null projection");
  std::string printed;
  Print(**p, 1, printed);
  FUZZ_CHECK(printed == data, "input:   " + std::string(data) + "\nprinted: " + printed);
}

}  // namespace civitas::fuzz
