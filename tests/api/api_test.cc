// Data-driven API tests: each file in tests/api/cases is a sequence of HTTP requests against a
// fresh broker, each with the expected status, headers and body. See tests/api/README.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "common/json.h"
#include "common/time.h"
#include "support/broker_fixture.h"
#include "support/test_client.h"

namespace civitas::testing {
namespace {

struct Step {
  int line = 0;
  bool restart = false;
  std::string method, target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> expect_headers;
  std::string expect_body;  // "" means not checked
};

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses the .test format: steps separated by "====", request and expectation by "----".
std::vector<Step> ParseCases(const std::string& text) {
  std::vector<Step> steps;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  enum { kStart, kReqHeaders, kReqBody, kStatus, kRespHeaders, kRespBody } state = kStart;
  Step cur;
  auto flush = [&] {
    if (!cur.method.empty() || cur.restart) {
      cur.body = Trim(cur.body);
      cur.expect_body = Trim(cur.expect_body);
      steps.push_back(cur);
    }
    cur = Step{};
    state = kStart;
  };
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "====") {
      flush();
      continue;
    }
    switch (state) {
      case kStart: {
        std::string t = Trim(line);
        if (t.empty() || t[0] == '#') break;
        cur.line = n;
        if (t == "RESTART") {
          cur.restart = true;
          break;
        }
        size_t sp = t.find(' ');
        cur.method = t.substr(0, sp);
        cur.target = Trim(t.substr(sp + 1));
        state = kReqHeaders;
        break;
      }
      case kReqHeaders:
        if (line == "----") {
          state = kStatus;
        } else if (Trim(line).empty()) {
          state = kReqBody;
        } else {
          size_t c = line.find(':');
          cur.headers.emplace_back(Trim(line.substr(0, c)), Trim(line.substr(c + 1)));
        }
        break;
      case kReqBody:
        if (line == "----") {
          state = kStatus;
        } else {
          cur.body += line + "\n";
        }
        break;
      case kStatus:
        if (Trim(line).empty()) break;
        cur.status = std::stoi(Trim(line));
        state = kRespHeaders;
        break;
      case kRespHeaders:
        if (Trim(line).empty()) {
          state = kRespBody;
        } else {
          size_t c = line.find(':');
          cur.expect_headers.emplace_back(Lower(Trim(line.substr(0, c))),
                                          Trim(line.substr(c + 1)));
        }
        break;
      case kRespBody:
        cur.expect_body += line + "\n";
        break;
    }
  }
  flush();
  return steps;
}

// Matches actual against expected: objects regardless of member order; "<any>" matches any
// value, "<datetime>" any ISO 8601 date-time string, "<absent>" as a member value requires the
// member to be missing.
bool Matches(const Json& expected, const Json& actual, std::string* where) {
  if (expected.is_string()) {
    const std::string& e = expected.as_string();
    if (e == "<any>") return true;
    if (e == "<datetime>") {
      bool ok = actual.is_string() && ParseDateTime(actual.as_string()).has_value();
      if (!ok) *where += " (expected a date-time)";
      return ok;
    }
  }
  if (expected.is_object() && actual.is_object()) {
    for (const auto& [k, v] : expected.as_object()) {
      const Json* a = actual.Find(k);
      if (v.is_string() && v.as_string() == "<absent>") {
        if (a != nullptr) {
          *where += "." + k + " (expected absent)";
          return false;
        }
        continue;
      }
      if (a == nullptr) {
        *where += "." + k + " (missing)";
        return false;
      }
      std::string sub = where->empty() ? k : *where + "." + k;
      std::string w = "." + k;
      if (!Matches(v, *a, &w)) {
        *where += w;
        return false;
      }
    }
    for (const auto& [k, v] : actual.as_object()) {
      if (expected.Find(k) == nullptr) {
        *where += "." + k + " (unexpected)";
        return false;
      }
    }
    return true;
  }
  if (expected.is_array() && actual.is_array()) {
    if (expected.size() != actual.size()) {
      *where += " (array length " + std::to_string(actual.size()) + ", expected " +
                std::to_string(expected.size()) + ")";
      return false;
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string w = "[" + std::to_string(i) + "]";
      if (!Matches(expected.as_array()[i], actual.as_array()[i], &w)) {
        *where += w;
        return false;
      }
    }
    return true;
  }
  if (expected.is_number() && actual.is_number()) {
    return expected.as_double() == actual.as_double();
  }
  if (!(expected == actual)) {
    *where += " (value differs)";
    return false;
  }
  return true;
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

std::string SourceDir() { return CIVITAS_SOURCE_DIR; }

class ApiCaseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ApiCaseTest, Run) {
  std::string path = SourceDir() + "/tests/api/cases/" + GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  BrokerFixture broker(SourceDir() + "/tests/api/contexts");
  std::string text = ss.str();
  // "#! temporal-max-instances N" configures the broker (like the serve flag).
  constexpr std::string_view kMaxInstances = "#! temporal-max-instances ";
  if (size_t at = text.find(kMaxInstances); at != std::string::npos) {
    broker.set_temporal_max_instances(std::stoul(text.substr(at + kMaxInstances.size())));
  }
  broker.Start();
  ReplaceAll(text, "{{ctx}}", broker.context_base());
  auto steps = ParseCases(text);
  ASSERT_FALSE(steps.empty()) << "no steps in " << path;
  auto client = std::make_unique<TestClient>("127.0.0.1", broker.port());
  for (const auto& step : steps) {
    SCOPED_TRACE(GetParam() + ":" + std::to_string(step.line) + " " + step.method + " " +
                 step.target);
    if (step.restart) {
      client.reset();
      broker.Start();
      client = std::make_unique<TestClient>("127.0.0.1", broker.port());
      continue;
    }
    auto reply = client->Send(step.method, step.target, step.headers, step.body);
    ASSERT_EQ(reply.status, step.status) << "body: " << reply.body;
    for (const auto& [name, value] : step.expect_headers) {
      std::string actual = reply.Header(name);
      if (value == "<absent>") {
        EXPECT_TRUE(actual.empty()) << "header " << name << " should be absent: " << actual;
      } else if (value == "<any>") {
        EXPECT_FALSE(actual.empty()) << "header " << name << " missing";
      } else {
        EXPECT_EQ(actual, value) << "header " << name;
      }
    }
    if (step.expect_body.empty()) continue;
    if (step.expect_body == "<empty>") {
      EXPECT_TRUE(reply.body.empty()) << reply.body;
      continue;
    }
    auto expected = ParseJson(step.expect_body, 256);
    ASSERT_TRUE(expected.ok()) << "expected body is not JSON at line " << step.line;
    auto actual = ParseJson(reply.body, 256);
    ASSERT_TRUE(actual.ok()) << "response is not JSON: " << reply.body;
    std::string where = "$";
    EXPECT_TRUE(Matches(*expected, *actual, &where))
        << "mismatch at " << where << "\nexpected: " << ToJsonString(*expected)
        << "\nactual:   " << reply.body;
  }
}

std::vector<std::string> CaseFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/tests/api/cases")) {
    if (e.path().extension() == ".test") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Cases, ApiCaseTest, ::testing::ValuesIn(CaseFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace civitas::testing
