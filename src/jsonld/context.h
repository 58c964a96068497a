#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/time.h"

namespace civitas::jsonld {

// The NGSI-LD default vocabulary: terms no context defines expand to kDefaultVocab + term.
inline constexpr std::string_view kDefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/";
inline constexpr std::string_view kNgsiLdPrefix = "https://uri.etsi.org/ngsi-ld/";
// The canonical URL of the core context this broker serves and recognises.
inline constexpr std::string_view kCoreContextUrl =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld";
// The path under which this broker serves stored contexts; a hosted context's URL is this path
// followed by its localId (relative, or prefixed with Options::public_base_url).
inline constexpr std::string_view kJsonldContextsPath = "/ngsi-ld/v1/jsonldContexts/";

// Returns true for every URL that denotes the NGSI-LD core context
// (https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context*.jsonld, http or https). The core is
// built into the library and never fetched.
bool IsCoreContextUrl(std::string_view url);

// True for the kinds of stored contexts: "Hosted", "Cached", "ImplicitlyCreated" (the values the
// `kind` query parameter of GET /jsonldContexts accepts; anything else is a 400 BadRequestData).
bool IsContextKind(std::string_view kind);

// One term definition of an active context.
struct TermDefinition {
  std::string iri;        // expanded IRI the term maps to (or a keyword for aliases: "id" -> "@id")
  std::string type;       // "@id", "@vocab", "@json", "@none", an expanded datatype IRI (the
                          // core's "DateTime" is "https://uri.etsi.org/ngsi-ld/DateTime"), or ""
  std::string container;  // "@list", "@set", "@language", "@index", ... or "" (from an array such
                          // as ["@index", "@set"], the entry other than "@set")
};

// An active JSON-LD context: the user's context(s) followed by the core context, which takes
// precedence for the core terms (it is @protected). Immutable once built; shared between
// requests through shared_ptr, so every method is safe to call from any thread.
//
// The user's "@vocab", when one is set, replaces the core's default vocabulary (kDefaultVocab).
// A term mapped to null (or {"@id": null}) is unset: it falls back to the core definition or to
// @vocab. Scoped contexts (@context inside a term definition), @reverse terms, @base, @language,
// @direction, @import, @version, @protected, @propagate and unknown "@..." keys are accepted and
// ignored.
class Context {
 public:
  // Expands a term used as a property name or type name (JSON-LD "vocab-relative" expansion):
  //  - a keyword ("@id", ...) stays as is;
  //  - a defined term maps to its IRI;
  //  - a compact IRI "prefix:suffix" whose prefix is a defined term expands prefix IRI + suffix;
  //  - an absolute IRI (has a scheme, e.g. "urn:x", "http://...") stays as is;
  //  - anything else becomes @vocab + term (default kDefaultVocab).
  std::string Expand(std::string_view term) const;

  // Compacts an expanded IRI for output, in the order of the JSON-LD 1.1 IRI compaction
  // algorithm (so the round trip Expand(Compact(iri)) == iri always holds):
  //  - a term whose definition maps exactly to it: a user-context term before a core term, then
  //    the shortest, then the lexicographically least (keywords prefer the core aliases, so
  //    "@id" -> "id", "@type" -> "type");
  //  - else, if it starts with @vocab, the remainder (".../default-context/speed" -> "speed"),
  //    unless the remainder is itself a term, contains ':' or starts with '@';
  //  - else a compact IRI "prefix:suffix" with a defined prefix (a term whose IRI ends with
  //    '/', '#', ':', ...), the shortest result, except where Expand would take it as it is
  //    (the prefix "_", a suffix starting with "//");
  //  - else the IRI unchanged.
  std::string Compact(std::string_view iri) const;

  // The definition of a term, or nullptr. A string that is not itself a term is expanded first
  // ("schema:name" or a full IRI) and looked up as FindByIri does.
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

  // The vocabulary mapping in effect (kDefaultVocab unless the user context set "@vocab").
  const std::string& vocab() const { return vocab_; }

 private:
  friend class ContextBuilder;

  // Heterogeneous lookup (find by string_view) without allocating.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };

  const TermDefinition* FindTerm(std::string_view term) const;

