#include "temporal/record.h"

#include <charconv>
#include <cmath>

#include "ngsild/parse.h"

namespace civitas::temporal {
namespace {

constexpr std::string_view kInstancePrefix = "urn:ngsi-ld:Instance:";
constexpr std::string_view kObservedMarker = "observedAt";
constexpr std::string_view kDeletedAt = "deletedAt";

Micros Millis(Micros t) { return t - ((t % 1000) + 1000) % 1000; }

// Integral numbers go back out as JSON integers (they came in as such, almost always).
Json NumberJson(double v) {
  if (std::isfinite(v) && std::fabs(v) < 9007199254740992.0 && v == std::trunc(v) &&
      !(v == 0 && std::signbit(v))) {
    return Json(static_cast<int64_t>(v));
  }
  return Json(v);
}

}  // namespace

std::string FormatInstant(Micros t) {
  std::string s = FormatDateTime(t);
  if (t % 1000000 == 0 && s.size() == 24) s = s.substr(0, 19) + "Z";
  return s;
}

std::string InstanceId(uint64_t n) { return std::string(kInstancePrefix) + std::to_string(n); }

bool ParseInstanceId(std::string_view id, uint64_t* n) {
  if (id.substr(0, kInstancePrefix.size()) != kInstancePrefix) return false;
  id.remove_prefix(kInstancePrefix.size());
  if (id.empty()) return false;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), *n);
  return ec == std::errc() && p == id.data() + id.size();
}

Sample SampleFromInstance(const ngsild::Attribute& instance, Micros fallback, uint64_t number) {
  Sample s;
  s.instance = number;
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  ngsild::ParseAttrKind(instance.GetString("type"), &kind);
  const std::string_view value_member = ngsild::ValueMember(kind);
  auto time_of = [&](std::string_view member) -> std::optional<Micros> {
    std::string_view text = instance.GetString(member);
    return text.empty() ? std::nullopt : ParseDateTime(text);
  };
  s.created_at = Millis(instance.created_at != 0 ? instance.created_at : fallback);
  s.modified_at = Millis(instance.modified_at != 0 ? instance.modified_at : fallback);
  std::optional<Micros> observed = time_of("observedAt");
  std::optional<Micros> deleted = time_of("deletedAt");
  s.time = observed ? *observed : deleted ? *deleted : s.modified_at;

  // The other members, as a JSON object written directly (no Json tree: this runs for every
  // recorded instance on the store's commit thread).
  std::string& extra = s.extra;
  extra.push_back('{');
  auto member = [&extra](std::string_view key) {
    if (extra.size() > 1) extra.push_back(',');
    AppendJsonString(extra, key);
    extra.push_back(':');
  };
  if (instance.is_object()) {
    for (const auto& [k, v] : instance.as_object()) {
      if (k == value_member) {
        if (v.is_number()) {
          s.number = v.as_double();
          // Integers beyond 2^53 would lose digits as doubles: keep them as text.
          if (v.is_int() && static_cast<int64_t>(*s.number) != v.as_int()) {
            s.number.reset();
            s.value = ToJsonString(v);
          }
        } else {
          s.value = ToJsonString(v);
        }
      } else if (k == "instanceId" || k == "createdAt" || k == "modifiedAt") {
        continue;
      } else if (k == "observedAt" && observed) {
        // 1: written with milliseconds, 0: in whole seconds, else the text itself.
        const std::string& text = v.as_string();
        member(kObservedMarker);
        if (text == FormatDateTime(*observed)) {
          extra.push_back('1');
        } else if (text == FormatInstant(*observed)) {
          extra.push_back('0');
        } else {
          AppendJson(extra, v);
        }
      } else {
        member(k);
        AppendJson(extra, v);
      }
    }
  }
  extra.push_back('}');
  return s;
}

ngsild::Attribute DeletionInstance(const ngsild::Attribute& deleted, Micros at) {
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  ngsild::ParseAttrKind(deleted.GetString("type"), &kind);
  Json null_value(std::string(ngsild::kNullLiteral));
  if (kind == ngsild::AttrKind::kLanguageProperty) {
    Json map = Json::MakeObject();
    map.Set("@none", std::move(null_value));
    null_value = std::move(map);
  } else if (kind == ngsild::AttrKind::kListProperty ||
             kind == ngsild::AttrKind::kListRelationship) {
    Json list = Json::MakeArray();
    list.Push(std::move(null_value));
    null_value = std::move(list);
  }
  ngsild::Attribute out(Json::MakeObject(), at, at);
  out.Set("type", Json(ngsild::AttrKindName(kind)));
  out.Set(ngsild::ValueMember(kind), std::move(null_value));
  if (std::string_view dataset = ngsild::DatasetIdOf(deleted); !dataset.empty()) {
    out.Set("datasetId", Json(std::string(dataset)));
  }
  out.Set(std::string(kDeletedAt), Json(FormatDateTime(at)));
  return out;
}

ngsild::AttrKind KindOf(const Sample& s) {
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  // The extra members as SampleFromInstance writes them start with the type: read without
  // parsing the object (temporal queries ask this of every entity they answer).
  constexpr std::string_view kLead = R"({"type":")";
  std::string_view e = s.extra;
  if (e.starts_with(kLead)) {
    e.remove_prefix(kLead.size());
    const size_t end = e.find_first_of("\\\"");
    if (end != std::string_view::npos && e[end] == '"' && end + 1 < e.size() &&
        (e[end + 1] == ',' || e[end + 1] == '}')) {
      ngsild::ParseAttrKind(e.substr(0, end), &kind);
      return kind;
    }
  }
  auto extra = ParseJson(s.extra);
  if (extra.ok()) ngsild::ParseAttrKind(extra->GetString("type"), &kind);
  return kind;
}

ngsild::Attribute InstanceFromSample(const Sample& s) {
  auto parsed = ParseJson(s.extra.empty() ? "{}" : s.extra);
  Json extra = parsed.ok() && parsed->is_object() ? std::move(*parsed) : Json::MakeObject();
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  ngsild::ParseAttrKind(extra.GetString("type"), &kind);
  ngsild::Attribute out(Json::MakeObject(), s.created_at, s.modified_at);
  for (auto& [k, v] : extra.as_object()) {
    if (k == "type") {
      out.Set(k, std::move(v));
      if (s.number) {
        out.Set(ngsild::ValueMember(kind), NumberJson(*s.number));
      } else {
        auto value = ParseJson(s.value);
        out.Set(ngsild::ValueMember(kind), value.ok() ? std::move(*value) : Json());
      }
    } else if (k == kObservedMarker) {
      if (v.is_string()) {
        out.Set("observedAt", std::move(v));
      } else {
        out.Set("observedAt", v == Json(0) ? FormatInstant(s.time) : FormatDateTime(s.time));
      }
    } else {
      out.Set(k, std::move(v));
    }
  }
  if (out.Find("type") == nullptr) {  // not written by SampleFromInstance; keep the value
    out.Set("type", "Property");
    if (s.number) out.Set("value", NumberJson(*s.number));
  }
  out.Set("instanceId", InstanceId(s.instance));
  return out;
}

}  // namespace civitas::temporal
