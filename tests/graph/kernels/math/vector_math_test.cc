// ExpF32 / SigmoidF32: every ISA bitwise equal to the scalar reference, close to libm.
#include "graph/kernels/math/vector_math.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rankopt {
namespace {

std::vector<float> Inputs() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          87.0f,
                          -87.0f,
                          88.0f,
                          89.0f,
                          -100.0f,
                          100.0f,
                          1e-8f,
                          -1e-8f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN()};
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-90.0f, 90.0f);
  for (int i = 0; i < 2000; ++i) v.push_back(dist(gen));
  std::uniform_real_distribution<float> small(-2.0f, 2.0f);
  for (int i = 0; i < 1000; ++i) v.push_back(small(gen));
  // Near both clamps, where the power of two 2^n is at its extremes (the AVX-512 path scales by
  // it with scalef, the others multiply by its constructed bits).
  for (float a = -88.0f; a < -86.0f; a += 0.001f) v.push_back(a);
  for (float a = 86.5f; a < 88.5f; a += 0.001f) v.push_back(a);
  return v;
}

TEST(VectorMathTest, IsasAgreeBitwiseForEveryLength) {
  const std::vector<float> x = Inputs();
  for (auto fn : {&ExpF32, &SigmoidF32}) {
    std::vector<float> ref(x.size());
    fn(x.data(), ref.data(), static_cast<int64_t>(x.size()), Isa::kScalar);
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      // Every tail length, with a sentinel past the end.
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{15}, int64_t{17}, int64_t{33},
                        static_cast<int64_t>(x.size())}) {
        std::vector<float> y(n + 1, 777.0f);
        fn(x.data(), y.data(), n, isa);
        EXPECT_EQ(y[n], 777.0f);
        ASSERT_EQ(0, std::memcmp(y.data(), ref.data(), n * sizeof(float)))
            << IsaName(isa) << " n=" << n;
      }
    }
  }
}

TEST(VectorMathTest, CloseToLibm) {
  const std::vector<float> x = Inputs();
  std::vector<float> e(x.size()), s(x.size());
  ExpF32(x.data(), e.data(), static_cast<int64_t>(x.size()));
  SigmoidF32(x.data(), s.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    if (std::isnan(xi)) {
      EXPECT_TRUE(std::isnan(e[i]));
      EXPECT_TRUE(std::isnan(s[i]));
      continue;
    }
    if (xi > -87.0 && xi < 88.0) {
      EXPECT_NEAR(e[i] / std::exp(xi), 1.0, 3e-7) << xi;
    }
    EXPECT_NEAR(s[i], 1.0 / (1.0 + std::exp(-xi)), 1.2e-7) << xi;
  }
}

}  // namespace
}  // namespace rankopt
