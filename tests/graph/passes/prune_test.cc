#include "graph/passes/prune.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "graph/passes/pass_report.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

Node MakeNode(std::string name, std::string op, std::vector<TensorRef> inputs = {},
              std::vector<std::string> controls = {}) {
  Node node;
  node.name = std::move(name);
  node.op = std::move(op);
  node.inputs = std::move(inputs);
  node.control_inputs = std::move(controls);
  return node;
}

// A TF-style node with "T" = float32, as most float ops carry.
Node FloatOp(std::string name, std::string op, std::vector<TensorRef> inputs = {},
             std::vector<std::string> controls = {}) {
  Node node = MakeNode(std::move(name), std::move(op), std::move(inputs), std::move(controls));
  node.attrs.Set("T", DType::kFloat32);
  return node;
}

Node Placeholder(std::string name, DType dtype) {
  Node node = MakeNode(std::move(name), "Placeholder");
  node.attrs.Set("dtype", dtype);
  node.attrs.Set("shape", Shape({-1, 4}));
  return node;
}

Node Const(std::string name) {
  Node node = MakeNode(std::move(name), "Const");
  node.attrs.Set("dtype", DType::kFloat32);
  return node;
}

// ONNX node: output tensor names given, node name independent of them.
Node OnnxNode(std::string name, std::string op, std::vector<TensorRef> inputs,
              std::vector<std::string> output_names) {
  Node node = MakeNode(std::move(name), std::move(op), std::move(inputs));
  node.output_names = std::move(output_names);
  return node;
}

PassOptions Outputs(std::vector<std::string> outputs, std::vector<std::string> inputs = {}) {
  PassOptions options;
  options.outputs = std::move(outputs);
  options.inputs = std::move(inputs);
  return options;
}

SignatureTensor SigTensor(std::string key, std::string node, DType dtype, Shape shape) {
  SignatureTensor tensor;
  tensor.key = std::move(key);
  tensor.ref.node = std::move(node);
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  return tensor;
}

Graph MakeGraph(ModelFormat format, std::vector<Node> nodes) {
  Graph graph(format);
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i].source_index = static_cast<int>(i);
  absl::Status status = graph.SetNodes(std::move(nodes));
  EXPECT_TRUE(status.ok()) << status;
  return graph;
}

std::vector<std::string> NodeNames(const Graph& graph) {
  std::vector<std::string> names;
  for (const Node& node : graph.nodes()) names.push_back(node.name);
  return names;
}

int64_t CountOp(const Graph& graph, absl::string_view op) {
  int64_t count = 0;
  for (const Node& node : graph.nodes()) count += node.op == op;
  return count;
}

// ESMM: a shared trunk, pctr = Sigmoid(ctr), pctcvr = Mul(pctr, Sigmoid(cvr)), a calibration
// head hanging off the ctr branch, plus the label/loss/save nodes training leaves behind.
Graph MakeEsmm() {
  Graph graph = MakeGraph(
      ModelFormat::kTfGraphDef,
      {
          Placeholder("features", DType::kFloat32),
          Placeholder("label", DType::kFloat32),
          Const("trunk/w"),
          FloatOp("trunk/MatMul", "MatMul", {{"features", 0}, {"trunk/w", 0}}),
          FloatOp("trunk/Relu", "Relu", {{"trunk/MatMul", 0}}),
          Const("ctr/w"),
          FloatOp("ctr/MatMul", "MatMul", {{"trunk/Relu", 0}, {"ctr/w", 0}}),
          FloatOp("pctr", "Sigmoid", {{"ctr/MatMul", 0}}),
          Const("cvr/w"),
          FloatOp("cvr/MatMul", "MatMul", {{"trunk/Relu", 0}, {"cvr/w", 0}}),
          FloatOp("pcvr", "Sigmoid", {{"cvr/MatMul", 0}}),
          FloatOp("pctcvr", "Mul", {{"pctr", 0}, {"pcvr", 0}}),
          Const("calib/scale"),
          FloatOp("calib/pctr", "Mul", {{"pctr", 0}, {"calib/scale", 0}}),
          FloatOp("loss", "SigmoidCrossEntropyWithLogits", {{"label", 0}, {"ctr/MatMul", 0}}),
          FloatOp("train/Apply", "ApplyAdam", {{"trunk/w", 0}, {"loss", 0}}),
          MakeNode("save/Const", "Const"),
          MakeNode("save/SaveV2", "SaveV2", {{"save/Const", 0}, {"trunk/w", 0}}),
          MakeNode("save/RestoreV2", "RestoreV2", {{"save/Const", 0}}),
          FloatOp("save/Assign", "Assign", {{"trunk/w", 0}, {"save/RestoreV2", 0}}),
      });
  graph.mutable_outputs()->push_back({"pctr", {"pctr", 0}});
  graph.mutable_outputs()->push_back({"pctcvr", {"pctcvr", 0}});
  graph.mutable_outputs()->push_back({"calib/pctr", {"calib/pctr", 0}});
  return graph;
}

