#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace civitas::jsonld {

// The NGSI-LD default vocabulary: terms no context defines expand to kDefaultVocab + term.
inline constexpr std::string_view kDefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/";
inline constexpr std::string_view kNgsiLdPrefix = "https://uri.etsi.org/ngsi-ld/";
// The canonical URL of the core context this broker serves and recognises.
inline constexpr std::string_view kCoreContextUrl =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";

// Returns true for every URL that denotes the NGSI-LD core context
// (https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context*.jsonld, http or https).
bool IsCoreContextUrl(std::string_view url);

// One term definition of an active context.
struct TermDefinition {
  std::string iri;        // expanded IRI the term maps to
  std::string type;       // "@id", "@vocab", "@json", a datatype IRI, or "" (no coercion)
  std::string container;  // "@list", "@set", "@language", "@index", or ""
};

// An active JSON-LD context: the user's context(s) followed by the core context, which takes
// precedence for the core terms (it is @protected). Immutable once built; shared between
// requests through shared_ptr.
class Context {
 public:
  // Expands a term used as a property name or type name (JSON-LD "vocab-relative" expansion):
  //  - a keyword ("@id", ...) stays as is;
  //  - a defined term maps to its IRI;
  //  - a compact IRI "prefix:suffix" whose prefix is a defined term expands prefix IRI + suffix;
  //  - an absolute IRI (has a scheme, e.g. "urn:x", "http://...") stays as is;
  //  - anything else becomes @vocab + term (default kDefaultVocab).
  std::string Expand(std::string_view term) const;

  // Compacts an expanded IRI for output: a term whose definition maps exactly to it (the
  // shortest, then lexicographically least, if several); else a compact IRI "prefix:suffix" using
  // a defined prefix; else, if it starts with @vocab, the remainder; else the IRI unchanged.
  std::string Compact(std::string_view iri) const;

  // The definition of a term (after expansion rules), or nullptr.
  const TermDefinition* Find(std::string_view term) const;

  // The definition in effect for an expanded IRI (for type coercion such as "@vocab" values),
  // or nullptr.
  const TermDefinition* FindByIri(std::string_view iri) const;

  // The @context value this active context was built from (a URL string, an object, or an array
  // of those), as the client gave it; the core URL when the client gave none. Responses echo it
  // (in the body as "@context" or in a Link header).
  const Json& source() const { return source_; }

  // True if this is exactly the core context (the client gave no context).
  bool is_core() const { return is_core_; }

 private:
  friend class ContextBuilder;
  Json source_;
  bool is_core_ = false;
  std::string vocab_;
  std::unordered_map<std::string, TermDefinition> terms_;
  std::unordered_map<std::string, std::string> iri_to_term_;  // best term per IRI
};

// Fetches the raw text of a remote context document. Implemented in the server wiring with an
// HTTP client (with a timeout); tests use a fake. Returns the document text or an error Status
// (the registry turns any failure into LdContextNotAvailable).
using ContextFetcher = std::function<Result<std::string>(const std::string& url)>;

// Where hosted contexts (added through POST /jsonldContexts) are made durable.
struct ContextPersistence {
  std::function<Status(const std::string& id, const std::string& record)> save;
  std::function<Status(const std::string& id)> remove;
};

// Resolves @context values into active Contexts, caches remote documents (bounded, LRU), and
// keeps the contexts of the /jsonldContexts API. Thread-safe.
class ContextRegistry {
 public:
  struct Options {
    size_t max_cached_documents = 256;
    size_t max_document_bytes = 1 << 20;
    int max_remote_depth = 8;  // nesting of remote contexts that load other remote contexts
  };

  ContextRegistry(Options options, ContextFetcher fetcher, ContextPersistence persistence = {});

  // The core context alone.
  std::shared_ptr<const Context> Core() const;

  // Builds the active context for a request's @context value: null (absent) gives Core(); a URL
  // string (remote or hosted, or the core URL), an inline object, or an array of those.
  // Errors: LdContextNotAvailable (503) when a remote document cannot be fetched or is not a JSON
  // object with "@context"; BadRequestData / InvalidRequest for an invalid context definition.
  Result<std::shared_ptr<const Context>> Resolve(const Json& context_value);

  // Preloads a URL with a document (the --context-preload URL=FILE option).
  Status Preload(const std::string& url, const std::string& document);

  // --- The /jsonldContexts API (clause 5.13). ---
  // Adds a hosted context from a body {"@context": ...}; returns its id (a URN/URL served under
  // /ngsi-ld/v1/jsonldContexts/{id}).
  Result<std::string> AddHosted(const Json& body);
  // Lists contexts: with details=false, the URLs; with details=true, objects with URL, localId,
  // kind ("Hosted", "Cached", "ImplicitlyCreated"), timestamps, numberOfHits ... as clause 5.13.3.
  Json List(bool details, std::string_view kind_filter) const;
  // The stored document of a context by its localId or URL ({"@context": ...}); NotFound when
  // unknown.
  Result<Json> Get(std::string_view id_or_url, bool details) const;
  // Deletes a hosted context, or evicts a cached one (reload=true re-fetches it instead). Core
  // context: 400 BadRequestData. Unknown: 404.
  Status Delete(std::string_view id_or_url, bool reload);
  // Restores a hosted context saved by ContextPersistence::save (on start-up).
  Status Restore(const std::string& id, const std::string& record);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace civitas::jsonld