  Json source_;
  bool is_core_ = false;
  std::string vocab_;
  std::unordered_map<std::string, TermDefinition, Hash, Eq> terms_;
  std::unordered_map<std::string, std::string, Hash, Eq> iri_to_term_;  // best term per IRI
  // Terms usable as compact-IRI prefixes when compacting: (IRI, term).
  std::vector<std::pair<std::string, std::string>> prefixes_;
};

// Fetches the raw text of a remote context document. Implemented in the server wiring with an
// HTTP client (with a timeout); tests use a fake. Returns the document text or an error Status
// (the registry turns any failure into LdContextNotAvailable). Called without any registry lock
// held, possibly from several threads at once (Resolve never fetches one URL twice at once; a
// reload through Delete may overlap with it). Should enforce its own timeout and size limit.
using ContextFetcher = std::function<Result<std::string>(const std::string& url)>;

// Where stored contexts are made durable: the "Hosted" ones (added through POST /jsonldContexts)
// and the "ImplicitlyCreated" ones (StoreImplicit; subscriptions refer to them by URL). `record`
// is an opaque JSON text to hand back to Restore() on start-up; `id` is the localId. Either
// function may be empty (nothing is persisted). Called without any registry lock held.
struct ContextPersistence {
  std::function<Status(const std::string& id, const std::string& record)> save;
  std::function<Status(const std::string& id)> remove;
};

// Resolves @context values into active Contexts, caches remote documents (bounded, LRU), and
// keeps the contexts of the /jsonldContexts API. Thread-safe: every method may be called from
// any thread; the fetcher runs without a lock held, and concurrent requests for the same URL wait
// for a single fetch. Copies share the same state.
//
// Stored contexts (clause 5.13) come in three kinds:
//  - "Cached": remote documents fetched while resolving requests (or preloaded), keyed by URL,
//    bounded LRU (max_cached_documents), expiring after cached_ttl. Shared by all tenants. The
//    core context is listed as a Cached entry (localId "core", extraInfo {"builtIn": true}); it
//    cannot be deleted and reloading it is a no-op.
//  - "Hosted": added through POST /jsonldContexts, persisted, per tenant, never evicted.
//  - "ImplicitlyCreated": object/array contexts the broker had to give a URL to (StoreImplicit,
//    e.g. a subscription's jsonldContext), persisted, per tenant, deduplicated by content,
//    bounded (max_implicit_contexts, least recently used dropped first).
// Hosted and ImplicitlyCreated contexts are referenced by "/ngsi-ld/v1/jsonldContexts/{localId}"
// or by any "http(s)://host/ngsi-ld/v1/jsonldContexts/{localId}"; Resolve serves those from the
// store (no HTTP round trip to ourselves).
//
// numberOfHits counts the times an entry was found in the store: once per Resolve that uses it
// (directly or through another stored context; the request that fetched a Cached entry counts),
// plus, for the broker-managed kinds (Cached, ImplicitlyCreated), once per Get, counted after
// the response is built. Reading a Hosted entry through Get does not count. This is the
// behaviour the ETSI test purposes 053_04, 053_06 and 053_08 expect.
//
// The overloads without `tenant` use the default tenant ("").
class ContextRegistry {
 public:
  struct Options {
    size_t max_cached_documents = 256;
    size_t max_document_bytes = 1 << 20;
    int max_remote_depth = 8;  // nesting of remote contexts that load other remote contexts
    size_t max_cached_contexts = 1024;    // resolved active contexts kept (Resolve cache)
    size_t max_implicit_contexts = 1024;  // ImplicitlyCreated entries kept
    // Cached documents are fetched again when used after this long (a failed re-fetch keeps
    // serving the old copy); zero or negative: never. Preloaded documents never expire.
    std::chrono::seconds cached_ttl{std::chrono::hours(24)};
    // Prefix of the URLs of hosted and implicitly created contexts, e.g. "http://broker:9090";
    // empty: the URLs are relative ("/ngsi-ld/v1/jsonldContexts/{id}").
    std::string public_base_url;
    // The clock (tests inject one); empty: NowMicros().
    std::function<Micros()> clock;
  };

  ContextRegistry(Options options, ContextFetcher fetcher, ContextPersistence persistence = {});

  // The core context alone.
  std::shared_ptr<const Context> Core() const;

