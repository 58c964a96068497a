#include "query/scope.h"

#include <gtest/gtest.h>

#include <random>

namespace civitas::query {
namespace {

Json Scopes(std::vector<std::string> scopes) {
  Json::Array a;
  for (auto& s : scopes) a.emplace_back(std::move(s));
  return Json(std::move(a));
}

bool M(std::string_view q, const Json& scope) {
  auto parsed = ScopeQ::Parse(q);
  EXPECT_TRUE(parsed.ok()) << q << ": " << parsed.status().detail();
  return parsed.ok() && parsed->Matches(scope);
}

// The entities of the ETSI suite's 019_01_06 and 019_34.
const Json kOne = Json("/Madrid/Gardens/ParqueNorte");
const Json kMany = Scopes({"/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"});

int Count(std::string_view q) { return M(q, kOne) + M(q, kMany); }

TEST(ScopeQTest, ConformanceSuiteCases) {
  EXPECT_EQ(Count("/Madrid/Gardens/ParqueNorte"), 2);
  EXPECT_EQ(Count("/Madrid/+/ParqueNorte"), 2);
  EXPECT_EQ(Count("/CompanyA/#"), 1);
  EXPECT_EQ(Count("/#"), 2);
  EXPECT_EQ(Count("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC"), 1);
  EXPECT_EQ(Count("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC"), 2);
  EXPECT_EQ(Count("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)"), 1);
  EXPECT_EQ(Count("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)|"
                  "/Madrid/Gardens/ParqueNorte"),
            2);
  EXPECT_EQ(Count("/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll"), 1);
  EXPECT_EQ(Count("(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)"), 0);
}

TEST(ScopeQTest, Levels) {
  Json s("/Madrid/Gardens/ParqueNorte/Parterre1");
  EXPECT_FALSE(M("/Madrid", s));
  EXPECT_FALSE(M("/Madrid/Gardens", s));
  EXPECT_TRUE(M("/Madrid/#", s));
  EXPECT_TRUE(M("/Madrid/Gardens/#", s));
  EXPECT_TRUE(M("/Madrid/Gardens/ParqueNorte/Parterre1/#", s));  // the scope itself
  EXPECT_FALSE(M("/Madrid/Gardens/ParqueNorte/Parterre1/X/#", s));
  EXPECT_TRUE(M("/+/+/+/+", s));
  EXPECT_FALSE(M("/+/+/+", s));
  EXPECT_FALSE(M("/+/+/+/+/+", s));
  EXPECT_TRUE(M("/+/Gardens/#", s));
  EXPECT_FALSE(M("/+/Sights/#", s));
  EXPECT_FALSE(M("/Madrid/Garden/#", s));  // whole levels, not prefixes
  EXPECT_FALSE(M("/Mad/#", s));
  EXPECT_TRUE(M("Madrid/#", s));                // the leading '/' is optional
  EXPECT_TRUE(M("/Madrid/#", Json("Madrid")));  // on both sides
  EXPECT_TRUE(M("/Madrid", Json("Madrid")));
  EXPECT_TRUE(M("/Madrid/Gardens/#", Json("/Madrid/Gardens")));
  EXPECT_TRUE(M("/Städte/Köln", Json("/Städte/Köln")));
  EXPECT_TRUE(M("/A_1/b2", Json("/A_1/b2")));
}

TEST(ScopeQTest, OperatorsAndPrecedence) {
  Json s = Scopes({"/A", "/B"});
  EXPECT_TRUE(M("/A;/B", s));
  EXPECT_FALSE(M("/A;/C", s));
  EXPECT_TRUE(M("/C|/A", s));
  EXPECT_TRUE(M("/C,/B", s));
  EXPECT_TRUE(M("/C;/D|/A", s));  // (/C;/D)|/A
  EXPECT_FALSE(M("/C;(/D|/A)", s));
  EXPECT_TRUE(M("/A;(/D|/B)", s));
  EXPECT_TRUE(M("((/A;/B)|/C);/A", s));
  EXPECT_TRUE(M(" /A ; /B ", s));
  EXPECT_TRUE(M("\"/A,/Z\"", s));  // a quoted text (annex C.5.15)
}

TEST(ScopeQTest, EntitiesWithoutScope) {
  EXPECT_FALSE(M("/#", Json()));
  EXPECT_FALSE(M("/A", Json()));
  EXPECT_FALSE(M("/#", Scopes({})));
  EXPECT_FALSE(M("/A", Json(5)));
  EXPECT_TRUE(M("/A", Scopes({"/B", "/A"})));
  EXPECT_TRUE(ScopeQ().Matches(Json()));  // no scopeQ: no filter
}

TEST(ScopeQTest, ErrorsNamePosition) {
  struct Case {
    const char* q;
    size_t position;
  };
  std::string deep(40, '(');
  deep += "/A" + std::string(40, ')');
  const std::vector<Case> cases = {
      {"", 0},      {"/", 1},     {"//A", 1}, {"/A/", 3},    {"/A;", 3},     {"/A|", 3},
      {"(/A", 0},   {"/A)", 2},   {"#", 0},   {"/A#", 2},    {"/A/#/B", 4},  {"/A/+B", 4},
      {"/A/B+", 4}, {"/A /B", 3}, {"()", 1},  {"/A;;/B", 3}, {"\"/A;\"", 4}, {deep.c_str(), 32},
  };
  for (const auto& c : cases) {
    auto q = ScopeQ::Parse(c.q);
    ASSERT_FALSE(q.ok()) << c.q;
    EXPECT_EQ(q.status().code(), ErrorCode::kBadRequestData);
    std::string want = "position " + std::to_string(c.position) + ":";
    EXPECT_NE(q.status().detail().find(want), std::string::npos)
        << c.q << " -> " << q.status().detail();
  }
}

TEST(ScopeQTest, RandomInputsAreHandled) {
  std::mt19937 rng(11);
  const std::string alphabet = "/AB+#;|,() \"";
  Json s = Scopes({"/A/B", "/B", "A/A/A"});
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    int len = std::uniform_int_distribution<int>(0, 16)(rng);
    for (int j = 0; j < len; ++j) {
      text += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    }
    auto q = ScopeQ::Parse(text);
    if (!q.ok()) continue;
    ++parsed;
    (void)q->Matches(s);
    (void)q->Matches(Json());
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace civitas::query