TEST(PruneTest, EsmmToPctcvrDropsOtherHeadsAndTrainingNodes) {
  Graph in = MakeEsmm();
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"pctcvr"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();

  // Survivors keep their source order (exporters rely on it) and source_index.
  EXPECT_THAT(NodeNames(out),
              ElementsAre("features", "trunk/w", "trunk/MatMul", "trunk/Relu", "ctr/w",
                          "ctr/MatMul", "pctr", "cvr/w", "cvr/MatMul", "pcvr", "pctcvr"));
  EXPECT_EQ(out.FindNode("pctcvr")->source_index, 11);
  EXPECT_EQ(out.format(), ModelFormat::kTfGraphDef);
  ASSERT_EQ(out.outputs().size(), 1u);
  EXPECT_EQ(out.outputs()[0].name, "pctcvr");
  EXPECT_EQ(out.outputs()[0].ref, (TensorRef{"pctcvr", 0}));

  EXPECT_TRUE(report->changed);
  EXPECT_EQ(report->pass, "prune");
  EXPECT_EQ(report->nodes_before, 20);
  EXPECT_EQ(report->nodes_after, 11);
  EXPECT_EQ(report->params_after, CountParams(out));
  EXPECT_THAT(report->ops_after,
              ElementsAre(Pair("Const", 3), Pair("MatMul", 3), Pair("Mul", 1),
                          Pair("Placeholder", 1), Pair("Relu", 1), Pair("Sigmoid", 2)));
  EXPECT_THAT(absl::StrJoin(report->notes, "\n"), HasSubstr("removed 9 nodes no output needs"));

  std::string table = FormatOpCountTable(*report);
  EXPECT_THAT(table, HasSubstr("SaveV2"));
  EXPECT_THAT(table, HasSubstr("total"));
  EXPECT_THAT(FormatPassReport(*report), HasSubstr("prune: changed, nodes 20 -> 11"));
}

TEST(PruneTest, KeepingEveryOutputOfACleanGraphChangesNothing) {
  Graph in = MakeGraph(ModelFormat::kTfGraphDef,
                       {Placeholder("x", DType::kFloat32), FloatOp("y", "Relu", {{"x", 0}})});
  in.mutable_outputs()->push_back({"y", {"y", 0}});
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"y"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(out.num_nodes(), 2u);
}

TEST(PruneTest, PruneInPlace) {
  Graph graph = MakeEsmm();
  absl::StatusOr<PassReport> report = PruneGraph(graph, Outputs({"pctr"}), &graph);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(graph.num_nodes(), 7u);
  EXPECT_EQ(graph.FindNode("pctcvr"), nullptr);
}

TEST(PruneTest, IdentityChainIsBypassed) {
  Graph in =
      MakeGraph(ModelFormat::kTfGraphDef, {
                                              Placeholder("x", DType::kFloat32),
                                              FloatOp("a", "Relu", {{"x", 0}}),
                                              FloatOp("id1", "Identity", {{"a", 0}}),
                                              FloatOp("id2", "StopGradient", {{"id1", 0}}),
                                              FloatOp("id3", "Snapshot", {{"id2", 0}}),
                                              FloatOp("check", "CheckNumerics", {{"id3", 0}}),
                                              FloatOp("out", "Add", {{"check", 0}, {"id1", 0}}),
                                          });
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"out"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "a", "out"));
  EXPECT_THAT(out.FindNode("out")->inputs, ElementsAre(TensorRef{"a", 0}, TensorRef{"a", 0}));
  EXPECT_TRUE(report->changed);
  EXPECT_THAT(absl::StrJoin(report->notes, "\n"), HasSubstr("bypassed 4 pass-through nodes"));

  // An Identity that is itself requested stays; the chain behind it is still bypassed.
  report = PruneGraph(in, Outputs({"id3"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "a", "id3"));
  EXPECT_THAT(out.FindNode("id3")->inputs, ElementsAre(TensorRef{"a", 0}));
}

