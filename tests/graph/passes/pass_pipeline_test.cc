// The O0/O1 pass lists, and O1 on the real models: DIN and ESMM (ONNX) against PyTorch, the
// DeepCTR DeepFM SavedModel (unpruned) against TensorFlow, TF graphs O0 vs O1.
#include "graph/passes/pass_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/constant_folding.h"
#include "graph/passes/fuse_matmul_bias_activation.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

TEST(PassPipelineTest, PassListsPerLevel) {
  EXPECT_TRUE(PassNames(OptLevel::kO0).empty());
  EXPECT_THAT(PassNames(OptLevel::kO1), ElementsAre("prune", "constant_folding", "fold_batch_norm",
                                                    "fuse_matmul_bias_activation", "embedding_bag",
                                                    "embedding_lookup", "final_prune"));
  EXPECT_THAT(PassNames(OptLevel::kO2),
              ElementsAre("prune", "constant_folding", "fold_batch_norm", "gru_batch_first",
                          "fuse_attention_pooling", "split_field_concat", "split_first_dense",
                          "request_level",
                          "fuse_matmul_bias_activation", "fuse_gemm_epilogue", "embedding_bag",
                          "embedding_lookup", "fuse_multi_lookup", "final_prune"));
  EXPECT_EQ(*ParseOptLevel("o1"), OptLevel::kO1);
  EXPECT_EQ(*ParseOptLevel("2"), OptLevel::kO2);
  EXPECT_FALSE(ParseOptLevel("O3").ok());
}

TEST(PassPipelineTest, DisablesPassesByNameAndRejectsUnknownNames) {
  Node mm = Op("mm", "MatMul", {{"x", 0}, {"w", 0}});
  Graph graph = MakeGraph(ModelFormat::kTfGraphDef,
                          {Input("x", {-1, 2}), ConstNode("w", Floats({2, 2}, {1, 2, 3, 4})), mm,
                           Op("relu", "Relu", {{"mm", 0}})},
                          {"relu"});
  Graph out(graph.format());
  OptimizeOptions options;
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(graph, OptLevel::kO1, options, &out);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_EQ(reports->size(), 7u);
  EXPECT_EQ(CountOp(out, std::string(kFusedMatMulOp)), 1);

  options.disabled_passes = {"fuse_matmul_bias_activation"};
  reports = OptimizeGraph(graph, OptLevel::kO1, options, &out);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_EQ(reports->size(), 6u);
  EXPECT_EQ(CountOp(out, "MatMul"), 1);

  options.disabled_passes = {"fusion"};
  reports = OptimizeGraph(graph, OptLevel::kO1, options, &out);
  ASSERT_FALSE(reports.ok());
  EXPECT_THAT(reports.status().message(), HasSubstr("fuse_matmul_bias_activation"));
}

// The first `rows` rows of every tensor (0: all).
std::vector<NamedTensor> FirstRows(const std::vector<NamedTensor>& tensors, int64_t rows) {
  if (rows == 0) return tensors;
  std::vector<NamedTensor> out;
  for (const NamedTensor& t : tensors) {
    std::vector<int64_t> dims = t.tensor.dims();
    const size_t row_bytes = t.tensor.bytes().size() / static_cast<size_t>(dims[0]);
    dims[0] = rows;
    out.push_back({t.name, *Tensor::FromBytes(t.tensor.dtype(), dims,
                                              t.tensor.bytes().substr(0, row_bytes * rows))});
  }
  return out;
}

struct RunResult {
  std::vector<std::string> names;
  std::vector<Tensor> values;
};

RunResult RunOn(const Graph& graph, const std::vector<NamedTensor>& inputs) {
  RunResult run;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions{});
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return run;
  absl::Status s = (*plan)->Run(FeedsOf(inputs), &run.values);
  EXPECT_TRUE(s.ok()) << s;
  run.names = (*plan)->outputs();
  return run;
}

