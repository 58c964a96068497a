// fuzz_query: the query languages. The input's first line is a q expression, the second a
// scopeQ, the third a type expression (a missing line is empty).
//
// Properties:
//  - every parse error is BadRequestData (never a crash, never another kind);
//  - a parsed q, scopeQ or type expression evaluates on a few fixed entities (with and without
//    linked entities found through a lookup) and gives the same answer twice;
//  - a q whose evaluation matches an entity has no indexable term that rules the entity out:
//    each term (attr OP literal) holds on it as a q of its own (index soundness).

#include <string>
#include <vector>

#include "check.h"
#include "common/json.h"
#include "jsonld/context.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "query/q.h"
#include "query/scope.h"
#include "query/type_expr.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

const jsonld::Context& Core() {
  static jsonld::ContextRegistry registry({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return *registry.Core();
}

const std::vector<ngsild::EntityPtr>& Entities() {
  static const std::vector<ngsild::EntityPtr> entities = [] {
    std::vector<ngsild::EntityPtr> out;
    for (const char* text : {
             R"({"id":"urn:a:1","type":"Sensor","scope":"/city/north","no2":41.5,"name":"A",
                 "on":true,"tags":["x","y"],"seen":{"type":"Property","value":"2024-01-01T00:00:00Z",
                 "observedAt":"2024-01-01T00:00:00Z","q":{"type":"Property","value":3}},
                 "in":{"type":"Relationship","object":"urn:a:2"},
                 "obj":{"type":"Property","value":{"a":{"b":[1,2,{"c":"d"}]}}},
                 "label":{"type":"LanguageProperty","languageMap":{"en":"road","fr":"route"}}})",
             R"({"id":"urn:a:2","type":["Park","Sensor"],"no2":12,"name":"B",
                 "in":{"type":"Relationship","object":"urn:a:1"}})",
             R"({"id":"urn:a:3","type":"Other"})",
         }) {
      auto body = ParseJson(text);
      auto fragment = ngsild::ParseEntityBody(*body, Core(), {});
      out.push_back(std::make_shared<const ngsild::Entity>(
          ngsild::CreateEntity(std::move(*fragment), 1'700'000'000'000'000)));
    }
    return out;
  }();
  return entities;
}

ngsild::EntityPtr Lookup(std::string_view id) {
  for (const auto& e : Entities()) {
    if (e->id == id) return e;
  }
  return nullptr;
}

std::string Line(std::string_view data, int n) {
  size_t start = 0;
  for (int i = 0; i < n; ++i) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) return "";
    start = nl + 1;
  }
  size_t end = data.find('\n', start);
  return std::string(data.substr(start, end == std::string_view::npos ? end : end - start));
}

std::string LiteralText(const Json& v) { return ToJsonString(v); }

}  // namespace

void FuzzQuery(std::string_view data) {
  if (data.size() > 4096) return;
  auto expand = [](std::string_view n) { return Core().Expand(n); };
  const std::string q_text = Line(data, 0), scope_text = Line(data, 1), type_text = Line(data, 2);

  auto q = query::QExpr::Parse(q_text, expand);
  if (!q.ok()) {
    FUZZ_CHECK(q.status().code() == ErrorCode::kBadRequestData, q.status().detail());
  } else {
    for (const auto& e : Entities()) {
      bool plain = q->Matches(*e);
      FUZZ_CHECK(plain == q->Matches(*e), "q evaluation is not deterministic");
      bool linked = q->Matches(*e, Lookup);
      FUZZ_CHECK(linked == q->Matches(*e, Lookup), "linked q evaluation is not deterministic");
      if (!plain || q->LinkDepth() > 0) continue;
      for (const auto& term : q->IndexableTerms()) {
        // The term as a q of its own, on the attribute's expanded name (an IRI expands to
        // itself).
        std::string text = term.attribute + term.op + LiteralText(term.literal);
        auto alone = query::QExpr::Parse(text, expand);
        if (!alone.ok()) continue;  // e.g. an IRI the grammar does not take as a name
        FUZZ_CHECK(alone->Matches(*e), "indexable term '" + text + "' rules out a match of '" +
                                           q_text + "' on " + e->id);
      }
    }
  }

  auto scope = query::ScopeQ::Parse(scope_text);
  if (!scope.ok()) {
    FUZZ_CHECK(scope.status().code() == ErrorCode::kBadRequestData, scope.status().detail());
  } else {
    for (const auto& e : Entities()) {
      FUZZ_CHECK(scope->Matches(e->scope) == scope->Matches(e->scope), "scopeQ not deterministic");
    }
  }

  auto type = query::TypeExpr::Parse(type_text, expand);
  if (!type.ok()) {
    FUZZ_CHECK(type.status().code() == ErrorCode::kBadRequestData, type.status().detail());
  } else {
    for (const auto& e : Entities()) {
      FUZZ_CHECK(type->Matches(e->types) == type->Matches(e->types), "type expression");
    }
  }
}

}  // namespace civitas::fuzz
