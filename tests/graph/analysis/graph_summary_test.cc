#include "graph/analysis/graph_summary.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/analysis/op_support.h"
#include "gtest/gtest.h"
#include "tests/graph/analysis/test_graphs.h"

namespace rankopt {
namespace {

using ::rankopt::testing::AddConstF;
using ::rankopt::testing::AddNode;
using ::rankopt::testing::AddOnnxNode;
using ::rankopt::testing::AddPlaceholder;
using ::testing::HasSubstr;

constexpr int64_t kU = Shape::kUnknownDim;

// x[?,784] @ w[784,10] + b[10] -> Relu, plus a NoOp and a control edge.
Graph DenseGraph() {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 784}));
  AddConstF(g, "w", {784, 10});
  AddConstF(g, "b", {10});
  AddNode(g, "mm", "MatMul", {"x", "w"});
  AddNode(g, "bias", "BiasAdd", {"mm", "b"});
  AddNode(g, "relu", "Relu", {"bias"}).control_inputs.push_back("x");
  AddNode(g, "init", "NoOp", {});
  return g;
}

std::vector<std::pair<std::string, int64_t>> OpCounts(
    const google::protobuf::RepeatedPtrField<SummaryOpCount>& counts) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const SummaryOpCount& c : counts) out.emplace_back(c.op(), c.count());
  return out;
}

TEST(GraphSummaryTest, DenseGraphCountsAndFlops) {
  Graph g = DenseGraph();
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->format(), ModelFormatName(ModelFormat::kTfGraphDef));
  EXPECT_EQ(s->node_count(), 7);
  ASSERT_EQ(s->inputs_size(), 1);
  EXPECT_EQ(s->inputs(0).name(), "x");
  EXPECT_EQ(s->inputs(0).dtype(), "float32");
  EXPECT_EQ(s->inputs(0).shape(), "[?,784]");
  EXPECT_THAT(s->inputs(0).dims(), ::testing::ElementsAre(-1, 784));
  // NoOp "init" is not an output even though nothing consumes it.
  EXPECT_EQ(s->outputs_source(), "unconsumed nodes");
  ASSERT_EQ(s->outputs_size(), 1);
  EXPECT_EQ(s->outputs(0).name(), "relu");
  EXPECT_EQ(s->outputs(0).shape(), "[?,10]");
  EXPECT_EQ(s->const_count(), 2);
  EXPECT_EQ(s->parameter_count(), 784 * 10 + 10);
  EXPECT_EQ(s->parameter_bytes(), 4 * (784 * 10 + 10));
  EXPECT_EQ(s->control_edge_count(), 1);
  // 2*M*K*N for the MatMul at batch 1, then one per element for BiasAdd and Relu.
  EXPECT_EQ(s->flops_per_example(), 2 * 784 * 10 + 10 + 10);
  EXPECT_TRUE(s->flops_complete());
  EXPECT_TRUE(s->flops_uncounted().empty());
  ASSERT_EQ(s->flops_by_op_size(), 3);
  EXPECT_EQ(s->flops_by_op(0).op(), "MatMul");
  EXPECT_EQ(s->flops_by_op(0).flops(), 2 * 784 * 10);
  // Count desc, then name.
  EXPECT_THAT(
      OpCounts(s->op_types()),
      ::testing::ElementsAre(::testing::Pair("Const", 2), ::testing::Pair("BiasAdd", 1),
                             ::testing::Pair("MatMul", 1), ::testing::Pair("NoOp", 1),
                             ::testing::Pair("Placeholder", 1), ::testing::Pair("Relu", 1)));
  // The executor runs all of them (Placeholder and Const it binds itself).
  EXPECT_EQ(s->unsupported_ops_size(), 0);
}

