// Convolution, pooling, top-k and BiasAddGrad kernels against numpy-computed values
// (tests/data/ops/nn_reference.py; the numbers are baked in).
#include "graph/kernels/math/nn_kernels.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/kernel_test_harness.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const KernelRegistry& Registry() { return RegistryOf<RegisterNnKernels>(); }

constexpr ModelFormat kOnnx = ModelFormat::kOnnx;
constexpr ModelFormat kTf = ModelFormat::kTfGraphDef;

Node MakeNode(std::string op) {
  Node node;
  node.name = "n";
  node.op = std::move(op);
  return node;
}

template <typename T>
Tensor Make(std::vector<int64_t> dims, std::vector<T> values) {
  absl::StatusOr<Tensor> t = Tensor::FromValues<T>(std::move(dims), values);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}
Tensor F(std::vector<int64_t> dims, std::vector<float> v) { return Make<float>(dims, v); }

// start, start + step, ... (n values).
std::vector<float> Ramp(int n, float start, float step) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(start + step * i);
  return v;
}

absl::StatusOr<std::vector<Tensor>> RunNn(const Node& node, ModelFormat format,
                                          const std::vector<std::optional<Tensor>>& inputs,
                                          std::vector<bool> constant = {}) {
  return RunKernel(Registry(), node, format, inputs, std::move(constant));
}

// Runs and checks output 0 against `dims` and `expected` (1e-5 relative + 1e-6 absolute).
void ExpectOutput(const Node& node, ModelFormat format,
                  const std::vector<std::optional<Tensor>>& inputs,
                  const std::vector<int64_t>& dims, const std::vector<float>& expected,
                  std::vector<bool> constant = {}) {
  absl::StatusOr<std::vector<Tensor>> out = RunNn(node, format, inputs, std::move(constant));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_FALSE(out->empty());
  const Tensor& t = (*out)[0];
  EXPECT_EQ(t.dims(), dims);
  ASSERT_EQ(t.num_elements(), static_cast<int64_t>(expected.size()));
  absl::Span<const float> got = t.values<float>();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], 1e-6 + 1e-5 * std::fabs(expected[i])) << "element " << i;
  }
}

Node TfConv(const char* op, std::string padding, std::vector<int64_t> strides = {1, 1, 1, 1},
            std::vector<int64_t> dilations = {1, 1, 1, 1}) {
  Node node = MakeNode(op);
  node.attrs.Set("strides", strides);
  node.attrs.Set("dilations", dilations);
  node.attrs.Set("padding", std::move(padding));
  node.attrs.Set("data_format", std::string("NHWC"));
  return node;
}

// x (1,3,3,2) = arange/4 - 1; w (2,2,2,3) = (arange - 12)/8.
Tensor ConvX() { return F({1, 3, 3, 2}, Ramp(18, -1.0f, 0.25f)); }
Tensor ConvW() { return F({2, 2, 2, 3}, Ramp(24, -1.5f, 0.125f)); }

TEST(ConvTest, TfConv2DSame) {
  const std::vector<float> expected = {
      5.25,    5.375, 5.5,     4.5,      5.125,  5.75,    0.375,    0.8125,  1.25,
      3,       4.625, 6.25,    2.25,     4.375,  6.5,     -3,       -1.8125, -0.625,
      -8.4375, -7.25, -6.0625, -10.3125, -8.875, -7.4375, -8.15625, -7.375,  -6.59375};
  // Filter constant (packed at build) and fed at run time give the same values.
  ExpectOutput(TfConv("Conv2D", "SAME"), kTf, {ConvX(), ConvW()}, {1, 3, 3, 3}, expected,
               {false, true});
  ExpectOutput(TfConv("Conv2D", "SAME"), kTf, {ConvX(), ConvW()}, {1, 3, 3, 3}, expected);
}

TEST(ConvTest, TfConv2DStridesDilationsExplicit) {
  Tensor x = F({1, 5, 5, 1}, Ramp(25, 0, 1));
  Tensor w = F({2, 2, 1, 1}, {1, 2, 3, 4});
  ExpectOutput(TfConv("Conv2D", "VALID", {1, 2, 2, 1}, {1, 2, 2, 1}), kTf, {x, w}, {1, 2, 2, 1},
               {82, 102, 182, 202});
  Node explicit_pad = TfConv("Conv2D", "EXPLICIT", {1, 2, 2, 1});
  explicit_pad.attrs.Set("explicit_paddings", std::vector<int64_t>{0, 0, 1, 0, 0, 1, 0, 0});
  ExpectOutput(explicit_pad, kTf, {x, w}, {1, 3, 3, 1}, {4, 18, 12, 91, 111, 51, 191, 211, 91});
}