const Tensor* Find(const RunResult& run, const std::string& name) {
  for (size_t i = 0; i < run.names.size() && i < run.values.size(); ++i) {
    if (run.names[i] == name) return &run.values[i];
  }
  return nullptr;
}

// The report's header line and notes, without the op table.
void PrintReport(const PassReport& r) {
  std::printf("  %s: %s, nodes %lld -> %lld\n", r.pass.c_str(), r.changed ? "changed" : "unchanged",
              static_cast<long long>(r.nodes_before), static_cast<long long>(r.nodes_after));
  for (const std::string& note : r.notes) std::printf("    %s\n", note.c_str());
}

void PrintCounts(const std::string& model, const Graph& before, const Graph& after) {
  std::printf("[ node counts ] %s: %zu -> %zu (O0 -> O1)\n", model.c_str(), before.num_nodes(),
              after.num_nodes());
}

// O1 of `model` against O0 (within o0_rel) and the stored reference outputs (within ref_rel).
void CheckModel(const std::string& model, const std::vector<std::string>& refs,
                const std::vector<int64_t>& rows, double o0_rel, double ref_rel,
                int64_t* fused = nullptr) {
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  ASSERT_TRUE(graph.ok()) << graph.status();
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO1, {}, &optimized);
  ASSERT_TRUE(reports.ok()) << reports.status();
  PrintCounts(model, *graph, optimized);
  for (const PassReport& r : *reports) PrintReport(r);
  if (fused != nullptr) *fused = CountOp(optimized, std::string(kFusedMatMulOp));
  for (const std::string& ref_path : refs) {
    absl::StatusOr<std::string> text = ReadFileToString(TestData(ref_path));
    ASSERT_TRUE(text.ok()) << text.status();
    absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, ref_path);
    ASSERT_TRUE(doc.ok()) << doc.status();
    for (int64_t n : rows) {
      const int64_t available = doc->inputs.empty() ? 0 : doc->inputs[0].tensor.dims()[0];
      if (n > available) continue;
      std::vector<NamedTensor> inputs = FirstRows(doc->inputs, n);
      std::vector<NamedTensor> expected = FirstRows(doc->reference_outputs, n);
      RunResult o0 = RunOn(*graph, inputs);
      RunResult o1 = RunOn(optimized, inputs);
      for (const NamedTensor& ref : expected) {
        const Tensor* a = Find(o0, ref.name);
        const Tensor* b = Find(o1, ref.name);
        ASSERT_NE(a, nullptr) << ref.name;
        ASSERT_NE(b, nullptr) << ref.name;
        const std::string what = absl::StrCat(model, " ", ref_path, " rows ", n, " ", ref.name);
        ExpectNear(*b, *a, o0_rel, what + " O1 vs O0");
        ExpectNear(*b, ref.tensor, ref_rel, what + " O1 vs reference");
      }
    }
  }
}

TEST(PassPipelineModelsTest, DinO1MatchesO0AndPyTorch) {
  int64_t fused = 0;
  CheckModel("peers/din.onnx", {"peers/din_ref.json", "exec/din_ref_200.json"}, {1, 16, 0}, 1e-6,
             1e-5, &fused);
  EXPECT_GT(fused, 0);
}

TEST(PassPipelineModelsTest, EsmmO1MatchesO0AndPyTorch) {
  int64_t fused = 0;
  CheckModel("peers/esmm.onnx", {"peers/esmm_ref.json", "exec/esmm_ref_200.json"}, {1, 16, 0}, 1e-6,
             1e-5, &fused);
  EXPECT_GT(fused, 0);
}

TEST(PassPipelineModelsTest, TfDenseO1MatchesO0) {
  CheckModel("tf/dense.pb", {"exec/dense_ref.json"}, {0}, 1e-6, 1e-4);
}