TEST(PruneTest, ControlEdgesOnNoOpAndAssertDroppedRealOnesKept) {
  Graph in =
      MakeGraph(ModelFormat::kTfGraphDef,
                {
                    Placeholder("x", DType::kFloat32),
                    MakeNode("table/init", "InitializeTableV2"),
                    MakeNode("check/cond", "IsFinite", {{"x", 0}}),
                    MakeNode("check/assert", "Assert", {{"check/cond", 0}, {"x", 0}}),
                    MakeNode("counter/update", "AssignAdd"),
                    MakeNode("group_deps", "NoOp", {}, {"counter/update"}),
                    FloatOp("a", "Relu", {{"x", 0}}, {"check/assert", "group_deps", "table/init"}),
                    // Ordered after a real op: kept, not bypassed.
                    FloatOp("ordered", "Identity", {{"a", 0}}, {"table/init"}),
                    // Ordered only after an Assert: the edge goes, then the Identity is bypassed.
                    FloatOp("checked", "Identity", {{"ordered", 0}}, {"check/assert"}),
                    FloatOp("out", "Sigmoid", {{"checked", 0}}),
                });
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"out"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "table/init", "a", "ordered", "out"));
  EXPECT_THAT(out.FindNode("a")->control_inputs, ElementsAre("table/init"));
  EXPECT_THAT(out.FindNode("ordered")->control_inputs, ElementsAre("table/init"));
  EXPECT_THAT(out.FindNode("out")->inputs, ElementsAre(TensorRef{"ordered", 0}));
  EXPECT_EQ(CountOp(out, "NoOp"), 0);
  EXPECT_EQ(CountOp(out, "Assert"), 0);
  EXPECT_EQ(CountOp(out, "AssignAdd"), 0);  // only the dropped NoOp needed it
}

