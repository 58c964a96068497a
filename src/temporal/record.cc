#include "temporal/record.h"

#include <charconv>
#include <cmath>

namespace civitas::temporal {
namespace {

constexpr std::string_view kInstancePrefix = "urn:ngsi-ld:Instance:";
constexpr std::string_view kObservedMarker = "observedAt";

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
  s.created_at = Millis(time_of("createdAt").value_or(fallback));
  s.modified_at = Millis(time_of("modifiedAt").value_or(fallback));
  std::optional<Micros> observed = time_of("observedAt");
  s.time = observed ? *observed : s.modified_at;

  Json extra = Json::MakeObject();
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
      } else if (k == "createdAt" || k == "modifiedAt" || k == "instanceId") {
        continue;
      } else if (k == "observedAt" && observed) {
        // 1: written with milliseconds, 0: in whole seconds, else the text itself.
        const std::string& text = v.as_string();
        if (text == FormatDateTime(*observed)) {
          extra.Set(kObservedMarker, Json(1));
        } else if (text == FormatInstant(*observed)) {
          extra.Set(kObservedMarker, Json(0));
        } else {
          extra.Set(kObservedMarker, v);
        }
      } else {
        extra.Set(k, v);
      }
    }
  }
  s.extra = ToJsonString(extra);
  return s;
}

bool HasObservedAt(const Sample& s) {
  // A member of the top-level object of `extra` (a sub-attribute may have its own observedAt).
  // Scanned rather than parsed: queries call this for every instance in their interval.
  const std::string_view e = s.extra;
  if (e.find(kObservedMarker) == std::string_view::npos) return false;
  int depth = 0;
  bool at_key = false;
  for (size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    if (c == '"') {
      size_t end = i + 1;
      while (end < e.size() && e[end] != '"') end += e[end] == '\\' ? 2 : 1;
      if (at_key && e.substr(i + 1, end - i - 1) == kObservedMarker) return true;
      at_key = false;
      i = end;
    } else if (c == '{' || c == '[') {
      ++depth;
      at_key = c == '{' && depth == 1;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',') {
      at_key = depth == 1;
    }
  }
  return false;
}

ngsild::AttrKind KindOf(const Sample& s) {
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  auto extra = ParseJson(s.extra);
  if (extra.ok()) ngsild::ParseAttrKind(extra->GetString("type"), &kind);
  return kind;
}

ngsild::Attribute InstanceFromSample(const Sample& s, bool sys_attrs) {
  auto parsed = ParseJson(s.extra.empty() ? "{}" : s.extra);
  Json extra = parsed.ok() && parsed->is_object() ? std::move(*parsed) : Json::MakeObject();
  ngsild::AttrKind kind = ngsild::AttrKind::kProperty;
  ngsild::ParseAttrKind(extra.GetString("type"), &kind);
  Json out = Json::MakeObject();
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
  if (sys_attrs) {
    out.Set("createdAt", FormatDateTime(s.created_at));
    out.Set("modifiedAt", FormatDateTime(s.modified_at));
  }
  return out;
}

}  // namespace civitas::temporal
