// FuseAttentionPooling on tiny inline DIN attention blocks: op counts before/after and the
// executor's numbers against the unfused graph; near-misses that must not fuse.
#include "graph/passes/fuse_attention_pooling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph/passes/prune.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::HasSubstr;

constexpr int64_t kBatch = 3, kLen = 5, kDim = 4, kHidden = 6;

Node Axes(std::string name, int64_t axis) {
  return ConstNode(std::move(name), *Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{axis}),
                   true);
}

// The block as PyTorch exports DIN (fuse_attention_pooling.h), with q [B,d], k [B,L,d] and
// mask [B,L]. `swap_sub`: k - e instead of e - k (a near-miss the kernel does not compute).
Graph AttentionBlock(bool masked, bool swap_sub = false, bool hidden = true) {
  std::vector<Node> nodes = {
      Input("q", {-1, kDim}, true),
      Input("k", {-1, kLen, kDim}, true),
      Input("mask", {-1, kLen}, true),
      Axes("one", 1),
      Axes("minus_one", -1),
      ConstNode("w1", Floats({4 * kDim, kHidden}, RandomFloats(4 * kDim * kHidden, 11)), true),
      ConstNode("b1", Floats({kHidden}, RandomFloats(kHidden, 12)), true),
      ConstNode("w_out", Floats({kHidden, 1}, RandomFloats(kHidden, 13)), true),
      ConstNode("w_only", Floats({4 * kDim, 1}, RandomFloats(4 * kDim, 15)), true),
      ConstNode("b_out", Floats({1}, RandomFloats(1, 14)), true),
      OnnxOp("q1", "Unsqueeze", {{"q", 0}, {"one", 0}}),
      OnnxOp("kshape", "Shape", {{"k", 0}}),
      OnnxOp("e", "Expand", {{"q1", 0}, {"kshape", 0}}),
      swap_sub ? OnnxOp("diff", "Sub", {{"k", 0}, {"e", 0}})
               : OnnxOp("diff", "Sub", {{"e", 0}, {"k", 0}}),
      OnnxOp("prod", "Mul", {{"e", 0}, {"k", 0}})};
  Node cat = OnnxOp("cat", "Concat", {{"e", 0}, {"k", 0}, {"diff", 0}, {"prod", 0}});
  cat.attrs.Set("axis", int64_t{-1});
  nodes.push_back(cat);
  if (hidden) {
    nodes.push_back(OnnxOp("h_mm", "MatMul", {{"cat", 0}, {"w1", 0}}));
    nodes.push_back(OnnxOp("h_add", "Add", {{"h_mm", 0}, {"b1", 0}}));
    nodes.push_back(OnnxOp("h", "Sigmoid", {{"h_add", 0}}));
    nodes.push_back(OnnxOp("s_mm", "MatMul", {{"h", 0}, {"w_out", 0}}));
  } else {
    nodes.push_back(OnnxOp("s_mm", "MatMul", {{"cat", 0}, {"w_only", 0}}));
  }
  nodes.push_back(OnnxOp("s_add", "Add", {{"s_mm", 0}, {"b_out", 0}}));
  nodes.push_back(OnnxOp("score", "Squeeze", {{"s_add", 0}, {"minus_one", 0}}));
  std::string weights = "score";
  if (masked) {
    nodes.push_back(OnnxOp("weighted", "Mul", {{"score", 0}, {"mask", 0}}));
    weights = "weighted";
  }
  nodes.push_back(OnnxOp("w3", "Unsqueeze", {{weights, 0}, {"one", 0}}));
  nodes.push_back(OnnxOp("pool", "MatMul", {{"w3", 0}, {"k", 0}}));
  nodes.push_back(OnnxOp("pooled", "Squeeze", {{"pool", 0}, {"one", 0}}));
  Graph graph = MakeGraph(ModelFormat::kOnnx, nodes, {"pooled"});
  graph.set_onnx_opset(17);
  return graph;
}

