#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "jsonld/context.h"
#include "ngsild/entity.h"

namespace civitas::ngsild {

// The literal that, in merge-patch and partial updates, deletes what it is assigned to.
inline constexpr std::string_view kNullLiteral = "urn:ngsi-ld:null";

struct ParseOptions {
  // Entity creation: "id" and "type" are required.
  bool require_id_and_type = false;
  // Partial attribute updates and merges: an attribute may omit "type" and its value member,
  // and the value may be the kNullLiteral.
  bool partial = false;
};

// An entity (or an entity fragment) from a request body, validated and expanded with the
// request's context. System members in the input (createdAt, modifiedAt) are ignored.
struct EntityFragment {
  std::string id;                  // "" when absent
  std::vector<std::string> types;  // expanded; empty when absent
  bool has_scope = false;
  Json scope;
  std::vector<AttributeSlot> attrs;  // instances carry no system members
};

// Parses a body object (normalized or concise form). Errors are BadRequestData with a detail
// naming the offending member; a body that is not an object is InvalidRequest.
Result<EntityFragment> ParseEntityBody(const Json& body, const jsonld::Context& ctx,
                                       const ParseOptions& options);

// Parses the value of one attribute (an instance object, a concise value, or an array of
// instances) named attr_iri.
Result<std::vector<Attribute>> ParseAttribute(std::string_view attr_iri, const Json& value,
                                              const jsonld::Context& ctx,
                                              const ParseOptions& options);

// True if s looks like an absolute URI: a scheme, ':', and a non-empty rest without spaces or
// characters that URIs never contain unescaped.
bool IsUri(std::string_view s);

// True if s is acceptable as an entity type or attribute name (NGSI-LD 4.6.2: no control
// characters, white space or any of < > " ' = ; ( )).
bool IsValidName(std::string_view s);

// Expands an attribute name with ctx, rejecting invalid names, "scope" and names that are
// JSON-LD keywords (or expand to one, like "type"): BadRequestData.
Result<std::string> ExpandAttributeName(std::string_view name, const jsonld::Context& ctx);

// Validates a GeoJSON geometry object (RFC 7946) with geo::ParseGeoJson (see geo/geometry.h for
// the rules). Fills *why on failure.
bool IsGeoJsonGeometry(const Json& v, std::string* why);

}  // namespace civitas::ngsild