TEST(GraphSummaryTest, UnknownOpIsListedAsUncountedNotFatal) {
  Graph g = DenseGraph();
  AddNode(g, "fancy", "FancyCustomOp", {"relu"});
  AddNode(g, "sig", "Sigmoid", {"fancy"});
  AddNode(g, "r", "Reshape", {"fancy", "relu"});  // data movement: zero FLOPs, never "uncounted"
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->flops_complete());
  EXPECT_EQ(s->flops_per_example(), 2 * 784 * 10 + 10 + 10);
  EXPECT_THAT(
      OpCounts(s->flops_uncounted()),
      ::testing::ElementsAre(::testing::Pair("FancyCustomOp", 1), ::testing::Pair("Sigmoid", 1)));
  ASSERT_EQ(s->outputs_size(), 2);
  EXPECT_EQ(s->outputs(0).name(), "sig");
  EXPECT_EQ(s->outputs(0).shape(), "<unknown rank>");
  EXPECT_EQ(s->outputs(0).dtype(), "unknown");
  EXPECT_THAT(FormatSummaryText(*s), HasSubstr("FancyCustomOp x1, Sigmoid x1"));
}

TEST(GraphSummaryTest, SavedModelSignaturesAndVariables) {
  Graph g = DenseGraph();
  g.set_format(ModelFormat::kTfSavedModel);
  AddNode(g, "v", "VarHandleOp", {});
  g.mutable_frozen_variables()->push_back("w");
  g.mutable_frozen_variables()->push_back("b");
  Signature sig;
  sig.key = "serving_default";
  sig.inputs.push_back({"features", TensorRef{"x", 0}, DType::kFloat32, Shape({kU, 784})});
  sig.outputs.push_back({"probs", TensorRef{"relu", 0}, DType::kFloat32, Shape({kU, 10})});
  g.mutable_signatures()->push_back(sig);
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->inputs_size(), 1);
  ASSERT_EQ(s->inputs(0).signatures_size(), 1);
  EXPECT_EQ(s->inputs(0).signatures(0).signature_key(), "serving_default");
  EXPECT_EQ(s->inputs(0).signatures(0).tensor_key(), "features");
  EXPECT_EQ(s->outputs_source(), "signature outputs");
  ASSERT_EQ(s->outputs_size(), 1);
  EXPECT_EQ(s->outputs(0).name(), "relu");
  EXPECT_EQ(s->outputs(0).signatures(0).tensor_key(), "probs");
  EXPECT_EQ(s->variable_op_count(), 1);
  EXPECT_EQ(s->frozen_variable_count(), 2);
  const std::string text = FormatSummaryText(*s);
  EXPECT_THAT(text, HasSubstr("serving_default[\"features\"]"));
  EXPECT_THAT(text, HasSubstr("2 frozen from checkpoint"));
}

TEST(GraphSummaryTest, SignatureFedTensorsAreInputsTypedBySignature) {
  // TF1 Estimator/serving exports feed signatures through ops that are not Placeholders
  // (half_plus_two feeds "x", an Identity of a parsed tf.Example).
  Graph g(ModelFormat::kTfSavedModel);
  AddNode(g, "parsed", "ParseExample", {});
  AddNode(g, "x", "Identity", {"parsed"});
  AddNode(g, "y", "Relu", {"x"});
  Signature sig;
  sig.key = "serving_default";
  sig.inputs.push_back({"x", TensorRef{"x", 0}, DType::kFloat32, Shape({kU, 1})});
  sig.outputs.push_back({"y", TensorRef{"y", 0}, DType::kFloat32, Shape({kU, 1})});
  g.mutable_signatures()->push_back(sig);
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->inputs_size(), 1);
  EXPECT_EQ(s->inputs(0).name(), "x");
  EXPECT_EQ(s->inputs(0).dtype(), "float32");
  EXPECT_EQ(s->inputs(0).shape(), "[?,1]");
  EXPECT_EQ(s->inputs(0).signatures(0).tensor_key(), "x");
}

TEST(GraphSummaryTest, OnnxGraphOutputsAndGemm) {
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 195}));
  AddConstF(g, "w", {256, 195});
  AddConstF(g, "c", {256});
  AddOnnxNode(g, "fc", "Gemm", {"x", "w", "c"}, 1).attrs.Set("transB", int64_t{1});
  AddOnnxNode(g, "act", "Relu", {"fc"}, 1);
  g.mutable_outputs()->push_back({"y", TensorRef{"act", 0}});
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->outputs_source(), "graph outputs");
  ASSERT_EQ(s->outputs_size(), 1);
  EXPECT_EQ(s->outputs(0).name(), "y");
  EXPECT_EQ(s->outputs(0).shape(), "[?,256]");
  EXPECT_EQ(s->flops_per_example(), 2 * 195 * 256 + 256 + 256);
}

