// Unary kernels against numpy/math-computed values.
#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/math/math_test_util.h"

namespace rankopt {
namespace math_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<float> kX = {-2, -0.5f, 0, 0.5f, 3};

void ExpectNear(const Tensor& t, const std::vector<float>& expected, float tol = 1e-6f) {
  std::vector<float> v = Values<float>(t);
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << i;
}

Tensor Unary(const char* op, ModelFormat format, Tensor x, AttrMap attrs = {}) {
  return Run1(MakeNode(op, std::move(attrs)), format, {x});
}

TEST(UnaryTest, Activations) {
  Tensor x = F({5}, kX);
  ExpectNear(Unary("Sigmoid", kOnnx, x), {0.119202922, 0.377540669, 0.5, 0.622459331, 0.952574127});
  ExpectNear(Unary("Tanh", kTf, x), {-0.96402758, -0.462117157, 0, 0.462117157, 0.995054754});
  ExpectNear(Unary("Elu", kOnnx, x), {-0.864664717, -0.39346934, 0, 0.5, 3});
  ExpectNear(Unary("Selu", kTf, x), {-1.52016647, -0.691758188, 0, 0.525350511, 3.15210295});
  ExpectNear(Unary("Softplus", kTf, x),
             {0.126928011, 0.474076984, 0.693147181, 0.974076984, 3.04858735});
  ExpectNear(Unary("Erf", kOnnx, x), {-0.995322265, -0.520499878, 0, 0.520499878, 0.99997791});
  ExpectNear(Unary("Softsign", kOnnx, x), {-0.666666687, -0.333333343, 0, 0.333333343, 0.75});
  EXPECT_THAT(Values<float>(Unary("Relu", kOnnx, x)), ElementsAre(0, 0, 0, 0.5f, 3));
  EXPECT_THAT(Values<float>(Unary("Relu6", kTf, F({3}, {-1, 4, 7}))), ElementsAre(0, 4, 6));
  // LeakyRelu defaults differ: ONNX 0.01, TF 0.2.
  EXPECT_THAT(Values<float>(Unary("LeakyRelu", kOnnx, F({2}, {-2, 2}))), ElementsAre(-0.02f, 2));
  EXPECT_THAT(Values<float>(Unary("LeakyRelu", kTf, F({2}, {-2, 2}))), ElementsAre(-0.4f, 2));
  AttrMap alpha;
  alpha.Set("alpha", 0.5f);
  EXPECT_THAT(Values<float>(Unary("LeakyRelu", kTf, F({2}, {-2, 2}), alpha)), ElementsAre(-1, 2));
  EXPECT_THAT(Values<float>(Unary("HardSigmoid", kOnnx, F({3}, {-5, 0, 1}))),
              ElementsAre(0, 0.5f, 0.7f));
}

// Expected values: torch.nn.functional (float64) on kX.
TEST(UnaryTest, ActivationsOfPyTorchExports) {
  Tensor x = F({5}, kX);
  ExpectNear(Unary("Gelu", kOnnx, x), {-0.0455002639, -0.154268769, 0, 0.345731231, 2.99595031});
  AttrMap tanh;
  tanh.Set("approximate", std::string("tanh"));
  ExpectNear(Unary("Gelu", kOnnx, x, tanh),
             {-0.0454023059, -0.15428599, 0, 0.34571401, 2.99636261});
  ExpectNear(Unary("Mish", kOnnx, x), {-0.252501483, -0.220743775, 0, 0.375245211, 2.986535});
  ExpectNear(Unary("HardSwish", kOnnx, x), {-0.333333333, -0.208333333, 0, 0.291666667, 3});
  AttrMap half;
  half.Set("alpha", 0.5f);
  ExpectNear(Unary("Celu", kOnnx, x, half), {-0.490842181, -0.316060279, 0, 0.5, 3});
  EXPECT_THAT(Values<float>(Unary("ThresholdedRelu", kOnnx, x)), ElementsAre(0, 0, 0, 0, 3));
  ExpectNear(Unary("Expm1", kTf, x), {-0.864664717, -0.39346934, 0, 0.648721271, 19.0855369},
             1e-5f);
  ExpectNear(Unary("Sin", kOnnx, x), {-0.909297427, -0.479425539, 0, 0.479425539, 0.141120008});
  ExpectNear(Unary("Cos", kTf, x), {-0.416146837, 0.877582562, 1, 0.877582562, -0.989992497});

  AttrMap bad;
  bad.Set("approximate", std::string("fast"));
  absl::Status s = RunStatus(MakeNode("Gelu", bad), kOnnx, {x});
  EXPECT_THAT(s.message(), HasSubstr("expected \"none\" or \"tanh\""));
  AttrMap zero;
  zero.Set("alpha", 0.0f);
  EXPECT_THAT(RunStatus(MakeNode("Celu", zero), kOnnx, {x}).message(), HasSubstr("nonzero"));
}

TEST(UnaryTest, NaNAndInfPredicates) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = F({5}, {-inf, -1, 0, inf, std::numeric_limits<float>::quiet_NaN()});
  EXPECT_THAT(Values<uint8_t>(Unary("IsNaN", kOnnx, x)), ElementsAre(0, 0, 0, 0, 1));
  EXPECT_THAT(Values<uint8_t>(Unary("IsInf", kOnnx, x)), ElementsAre(1, 0, 0, 1, 0));
  AttrMap positive_only;
  positive_only.Set("detect_negative", int64_t{0});
  EXPECT_THAT(Values<uint8_t>(Unary("IsInf", kOnnx, x, positive_only)), ElementsAre(0, 0, 0, 1, 0));
  EXPECT_THAT(Values<uint8_t>(Unary("IsInf", kTf, x)), ElementsAre(1, 0, 0, 1, 0));
  EXPECT_THAT(Values<uint8_t>(Unary("IsFinite", kTf, x)), ElementsAre(0, 1, 1, 0, 0));
  EXPECT_THAT(RunStatus(MakeNode("IsNaN"), kOnnx, {I32({1}, {1})}).message(),
              HasSubstr("float32/float64"));
}