TEST(PruneTest, AssertGuardOfTfAssertIsDropped) {
  // What tf.debugging.assert_* builds when the condition is not static:
  // cond(condition, no_op, Assert), and a control dependency of the checked value on it.
  Graph in = MakeGraph(
      ModelFormat::kTfGraphDef,
      {
          Placeholder("ids", DType::kInt64),
          MakeNode("check/Less", "Less", {{"ids", 0}, {"ids", 0}}),
          MakeNode("check/All", "All", {{"check/Less", 0}}),
          MakeNode("guard/Switch", "Switch", {{"check/All", 0}, {"check/All", 0}}),
          MakeNode("guard/switch_t", "Identity", {{"guard/Switch", 1}}),
          MakeNode("guard/switch_f", "Identity", {{"guard/Switch", 0}}),
          MakeNode("guard/NoOp", "NoOp", {}, {"guard/switch_t"}),
          MakeNode("guard/dep", "Identity", {{"guard/switch_t", 0}}, {"guard/NoOp"}),
          MakeNode("guard/Assert/data", "Const", {}, {"guard/switch_f"}),
          MakeNode("guard/Assert", "Assert", {{"guard/Switch", 0}, {"guard/Assert/data", 0}}),
          MakeNode("guard/dep_1", "Identity", {{"guard/switch_f", 0}}, {"guard/Assert"}),
          MakeNode("guard/Merge", "Merge", {{"guard/dep_1", 0}, {"guard/dep", 0}}),
          MakeNode("checked", "Identity", {{"ids", 0}}, {"guard/Merge"}),
          MakeNode("out", "Cast", {{"checked", 0}}),
      });
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"out"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("ids", "out"));
  EXPECT_THAT(out.FindNode("out")->inputs, ElementsAre(TensorRef{"ids", 0}));

  // A Merge someone reads is real data flow, not a guard: it stays.
  Graph read = in;
  Node* cast = read.FindMutableNode("out");
  cast->inputs = {{"guard/Merge", 0}};
  report = PruneGraph(read, Outputs({"out"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NE(out.FindNode("guard/Merge"), nullptr);
  EXPECT_EQ(CountOp(out, "Switch"), 1);
}

TEST(PruneTest, ColocationOnRemovedNodesIsDropped) {
  Node w = Const("w");
  w.attrs.Set("_class", std::vector<std::string>{"loc:@w_read", "loc:@x"});
  Graph in =
      MakeGraph(ModelFormat::kTfGraphDef,
                {Placeholder("x", DType::kFloat32), w, FloatOp("w_read", "Identity", {{"w", 0}}),
                 FloatOp("out", "MatMul", {{"x", 0}, {"w_read", 0}})});
  Graph out(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(PruneGraph(in, Outputs({"out"}), &out).ok());
  const auto* classes = out.FindNode("w")->attrs.Get<std::vector<std::string>>("_class");
  ASSERT_NE(classes, nullptr);
  EXPECT_THAT(*classes, ElementsAre("loc:@x"));
}

TEST(PruneTest, ControlEdgeOnBypassedIdentityMovesToItsSource) {
  Graph in = MakeGraph(ModelFormat::kTfGraphDef, {
                                                     Placeholder("x", DType::kFloat32),
                                                     FloatOp("a", "Relu", {{"x", 0}}),
                                                     FloatOp("read", "Identity", {{"a", 0}}),
                                                     FloatOp("out", "Tanh", {{"x", 0}}, {"read"}),
                                                 });
  Graph out(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(PruneGraph(in, Outputs({"out"}), &out).ok());
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "a", "out"));
  EXPECT_THAT(out.FindNode("out")->control_inputs, ElementsAre("a"));
}

TEST(PruneTest, IdentityAfterSwitchWithControlConsumersStays) {
  // tf.cond pins branch constants to an Identity of the Switch output; bypassing it would
  // run the constant whatever the branch.
  Graph in = MakeGraph(ModelFormat::kTfGraphDef,
                       {
                           Placeholder("x", DType::kFloat32),
                           Placeholder("pred", DType::kBool),
                           FloatOp("cond/Switch", "Switch", {{"pred", 0}, {"pred", 0}}),
                           FloatOp("cond/switch_t", "Identity", {{"cond/Switch", 1}}),
                           MakeNode("cond/c", "Const", {}, {"cond/switch_t"}),
                           FloatOp("out", "Add", {{"x", 0}, {"cond/c", 0}}),
                       });
  Graph out(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(PruneGraph(in, Outputs({"out"}), &out).ok());
  ASSERT_NE(out.FindNode("cond/switch_t"), nullptr);
  EXPECT_THAT(out.FindNode("cond/c")->control_inputs, ElementsAre("cond/switch_t"));
}

TEST(PruneTest, InputsCutUpstreamAndCreatePlaceholders) {
  Node split = FloatOp("split", "Split", {{"axis", 0}, {"h", 0}});
  split.attrs.Set("num_split", int64_t{2});
  Graph in =
      MakeGraph(ModelFormat::kTfGraphDef, {
                                              Placeholder("user", DType::kFloat32),
                                              Const("w"),
                                              FloatOp("h", "MatMul", {{"user", 0}, {"w", 0}}),
                                              FloatOp("relu", "Relu", {{"h", 0}}),
                                              MakeNode("axis", "Const"),
                                              split,
                                              FloatOp("left", "Relu", {{"split", 1}}),
                                              FloatOp("out", "Mul", {{"relu", 0}, {"left", 0}}),
                                              FloatOp("side", "Tanh", {{"user", 0}}),
                                              FloatOp("out2", "Add", {{"side", 0}, {"side", 0}}),
                                          });
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report =
      PruneGraph(in, Outputs({"out"}, {"relu", "split:1", "side"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  // The Placeholder for port 0 takes the node's place and name; port 1 gets "<node>_1".
  EXPECT_THAT(NodeNames(out), ElementsAre("relu", "split_1", "left", "out"));
  const Node* relu = out.FindNode("relu");
  EXPECT_EQ(relu->op, "Placeholder");
  EXPECT_EQ(relu->source_index, -1);
  EXPECT_THAT(relu->inputs, IsEmpty());
  ASSERT_NE(relu->attrs.Get<DType>("dtype"), nullptr);
  EXPECT_EQ(*relu->attrs.Get<DType>("dtype"), DType::kFloat32);
  EXPECT_NE(relu->attrs.Get<Shape>("shape"), nullptr);
  EXPECT_EQ(out.FindNode("split_1")->op, "Placeholder");
  EXPECT_THAT(out.FindNode("left")->inputs, ElementsAre(TensorRef{"split_1", 0}));
  EXPECT_THAT(out.FindNode("out")->inputs, ElementsAre(TensorRef{"relu", 0}, TensorRef{"left", 0}));
  EXPECT_EQ(CountOp(out, "MatMul"), 0);
  EXPECT_THAT(absl::StrJoin(report->notes, "\n"),
              HasSubstr("input 'side' is not upstream of any requested output"));
}

TEST(PruneTest, InputWithUnknownDtypeIsAnError) {
  Graph in = MakeGraph(ModelFormat::kTfGraphDef, {MakeNode("mystery", "MysteryOp"),
                                                  FloatOp("out", "Relu", {{"mystery", 0}})});
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"out"}, {"mystery"}), &out);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("cannot tell the dtype of tensor 'mystery'"));
}

TEST(PruneTest, ReadingAnotherPortOfAReplacedNodeIsAnError) {
  Graph in = MakeGraph(ModelFormat::kTfGraphDef,
                       {Placeholder("x", DType::kFloat32), FloatOp("split", "Split", {{"x", 0}}),
                        FloatOp("out", "Add", {{"split", 0}, {"split", 1}})});
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"out"}, {"split"}), &out);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("also pass 'split:1' to --inputs"));
  EXPECT_TRUE(PruneGraph(in, Outputs({"out"}, {"split", "split:1"}), &out).ok());
}