  // Builds the active context for a request's @context value: null (absent) gives Core(); a URL
  // string (remote or hosted, or the core URL), an inline object, or an array of those.
  // Results are cached by (tenant, serialized value), so a repeated Link header costs a lookup.
  // Errors: LdContextNotAvailable when a remote document cannot be fetched, is too large, is not
  // a JSON object with "@context", is invalid, or remote contexts nest deeper than
  // max_remote_depth or in a cycle; also for a "/ngsi-ld/v1/jsonldContexts/{id}" reference to an
  // unknown context. BadRequestData for an invalid context value (a number or boolean where a
  // context is expected, a term definition that is not a string/object/null, a cyclic term
  // definition, a string that is not an http(s) URL).
  // (The ETSI test suite expects HTTP 504 for LdContextNotAvailable, e.g. TP 043_01, 051_05.)
  Result<std::shared_ptr<const Context>> Resolve(const Json& context_value);
  Result<std::shared_ptr<const Context>> Resolve(const Json& context_value,
                                                 std::string_view tenant);

  // Preloads a URL with a document (the --context-preload URL=FILE option): a Cached entry that
  // is never evicted nor expired. BadRequestData for an invalid document or the core URL.
  Status Preload(const std::string& url, const std::string& document);

  // Gives an @context value a URL that this broker serves, for members that must carry one
  // URL (a subscription's "jsonldContext"): a URL string is returned unchanged, null gives the
  // core URL, an object or array is stored as an "ImplicitlyCreated" entry (the same content in
  // the same tenant reuses its entry) whose URL is returned. Validation as AddHosted.
  Result<std::string> StoreImplicit(const Json& context_value, std::string_view tenant = {});

  // --- The /jsonldContexts API (clause 5.13). ---
  // Adds a hosted context from a body {"@context": ...} (members other than "@context" are
  // discarded); returns its localId. The handler answers 201 Created, empty body, with
  // "Location: /ngsi-ld/v1/jsonldContexts/{localId}" (relative, as clause 6.29.3.1 says; the ETSI
  // tests build URLs from it). Errors (400): InvalidRequest when the body is not an object with
  // "@context"; BadRequestData when the @context is null, a number, a boolean, an array with such
  // an item, or an invalid definition. Remote URLs inside it are not fetched here.
  Result<std::string> AddHosted(const Json& body);
  Result<std::string> AddHosted(const Json& body, std::string_view tenant);
  // Lists contexts (200, application/json): with details=false, an array of URL strings; with
  // details=true, an array of objects
  //   {"URL": "...", "localId": "...", "kind": "Hosted"|"Cached"|"ImplicitlyCreated",
  //    "createdAt": "2024-01-01T00:00:00.000Z", "expiresAt"?: ..., "lastUsage"?: ...,
  //    "numberOfHits": 0, "extraInfo"?: {...}}
  // (expiresAt only for expiring Cached entries, lastUsage once used). kind_filter "" means all;
  // the handler rejects other values than IsContextKind() ones, and details values other than
  // "true"/"false", with 400 BadRequestData. Order: the core, Hosted and ImplicitlyCreated
  // entries by creation, then Cached entries by creation.
  Json List(bool details, std::string_view kind_filter) const;
  Json List(bool details, std::string_view kind_filter, std::string_view tenant) const;
  // Serve @context (200, application/json). id_or_url: a localId, a Cached entry's original URL,
  // any core URL, or a hosted context's URL/path. details=false: {"@context": ...} as stored, for
  // Hosted and ImplicitlyCreated entries; OperationNotSupported (422) for Cached ones (the
  // core included). details=true: the metadata object of List(true). NotFound (404) when unknown
  // or another tenant's.
  Result<Json> Get(std::string_view id_or_url, bool details) const;
  Result<Json> Get(std::string_view id_or_url, bool details, std::string_view tenant) const;
  // Delete and Reload @context (204 No Content on success). reload=false removes a Hosted or
  // ImplicitlyCreated entry (and its persisted record) or evicts a Cached one. reload=true
  // re-fetches a Cached entry and replaces it; if that fails the entry is kept and the error is
  // LdContextNotAvailable (504 in the ETSI tests). Core context: BadRequestData without reload,
  // Ok (nothing to do) with reload. reload=true for an entry that is not Cached, or for an
  // unknown id: BadRequestData (ETSI TP 051_04_01, 051_04_05, 051_07). Unknown without reload:
  // NotFound. An empty id: BadRequestData. The handler rejects reload values other than
  // "true"/"false" with 400 BadRequestData.
  Status Delete(std::string_view id_or_url, bool reload);
  Status Delete(std::string_view id_or_url, bool reload, std::string_view tenant);
  // Restores a hosted or implicitly created context saved by ContextPersistence::save (on
  // start-up). Does not call save again. InvalidRequest for a record this code cannot read.
  Status Restore(const std::string& id, const std::string& record);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace civitas::jsonld
