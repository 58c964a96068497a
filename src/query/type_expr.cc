#include "query/type_expr.h"

#include <algorithm>

namespace civitas::query {

struct TypeExpr::Node {
  enum class Kind { kName, kAny, kAll } kind;
  std::string name;
  std::vector<std::shared_ptr<const Node>> children;
};

namespace {

using NodePtr = std::shared_ptr<const TypeExpr::Node>;

class Parser {
 public:
  Parser(std::string_view text, const std::function<std::string(std::string_view)>& expand)
      : text_(text), expand_(expand) {}

  Result<NodePtr> Parse() {
    auto n = Any(0);
    if (!n.ok()) return n;
    if (pos_ != text_.size()) return Error("unexpected '" + std::string(1, text_[pos_]) + "'");
    return n;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::BadRequest("invalid type expression at position " + std::to_string(pos_) +
                              ": " + what);
  }

  Result<NodePtr> Any(int depth) {
    auto first = All(depth);
    if (!first.ok()) return first;
    std::vector<NodePtr> kids{*first};
    while (pos_ < text_.size() && (text_[pos_] == ',' || text_[pos_] == '|')) {
      ++pos_;
      auto next = All(depth);
      if (!next.ok()) return next;
      kids.push_back(*next);
    }
    if (kids.size() == 1) return kids[0];
    return NodePtr(new TypeExpr::Node{TypeExpr::Node::Kind::kAny, "", std::move(kids)});
  }

  Result<NodePtr> All(int depth) {
    auto first = Factor(depth);
    if (!first.ok()) return first;
    std::vector<NodePtr> kids{*first};
    while (pos_ < text_.size() && text_[pos_] == ';') {
      ++pos_;
      auto next = Factor(depth);
      if (!next.ok()) return next;
      kids.push_back(*next);
    }
    if (kids.size() == 1) return kids[0];
    return NodePtr(new TypeExpr::Node{TypeExpr::Node::Kind::kAll, "", std::move(kids)});
  }

  Result<NodePtr> Factor(int depth) {
    if (depth > 32) return Error("nested too deeply");
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      auto inner = Any(depth + 1);
      if (!inner.ok()) return inner;
      if (pos_ >= text_.size() || text_[pos_] != ')') return Error("'(' is not closed");
      ++pos_;
      return inner;
    }
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ',' || c == '|' || c == ';' || c == '(' || c == ')') break;
      unsigned char u = static_cast<unsigned char>(c);
      if (u <= 0x20 || c == '<' || c == '>' || c == '"' || c == '\'' || c == '=') {
        return Error("invalid character in a type name");
      }
      ++pos_;
    }
    if (pos_ == start) return Error("a type name is missing");
    std::string iri = expand_(text_.substr(start, pos_ - start));
    return NodePtr(new TypeExpr::Node{TypeExpr::Node::Kind::kName, std::move(iri), {}});
  }

  std::string_view text_;
  const std::function<std::string(std::string_view)>& expand_;
  size_t pos_ = 0;
};

bool Eval(const TypeExpr::Node& n, const std::vector<std::string>& types) {
  switch (n.kind) {
    case TypeExpr::Node::Kind::kName:
      return std::find(types.begin(), types.end(), n.name) != types.end();
    case TypeExpr::Node::Kind::kAny:
      for (const auto& c : n.children) {
        if (Eval(*c, types)) return true;
      }
      return false;
    case TypeExpr::Node::Kind::kAll:
      for (const auto& c : n.children) {
        if (!Eval(*c, types)) return false;
      }
      return true;
  }
  return false;
}

}  // namespace

Result<TypeExpr> TypeExpr::Parse(std::string_view text,
                                 const std::function<std::string(std::string_view)>& expand) {
  auto root = Parser(text, expand).Parse();
  if (!root.ok()) return root.status();
  TypeExpr e;
  e.root_ = std::move(*root);
  return e;
}

bool TypeExpr::Matches(const std::vector<std::string>& types) const {
  return root_ && Eval(*root_, types);
}

std::vector<std::string> TypeExpr::AlternativeNames() const {
  if (!root_) return {};
  if (root_->kind == Node::Kind::kName) return {root_->name};
  std::vector<std::string> names;
  if (root_->kind != Node::Kind::kAny) return {};
  for (const auto& c : root_->children) {
    if (c->kind != Node::Kind::kName) return {};
    names.push_back(c->name);
  }
  return names;
}

namespace {

IndexPlan PlanTypes(const TypeExpr::Node& n) {
  IndexPlan p;
  p.exact = true;
  if (n.kind == TypeExpr::Node::Kind::kName) {
    p.kind = IndexPlan::Kind::kType;
    p.name = n.name;
    return p;
  }
  p.kind = n.kind == TypeExpr::Node::Kind::kAll ? IndexPlan::Kind::kAnd : IndexPlan::Kind::kOr;
  for (const auto& c : n.children) p.children.push_back(PlanTypes(*c));
  return p;
}

}  // namespace

IndexPlan TypeExpr::Plan() const {
  // An unparsed expression matches nothing: an empty set of ids.
  if (!root_) {
    IndexPlan p;
    p.kind = IndexPlan::Kind::kIds;
    p.exact = true;
    return p;
  }
  return PlanTypes(*root_);
}

}  // namespace civitas::query
