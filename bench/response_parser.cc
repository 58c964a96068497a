#include "response_parser.h"

#include <cstring>
#include "common/strings.h"

namespace civitas::bench {
namespace {

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view lower_token) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, lower_token)) return true;
    pos = comma + 1;
  }
  return false;
}

std::string_view TrimValue(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

FrameResult ParseResponseHead(std::string_view data, bool head_request, size_t max_head_bytes,
                              ResponseFrame* out, std::string* error) {
  const void* end = memmem(data.data(), data.size(), "\r\n\r\n", 4);
  if (end == nullptr) {
    if (data.size() > max_head_bytes) {
      *error = "response head larger than " + std::to_string(max_head_bytes) + " bytes";
      return FrameResult::kError;
    }
    return FrameResult::kNeedMore;
  }
  size_t head_len = static_cast<size_t>(static_cast<const char*>(end) - data.data()) + 4;
  std::string_view head = data.substr(0, head_len - 2);  // each line ends with \r\n

  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.x SSS reason"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      status_line[9] < '1' || status_line[9] > '5' || status_line[10] < '0' ||
      status_line[10] > '9' || status_line[11] < '0' || status_line[11] > '9' ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    *error = "malformed status line: " + std::string(status_line.substr(0, 80));
    return FrameResult::kError;
  }
  bool http10 = status_line[7] == '0';
  int status =
      (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');

  bool have_length = false;
  bool chunked = false;
  size_t length = 0;
  bool close = http10;
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "malformed header line: " + std::string(line.substr(0, 80));
      return FrameResult::kError;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimValue(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      if (value.empty() || value.size() > 15) {
        *error = "bad Content-Length";
        return FrameResult::kError;
      }
      size_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') {
          *error = "bad Content-Length";
          return FrameResult::kError;
        }
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (have_length && n != length) {
        *error = "conflicting Content-Length headers";
        return FrameResult::kError;
      }
      have_length = true;
      length = n;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      if (!EqualsIgnoreCase(value, "chunked")) {
        *error = "Transfer-Encoding in a response is not supported: " + std::string(value);
        return FrameResult::kError;
      }
      chunked = true;
    } else if (EqualsIgnoreCase(name, "connection")) {
      if (ContainsTokenIgnoreCase(value, "close")) close = true;
      if (http10 && ContainsTokenIgnoreCase(value, "keep-alive")) close = false;
    }
  }

  bool no_body = head_request || status < 200 || status == 204 || status == 304;
  if (no_body) {
    length = 0;
    chunked = false;
  } else if (chunked && have_length) {
    *error = "both Content-Length and Transfer-Encoding";
    return FrameResult::kError;
  } else if (!have_length && !chunked) {
    *error = "response " + std::to_string(status) + " without Content-Length";
    return FrameResult::kError;
  }
  out->status = status;
  out->head_bytes = head_len;
  out->total_bytes = head_len + length;
  out->close = close;
  out->chunked = chunked;
  return FrameResult::kComplete;
}

FrameResult ChunkedBodyEnd(std::string_view data, size_t from, size_t* end, std::string* error) {
  size_t pos = from;
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (data.size() - pos > 1024) {
        *error = "chunk size line too long";
        return FrameResult::kError;
      }
      return FrameResult::kNeedMore;
    }
    size_t size = 0, digits = 0;
    for (size_t k = pos; k < eol && data[k] != ';'; ++k) {
      char c = data[k];
      int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (v < 0 || ++digits > 15) {
        *error = "bad chunk size";
        return FrameResult::kError;
      }
      size = size * 16 + static_cast<size_t>(v);
    }
    if (digits == 0) {
      *error = "bad chunk size";
      return FrameResult::kError;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailer fields (usually none), then the blank line.
      for (;;) {
        size_t t = data.find("\r\n", pos);
        if (t == std::string_view::npos) return FrameResult::kNeedMore;
        if (t == pos) {
          *end = t + 2;
          return FrameResult::kComplete;
        }
        pos = t + 2;
      }
    }
    if (data.size() < pos + size + 2) return FrameResult::kNeedMore;
    if (data.substr(pos + size, 2) != "\r\n") {
      *error = "chunk not followed by CRLF";
      return FrameResult::kError;
    }
    pos += size + 2;
  }
}

}  // namespace civitas::bench
