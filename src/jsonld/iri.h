#pragma once

// Small lexical helpers shared by the context builder, the active context and the registry.
// Internal to src/jsonld.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace civitas::jsonld {

// Transparent hashing so maps keyed by std::string can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// True for "@" followed by one or more ASCII letters (JSON-LD "keyword form"). Such strings are
// never expanded; the unknown ones are ignored where the processor meets them in a context.
bool HasKeywordForm(std::string_view s);

// True if s starts with an RFC 3986 scheme followed by ':' ("http:", "urn:", "mailto:"...).
bool HasScheme(std::string_view s);

// True if the IRI ends with a JSON-LD gen-delim (":/?#[]@"), which makes its term usable as the
// prefix of compact IRIs when compacting.
bool EndsWithGenDelim(std::string_view iri);

// True for an absolute "http://" or "https://" URL with a non-empty authority.
bool IsHttpUrl(std::string_view s);

// If s designates a context hosted by this broker ("/ngsi-ld/v1/jsonldContexts/{id}" or
// "http(s)://{any host}/ngsi-ld/v1/jsonldContexts/{id}"), returns {id}. `relative` tells which
// form matched (a relative reference can only mean this broker).
std::optional<std::string_view> HostedContextId(std::string_view s, bool* relative);

}  // namespace civitas::jsonld
