#include "query/q.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "common/time.h"

namespace civitas::query {

// The parsed form. Everything a match needs (expanded names, compiled patterns, parsed
// literals) is computed here once, so matching only reads.
namespace qdetail {

enum class Op { kExists, kNotExists, kEq, kNe, kGt, kGe, kLt, kLe, kMatch, kNotMatch };

struct Literal {
  enum class Kind { kNumber, kBool, kString, kDateTime, kDate, kTime } kind = Kind::kString;
  bool is_int = false;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;             // the text of strings, DateTimes, Dates and Times
  bool bare = false;         // a string written without quotes (a URI or a word)
  bool has_instant = false;  // a DateTime, a Date (midnight UTC) or a string that is a DateTime
  Micros instant = 0;
  int64_t time_of_day = 0;  // kTime: microseconds since midnight
};

struct Item {
  Literal lo;
  bool is_range = false;
  Literal hi;
};

// A dotted name after the first: a sub-attribute (expanded IRI) or a core member of the
// attribute (observedAt, ...), which ends the path.
struct Step {
  bool core = false;
  std::string name;
};

struct Path {
  enum class Root { kAttribute, kCreatedAt, kModifiedAt } root = Root::kAttribute;
  std::string attr;  // expanded IRI of the first name
  std::vector<Step> steps;
  bool has_members = false;
  std::vector<std::string> members;  // inside [...]; "*" is any member
  // rel{...}: the path on the linked entities, optionally restricted to these types.
  std::vector<std::string> link_types;
  std::unique_ptr<Path> link;
};

struct Term {
  Path path;
  Op op = Op::kExists;
  std::vector<Item> items;
  std::unique_ptr<RE2> re;
};

}  // namespace qdetail

struct QExpr::Node {
  enum class Kind { kAnd, kOr, kTerm } kind = Kind::kTerm;
  std::vector<std::unique_ptr<Node>> children;
  qdetail::Term term;
};

namespace {

using qdetail::Item;
using qdetail::Literal;
using qdetail::Op;
using qdetail::Path;
using qdetail::Step;
using qdetail::Term;
using Node = QExpr::Node;
using NodePtr = std::unique_ptr<Node>;

constexpr int kMaxNesting = 32;     // parentheses
constexpr int kMaxLinkDepth = 8;    // rel{a{b{...}}}
constexpr int kMaxArrayDepth = 32;  // arrays inside arrays walked by a member path
constexpr int kMaxLookups = 1000;   // linked entities looked up by one Matches

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsHigh(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// Parses "hh:mm:ss[.fraction][Z]" into microseconds since midnight.
bool ParseTimeOfDay(std::string_view s, int64_t* out) {
  if (s.size() < 8 || !IsTime(s)) return false;
  auto two = [&](size_t p) { return (s[p] - '0') * 10 + (s[p + 1] - '0'); };
  int64_t v = ((two(0) * 60LL + two(3)) * 60 + two(6)) * 1000000;
  size_t p = 8;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    int64_t scale = 100000;
    while (p < s.size() && IsDigit(s[p])) {
      v += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
  }
  *out = v;
  return true;
}

// The instant of midnight UTC starting a "YYYY-MM-DD" date.
bool DateMidnight(std::string_view date, Micros* out) {
  if (!IsDate(date)) return false;
  char buf[20];
  std::memcpy(buf, date.data(), 10);
  std::memcpy(buf + 10, "T00:00:00Z", 10);
  auto t = ParseDateTime(std::string_view(buf, sizeof buf));
  if (!t) return false;
  *out = *t;
  return true;
}

// JSON number syntax, leniently allowing leading zeros.
bool LooksLikeNumber(std::string_view s) {
  size_t p = 0;
  if (p < s.size() && s[p] == '-') ++p;
  size_t digits = p;
  while (p < s.size() && IsDigit(s[p])) ++p;
  if (p == digits) return false;
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t f = p;
    while (p < s.size() && IsDigit(s[p])) ++p;
    if (p == f) return false;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
    size_t e = p;
    while (p < s.size() && IsDigit(s[p])) ++p;
    if (p == e) return false;
  }
  return p == s.size();
}

bool IsOrderingOp(Op op) {
  return op == Op::kGt || op == Op::kGe || op == Op::kLt || op == Op::kLe;
}

std::string Describe(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return "'" + std::string(1, c) + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
  return buf;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  Parser(std::string_view text, const std::function<std::string(std::string_view)>& expand,
         const QOptions& options)
      : text_(text), expand_(expand) {
    for (const auto& name : options.expand_values) expand_values_.push_back(expand_(name));
  }

  Result<NodePtr> Parse() {
    SkipSpace();
    if (AtEnd()) return Error("the expression is empty");
    auto n = Or(0);
    if (!n.ok()) return n;
    SkipSpace();
    if (!AtEnd()) {
      if (Peek() == ')') return Error("')' without a matching '('");
      return Error("unexpected " + Describe(Peek()) + " (expected ';', '|' or the end)");
    }
    return n;
  }

 private:
  Status Error(const std::string& what) const { return ErrorAt(pos_, what); }
  Status ErrorAt(size_t pos, const std::string& what) const {
    return Status::BadRequest("invalid q at position " + std::to_string(pos) + ": " + what);
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool LookingAt(std::string_view s) const {
    return pos_ <= text_.size() && text_.size() - pos_ >= s.size() &&
           text_.compare(pos_, s.size(), s) == 0;
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }

  static NodePtr Combine(Node::Kind kind, std::vector<NodePtr> kids) {
    if (kids.size() == 1) return std::move(kids[0]);
    auto n = std::make_unique<Node>();
    n->kind = kind;
    // Flatten a;(b;c) into one conjunction: evaluation stays shallow.
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
      if (Peek() != '|') break;
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
    if (AtEnd()) return Error("a query term is missing");
    if (Peek() == '(') {
      if (depth >= kMaxNesting) return Error("parentheses nested too deeply");
      size_t open = pos_;
      ++pos_;
      auto inner = Or(depth + 1);
      if (!inner.ok()) return inner;
      SkipSpace();
      if (Peek() != ')') {
        if (AtEnd()) return ErrorAt(open, "'(' is not closed");
        return Error("unexpected " + Describe(Peek()) + " (expected ';', '|' or ')')");
      }
      ++pos_;
      return inner;
    }
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::kTerm;
    CIVITAS_RETURN_IF_ERROR(ParseTerm(&n->term));
    return NodePtr(std::move(n));
  }

  Status ParseTerm(Term* t) {
    bool negated = false;
    size_t bang = pos_;
    if (Peek() == '!') {
      negated = true;
      ++pos_;
      SkipSpace();
    }
    CIVITAS_RETURN_IF_ERROR(ParsePath(&t->path, 0));
    SkipSpace();
    Op op;
    if (LookingAt("==")) {
      op = Op::kEq;
      pos_ += 2;
    } else if (LookingAt("!=")) {
      op = Op::kNe;
      pos_ += 2;
    } else if (LookingAt("!~=")) {
      op = Op::kNotMatch;
      pos_ += 3;
    } else if (LookingAt("~=")) {
      op = Op::kMatch;
      pos_ += 2;
    } else if (LookingAt(">=")) {
      op = Op::kGe;
      pos_ += 2;
    } else if (LookingAt("<=")) {
      op = Op::kLe;
      pos_ += 2;
    } else if (LookingAt(">")) {
      op = Op::kGt;
      pos_ += 1;
    } else if (LookingAt("<")) {
      op = Op::kLt;
      pos_ += 1;
    } else {
      if (!AtEnd() && Peek() != ';' && Peek() != '|' && Peek() != ')') {
        if (Peek() == '=') return Error("'=' is not an operator (use '==')");
        return Error("unexpected " + Describe(Peek()) + " after an attribute path");
      }
      t->op = negated ? Op::kNotExists : Op::kExists;
      return Status::Ok();
    }
    if (negated) {
      return ErrorAt(bang, "'!' negates an existence test only (use != or !~=)");
    }
    t->op = op;
    SkipSpace();
    if (AtEnd() || Peek() == ';' || Peek() == '|' || Peek() == ')') {
      return Error("a value is missing after the operator");
    }
    if (op == Op::kMatch || op == Op::kNotMatch) return ParsePattern(t);

    while (true) {
      size_t item_pos = pos_;
      Item item;
      CIVITAS_RETURN_IF_ERROR(ParseItem(&item));
      if (IsOrderingOp(op)) {
        if (item.is_range) return ErrorAt(item_pos, "a range needs == or !=");
        CIVITAS_RETURN_IF_ERROR(CheckComparable(item.lo, item_pos));
      }
      t->items.push_back(std::move(item));
      SkipSpace();
      if (Peek() != ',') break;
      if (IsOrderingOp(op)) return Error("a list of values needs == or !=");
      ++pos_;
      SkipSpace();
    }
    if (t->path.root == Path::Root::kAttribute && !t->path.link &&
        std::find(expand_values_.begin(), expand_values_.end(), t->path.attr) !=
            expand_values_.end()) {
      for (auto& item : t->items) {
        ExpandLiteral(&item.lo);
        if (item.is_range) ExpandLiteral(&item.hi);
      }
    }
    return Status::Ok();
  }

  void ExpandLiteral(Literal* lit) {
    if (lit->kind == Literal::Kind::kString && !lit->has_instant && !lit->s.empty()) {
      lit->s = expand_(lit->s);
    }
  }

  Status CheckComparable(const Literal& lit, size_t pos) const {
    if (lit.kind == Literal::Kind::kBool) {
      return ErrorAt(pos, "true and false take == or != only");
    }
    if (lit.kind == Literal::Kind::kString && lit.bare) {
      return ErrorAt(pos, "expected a number, a quoted string, a DateTime, a Date or a Time");
    }
    return Status::Ok();
  }

  // Literal [".." Literal]
  Status ParseItem(Item* item) {
    size_t start = pos_;
    CIVITAS_RETURN_IF_ERROR(ParseLiteral(&item->lo));
    if (!LookingAt("..")) return Status::Ok();
    pos_ += 2;
    item->is_range = true;
    size_t hi_pos = pos_;
    if (AtEnd() || Peek() == ';' || Peek() == '|' || Peek() == ')' || Peek() == ',') {
      return Error("the range has no upper bound");
    }
    CIVITAS_RETURN_IF_ERROR(ParseLiteral(&item->hi));
    CIVITAS_RETURN_IF_ERROR(CheckComparable(item->lo, start));
    CIVITAS_RETURN_IF_ERROR(CheckComparable(item->hi, hi_pos));
    auto family = [](const Literal& l) {
      switch (l.kind) {
        case Literal::Kind::kNumber:
          return 0;
        case Literal::Kind::kDateTime:
        case Literal::Kind::kDate:
          return 1;
        case Literal::Kind::kTime:
          return 2;
        default:
          return 3;
      }
    };
    if (family(item->lo) != family(item->hi)) {
      return ErrorAt(start, "the bounds of a range are of different types");
    }
    return Status::Ok();
  }

  Status ParseLiteral(Literal* lit) {
    if (Peek() == '"') {
      std::string s;
      CIVITAS_RETURN_IF_ERROR(ParseQuoted(&s, /*lenient=*/false));
      lit->kind = Literal::Kind::kString;
      if (auto t = ParseDateTime(s)) {
        lit->has_instant = true;
        lit->instant = *t;
      }
      lit->s = std::move(s);
      return Status::Ok();
    }
    size_t start = pos_;
    while (!AtEnd()) {
      char c = Peek();
      if (c == ';' || c == '|' || c == ',' || c == '(' || c == ')' || c == '"' || IsSpace(c) ||
          c == '=' || c == '<' || c == '>' || c == '~' || static_cast<unsigned char>(c) < 0x20) {
        break;
      }
      if (c == '.' && Peek(1) == '.') break;
      ++pos_;
    }
    std::string_view tok = text_.substr(start, pos_ - start);
    if (tok.empty()) {
      if (AtEnd()) return Error("a value is missing");
      return Error("unexpected " + Describe(Peek()) + " where a value is expected");
    }
    lit->s = std::string(tok);
    if (tok == "true" || tok == "false") {
      lit->kind = Literal::Kind::kBool;
      lit->b = tok == "true";
      return Status::Ok();
    }
    if (LooksLikeNumber(tok)) {
      lit->kind = Literal::Kind::kNumber;
      const char* first = tok.data();
      const char* last = tok.data() + tok.size();
      bool integral = tok.find_first_of(".eE") == std::string_view::npos;
      if (integral) {
        auto r = std::from_chars(first, last, lit->i);
        if (r.ec == std::errc() && r.ptr == last) {
          lit->is_int = true;
          lit->d = static_cast<double>(lit->i);
          return Status::Ok();
        }
      }
      auto r = std::from_chars(first, last, lit->d);
      if (r.ec != std::errc() || r.ptr != last) {
        return ErrorAt(start, "the number is out of range");
      }
      return Status::Ok();
    }
    if (auto t = ParseDateTime(tok)) {
      lit->kind = Literal::Kind::kDateTime;
      lit->has_instant = true;
      lit->instant = *t;
      return Status::Ok();
    }
    if (DateMidnight(tok, &lit->instant)) {
      lit->kind = Literal::Kind::kDate;
      lit->has_instant = true;
      return Status::Ok();
    }
    if (ParseTimeOfDay(tok, &lit->time_of_day)) {
      lit->kind = Literal::Kind::kTime;
      return Status::Ok();
    }
    lit->kind = Literal::Kind::kString;
    lit->bare = true;
    return Status::Ok();
  }

  // A JSON string at pos_ (which is '"'). Lenient (for patterns): an unknown escape keeps its
  // backslash, so "\d" and "\\d" both give the regular expression \d.
  Status ParseQuoted(std::string* out, bool lenient) {
    size_t open = pos_;
    ++pos_;
    while (true) {
      if (AtEnd()) return ErrorAt(open, "the string is not closed");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Error("a control character in a string must be escaped");
      }
      if (c != '\\') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      size_t esc = pos_;
      if (pos_ + 1 >= text_.size()) return ErrorAt(open, "the string is not closed");
      char e = text_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(pos_, &cp)) return ErrorAt(esc, "invalid \\u escape");
          pos_ += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (pos_ + 1 < text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u' &&
                Hex4(pos_ + 2, &low) && low >= 0xDC00 && low <= 0xDFFF) {
              pos_ += 6;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              return ErrorAt(esc, "unpaired surrogate in a \\u escape");
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return ErrorAt(esc, "unpaired surrogate in a \\u escape");
          }
          AppendUtf8(*out, cp);
          break;
        }
        default:
          if (!lenient) return ErrorAt(esc, "invalid escape in a string");
          out->push_back('\\');
          out->push_back(e);
          break;
      }
    }
  }

  bool Hex4(size_t at, uint32_t* out) const {
    if (at + 4 > text_.size()) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      char c = text_[at + i];
      v <<= 4;
      if (IsDigit(c)) {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }

  Status ParsePattern(Term* t) {
    size_t start = pos_;
    std::string pattern;
    if (Peek() == '"') {
      CIVITAS_RETURN_IF_ERROR(ParseQuoted(&pattern, /*lenient=*/true));
    } else {
      // Unquoted: up to ';', '|' or ')' outside the pattern's own groups and classes.
      int depth = 0;
      bool in_class = false;
      while (!AtEnd()) {
        char c = Peek();
        if (c == '\\') {
          pos_ = std::min(pos_ + 2, text_.size());
          continue;
        }
        if (in_class) {
          if (c == ']') in_class = false;
        } else if (c == '[') {
          in_class = true;
          // A ']' right after '[' or '[^' is a literal member of the class.
          if (Peek(1) == ']') {
            ++pos_;
          } else if (Peek(1) == '^' && Peek(2) == ']') {
            pos_ += 2;
          }
        } else if (c == '(') {
          ++depth;
        } else if (c == ')') {
          if (depth == 0) break;
          --depth;
        } else if ((c == ';' || c == '|') && depth == 0) {
          break;
        }
        ++pos_;
      }
      std::string_view raw = text_.substr(start, pos_ - start);
      while (!raw.empty() && IsSpace(raw.back())) raw.remove_suffix(1);
      pattern = std::string(raw);
    }
    if (pattern.empty()) return ErrorAt(start, "the pattern is empty");
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(8 << 20);
    auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
    if (!re->ok()) return ErrorAt(start, "invalid pattern: " + re->error());
    t->re = std::move(re);
    return Status::Ok();
  }

  // An attribute name: a letter, '_' or a non-ASCII byte, then letters, digits, '_', '-' and
  // non-ASCII bytes; ':' too outside braces (compact IRIs such as schema:name).
  Result<std::string_view> ParseName(bool allow_colon, const char* what) {
    size_t start = pos_;
    if (AtEnd() || !(IsAsciiLetter(Peek()) || Peek() == '_' || IsHigh(Peek()))) {
      if (AtEnd()) return Error(std::string(what) + " is missing");
      return Error(std::string(what) + " is expected, not " + Describe(Peek()));
    }
    ++pos_;
    while (!AtEnd()) {
      char c = Peek();
      if (IsAsciiLetter(c) || IsDigit(c) || c == '_' || c == '-' || IsHigh(c) ||
          (allow_colon && c == ':')) {
        ++pos_;
      } else {
        break;
      }
    }
    return text_.substr(start, pos_ - start);
  }

  static bool IsCoreMember(std::string_view name) {
    return name == "observedAt" || name == "unitCode" || name == "datasetId" ||
           name == "createdAt" || name == "modifiedAt" || name == "objectType";
  }

  Status ParsePath(Path* p, int link_depth) {
    size_t start = pos_;
    auto first = ParseName(/*allow_colon=*/link_depth == 0, "an attribute name");
    if (!first.ok()) return first.status();
    std::string_view name = *first;
    if (name == "id" || name == "type") {
      return ErrorAt(start, "'" + std::string(name) +
                                "' is not an attribute (use the id, idPattern or type parameters)");
    }
    if (name == "createdAt" || name == "modifiedAt") {
      p->root = name == "createdAt" ? Path::Root::kCreatedAt : Path::Root::kModifiedAt;
      if (Peek() == '.' || Peek() == '[' || Peek() == '{') {
        return Error("the entity's " + std::string(name) + " has no members");
      }
      return Status::Ok();
    }
    p->attr = expand_(name);
    if (Peek() == '{') {
      if (link_depth >= kMaxLinkDepth) return Error("linked entities nested too deeply");
      size_t brace = pos_;
      ++pos_;
      p->link = std::make_unique<Path>();
      // Optional type hint: Type1,Type2:attr
      size_t save = pos_;
      if (!AtEnd() && (IsAsciiLetter(Peek()) || Peek() == '_' || IsHigh(Peek()))) {
        auto n = ParseName(false, "an entity type");
        if (n.ok() && (Peek() == ',' || Peek() == ':')) {
          p->link_types.push_back(expand_(*n));
          while (Peek() == ',') {
            ++pos_;
            auto more = ParseName(false, "an entity type");
            if (!more.ok()) return more.status();
            p->link_types.push_back(expand_(*more));
          }
          if (Peek() != ':') return Error("expected ':' after the entity types");
          ++pos_;
        } else {
          pos_ = save;
        }
      }
      CIVITAS_RETURN_IF_ERROR(ParsePath(p->link.get(), link_depth + 1));
      if (Peek() != '}') {
        if (AtEnd()) return ErrorAt(brace, "'{' is not closed");
        return Error("unexpected " + Describe(Peek()) + " (expected '}')");
      }
      ++pos_;
      return Status::Ok();
    }
    while (Peek() == '.' && Peek(1) != '.') {
      ++pos_;
      auto step = ParseName(false, "a sub-attribute name");
      if (!step.ok()) return step.status();
      if (IsCoreMember(*step)) {
        p->steps.push_back(Step{true, std::string(*step)});
        if (Peek() == '.' || Peek() == '[') {
          return Error("'" + std::string(*step) + "' has no members");
        }
        return Status::Ok();
      }
      p->steps.push_back(Step{false, expand_(*step)});
    }
    if (Peek() == '[') {
      size_t open = pos_;
      ++pos_;
      p->has_members = true;
      while (true) {
        size_t m = pos_;
        while (!AtEnd()) {
          char c = Peek();
          if (c == '.' || c == ']' || c == '[' || static_cast<unsigned char>(c) < 0x20) break;
          ++pos_;
        }
        if (pos_ == m) {
          if (AtEnd()) return ErrorAt(open, "'[' is not closed");
          return Error("a member name is expected, not " + Describe(Peek()));
        }
        p->members.emplace_back(text_.substr(m, pos_ - m));
        if (Peek() == '.') {
          ++pos_;
          continue;
        }
        if (Peek() == ']') break;
        if (AtEnd()) return ErrorAt(open, "'[' is not closed");
        return Error("unexpected " + Describe(Peek()) + " in a member path");
      }
      ++pos_;
      if (Peek() == '[' || Peek() == '.') {
        return Error("nothing may follow the member path in brackets");
      }
    }
    return Status::Ok();
  }

  std::string_view text_;
  const std::function<std::string(std::string_view)>& expand_;
  std::vector<std::string> expand_values_;
  size_t pos_ = 0;
};

