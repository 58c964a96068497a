#include "ingest/measures.h"

namespace civitas::ingest {
namespace {

Status Bad(std::string what) { return Status::BadRequest(std::move(what)); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' ||
                        s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

Result<Micros> ParseTimeInstant(std::string_view s) {
  auto t = ParseDateTime(s);
  if (!t) return Bad("TimeInstant is not an ISO 8601 date-time with a zone: " + std::string(s));
  return *t;
}

std::vector<std::string_view> SplitLevels(std::string_view topic) {
  std::vector<std::string_view> levels;
  while (true) {
    size_t slash = topic.find('/');
    levels.push_back(topic.substr(0, slash));
    if (slash == std::string_view::npos) break;
    topic.remove_prefix(slash + 1);
  }
  return levels;
}

Result<MeasureGroup> JsonGroup(const Json& object, const DecodeLimits& limits) {
  if (!object.is_object()) return Bad("a JSON measure group must be an object");
  if (object.size() > limits.max_values) return Bad("too many measures in one group");
  MeasureGroup g;
  for (const auto& [key, value] : object.as_object()) {
    if (key.empty()) return Bad("a measure has an empty name");
    if (key == kTimeInstant) {
      if (!value.is_string()) return Bad("TimeInstant must be a string");
      auto t = ParseTimeInstant(value.as_string());
      if (!t.ok()) return t.status();
      g.observed_at = *t;
      continue;
    }
    g.values.emplace_back(key, value);
  }
  return g;
}

}  // namespace

Result<std::vector<MeasureGroup>> DecodeJsonMeasures(std::string_view payload,
                                                     const DecodeLimits& limits) {
  auto doc = ParseJson(payload, limits.max_json_depth);
  if (!doc.ok()) return doc.status();
  std::vector<MeasureGroup> groups;
  if (doc->is_object()) {
    auto g = JsonGroup(*doc, limits);
    if (!g.ok()) return g.status();
    groups.push_back(std::move(*g));
  } else if (doc->is_array()) {
    if (doc->size() > limits.max_groups) return Bad("too many measure groups in one message");
    for (const Json& item : doc->as_array()) {
      auto g = JsonGroup(item, limits);
      if (!g.ok()) return g.status();
      groups.push_back(std::move(*g));
    }
  } else {
    return Bad("JSON measures must be an object or an array of objects");
  }
  return groups;
}

Result<std::vector<MeasureGroup>> DecodeUltralight(std::string_view payload,
                                                   const DecodeLimits& limits) {
  std::vector<MeasureGroup> groups;
  while (true) {
    size_t hash = payload.find('#');
    std::string_view text = Trim(payload.substr(0, hash));
    if (!text.empty()) {
      if (groups.size() >= limits.max_groups) return Bad("too many measure groups in one message");
      std::vector<std::string_view> fields;
      while (true) {
        size_t bar = text.find('|');
        fields.push_back(Trim(text.substr(0, bar)));
        if (fields.size() > 2 * limits.max_values + 1) return Bad("too many measures in one group");
        if (bar == std::string_view::npos) break;
        text.remove_prefix(bar + 1);
      }
      MeasureGroup g;
      size_t i = 0;
      if (fields.size() % 2 == 1) {
        if (fields.size() == 1) return Bad("an Ultralight measure has no value: " + std::string(fields[0]));
        auto t = ParseTimeInstant(fields[0]);
        if (!t.ok()) return t.status();
        g.observed_at = *t;
        i = 1;
      }
      for (; i + 1 < fields.size(); i += 2) {
        if (fields[i].empty()) return Bad("an Ultralight measure has an empty name");
        if (fields[i] == kTimeInstant) {
          auto t = ParseTimeInstant(fields[i + 1]);
          if (!t.ok()) return t.status();
          g.observed_at = *t;
          continue;
        }
        g.values.emplace_back(std::string(fields[i]), Json(std::string(fields[i + 1])));
      }
      groups.push_back(std::move(g));
    }
    if (hash == std::string_view::npos) break;
    payload.remove_prefix(hash + 1);
  }
  if (groups.empty()) return Bad("the Ultralight payload has no measures");
  return groups;
}

Result<std::vector<MeasureGroup>> DecodeMeasures(PayloadFormat format, std::string_view payload,
                                                 const DecodeLimits& limits) {
  return format == PayloadFormat::kJson ? DecodeJsonMeasures(payload, limits)
                                        : DecodeUltralight(payload, limits);
}

PayloadFormat SniffFormat(std::string_view payload) {
  payload = Trim(payload);
  if (!payload.empty() && (payload[0] == '{' || payload[0] == '[')) return PayloadFormat::kJson;
  return PayloadFormat::kUltralight;
}

std::optional<DeviceTopic> ParseDeviceTopic(std::string_view topic) {
  if (!topic.empty() && topic[0] == '/') topic.remove_prefix(1);
  auto levels = SplitLevels(topic);
  DeviceTopic t;
  if (levels.size() == 4 && levels[3] == "attrs" && (levels[0] == "json" || levels[0] == "ul")) {
    t.format = levels[0] == "json" ? PayloadFormat::kJson : PayloadFormat::kUltralight;
    t.apikey = std::string(levels[1]);
    t.device_id = std::string(levels[2]);
  } else if (levels.size() == 3 && levels[2] == "attrs") {
    t.apikey = std::string(levels[0]);
    t.device_id = std::string(levels[1]);
  } else {
    return std::nullopt;
  }
  if (t.apikey.empty() || t.device_id.empty()) return std::nullopt;
  return t;
}

}  // namespace civitas::ingest
