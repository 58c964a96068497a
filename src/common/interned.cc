#include "common/interned.h"

#include <mutex>
#include <unordered_map>

namespace civitas {
namespace {

struct Table {
  std::mutex mu;
  // Keys view their node's text.
  std::unordered_map<std::string_view, void*> nodes;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: Interned values may outlive static objects
  return *t;
}

}  // namespace

constinit Interned::Node Interned::empty_;

Interned::Interned() : node_(Empty()) {}

Interned::Interned(std::string_view text) {
  if (text.empty()) {
    node_ = Empty();
    return;
  }
  Table& t = table();
  std::lock_guard lock(t.mu);
  auto it = t.nodes.find(text);
  if (it != t.nodes.end()) {
    node_ = static_cast<Node*>(it->second);
    node_->refs.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  node_ = new Node;
  node_->text = std::string(text);
  t.nodes.emplace(node_->text, node_);
}

void Interned::Unref(Node* n) {
  if (n == Empty()) return;
  // Not the last reference: no lock. The last one is dropped under the lock, so that an
  // Interned(text) that finds the node at that moment takes a reference before it is freed (a
  // new reference without the lock can only be a copy of a live one, which is not the last).
  uint64_t c = n->refs.load(std::memory_order_relaxed);
  while (c > 1) {
    if (n->refs.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel)) return;
  }
  Table& t = table();
  std::lock_guard lock(t.mu);
  if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    t.nodes.erase(n->text);
    delete n;
  }
}

size_t Interned::Count() {
  Table& t = table();
  std::lock_guard lock(t.mu);
  return t.nodes.size();
}

}  // namespace civitas