// ---- Matching -----------------------------------------------------------------------------

// Typed values such as {"@type": "DateTime", "@value": "..."} compare by their @value.
const Json& Unwrap(const Json& v) {
  if (v.is_object()) {
    if (const Json* inner = v.Find("@value")) return *inner;
  }
  return v;
}

template <typename T>
int Sign(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Compares a target value with a literal: false when their types do not compare.
bool Compare(const Json& raw, const Literal& lit, int* cmp) {
  const Json& v = Unwrap(raw);
  switch (lit.kind) {
    case Literal::Kind::kNumber:
      if (!v.is_number()) return false;
      if (v.is_int() && lit.is_int) {
        *cmp = Sign(v.as_int(), lit.i);
      } else {
        double d = v.as_double();
        *cmp = Sign(d, lit.d);
      }
      return true;
    case Literal::Kind::kBool:
      if (!v.is_bool()) return false;
      *cmp = Sign(v.as_bool(), lit.b);
      return true;
    case Literal::Kind::kString: {
      if (!v.is_string()) return false;
      const std::string& s = v.as_string();
      if (lit.has_instant) {
        if (auto t = ParseDateTime(s)) {
          *cmp = Sign(*t, lit.instant);
          return true;
        }
      }
      int c = std::string_view(s).compare(lit.s);
      *cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
      return true;
    }
    case Literal::Kind::kDateTime: {
      if (!v.is_string()) return false;
      Micros t;
      if (auto parsed = ParseDateTime(v.as_string())) {
        t = *parsed;
      } else if (!DateMidnight(v.as_string(), &t)) {
        return false;
      }
      *cmp = Sign(t, lit.instant);
      return true;
    }
    case Literal::Kind::kDate: {
      if (!v.is_string()) return false;
      const std::string& s = v.as_string();
      if (IsDate(s)) {
        int c = std::string_view(s).compare(lit.s);
        *cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
        return true;
      }
      auto t = ParseDateTime(s);
      if (!t) return false;
      *cmp = Sign(*t, lit.instant);
      return true;
    }
    case Literal::Kind::kTime: {
      if (!v.is_string()) return false;
      int64_t t;
      if (!ParseTimeOfDay(v.as_string(), &t)) return false;
      *cmp = Sign(t, lit.time_of_day);
      return true;
    }
  }
  return false;
}

// Compares an entity system timestamp with a literal.
bool CompareInstant(Micros t, const Literal& lit, int* cmp) {
  if (!lit.has_instant) return false;
  *cmp = Sign(t, lit.instant);
  return true;
}

template <typename V, typename C>
bool ItemsEqual(const V& v, const std::vector<Item>& items, C compare) {
  for (const auto& item : items) {
    int c;
    if (!item.is_range) {
      if (compare(v, item.lo, &c) && c == 0) return true;
    } else if (compare(v, item.lo, &c) && c >= 0 && compare(v, item.hi, &c) && c <= 0) {
      return true;
    }
  }
  return false;
}

bool Ordered(int c, Op op) {
  switch (op) {
    case Op::kGt:
      return c > 0;
    case Op::kGe:
      return c >= 0;
    case Op::kLt:
      return c < 0;
    case Op::kLe:
      return c <= 0;
    default:
      return false;
  }
}

// Entity::FindSlot, with cheap rejections first: attribute IRIs mostly share long prefixes
// (the default vocabulary), so comparing whole names dominated a scan.
const ngsild::AttributeSlot* FindSlot(const ngsild::Entity& e, const std::string& name) {
  const size_t n = name.size();
  if (n < 8) {
    for (const auto& slot : e.attrs) {
      if (slot.name == name) return &slot;
    }
    return nullptr;
  }
  uint64_t tail;
  std::memcpy(&tail, name.data() + n - 8, 8);
  for (const auto& slot : e.attrs) {
    if (slot.name.str().size() != n) continue;
    uint64_t other;
    std::memcpy(&other, slot.name.str().data() + n - 8, 8);
    if (other == tail && std::memcmp(slot.name.str().data(), name.data(), n - 8) == 0) return &slot;
  }
  return nullptr;
}

// Json::Find for the short core member names, without a library call per member.
const Json* FindMember(const Json& object, std::string_view key) {
  if (!object.is_object() || key.empty()) return nullptr;
  for (const auto& [k, v] : object.as_object()) {
    if (k.size() != key.size() || k[0] != key[0]) continue;
    size_t i = 1;
    while (i < key.size() && k[i] == key[i]) ++i;
    if (i == key.size()) return &v;
  }
  return nullptr;
}

// What the matcher needs of an attribute's type.
struct KindInfo {
  std::string_view type;
  std::string_view member;  // the value member
  bool relationship;
  bool language;
};

constexpr KindInfo kKinds[] = {
    {"Property", "value", false, false},
    {"Relationship", "object", true, false},
    {"GeoProperty", "value", false, false},
    {"LanguageProperty", "languageMap", false, true},
    {"VocabProperty", "vocab", false, false},
    {"ListProperty", "valueList", false, false},
    {"ListRelationship", "objectList", true, false},
    {"JsonProperty", "json", false, false},
};

const KindInfo* FindKind(std::string_view type) {
  for (const auto& k : kKinds) {
    if (k.type.size() == type.size() && k.type[0] == type[0] && k.type == type) return &k;
  }
  return nullptr;
}

// Walks the target values of a path inside one entity. Visit functions return true to stop
// (the answer is known); `exists` records whether the target element exists at all.
template <typename F>
class TargetWalker {
 public:
  TargetWalker(const Path& p, F& f) : p_(p), f_(f) {}
  bool exists = false;

  bool Slot(const ngsild::AttributeSlot& slot) {
    for (const auto& inst : slot.instances) {
      if (SystemTime(inst) || Instance(inst, 0)) return true;
    }
    return false;
  }

 private:
  // attr.createdAt and attr.modifiedAt: the instance's system times, kept beside its members;
  // compared as DateTime text, as the members they stand for. False for other paths.
  bool SystemTime(const ngsild::Attribute& inst) {
    if (p_.steps.empty() || !p_.steps[0].core) return false;
    const std::string& name = p_.steps[0].name;
    if (name != "createdAt" && name != "modifiedAt") return false;
    Micros time = name == "createdAt" ? inst.created_at : inst.modified_at;
    if (time == 0) return false;
    exists = true;
    return Emit(Json(FormatDateTime(time)), false);
  }

  bool Instance(const Json& inst, size_t k) {
    if (!inst.is_object()) return false;
    if (k < p_.steps.size()) {
      const Step& step = p_.steps[k];
      const Json* m = inst.Find(step.name);
      if (m == nullptr) return false;
      if (step.core) {
        exists = true;
        return Emit(*m, false);
      }
      if (m->is_array()) {  // tolerate sub-attribute instances given as an array
        for (const auto& el : m->as_array()) {
          if (Instance(el, k + 1)) return true;
        }
        return false;
      }
      return Instance(*m, k + 1);
    }
    const Json* type = FindMember(inst, "type");
    const KindInfo* kind =
        type != nullptr && type->is_string() ? FindKind(type->as_string()) : nullptr;
    bool relationship = kind != nullptr && kind->relationship;
    bool language = kind != nullptr && kind->language;
    const Json* seed = nullptr;
    if (kind != nullptr) {
      seed = FindMember(inst, kind->member);
    } else {
      for (const char* member :
           {"value", "object", "languageMap", "vocab", "valueList", "objectList", "json"}) {
        if ((seed = FindMember(inst, member)) != nullptr) break;
      }
    }
    if (!p_.has_members) {
      exists = true;
      if (seed == nullptr) return false;
      if (language && seed->is_object()) {
        for (const auto& [lang, text] : seed->as_object()) {
          if (Emit(text, false)) return true;
        }
        return false;
      }
      return Emit(*seed, relationship);
    }
    if (seed == nullptr) return false;
    return Members(*seed, 0, 0);
  }

  bool Members(const Json& v, size_t mi, int array_depth) {
    if (mi >= p_.members.size()) {
      exists = true;
      return Emit(v, false);
    }
    const std::string& name = p_.members[mi];
    if (v.is_object()) {
      if (name == "*") {
        for (const auto& [key, child] : v.as_object()) {
          if (Members(child, mi + 1, 0)) return true;
        }
        return false;
      }
      const Json* m = v.Find(name);
      return m != nullptr && Members(*m, mi + 1, 0);
    }
    if (v.is_array()) {
      const auto& arr = v.as_array();
      if (name == "*") {
        for (const auto& el : arr) {
          if (Members(el, mi + 1, 0)) return true;
        }
        return false;
      }
      size_t index = 0;
      auto r = std::from_chars(name.data(), name.data() + name.size(), index);
      if (r.ec == std::errc() && r.ptr == name.data() + name.size()) {
        return index < arr.size() && Members(arr[index], mi + 1, 0);
      }
      if (array_depth >= kMaxArrayDepth) return false;
      for (const auto& el : arr) {
        if (Members(el, mi, array_depth + 1)) return true;
      }
    }
    return false;
  }

  // A value counts as itself, or when it is an array, as each of its elements.
  bool Emit(const Json& v, bool relationship) {
    if (v.is_array()) {
      for (const auto& el : v.as_array()) {
        if (One(el, relationship)) return true;
      }
      return false;
    }
    return One(v, relationship);
  }

  bool One(const Json& v, bool relationship) {
    if (relationship && v.is_object()) {  // objectList entries may be {"object": uri}
      if (const Json* o = v.Find("object")) return f_(*o, true);
    }
    return f_(v, relationship);
  }

  const Path& p_;
  F& f_;
};

// How linked entities are found, and how many more lookups one Matches may make: objects
// multiply at every level of rel{a{b}}, so without a budget a few lists of objects would make
// the work exponential in the nesting.
struct Links {
  const EntityLookup* lookup = nullptr;
  int budget = kMaxLookups;
};

bool EvalTerm(const Term& t, const Path& p, const ngsild::Entity& e, Links* links);

// rel{...}: the term holds on some linked entity (existence negated: on none).
bool EvalLinked(const Term& t, const Path& p, const ngsild::Entity& e, Links* links) {
  const ngsild::AttributeSlot* slot = FindSlot(e, p.attr);
  bool negate = t.op == Op::kNotExists;
  if (slot == nullptr || links->lookup == nullptr || !*links->lookup) return negate;
  bool found = false;
  auto visit = [&](const Json& v, bool relationship) {
    if (!relationship || !v.is_string()) return false;
    if (links->budget <= 0) return false;
    --links->budget;
    ngsild::EntityPtr linked = (*links->lookup)(v.as_string());
    if (!linked) return false;
    if (!p.link_types.empty()) {
      bool typed = false;
      for (const auto& type : p.link_types) typed = typed || linked->HasType(type);
      if (!typed) return false;
    }
    if (negate) {
      Term exists_term;
      // Only op is read for existence; avoid copying the term's values.
      exists_term.op = Op::kExists;
      found = EvalTerm(exists_term, *p.link, *linked, links);
    } else {
      found = EvalTerm(t, *p.link, *linked, links);
    }
    return found;
  };
  // A path with a link has no steps or members, so the walker yields the relationship's objects.
  TargetWalker<decltype(visit)> walker(p, visit);
  walker.Slot(*slot);
  return negate ? !found : found;
}

bool EvalInstant(const Term& t, Micros time) {
  int c;
  switch (t.op) {
    case Op::kExists:
      return true;
    case Op::kNotExists:
      return false;
    case Op::kEq:
      return ItemsEqual(time, t.items, CompareInstant);
    case Op::kNe:
      return !ItemsEqual(time, t.items, CompareInstant);
    case Op::kGt:
    case Op::kGe:
    case Op::kLt:
    case Op::kLe:
      return !t.items.empty() && CompareInstant(time, t.items[0].lo, &c) && Ordered(c, t.op);
    case Op::kMatch:
    case Op::kNotMatch:
      return false;
  }
  return false;
}

bool EvalTerm(const Term& t, const Path& p, const ngsild::Entity& e, Links* links) {
  if (p.root == Path::Root::kCreatedAt) return EvalInstant(t, e.created_at);
  if (p.root == Path::Root::kModifiedAt) return EvalInstant(t, e.modified_at);
  if (p.link) return EvalLinked(t, p, e, links);
  const ngsild::AttributeSlot* slot = FindSlot(e, p.attr);
  if (slot == nullptr) return t.op == Op::kNotExists;
  switch (t.op) {
    case Op::kExists:
    case Op::kNotExists: {
      auto stop = [](const Json&, bool) { return true; };
      TargetWalker<decltype(stop)> w(p, stop);
      w.Slot(*slot);
      return (t.op == Op::kExists) == w.exists;
    }
    case Op::kEq:
    case Op::kNe: {
      auto eq = [&](const Json& v, bool) { return ItemsEqual(v, t.items, Compare); };
      TargetWalker<decltype(eq)> w(p, eq);
      bool any = w.Slot(*slot);
      return t.op == Op::kEq ? any : (w.exists && !any);
    }
    case Op::kGt:
    case Op::kGe:
    case Op::kLt:
    case Op::kLe: {
      if (t.items.empty()) return false;
      const Literal& lit = t.items[0].lo;
      auto ordered = [&](const Json& v, bool relationship) {
        int c;
        return !relationship && Compare(v, lit, &c) && Ordered(c, t.op);
      };
      TargetWalker<decltype(ordered)> w(p, ordered);
      return w.Slot(*slot);
    }
    case Op::kMatch:
    case Op::kNotMatch: {
      if (!t.re) return false;
      bool saw_string = false;
      auto match = [&](const Json& raw, bool relationship) {
        if (relationship) return false;
        const Json& v = Unwrap(raw);
        if (!v.is_string()) return false;
        saw_string = true;
        const std::string& s = v.as_string();
        return RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *t.re);
      };
      TargetWalker<decltype(match)> w(p, match);
      bool any = w.Slot(*slot);
      return t.op == Op::kMatch ? any : (saw_string && !any);
    }
  }
  return false;
}

