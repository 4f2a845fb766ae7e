// ChooseDensePrecisions (serving/dense_precision.h) on a tiny inline DIN-like graph: a fused
// attention unit (_RankoptAttentionPooling, two GEMM layers and the score) feeding a fused MatMul.
// The gate treats each attention GEMM layer as a dense layer: the `precisions` attr it writes makes
// the graph compute exactly what AttentionPooling::RunReference computes at those precisions, the
// auto gate steps attention layers up while they fail, and the profiler names the kernels.
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "graph/exec/profiler.h"
#include "graph/kernels/math/attention_pooling.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "gtest/gtest.h"
#include "serving/dense_precision.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kD = 8, kL = 12, kH1 = 24, kH2 = 16;

struct Din {
  std::vector<float> aw1 = Scaled(RandomFloats(4 * kD * kH1, 1), 0.5f);
  std::vector<float> ab1 = Scaled(RandomFloats(kH1, 2), 0.1f);
  std::vector<float> aw2 = Scaled(RandomFloats(kH1 * kH2, 3), 0.5f);
  std::vector<float> ab2 = Scaled(RandomFloats(kH2, 4), 0.1f);
  std::vector<float> aw3 = RandomFloats(kH2, 5);
  std::vector<float> ab3 = {0.05f};
  std::vector<float> w = RandomFloats(kD, 6);
  std::vector<float> b = {0.1f};

  static std::vector<float> Scaled(std::vector<float> v, float s) {
    for (float& x : v) x *= s;
    return v;
  }

  // att = attention(q, keys, mask) with [4d -> h1 sigmoid -> h2 sigmoid -> 1];
  // y = sigmoid(att @ w + b). Outputs: att and y.
  Graph MakeGraphOf() const {
    Node att = Op("att", "_RankoptAttentionPooling",
                  {{"q", 0},
                   {"keys", 0},
                   {"mask", 0},
                   {"aw1", 0},
                   {"ab1", 0},
                   {"aw2", 0},
                   {"ab2", 0},
                   {"aw3", 0},
                   {"ab3", 0}});
    att.attrs.Set("activations", std::vector<std::string>{"sigmoid", "sigmoid"});
    Node y = Op("y", "_RankoptFusedMatMul", {{"att", 0}, {"w", 0}, {"b", 0}});
    y.attrs.Set("activation", std::string("sigmoid"));
    return MakeGraph(
        ModelFormat::kTfGraphDef,
        {Input("q", {-1, kD}), Input("keys", {1, kL, kD}), Input("mask", {1, kL}),
         ConstNode("aw1", Floats({4 * kD, kH1}, aw1)), ConstNode("ab1", Floats({kH1}, ab1)),
         ConstNode("aw2", Floats({kH1, kH2}, aw2)), ConstNode("ab2", Floats({kH2}, ab2)),
         ConstNode("aw3", Floats({kH2, 1}, aw3)), ConstNode("ab3", Floats({1}, ab3)),
         ConstNode("w", Floats({kD, 1}, w)), ConstNode("b", Floats({1}, b)), std::move(att),
         std::move(y)},
        {"att", "y"});
  }

  std::vector<AttentionLayer> Layers() const {
    const std::vector<float>* ws[] = {&aw1, &aw2, &aw3};
    const std::vector<float>* bs[] = {&ab1, &ab2, &ab3};
    const int64_t ins[] = {4 * kD, kH1, kH2}, outs[] = {kH1, kH2, 1};
    std::vector<AttentionLayer> layers(3);
    for (int i = 0; i < 3; ++i) {
      layers[i].weight = *ws[i];
      layers[i].bias = *bs[i];
      layers[i].in = ins[i];
      layers[i].out = outs[i];
      layers[i].act = i < 2 ? AttentionActivation::kSigmoid : AttentionActivation::kNone;
    }
    return layers;
  }
};

