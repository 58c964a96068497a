#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/call.h"
#include "common/status.h"

namespace civitas::api {

// The media type of a Content-Type header value without parameters, lower-cased.
std::string MediaTypeOf(std::string_view content_type);

// Chooses the response media type from an Accept header (absent: JSON). Honours q-values;
// `*/*` and `application/*` give JSON. geo_allowed says whether application/geo+json may be
// chosen. Fails with NotAcceptable when nothing offered is acceptable.
Result<MediaType> NegotiateAccept(const std::string* accept, bool geo_allowed);

// Extracts the JSON-LD context URL from a Link header value
// (`<url>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`). Returns
// nullopt if no link has that rel; fails if the header is malformed or names two contexts.
Result<std::optional<std::string>> ContextFromLink(std::string_view link);

// The Link header value that points to a context URL.
std::string ContextLink(std::string_view url);

}  // namespace civitas::api