bool Eval(const Node& n, const ngsild::Entity& e, Links* links) {
  switch (n.kind) {
    case Node::Kind::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(*c, e, links)) return false;
      }
      return true;
    case Node::Kind::kOr:
      for (const auto& c : n.children) {
        if (Eval(*c, e, links)) return true;
      }
      return false;
    case Node::Kind::kTerm:
      return EvalTerm(n.term, n.term.path, e, links);
  }
  return false;
}

void CollectAttributes(const Node& n, std::vector<std::string>* out) {
  if (n.kind != Node::Kind::kTerm) {
    for (const auto& c : n.children) CollectAttributes(*c, out);
    return;
  }
  const Path& p = n.term.path;
  if (p.root != Path::Root::kAttribute) return;
  if (std::find(out->begin(), out->end(), p.attr) == out->end()) out->push_back(p.attr);
}

int Depth(const Node& n) {
  if (n.kind != Node::Kind::kTerm) {
    int d = 0;
    for (const auto& c : n.children) d = std::max(d, Depth(*c));
    return d;
  }
  int d = 0;
  for (const Path* p = &n.term.path; p->link; p = p->link.get()) ++d;
  return d;
}

bool IndexableLiteral(const Literal& lit, Json* out) {
  switch (lit.kind) {
    case Literal::Kind::kNumber:
      *out = lit.is_int ? Json(lit.i) : Json(lit.d);
      return true;
    case Literal::Kind::kBool:
      *out = Json(lit.b);
      return true;
    case Literal::Kind::kString:
      if (lit.has_instant || IsDate(lit.s) || IsTime(lit.s)) return false;
      *out = Json(lit.s);
      return true;
    default:
      return false;
  }
}