// Unpruned: constant folding alone must leave a graph that runs (the Switch/Merge assert
// guards sit only on control edges), then the whole O1 list.
TEST(PassPipelineModelsTest, DeepCtrDeepFmSavedModelO1MatchesTensorFlow) {
  const std::string model = "savedmodel/deepctr_deepfm/serving_raw/1593253204";
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::string> text = ReadFileToString(TestData("exec/deepctr_deepfm_golden.json"));
  ASSERT_TRUE(text.ok());
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, "golden");
  ASSERT_TRUE(doc.ok()) << doc.status();

  Graph folded(graph->format());
  absl::StatusOr<PassReport> fold = FoldConstants(*graph, {}, &folded);
  ASSERT_TRUE(fold.ok()) << fold.status();
  PrintReport(*fold);
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO1, {}, &optimized);
  ASSERT_TRUE(reports.ok()) << reports.status();
  PrintCounts(model, *graph, optimized);
  for (const PassReport& r : *reports) PrintReport(r);
  std::printf("[ MatMuls ] %lld fused, %lld left\n",
              static_cast<long long>(CountOp(optimized, std::string(kFusedMatMulOp))),
              static_cast<long long>(CountOp(optimized, "MatMul")));
  // TF's Tensordot puts a Reshape between each dnn MatMul and its BiasAdd; both layers fuse.
  for (const std::string name : {"dnn/dnn/activation/Relu", "dnn/dnn/activation_1/Relu"}) {
    ASSERT_NE(optimized.FindNode(name), nullptr) << name;
    EXPECT_EQ(optimized.FindNode(name)->op, std::string(kFusedMatMulOp)) << name;
  }
  for (const Graph* g : {&folded, &optimized}) {
    RunResult run = RunOn(*g, doc->inputs);
    for (const NamedTensor& ref : doc->reference_outputs) {
      const Tensor* got = Find(run, ref.name);
      ASSERT_NE(got, nullptr) << ref.name;
      ExpectNear(*got, ref.tensor, 1e-5, ref.name);
    }
  }
}

// O0 vs O1 on random inputs for TF graphs with one float input of static inner dims.
void CheckRandomO0VsO1(const std::string& path) {
  absl::StatusOr<Graph> graph = LoadModel(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO1, {}, &optimized);
  ASSERT_TRUE(reports.ok()) << reports.status();
  PrintCounts(path, *graph, optimized);
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<NamedTensor> inputs;
  uint32_t seed = 100;
  for (const ExecutionPlan::Input& in : (*plan)->inputs()) {
    std::vector<int64_t> dims;
    for (int64_t d : in.shape.known_rank() ? in.shape.dims() : std::vector<int64_t>{4}) {
      dims.push_back(d < 0 ? 3 : d);
    }
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    if (in.dtype == DType::kFloat32) {
      inputs.push_back({in.name, Floats(dims, RandomFloats(count, seed++))});
    } else if (in.dtype == DType::kInt32) {
      inputs.push_back(
          {in.name, *Tensor::FromValues<int32_t>(dims, std::vector<int32_t>(count, 1))});
    } else {
      inputs.push_back(
          {in.name, *Tensor::FromValues<int64_t>(dims, std::vector<int64_t>(count, 1))});
    }
  }
  RunResult o0 = RunOn(*graph, inputs);
  RunResult o1 = RunOn(optimized, inputs);
  ASSERT_FALSE(o0.names.empty());
  for (size_t i = 0; i < o0.names.size(); ++i) {
    const Tensor* got = Find(o1, o0.names[i]);
    ASSERT_NE(got, nullptr) << o0.names[i];
    ExpectNear(*got, o0.values[i], 1e-5, path + " " + o0.names[i]);
  }
}

TEST(PassPipelineModelsTest, TfDenseAndBatchNormO0VsO1) {
  CheckRandomO0VsO1(TestData("tf/dense.pb"));
  CheckRandomO0VsO1(TestData("tf/batch_norm.pb"));
}

TEST(PassPipelineModelsTest, SharedForwardModelsO0VsO1) {
  const std::string dir = absl::StrCat(RANKOPT_SHARED_DIR, "/models/tf/forward");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " is absent";
  CheckRandomO0VsO1(dir + "/DeepFM.pb");
}

}  // namespace
}  // namespace rankopt