TEST(PruneTest, UnknownOutputSuggestsCloseNames) {
  Graph in = MakeEsmm();
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"pctcrv"}), &out);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(report.status().message(), HasSubstr("--outputs"));
  EXPECT_THAT(report.status().message(), HasSubstr("did you mean 'pctcvr'"));
  EXPECT_EQ(out.num_nodes(), 0u);  // untouched on error
}

TEST(PruneTest, EmptyOutputsIsAnError) {
  Graph in = MakeEsmm();
  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, PassOptions(), &out);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(), HasSubstr("--outputs"));
  EXPECT_THAT(report.status().message(), HasSubstr("'pctcvr'"));  // lists what there is
}

Graph MakeOnnx() {
  Node x = OnnxNode("x", "Placeholder", {}, {"x"});
  x.attrs.Set("dtype", DType::kFloat32);
  Node w = OnnxNode("w", "Const", {}, {"w"});
  w.attrs.Set("value", *Tensor::FromValues<float>({1}, std::vector<float>{2.0f}));
  Graph graph = MakeGraph(ModelFormat::kOnnx,
                          {
                              x,
                              w,
                              OnnxNode("MatMul_0", "MatMul", {{"x", 0}, {"w", 0}}, {"15"}),
                              OnnxNode("Sigmoid_1", "Sigmoid", {{"MatMul_0", 0}}, {"16"}),
                              OnnxNode("Identity_2", "Identity", {{"Sigmoid_1", 0}}, {"prob"}),
                              OnnxNode("Relu_3", "Relu", {{"MatMul_0", 0}}, {"other"}),
                          });
  graph.mutable_outputs()->push_back({"prob", {"Identity_2", 0}});
  graph.mutable_outputs()->push_back({"other", {"Relu_3", 0}});
  return graph;
}