void CollectIndexable(const Node& n, std::vector<QExpr::Comparison>* out) {
  if (n.kind != Node::Kind::kTerm) return;
  const Term& t = n.term;
  const Path& p = t.path;
  if (p.root != Path::Root::kAttribute || p.link || !p.steps.empty() || p.has_members) return;
  if (t.items.size() != 1) return;
  const Item& item = t.items[0];
  const char* op = nullptr;
  switch (t.op) {
    case Op::kEq:
      op = "==";
      break;
    case Op::kGt:
      op = ">";
      break;
    case Op::kGe:
      op = ">=";
      break;
    case Op::kLt:
      op = "<";
      break;
    case Op::kLe:
      op = "<=";
      break;
    default:
      return;
  }
  Json lo, hi;
  if (!IndexableLiteral(item.lo, &lo)) return;
  if (!item.is_range) {
    out->push_back({p.attr, op, std::move(lo)});
    return;
  }
  if (!IndexableLiteral(item.hi, &hi)) return;
  out->push_back({p.attr, ">=", std::move(lo)});
  out->push_back({p.attr, "<=", std::move(hi)});
}

// ---- Index planning -------------------------------------------------------------------------

// A literal as an index bound; false when no index answers comparisons with it exactly or as a
// superset (Dates, Times, and strings that are DateTimes compare in mixed ways).
bool PlanBound(const Literal& lit, IndexPlan::ValueKind* kind, IndexPlan::Bound* b, bool* exact) {
  *exact = true;
  switch (lit.kind) {
    case Literal::Kind::kNumber:
      *kind = IndexPlan::ValueKind::kNumber;
      b->number = lit.is_int ? static_cast<double>(lit.i) : lit.d;
      // Integers compare exactly, the index by doubles: beyond 2^53 only a superset.
      if (lit.is_int && (lit.i > (int64_t{1} << 53) || lit.i < -(int64_t{1} << 53))) {
        *exact = false;
      }
      return true;
    case Literal::Kind::kBool:
      *kind = IndexPlan::ValueKind::kBool;
      b->number = lit.b ? 1 : 0;
      return true;
    case Literal::Kind::kString:
      if (lit.has_instant) return false;
      *kind = IndexPlan::ValueKind::kString;
      b->text = lit.s;
      return true;
    case Literal::Kind::kDateTime:
      *kind = IndexPlan::ValueKind::kInstant;
      b->instant = lit.instant;
      return true;
    default:
      return false;
  }
}

