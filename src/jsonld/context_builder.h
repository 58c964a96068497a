#pragma once

// Turns @context values into Context objects (the JSON-LD 1.1 context processing algorithm,
// reduced to what NGSI-LD needs). Internal to src/jsonld: the registry drives it.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "jsonld/context.h"
#include "jsonld/iri.h"

namespace civitas::jsonld {

// Supplies the "@context" value of the document a URL string designates. Returns nullptr for the
// core context (which the builder always merges last anyway). Errors pass through unchanged.
using ContextLoader = std::function<Result<std::shared_ptr<const Json>>(const std::string& url)>;

// One use: construct, Process() each @context value, Finish(). Not thread-safe (it need not be).
class ContextBuilder {
 public:
  // core: merged last, its terms winning (nullptr while building the core itself).
  // max_remote_depth bounds how deeply loaded documents may refer to further documents.
  ContextBuilder(const Context* core, ContextLoader loader, int max_remote_depth);

  // Processes a @context value: null (resets the user definitions made so far), a URL string,
  // an object, or an array of those (in order). Errors: BadRequestData for invalid values or
  // definitions (including chains of terms defined through each other deeper than 256);
  // LdContextNotAvailable for nesting or cycles of remote documents; whatever the loader returns.
  Status Process(const Json& value);

  // The active context: the user definitions, then the core's over them. `source` is what
  // Context::source() returns.
  std::shared_ptr<Context> Finish(Json source);

  // Builds the core context from its document text ({"@context": {...}}).
  static Result<std::shared_ptr<Context>> BuildCore(std::string_view document);

 private:
  struct Def {
    TermDefinition def;
    bool prefix = false;  // usable as a compact-IRI prefix when compacting
  };
  // One local context object being processed: its members by key, and the definition state of
  // each (dependencies between terms are resolved regardless of member order).
  struct Local {
    std::unordered_map<std::string_view, const Json*> members;
    std::unordered_map<std::string_view, int> state;  // 1: being defined, 2: done
  };

  Status ProcessValue(const Json& value, int depth, std::vector<std::string>& stack, bool in_array);
  Status ProcessObject(const Json& object);
  Status DefineTerm(std::string_view term, Local& local);
  // Expands an IRI-valued member of a definition (vocab-relative), defining the local terms it
  // depends on first. `defining` is the term whose definition is being created.
  Result<std::string> ExpandIri(std::string_view value, Local& local, std::string_view defining);
  const std::string& CurrentVocab() const;

  const Context* core_;
  ContextLoader loader_;
  int max_remote_depth_;
  std::unordered_map<std::string, Def, StringHash, StringEq> terms_;
  std::optional<std::string> vocab_;  // set by a user "@vocab"
  int definition_depth_ = 0;          // DefineTerm calls under way (nested through ExpandIri)
};

}  // namespace civitas::jsonld
