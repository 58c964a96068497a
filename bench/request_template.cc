#include "request_template.h"

#include <charconv>
#include "common/strings.h"

namespace civitas::bench {
namespace {

std::string_view Format(uint64_t v, char (&buf)[24]) {
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string_view(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

std::vector<RequestTemplate::Piece> RequestTemplate::Split(std::string_view text) {
  std::vector<Piece> pieces;
  std::string literal;
  size_t pos = 0;
  while (pos < text.size()) {
    Kind kind = Kind::kLiteral;
    size_t skip = 0;
    if (text.compare(pos, 3, "{i}") == 0) {
      kind = Kind::kIndex;
      skip = 3;
    } else if (text.compare(pos, 6, "{rand}") == 0) {
      kind = Kind::kRand;
      skip = 6;
    }
    if (kind == Kind::kLiteral) {
      literal += text[pos++];
      continue;
    }
    if (!literal.empty()) pieces.push_back({Kind::kLiteral, std::move(literal)});
    literal.clear();
    pieces.push_back({kind, {}});
    pos += skip;
  }
  if (!literal.empty()) pieces.push_back({Kind::kLiteral, std::move(literal)});
  return pieces;
}

Result<RequestTemplate> RequestTemplate::Compile(std::string_view method,
                                                 std::string_view host_header,
                                                 std::string_view path,
                                                 const std::vector<std::string>& headers,
                                                 std::string_view body) {
  if (method.empty() || method.find_first_of(" \r\n") != std::string_view::npos) {
    return Status::InvalidRequest("bad method");
  }
  if (path.empty() || path[0] != '/' || path.find_first_of(" \r\n") != std::string_view::npos) {
    return Status::InvalidRequest("the path must start with / and contain no spaces");
  }
  RequestTemplate t;
  t.is_head_ = method == "HEAD";
  t.line_ = Split(std::string(method) + " " + std::string(path));
  t.body_ = Split(body);
  std::string lines;
  bool has_host = false;
  for (const std::string& h : headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidRequest("bad header (expected \"Name: value\"): " + h);
    }
    if (StartsWithIgnoreCase(h, "content-length:")) {
      return Status::InvalidRequest("Content-Length is computed per request; do not set it");
    }
    if (StartsWithIgnoreCase(h, "host:")) has_host = true;
    lines += h;
    lines += "\r\n";
  }
  t.head_ = " HTTP/1.1\r\n";
  if (!has_host) t.head_ += "Host: " + std::string(host_header) + "\r\n";
  t.head_ += lines;
  t.with_length_ = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  for (const auto* pieces : {&t.line_, &t.body_}) {
    for (const Piece& p : *pieces) {
      t.uses_index_ |= p.kind == Kind::kIndex;
      t.uses_rand_ |= p.kind == Kind::kRand;
    }
  }
  if (!t.uses_index_ && !t.uses_rand_) {
    std::string fixed;
    t.Append(fixed, 0, 0);
    t.fixed_ = std::move(fixed);
  }
  return t;
}

size_t RequestTemplate::PiecesLength(const std::vector<Piece>& pieces, size_t index_len,
                                     size_t rand_len) {
  size_t n = 0;
  for (const Piece& p : pieces) {
    switch (p.kind) {
      case Kind::kLiteral:
        n += p.literal.size();
        break;
      case Kind::kIndex:
        n += index_len;
        break;
      case Kind::kRand:
        n += rand_len;
        break;
    }
  }
  return n;
}

void RequestTemplate::AppendPieces(std::string& out, const std::vector<Piece>& pieces,
                                   std::string_view index, std::string_view rand) {
  for (const Piece& p : pieces) {
    switch (p.kind) {
      case Kind::kLiteral:
        out += p.literal;
        break;
      case Kind::kIndex:
        out += index;
        break;
      case Kind::kRand:
        out += rand;
        break;
    }
  }
}

void RequestTemplate::Append(std::string& out, uint64_t index, uint64_t rand) const {
  if (!fixed_.empty()) {
    out += fixed_;
    return;
  }
  char ibuf[24], rbuf[24];
  std::string_view i = Format(index, ibuf);
  std::string_view r = Format(rand, rbuf);
  AppendPieces(out, line_, i, r);
  out += head_;
  if (with_length_) {
    char lbuf[24];
    out += "Content-Length: ";
    out += Format(PiecesLength(body_, i.size(), r.size()), lbuf);
    out += "\r\n";
  }
  out += "\r\n";
  AppendPieces(out, body_, i, r);
}

}  // namespace civitas::bench