// Expected values: numpy (float64) on y.
TEST(UnaryTest, Trigonometric) {
  Tensor y = F({3}, {-0.5f, 0.25f, 0.75f});
  ExpectNear(Unary("Tan", kOnnx, y), {-0.546302490, 0.255341921, 0.931596460});
  ExpectNear(Unary("Sinh", kTf, y), {-0.521095305, 0.252612317, 0.822316731});
  ExpectNear(Unary("Cosh", kOnnx, y), {1.127625965, 1.031413100, 1.294683285});
  ExpectNear(Unary("Asin", kOnnx, y), {-0.523598776, 0.252680255, 0.848062079});
  ExpectNear(Unary("Acos", kTf, y), {2.094395102, 1.318116072, 0.722734248});
  ExpectNear(Unary("Atan", kOnnx, y), {-0.463647609, 0.244978663, 0.643501109});
}

TEST(UnaryTest, SoftplusDoesNotOverflow) {
  EXPECT_THAT(Values<float>(Unary("Softplus", kTf, F({2}, {200, -200}))), ElementsAre(200, 0));
}

TEST(UnaryTest, Math) {
  Tensor y = F({3}, {0.25f, 1, 4});
  ExpectNear(Unary("Log", kOnnx, y), {-1.38629436, 0, 1.38629436});
  ExpectNear(Unary("Rsqrt", kTf, y), {2, 1, 0.5});
  ExpectNear(Unary("Exp", kTf, y), {1.28402542, 2.71828183, 54.59815}, 1e-5f);
  EXPECT_THAT(Values<float>(Unary("Sqrt", kOnnx, y)), ElementsAre(0.5f, 1, 2));
  EXPECT_THAT(Values<float>(Unary("Reciprocal", kOnnx, y)), ElementsAre(4, 1, 0.25f));
  EXPECT_THAT(Values<float>(Unary("Square", kTf, F({2}, {-3, 1.5f}))), ElementsAre(9, 2.25f));
  EXPECT_THAT(Values<float>(Unary("Floor", kOnnx, F({3}, {-1.5f, 0.5f, 2}))),
              ElementsAre(-2, 0, 2));
  EXPECT_THAT(Values<float>(Unary("Ceil", kTf, F({3}, {-1.5f, 0.5f, 2}))), ElementsAre(-1, 1, 2));
  EXPECT_THAT(Values<float>(Unary("Round", kTf, F({4}, {0.5f, 1.5f, 2.5f, -0.5f}))),
              ElementsAre(0, 2, 2, -0.0f));
  EXPECT_THAT(Values<float>(Unary("Sign", kOnnx, F({3}, {-3, 0, 2}))), ElementsAre(-1, 0, 1));
  EXPECT_THAT(Values<float>(Unary("Neg", kOnnx, F({2}, {1, -2}))), ElementsAre(-1, 2));
  EXPECT_THAT(Values<float>(Unary("Abs", kTf, F({2}, {1, -2}))), ElementsAre(1, 2));
}

