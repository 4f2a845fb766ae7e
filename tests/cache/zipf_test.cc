#include "bench/cache/zipf.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace rankopt {
namespace {

// Empirical frequencies against P(k) = k^-s / sum_j j^-s.
void CheckDistribution(uint64_t n, double s) {
  ZipfGenerator zipf(n, s, /*seed=*/123);
  constexpr int kSamples = 2000000;
  std::vector<int64_t> counts(n + 1, 0);
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t k = zipf.Next();
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, n);
    ++counts[k];
  }
  double norm = 0;
  for (uint64_t k = 1; k <= n; ++k) norm += std::pow(static_cast<double>(k), -s);
  for (uint64_t k : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{10}, n / 2, n}) {
    const double p = std::pow(static_cast<double>(k), -s) / norm;
    const double expected = p * kSamples;
    const double sigma = std::sqrt(expected * (1 - p));
    EXPECT_NEAR(counts[k], expected, 5 * sigma + 1) << "n=" << n << " s=" << s << " k=" << k;
  }
}

TEST(ZipfGeneratorTest, MatchesPmf) {
  CheckDistribution(100, 1.1);
  CheckDistribution(100, 1.0);
  CheckDistribution(1000, 0.8);
  CheckDistribution(50, 2.0);
}

TEST(ZipfGeneratorTest, SingleElementAndLargeN) {
  ZipfGenerator one(1, 1.1, 1);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(one.Next(), 1u);
  ZipfGenerator big(1000000, 1.0, 2);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t k = big.Next();
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, 1000000u);
  }
}

TEST(ZipfGeneratorTest, SameSeedSameSequence) {
  ZipfGenerator a(1000, 1.1, 9);
  ZipfGenerator b(1000, 1.1, 9);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(a.Next(), b.Next());
}

}  // namespace
}  // namespace rankopt
