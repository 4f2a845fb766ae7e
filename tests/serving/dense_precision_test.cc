// ChooseDensePrecisions (serving/dense_precision.h) on a tiny inline two-layer MLP: the rewrite
// stores int8/bf16 weights and the graph then computes exactly what the kernels of gemm_lowp.h
// compute; the gate steps a layer up while it fails; rows are independent of the batch.
#include "serving/dense_precision.h"

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "graph/kernels/math/vector_math.h"
#include "gtest/gtest.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using pass_test::ConstNode;
using pass_test::Floats;
using pass_test::Input;
using pass_test::MakeGraph;
using pass_test::Op;
using pass_test::RandomFloats;
using pass_test::RunGraph;

constexpr int64_t kK = 40, kH = 24, kN = 3;

struct Mlp {
  std::vector<float> w1 = RandomFloats(kK * kH, 1), b1 = RandomFloats(kH, 2);
  std::vector<float> w2 = RandomFloats(kH * kN, 3), b2 = RandomFloats(kN, 4);
  // y = sigmoid(relu(x @ w1 + b1) @ w2 + b2), both layers _RankoptFusedMatMul.
  Graph MakeGraphOf() const {
    Node l1 = Op("l1", "_RankoptFusedMatMul", {{"x", 0}, {"w1", 0}, {"b1", 0}});
    l1.attrs.Set("activation", std::string("relu"));
    Node l2 = Op("y", "_RankoptFusedMatMul", {{"l1", 0}, {"w2", 0}, {"b2", 0}});
    l2.attrs.Set("activation", std::string("sigmoid"));
    return MakeGraph(ModelFormat::kTfGraphDef,
                     {Input("x", {-1, kK}), ConstNode("w1", Floats({kK, kH}, w1)),
                      ConstNode("b1", Floats({kH}, b1)), ConstNode("w2", Floats({kH, kN}, w2)),
                      ConstNode("b2", Floats({kN}, b2)), std::move(l1), std::move(l2)},
                     {"y"});
  }
};

Tensor Batch(int64_t rows, uint32_t seed) {
  return Floats({rows, kK}, RandomFloats(rows * kK, seed));
}

std::vector<GateSample> SamplesOf(const std::vector<Tensor>& batches) {
  std::vector<GateSample> samples;
  for (const Tensor& t : batches) {
    TensorView v;
    v.dtype = t.dtype();
    v.dims.assign(t.dims().begin(), t.dims().end());
    v.data = const_cast<char*>(t.bytes().data());
    samples.push_back({{"x", v}});
  }
  return samples;
}

TEST(DensePrecisionTest, Int8StoresCodesAndComputesWhatTheKernelsCompute) {
  const Mlp mlp;
  const Graph graph = mlp.MakeGraphOf();
  const std::vector<Tensor> batches = {Batch(37, 9)};
  DensePrecisionOptions options;
  options.mode = PrecisionMode::kInt8;
  options.samples = SamplesOf(batches);
  options.time_s = 0;
  Graph out(graph.format());
  absl::StatusOr<DensePrecisionReport> report = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->layers.size(), 2u);
  EXPECT_EQ(report->reduced, 2);
  EXPECT_EQ(report->bytes_fp32, (kK * kH + kH * kN) * 4);
  EXPECT_EQ(report->bytes_stored, kK * kH + kH * 4 + kH * kN + kN * 4);
  ASSERT_TRUE(report->layers[0].alone.has_value());
  EXPECT_GT(report->layers[0].alone->max_abs_diff, 0);

  // The stored graph: int8 codes and per-column scales.
  const Node* w1 = out.FindNode("w1");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(w1->attrs.Get<Tensor>("value")->dtype(), DType::kInt8);
  EXPECT_EQ(*w1->attrs.Get<DType>("dtype"), DType::kInt8);
  const Node* l1 = out.FindNode("l1");
  EXPECT_EQ(*l1->attrs.Get<std::string>("precision"), "int8");
  ASSERT_NE(l1->attrs.Get<std::vector<float>>("weight_scales"), nullptr);
  EXPECT_EQ(l1->attrs.Get<std::vector<float>>("weight_scales")->size(), static_cast<size_t>(kH));

  // What the graph computes, against the kernels called by hand.
  const Tensor& x = batches[0];
  std::vector<Tensor> got = RunGraph(out, {{"x", x}});
  ASSERT_EQ(got.size(), 1u);
  const int64_t m = 37;
  std::vector<int8_t> q1(kK * kH), q2(kH * kN);
  std::vector<float> s1(kH), s2(kN);
  QuantizeWeightsInt8(mlp.w1.data(), kK, kH, kH, 1, q1.data(), s1.data());
  QuantizeWeightsInt8(mlp.w2.data(), kH, kN, kN, 1, q2.data(), s2.data());
  absl::StatusOr<PackedBInt8> p1 = PackGemmBInt8(q1.data(), s1.data(), kK, kH, kH, 1);
  absl::StatusOr<PackedBInt8> p2 = PackGemmBInt8(q2.data(), s2.data(), kH, kN, kN, 1);
  ASSERT_TRUE(p1.ok() && p2.ok());
  std::vector<float> h(m * kH), y(m * kN);
  GemmInt8Reference(m, x.values<float>().data(), kK, *p1, mlp.b1.data(), true, h.data(), kH);
  GemmInt8Reference(m, h.data(), kH, *p2, mlp.b2.data(), false, y.data(), kN);
  SigmoidF32(y.data(), y.data(), m * kN);
  ASSERT_EQ(got[0].num_elements(), m * kN);
  EXPECT_EQ(0, std::memcmp(got[0].values<float>().data(), y.data(), y.size() * sizeof(float)));

  // Rows do not depend on the batch: row by row gives the same bits.
  for (int64_t r = 0; r < m; r += 5) {
    Tensor row = Floats({1, kK}, std::vector<float>(x.values<float>().begin() + r * kK,
                                                    x.values<float>().begin() + (r + 1) * kK));
    std::vector<Tensor> one = RunGraph(out, {{"x", row}});
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(0, std::memcmp(one[0].values<float>().data(), y.data() + r * kN,
                             kN * sizeof(float)))
        << "row " << r;
  }
}

