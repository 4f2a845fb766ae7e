#include "graph/passes/gru_batch_first.h"

#include <gtest/gtest.h>

#include "graph/analysis/shape_inference.h"
#include "graph/passes/request_level.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders

constexpr int64_t kBatch = 3, kSeq = 5, kIn = 3, kHidden = 4;

struct ChainOptions {
  bool axes_input = true;  // Squeeze axes as an input (opset 13+) or attribute
  bool zero_init = true;   // initial_h zeros (else random)
  bool read_y_h = false;   // a graph output reads Y_h
};

// x [B, T, I] -> Transpose [1,0,2] -> GRU -> Squeeze(axis 1) -> Transpose [1,0,2] ("out"), as
// PyTorch exports nn.GRU(batch_first=True).
Graph Chain(const ChainOptions& o) {
  std::vector<Node> nodes;
  nodes.push_back(Input("x", {kBatch, kSeq, kIn}, true));
  nodes.push_back(
      ConstNode("w", Floats({1, 3 * kHidden, kIn}, RandomFloats(3 * kHidden * kIn, 1)), true));
  nodes.push_back(ConstNode(
      "r", Floats({1, 3 * kHidden, kHidden}, RandomFloats(3 * kHidden * kHidden, 2)), true));
  nodes.push_back(ConstNode("b", Floats({1, 6 * kHidden}, RandomFloats(6 * kHidden, 3)), true));
  std::vector<float> h0(kBatch * kHidden, 0.0f);
  if (!o.zero_init) h0 = RandomFloats(kBatch * kHidden, 4);
  nodes.push_back(ConstNode("h0", Floats({1, kBatch, kHidden}, h0), true));
  Node t1 = OnnxOp("t1", "Transpose", {{"x", 0}});
  t1.attrs.Set("perm", std::vector<int64_t>{1, 0, 2});
  nodes.push_back(t1);
  Node gru = OnnxOp("gru", "GRU", {{"t1", 0}, {"w", 0}, {"r", 0}, {"b", 0}, {}, {"h0", 0}});
  gru.output_names = {"gru_y", "gru_y_h"};
  gru.attrs.Set("hidden_size", kHidden);
  gru.attrs.Set("linear_before_reset", int64_t{1});
  nodes.push_back(gru);
  Node sq = OnnxOp("sq", "Squeeze", {{"gru", 0}});
  if (o.axes_input) {
    nodes.push_back(
        ConstNode("axes", *Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{1}), true));
    sq.inputs.push_back({"axes", 0});
  } else {
    sq.attrs.Set("axes", std::vector<int64_t>{1});
  }
  nodes.push_back(sq);
  Node t2 = OnnxOp("out", "Transpose", {{"sq", 0}});
  t2.attrs.Set("perm", std::vector<int64_t>{1, 0, 2});
  nodes.push_back(t2);
  std::vector<std::string> outputs = {"out"};
  if (o.read_y_h) {
    nodes.push_back(OnnxOp("y_h", "Identity", {{"gru", 1}}));
    outputs.push_back("y_h");
  }
  Graph graph = MakeGraph(ModelFormat::kOnnx, nodes, outputs);
  graph.set_onnx_opset(o.axes_input ? 17 : 11);
  return graph;
}

