#include "graph/passes/fuse_matmul_bias_activation.h"

#include <gtest/gtest.h>

#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders

// TF: x[5,7] @ W[7,9] (+ BiasAdd b) -> activation.
Graph TfDense(const std::string& activation, bool transpose_b, bool bias) {
  std::vector<Node> nodes = {
      Input("x", {-1, 7}),
      ConstNode("w", Floats(transpose_b ? std::vector<int64_t>{9, 7} : std::vector<int64_t>{7, 9},
                            RandomFloats(63, 1))),
      ConstNode("b", Floats({9}, RandomFloats(9, 2)))};
  Node mm = Op("mm", "MatMul", {{"x", 0}, {"w", 0}});
  mm.attrs.Set("T", DType::kFloat32);
  mm.attrs.Set("transpose_b", transpose_b);
  nodes.push_back(mm);
  std::string last = "mm";
  if (bias) {
    nodes.push_back(Op("bias", "BiasAdd", {{"mm", 0}, {"b", 0}}));
    last = "bias";
  }
  if (!activation.empty()) {
    nodes.push_back(Op("act", activation, {{last, 0}}));
    last = "act";
  }
  nodes.push_back(Op("out", "Identity", {{last, 0}}));
  return MakeGraph(ModelFormat::kTfGraphDef, nodes, {"out"});
}

TEST(FuseMatMulTest, TfChainsAreFusedBitwise) {
  const Tensor x = Floats({5, 7}, RandomFloats(35, 3));
  for (const std::string activation : {"", "Relu", "Sigmoid", "Tanh"}) {
    for (bool transpose_b : {false, true}) {
      Graph graph = TfDense(activation, transpose_b, true);
      Graph fused(graph.format());
      absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->changed);
      EXPECT_EQ(CountOp(fused, std::string(kFusedMatMulOp)), 1) << activation;
      EXPECT_EQ(CountOp(fused, "MatMul") + CountOp(fused, "BiasAdd"), 0);
      if (!activation.empty()) {
        EXPECT_EQ(CountOp(fused, activation), 0);
      }
      EXPECT_EQ(RunGraph(fused, {{"x", x}}), RunGraph(graph, {{"x", x}}))
          << activation << " transpose_b " << transpose_b;
    }
  }
}

TEST(FuseMatMulTest, MatMulWithActivationOnlyIsFused) {
  Graph graph = TfDense("Relu", false, false);
  Graph fused(graph.format());
  ASSERT_TRUE(FuseMatMulBiasActivation(graph, {}, &fused).ok());
  EXPECT_EQ(CountOp(fused, std::string(kFusedMatMulOp)), 1);
  const Tensor x = Floats({5, 7}, RandomFloats(35, 4));
  EXPECT_EQ(RunGraph(fused, {{"x", x}}), RunGraph(graph, {{"x", x}}));
}

TEST(FuseMatMulTest, PlainMatMulIsLeftAlone) {
  Graph graph = TfDense("", false, false);
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed);
}

TEST(FuseMatMulTest, SharedIntermediateIsNotFused) {
  Graph graph = TfDense("Relu", false, true);
  std::vector<Node> nodes = graph.nodes();
  nodes.push_back(Op("other", "Neg", {{"bias", 0}}));  // a second reader of the bias add
  ASSERT_TRUE(graph.SetNodes(nodes).ok());
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
  ASSERT_TRUE(report.ok());
  // MatMul + BiasAdd still fuse (the MatMul has one reader); the Relu stays separate.
  EXPECT_EQ(CountOp(fused, "Relu"), 1);
  EXPECT_EQ(CountOp(fused, std::string(kFusedMatMulOp)), 1);
  EXPECT_NE(fused.FindNode("bias"), nullptr);
  EXPECT_EQ(fused.FindNode("bias")->op, std::string(kFusedMatMulOp));
}

