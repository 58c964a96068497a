#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "http/http.h"

namespace civitas::http {
namespace {}  // namespace

bool PercentDecode(std::string_view in, std::string* out, bool plus_as_space) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;  // "a=1&&b=2"
    size_t eq = param.find('=');
    std::string name;
    std::string value;
    if (!PercentDecode(param.substr(0, eq), &name, /*plus_as_space=*/true)) return false;
    if (eq != std::string_view::npos &&
        !PercentDecode(param.substr(eq + 1), &value, /*plus_as_space=*/true)) {
      return false;
    }
    out->emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace civitas::http
