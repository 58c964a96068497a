#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace civitas {

// A string stored once per process and shared by reference: for names that repeat across many
// objects, such as the expanded attribute IRIs of a million entities and of their history
// series, where a std::string each costs 32 bytes inline and a heap copy of the text.
//
// Counted: the text is freed with its last Interned, so names that only passed through (a
// request's attribute names, entities since deleted) do not stay. Copying takes an atomic
// increment, interning a lock. Thread-safe.
class Interned {
 public:
  Interned();                       // ""
  Interned(std::string_view text);  // NOLINT: interns the text
  Interned(const std::string& text) : Interned(std::string_view(text)) {}  // NOLINT
  Interned(const char* text) : Interned(std::string_view(text)) {}         // NOLINT
  Interned(const Interned& o) noexcept : node_(o.node_) { Ref(node_); }
  Interned(Interned&& o) noexcept : node_(o.node_) { o.node_ = Empty(); }
  Interned& operator=(Interned o) noexcept {
    std::swap(node_, o.node_);
    return *this;
  }
  ~Interned() { Unref(node_); }

  const std::string& str() const { return node_->text; }
  operator const std::string&() const { return node_->text; }  // NOLINT
  bool empty() const { return node_->text.empty(); }

  friend bool operator==(const Interned& a, const Interned& b) { return a.node_ == b.node_; }
  friend bool operator==(const Interned& a, std::string_view b) { return a.node_->text == b; }
  friend bool operator==(const Interned& a, const std::string& b) { return a.node_->text == b; }
  friend bool operator==(const Interned& a, const char* b) { return a.node_->text == b; }
  friend std::strong_ordering operator<=>(const Interned& a, std::string_view b) {
    return std::string_view(a.node_->text) <=> b;
  }
  friend std::strong_ordering operator<=>(const Interned& a, const std::string& b) {
    return std::string_view(a.node_->text) <=> std::string_view(b);
  }

  // Distinct texts interned now (for tests and metrics).
  static size_t Count();

 private:
  struct Node {
    std::atomic<uint64_t> refs{1};
    std::string text;
  };
  static Node empty_;  // "", never counted nor freed
  static Node* Empty() { return &empty_; }
  static void Ref(Node* n) {
    if (n != Empty()) n->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void Unref(Node* n);

  Node* node_;
};

}  // namespace civitas