IndexPlan PlanTerm(const Term& t) {
  const Path& p = t.path;
  if (p.root != Path::Root::kAttribute || p.link || t.op == Op::kNotExists) {
    return IndexPlan::All(false);
  }
  IndexPlan has;  // every other term needs the attribute's slot
  has.kind = IndexPlan::Kind::kAttr;
  has.name = p.attr;
  if (!p.steps.empty() || p.has_members) return has;
  if (t.op == Op::kExists) {
    has.existence_term = true;
    has.exact = true;
    return has;
  }
  if (t.op != Op::kEq && t.op != Op::kGt && t.op != Op::kGe && t.op != Op::kLt && t.op != Op::kLe) {
    return has;
  }
  IndexPlan any;
  any.kind = IndexPlan::Kind::kOr;
  any.exact = true;
  for (const Item& item : t.items) {
    IndexPlan v;
    v.kind = IndexPlan::Kind::kValue;
    v.name = p.attr;
    v.ordering = t.op != Op::kEq;
    IndexPlan::Bound lo;
    bool exact = true;
    if (!PlanBound(item.lo, &v.value_kind, &lo, &exact)) return has;
    v.exact = exact;
    if (item.is_range) {
      IndexPlan::ValueKind hi_kind;
      IndexPlan::Bound hi;
      if (!PlanBound(item.hi, &hi_kind, &hi, &exact) || hi_kind != v.value_kind) return has;
      v.exact = v.exact && exact;
      v.lo = lo;
      v.hi = hi;
    } else if (t.op == Op::kEq) {
      v.lo = lo;
      v.hi = lo;
    } else if (t.op == Op::kGt || t.op == Op::kGe) {
      lo.inclusive = t.op == Op::kGe;
      v.lo = lo;
    } else {
      lo.inclusive = t.op == Op::kLe;
      v.hi = lo;
    }
    any.exact = any.exact && v.exact;
    any.children.push_back(std::move(v));
  }
  if (any.children.empty()) return has;
  if (any.children.size() == 1) return std::move(any.children[0]);
  return any;
}

