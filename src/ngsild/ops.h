#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"

namespace civitas::ngsild {

// Per-attribute outcome of an append or update (rendered as the NGSI-LD UpdateResult).
struct UpdateResult {
  std::vector<std::string> updated;                           // expanded names
  std::vector<std::pair<std::string, std::string>> not_updated;  // name, reason
  bool all_ok() const { return not_updated.empty(); }
};

// These functions are the semantics of the entity operations of clause 5.6, as pure functions
// of the current entity. They stamp createdAt/modifiedAt with `now`. None of them fails on the
// entity's existence: callers check that first.

// A new entity from a validated fragment (id and type present).
Entity CreateEntity(EntityFragment fragment, Micros now);

// True if an instance in a fragment says "delete me": its value is kNullLiteral (or
// {"@none": kNullLiteral} for a languageMap, [kNullLiteral] for a list).
bool DeletesItself(const Json& inst);

// POST /entities/{id}/attrs: adds attributes; existing instances (same name and datasetId) are
// replaced unless no_overwrite, in which case they are reported in not_updated. Types in the
// fragment are added; a scope replaces the entity's (with no_overwrite: joins it).
UpdateResult AppendAttributes(Entity& e, EntityFragment fragment, bool no_overwrite, Micros now);

// PATCH /entities/{id}/attrs: replaces or adds the fragment's instances; an instance that
// DeletesItself deletes the matching one (not_updated if there is none). A scope replaces the
// entity's only if it has one (else not_updated "scope"). Types are added.
UpdateResult UpdateAttributes(Entity& e, EntityFragment fragment, Micros now);

// PUT /entities/{id}: replaces all attributes (and the types and scope when given); createdAt is
// kept.
void ReplaceEntity(Entity& e, EntityFragment fragment, Micros now);

// PATCH /entities/{id} (merge-patch, 5.6.17): attributes are merged instance by instance and
// sub-attribute by sub-attribute; kNullLiteral deletes what it is assigned to. BadRequestData
// (and e partly changed: callers discard it) when a new attribute is incomplete or a kind
// changes without the new kind's value.
Status MergeEntity(Entity& e, EntityFragment fragment, Micros now);

// PATCH /entities/{id}/attrs/{attrId}: merges each fragment instance into the existing instance
// with its datasetId. NotFound if the attribute (or that instance) does not exist.
Status PartialUpdateAttribute(Entity& e, const std::string& name,
                              std::vector<Attribute> fragment, Micros now);

// PUT /entities/{id}/attrs/{attrId}: replaces the instances given (by datasetId). NotFound if the
// attribute does not exist.
Status ReplaceAttribute(Entity& e, const std::string& name, std::vector<Attribute> instances,
                        Micros now);

// DELETE /entities/{id}/attrs/{attrId}: deletes the default instance, the one with dataset_id,
// or all of them; name "scope" deletes the scope. NotFound if nothing matches.
Status DeleteAttribute(Entity& e, const std::string& name, std::string_view dataset_id,
                       bool delete_all, Micros now);

}  // namespace civitas::ngsild
