#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "http/http.h"
#include "jsonld/context.h"

namespace civitas::api {

// Who is asking, for which tenant. Every request carries one; authentication, access policies
// and the audit log will read it.
struct RequestContext {
  std::string tenant;         // "" is the default tenant
  bool tenant_given = false;  // an NGSILD-Tenant header was present
  std::string caller;         // the peer address today; an authenticated principal later
  Micros received_at = 0;
};

enum class MediaType { kJson, kJsonLd, kGeoJson };

// Decoded query parameters, in order.
class QueryParams {
 public:
  QueryParams() = default;
  explicit QueryParams(std::vector<std::pair<std::string, std::string>> items)
      : items_(std::move(items)) {}
  // The value of the first parameter with this name.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // A comma-separated list parameter split into items (empty items dropped); all occurrences.
  std::vector<std::string> List(std::string_view name) const;
  // True if the comma-separated `options` (or `format`) parameter contains word.
  bool HasOption(std::string_view word) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// One NGSI-LD API call after the generic steps (routing, tenant, content negotiation, @context,
// body parsing), as handlers see it.
struct Call {
  http::Request request;
  RequestContext rc;
  std::vector<std::string> segments;  // decoded path segments after /ngsi-ld/v1
  QueryParams params;
  std::shared_ptr<const jsonld::Context> ctx;
  Json context_value;  // the @context as given (body or Link header); null: none
  MediaType accept = MediaType::kJson;
  Json body;  // null when the request has no body
  http::Responder respond;
};

}  // namespace civitas::api