IndexPlan PlanNode(const Node& n) {
  if (n.kind == Node::Kind::kTerm) return PlanTerm(n.term);
  IndexPlan out;
  out.kind = n.kind == Node::Kind::kAnd ? IndexPlan::Kind::kAnd : IndexPlan::Kind::kOr;
  out.exact = true;
  for (const auto& c : n.children) {
    IndexPlan child = PlanNode(*c);
    out.exact = out.exact && child.exact;
    out.children.push_back(std::move(child));
  }
  return out;
}

}  // namespace

QExpr::QExpr() = default;

Result<QExpr> QExpr::Parse(std::string_view text,
                           const std::function<std::string(std::string_view)>& expand,
                           const QOptions& options) {
  auto root = Parser(text, expand, options).Parse();
  if (!root.ok()) return root.status();
  QExpr q;
  q.root_ = std::shared_ptr<const Node>(std::move(*root));
  return q;
}

bool QExpr::Matches(const ngsild::Entity& e) const {
  Links links;
  return !root_ || Eval(*root_, e, &links);
}

bool QExpr::Matches(const ngsild::Entity& e, const EntityLookup& lookup) const {
  Links links;
  links.lookup = &lookup;
  return !root_ || Eval(*root_, e, &links);
}

std::vector<std::string> QExpr::Attributes() const {
  std::vector<std::string> out;
  if (root_) CollectAttributes(*root_, &out);
  return out;
}

