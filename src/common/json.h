#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace civitas {

// A mutable JSON value. Objects keep their members in insertion order (NGSI-LD output reads
// better that way, and objects here are small, so lookup is a linear scan).
class Json {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kObject, kRaw };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;
  // JSON text, already serialized: see Raw.
  struct RawText {
    std::string text;
    friend bool operator==(const RawText&, const RawText&) = default;
  };

  Json() = default;
  Json(std::nullptr_t) {}                                // NOLINT
  Json(bool b) : v_(b) {}                                // NOLINT
  Json(int v) : v_(static_cast<int64_t>(v)) {}           // NOLINT
  Json(int64_t v) : v_(v) {}                             // NOLINT
  Json(double v) : v_(v) {}                              // NOLINT
  Json(std::string s) : v_(std::move(s)) {}              // NOLINT
  Json(std::string_view s) : v_(std::string(s)) {}       // NOLINT
  Json(const char* s) : v_(std::string(s)) {}            // NOLINT
  Json(Array a) : v_(std::move(a)) {}                    // NOLINT
  Json(Object o) : v_(std::move(o)) {}                   // NOLINT

  static Json MakeObject() { return Json(Object{}); }
  static Json MakeArray() { return Json(Array{}); }
  // A value given as its serialized text, which AppendJson writes as it is: for large parts of
  // a response built in one pass (aggregated values), without a node per element. The caller
  // guarantees that `text` is one valid JSON value in the compact form AppendJson writes.
  // Opaque to everything else: it is neither an array nor an object, and equal only to the
  // same text.
  static Json Raw(std::string text) {
    Json j;
    j.v_ = RawText{std::move(text)};
    return j;
  }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_double() const { return kind() == Kind::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_raw() const { return kind() == Kind::kRaw; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_double() const { return is_int() ? static_cast<double>(as_int()) : std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  std::string& as_string() { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }
  const std::string& raw_text() const { return std::get<RawText>(v_).text; }

  // Object access. Find returns nullptr when absent or when this is not an object.
  const Json* Find(std::string_view key) const;
  Json* Find(std::string_view key);
  // Sets key to value, replacing an existing member in place. Turns null into an object.
  Json& Set(std::string_view key, Json value);
  bool Erase(std::string_view key);
  // Appends to an array. Turns null into an array.
  Json& Push(Json value);

  // Convenience: the string at key, or empty view when absent or not a string.
  std::string_view GetString(std::string_view key) const;

  size_t size() const;

  friend bool operator==(const Json& a, const Json& b) { return a.v_ == b.v_; }

 private:
  // In the order of Kind.
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object, RawText> v_;
};

// Parses JSON text. Fails with BadRequestData ("invalid JSON ...") on a syntax error and when
// nesting exceeds max_depth.
Result<Json> ParseJson(std::string_view text, size_t max_depth = 64);

// Serializes compactly (no whitespace). Doubles use the shortest round-trip representation;
// NaN and infinities (which JSON cannot carry) become null.
void AppendJson(std::string& out, const Json& v);
std::string ToJsonString(const Json& v);
void AppendJsonString(std::string& out, std::string_view s);  // quoted and escaped

}  // namespace civitas