TEST(GruBatchFirstTest, RewritesTheBatchFirstChain) {
  for (bool axes_input : {true, false}) {
    SCOPED_TRACE(axes_input ? "axes input" : "axes attribute");
    ChainOptions o;
    o.axes_input = axes_input;
    const Graph graph = Chain(o);
    Graph rewritten(graph.format());
    absl::StatusOr<PassReport> report = GruBatchFirst(graph, {}, &rewritten);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->changed);
    EXPECT_EQ(CountOp(rewritten, "Transpose"), 0);
    EXPECT_EQ(CountOp(rewritten, "Squeeze"), 1);
    const Node* gru = rewritten.FindNode("gru");
    ASSERT_NE(gru, nullptr);
    EXPECT_EQ(*gru->attrs.Get<int64_t>("layout"), 1);
    EXPECT_EQ(gru->inputs[0], (TensorRef{"x", 0}));
    EXPECT_EQ(gru->inputs.size(), 4u);  // the zero initial_h is dropped
    EXPECT_EQ(rewritten.FindNode("out")->op, "Squeeze");
    const Tensor x = Floats({kBatch, kSeq, kIn}, RandomFloats(kBatch * kSeq * kIn, 5));
    const std::vector<Tensor> want = RunGraph(graph, {{"x", x}});
    const std::vector<Tensor> got = RunGraph(rewritten, {{"x", x}});
    ASSERT_EQ(want.size(), 1u);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].dims(), (std::vector<int64_t>{kBatch, kSeq, kHidden}));
    ExpectNear(got[0], want[0], 1e-6, "out");
  }
}

TEST(GruBatchFirstTest, LeavesOtherChainsAlone) {
  for (int variant : {0, 1}) {
    ChainOptions o;
    if (variant == 0) o.zero_init = false;  // a real initial state: its layout would change
    if (variant == 1) o.read_y_h = true;    // Y_h's layout would change
    const Graph graph = Chain(o);
    Graph out(graph.format());
    absl::StatusOr<PassReport> report = GruBatchFirst(graph, {}, &out);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->changed) << variant;
    EXPECT_EQ(CountOp(out, "Transpose"), 2) << variant;
  }
}

// A GRU node that lists only its output Y (ONNX drops trailing unused outputs) runs.
TEST(GruBatchFirstTest, GruWithOnlyY) {
  Graph graph = Chain({});
  std::vector<Node> nodes = graph.nodes();
  for (Node& node : nodes) {
    if (node.name == "gru") node.output_names = {"gru_y"};
  }
  ASSERT_TRUE(graph.SetNodes(std::move(nodes)).ok());
  const Tensor x = Floats({kBatch, kSeq, kIn}, RandomFloats(kBatch * kSeq * kIn, 6));
  const std::vector<Tensor> want = RunGraph(Chain({}), {{"x", x}});
  const std::vector<Tensor> got = RunGraph(graph, {{"x", x}});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  ExpectNear(got[0], want[0], 0, "out");
}

// Batch first, the GRU over a request-level input is request-level; as exported it is not.
TEST(GruBatchFirstTest, MakesTheGruRequestLevel) {
  const Graph graph = Chain({});
  Graph rewritten(graph.format());
  ASSERT_TRUE(GruBatchFirst(graph, {}, &rewritten).ok());
  for (const Graph* g : {&graph, static_cast<const Graph*>(&rewritten)}) {
    absl::StatusOr<ShapeMap> shapes = InferShapes(*g);
    ASSERT_TRUE(shapes.ok()) << shapes.status();
    // GRU's shape function: Y and Y_h in the node's layout.
    const bool batch_first = g == &rewritten;
    EXPECT_EQ(LookupInferred(*shapes, TensorRef{"gru", 0}).shape,
              Shape(batch_first ? std::vector<int64_t>{kBatch, kSeq, 1, kHidden}
                                : std::vector<int64_t>{kSeq, 1, kBatch, kHidden}));
    EXPECT_EQ(LookupInferred(*shapes, TensorRef{"gru", 1}).shape,
              Shape(batch_first ? std::vector<int64_t>{kBatch, 1, kHidden}
                                : std::vector<int64_t>{1, kBatch, kHidden}));
    EXPECT_EQ(LookupInferred(*shapes, TensorRef{"out", 0}).shape,
              Shape(std::vector<int64_t>{kBatch, kSeq, kHidden}));
    const absl::flat_hash_set<TensorRef> request =
        RequestLevelTensors(*g, *ParseRequestInputs("x"), *shapes);
    EXPECT_EQ(request.contains((TensorRef{"gru", 0})), g == &rewritten);
    EXPECT_EQ(request.contains((TensorRef{"out", 0})), g == &rewritten);
  }
}

}  // namespace
}  // namespace rankopt
