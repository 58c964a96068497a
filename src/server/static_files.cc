#include "server/static_files.h"

#include <limits.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace civitas::server {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

http::Response Plain(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.AddHeader("Content-Type", "text/plain; charset=utf-8");
  return r;
}

}  // namespace

StaticFiles::StaticFiles(std::string root) {
  root_ = Canonical(root).value_or(std::move(root));
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

bool StaticFiles::Owns(std::string_view path) {
  auto under = [&](std::string_view prefix) {
    return path == prefix || (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
                              path[prefix.size()] == '/');
  };
  return !under("/ngsi-ld") && !under("/iot") && path != "/health" && path != "/version" &&
         path != "/metrics";
}

std::optional<std::string> StaticFiles::RelativeFile(std::string_view raw_path) {
  if (raw_path.empty() || raw_path[0] != '/') return std::nullopt;
  std::string decoded;
  for (size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c == '%') {
      if (i + 2 >= raw_path.size()) return std::nullopt;
      int hi = HexDigit(raw_path[i + 1]), lo = HexDigit(raw_path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\\') return std::nullopt;
    decoded.push_back(c);
  }
  // Check every segment: no "." or ".." and no hidden files.
  std::string out;
  size_t pos = 1;
  while (pos <= decoded.size()) {
    size_t end = decoded.find('/', pos);
    if (end == std::string::npos) end = decoded.size();
    std::string_view seg(decoded.data() + pos, end - pos);
    if (!seg.empty()) {
      if (seg[0] == '.') return std::nullopt;
      if (!out.empty()) out.push_back('/');
      out.append(seg);
    }
    pos = end + 1;
  }
  if (out.empty() || decoded.back() == '/') {
    if (!out.empty()) out.push_back('/');
    out += "index.html";
  }
  return out;
}

std::string_view StaticFiles::ContentType(std::string_view file) {
  auto ends = [&](std::string_view ext) {
    return file.size() >= ext.size() && file.substr(file.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json") || ends(".map")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".jpg") || ends(".jpeg")) return "image/jpeg";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".woff2")) return "font/woff2";
  if (ends(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

http::Response StaticFiles::Serve(const http::Request& request) const {
  if (request.method != "GET") {
    auto r = Plain(405, "method not allowed\n");
    r.AddHeader("Allow", "GET");
    return r;
  }
  auto rel = RelativeFile(request.path);
  if (!rel) return Plain(400, "bad path\n");
  // Resolve symlinks too: whatever the name, the file must lie under root.
  auto file = Canonical(root_ + "/" + *rel);
  if (!file || file->size() <= root_.size() || file->compare(0, root_.size(), root_) != 0 ||
      (*file)[root_.size()] != '/') {
    return Plain(404, "not found\n");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*file, ec)) return Plain(404, "not found\n");
  std::ifstream in(*file, std::ios::binary);
  if (!in) return Plain(404, "not found\n");
  std::ostringstream body;
  body << in.rdbuf();
  http::Response r;
  r.AddHeader("Content-Type", std::string(ContentType(*rel)));
  // Vite puts content-hashed names under assets/: they never change. The rest (index.html)
  // must be revalidated so a rebuilt dashboard is picked up.
  r.AddHeader("Cache-Control", rel->rfind("assets/", 0) == 0 ? "public, max-age=31536000, immutable"
                                                             : "no-cache");
  r.AddHeader("X-Content-Type-Options", "nosniff");
  r.body = body.str();
  return r;
}

}  // namespace civitas::server