TEST(ConvTest, TfConv2DNchwMatchesNhwc) {
  Tensor x = F({1, 5, 5, 1}, Ramp(25, 0, 1));  // one channel: NCHW has the same bytes
  Node node = TfConv("Conv2D", "VALID", {1, 1, 2, 2}, {1, 1, 2, 2});
  node.attrs.Set("data_format", std::string("NCHW"));
  ExpectOutput(node, kTf, {F({1, 1, 5, 5}, Ramp(25, 0, 1)), F({2, 2, 1, 1}, {1, 2, 3, 4})},
               {1, 1, 2, 2}, {82, 102, 182, 202});
}

TEST(ConvTest, TfDepthwiseSameMultiplier2) {
  Tensor x = F({1, 2, 3, 2}, Ramp(12, -5, 1));
  Tensor w = F({2, 2, 2, 2}, Ramp(16, 0, 0.1f));
  ExpectOutput(TfConv("DepthwiseConv2dNative", "SAME"), kTf, {x, w}, {1, 2, 3, 4},
               {3.2, 2.8, 5.6, 5.6, 8.0, 8.4, 12,  12.8, 4.0, 4.4, 6,   6.6,
                1.2, 1.6, 2.8, 3.4, 2,   2.8, 4.4, 5.4,  0,   0.5, 1.2, 1.8});
}

Node OnnxConv(int64_t group, std::vector<int64_t> strides, std::vector<int64_t> dilations) {
  Node node = MakeNode("Conv");
  node.attrs.Set("group", group);
  node.attrs.Set("strides", strides);
  node.attrs.Set("dilations", dilations);
  return node;
}

TEST(ConvTest, OnnxGroupsPadsStridesBias) {
  // x (1,4,3,3) = arange/10; W (4,2,2,2) = (arange-16)/16; pads [1,0,0,1]; strides [2,1].
  Tensor x = F({1, 4, 3, 3}, Ramp(36, 0, 0.1f));
  Tensor w = F({4, 2, 2, 2}, Ramp(32, -1, 0.0625f));
  Tensor b = F({4}, {1, -1, 0.5, 0});
  Node node = OnnxConv(2, {2, 1}, {1, 1});
  node.attrs.Set("pads", std::vector<int64_t>{1, 0, 0, 1});
  const std::vector<float> expected = {-0.20625, -0.49375, 0.1375,  -4.4,  -5.025, -2.3125,
                                       -1.20625, -1.29375, -1.2125, -2.6,  -2.825, -2.1125,
                                       3.31875,  3.43125,  1.8375,  5.85,  6.025,  2.9375,
                                       7.41875,  7.73125,  3.7875,  16.35, 16.925, 8.2375};
  ExpectOutput(node, kOnnx, {x, w, b}, {1, 4, 2, 3}, expected, {false, true, true});
  ExpectOutput(node, kOnnx, {x, w, b}, {1, 4, 2, 3}, expected);
}

TEST(ConvTest, OnnxDilationsSameLower) {
  Tensor x = F({1, 4, 3, 3}, Ramp(36, 0, 0.1f));
  Tensor w = F({4, 2, 2, 2}, Ramp(32, -1, 0.0625f));
  Node node = OnnxConv(2, {1, 1}, {2, 1});
  node.attrs.Set("auto_pad", std::string("SAME_LOWER"));
  ExpectOutput(node, kOnnx, {x, w, std::nullopt}, {1, 4, 3, 3},
               {-0.91875, -2.06875, -2.35625, -1.95, -4.3875, -5.0125, -1.10625, -2.46875, -2.80625,
                -0.16875, -0.46875, -0.55625, -0.45, -1.1875, -1.4125, -0.35625, -0.86875, -1.00625,
                1.70625,  3.15625,  3.26875,  2.85,  5.1625,  5.3375,  1.06875,  1.85625,  1.91875,
                4.25625,  8.35625,  8.66875,  7.95,  15.5625, 16.1375, 3.61875,  7.05625,  7.31875},
               {false, true});
}

// Pointwise convolutions (one group, kernel 1, stride 1, no padding: xDeepFM's CIN) run as a
// GEMM per batch row; each output is, bit for bit, fma(x, w, acc) over the input channels in
// increasing order from 0, then + bias.
float PointwiseReference(const std::vector<float>& x, const std::vector<float>& w,
                         const std::vector<float>* bias, int64_t c_size, int64_t p_size, int64_t n,
                         int64_t m, int64_t p) {
  float acc = 0.0f;
  for (int64_t ci = 0; ci < c_size; ++ci) {
    acc = std::fma(x[(n * c_size + ci) * p_size + p], w[m * c_size + ci], acc);
  }
  return bias != nullptr ? acc + (*bias)[m] : acc;
}

