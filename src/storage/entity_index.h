#pragma once

#include <string_view>

#include "ngsild/entity.h"

namespace civitas::storage {

// A secondary index over the current entities (spatial today; by type or attribute later),
// maintained by the EntityStore itself so that it can never disagree with what readers see.
//
// The store calls OnChange for every entity whose published state changes, while it holds that
// tenant's exclusive lock (on the commit thread, and from AddIndex for the entities already
// loaded). A reader that asks the index for candidates from inside
// EntityStore::ForEachCandidate holds the tenant's shared lock, so it sees the index and the
// entities in the same state. Consequences for implementations: per-tenant data needs no lock of
// its own (the tenant's lock guards it) but state shared between tenants does; OnChange must be
// quick, must not block and must not call back into the store.
class EntityIndex {
 public:
  virtual ~EntityIndex() = default;
  // before: the state readers saw until now (null: the entity did not exist); after: the state
  // they see from now on (null: deleted). Both may be null (created and deleted in one batch).
  virtual void OnChange(std::string_view tenant, const ngsild::EntityPtr& before,
                        const ngsild::EntityPtr& after) = 0;
};

}  // namespace civitas::storage
