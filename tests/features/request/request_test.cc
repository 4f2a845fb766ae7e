#include "rankopt/request.h"

#include <gtest/gtest.h>

namespace rankopt {
namespace {

TEST(FeatureRowTest, SetAppendsThenReplaces) {
  FeatureRow row;
  row.Set("user_id", int64_t{7});
  row.Set("city", std::string("Paris"));
  row.Set("user_id", int64_t{9});
  ASSERT_EQ(row.size(), 2u);
  ASSERT_NE(row.Find("user_id"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*row.Find("user_id")), 9);
  EXPECT_EQ(std::get<std::string>(*row.Find("city")), "Paris");
  EXPECT_EQ(row.Find("missing"), nullptr);
  EXPECT_EQ(row.entries()[0].first, "user_id");  // insertion order kept
}

TEST(FeatureRowTest, InitializerListAndClear) {
  FeatureRow row({{"a", int64_t{1}}, {"b", 2.5}, {"a", std::string("x")}});
  ASSERT_EQ(row.size(), 2u);
  EXPECT_EQ(std::get<std::string>(*row.Find("a")), "x");
  row.Clear();
  EXPECT_TRUE(row.empty());
  EXPECT_EQ(row.Find("b"), nullptr);
}

TEST(FeatureRowTest, ArbitraryBytesAreKept) {
  FeatureRow row;
  const std::string bytes("\xff\x00\xc3(", 4);
  row.Set("raw", bytes);
  EXPECT_EQ(std::get<std::string>(*row.Find("raw")), bytes);
}

TEST(FeatureValueTest, TypeNames) {
  EXPECT_EQ(FeatureValueTypeName(FeatureValue()), "missing");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(int64_t{1})), "int");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(1.0)), "float");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(std::string())), "string");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(std::vector<int64_t>())), "int list");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(std::vector<double>())), "float list");
  EXPECT_EQ(FeatureValueTypeName(FeatureValue(std::vector<std::string>())), "string list");
}

}  // namespace
}  // namespace rankopt