TEST(FuseMatMulTest, OnnxRank3MatMulAddPReluIsFusedBitwise) {
  for (bool scalar_slope : {false, true}) {
    Graph graph = MakeGraph(
        ModelFormat::kOnnx,
        {Input("x", {-1, 3, 6}, true), ConstNode("w", Floats({6, 4}, RandomFloats(24, 5)), true),
         ConstNode("b", Floats({4}, RandomFloats(4, 6)), true),
         ConstNode("slope", scalar_slope ? Floats({1}, {0.25f}) : Floats({4}, RandomFloats(4, 7)),
                   true),
         OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}), OnnxOp("add", "Add", {{"b", 0}, {"mm", 0}}),
         OnnxOp("prelu", "PRelu", {{"add", 0}, {"slope", 0}})},
        {"prelu"});
    Graph fused(graph.format());
    absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(fused.num_nodes(), 5u);
    ASSERT_NE(fused.FindNode("prelu"), nullptr);
    EXPECT_EQ(fused.FindNode("prelu")->op, std::string(kFusedMatMulOp));
    EXPECT_EQ(fused.FindNode("prelu")->output_names, std::vector<std::string>{"prelu"});
    const Tensor x = Floats({2, 3, 6}, RandomFloats(36, 8));
    EXPECT_EQ(RunGraph(fused, {{"x", x}}), RunGraph(graph, {{"x", x}}));
  }
}

TEST(FuseMatMulTest, OnnxGemmSigmoidIsFusedBitwise) {
  for (bool trans_b : {false, true}) {
    Node gemm = OnnxOp("gemm", "Gemm", {{"x", 0}, {"w", 0}, {"c", 0}});
    gemm.attrs.Set("transB", int64_t{trans_b ? 1 : 0});
    Graph graph = MakeGraph(
        ModelFormat::kOnnx,
        {Input("x", {-1, 5}, true),
         ConstNode("w",
                   Floats(trans_b ? std::vector<int64_t>{20, 5} : std::vector<int64_t>{5, 20},
                          RandomFloats(100, 9)),
                   true),
         ConstNode("c", Floats({20}, RandomFloats(20, 10)), true), gemm,
         OnnxOp("sig", "Sigmoid", {{"gemm", 0}})},
        {"sig"});
    Graph fused(graph.format());
    ASSERT_TRUE(FuseMatMulBiasActivation(graph, {}, &fused).ok());
    EXPECT_EQ(CountOp(fused, "Gemm") + CountOp(fused, "Sigmoid"), 0);
    const Tensor x = Floats({33, 5}, RandomFloats(165, 11));
    EXPECT_EQ(RunGraph(fused, {{"x", x}}), RunGraph(graph, {{"x", x}}));
  }
}

// TF's Tensordot: x[?, 7] @ W[7, 9] -> Reshape(., target) -> BiasAdd -> Relu, where the target is
// "const" ([-1, 9]), "tensordot" (concat(GatherV2(Shape(x), [0]), [9]) = [batch, 9]), or a
// reshape that changes the shape: "rank3" ([-1, 3, 3]) or "swapped" ([9, -1]).
Graph TfReshapedDense(const std::string& target, bool activation = true) {
  std::vector<Node> nodes = {Input("x", {-1, 7}),
                             ConstNode("w", Floats({7, 9}, RandomFloats(63, 12))),
                             ConstNode("b", Floats({9}, RandomFloats(9, 13)))};
  Node mm = Op("mm", "MatMul", {{"x", 0}, {"w", 0}});
  mm.attrs.Set("T", DType::kFloat32);
  nodes.push_back(mm);
  auto ints = [](std::vector<int64_t> dims, std::vector<int32_t> values) {
    return *Tensor::FromValues<int32_t>(std::move(dims), values);
  };
  if (target == "tensordot") {
    Node shape = Op("shape", "Shape", {{"x", 0}});
    shape.attrs.Set("out_type", DType::kInt32);
    nodes.push_back(shape);
    nodes.push_back(ConstNode("free", ints({1}, {0})));
    nodes.push_back(ConstNode("axis0", ints({}, {0})));
    nodes.push_back(Op("batch", "GatherV2", {{"shape", 0}, {"free", 0}, {"axis0", 0}}));
    nodes.push_back(ConstNode("n", ints({1}, {9})));
    nodes.push_back(Op("target", "ConcatV2", {{"batch", 0}, {"n", 0}, {"axis0", 0}}));
  } else if (target == "const") {
    nodes.push_back(ConstNode("target", ints({2}, {-1, 9})));
  } else if (target == "rank3") {
    nodes.push_back(ConstNode("target", ints({3}, {-1, 3, 3})));
  } else {
    nodes.push_back(ConstNode("target", ints({2}, {9, -1})));
  }
  nodes.push_back(Op("reshape", "Reshape", {{"mm", 0}, {"target", 0}}));
  nodes.push_back(Op("bias", "BiasAdd", {{"reshape", 0}, {"b", 0}}));
  nodes.push_back(Op("act", "Relu", {{"bias", 0}}));
  return MakeGraph(ModelFormat::kTfGraphDef, nodes, {activation ? "act" : "bias"});
}

