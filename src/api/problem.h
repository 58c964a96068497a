#pragma once

#include "common/json.h"
#include "common/status.h"
#include "http/http.h"

namespace civitas::api {

// The one place that maps an error Status to its HTTP status and NGSI-LD ProblemDetails type.
int HttpStatusOf(ErrorCode code);

// A ProblemDetails response (application/json) for an error Status.
http::Response ProblemResponse(const Status& status);

// The ProblemDetails object (used inside batch results and 207 bodies too).
Json ProblemJson(const Status& status);

}  // namespace civitas::api