int QExpr::LinkDepth() const { return root_ ? Depth(*root_) : 0; }

std::vector<QExpr::Comparison> QExpr::IndexableTerms() const {
  std::vector<Comparison> out;
  if (!root_) return out;
  if (root_->kind == Node::Kind::kTerm) {
    CollectIndexable(*root_, &out);
  } else if (root_->kind == Node::Kind::kAnd) {
    for (const auto& c : root_->children) CollectIndexable(*c, &out);
  }
  return out;
}

IndexPlan QExpr::Plan() const { return root_ ? PlanNode(*root_) : IndexPlan::All(true); }

void ForEachTargetValue(const ngsild::AttributeSlot& slot,
                        const std::function<void(const Json& value, bool relationship)>& fn) {
  Path path;
  auto visit = [&](const Json& v, bool relationship) {
    fn(Unwrap(v), relationship);
    return false;
  };
  TargetWalker<decltype(visit)> w(path, visit);
  w.Slot(slot);
}

bool TargetInstant(const Json& raw, Micros* out) {
  const Json& v = Unwrap(raw);
  if (!v.is_string()) return false;
  if (auto t = ParseDateTime(v.as_string())) {
    *out = *t;
    return true;
  }
  return DateMidnight(v.as_string(), out);
}

}  // namespace civitas::query
