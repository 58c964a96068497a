#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "jsonld/context.h"
#include "ngsild/entity.h"

namespace civitas::ngsild {

enum class Format { kNormalized, kConcise, kKeyValues };

struct RenderOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;
  // Attribute filters, by expanded name: `attrs` and `pick` keep only the listed attributes
  // (pick may also name "id" and "type"); `omit` drops the listed ones. Empty means no filter.
  std::vector<std::string> attrs;
  std::vector<std::string> pick;
  std::vector<std::string> omit;
  // Language for LanguageProperty values ("" keeps the whole languageMap).
  std::string lang;
  // Add "@context" (application/ld+json responses).
  bool with_context = false;
};

// True if the attribute named iri passes the attrs/pick/omit filters.
bool AttributeSelected(const RenderOptions& o, const std::string& iri);

// Renders an entity for a response, compacting names with ctx.
Json RenderEntity(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options);

// Renders one attribute (all its instances: an object, or an array when several).
Json RenderAttribute(const AttributeSlot& slot, const jsonld::Context& ctx,
                     const RenderOptions& options);

// Renders an entity as a GeoJSON Feature (clause 4.5.16): "geometry" is the value of the
// GeoProperty named geometry_iri (null when absent), "properties" holds the type and the
// attributes as RenderEntity would.
Json RenderFeature(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options,
                   const std::string& geometry_iri);

}  // namespace civitas::ngsild
