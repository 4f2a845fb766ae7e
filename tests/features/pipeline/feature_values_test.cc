// The per-kind value transforms of features/pipeline/feature_values.h on hand-made Plans: ids,
// defaults and the stats they count, sequence truncation and padding, normalized floats.
#include "features/pipeline/feature_values.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt::transformer_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FeatureValuesTest : public ::testing::Test {
 protected:
  FeatureValuesTest() { plan_.spec = &spec_; }

  const FeatureSpec spec_ = [] {
    FeatureSpec spec;
    spec.name.push_back('f');
    return spec;
  }();
  Plan plan_;
  FeatureStats stats_;
  const Where where_{SideIndex(FeatureSide::kItem), 2};
};

TEST_F(FeatureValuesTest, IdentityIdsOutOfRangeAndMissingTakeTheDefault) {
  plan_.source = CategoricalSpec::Source::kIdentity;
  plan_.num_buckets = 10;
  plan_.default_id = 3;
  int64_t id = -1;
  const FeatureValue in_range = int64_t{4}, out_of_range = int64_t{12}, missing;
  ASSERT_TRUE(CategoricalId(plan_, &in_range, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 4);
  ASSERT_TRUE(CategoricalId(plan_, &out_of_range, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 3);
  ASSERT_TRUE(CategoricalId(plan_, &missing, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 3);
  ASSERT_TRUE(CategoricalId(plan_, nullptr, where_, nullptr, &id).ok());
  EXPECT_EQ(stats_.out_of_range, 1);
  EXPECT_EQ(stats_.defaults_applied, 1);

  const FeatureValue text = std::string("x");
  const absl::Status status = CategoricalId(plan_, &text, where_, &stats_, &id);
  EXPECT_THAT(status.message(), HasSubstr("feature 'f' in candidates[2]"));
}

TEST_F(FeatureValuesTest, VocabularyMissWithoutOovTakesTheDefault) {
  plan_.source = CategoricalSpec::Source::kVocabulary;
  plan_.vocabulary = {{"a", 0}, {"7", 1}};
  plan_.vocabulary_size = 2;
  plan_.default_id = 5;
  int64_t id = -1;
  const FeatureValue seven = int64_t{7}, b = std::string("b");
  ASSERT_TRUE(CategoricalId(plan_, &seven, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 1);  // integers are looked up by their decimal text
  ASSERT_TRUE(CategoricalId(plan_, &b, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 5);
  EXPECT_EQ(stats_.defaults_applied, 1);
}

TEST_F(FeatureValuesTest, SequenceKeepsTheLastIdsAndPads) {
  plan_.source = CategoricalSpec::Source::kIdentity;
  plan_.num_buckets = 100;
  plan_.max_len = 3;
  plan_.padding_id = 0;
  plan_.keep_last = true;
  std::vector<int64_t> out(3, -1);
  int64_t length = 0;
  const FeatureValue long_list = std::vector<int64_t>{1, 2, 3, 4, 5};
  ASSERT_TRUE(SequenceIds(plan_, &long_list, where_, &stats_, out.data(), &length).ok());
  EXPECT_THAT(out, ElementsAre(3, 4, 5));
  EXPECT_EQ(length, 3);
  EXPECT_EQ(stats_.truncated, 1);
  const FeatureValue short_list = std::vector<int64_t>{9};
  ASSERT_TRUE(SequenceIds(plan_, &short_list, where_, &stats_, out.data(), &length).ok());
  EXPECT_THAT(out, ElementsAre(9, 0, 0));
  EXPECT_EQ(length, 1);
}

TEST_F(FeatureValuesTest, NumericFloatNormalizesAndDefaultsNonFinite) {
  plan_.kind = FeatureKind::kNumeric;
  plan_.produces_ids = false;
  plan_.normalize = true;
  plan_.subtract = 1;
  plan_.divide = 2;
  plan_.default_value = -1;
  float x = 0;
  const FeatureValue five = 5.0, nan = std::nan(""), text = std::string("5");
  ASSERT_TRUE(NumericFloat(plan_, &five, where_, &stats_, &x).ok());
  EXPECT_EQ(x, 2.0f);
  ASSERT_TRUE(NumericFloat(plan_, &nan, where_, &stats_, &x).ok());
  EXPECT_EQ(x, -1.0f);
  EXPECT_EQ(stats_.defaults_applied, 1);
  EXPECT_THAT(NumericFloat(plan_, &text, where_, &stats_, &x).message(),
              HasSubstr("from_string: true"));
}

TEST_F(FeatureValuesTest, NumericClampsBeforeNormalizingAndBucketizing) {
  plan_.kind = FeatureKind::kNumeric;
  plan_.produces_ids = false;
  plan_.normalize = true;
  plan_.subtract = 1;
  plan_.divide = 2;
  plan_.clamp_min = 0;
  plan_.clamp_max = 9;
  float x = 0;
  const FeatureValue huge = 1e30, low = -7.0, inside = 5.0, nan = std::nan("");
  ASSERT_TRUE(NumericFloat(plan_, &huge, where_, &stats_, &x).ok());
  EXPECT_EQ(x, 4.0f);  // (9 - 1) / 2
  ASSERT_TRUE(NumericFloat(plan_, &low, where_, &stats_, &x).ok());
  EXPECT_EQ(x, -0.5f);  // (0 - 1) / 2
  ASSERT_TRUE(NumericFloat(plan_, &inside, where_, &stats_, &x).ok());
  EXPECT_EQ(x, 2.0f);
  EXPECT_EQ(stats_.defaults_applied, 0);
  ASSERT_TRUE(NumericFloat(plan_, &nan, where_, &stats_, &x).ok());  // still the default
  EXPECT_EQ(stats_.defaults_applied, 1);

  const std::vector<float> boundaries = {1, 5, 10};
  plan_.produces_ids = true;
  plan_.normalize = false;
  plan_.boundaries = boundaries;
  int64_t id = -1;
  ASSERT_TRUE(NumericId(plan_, &huge, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 2);  // 9 lies in [5, 10); unclamped 1e30 would be bucket 3
  ASSERT_TRUE(NumericId(plan_, &low, where_, &stats_, &id).ok());
  EXPECT_EQ(id, 0);
}

// The Status-free fast paths ComputeFeature tries first write exactly what the general functions
// do, or decline (and count nothing); boundary lists short and long, both boundary_equal modes.
TEST_F(FeatureValuesTest, FastPathsAgreeWithTheGeneralPath) {
  std::vector<float> short_list, long_list;
  for (int i = 0; i < 10; ++i) short_list.push_back(-3.0f + 0.75f * static_cast<float>(i));
  for (int i = 0; i < 40; ++i) long_list.push_back(-3.0f + 0.2f * static_cast<float>(i));
  std::vector<FeatureValue> values = {
      FeatureValue(), int64_t{-4}, int64_t{0}, int64_t{3},       int64_t{100},     std::nan(""),
      INFINITY,       -INFINITY,   1e300,      std::string("a"), std::string("zz")};
  for (float b : long_list) {
    values.push_back(static_cast<double>(b));
    values.push_back(static_cast<double>(std::nextafter(b, -INFINITY)));
    values.push_back(static_cast<double>(std::nextafter(b, INFINITY)));
  }
  plan_.kind = FeatureKind::kNumeric;
  plan_.default_id = 7;
  plan_.default_value = -1.5f;
  int checked = 0;
  for (const std::vector<float>* boundaries : {&short_list, &long_list}) {
    for (bool below : {false, true}) {
      for (bool normalize : {false, true}) {
        plan_.boundaries = *boundaries;
        plan_.equal_goes_below = below;
        plan_.normalize = normalize;
        plan_.subtract = 0.5;
        plan_.divide = 2;
        for (const FeatureValue& v : values) {
          int64_t fast_id = -9, id = -9;
          FeatureStats stats;
          const absl::Status status = NumericId(plan_, &v, where_, &stats, &id);
          if (FastNumericId(plan_, &v, &fast_id)) {
            ASSERT_TRUE(status.ok());
            EXPECT_EQ(fast_id, id) << boundaries->size() << " " << below << " " << v.index();
            EXPECT_EQ(stats.defaults_applied, 0);
            ++checked;
          }
          float fast_x = -9, x = -9;
          stats = FeatureStats();
          const absl::Status float_status = NumericFloat(plan_, &v, where_, &stats, &x);
          if (FastNumericFloat(plan_, &v, &fast_x)) {
            ASSERT_TRUE(float_status.ok());
            EXPECT_EQ(fast_x, x);
            EXPECT_EQ(stats.defaults_applied, 0);
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 200);  // the fast path did take the common cases
  const FeatureValue nan = std::nan(""), one = int64_t{1};
  int64_t id = -9;
  EXPECT_FALSE(FastNumericId(plan_, &nan, &id));
  EXPECT_FALSE(FastNumericId(plan_, nullptr, &id));
  EXPECT_EQ(id, -9);

  plan_.kind = FeatureKind::kCategorical;
  for (auto source : {CategoricalSpec::Source::kIdentity, CategoricalSpec::Source::kPassthrough,
                      CategoricalSpec::Source::kVocabulary, CategoricalSpec::Source::kHash}) {
    plan_.source = source;
    plan_.num_buckets = 4;
    plan_.hash_buckets = 5;
    plan_.vocabulary = {{"a", 0}, {"3", 1}};
    plan_.vocabulary_size = 2;
    plan_.oov_buckets = 3;
    for (const FeatureValue& v : values) {
      int64_t fast_id = -9, slow_id = -9;
      FeatureStats stats;
      const absl::Status status = CategoricalId(plan_, &v, where_, &stats, &slow_id);
      if (FastCategoricalId(plan_, &v, &fast_id)) {
        ASSERT_TRUE(status.ok());
        EXPECT_EQ(fast_id, slow_id);
        EXPECT_EQ(stats.defaults_applied + stats.out_of_range, 0);
      }
    }
    plan_.vocabulary_index.Build({"a", "3"});  // as Create plans it: the same ids
    for (const FeatureValue& v : values) {
      int64_t fast_id = -9, slow_id = -9;
      FeatureStats stats;
      const absl::Status status = CategoricalId(plan_, &v, where_, &stats, &slow_id);
      if (FastCategoricalId(plan_, &v, &fast_id)) {
        ASSERT_TRUE(status.ok());
        EXPECT_EQ(fast_id, slow_id);
        EXPECT_EQ(stats.defaults_applied + stats.out_of_range, 0);
      }
    }
    plan_.vocabulary_index = VocabularyIndex();
  }
  plan_.source = CategoricalSpec::Source::kIdentity;
  EXPECT_TRUE(FastCategoricalId(plan_, &one, &id));
  EXPECT_EQ(id, 1);
}

// VocabularyIndex finds every word at its index and nothing else: words of every length from
// empty to past 16 bytes, sharing prefixes and suffixes (the hash reads only both ends), and
// misses one byte off.
TEST(VocabularyIndexTest, FindsEveryWordAndOnlyThose) {
  std::vector<std::string> words = {"", "a", "b", "ab", "ba", "abc", "Cash", "Credit Card"};
  for (int n = 1; n <= 24; ++n) {
    words.push_back(std::string(static_cast<size_t>(n), 'x'));
    std::string w(static_cast<size_t>(n), 'y');
    w[static_cast<size_t>(n) / 2] = 'z';  // differs only in the middle
    words.push_back(w);
  }
  for (int i = 0; i < 500; ++i) words.push_back("company " + std::to_string(i) + " inc");
  VocabularyIndex index;
  EXPECT_EQ(index.Find("a"), -1);  // not built: nothing
  index.Build(words);
  for (size_t i = 0; i < words.size(); ++i) EXPECT_EQ(index.Find(words[i]), int64_t(i)) << i;
  for (const std::string& w : words) {
    std::string miss = w + "!";
    EXPECT_EQ(index.Find(miss), -1) << miss;
    if (!w.empty()) {
      miss = w;
      miss[miss.size() / 2] ^= 1;
      EXPECT_EQ(index.Find(miss), -1) << miss;
    }
  }
  EXPECT_EQ(index.Find(std::string("company 1 inc\0", 14)), -1);
}

}  // namespace
}  // namespace rankopt::transformer_internal
