#include "query/type_expr.h"

#include <gtest/gtest.h>

namespace civitas::query {
namespace {

std::string Id(std::string_view s) { return "ex:" + std::string(s); }

bool Match(const char* expr, std::vector<std::string> types) {
  auto e = TypeExpr::Parse(expr, Id);
  EXPECT_TRUE(e.ok()) << expr << ": " << e.status().detail();
  for (auto& t : types) t = Id(t);
  return e.ok() && e->Matches(types);
}

TEST(TypeExprTest, Operators) {
  EXPECT_TRUE(Match("Car", {"Car"}));
  EXPECT_FALSE(Match("Car", {"Bus"}));
  EXPECT_TRUE(Match("Car,Bus", {"Bus"}));
  EXPECT_TRUE(Match("Car|Bus", {"Bus"}));
  EXPECT_FALSE(Match("Car;Electric", {"Car"}));
  EXPECT_TRUE(Match("Car;Electric", {"Electric", "Car"}));
  EXPECT_TRUE(Match("(Car;Electric)|Bicycle", {"Bicycle"}));
  EXPECT_FALSE(Match("(Car;Electric)|Bicycle", {"Car"}));
  EXPECT_TRUE(Match("Vehicle;(Car|Bus)", {"Vehicle", "Bus"}));
}

TEST(TypeExprTest, ErrorsNamePosition) {
  for (const char* bad : {"", "Car,", "(Car", "Car)", ";Car", "Car;;Bus", "a b", "()"}) {
    auto e = TypeExpr::Parse(bad, Id);
    EXPECT_FALSE(e.ok()) << bad;
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), ErrorCode::kBadRequestData);
      EXPECT_NE(e.status().detail().find("position"), std::string::npos);
    }
  }
}

TEST(TypeExprTest, AlternativeNames) {
  EXPECT_EQ(TypeExpr::Parse("A,B", Id)->AlternativeNames(),
            (std::vector<std::string>{"ex:A", "ex:B"}));
  EXPECT_TRUE(TypeExpr::Parse("A;B", Id)->AlternativeNames().empty());
}

}  // namespace
}  // namespace civitas::query