TEST(ConvTest, OnnxPointwiseConv1dIsBitwiseTheFmaChain) {
  // Ragged sizes: 37 input channels, 19 output channels (a full and a partial panel of 16), 5
  // positions, 3 batch rows; a constant filter (packed at plan time) and a fed one.
  constexpr int64_t kN = 3, kC = 37, kM = 19, kP = 5;
  std::vector<float> xv(kN * kC * kP), wv(kM * kC), bv(kM);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::sin(0.37f * i) * 1.7f;
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = std::cos(0.11f * i) * 0.6f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.05f * i - 0.4f;
  Node node = OnnxConv(1, {1}, {1});
  node.attrs.Set("kernel_shape", std::vector<int64_t>{1});
  for (const bool with_bias : {true, false}) {
    for (const bool constant : {true, false}) {
      std::vector<std::optional<Tensor>> inputs = {F({kN, kC, kP}, xv), F({kM, kC, 1}, wv)};
      if (with_bias) inputs.push_back(F({kM}, bv));
      absl::StatusOr<std::vector<Tensor>> out =
          RunNn(node, kOnnx, inputs, {false, constant, constant});
      ASSERT_TRUE(out.ok()) << out.status();
      const Tensor& t = (*out)[0];
      ASSERT_THAT(t.dims(), ElementsAre(kN, kM, kP));
      for (int64_t n = 0; n < kN; ++n) {
        for (int64_t m = 0; m < kM; ++m) {
          for (int64_t p = 0; p < kP; ++p) {
            const float want =
                PointwiseReference(xv, wv, with_bias ? &bv : nullptr, kC, kP, n, m, p);
            ASSERT_EQ(t.values<float>()[(n * kM + m) * kP + p], want)
                << "n " << n << " m " << m << " p " << p << " bias " << with_bias << " constant "
                << constant;
          }
        }
      }
    }
  }
}

TEST(ConvTest, TfPointwiseConv2DNhwcMatchesTheReference) {
  // x [1, 2, 3, 4] NHWC, filter [1, 1, 4, 3]: out[h, w, m] = sum_c x[h, w, c] * f[c, m].
  Tensor x = F({1, 2, 3, 4}, Ramp(24, -1.0f, 0.125f));
  Tensor w = F({1, 1, 4, 3}, Ramp(12, 0.5f, -0.0625f));
  std::vector<float> expected;
  for (int pos = 0; pos < 6; ++pos) {
    for (int m = 0; m < 3; ++m) {
      double acc = 0;
      for (int c = 0; c < 4; ++c)
        acc += (-1.0 + 0.125 * (pos * 4 + c)) * (0.5 - 0.0625 * (c * 3 + m));
      expected.push_back(static_cast<float>(acc));
    }
  }
  ExpectOutput(TfConv("Conv2D", "VALID"), kTf, {x, w}, {1, 2, 3, 3}, expected, {false, true});
  ExpectOutput(TfConv("Conv2D", "SAME"), kTf, {x, w}, {1, 2, 3, 3}, expected);
}

TEST(ConvTest, BadShapesAndAttrsAreErrors) {
  // Channels do not match the filter's input depth.
  absl::Status s =
      RunNn(TfConv("Conv2D", "SAME"), kTf, {F({1, 3, 3, 3}, Ramp(27, 0, 1)), ConvW()}).status();
  EXPECT_THAT(s.message(), HasSubstr("input depth"));
  s = RunNn(TfConv("Conv2D", "FULL"), kTf, {ConvX(), ConvW()}).status();
  EXPECT_THAT(s.message(), HasSubstr("padding 'FULL'"));
  s = RunNn(TfConv("Conv2D", "SAME", {2, 1, 1, 1}), kTf, {ConvX(), ConvW()}).status();
  EXPECT_THAT(s.message(), HasSubstr("batch and channel"));
  // A window larger than the input.
  s = RunNn(TfConv("Conv2D", "VALID"), kTf, {F({1, 1, 1, 2}, {1, 2}), ConvW()}).status();
  EXPECT_THAT(s.message(), HasSubstr("larger than the padded input"));
  // Depthwise filter for another channel count; ONNX bias of the wrong length.
  s = RunNn(TfConv("DepthwiseConv2dNative", "SAME"), kTf,
            {ConvX(), F({2, 2, 3, 1}, Ramp(12, 0, 1))})
          .status();
  EXPECT_THAT(s.message(), HasSubstr("depthwise filter expects 3"));
  s = RunNn(OnnxConv(2, {1, 1}, {1, 1}), kOnnx,
            {F({1, 4, 3, 3}, Ramp(36, 0, 1)), F({4, 2, 2, 2}, Ramp(32, 0, 1)), F({3}, {1, 2, 3})})
          .status();
  EXPECT_THAT(s.message(), HasSubstr("bias"));
  s = RunNn(OnnxConv(3, {1, 1}, {1, 1}), kOnnx,
            {F({1, 4, 3, 3}, Ramp(36, 0, 1)), F({4, 2, 2, 2}, Ramp(32, 0, 1))})
          .status();
  EXPECT_THAT(s.message(), HasSubstr("groups"));
}

