#include "http/request_parser.h"

#include <array>
#include <cstring>
#include <utility>

#include "common/strings.h"

namespace civitas::http {
namespace {

// Longest method accepted; anything longer is not a method we could implement.
constexpr size_t kMaxMethodBytes = 32;
// " HTTP/1.1\r" plus slack, beyond the method and the target.
constexpr size_t kRequestLineSlack = 16;
// A chunk-size line with extensions, or the CRLF after chunk data.
constexpr size_t kMaxChunkLineBytes = 4096;
constexpr int kMaxLeadingBlankLines = 4;

// tchar from RFC 9110 5.6.2, mapped to its lower-case form; 0 for anything else.
constexpr std::array<char, 256> MakeTokenTable() {
  std::array<char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<char>(c - 'A' + 'a');
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = c;
  return t;
}
constexpr std::array<char, 256> kToken = MakeTokenTable();

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (kToken[static_cast<unsigned char>(c)] == 0) return false;
  }
  return true;
}

// field-value characters: VCHAR, obs-text, SP and HTAB.
bool IsFieldValue(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// request-target characters: visible ASCII only (no spaces, controls or raw UTF-8).
bool IsTargetChars(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Calls fn(token) for each non-empty, trimmed element of a comma-separated list.
template <typename Fn>
void ForEachListElement(std::string_view list, Fn fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

const std::string* Request::FindHeader(std::string_view lower_name) const {
  for (const Header& h : headers) {
    if (h.name == lower_name) return &h.value;
  }
  return nullptr;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

RequestParser::State RequestParser::state() const {
  if (phase_ == Phase::kDone) return State::kComplete;
  if (phase_ == Phase::kError) return State::kError;
  return State::kIncomplete;
}

bool RequestParser::TakeContinueExpected() { return std::exchange(continue_pending_, false); }

void RequestParser::Reset() {
  phase_ = Phase::kRequestLine;
  request_ = Request();
  line_buf_.clear();
  header_bytes_ = 0;
  remaining_ = 0;
  blank_lines_ = 0;
  minor_ = 1;
  host_count_ = 0;
  started_ = false;
  keep_alive_ = true;
  conn_close_ = false;
  conn_keep_alive_ = false;
  has_content_length_ = false;
  content_length_ = 0;
  has_transfer_encoding_ = false;
  transfer_encoding_.clear();
  expect_continue_ = false;
  continue_pending_ = false;
  error_status_ = 0;
  error_detail_.clear();
}

Request RequestParser::TakeRequest() {
  Request r = std::move(request_);
  Reset();
  return r;
}

bool RequestParser::Fail(int status, std::string detail) {
  phase_ = Phase::kError;
  error_status_ = status;
  error_detail_ = std::move(detail);
  line_buf_.clear();
  return false;
}

size_t RequestParser::Feed(std::string_view data) {
  size_t pos = 0;
  while (pos < data.size()) {
    switch (phase_) {
      case Phase::kDone:
      case Phase::kError:
        return pos;

      case Phase::kBodyLength:
      case Phase::kChunkData: {
        size_t n = data.size() - pos;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        request_.body.append(data.data() + pos, n);
        pos += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          phase_ = phase_ == Phase::kBodyLength ? Phase::kDone : Phase::kChunkDataEnd;
        }
        break;
      }

      case Phase::kRequestLine: {
        // Skip empty lines before a request (RFC 9112 2.2) without treating them as a start.
        if (line_buf_.empty()) {
          while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) {
            if (data[pos] == '\n' && ++blank_lines_ > kMaxLeadingBlankLines) {
              Fail(400, "too many empty lines before the request line");
              return pos;
            }
            ++pos;
          }
          if (pos == data.size()) return pos;
        }
        started_ = true;
        std::string_view line;
        if (!NextLine(data, &pos, &line)) return phase_ == Phase::kError ? pos : data.size();
        bool ok = ParseRequestLine(line);
        line_buf_.clear();
        if (!ok) return pos;
        break;
      }

      default: {
        std::string_view line;
        if (!NextLine(data, &pos, &line)) return phase_ == Phase::kError ? pos : data.size();
        bool ok = true;
        switch (phase_) {
          case Phase::kHeaders:
            ok = line.empty() ? FinishHeaders() : ParseHeaderLine(line, /*trailer=*/false);
            break;
          case Phase::kChunkSize:
            ok = ParseChunkSize(line);
            break;
          case Phase::kChunkDataEnd:
            if (!line.empty()) {
              ok = Fail(400, "chunk data is not followed by CRLF");
            } else {
              phase_ = Phase::kChunkSize;
            }
            break;
          case Phase::kTrailers:
            if (line.empty()) {
              phase_ = Phase::kDone;
            } else {
              ok = ParseHeaderLine(line, /*trailer=*/true);
            }
            break;
          default:
            break;
        }
        line_buf_.clear();
        if (!ok) return pos;
        break;
      }
    }
  }
  return pos;
}

bool RequestParser::NextLine(std::string_view data, size_t* pos, std::string_view* line) {
  size_t limit;
  switch (phase_) {
    case Phase::kRequestLine:
      limit = limits_.max_target_bytes + kMaxMethodBytes + kRequestLineSlack;
      break;
    case Phase::kHeaders:
    case Phase::kTrailers:
      // header_bytes_ counts completed lines; the line terminator counts too.
      limit =
          limits_.max_header_bytes > header_bytes_ ? limits_.max_header_bytes - header_bytes_ : 0;
      break;
    default:
      limit = kMaxChunkLineBytes;
      break;
  }
  const char* start = data.data() + *pos;
  size_t avail = data.size() - *pos;
  const void* nl = std::memchr(start, '\n', avail);
  size_t len = nl == nullptr ? avail : static_cast<size_t>(static_cast<const char*>(nl) - start);
  // Counting the LF, or (for a partial line) at least one more byte to come.
  if (line_buf_.size() + len + 1 > limit) {
    std::string head = line_buf_.substr(0, kMaxMethodBytes + 1);
    head.append(start, std::min(len, kMaxMethodBytes + 1));
    FailLineTooLong(head);
    return false;
  }
  if (nl == nullptr) {
    line_buf_.append(start, avail);
    *pos = data.size();
    return false;
  }
  if (phase_ == Phase::kHeaders || phase_ == Phase::kTrailers) {
    header_bytes_ += line_buf_.size() + len + 1;
  }
  *pos += len + 1;
  std::string_view l;
  if (line_buf_.empty()) {
    l = std::string_view(start, len);
  } else {
    line_buf_.append(start, len);
    l = line_buf_;
  }
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  *line = l;
  return true;
}

void RequestParser::FailLineTooLong(std::string_view head) {
  switch (phase_) {
    case Phase::kRequestLine: {
      // A method is short; if the line starts with one, the target is what is too long.
      size_t sp = head.find(' ');
      if (sp == std::string_view::npos || sp > kMaxMethodBytes) {
        Fail(400, "malformed request line");
      } else {
        Fail(414, "request target exceeds " + std::to_string(limits_.max_target_bytes) + " bytes");
      }
      break;
    }
    case Phase::kHeaders:
    case Phase::kTrailers:
      Fail(431, "header fields exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
      break;
    default:
      Fail(400, "chunk size line too long");
      break;
  }
}

bool RequestParser::ParseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(400, "malformed request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > kMaxMethodBytes) {
    return Fail(400, "malformed request method");
  }
  if (target.size() > limits_.max_target_bytes) {
    return Fail(414,
                "request target exceeds " + std::to_string(limits_.max_target_bytes) + " bytes");
  }
  if (target.empty() || !IsTargetChars(target)) return Fail(400, "malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Fail(400, "malformed HTTP version");
  }
  if (version[5] != '1') return Fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  minor_ = version[7] == '0' ? 0 : 1;

  // origin-form, absolute-form (reduced to its path and query), or "*" for OPTIONS.
  std::string_view path_and_query = target;
  if (target[0] != '/') {
    if (target == "*") {
      if (method != "OPTIONS") return Fail(400, "'*' target is only valid with OPTIONS");
    } else {
      size_t scheme_end = target.find("://");
      std::string_view scheme =
          scheme_end == std::string_view::npos ? std::string_view() : target.substr(0, scheme_end);
      if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
        return Fail(400, "unsupported request target form");
      }
      size_t path_start = target.find_first_of("/?", scheme_end + 3);
      path_and_query =
          path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
    }
  }
  size_t q = path_and_query.find('?');
  request_.method.assign(method);
  request_.target.assign(target);
  if (q == std::string_view::npos) {
    request_.path.assign(path_and_query);
  } else {
    request_.path.assign(path_and_query.substr(0, q));
    request_.query.assign(path_and_query.substr(q + 1));
  }
  if (request_.path.empty()) request_.path = "/";
  request_.headers.reserve(8);  // one allocation for typical requests
  phase_ = Phase::kHeaders;
  return true;
}

bool RequestParser::ParseHeaderLine(std::string_view line, bool trailer) {
  if (line[0] == ' ' || line[0] == '\t') return Fail(400, "obsolete header line folding");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Fail(400, "malformed header line");
  std::string_view raw_name = line.substr(0, colon);
  std::string_view value = TrimOws(line.substr(colon + 1));
  if (!IsFieldValue(value)) return Fail(400, "control character in header value");
  std::string name(raw_name.size(), '\0');
  for (size_t i = 0; i < raw_name.size(); ++i) {
    char c = kToken[static_cast<unsigned char>(raw_name[i])];
    if (c == 0) return Fail(400, "malformed header name");
    name[i] = c;
  }
  if (trailer) return true;  // trailer fields are validated and dropped

  switch (name.size()) {
    case 4:
      if (name == "host") ++host_count_;
      break;
    case 6:
      if (name == "expect" && EqualsIgnoreCase(value, "100-continue")) expect_continue_ = true;
      break;
    case 10:
      if (name == "connection") {
        ForEachListElement(value, [this](std::string_view token) {
          if (EqualsIgnoreCase(token, "close")) conn_close_ = true;
          if (EqualsIgnoreCase(token, "keep-alive")) conn_keep_alive_ = true;
        });
      }
      break;
    case 14:
      if (name == "content-length") {
        if (value.empty()) return Fail(400, "invalid Content-Length");
        uint64_t n = 0;
        for (char c : value) {
          if (c < '0' || c > '9') return Fail(400, "invalid Content-Length");
          // Saturate: anything above the body limit is rejected with 413 later anyway.
          if (n <= (uint64_t{1} << 60)) n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (has_content_length_ && n != content_length_) {
          return Fail(400, "conflicting Content-Length fields");
        }
        has_content_length_ = true;
        content_length_ = n;
      }
      break;
    case 17:
      if (name == "transfer-encoding") {
        has_transfer_encoding_ = true;
        if (!transfer_encoding_.empty()) transfer_encoding_.push_back(',');
        transfer_encoding_.append(value);
      }
      break;
    default:
      break;
  }
  request_.headers.push_back(Header{std::move(name), std::string(value)});
  return true;
}

bool RequestParser::FinishHeaders() {
  if (minor_ == 1 && host_count_ == 0) return Fail(400, "missing Host header");
  if (host_count_ > 1) return Fail(400, "more than one Host header");
  keep_alive_ = minor_ == 1 ? !conn_close_ : (conn_keep_alive_ && !conn_close_);

  bool has_body;
  if (has_transfer_encoding_) {
    if (minor_ == 0) return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (has_content_length_) return Fail(400, "both Content-Length and Transfer-Encoding");
    int chunked = 0;
    bool chunked_last = false;
    std::string unsupported;
    ForEachListElement(transfer_encoding_, [&](std::string_view coding) {
      // Drop transfer-parameters (";q=...") before comparing.
      std::string_view c = TrimOws(coding.substr(0, coding.find(';')));
      chunked_last = EqualsIgnoreCase(c, "chunked");
      if (chunked_last) {
        ++chunked;
      } else if (unsupported.empty()) {
        unsupported = c;
      }
    });
    if (!unsupported.empty()) {
      return Fail(501, "unsupported Transfer-Encoding '" + unsupported + "'");
    }
    if (chunked != 1 || !chunked_last) return Fail(400, "malformed Transfer-Encoding");
    phase_ = Phase::kChunkSize;
    has_body = true;
  } else if (has_content_length_ && content_length_ > 0) {
    if (content_length_ > limits_.max_body_bytes) {
      return Fail(413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
    }
    remaining_ = content_length_;
    request_.body.reserve(static_cast<size_t>(content_length_));
    phase_ = Phase::kBodyLength;
    has_body = true;
  } else {
    phase_ = Phase::kDone;
    has_body = false;
  }
  continue_pending_ = has_body && expect_continue_ && minor_ == 1;
  return true;
}

bool RequestParser::ParseChunkSize(std::string_view line) {
  size_t i = 0;
  uint64_t size = 0;
  int significant = 0;
  for (; i < line.size(); ++i) {
    int v = HexValue(line[i]);
    if (v < 0) break;
    if (size != 0 || v != 0) ++significant;
    if (significant > 15) return Fail(413, "chunk size too large");
    size = (size << 4) | static_cast<uint64_t>(v);
  }
  if (i == 0) return Fail(400, "malformed chunk size");
  std::string_view rest = line.substr(i);
  // chunk-ext: BWS ";" ... ; its contents are ignored but must not carry control characters.
  std::string_view ext = TrimOws(rest);
  if (!ext.empty() && (ext[0] != ';' || !IsFieldValue(ext))) {
    return Fail(400, "malformed chunk extension");
  }
  if (size == 0) {
    phase_ = Phase::kTrailers;
    return true;
  }
  if (request_.body.size() + size > limits_.max_body_bytes) {
    return Fail(413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
  }
  remaining_ = size;
  phase_ = Phase::kChunkData;
  return true;
}

}  // namespace civitas::http