// One request of `batch` candidates: q [batch, d], keys [1, L, d], mask [1, L] (9 valid).
struct Request {
  Tensor q, keys, mask;
  Request(int64_t batch, uint32_t seed)
      : q(Floats({batch, kD}, RandomFloats(batch * kD, seed))),
        keys(Floats({1, kL, kD}, RandomFloats(kL * kD, seed + 1))),
        mask(Floats({1, kL}, MaskValues())) {}
  static std::vector<float> MaskValues() {
    std::vector<float> m(kL, 0.0f);
    for (int t = 0; t < 9; ++t) m[t] = 1.0f;
    return m;
  }
  std::vector<std::pair<std::string, Tensor>> Feeds() const {
    return {{"q", q}, {"keys", keys}, {"mask", mask}};
  }
  GateSample Sample() const {
    GateSample sample;
    for (const auto& [name, t] : Feeds()) {
      TensorView v;
      v.dtype = t.dtype();
      v.dims.assign(t.dims().begin(), t.dims().end());
      v.data = const_cast<char*>(t.bytes().data());
      sample.push_back({name, v});
    }
    return sample;
  }
};

TEST(DensePrecisionAttentionTest, Int8ReachesTheAttentionLayersAndComputesTheReference) {
  const Din din;
  const Graph graph = din.MakeGraphOf();
  const Request request(23, 7);
  DensePrecisionOptions options;
  options.mode = PrecisionMode::kInt8;
  options.samples = {request.Sample()};
  options.time_s = 0;
  Graph out(graph.format());
  absl::StatusOr<DensePrecisionReport> report = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();

  // Two attention GEMM layers (the score layer is a dot product), then the fused MatMul.
  ASSERT_EQ(report->layers.size(), 3u);
  EXPECT_EQ(report->layers[0].node, "att");
  EXPECT_EQ(report->layers[0].attention_layer, 0);
  EXPECT_EQ(report->layers[0].k, 4 * kD);
  EXPECT_EQ(report->layers[0].n, kH1);
  EXPECT_EQ(report->layers[1].attention_layer, 1);
  EXPECT_EQ(report->layers[2].node, "y");
  EXPECT_EQ(report->layers[2].attention_layer, -1);
  EXPECT_EQ(report->reduced, 3);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(report->layers[i].precision, DensePrecision::kInt8);
    ASSERT_TRUE(report->layers[i].alone.has_value());
    EXPECT_GT(report->layers[i].alone->max_abs_diff, 0) << i;
    // Attention weights stay fp32 in the graph (the kernel folds layer 0 before quantizing).
    EXPECT_EQ(report->layers[i].bytes_stored, report->layers[i].bytes_fp32) << i;
  }
  const Node* att = out.FindNode("att");
  ASSERT_NE(att, nullptr);
  const auto* precisions = att->attrs.Get<std::vector<std::string>>("precisions");
  ASSERT_NE(precisions, nullptr);
  EXPECT_THAT(*precisions, ElementsAre("int8", "int8", "fp32"));
  EXPECT_EQ(out.FindNode("aw1")->attrs.Get<Tensor>("value")->dtype(), DType::kFloat32);
  EXPECT_THAT(FormatDensePrecisionReport(*report), HasSubstr("att [attention layer 1]"));

  // The graph's attention output is the unit's scalar reference at int8, bit for bit.
  std::vector<Tensor> got = RunGraph(out, request.Feeds());
  ASSERT_EQ(got.size(), 2u);
  absl::StatusOr<AttentionPooling> unit = AttentionPooling::Create(
      kD, din.Layers(), AttentionOptions(),
      {DensePrecision::kInt8, DensePrecision::kInt8, DensePrecision::kFp32});
  ASSERT_TRUE(unit.ok()) << unit.status();
  const int64_t batch = 23;
  std::vector<float> want(batch * kD);
  unit->RunReference(batch, request.q.values<float>().data(), request.keys.values<float>().data(),
                     1, kL, request.mask.values<float>().data(), 1, want.data());
  ASSERT_EQ(got[0].num_elements(), batch * kD);
  EXPECT_EQ(0,
            std::memcmp(got[0].values<float>().data(), want.data(), want.size() * sizeof(float)));
  // ... and differs from the fp32 graph's (the attr took effect).
  std::vector<Tensor> fp32 = RunGraph(graph, request.Feeds());
  ASSERT_EQ(fp32.size(), 2u);
  EXPECT_NE(0, std::memcmp(got[0].values<float>().data(), fp32[0].values<float>().data(),
                           want.size() * sizeof(float)));
  pass_test::ExpectNear(got[0], fp32[0], 5e-2, "int8 attention vs fp32");

  // The profiler (what `rankopt bench` prints per node) names each attention layer's kernel.
  absl::StatusOr<std::unique_ptr<OpProfiler>> profiler = OpProfiler::Create();
  ASSERT_TRUE(profiler.ok());
  PlanOptions plan_options;
  plan_options.registry = &(*profiler)->registry();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(out, plan_options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*plan)->Run(request.Sample(), &outputs).ok());
  const std::string int8_kernel(DenseKernelName(DensePrecision::kInt8));
  bool found = false;
  for (const NodeKernelProfile& p : (*profiler)->ByNode()) {
    if (p.node != "att") continue;
    found = true;
    EXPECT_EQ(p.kernel, "attention[" + int8_kernel + "," + int8_kernel + "]");
  }
  EXPECT_TRUE(found);
}

