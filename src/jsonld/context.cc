#include "jsonld/context.h"

#include "jsonld/iri.h"

namespace civitas::jsonld {

bool IsCoreContextUrl(std::string_view url) {
  static constexpr std::string_view kStem = "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context";
  static constexpr std::string_view kExt = ".jsonld";
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return false;
  }
  if (!url.starts_with(kStem) || !url.ends_with(kExt) || url.size() < kStem.size() + kExt.size()) {
    return false;
  }
  // The version part between the stem and ".jsonld": "" or "-v" and a dotted version
  // ("-v1.3", "-v1.8.1"). Anything else ("-non-existing") is not the core context.
  std::string_view version = url.substr(kStem.size(), url.size() - kStem.size() - kExt.size());
  if (version.empty()) return true;
  if (!version.starts_with("-v") || version.size() < 3) return false;
  for (char c : version.substr(2)) {
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  }
  return true;
}

bool IsContextKind(std::string_view kind) {
  return kind == "Hosted" || kind == "Cached" || kind == "ImplicitlyCreated";
}

const TermDefinition* Context::FindTerm(std::string_view term) const {
  auto it = terms_.find(term);
  return it == terms_.end() ? nullptr : &it->second;
}

std::string Context::Expand(std::string_view term) const {
  if (term.starts_with('@')) return std::string(term);
  if (const TermDefinition* def = FindTerm(term); def != nullptr && !def->iri.empty()) {
    return def->iri;
  }
  size_t colon = term.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    std::string_view prefix = term.substr(0, colon);
    std::string_view suffix = term.substr(colon + 1);
    if (prefix == "_" || suffix.starts_with("//")) return std::string(term);
    if (const TermDefinition* def = FindTerm(prefix);
        def != nullptr && !def->iri.empty() && !def->iri.starts_with('@')) {
      std::string out;
      out.reserve(def->iri.size() + suffix.size());
      out.append(def->iri).append(suffix);
      return out;
    }
    if (HasScheme(term)) return std::string(term);
  }
  std::string out;
  out.reserve(vocab_.size() + term.size());
  out.append(vocab_).append(term);
  return out;
}

std::string Context::Compact(std::string_view iri) const {
  if (auto it = iri_to_term_.find(iri); it != iri_to_term_.end()) return it->second;
  if (iri.starts_with('@')) return std::string(iri);

  if (!vocab_.empty() && iri.size() > vocab_.size() && iri.starts_with(vocab_)) {
    std::string_view suffix = iri.substr(vocab_.size());
    // Expand leaves a string that starts with '@' as it is, so such a suffix cannot stand alone.
    if (suffix.find(':') == std::string_view::npos && !suffix.starts_with('@') &&
        FindTerm(suffix) == nullptr) {
      return std::string(suffix);
    }
  }

  std::string best;
  for (const auto& [prefix_iri, prefix] : prefixes_) {
    if (iri.size() <= prefix_iri.size() || !iri.starts_with(prefix_iri)) continue;
    // Expand leaves "_:..." (a blank node) and "x://..." (an absolute IRI) as they are.
    std::string_view suffix = iri.substr(prefix_iri.size());
    if (prefix == "_" || suffix.starts_with("//")) continue;
    std::string candidate;
    candidate.reserve(prefix.size() + 1 + iri.size() - prefix_iri.size());
    candidate.append(prefix).append(":").append(suffix);
    // A compact IRI that is also a term would expand to that term's IRI instead.
    if (const TermDefinition* def = FindTerm(candidate); def != nullptr && def->iri != iri) {
      continue;
    }
    if (best.empty() || candidate.size() < best.size() ||
        (candidate.size() == best.size() && candidate < best)) {
      best = std::move(candidate);
    }
  }
  if (!best.empty()) return best;
  return std::string(iri);
}

const TermDefinition* Context::Find(std::string_view term) const {
  if (const TermDefinition* def = FindTerm(term); def != nullptr) return def;
  return FindByIri(Expand(term));
}

const TermDefinition* Context::FindByIri(std::string_view iri) const {
  auto it = iri_to_term_.find(iri);
  if (it == iri_to_term_.end()) return nullptr;
  return FindTerm(it->second);
}

}  // namespace civitas::jsonld
