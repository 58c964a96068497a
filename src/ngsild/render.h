#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "jsonld/context.h"
#include "ngsild/entity.h"
#include "ngsild/projection.h"

namespace civitas::ngsild {

enum class Format { kNormalized, kConcise, kKeyValues };

// Linked entity retrieval (clause 4.5.23).
enum class Join { kNone, kInline, kFlat };

struct RenderOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;
  // `attrs` keeps only the listed attributes (expanded names); empty means all.
  std::vector<std::string> attrs;
  // `pick` keeps only the listed members, `omit` drops them (null: no filter).
  std::shared_ptr<const Projection> pick;
  std::shared_ptr<const Projection> omit;
  // Language preferences for LanguageProperty values, as in the `lang` parameter
  // ("fr", "fr-CH,fr;q=0.9", "*"); empty keeps the whole languageMap.
  std::string lang;
  // Add "@context" (application/ld+json and GeoJSON responses).
  bool with_context = false;
  // Linked entities: follow Relationships up to join_level hops, finding entities with lookup.
  Join join = Join::kNone;
  int join_level = 1;
  std::function<EntityPtr(const std::string& id)> lookup;
  // `datasetId` (clause 4.5.5): keep only the attribute instances with one of these datasetIds
  // ("@none" stands for the default instance); an attribute left with none is not shown.
  // Empty keeps every instance.
  std::vector<std::string> dataset_ids;
};

// True if the attribute named iri passes the attrs/pick/omit filters at the top level.
bool AttributeSelected(const RenderOptions& o, const std::string& iri);

// Renders an entity for a response, compacting names with ctx. With Join::kInline, linked
// entities are embedded under "entity" (keyValues: in place of the object id).
Json RenderEntity(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options);

// With Join::kFlat: the entity followed by every entity it links to (each once), as an array;
// the entity alone (not in an array) when it links to no existing entity.
Json RenderEntityFlat(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options);

// Renders one attribute (all its instances: an object, or an array when several).
Json RenderAttribute(const AttributeSlot& slot, const jsonld::Context& ctx,
                     const RenderOptions& options);

// Renders an entity as a GeoJSON Feature (clause 4.5.16): "geometry" is the value of the
// GeoProperty named geometry_iri (null when absent), "properties" holds the type and the
// attributes as RenderEntity would.
Json RenderFeature(const Entity& e, const jsonld::Context& ctx, const RenderOptions& options,
                   const std::string& geometry_iri);

}  // namespace civitas::ngsild
