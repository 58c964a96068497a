#pragma once

#include <string>

#include "common/status.h"
#include "jsonld/context.h"
#include "storage/entity_store.h"

namespace civitas::server {

// Loads the demo city from dir into the default tenant: the 8 Aarhus car parks
// (OffStreetParking with location, totalSpotNumber, occupiedSpotNumber, availableSpotNumber)
// and the 24 Aarhus districts (AdministrativeArea with name and a Polygon/MultiPolygon
// location). Entities that already exist are left as they are, so it runs once in effect.
// Blocks until the writes are durable. Returns the number of entities created.
Result<int> LoadDemo(const std::string& dir, storage::EntityStore& store,
                     const jsonld::Context& ctx);

}  // namespace civitas::server
