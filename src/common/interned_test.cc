#include "common/interned.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace civitas {
namespace {

TEST(Interned, EqualTextsShareOneCopy) {
  std::string a = "https://example.org/attrs/NO2";
  Interned x(a);
  Interned y(std::string_view("https://example.org/attrs/NO2"));
  EXPECT_EQ(&x.str(), &y.str());
  EXPECT_EQ(x, y);
  EXPECT_EQ(x, a);
  EXPECT_TRUE(a == x);  // the reversed comparison of C++20
  EXPECT_NE(Interned("https://example.org/attrs/PM10"), x);
  EXPECT_NE(x, std::string_view("https://example.org/attrs/NO"));
  const std::string& text = x;
  EXPECT_EQ(text, a);
  EXPECT_TRUE(Interned().empty());
  EXPECT_EQ(Interned(), Interned(""));
}

TEST(Interned, ThreadsInterningTheSameNamesGetTheSameCopies) {
  constexpr int kThreads = 4, kNames = 500;
  std::vector<std::vector<const std::string*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &seen] {
      for (int i = 0; i < kNames; ++i) {
        seen[t].push_back(&Interned("urn:test:interned:" + std::to_string(i)).str());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]);
  EXPECT_EQ(std::set<const std::string*>(seen[0].begin(), seen[0].end()).size(), size_t{kNames});
  EXPECT_EQ(*seen[0][7], "urn:test:interned:7");
}

}  // namespace
}  // namespace civitas
