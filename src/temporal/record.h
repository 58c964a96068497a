#pragma once

#include <string>
#include <string_view>

#include "ngsild/entity.h"
#include "temporal/chunk.h"

namespace civitas::temporal {

// The instanceId of instance number n ("urn:ngsi-ld:Instance:n"), and back (false when the
// text is not one of ours).
std::string InstanceId(uint64_t n);
bool ParseInstanceId(std::string_view id, uint64_t* n);

// An attribute instance (expanded, normalized, as stored in entities) as a Sample: the value
// member goes to number or value, observedAt (or else deletedAt, else modifiedAt, else
// `fallback`) to time, the system times (`fallback` when unstamped) to their columns, every
// other member to extra. observedAt is kept in extra as a marker of
// its text form only (the time column holds the instant), so a regular series compresses and
// the text comes back as it was written. System times are kept at millisecond precision,
// the precision they are rendered with.
Sample SampleFromInstance(const ngsild::Attribute& instance, Micros fallback, uint64_t number);

// The instance back, with "instanceId", and the sample's system times.
ngsild::Attribute InstanceFromSample(const Sample& s);

// An instant as the temporal API writes it: "YYYY-MM-DDThh:mm:ssZ" for whole seconds (as most
// clients and the ETSI examples write them), else with milliseconds.
std::string FormatInstant(Micros t);

// The instance recorded when `deleted` (an instance of the current state) is deleted at `at`
// (clauses 4.5.7 and 4.5.8): its type and datasetId, its value member set to the NGSI-LD Null
// of its kind (clause 4.5.0: "urn:ngsi-ld:null"; an array holding it for the list kinds;
// {"@none": it} for a languageMap), deletedAt `at`, and system times `at`.
ngsild::Attribute DeletionInstance(const ngsild::Attribute& deleted, Micros at);

// The attribute kind recorded in a sample (Property when unknown).
ngsild::AttrKind KindOf(const Sample& s);

}  // namespace civitas::temporal