std::vector<std::pair<std::string, Tensor>> Feeds(bool masked) {
  std::vector<std::pair<std::string, Tensor>> feeds = {
      {"q", Floats({kBatch, kDim}, RandomFloats(kBatch * kDim, 21))},
      {"k", Floats({kBatch, kLen, kDim}, RandomFloats(kBatch * kLen * kDim, 22))}};
  std::vector<float> mask(kBatch * kLen, 1.0f);
  mask[3] = mask[7] = mask[14] = 0.0f;  // padded positions
  if (masked) feeds.push_back({"mask", Floats({kBatch, kLen}, mask)});
  return feeds;
}

PassOptions KeepPooled() {
  PassOptions options;
  options.outputs = {"pooled"};
  return options;
}

// The fused graph after the final prune drops the replaced nodes.
Graph FuseAndPrune(const Graph& graph, PassReport* report) {
  const PassOptions options = KeepPooled();
  Graph fused(graph.format());
  absl::StatusOr<PassReport> fusion = FuseAttentionPooling(graph, options, &fused);
  EXPECT_TRUE(fusion.ok()) << fusion.status();
  if (fusion.ok()) *report = *fusion;
  Graph pruned(graph.format());
  absl::StatusOr<PassReport> prune = PruneGraph(fused, options, &pruned);
  EXPECT_TRUE(prune.ok()) << prune.status();
  return pruned;
}

TEST(FuseAttentionPoolingTest, MaskedBlockBecomesOneNodeWithEqualResults) {
  for (bool masked : {true, false}) {
    const Graph graph = AttentionBlock(masked);
    EXPECT_EQ(CountOp(graph, "MatMul"), 3);
    EXPECT_EQ(CountOp(graph, "Concat"), 1);
    EXPECT_EQ(CountOp(graph, "Squeeze"), 2);
    PassReport report;
    const Graph fused = FuseAndPrune(graph, &report);
    EXPECT_TRUE(report.changed);
    EXPECT_THAT(report.notes[0], HasSubstr("1 hidden layers"));
    EXPECT_EQ(CountOp(fused, std::string(kAttentionPoolingOp)), 1);
    for (const std::string op :
         {"MatMul", "Concat", "Squeeze", "Unsqueeze", "Expand", "Sigmoid", "Sub", "Add", "Shape"}) {
      EXPECT_EQ(CountOp(fused, op), 0) << op;
    }
    EXPECT_EQ(CountOp(fused, "Mul"), 0);
    ASSERT_NE(fused.FindNode("pooled"), nullptr);
    EXPECT_EQ(fused.FindNode("pooled")->op, kAttentionPoolingOp);

    const std::vector<Tensor> want = RunGraph(graph, Feeds(masked));
    const std::vector<Tensor> got = RunGraph(fused, Feeds(masked));
    ASSERT_EQ(want.size(), 1u);
    ASSERT_EQ(got.size(), 1u);
    ExpectNear(got[0], want[0], 1e-5, masked ? "masked" : "unmasked");
  }
}

TEST(FuseAttentionPoolingTest, ReversedDifferenceIsNotFused) {
  const Graph graph = AttentionBlock(true, /*swap_sub=*/true);
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, KeepPooled(), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes, ::testing::ElementsAre(HasSubstr("not applicable")));
  EXPECT_EQ(CountOp(out, std::string(kAttentionPoolingOp)), 0);
  EXPECT_EQ(out.num_nodes(), graph.num_nodes());
}

TEST(FuseAttentionPoolingTest, ScoringLayerWithoutHiddenLayerIsNotFused) {
  const Graph graph = AttentionBlock(true, false, /*hidden=*/false);
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, KeepPooled(), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(CountOp(out, std::string(kAttentionPoolingOp)), 0);
  EXPECT_EQ(CountOp(out, "MatMul"), 2);
}

TEST(FuseAttentionPoolingTest, TfGraphsAreLeftAlone) {
  Graph graph = MakeGraph(ModelFormat::kTfGraphDef,
                          {Input("x", {-1, 2}), Op("y", "Relu", {{"x", 0}})}, {"y"});
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, {}, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(out.num_nodes(), 2u);
}

}  // namespace
}  // namespace rankopt
