#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace civitas::bench {

// An HTTP/1.1 request compiled once and formatted cheaply for every send. The path and the body
// may hold placeholders:
//   {i}     the request's index (a counter modulo a range, or a random number in a range: the
//           caller decides);
//   {rand}  a random number (the caller draws it).
// Everything that does not depend on them (request line pieces, Host, the caller's headers) is
// precomputed; a request without placeholders is one precomputed string.
class RequestTemplate {
 public:
  // headers are "Name: value" lines. A Host header is added when absent; Content-Length is
  // computed per request and must not be given.
  static Result<RequestTemplate> Compile(std::string_view method, std::string_view host_header,
                                         std::string_view path,
                                         const std::vector<std::string>& headers,
                                         std::string_view body);

  bool uses_index() const { return uses_index_; }
  bool uses_rand() const { return uses_rand_; }
  bool is_head() const { return is_head_; }

  // Appends the request formatted with this index and random number to out.
  void Append(std::string& out, uint64_t index, uint64_t rand) const;

 private:
  enum class Kind : uint8_t { kLiteral, kIndex, kRand };
  struct Piece {
    Kind kind;
    std::string literal;
  };
  static std::vector<Piece> Split(std::string_view text);
  static void AppendPieces(std::string& out, const std::vector<Piece>& pieces,
                           std::string_view index, std::string_view rand);
  static size_t PiecesLength(const std::vector<Piece>& pieces, size_t index_len, size_t rand_len);

  std::string fixed_;        // the whole request, when there are no placeholders
  std::vector<Piece> line_;  // "METHOD path" with placeholders
  std::string head_;         // " HTTP/1.1\r\n" and the header lines
  std::vector<Piece> body_;
  bool with_length_ = false;  // send Content-Length (a body, or a method that expects one)
  bool uses_index_ = false;
  bool uses_rand_ = false;
  bool is_head_ = false;
};

}  // namespace civitas::bench
