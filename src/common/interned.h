#pragma once

#include <string>
#include <string_view>

namespace civitas {

// A string stored once per process and shared by pointer: for names that repeat across many
// objects, such as the expanded attribute IRIs of millions of history series, where a
// std::string each would cost 32 bytes inline and a heap copy of the text.
//
// The text of an interned string lives until the process ends, so intern only names whose
// number is bounded by the data kept anyway (attribute names of stored series), never request
// data that is thrown away. Interning takes a lock; reading does not. Thread-safe.
class Interned {
 public:
  Interned();                       // ""
  Interned(std::string_view text);  // NOLINT: interns the text
  Interned(const std::string& text) : Interned(std::string_view(text)) {}  // NOLINT
  Interned(const char* text) : Interned(std::string_view(text)) {}         // NOLINT

  const std::string& str() const { return *text_; }
  operator const std::string&() const { return *text_; }  // NOLINT
  bool empty() const { return text_->empty(); }

  friend bool operator==(const Interned& a, const Interned& b) { return a.text_ == b.text_; }
  friend bool operator==(const Interned& a, std::string_view b) { return *a.text_ == b; }
  friend bool operator==(const Interned& a, const std::string& b) { return *a.text_ == b; }
  friend bool operator==(const Interned& a, const char* b) { return *a.text_ == b; }

 private:
  const std::string* text_;
};

}  // namespace civitas
