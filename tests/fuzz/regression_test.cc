// Replays every committed fuzz input through the fuzz targets in the ordinary (gcc) test build:
// regressions/<target>/* (inputs that once crashed or failed a check) and corpus/<target>/*
// (the seeds). A failed FUZZ_CHECK fails the test for that file; a crash still crashes, which
// is why a finding whose fix is not in yet is listed in regressions/KNOWN_FAILURES and skipped.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "targets.h"

namespace civitas::fuzz {

namespace {

class CheckFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace

void CheckFailed(const char* file, int line, const char* condition, const std::string& detail) {
  throw CheckFailure(std::string(file) + ":" + std::to_string(line) + ": FUZZ_CHECK(" + condition +
                     ") failed: " + detail);
}

namespace {

namespace fs = std::filesystem;

struct Target {
  const char* name;
  void (*run)(std::string_view);
};

void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }

constexpr Target kTargets[] = {
    {"fuzz_entity", FuzzEntity},
    {"fuzz_http_request", FuzzHttpRequest},
    {"fuzz_projection", FuzzProjection},
    {"fuzz_context", FuzzContext},
    {"fuzz_time", FuzzTime},
    {"fuzz_geo", FuzzGeo},
    {"fuzz_query", FuzzQuery},
    {"fuzz_measures", FuzzMeasures},
};

const fs::path kFuzzDir = CIVITAS_FUZZ_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "fuzz_entity/crash-...": paths relative to regressions/ of inputs not to replay yet, one per
// line; '#' starts a comment.
std::set<std::string> KnownFailures() {
  std::set<std::string> known;
  std::istringstream lines(ReadFile(kFuzzDir / "regressions" / "KNOWN_FAILURES"));
  std::string line;
  while (std::getline(lines, line)) {
    line = line.substr(0, line.find('#'));
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) known.insert(line);
  }
  return known;
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs every file of dir (relative to tests/fuzz) through the target; returns how many ran.
int Replay(const Target& target, const std::string& dir, const std::set<std::string>& skip) {
  int ran = 0;
  for (const fs::path& file : FilesIn(kFuzzDir / dir / target.name)) {
    std::string relative = std::string(target.name) + "/" + file.filename().string();
    if (skip.contains(relative)) {
      std::cout << "not replayed (listed in regressions/KNOWN_FAILURES): " << dir << "/" << relative
                << "\n";
      continue;
    }
    std::string input = ReadFile(file);
    try {
      target.run(input);
    } catch (const CheckFailure& failure) {
      ADD_FAILURE() << dir << "/" << relative << "\n" << failure.what();
    }
    ++ran;
  }
  return ran;
}

class FuzzInputs : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzInputs, Regressions) { Replay(GetParam(), "regressions", KnownFailures()); }

TEST_P(FuzzInputs, Corpus) {
  EXPECT_GT(Replay(GetParam(), "corpus", {}), 0) << "no seed inputs for " << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(All, FuzzInputs, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

TEST(FuzzInputs, KnownFailuresExist) {
  for (const std::string& known : KnownFailures()) {
    EXPECT_TRUE(fs::is_regular_file(kFuzzDir / "regressions" / known))
        << "regressions/KNOWN_FAILURES lists a missing file: " << known;
  }
}

}  // namespace
}  // namespace civitas::fuzz
