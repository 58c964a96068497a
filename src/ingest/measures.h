#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/time.h"

namespace civitas::ingest {

// The key whose value, in a measure group, is the time the device observed it.
inline constexpr std::string_view kTimeInstant = "TimeInstant";

// One group of measures taken together: keys (object_ids) with their values, and the device's
// time stamp when it sent one.
struct MeasureGroup {
  std::vector<std::pair<std::string, Json>> values;  // in payload order, TimeInstant removed
  std::optional<Micros> observed_at;
};

enum class PayloadFormat { kJson, kUltralight };

// Limits that keep a hostile payload cheap to reject.
struct DecodeLimits {
  size_t max_groups = 1000;
  size_t max_values = 1000;  // per group
  size_t max_json_depth = 32;
};

// JSON measures: an object of key/value pairs, or an array of such objects (several measure
// groups in one message, as the IoT Agent for JSON accepts them). A "TimeInstant" member with
// an ISO 8601 date-time becomes observed_at; one that does not parse is an error, never a
// silent change of the time. Values keep their JSON types. BadRequestData on anything else.
Result<std::vector<MeasureGroup>> DecodeJsonMeasures(std::string_view payload,
                                                     const DecodeLimits& limits = {});

// Ultralight 2.0: groups separated by '#', each "key|value|key|value...". A group with an odd
// number of fields starts with its time stamp ("2024-05-01T10:00:00Z|t|21.5"); a
// "TimeInstant|<date-time>" pair works as well. Values are strings (the attribute type decides
// later how to read them). Empty groups (trailing '#', line breaks) are skipped. BadRequestData
// on an empty key, a missing value or a bad time stamp.
Result<std::vector<MeasureGroup>> DecodeUltralight(std::string_view payload,
                                                   const DecodeLimits& limits = {});

Result<std::vector<MeasureGroup>> DecodeMeasures(PayloadFormat format, std::string_view payload,
                                                 const DecodeLimits& limits = {});

// The format of a payload on a topic that does not say (the legacy /<apikey>/<device>/attrs):
// JSON if it starts with '{' or '[', else Ultralight.
PayloadFormat SniffFormat(std::string_view payload);

// The topic of a device message: "/json/<apikey>/<device>/attrs" (JSON),
// "/ul/<apikey>/<device>/attrs" (Ultralight), "/<apikey>/<device>/attrs" (legacy: the payload
// says which), each also without the leading '/'. nullopt for anything else.
struct DeviceTopic {
  std::optional<PayloadFormat> format;  // nullopt: sniff the payload
  std::string apikey, device_id;
};
std::optional<DeviceTopic> ParseDeviceTopic(std::string_view topic);

}  // namespace civitas::ingest
