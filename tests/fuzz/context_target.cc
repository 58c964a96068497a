// fuzz_context: a JSON-LD @context value (as in a request body or a hosted context) resolved
// into an active context, then terms expanded and compacted.
//
// Remote contexts are served by a fetcher that returns one small fixed document for every URL.
// The Resolve cache is off so that every input is processed from scratch.
//
// Property: for every IRI that Compact shortens, Expand(Compact(iri)) == iri (the round trip
// context.h promises), tried on a fixed list of terms and on every key and string in the input.

#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "common/json.h"
#include "common/log.h"
#include "jsonld/context.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

constexpr std::string_view kRemoteDocument = R"({"@context": {
  "fx": "http://example.org/fixed#",
  "FixedType": "fx:Type",
  "fixedRel": {"@id": "fx:rel", "@type": "@id"},
  "fixedVocab": {"@id": "fx:vocab", "@type": "@vocab"},
  "fixedList": {"@id": "fx:list", "@container": "@list"},
  "schema": "https://schema.org/"
}})";

// Strings whose expansion and compaction are interesting in most contexts: core terms, keyword
// aliases, compact IRIs with the core's and the remote document's prefixes, absolute IRIs.
// clang-format off
constexpr std::string_view kTerms[] = {
    "id", "type", "value", "location", "observedAt", "name", "Building", "speed", "@id",
    "@type", "@vocab", "ngsi-ld:name", "geojson:Point", "fx:thing", "FixedType", "fixedRel",
    "schema:name", "urn:ngsi-ld:x", "http://example.org/fixed#thing", "_:b0",
    "https://uri.etsi.org/ngsi-ld/default-context/speed", "https://uri.etsi.org/ngsi-ld/name",
    "https://schema.org/name", "a:b:c", "x://y"};
// clang-format on

// Keep the work per input bounded whatever its size.
constexpr size_t kMaxCollected = 200;

jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry registry = [] {
    SetLogLevel(LogLevel::kError);
    jsonld::ContextRegistry::Options options;
    options.max_cached_contexts = 0;
    return jsonld::ContextRegistry(options, [](const std::string&) -> Result<std::string> {
      return std::string(kRemoteDocument);
    });
  }();
  return registry;
}

void Collect(const Json& v, std::vector<std::string>& out) {
  if (out.size() >= kMaxCollected) return;
  if (v.is_string()) {
    out.push_back(v.as_string());
  } else if (v.is_array()) {
    for (const Json& item : v.as_array()) Collect(item, out);
  } else if (v.is_object()) {
    for (const auto& [key, item] : v.as_object()) {
      if (out.size() >= kMaxCollected) return;
      out.push_back(key);
      Collect(item, out);
    }
  }
}

void CheckCompaction(const jsonld::Context& ctx, const std::string& iri) {
  std::string compacted = ctx.Compact(iri);
  if (compacted == iri) return;
  std::string expanded = ctx.Expand(compacted);
  FUZZ_CHECK(expanded == iri,
             "iri:       " + iri + "\ncompacted: " + compacted + "\nexpanded:  " + expanded);
}

void CheckTerm(const jsonld::Context& ctx, std::string_view term) {
  std::string iri = ctx.Expand(term);
  CheckCompaction(ctx, iri);
  CheckCompaction(ctx, std::string(term));
  (void)ctx.Find(term);
  (void)ctx.FindByIri(iri);
}

}  // namespace

void FuzzContext(std::string_view data) {
  auto value = ParseJson(data);
  if (!value.ok()) return;
  auto ctx = Registry().Resolve(*value);
  if (!ctx.ok()) {
    ErrorCode code = ctx.status().code();
    FUZZ_CHECK(code == ErrorCode::kBadRequestData || code == ErrorCode::kLdContextNotAvailable,
               "unexpected error " + std::to_string(static_cast<int>(code)) + ": " +
                   ctx.status().detail());
    return;
  }
  const jsonld::Context& c = **ctx;
  for (std::string_view term : kTerms) CheckTerm(c, term);
  std::vector<std::string> strings;
  Collect(*value, strings);
  for (const std::string& s : strings) CheckTerm(c, s);
  CheckCompaction(c, c.vocab() + "fuzzTerm");
}

}  // namespace civitas::fuzz