TEST(FuseMatMulTest, ReshapeKeepingTheProductShapeIsLookedThrough) {
  const Tensor x = Floats({5, 7}, RandomFloats(35, 14));
  for (const std::string target : {"const", "tensordot"}) {
    Graph graph = TfReshapedDense(target);
    Graph fused(graph.format());
    absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->changed) << target;
    EXPECT_EQ(CountOp(fused, std::string(kFusedMatMulOp)), 1) << target;
    EXPECT_EQ(CountOp(fused, "MatMul") + CountOp(fused, "Reshape") + CountOp(fused, "BiasAdd") +
                  CountOp(fused, "Relu"),
              0)
        << target;
    ASSERT_NE(fused.FindNode("act"), nullptr);
    EXPECT_EQ(fused.FindNode("act")->op, std::string(kFusedMatMulOp));
    ASSERT_EQ(report->notes.size(), 1u);
    EXPECT_EQ(report->notes[0], "fused 1 x MatMul+Reshape+BiasAdd+Relu");
    EXPECT_EQ(RunGraph(fused, {{"x", x}}), RunGraph(graph, {{"x", x}})) << target;
  }
}

TEST(FuseMatMulTest, ReshapeThatMayChangeTheShapeBlocksFusion) {
  for (const std::string target : {"rank3", "swapped"}) {
    Graph graph = TfReshapedDense(target, /*activation=*/false);
    Graph fused(graph.format());
    absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->changed) << target;
    EXPECT_EQ(CountOp(fused, "MatMul"), 1) << target;
  }
  // A shape-keeping Reshape read twice stays, and so does its MatMul.
  Graph graph = TfReshapedDense("const");
  std::vector<Node> nodes = graph.nodes();
  nodes.push_back(Op("other", "Neg", {{"reshape", 0}}));
  ASSERT_TRUE(graph.SetNodes(nodes).ok());
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed);
}

TEST(FuseMatMulTest, MatMulThenShapeKeepingReshapeAloneIsLeftAlone) {
  Graph graph = TfReshapedDense("const");
  std::vector<Node> nodes;
  for (const Node& node : graph.nodes()) {
    if (node.name != "bias" && node.name != "act") nodes.push_back(node);
  }
  graph = MakeGraph(ModelFormat::kTfGraphDef, nodes, {"reshape"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed);
}

TEST(FuseMatMulTest, NonConstantWeightIsNotFused) {
  Graph graph =
      MakeGraph(ModelFormat::kOnnx,
                {Input("x", {2, 3}, true), Input("w", {3, 4}, true),
                 OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}), OnnxOp("relu", "Relu", {{"mm", 0}})},
                {"relu"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &fused);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed);
}

}  // namespace
}  // namespace rankopt
