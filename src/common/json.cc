#include "common/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <simdjson.h>

namespace civitas {

const Json* Json::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object()) {
    if (k == key) return &v;
  }
  return nullptr;
}

Json* Json::Find(std::string_view key) {
  return const_cast<Json*>(static_cast<const Json*>(this)->Find(key));
}

Json& Json::Set(std::string_view key, Json value) {
  if (is_null()) v_ = Object{};
  for (auto& [k, v] : as_object()) {
    if (k == key) {
      v = std::move(value);
      return v;
    }
  }
  as_object().emplace_back(std::string(key), std::move(value));
  return as_object().back().second;
}

bool Json::Erase(std::string_view key) {
  if (!is_object()) return false;
  auto& o = as_object();
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (it->first == key) {
      o.erase(it);
      return true;
    }
  }
  return false;
}

Json& Json::Push(Json value) {
  if (is_null()) v_ = Array{};
  as_array().push_back(std::move(value));
  return as_array().back();
}

std::string_view Json::GetString(std::string_view key) const {
  const Json* v = Find(key);
  if (v == nullptr || !v->is_string()) return {};
  return v->as_string();
}

size_t Json::size() const {
  if (is_array()) return as_array().size();
  if (is_object()) return as_object().size();
  return 0;
}

namespace {

Json Convert(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      Json::Object o;
      simdjson::dom::object obj;
      if (e.get_object().get(obj) != simdjson::SUCCESS) return Json();
      o.reserve(obj.size());
      // JSON allows duplicate keys; the last one wins, as in most parsers. Small objects are
      // checked by a scan, large ones (a @context with thousands of terms) through an index,
      // so that parsing stays linear.
      std::unordered_map<std::string_view, size_t> index;
      for (auto field : obj) {
        std::string_view key = field.key;
        if (o.size() == 32) {
          for (size_t i = 0; i < o.size(); ++i) index.emplace(o[i].first, i);
        }
        size_t found = o.size();
        if (o.size() >= 32) {
          if (auto it = index.find(key); it != index.end()) found = it->second;
        } else {
          for (size_t i = 0; i < o.size(); ++i) {
            if (o[i].first == key) {
              found = i;
              break;
            }
          }
        }
        if (found < o.size()) {
          o[found].second = Convert(field.value);
          continue;
        }
        o.emplace_back(std::string(key), Convert(field.value));
        if (o.size() > 32) index.emplace(o.back().first, o.size() - 1);
      }
      return Json(std::move(o));
    }
    case element_type::ARRAY: {
      Json::Array a;
      simdjson::dom::array arr;
      if (e.get_array().get(arr) != simdjson::SUCCESS) return Json();
      for (auto item : arr) a.push_back(Convert(item));
      return Json(std::move(a));
    }
    case element_type::STRING:
      return Json(std::string_view(e.get_string().value_unsafe()));
    case element_type::INT64:
      return Json(e.get_int64().value_unsafe());
    case element_type::UINT64:
      return Json(static_cast<double>(e.get_uint64().value_unsafe()));
    case element_type::DOUBLE:
      return Json(e.get_double().value_unsafe());
    case element_type::BOOL:
      return Json(e.get_bool().value_unsafe());
    case element_type::NULL_VALUE:
      return Json();
  }
  return Json();
}

}  // namespace

Result<Json> ParseJson(std::string_view text, size_t max_depth) {
  // One parser per thread: simdjson parsers are reusable but not thread-safe.
  thread_local simdjson::dom::parser parser;
  thread_local size_t allocated_depth = 0;
  if (allocated_depth != max_depth || parser.capacity() < text.size()) {
    size_t capacity = std::max<size_t>(text.size(), 4096);
    if (parser.allocate(capacity, max_depth) != simdjson::SUCCESS) {
      return Status::Internal("cannot allocate JSON parser");
    }
    allocated_depth = max_depth;
  }
  simdjson::dom::element root;
  auto error = parser.parse(text.data(), text.size(), true).get(root);
  if (error == simdjson::DEPTH_ERROR) {
    return Status::BadRequest("JSON nesting deeper than " + std::to_string(max_depth) + " levels");
  }
  if (error != simdjson::SUCCESS) {
    return Status::InvalidRequest(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  return Convert(root);
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t start = 0;
  size_t i = 0;
  // Eight bytes at a time while none of them needs escaping (a control character, '"' or
  // '\\'): ids, IRIs and values almost never do, and this runs for every string of every
  // record and response.
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t w) { return (w - kOnes) & ~w & kHigh; };
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    uint64_t special = ((w - kOnes * 0x20) & ~w & kHigh) | has_zero(w ^ (kOnes * '"')) |
                       has_zero(w ^ (kOnes * '\\'));
    if (special != 0) break;
  }
  for (; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + start, s.size() - start);
  out.push_back('"');
}

void AppendJson(std::string& out, const Json& v) {
  switch (v.kind()) {
    case Json::Kind::kNull: out.append("null"); return;
    case Json::Kind::kBool: out.append(v.as_bool() ? "true" : "false"); return;
    case Json::Kind::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
      out.append(buf, r.ptr);
      return;
    }
    case Json::Kind::kDouble: {
      double d = v.as_double();
      if (!std::isfinite(d)) {
        out.append("null");
        return;
      }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      return;
    }
    case Json::Kind::kString: AppendJsonString(out, v.as_string()); return;
    case Json::Kind::kArray: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        AppendJson(out, item);
      }
      out.push_back(']');
      return;
    }
    case Json::Kind::kRaw: out.append(v.raw_text()); return;
    case Json::Kind::kObject: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, item] : v.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        AppendJsonString(out, k);
        out.push_back(':');
        AppendJson(out, item);
      }
      out.push_back('}');
      return;
    }
  }
}

std::string ToJsonString(const Json& v) {
  std::string out;
  AppendJson(out, v);
  return out;
}

}  // namespace civitas
