#include "common/interned.h"

#include <mutex>
#include <unordered_set>

namespace civitas {
namespace {

struct Table {
  std::mutex mu;
  std::unordered_set<std::string> texts;  // nodes never move: pointers to them stay valid
};

Table& table() {
  static Table* t = new Table;  // never destroyed: interned strings outlive every user
  return *t;
}

const std::string* InternText(std::string_view text) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  return &*t.texts.emplace(text).first;
}

}  // namespace

Interned::Interned() : text_(InternText("")) {}

Interned::Interned(std::string_view text) : text_(InternText(text)) {}

}  // namespace civitas
