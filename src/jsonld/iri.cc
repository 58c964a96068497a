#include "jsonld/iri.h"

#include "jsonld/context.h"

namespace civitas::jsonld {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool HasKeywordForm(std::string_view s) {
  if (s.size() < 2 || s[0] != '@') return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!IsAlpha(s[i])) return false;
  }
  return true;
}

bool HasScheme(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !IsAlpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

bool EndsWithGenDelim(std::string_view iri) {
  if (iri.empty()) return false;
  switch (iri.back()) {
    case ':':
    case '/':
    case '?':
    case '#':
    case '[':
    case ']':
    case '@':
      return true;
    default:
      return false;
  }
}

bool IsHttpUrl(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return false;
  }
  if (rest.empty() || rest[0] == '/' || rest[0] == '?' || rest[0] == '#') return false;
  for (char c : s) {
    // Control characters and spaces never appear in a usable URL.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::string_view> HostedContextId(std::string_view s, bool* relative) {
  std::string_view path;
  if (s.starts_with('/')) {
    path = s;
    *relative = true;
  } else if (IsHttpUrl(s)) {
    size_t authority = s.find("://") + 3;
    size_t slash = s.find('/', authority);
    if (slash == std::string_view::npos) return std::nullopt;
    path = s.substr(slash);
    *relative = false;
  } else {
    return std::nullopt;
  }
  if (!path.starts_with(kJsonldContextsPath)) return std::nullopt;
  std::string_view id = path.substr(kJsonldContextsPath.size());
  if (id.empty() || id.find_first_of("/?#") != std::string_view::npos) return std::nullopt;
  return id;
}

}  // namespace civitas::jsonld
