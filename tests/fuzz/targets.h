#pragma once

// The fuzz targets, one per parser. Each takes one input, runs it through the parser and the
// code that consumes its result, and checks properties with FUZZ_CHECK. A target never fails on
// input the parser rejects: only crashes, sanitizer reports and failed checks are findings.
// fuzz_main.cc wraps one of them as a libFuzzer binary; regression_test.cc replays the committed
// inputs through all of them.

#include <string_view>

namespace civitas::fuzz {

// fuzz_entity: JSON → ngsild::ParseEntityBody (normal and partial) → entity operations,
// storage round trip, rendering.
void FuzzEntity(std::string_view data);
// fuzz_http_request: http::RequestParser fed whole and in pieces; both must agree.
void FuzzHttpRequest(std::string_view data);
// fuzz_projection: ngsild::ParseProjection; a parsed projection prints back to its input.
void FuzzProjection(std::string_view data);
// fuzz_context: a JSON-LD @context value → ContextRegistry::Resolve → Expand/Compact.
void FuzzContext(std::string_view data);
// fuzz_time: ParseDateTime / FormatDateTime round trips.
void FuzzTime(std::string_view data);
// fuzz_geo: GeoJSON geometries and geo-queries (JSON and URL forms) → predicates, search boxes.
void FuzzGeo(std::string_view data);
// fuzz_measures: JSON / Ultralight device measures and MQTT topics → ingest decoding and mapping;
// every mapped update is a valid entity fragment.
void FuzzMeasures(std::string_view data);

// fuzz_query: q, scopeQ and type expressions → parse errors, evaluation on fixed entities,
// soundness of the terms q offers for index planning.
void FuzzQuery(std::string_view data);

}  // namespace civitas::fuzz
