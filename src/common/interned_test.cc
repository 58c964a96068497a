#include "common/interned.h"

#include <gtest/gtest.h>

#include <atomic>
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
  std::vector<Interned> keep;  // the texts stay while the threads compare addresses
  for (int i = 0; i < kNames; ++i) keep.emplace_back("urn:test:interned:" + std::to_string(i));
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

TEST(Interned, TheTextIsFreedWithItsLastReference) {
  const size_t before = Interned::Count();
  {
    Interned a("urn:test:freed:a");
    Interned b = a;                               // a copy: no new text
    Interned c(std::string("urn:test:freed:a"));  // interned again: the same text
    Interned d("urn:test:freed:d");
    EXPECT_EQ(Interned::Count(), before + 2);
    Interned moved = std::move(b);
    EXPECT_TRUE(b.empty());  // NOLINT: a moved-from Interned is ""
    EXPECT_EQ(moved, a);
    d = a;  // the last reference to "urn:test:freed:d" goes
    EXPECT_EQ(Interned::Count(), before + 1);
    EXPECT_EQ(d, std::string_view("urn:test:freed:a"));
  }
  EXPECT_EQ(Interned::Count(), before);
  EXPECT_EQ(Interned("urn:test:freed:a").str(), "urn:test:freed:a");  // interned anew
  EXPECT_EQ(Interned::Count(), before);
}

TEST(Interned, ThreadsCopyingAndDroppingTheSameNamesKeepThemConsistent) {
  // Each thread interns, copies and drops the same few names, so their counts go to zero and
  // back while other threads look them up: every value read must be the right text, and at
  // the end no text may remain.
  const size_t before = Interned::Count();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&wrong] {
      for (int i = 0; i < 20000; ++i) {
        const std::string text = "urn:test:churn:" + std::to_string(i % 3);
        Interned a(text);
        Interned b = a;
        if (b.str() != text) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(Interned::Count(), before);
}

}  // namespace
}  // namespace civitas
