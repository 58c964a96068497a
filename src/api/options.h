#pragma once

#include "api/call.h"
#include "common/status.h"
#include "ngsild/render.h"

namespace civitas::api {

// The representation a retrieval asks for, from its query parameters: options/format
// (keyValues, concise, normalized, sysAttrs; anything else is InvalidRequest), attrs, pick and
// omit (BadRequestData when malformed or combined wrongly), lang, join and joinLevel.
Result<ngsild::RenderOptions> RenderOptionsFor(const Call& call);

}  // namespace civitas::api