TEST(DensePrecisionAttentionTest, AutoStepsAnAttentionLayerUpWhileTheGateFails) {
  const Din din;
  const Graph graph = din.MakeGraphOf();
  const Request r1(16, 11), r2(16, 13);
  DensePrecisionOptions options;
  options.samples = {r1.Sample(), r2.Sample()};
  options.outputs = {"att"};
  options.time_s = 0;
  options.ladder = {DensePrecision::kInt8, DensePrecision::kBf16};
  Graph out(graph.format());

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

  // A budget between attention layer 0's bf16 and int8 errors: it tries int8 first and leaves it.
  options.mode = PrecisionMode::kAuto;
  options.budgets.max_abs_diff = (int8_err[0] + bf16_err[0]) / 2;
  options.budgets.auc_delta = 1;
  absl::StatusOr<DensePrecisionReport> r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->layers[0].precision, DensePrecision::kInt8) << r->layers[0].reason;
  ASSERT_FALSE(r->layers[0].tried.empty());
  EXPECT_EQ(r->layers[0].tried[0], "int8");
  ASSERT_TRUE(r->combined.has_value());
  EXPECT_TRUE(r->combined->passed) << r->combined->reason;

  // A zero budget: the attention node back at fp32 (no attr; `y` does not reach the compared
  // head, so it stays int8); a generous one: every layer int8.
  options.budgets.max_abs_diff = 0;
  r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->layers[0].precision, DensePrecision::kFp32);
  EXPECT_EQ(r->layers[1].precision, DensePrecision::kFp32);
  EXPECT_EQ(out.FindNode("att")->attrs.Find("precisions"), nullptr);
  options.budgets.max_abs_diff = 1;
  r = ChooseDensePrecisions(graph, options, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reduced, 3);
  EXPECT_THAT(*out.FindNode("att")->attrs.Get<std::vector<std::string>>("precisions"),
              ElementsAre("int8", "int8", "fp32"));
}

TEST(DensePrecisionAttentionTest, KernelRejectsBadPrecisionsAttr) {
  const Din din;
  Graph graph = din.MakeGraphOf();
  Node* att = graph.FindMutableNode("att");
  att->attrs.Set("precisions", std::vector<std::string>{"int8", "int8"});
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("attribute `precisions` has 2 entries, expected 3 (one per layer)"));
  att->attrs.Set("precisions", std::vector<std::string>{"int8", "int4", "fp32"});
  plan = ExecutionPlan::Create(graph, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("int4"));
  att->attrs.Set("precisions", std::vector<std::string>{"int8", "int8", "int8"});
  plan = ExecutionPlan::Create(graph, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("score layer"));
}

}  // namespace
}  // namespace rankopt
