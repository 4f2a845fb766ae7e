// Softmax, LogSoftmax, BatchNormalization, FusedBatchNorm and LayerNormalization kernels
// against numpy-computed values.
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/math/math_test_util.h"

namespace rankopt {
namespace math_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

void ExpectNear(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  std::vector<float> v = Values<float>(t);
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << i;
}

TEST(SoftmaxTest, LastAxisAndExplicitAxis) {
  Tensor x = F({2, 3}, {1, 2, 3, 1, 1, 1});
  ExpectNear(Run1(MakeNode("Softmax"), kOnnx, {x}),
             {0.0900305732, 0.244728471, 0.665240956, 0.333333333, 0.333333333, 0.333333333});
  ExpectNear(Run1(MakeNode("Softmax"), kTf, {x}),
             {0.0900305732, 0.244728471, 0.665240956, 0.333333333, 0.333333333, 0.333333333});
  ExpectNear(Run1(MakeNode("LogSoftmax"), kOnnx, {x}),
             {-2.40760596, -1.40760596, -0.407605964, -1.09861229, -1.09861229, -1.09861229});
  Node axis0 = MakeNode("Softmax");
  axis0.attrs.Set("axis", int64_t{0});
  ExpectNear(Run1(axis0, kOnnx, {x}),
             {0.5, 0.731058579, 0.880797078, 0.5, 0.268941421, 0.119202922});
  // Large logits do not overflow.
  ExpectNear(Run1(MakeNode("Softmax"), kTf, {F({2}, {1000, 1000})}), {0.5, 0.5});
  Node bad = MakeNode("Softmax");
  bad.attrs.Set("axis", int64_t{2});
  EXPECT_THAT(RunStatus(bad, kOnnx, {x}).message(), HasSubstr("out of range"));
}

// The last-axis path (blocks of rows through the vectorized exp) against a double-precision
// softmax: short attention rows, a row longer than one block, additive -inf masks and a NaN row.
TEST(SoftmaxTest, LastAxisRowsMatchDoublePrecision) {
  for (const auto& [rows, n] : std::vector<std::pair<int64_t, int64_t>>{
           {4800, 10}, {3, 1}, {7, 33}, {2, 5000}, {1, 4097}}) {
    std::vector<float> v(static_cast<size_t>(rows * n));
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<float>((i * 2654435761u) % 2000) / 100.0f - 10.0f;
    }
    if (n > 2) v[1] = -std::numeric_limits<float>::infinity();  // a masked entry
    if (rows > 2) v[static_cast<size_t>(2 * n)] = std::nanf("");  // row 2 becomes NaN
    const std::vector<float> y =
        Values<float>(Run1(MakeNode("Softmax"), kOnnx, {F({rows, n}, v)}));
    ASSERT_EQ(y.size(), v.size());
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = v.data() + r * n;
      bool nan = false;
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < n; ++k) {
        nan = nan || std::isnan(x[k]);
        if (!std::isnan(x[k])) max = std::max(max, static_cast<double>(x[k]));
      }
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(x[k]) - max);
      for (int64_t k = 0; k < n; ++k) {
        const float got = y[static_cast<size_t>(r * n + k)];
        if (nan) {
          EXPECT_TRUE(std::isnan(got)) << r << "," << k;
          continue;
        }
        const double want = std::exp(static_cast<double>(x[k]) - max) / sum;
        if (want == 0) {  // the masked entry
          EXPECT_EQ(got, 0.0f) << rows << "x" << n << " row " << r << ", " << k;
          continue;
        }
        // exp's 2 ulp, the float sum's rounding (n/2 ulp at worst), and the float logit's own
        // rounding (1 ulp of x - max) carried through exp.
        const double tol =
            want * (6e-7 + 6e-8 * n + 1.2e-7 * std::fabs(static_cast<double>(x[k]) - max));
        EXPECT_NEAR(got, want, tol + 1e-30) << rows << "x" << n << " row " << r << ", " << k;
      }
    }
  }
}

TEST(BatchNormTest, OnnxChannelsFirst) {
  // x [1,2,2]: channel 0 = {1,2}, channel 1 = {3,4}.
  Tensor x = F({1, 2, 2}, {1, 2, 3, 4});
  Tensor scale = F({2}, {2, 1});
  Tensor bias = F({2}, {0, 1});
  Tensor mean = F({2}, {1, 3});
  Tensor var = F({2}, {4, 1});
  Node node = MakeNode("BatchNormalization");
  node.attrs.Set("epsilon", 0.0f);
  for (bool constant : {false, true}) {
    Tensor out = Run1(node, kOnnx, {x, scale, bias, mean, var},
                      {false, constant, constant, constant, constant});
    // (x - mean) / sqrt(var) * scale + bias
    ExpectNear(out, {0, 1, 1, 2});
  }
  EXPECT_THAT(RunStatus(node, kOnnx, {x, F({3}, {1, 1, 1}), bias, mean, var}).message(),
              HasSubstr("expected [2] float32"));
}

TEST(BatchNormTest, TfFusedChannelsLast) {
  Tensor x = F({1, 1, 2, 2}, {1, 3, 2, 4});  // NHWC, channels {1,2} and {3,4}
  Node node = MakeNode("FusedBatchNormV3");
  node.attrs.Set("epsilon", 0.0f);
  node.attrs.Set("is_training", false);
  absl::StatusOr<std::vector<Tensor>> out = RunKernel(
      Registry(), node, kTf, {x, F({2}, {2, 1}), F({2}, {0, 1}), F({2}, {1, 3}), F({2}, {4, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 6u);
  ExpectNear((*out)[0], {0, 1, 1, 2});
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(1, 3));
  node.attrs.Set("is_training", true);
  EXPECT_THAT(RunStatus(node, kTf, {x, x, x, x, x}).message(), HasSubstr("is_training"));
}

TEST(LayerNormTest, LastAxisWithStats) {
  Tensor x = F({2, 4}, {1, 2, 3, 4, 2, 2, 2, 6});
  Node node = MakeNode("LayerNormalization");
  node.output_names = {"y", "mean", "inv_std"};
  absl::StatusOr<std::vector<Tensor>> out =
      RunKernel(Registry(), node, kOnnx, {x, F({4}, {1, 2, 0.5f, 1}), F({4}, {0, 1, 0, -1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  ExpectNear((*out)[0],
             {-1.34163542, 0.105576387, 0.223605903, 0.34163542, -0.577349307, -0.154698614,
              -0.288674653, 0.732047921},
             1e-5f);
  EXPECT_EQ((*out)[1].dims(), (std::vector<int64_t>{2, 1}));
  ExpectNear((*out)[1], {2.5, 3});
  ExpectNear((*out)[2], {0.894423613, 0.577349307}, 1e-5f);
}

}  // namespace
}  // namespace math_test
}  // namespace rankopt
