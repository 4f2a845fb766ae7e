// Prune on real models: the fixtures in tests/data. The walk over every reference model in
// ../shared lives in tests/tools/shared_models_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_join.h"
#include "graph/ir/graph.h"
#include "graph/onnx/onnx_io.h"
#include "graph/passes/prune.h"
#include "graph/tf/graphdef_io.h"
#include "graph/tf/saved_model_io.h"
#include "onnx/onnx_pb.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

int64_t CountOps(const Graph& graph, const absl::flat_hash_set<std::string>& ops) {
  int64_t count = 0;
  for (const Node& node : graph.nodes()) count += ops.contains(node.op);
  return count;
}

PassOptions Outputs(std::vector<std::string> outputs) {
  PassOptions options;
  options.outputs = std::move(outputs);
  return options;
}

// What a user would keep: the graph outputs, else the signature outputs, else the sink nodes
// (nothing reads them; NoOp/Assert sinks only when there is nothing else).
std::vector<std::string> DefaultOutputs(const Graph& graph) {
  std::vector<std::string> names;
  for (const GraphOutput& output : graph.outputs()) names.push_back(output.name);
  if (!names.empty()) return names;
  absl::flat_hash_set<std::string> seen;
  for (const Signature& signature : graph.signatures()) {
    for (const SignatureTensor& output : signature.outputs) {
      std::string name = output.ref.ToString();
      if (seen.insert(name).second) names.push_back(name);
    }
  }
  if (!names.empty()) return names;
  absl::flat_hash_set<std::string> consumed;
  for (const Node& node : graph.nodes()) {
    for (const TensorRef& input : node.inputs) consumed.insert(input.node);
    for (const std::string& control : node.control_inputs) consumed.insert(control);
  }
  std::vector<std::string> control_sinks;
  for (const Node& node : graph.nodes()) {
    if (consumed.contains(node.name)) continue;
    (node.op == "NoOp" || node.op == "Assert" ? control_sinks : names).push_back(node.name);
  }
  return names.empty() ? control_sinks : names;
}

TEST(PruneModelsTest, EsmmOnnxToPctcvr) {
  const std::string path = std::string(RANKOPT_TESTDATA_DIR) + "/peers/esmm.onnx";
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<std::string> outputs_before;
  for (const GraphOutput& output : graph->outputs()) outputs_before.push_back(output.name);
  ASSERT_THAT(outputs_before, ::testing::Contains("pctr"));

  Graph pruned(ModelFormat::kOnnx);
  absl::StatusOr<PassReport> report = PruneGraph(*graph, Outputs({"pctcvr"}), &pruned);
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << "PRUNE peers/esmm.onnx[pctcvr] " << report->nodes_before << " -> "
            << report->nodes_after << "\n"
            << FormatPassReport(*report);
  ASSERT_EQ(pruned.outputs().size(), 1u);
  EXPECT_EQ(pruned.outputs()[0].name, "pctcvr");
  // pctcvr = pctr * pcvr still needs pctr's node, but pctr is no longer a graph output.
  for (const GraphOutput& output : graph->outputs()) {
    if (output.name == "pctr") {
      EXPECT_NE(pruned.FindNode(output.ref.node), nullptr);
    }
  }
  for (const GraphOutput& output : pruned.outputs()) EXPECT_NE(output.name, "pctr");
  EXPECT_LE(report->nodes_after, report->nodes_before);
  ASSERT_NE(pruned.FindNode(pruned.outputs()[0].ref.node), nullptr);
  EXPECT_EQ(pruned.format(), ModelFormat::kOnnx);

  // The result is still a model ONNX accepts.
  absl::StatusOr<onnx::ModelProto> model = OnnxModelFromGraph(pruned);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(CheckOnnxModel(*model).ok()) << CheckOnnxModel(*model);
}

TEST(PruneModelsTest, DeepFmSavedModelToPred) {
  const std::string dir =
      std::string(RANKOPT_TESTDATA_DIR) + "/savedmodel/deepctr_deepfm/serving_raw/1593253204";
  absl::StatusOr<Graph> graph = ImportSavedModel(dir);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const absl::flat_hash_set<std::string> kTrainingOps = {"SaveV2",
                                                         "RestoreV2",
                                                         "MergeV2Checkpoints",
                                                         "Assign",
                                                         "AssignVariableOp",
                                                         "AssignAdd",
                                                         "AssignSub",
                                                         "ApplyAdam",
                                                         "ApplyAdagrad",
                                                         "ApplyFtrl",
                                                         "ApplyGradientDescent",
                                                         "ShardedFilename",
                                                         "StringJoin",
                                                         "NoOp",
                                                         "Assert"};

  Graph pruned(ModelFormat::kTfSavedModel);
  absl::StatusOr<PassReport> report = PruneGraph(*graph, Outputs({"pred"}), &pruned);
  ASSERT_TRUE(report.ok()) << report.status();
  const int64_t training_before = CountOps(*graph, kTrainingOps);
  const int64_t training_after = CountOps(pruned, kTrainingOps);
  std::cout << "PRUNE savedmodel/deepctr_deepfm[pred] " << report->nodes_before << " -> "
            << report->nodes_after << " (save/restore/training/NoOp/Assert nodes "
            << training_before << " -> " << training_after << ")\n"
            << FormatPassReport(*report);
  EXPECT_LT(report->nodes_after, report->nodes_before);
  EXPECT_EQ(training_after, 0);
  ASSERT_EQ(pruned.outputs().size(), 1u);
  EXPECT_EQ(pruned.outputs()[0].name, "pred");
  ASSERT_FALSE(pruned.signatures().empty());
  for (const Signature& signature : pruned.signatures()) {
    for (const SignatureTensor& output : signature.outputs) {
      EXPECT_EQ(output.ref, pruned.outputs()[0].ref) << signature.key << "/" << output.key;
    }
  }
  // Every surviving frozen variable is still a node.
  for (const std::string& name : pruned.frozen_variables()) {
    EXPECT_NE(pruned.FindNode(name), nullptr) << name;
  }
}

TEST(PruneModelsTest, DenseGraphDefKeepsItsSinks) {
  absl::StatusOr<Graph> graph =
      ImportGraphDefFile(std::string(RANKOPT_TESTDATA_DIR) + "/tf/dense.pb");
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<std::string> outputs = DefaultOutputs(*graph);
  ASSERT_FALSE(outputs.empty());
  Graph pruned(ModelFormat::kTfGraphDef);
  absl::StatusOr<PassReport> report = PruneGraph(*graph, Outputs(outputs), &pruned);
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << "PRUNE tf/dense.pb[" << absl::StrJoin(outputs, ",") << "] " << report->nodes_before
            << " -> " << report->nodes_after << "\n"
            << FormatPassReport(*report);
  for (const std::string& name : outputs) EXPECT_NE(pruned.FindNode(name), nullptr) << name;
  EXPECT_EQ(pruned.outputs().size(), outputs.size());
  EXPECT_TRUE(GraphDefFromGraph(pruned).ok());
}

}  // namespace
}  // namespace rankopt