TEST(GraphSummaryTest, JsonParsesBackWithOpCounts) {
  auto s = SummarizeGraph(DenseGraph());
  ASSERT_TRUE(s.ok());
  const std::string json = FormatSummaryJson(*s);
  EXPECT_THAT(json, HasSubstr("\"op_types\""));
  EXPECT_THAT(json, HasSubstr("\"flops_per_example\""));
  EXPECT_THAT(json, HasSubstr("\"MatMul\""));
  GraphSummaryProto parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, *s));
  EXPECT_EQ(parsed.flops_per_example(), 2 * 784 * 10 + 20);
  EXPECT_EQ(parsed.op_types(0).op(), "Const");
  EXPECT_EQ(parsed.op_types(0).count(), 2);
}

// Op types and names come from the model file, which need not be UTF-8 (ONNX strings are not
// checked on parse); the JSON report must still be complete and parse back.
TEST(GraphSummaryTest, JsonOfNonUtf8NamesParsesBack) {
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "x\xff", DType::kFloat32, Shape({kU, 4}));
  AddOnnxNode(g, "n", "Op\xc3\x28", {"x\xff"}, 1);
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string json = FormatSummaryJson(*s);
  EXPECT_THAT(json, HasSubstr("\"op_types\""));
  GraphSummaryProto parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  ASSERT_EQ(parsed.op_types_size(), 2);
  EXPECT_THAT(parsed.op_types(0).op(), HasSubstr("Op"));
}

TEST(GraphSummaryTest, TextReportHasEverySection) {
  auto s = SummarizeGraph(DenseGraph());
  ASSERT_TRUE(s.ok());
  const std::string text = FormatSummaryText(*s);
  EXPECT_THAT(text, HasSubstr("Model: "));
  EXPECT_THAT(text, HasSubstr("Inputs (1):"));
  EXPECT_THAT(text, HasSubstr("Outputs (1, from unconsumed nodes):"));
  EXPECT_THAT(text, HasSubstr("Op types (6 types, 7 nodes):"));
  EXPECT_THAT(text, HasSubstr("Parameters: 7,850 in 2 Const nodes, 31,400 bytes"));
  EXPECT_THAT(text, HasSubstr("Variables: 0 variable ops in the graph; 0 frozen from checkpoint"));
  EXPECT_THAT(text, HasSubstr("Control edges: 1"));
  EXPECT_THAT(text, HasSubstr("FLOPs per example (batch size 1): 15,700"));
  EXPECT_THAT(text, HasSubstr("cdf %"));
  EXPECT_THAT(text, HasSubstr("Every compute op was counted."));
  EXPECT_THAT(text, HasSubstr("Ops rankopt cannot run yet (0 of 6 op types): none"));
}

TEST(GraphSummaryTest, CycleIsAnError) {
  Graph g(ModelFormat::kTfGraphDef);
  AddNode(g, "a", "Relu", {"b"});
  AddNode(g, "b", "Relu", {"a"});
  EXPECT_FALSE(SummarizeGraph(g).ok());
}

TEST(OpSupportTest, TheKernelRegistryAnswers) {
  EXPECT_TRUE(RankoptCanRun(ModelFormat::kOnnx, "Gemm", ""));
  EXPECT_TRUE(RankoptCanRun(ModelFormat::kOnnx, "Gemm", "ai.onnx"));
  EXPECT_TRUE(RankoptCanRun(ModelFormat::kTfGraphDef, "MatMul", ""));
  EXPECT_TRUE(RankoptCanRun(ModelFormat::kTfGraphDef, kPlaceholderOp, ""));
  // Gemm is ONNX's; BiasAdd is TF's.
  EXPECT_FALSE(RankoptCanRun(ModelFormat::kTfGraphDef, "Gemm", ""));
  EXPECT_FALSE(RankoptCanRun(ModelFormat::kOnnx, "BiasAdd", ""));
  EXPECT_FALSE(RankoptCanRun(ModelFormat::kOnnx, "Gemm", "com.example"));
  EXPECT_FALSE(RankoptCanRun(ModelFormat::kTfGraphDef, "Switch", ""));
}

}  // namespace
}  // namespace rankopt