TEST(DensePrecisionTest, Bf16StoresBf16Weights) {
  const Mlp mlp;
  const Graph graph = mlp.MakeGraphOf();
  const std::vector<Tensor> batches = {Batch(5, 9)};
  DensePrecisionOptions options;
  options.mode = PrecisionMode::kBf16;
  options.samples = SamplesOf(batches);
  options.time_s = 0;
  Graph out(graph.format());
  absl::StatusOr<DensePrecisionReport> report = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->bytes_stored * 2, report->bytes_fp32);
  EXPECT_EQ(out.FindNode("w2")->attrs.Get<Tensor>("value")->dtype(), DType::kBFloat16);
  std::vector<Tensor> got = RunGraph(out, {{"x", batches[0]}});
  std::vector<Tensor> fp32 = RunGraph(graph, {{"x", batches[0]}});
  ASSERT_EQ(got.size(), 1u);
  pass_test::ExpectNear(got[0], fp32[0], 2e-2, "bf16 vs fp32");
}

TEST(DensePrecisionTest, AutoStepsALayerUpWhileTheGateFails) {
  const Mlp mlp;
  const Graph graph = mlp.MakeGraphOf();
  const std::vector<Tensor> batches = {Batch(16, 9), Batch(16, 10)};
  DensePrecisionOptions options;
  options.samples = SamplesOf(batches);
  options.time_s = 0;
  options.ladder = {DensePrecision::kInt8, DensePrecision::kBf16};
  Graph out(graph.format());

  // Every error figure of the layers alone at int8 and at bf16.
  double int8_err[2], bf16_err[2];
  for (PrecisionMode mode : {PrecisionMode::kInt8, PrecisionMode::kBf16}) {
    options.mode = mode;
    absl::StatusOr<DensePrecisionReport> r = ChooseDensePrecisions(graph, options, &out);
    ASSERT_TRUE(r.ok()) << r.status();
    for (int l = 0; l < 2; ++l) {
      (mode == PrecisionMode::kInt8 ? int8_err : bf16_err)[l] = r->layers[l].alone->max_abs_diff;
    }
  }
  ASSERT_LT(bf16_err[0], int8_err[0]);

  // A budget between layer 0's bf16 and int8 errors (and above layer 1's int8 error if it fits):
  // layer 0 must end at bf16 having tried int8 first.
  options.mode = PrecisionMode::kAuto;
  options.budgets.max_abs_diff = (int8_err[0] + bf16_err[0]) / 2;
  options.budgets.auc_delta = 1;
  absl::StatusOr<DensePrecisionReport> r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->layers[0].precision, DensePrecision::kBf16) << r->layers[0].reason;
  EXPECT_THAT(r->layers[0].tried, testing::ElementsAre("int8", "bf16"));
  ASSERT_TRUE(r->combined.has_value());
  EXPECT_TRUE(r->combined->passed) << r->combined->reason;
  EXPECT_LE(r->combined->max_abs_diff, options.budgets.max_abs_diff);

  // A zero budget: everything back at fp32, the graph unchanged in what it computes.
  options.budgets.max_abs_diff = 0;
  r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reduced, 0);
  EXPECT_EQ(out.FindNode("w1")->attrs.Get<Tensor>("value")->dtype(), DType::kFloat32);
  EXPECT_EQ(out.FindNode("l1")->attrs.Find("precision"), nullptr);

  // A generous budget: everything int8.
  options.budgets.max_abs_diff = 1;
  r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reduced, 2);
  EXPECT_EQ(r->layers[1].precision, DensePrecision::kInt8);
  EXPECT_THAT(FormatDensePrecisionReport(*r), testing::HasSubstr("int8"));
}

TEST(DensePrecisionTest, AutoWithoutSamplesIsAnError) {
  const Mlp mlp;
  Graph out(ModelFormat::kTfGraphDef);
  DensePrecisionOptions options;
  absl::StatusOr<DensePrecisionReport> r = ChooseDensePrecisions(mlp.MakeGraphOf(), options, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr("sample"));
}

TEST(DensePrecisionTest, KernelRejectsAnInt8WeightWithoutScales) {
  const Mlp mlp;
  Graph graph = mlp.MakeGraphOf();
  std::vector<int8_t> codes(kK * kH, 1);
  graph.FindMutableNode("w1")->attrs.Set("value",
                                         *Tensor::FromValues<int8_t>({kK, kH}, codes));
  graph.FindMutableNode("l1")->attrs.Set("precision", std::string("int8"));
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), testing::HasSubstr("weight_scales"));
}

}  // namespace
}  // namespace rankopt
