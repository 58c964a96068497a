#include "api/negotiation.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "common/strings.h"

namespace civitas::api {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string_view> QueryParams::Get(std::string_view name) const {
  for (const auto& [k, v] : items_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::vector<std::string> QueryParams::List(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) {
    if (k != name) continue;
    for (auto item : Split(v, ',')) {
      item = TrimOws(item);
      if (!item.empty()) out.emplace_back(item);
    }
  }
  return out;
}

bool QueryParams::HasOption(std::string_view word) const {
  for (const char* name : {"options", "format"}) {
    for (const auto& o : List(name)) {
      if (o == word) return true;
    }
  }
  return false;
}

std::string MediaTypeOf(std::string_view content_type) {
  size_t semi = content_type.find(';');
  return ToLower(TrimOws(content_type.substr(0, semi)));
}

Result<MediaType> NegotiateAccept(const std::string* accept, bool geo_allowed) {
  if (accept == nullptr || TrimOws(*accept).empty()) return MediaType::kJson;
  struct Candidate {
    MediaType type;
    double q;
    int order;
  };
  std::vector<Candidate> candidates;
  int order = 0;
  for (auto part : Split(*accept, ',')) {
    auto fields = Split(part, ';');
    std::string type = ToLower(TrimOws(fields[0]));
    double q = 1.0;
    for (size_t i = 1; i < fields.size(); ++i) {
      auto f = TrimOws(fields[i]);
      if (f.size() > 2 && (f[0] == 'q' || f[0] == 'Q') && f[1] == '=') {
        q = std::strtod(std::string(f.substr(2)).c_str(), nullptr);
      }
    }
    if (q <= 0) continue;
    ++order;
    if (type == "application/json" || type == "*/*" || type == "application/*") {
      candidates.push_back({MediaType::kJson, q, order});
    } else if (type == "application/ld+json") {
      candidates.push_back({MediaType::kJsonLd, q, order});
    } else if (type == "application/geo+json" && geo_allowed) {
      candidates.push_back({MediaType::kGeoJson, q, order});
    }
  }
  if (candidates.empty()) {
    return Status(ErrorCode::kNotAcceptable,
                  "none of the media types in Accept can be produced (application/json, "
                  "application/ld+json" +
                      std::string(geo_allowed ? ", application/geo+json)" : ")"));
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.q > b.q; });
  return candidates.front().type;
}

Result<std::optional<std::string>> ContextFromLink(std::string_view link) {
  std::optional<std::string> found;
  // Links are separated by commas outside <...>.
  size_t pos = 0;
  while (pos < link.size()) {
    size_t lt = link.find('<', pos);
    if (lt == std::string_view::npos) break;
    size_t gt = link.find('>', lt);
    if (gt == std::string_view::npos) return Status::BadRequest("malformed Link header");
    std::string_view url = link.substr(lt + 1, gt - lt - 1);
    size_t next = link.find('<', gt);
    std::string_view params = link.substr(
        gt + 1, next == std::string_view::npos ? std::string_view::npos : next - gt - 1);
    bool is_context = false;
    for (auto p : Split(params, ';')) {
      p = TrimOws(p);
      if (p.size() > 4 && ToLower(p.substr(0, 4)) == "rel=") {
        std::string_view rel = p.substr(4);
        if (!rel.empty() && rel.front() == '"') rel.remove_prefix(1);
        if (!rel.empty() && (rel.back() == '"' || rel.back() == ',')) rel.remove_suffix(1);
        if (!rel.empty() && rel.back() == '"') rel.remove_suffix(1);
        is_context = rel == "http://www.w3.org/ns/json-ld#context";
      }
    }
    if (is_context) {
      if (found) return Status::BadRequest("more than one JSON-LD context in Link headers");
      found = std::string(TrimOws(url));
    }
    pos = gt + 1;
  }
  return found;
}

std::string ContextLink(std::string_view url) {
  return "<" + std::string(url) +
         ">; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"";
}

}  // namespace civitas::api
