#include "server/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace civitas::server {
namespace {

namespace fs = std::filesystem;

TEST(StaticFilesTest, MapsPathsAndRejectsTraversal) {
  EXPECT_EQ(StaticFiles::RelativeFile("/"), "index.html");
  EXPECT_EQ(StaticFiles::RelativeFile("/assets/app-1.js"), "assets/app-1.js");
  EXPECT_EQ(StaticFiles::RelativeFile("/a//b/"), "a/b/index.html");
  EXPECT_EQ(StaticFiles::RelativeFile("/a%20b.css"), "a b.css");
  EXPECT_FALSE(StaticFiles::RelativeFile("/../etc/passwd"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/assets/../../x"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/%2e%2e/x"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/%2E%2E%2fx"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/.git/config"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/a%00.html"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/a%5c..%5cb"));
  EXPECT_FALSE(StaticFiles::RelativeFile("/a%2"));
  EXPECT_FALSE(StaticFiles::RelativeFile("relative"));
}

TEST(StaticFilesTest, OwnsEverythingButTheApi) {
  EXPECT_TRUE(StaticFiles::Owns("/"));
  EXPECT_TRUE(StaticFiles::Owns("/assets/x.js"));
  EXPECT_TRUE(StaticFiles::Owns("/ngsi-ldx"));
  EXPECT_FALSE(StaticFiles::Owns("/ngsi-ld/v1/entities"));
  EXPECT_FALSE(StaticFiles::Owns("/iot/devices"));
  EXPECT_FALSE(StaticFiles::Owns("/health"));
  EXPECT_FALSE(StaticFiles::Owns("/version"));
  EXPECT_FALSE(StaticFiles::Owns("/metrics"));
}

TEST(StaticFilesTest, ServesFilesWithTypeAndCacheHeaders) {
  fs::path dir = fs::temp_directory_path() / ("civitas_static_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "root" / "assets");
  std::ofstream(dir / "root" / "index.html") << "<html></html>";
  std::ofstream(dir / "root" / "assets" / "app-1.js") << "1;";
  std::ofstream(dir / "secret.txt") << "secret";
  fs::create_symlink(dir / "secret.txt", dir / "root" / "link.txt");
  StaticFiles files((dir / "root").string());

  auto get = [&](std::string path, std::string method = "GET") {
    http::Request r;
    r.method = method;
    r.path = path;
    return files.Serve(r);
  };
  auto header = [](const http::Response& r, std::string_view name) {
    for (const auto& h : r.headers) {
      if (h.name == name) return h.value;
    }
    return std::string();
  };
  auto index = get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<html></html>");
  EXPECT_EQ(header(index, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(header(index, "Cache-Control"), "no-cache");
  auto js = get("/assets/app-1.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(header(js, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(get("/missing.js").status, 404);
  EXPECT_EQ(get("/assets").status, 404);  // a directory without index.html
  EXPECT_EQ(get("/../secret.txt").status, 400);
  EXPECT_EQ(get("/%2e%2e/secret.txt").status, 400);
  EXPECT_EQ(get("/link.txt").status, 404);  // a symlink leading out of root
  EXPECT_EQ(get("/", "POST").status, 405);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace civitas::server