TEST(PruneTest, OnnxOutputsAreNamedByTensor) {
  Graph in = MakeOnnx();
  Graph out(ModelFormat::kTfGraphDef);
  // A graph-output Identity keeps its tensor name.
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"prob"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "w", "MatMul_0", "Sigmoid_1", "Identity_2"));
  ASSERT_EQ(out.outputs().size(), 1u);
  EXPECT_EQ(out.outputs()[0].name, "prob");

  // Asked for by node name: the output is still named by its tensor.
  report = PruneGraph(in, Outputs({"Sigmoid_1"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("x", "w", "MatMul_0", "Sigmoid_1"));
  EXPECT_EQ(out.outputs()[0].name, "16");
  EXPECT_EQ(out.outputs()[0].ref, (TensorRef{"Sigmoid_1", 0}));
}

TEST(PruneTest, OnnxInputIsNamedByTensor) {
  Graph in = MakeOnnx();
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"16"}, {"15"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(NodeNames(out), ElementsAre("15", "Sigmoid_1"));
  const Node* input = out.FindNode("15");
  EXPECT_EQ(input->op, "Placeholder");
  EXPECT_THAT(input->output_names, ElementsAre("15"));
  ASSERT_NE(input->attrs.Get<DType>("dtype"), nullptr);
  EXPECT_EQ(*input->attrs.Get<DType>("dtype"), DType::kFloat32);  // MatMul of float x
  EXPECT_THAT(out.FindNode("Sigmoid_1")->inputs, ElementsAre(TensorRef{"15", 0}));
}

TEST(PruneTest, SavedModelSignaturesFiltered) {
  Graph in = MakeGraph(ModelFormat::kTfSavedModel,
                       {
                           Placeholder("I1", DType::kFloat32),
                           Placeholder("C1", DType::kInt64),
                           Const("w"),
                           FloatOp("head/logits", "MatMul", {{"I1", 0}, {"w", 0}}),
                           FloatOp("head/Sigmoid", "Sigmoid", {{"head/logits", 0}}),
                           FloatOp("pred_id", "Identity", {{"head/Sigmoid", 0}}),
                           FloatOp("loss", "Mean", {{"C1", 0}}),
                       });
  in.mutable_frozen_variables()->push_back("w");
  Signature serving{"serving_default", "tensorflow/serving/predict", {}, {}};
  serving.inputs.push_back(SigTensor("I1", "I1", DType::kFloat32, Shape({-1, 1})));
  serving.inputs.push_back(SigTensor("C1", "C1", DType::kInt64, Shape({-1, 1})));
  serving.outputs.push_back(SigTensor("pred", "pred_id", DType::kFloat32, Shape({-1, 1})));
  serving.outputs.push_back(SigTensor("logits", "head/logits", DType::kFloat32, Shape({-1, 1})));
  Signature train{"train", "tensorflow/supervised/training", {}, {}};
  train.outputs.push_back(SigTensor("loss", "loss", DType::kFloat32, Shape::Scalar()));
  in.mutable_signatures()->push_back(serving);
  in.mutable_signatures()->push_back(train);

  Graph out(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(in, Outputs({"pred"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(out.format(), ModelFormat::kTfSavedModel);
  EXPECT_THAT(NodeNames(out), ElementsAre("I1", "w", "head/logits", "head/Sigmoid", "pred_id"));
  ASSERT_EQ(out.outputs().size(), 1u);
  EXPECT_EQ(out.outputs()[0].name, "pred");
  EXPECT_EQ(out.outputs()[0].ref, (TensorRef{"pred_id", 0}));
  ASSERT_EQ(out.signatures().size(), 1u);
  const Signature& kept = out.signatures()[0];
  EXPECT_EQ(kept.key, "serving_default");
  ASSERT_EQ(kept.outputs.size(), 1u);
  EXPECT_EQ(kept.outputs[0].key, "pred");
  ASSERT_EQ(kept.inputs.size(), 1u);  // C1 only fed the training loss
  EXPECT_EQ(kept.inputs[0].key, "I1");
  EXPECT_THAT(out.frozen_variables(), ElementsAre("w"));
  EXPECT_THAT(absl::StrJoin(report->notes, "\n"), HasSubstr("signature 'train' dropped"));

  // A cut becomes a signature input, keyed by the name typed.
  report = PruneGraph(in, Outputs({"pred"}, {"head/logits"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(out.signatures().size(), 1u);
  ASSERT_EQ(out.signatures()[0].inputs.size(), 1u);
  EXPECT_EQ(out.signatures()[0].inputs[0].key, "head/logits");
  EXPECT_EQ(out.signatures()[0].inputs[0].ref, (TensorRef{"head/logits", 0}));
  EXPECT_EQ(out.signatures()[0].inputs[0].dtype, DType::kFloat32);
  EXPECT_THAT(out.frozen_variables(), IsEmpty());

  // Asking for the node behind the signature's Identity keeps the signature output too.
  report = PruneGraph(in, Outputs({"head/Sigmoid"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(out.FindNode("pred_id"), nullptr);
  ASSERT_EQ(out.signatures().size(), 1u);
  ASSERT_EQ(out.signatures()[0].outputs.size(), 1u);
  EXPECT_EQ(out.signatures()[0].outputs[0].ref, (TensorRef{"head/Sigmoid", 0}));
}

TEST(PassReportTest, TableListsEveryOpOfBothSides) {
  PassReport report;
  report.nodes_before = 5;
  report.nodes_after = 3;
  report.ops_before = {{"Identity", 2}, {"MatMul", 3}};
  report.ops_after = {{"FusedMatMul", 1}, {"MatMul", 2}};
  std::string table = FormatOpCountTable(report);
  EXPECT_THAT(table, HasSubstr("op type"));
  EXPECT_THAT(table, HasSubstr("FusedMatMul        0        1       +1"));
  EXPECT_THAT(table, HasSubstr("Identity           2        0       -2"));
  EXPECT_THAT(table, HasSubstr("total              5        3       -2"));
}

}  // namespace
}  // namespace rankopt
