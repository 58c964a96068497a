#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"

namespace civitas::server {

// Serves the dashboard's built files (web/dist) for GET. Everything the dashboard reads
// comes from the public API; this only hands out the bundle. Files are read on the I/O thread,
// which is fine for a few small assets.
class StaticFiles {
 public:
  // root must exist; it is canonicalised once so symlinks cannot lead out of it.
  explicit StaticFiles(std::string root);

  // True for paths the API does not own: everything but /ngsi-ld/, /iot/, /health, /version and
  // /metrics.
  static bool Owns(std::string_view path);

  // The file under root for a raw (percent-encoded) request path, relative to root: "/" is
  // "index.html". nullopt when the path is unsafe: "..", a segment starting with '.', a NUL,
  // a backslash or bad percent-encoding.
  static std::optional<std::string> RelativeFile(std::string_view raw_path);

  // By extension; application/octet-stream when unknown.
  static std::string_view ContentType(std::string_view file);

  http::Response Serve(const http::Request& request) const;

 private:
  std::string root_;  // canonical, without a trailing '/'
};

}  // namespace civitas::server
