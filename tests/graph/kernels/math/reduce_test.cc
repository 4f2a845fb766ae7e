// Reduction and ArgMax/ArgMin kernels against numpy-computed values.
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/math/math_test_util.h"

namespace rankopt {
namespace math_test {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

// np.arange(24).reshape(2,3,4) - 6
Tensor X() {
  std::vector<float> v;
  for (int i = 0; i < 24; ++i) v.push_back(i - 6.0f);
  return F({2, 3, 4}, v);
}

Node Onnx(const char* op, std::vector<int64_t> axes, int64_t keepdims) {
  Node node = MakeNode(op);
  if (!axes.empty()) node.attrs.Set("axes", axes);
  node.attrs.Set("keepdims", keepdims);
  return node;
}

TEST(ReduceTest, CumSum) {
  Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  auto cumsum = [&](int64_t axis, int exclusive, int reverse, ModelFormat format) {
    AttrMap attrs;
    attrs.Set("exclusive", int64_t{exclusive});
    attrs.Set("reverse", int64_t{reverse});
    return Values<float>(
        Run1(MakeNode(format == kOnnx ? "CumSum" : "Cumsum", attrs), format, {x, I64({}, {axis})}));
  };
  EXPECT_THAT(cumsum(1, 0, 0, kOnnx), ElementsAre(1, 3, 6, 4, 9, 15));
  EXPECT_THAT(cumsum(-1, 1, 0, kOnnx), ElementsAre(0, 1, 3, 0, 4, 9));
  EXPECT_THAT(cumsum(1, 0, 1, kTf), ElementsAre(6, 5, 3, 15, 11, 6));
  EXPECT_THAT(cumsum(1, 1, 1, kOnnx), ElementsAre(5, 3, 0, 11, 6, 0));
  EXPECT_THAT(cumsum(0, 0, 0, kTf), ElementsAre(1, 2, 3, 5, 7, 9));
  EXPECT_THAT(Values<int64_t>(
                  Run1(MakeNode("CumSum"), kOnnx,
                       {I64({4}, {1, -2, 3, std::numeric_limits<int64_t>::max()}), I32({1}, {0})})),
              ElementsAre(1, -1, 2, std::numeric_limits<int64_t>::min() + 1));  // wraps
  EXPECT_THAT(RunStatus(MakeNode("CumSum"), kOnnx, {x, I64({}, {2})}).message(), HasSubstr("axis"));
  EXPECT_THAT(RunStatus(MakeNode("CumSum"), kOnnx, {x, I64({2}, {0, 1})}).message(),
              HasSubstr("expected one integer"));
}

TEST(ReduceTest, OnnxAxesAttributeAndInput) {
  Tensor out = Run1(Onnx("ReduceSum", {1}, 0), kOnnx, {X()});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_THAT(Values<float>(out), ElementsAre(-6, -3, 0, 3, 30, 33, 36, 39));
  // Opset 13+: axes as input 1; non-adjacent axes.
  out = Run1(Onnx("ReduceSum", {}, 0), kOnnx, {X(), I64({2}, {0, -1})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{3}));
  EXPECT_THAT(Values<float>(out), ElementsAre(12, 44, 76));
  out = Run1(Onnx("ReduceMean", {0, 2}, 1), kOnnx, {X()});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{1, 3, 1}));
  EXPECT_THAT(Values<float>(out), ElementsAre(1.5f, 5.5f, 9.5f));
  out = Run1(Onnx("ReduceMax", {2}, 0), kOnnx, {X()});
  EXPECT_THAT(Values<float>(out), ElementsAre(-3, 1, 5, 9, 13, 17));
  out = Run1(Onnx("ReduceMin", {0}, 0), kOnnx, {X()});
  EXPECT_THAT(Values<float>(out), ElementsAre(-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5));
  out = Run1(Onnx("ReduceProd", {1}, 0), kOnnx, {F({2, 2}, {1, 2, 3, 4})});
  EXPECT_THAT(Values<float>(out), ElementsAre(2, 12));
  out = Run1(Onnx("ReduceL2", {2}, 0), kOnnx, {X()});
  EXPECT_THAT(Values<float>(out),
              ElementsAre(FloatNear(9.2736187f, 1e-5), FloatNear(2.4494898f, 1e-5),
                          FloatNear(7.3484692f, 1e-5), FloatNear(15.16575f, 1e-5),
                          FloatNear(23.10844f, 1e-5), FloatNear(31.08054f, 1e-5)));
}

