#include "ngsild/projection.h"

#include "ngsild/parse.h"

namespace civitas::ngsild {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const std::function<std::string(std::string_view)>& expand)
      : text_(text), expand_(expand) {}

  Result<std::shared_ptr<const Projection>> Parse() {
    auto p = List(0);
    if (!p.ok()) return p.status();
    if (pos_ != text_.size()) return Error("unexpected '" + std::string(1, text_[pos_]) + "'");
    return p;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::BadRequest("invalid pick/omit expression at position " +
                              std::to_string(pos_) + ": " + what);
  }

  Result<std::shared_ptr<const Projection>> List(int depth) {
    if (depth > 8) return Error("nested too deeply");
    auto p = std::make_shared<Projection>();
    for (;;) {
      size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '{' &&
             text_[pos_] != '}') {
        ++pos_;
      }
      std::string_view name = text_.substr(start, pos_ - start);
      if (name.empty()) return Error("a member name is missing");
      if (!IsValidName(name)) return Error("invalid member name '" + std::string(name) + "'");
      Projection::Item item;
      item.name = (name == "id" || name == "type" || name == "scope") ? std::string(name)
                                                                      : expand_(name);
      if (pos_ < text_.size() && text_[pos_] == '{') {
        ++pos_;
        auto nested = List(depth + 1);
        if (!nested.ok()) return nested.status();
        if (pos_ >= text_.size() || text_[pos_] != '}') return Error("'{' is not closed");
        ++pos_;
        item.nested = std::move(*nested);
      }
      p->items.push_back(std::move(item));
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      return std::shared_ptr<const Projection>(std::move(p));
    }
  }

  std::string_view text_;
  const std::function<std::string(std::string_view)>& expand_;
  size_t pos_ = 0;
};

}  // namespace

bool Projection::Contains(std::string_view name) const {
  for (const auto& i : items) {
    if (i.name == name) return true;
  }
  return false;
}

std::shared_ptr<const Projection> Projection::Nested(std::string_view name) const {
  for (const auto& i : items) {
    if (i.name == name) return i.nested;
  }
  return nullptr;
}

Result<std::shared_ptr<const Projection>> ParseProjection(
    std::string_view text, const std::function<std::string(std::string_view)>& expand) {
  return Parser(text, expand).Parse();
}

}  // namespace civitas::ngsild
