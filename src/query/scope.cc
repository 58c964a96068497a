#include "query/scope.h"

#include <cstdio>
#include <string>
#include <vector>

namespace civitas::query {

struct ScopeQ::Node {
  enum class Kind { kAnd, kOr, kPattern } kind = Kind::kPattern;
  std::vector<std::unique_ptr<Node>> children;
  std::vector<std::string> levels;  // "+" is any one level
  bool descendants = false;         // trailing "/#"
};

namespace {

using Node = ScopeQ::Node;
using NodePtr = std::unique_ptr<Node>;

constexpr int kMaxNesting = 32;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsLevelChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f && c != '/' && c != ';' && c != '|' && c != ',' && c != '(' &&
         c != ')' && c != '#' && c != '+';
}

std::string Describe(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return "'" + std::string(1, c) + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
  return buf;
}

class Parser {
 public:
  Parser(std::string_view text, size_t offset) : text_(text), offset_(offset) {}

  Result<NodePtr> Parse() {
    SkipSpace();
    if (AtEnd()) return Error("the scope query is empty");
    auto n = Or(0);
    if (!n.ok()) return n;
    SkipSpace();
    if (!AtEnd()) {
      if (Peek() == ')') return Error("')' without a matching '('");
      return Error("unexpected " + Describe(Peek()) + " (expected ';', '|', ',' or the end)");
    }
    return n;
  }

 private:
  Status Error(const std::string& what) const { return ErrorAt(pos_, what); }
  Status ErrorAt(size_t pos, const std::string& what) const {
    return Status::BadRequest("invalid scopeQ at position " + std::to_string(pos + offset_) + ": " +
                              what);
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }

  static NodePtr Combine(Node::Kind kind, std::vector<NodePtr> kids) {
    if (kids.size() == 1) return std::move(kids[0]);
    auto n = std::make_unique<Node>();
    n->kind = kind;
    for (auto& k : kids) {
      if (k->kind == kind) {
        for (auto& g : k->children) n->children.push_back(std::move(g));
      } else {
        n->children.push_back(std::move(k));
      }
    }
    return n;
  }

  Result<NodePtr> Or(int depth) {
    std::vector<NodePtr> kids;
    while (true) {
      auto next = And(depth);
      if (!next.ok()) return next;
      kids.push_back(std::move(*next));
      SkipSpace();
      if (Peek() != '|' && Peek() != ',') break;
      ++pos_;
    }
    return Combine(Node::Kind::kOr, std::move(kids));
  }

  Result<NodePtr> And(int depth) {
    std::vector<NodePtr> kids;
    while (true) {
      auto next = Factor(depth);
      if (!next.ok()) return next;
      kids.push_back(std::move(*next));
      SkipSpace();
      if (Peek() != ';') break;
      ++pos_;
    }
    return Combine(Node::Kind::kAnd, std::move(kids));
  }

  Result<NodePtr> Factor(int depth) {
    SkipSpace();
    if (AtEnd()) return Error("a scope is missing");
    if (Peek() == '(') {
      if (depth >= kMaxNesting) return Error("parentheses nested too deeply");
      size_t open = pos_;
      ++pos_;
      auto inner = Or(depth + 1);
      if (!inner.ok()) return inner;
      SkipSpace();
      if (Peek() != ')') {
        if (AtEnd()) return ErrorAt(open, "'(' is not closed");
        return Error("unexpected " + Describe(Peek()) + " (expected ';', '|', ',' or ')')");
      }
      ++pos_;
      return inner;
    }
    return Pattern();
  }

  Result<NodePtr> Pattern() {
    auto n = std::make_unique<Node>();
    bool slash = false;
    if (Peek() == '/') {
      slash = true;
      ++pos_;
    }
    while (true) {
      if (Peek() == '#') {
        if (!slash) return Error("'#' must follow '/'");
        ++pos_;
        n->descendants = true;
        if (IsLevelChar(Peek()) || Peek() == '/' || Peek() == '+' || Peek() == '#') {
          return Error("'#' must end the scope");
        }
        return NodePtr(std::move(n));
      }
      if (Peek() == '+') {
        ++pos_;
        if (IsLevelChar(Peek()) || Peek() == '+') {
          return Error("'+' must be a whole scope level");
        }
        n->levels.emplace_back("+");
      } else {
        size_t start = pos_;
        while (!AtEnd() && IsLevelChar(Peek())) ++pos_;
        if (pos_ == start) {
          if (AtEnd()) return Error("a scope level is missing");
          return Error("a scope level is expected, not " + Describe(Peek()));
        }
        n->levels.emplace_back(text_.substr(start, pos_ - start));
      }
      if (Peek() != '/') break;
      ++pos_;
      slash = true;
    }
    return NodePtr(std::move(n));
  }

  std::string_view text_;
  size_t offset_;
  size_t pos_ = 0;
};

// Does one scope string match a pattern?
bool MatchScope(const Node& pattern, std::string_view scope) {
  if (!scope.empty() && scope.front() == '/') scope.remove_prefix(1);
  if (scope.empty()) return false;
  size_t pos = 0;
  for (const auto& level : pattern.levels) {
    if (pos > scope.size()) return false;
    size_t end = scope.find('/', pos);
    if (end == std::string_view::npos) end = scope.size();
    std::string_view actual = scope.substr(pos, end - pos);
    if (actual.empty()) return false;
    if (level != "+" && actual != level) return false;
    pos = end + 1;  // past the '/', or past the end when this was the last level
  }
  if (pos > scope.size()) return true;  // every level of the scope was consumed
  return pattern.descendants;           // levels remain below the pattern
}

bool MatchAny(const Node& pattern, const Json& scope) {
  if (scope.is_string()) return MatchScope(pattern, scope.as_string());
  if (scope.is_array()) {
    for (const auto& s : scope.as_array()) {
      if (s.is_string() && MatchScope(pattern, s.as_string())) return true;
    }
  }
  return false;
}

bool Eval(const Node& n, const Json& scope) {
  switch (n.kind) {
    case Node::Kind::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(*c, scope)) return false;
      }
      return true;
    case Node::Kind::kOr:
      for (const auto& c : n.children) {
        if (Eval(*c, scope)) return true;
      }
      return false;
    case Node::Kind::kPattern:
      return MatchAny(n, scope);
  }
  return false;
}

}  // namespace

Result<ScopeQ> ScopeQ::Parse(std::string_view text) {
  size_t offset = 0;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
    offset = 1;
  }
  auto root = Parser(text, offset).Parse();
  if (!root.ok()) return root.status();
  ScopeQ q;
  q.root_ = std::shared_ptr<const Node>(std::move(*root));
  return q;
}

bool ScopeQ::Matches(const Json& scope) const { return !root_ || Eval(*root_, scope); }

}  // namespace civitas::query