TEST(UnaryTest, IntTypes) {
  const int32_t min = std::numeric_limits<int32_t>::min();
  EXPECT_THAT(Values<int32_t>(Unary("Neg", kTf, I32({3}, {1, -2, min}))), ElementsAre(-1, 2, min));
  EXPECT_THAT(Values<int64_t>(Unary("Abs", kOnnx, I64({2}, {-5, 5}))), ElementsAre(5, 5));
  EXPECT_THAT(Values<int64_t>(Unary("Sign", kTf, I64({3}, {-5, 0, 5}))), ElementsAre(-1, 0, 1));
  absl::Status s = RunStatus(MakeNode("Sigmoid"), kTf, {I32({1}, {1})});
  EXPECT_THAT(s.message(), HasSubstr("expected dtype float32"));
}

TEST(UnaryTest, LogicalNotAndFillLike) {
  EXPECT_THAT(Values<uint8_t>(Unary("LogicalNot", kTf, B({3}, {0, 1, 7}))), ElementsAre(1, 0, 0));
  EXPECT_THAT(Values<uint8_t>(Unary("Not", kOnnx, B({2}, {0, 1}))), ElementsAre(1, 0));
  Tensor z = Unary("ZerosLike", kTf, I64({2, 1}, {4, 5}));
  EXPECT_EQ(z.dtype(), DType::kInt64);
  EXPECT_EQ(z.dims(), (std::vector<int64_t>{2, 1}));
  EXPECT_THAT(Values<int64_t>(z), ElementsAre(0, 0));
  EXPECT_THAT(Values<float>(Unary("OnesLike", kTf, F({2}, {4, 5}))), ElementsAre(1, 1));
}

TEST(UnaryTest, Clip) {
  Tensor x = F({4}, {-2, 0.5f, 3, 10});
  // Opset >= 11: bounds as inputs, either may be omitted.
  EXPECT_THAT(Values<float>(Run1(MakeNode("Clip"), kOnnx, {x, F({}, {0}), F({}, {6})})),
              ElementsAre(0, 0.5f, 3, 6));
  EXPECT_THAT(Values<float>(Run1(MakeNode("Clip"), kOnnx, {x, std::nullopt, F({}, {1})})),
              ElementsAre(-2, 0.5f, 1, 1));
  // Opset < 11: attributes.
  AttrMap attrs;
  attrs.Set("min", -1.0f);
  attrs.Set("max", 2.0f);
  EXPECT_THAT(Values<float>(Run1(MakeNode("Clip", attrs), kOnnx, {x})),
              ElementsAre(-1, 0.5f, 2, 2));
  EXPECT_THAT(
      Values<float>(Run1(MakeNode("ClipByValue"), kTf, {x, F({}, {0}), F({4}, {1, 1, 5, 5})})),
      ElementsAre(0, 0.5f, 3, 5));
  absl::Status s = RunStatus(MakeNode("Clip"), kOnnx, {x, F({2}, {0, 1})});
  EXPECT_THAT(s.message(), HasSubstr("expected a scalar"));
}

}  // namespace
}  // namespace math_test
}  // namespace rankopt
