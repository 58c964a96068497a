#pragma once

// Inputs shared by the micro-benchmarks (bench/micro_*.cc): the core @context, and a sensor
// entity as the synthetic city of issue 7 has them. Setup code only: the functions abort on
// failure, so that a benchmark never times a broken fixture.

#include <string>

#include "jsonld/context.h"
#include "ngsild/entity.h"

namespace civitas::bench {

// An AirQualityObserved sensor with NO2, PM10 and temperature (each with unitCode and
// observedAt), a name, a relationship and a location: 714 bytes of pretty-printed JSON.
extern const char* const kSensorEntity;

// The core context only; its fetcher never succeeds, which keeps the benchmarks offline.
const jsonld::Context& CoreContext();

// kSensorEntity with the given id and NO2/PM10 values, parsed, expanded and created.
ngsild::Entity MakeSensor(const std::string& id, double no2, double pm10);
ngsild::Entity MakeSensor();

}  // namespace civitas::bench