Node TfPool(const char* op, std::vector<int64_t> ksize, std::vector<int64_t> strides,
            std::string padding, std::string format) {
  Node node = MakeNode(op);
  node.attrs.Set("ksize", ksize);
  node.attrs.Set("strides", strides);
  node.attrs.Set("padding", std::move(padding));
  node.attrs.Set("data_format", std::move(format));
  return node;
}

TEST(PoolTest, TfMaxAndAvgSame) {
  // SAME with an odd padding element at the end: AvgPool divides by the valid count.
  ExpectOutput(TfPool("MaxPool", {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME", "NHWC"), kTf, {ConvX()},
               {1, 2, 2, 2}, {1, 1.25, 1.5, 1.75, 2.5, 2.75, 3, 3.25});
  ExpectOutput(TfPool("AvgPool", {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME", "NHWC"), kTf, {ConvX()},
               {1, 2, 2, 2}, {0, 0.25, 0.75, 1, 2.25, 2.5, 3, 3.25});
}

Tensor PoolX() { return F({1, 1, 4, 4}, {1, 5, 2, 0, 3, -1, 4, 7, 6, 2, -3, 1, 0, 8, 9, -2}); }

TEST(PoolTest, TfMaxPoolNchwAndMaxPool3D) {
  ExpectOutput(TfPool("MaxPool", {1, 1, 2, 2}, {1, 1, 2, 2}, "VALID", "NCHW"), kTf, {PoolX()},
               {1, 1, 2, 2}, {5, 7, 8, 9});
  std::vector<float> x;
  for (int i = 0; i < 27; ++i) x.push_back(static_cast<float>(std::sin(i) * 10));
  ExpectOutput(
      TfPool("MaxPool3D", {1, 2, 2, 2, 1}, {1, 2, 2, 2, 1}, "SAME", "NDHWC"), kTf,
      {F({1, 3, 3, 3, 1}, x)}, {1, 2, 2, 2, 1},
      {8.41471, 9.9060736, 6.5698662, 9.8935823, 8.3665562, 9.1294527, -1.3235174, 7.6255846});
}

Node OnnxPool(const char* op, std::vector<int64_t> pads, int64_t ceil_mode) {
  Node node = MakeNode(op);
  node.attrs.Set("kernel_shape", std::vector<int64_t>{3, 3});
  node.attrs.Set("strides", std::vector<int64_t>{2, 2});
  node.attrs.Set("pads", pads);
  node.attrs.Set("ceil_mode", ceil_mode);
  return node;
}

TEST(PoolTest, OnnxPadsCeilModeCountIncludePad) {
  ExpectOutput(OnnxPool("MaxPool", {0, 0, 0, 0}, 1), kOnnx, {PoolX()}, {1, 1, 2, 2}, {6, 7, 9, 9});
  ExpectOutput(OnnxPool("AveragePool", {0, 0, 0, 0}, 1), kOnnx, {PoolX()}, {1, 1, 2, 2},
               {2.1111111, 1.8333333, 3.6666667, 1.25});
  ExpectOutput(OnnxPool("MaxPool", {0, 0, 0, 0}, 0), kOnnx, {PoolX()}, {1, 1, 1, 1}, {6});
  ExpectOutput(OnnxPool("AveragePool", {1, 1, 1, 1}, 0), kOnnx, {PoolX()}, {1, 1, 2, 2},
               {2, 2.8333333, 3, 2.7777778});
  Node include = OnnxPool("AveragePool", {1, 1, 1, 1}, 0);
  include.attrs.Set("count_include_pad", int64_t{1});
  ExpectOutput(include, kOnnx, {PoolX()}, {1, 1, 2, 2}, {0.88888889, 1.8888889, 2, 2.7777778});
}

TEST(PoolTest, OnnxGlobalPools) {
  Tensor x = F({1, 4, 3, 3}, Ramp(36, 0, 0.1f));
  ExpectOutput(MakeNode("GlobalAveragePool"), kOnnx, {x}, {1, 4, 1, 1}, {0.4, 1.3, 2.2, 3.1});
  ExpectOutput(MakeNode("GlobalMaxPool"), kOnnx, {x}, {1, 4, 1, 1}, {0.8, 1.7, 2.6, 3.5});
}

TEST(PoolTest, ErrorsNameTheProblem) {
  absl::Status s = RunNn(TfPool("MaxPool", {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME", "NHWC"), kTf,
                         {F({2, 2}, {1, 2, 3, 4})})
                       .status();
  EXPECT_THAT(s.message(), HasSubstr("must have rank 4"));
  s = RunNn(TfPool("MaxPool", {1, 2, 2, 1}, {1, 2, 2, 1}, "SAME", "CHWN"), kTf, {ConvX()}).status();
  EXPECT_THAT(s.message(), HasSubstr("data_format 'CHWN'"));
  s = RunNn(OnnxPool("MaxPool", {3, 3, 0, 0}, 0), kOnnx, {PoolX()}).status();
  EXPECT_THAT(s.message(), HasSubstr("smaller than the window"));
  Node indices = OnnxPool("MaxPool", {0, 0, 0, 0}, 0);
  indices.output_names = {"y", "idx"};
  s = RunNn(indices, kOnnx, {PoolX()}).status();
  EXPECT_THAT(s.message(), HasSubstr("Indices"));
}

TEST(TopKTest, TfTopKV2TiesByLowerIndex) {
  Tensor x = F({2, 5}, {3, 1, 3, 2, 5, 0, 0, -1, 0, 2});
  absl::StatusOr<std::vector<Tensor>> out =
      RunNn(MakeNode("TopKV2"), kTf, {x, Make<int32_t>({}, {3})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_THAT((*out)[0].values<float>(), ElementsAre(5, 3, 3, 2, 0, 0));
  EXPECT_EQ((*out)[1].dtype(), DType::kInt32);
  EXPECT_THAT((*out)[1].values<int32_t>(), ElementsAre(4, 0, 2, 4, 0, 1));
  // k = 0 and k = n.
  out = RunNn(MakeNode("TopKV2"), kTf, {x, Make<int32_t>({}, {0})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 0}));
  out = RunNn(MakeNode("TopKV2"), kTf, {x, Make<int32_t>({}, {5})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[1].values<int32_t>(), ElementsAre(4, 0, 2, 3, 1, 4, 0, 1, 3, 2));
  absl::Status s = RunNn(MakeNode("TopKV2"), kTf, {x, Make<int32_t>({}, {6})}).status();
  EXPECT_THAT(s.message(), HasSubstr("k = 6 must be in [0, 5]"));
}

TEST(TopKTest, OnnxAxisSmallestAndAttributeK) {
  Tensor x = F({4, 2}, {3, 1, 1, 2, 3, 0, 2, 2});
  Node node = MakeNode("TopK");
  node.attrs.Set("axis", int64_t{0});
  node.attrs.Set("largest", int64_t{0});
  absl::StatusOr<std::vector<Tensor>> out = RunNn(node, kOnnx, {x, Make<int64_t>({1}, {2})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT((*out)[0].values<float>(), ElementsAre(1, 0, 2, 1));
  EXPECT_EQ((*out)[1].dtype(), DType::kInt64);
  EXPECT_THAT((*out)[1].values<int64_t>(), ElementsAre(1, 2, 3, 0));
  // Opset 1: k as an attribute; int64 values.
  Node v1 = MakeNode("TopK");
  v1.attrs.Set("k", int64_t{1});
  out = RunNn(v1, kOnnx, {Make<int64_t>({2, 3}, {4, 9, 9, -1, -2, -3})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].values<int64_t>(), ElementsAre(9, -1));
  EXPECT_THAT((*out)[1].values<int64_t>(), ElementsAre(1, 0));
}

TEST(BiasAddGradTest, SumsAllButTheChannelDim) {
  Tensor x = F({2, 2, 3}, Ramp(12, 0, 1));
  Node nhwc = MakeNode("BiasAddGrad");
  nhwc.attrs.Set("data_format", std::string("NHWC"));
  ExpectOutput(nhwc, kTf, {x}, {3}, {18, 22, 26});
  Node nchw = MakeNode("BiasAddGrad");
  nchw.attrs.Set("data_format", std::string("NCHW"));
  ExpectOutput(nchw, kTf, {x}, {2}, {24, 42});
  EXPECT_THAT(RunNn(nhwc, kTf, {F({3}, {1, 2, 3})}).status().message(), HasSubstr("rank >= 2"));
}

}  // namespace
}  // namespace rankopt