TEST(ReduceTest, OnnxEmptyAxes) {
  Tensor out = Run1(Onnx("ReduceSum", {}, 1), kOnnx, {X()});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_THAT(Values<float>(out), ElementsAre(132));
  Node noop = Onnx("ReduceSum", {}, 1);
  noop.attrs.Set("noop_with_empty_axes", int64_t{1});
  out = Run1(noop, kOnnx, {X(), I64({0}, {})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(out, X());
}

TEST(ReduceTest, TfReductionIndices) {
  Node sum = MakeNode("Sum");
  Tensor out = Run1(sum, kTf, {X(), I32({}, {1})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_THAT(Values<float>(out), ElementsAre(-6, -3, 0, 3, 30, 33, 36, 39));
  Node mean = MakeNode("Mean");
  mean.attrs.Set("keep_dims", true);
  out = Run1(mean, kTf, {X(), I64({2}, {0, 2})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{1, 3, 1}));
  EXPECT_THAT(Values<float>(out), ElementsAre(1.5f, 5.5f, 9.5f));
  // Empty indices reduce nothing.
  out = Run1(sum, kTf, {X(), I32({0}, {})});
  EXPECT_EQ(out, X());
  // Integer sums (feature-column graphs).
  out = Run1(sum, kTf, {I64({2, 3}, {1, 2, 3, 4, 5, 6}), I32({1}, {1})});
  EXPECT_THAT(Values<int64_t>(out), ElementsAre(6, 15));
  out = Run1(MakeNode("Prod"), kTf, {I32({3}, {2, 3, 4}), I32({}, {0})});
  EXPECT_THAT(Values<int32_t>(out), ElementsAre(24));
  out = Run1(MakeNode("Max"), kTf, {I32({2, 2}, {1, 9, -3, -4}), I32({}, {1})});
  EXPECT_THAT(Values<int32_t>(out), ElementsAre(9, -3));
}

TEST(ReduceTest, AllAny) {
  Tensor b = B({2, 3}, {1, 1, 0, 0, 0, 0});
  EXPECT_THAT(Values<uint8_t>(Run1(MakeNode("All"), kTf, {b, I32({}, {1})})), ElementsAre(0, 0));
  EXPECT_THAT(Values<uint8_t>(Run1(MakeNode("Any"), kTf, {b, I32({}, {1})})), ElementsAre(1, 0));
  EXPECT_THAT(Values<uint8_t>(Run1(MakeNode("All"), kTf, {b, I32({}, {0})})), ElementsAre(0, 0, 0));
}

TEST(ReduceTest, Errors) {
  absl::Status s = RunStatus(MakeNode("Sum"), kTf, {X(), I32({}, {3})});
  EXPECT_THAT(s.message(), HasSubstr("axis 3 is out of range for rank 3"));
  s = RunStatus(MakeNode("Sum"), kTf, {X(), F({}, {1})});
  EXPECT_THAT(s.message(), HasSubstr("expected int32 or int64"));
  s = RunStatus(MakeNode("All"), kTf, {X(), I32({}, {0})});
  EXPECT_THAT(s.message(), HasSubstr("expected dtype bool"));
  s = RunStatus(MakeNode("Sum"), kTf, {X()});
  EXPECT_THAT(s.message(), HasSubstr("expected 2"));
}

TEST(ArgTest, OnnxAndTf) {
  Tensor x = F({2, 3}, {1, 5, 5, 7, 2, 7});
  Node argmax = MakeNode("ArgMax");
  argmax.attrs.Set("axis", int64_t{1});
  Tensor out = Run1(argmax, kOnnx, {x});
  EXPECT_EQ(out.dtype(), DType::kInt64);
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 1}));
  EXPECT_THAT(Values<int64_t>(out), ElementsAre(1, 0));
  argmax.attrs.Set("select_last_index", int64_t{1});
  argmax.attrs.Set("keepdims", int64_t{0});
  out = Run1(argmax, kOnnx, {x});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2}));
  EXPECT_THAT(Values<int64_t>(out), ElementsAre(2, 2));
  Node argmin = MakeNode("ArgMin");
  argmin.attrs.Set("output_type", DType::kInt32);
  out = Run1(argmin, kTf, {x, I32({}, {0})});
  EXPECT_EQ(out.dtype(), DType::kInt32);
  EXPECT_THAT(Values<int32_t>(out), ElementsAre(0, 1, 0));
  absl::Status s = RunStatus(MakeNode("ArgMax"), kTf, {F({0, 2}, {}), I32({}, {0})});
  EXPECT_THAT(s.message(), HasSubstr("empty axis"));
}

}  // namespace
}  // namespace math_test
}  // namespace rankopt
