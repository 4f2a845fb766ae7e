// End to end with the built-in kernels: the peer models DIN and ESMM (ONNX, exported from
// PyTorch) against PyTorch's stored outputs for 1, 16 and 200 candidates; a TF dense layer
// against numpy.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/prune.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

// |x - ref| <= abs + rel * |ref|.
struct Tolerance {
  double abs = 0;
  double rel = 1e-5;
};

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

// The first `rows` rows (along axis 0) of every tensor.
std::vector<NamedTensor> FirstRows(const std::vector<NamedTensor>& tensors, int64_t rows) {
  std::vector<NamedTensor> out;
  for (const NamedTensor& t : tensors) {
    std::vector<int64_t> dims = t.tensor.dims();
    EXPECT_FALSE(dims.empty()) << t.name;
    if (dims.empty() || dims[0] < rows) return {};
    const size_t row_bytes = t.tensor.bytes().size() / static_cast<size_t>(dims[0]);
    dims[0] = rows;
    absl::StatusOr<Tensor> sliced =
        Tensor::FromBytes(t.tensor.dtype(), dims, t.tensor.bytes().substr(0, row_bytes * rows));
    EXPECT_TRUE(sliced.ok()) << sliced.status();
    out.push_back({t.name, *sliced});
  }
  return out;
}

// Runs `model` on the inputs of `ref_path` (first `rows` rows; 0 = all) and compares every
// reference output.
// `prune_to`, when set, prunes the model to those outputs first (what `rankopt prune` does).
void ExpectMatchesReference(const std::string& model, const std::string& ref_path, int64_t rows,
                            Tolerance tolerance = {}, std::vector<std::string> prune_to = {}) {
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  ASSERT_TRUE(graph.ok()) << graph.status();
  if (!prune_to.empty()) {
    PassOptions options;
    options.outputs = std::move(prune_to);
    absl::StatusOr<PassReport> pruned = PruneGraph(*graph, options, &*graph);
    ASSERT_TRUE(pruned.ok()) << pruned.status();
  }
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();

  absl::StatusOr<std::string> text = ReadFileToString(ref_path);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, ref_path);
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_FALSE(doc->reference_outputs.empty());
  std::vector<NamedTensor> inputs = doc->inputs;
  std::vector<NamedTensor> expected = doc->reference_outputs;
  if (rows > 0) {
    inputs = FirstRows(inputs, rows);
    expected = FirstRows(expected, rows);
    ASSERT_FALSE(inputs.empty());
  }

  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(FeedsOf(inputs), &outputs);
  ASSERT_TRUE(run.ok()) << run;
  const std::vector<std::string>& names = (*plan)->outputs();
  for (const NamedTensor& ref : expected) {
    auto it = std::find(names.begin(), names.end(), ref.name);
    ASSERT_NE(it, names.end()) << "the plan does not compute " << ref.name;
    const Tensor& got = outputs[it - names.begin()];
    ASSERT_EQ(got.dtype(), DType::kFloat32) << ref.name;
    ASSERT_EQ(got.dims(), ref.tensor.dims()) << ref.name;
    // The error relative to what the tolerance allows; <= 1 passes.
    double worst = 0;
    int64_t worst_at = 0;
    for (int64_t i = 0; i < got.num_elements(); ++i) {
      const double x = got.values<float>()[i];
      const double r = ref.tensor.values<float>()[i];
      const double err = std::abs(x - r) / (tolerance.abs + tolerance.rel * std::abs(r));
      if (!(err <= worst)) {  // also catches NaN
        worst = err;
        worst_at = i;
      }
    }
    EXPECT_LE(worst, 1.0) << model << " " << ref.name << "[" << worst_at << "]: got "
                          << got.values<float>()[worst_at] << ", PyTorch "
                          << ref.tensor.values<float>()[worst_at];
  }
}

TEST(ReferenceModelsTest, Din16Candidates) {
  ExpectMatchesReference("peers/din.onnx", TestData("peers/din_ref.json"), 0);
}
TEST(ReferenceModelsTest, Din1Candidate) {
  ExpectMatchesReference("peers/din.onnx", TestData("peers/din_ref.json"), 1);
}
TEST(ReferenceModelsTest, Din200Candidates) {
  ExpectMatchesReference("peers/din.onnx", TestData("exec/din_ref_200.json"), 0);
}
TEST(ReferenceModelsTest, Esmm16Candidates) {
  ExpectMatchesReference("peers/esmm.onnx", TestData("peers/esmm_ref.json"), 0);
}
TEST(ReferenceModelsTest, Esmm1Candidate) {
  ExpectMatchesReference("peers/esmm.onnx", TestData("peers/esmm_ref.json"), 1);
}
TEST(ReferenceModelsTest, Esmm200Candidates) {
  ExpectMatchesReference("peers/esmm.onnx", TestData("exec/esmm_ref_200.json"), 0);
}

TEST(ReferenceModelsTest, TfDenseLayerMatchesNumpy) {
  // 784-term float32 dot products against float64: an absolute floor for outputs near zero.
  ExpectMatchesReference("tf/dense.pb", TestData("exec/dense_ref.json"), 0, {1e-5, 1e-5});
}

// The DeepCTR DeepFM SavedModel (TF 1.15 Estimator, feature columns: SparseFillEmptyRows,
// Unique, SparseSegmentMean/Sum, ...) against the predictions TensorFlow itself printed.
// Pruning to `pred` removes the tf.Assert guards (Switch/Merge) the executor does not run.
TEST(ReferenceModelsTest, DeepCtrDeepFmSavedModelMatchesTensorFlow) {
  ExpectMatchesReference("savedmodel/deepctr_deepfm/serving_raw/1593253204",
                         TestData("exec/deepctr_deepfm_golden.json"), 0, {}, {"pred"});
}

TEST(ReferenceModelsTest, DinFromEightThreadsIsBitwiseIdentical) {
  absl::StatusOr<Graph> graph = LoadModel(TestData("peers/din.onnx"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::vector<NamedTensor>> requests;
  for (const char* path : {"peers/din_ref.json", "exec/din_ref_200.json"}) {
    absl::StatusOr<std::string> text = ReadFileToString(TestData(path));
    ASSERT_TRUE(text.ok()) << text.status();
    absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, path);
    ASSERT_TRUE(doc.ok()) << doc.status();
    requests.push_back(doc->inputs);
    requests.push_back(FirstRows(doc->inputs, 1));
  }
  std::vector<std::vector<Tensor>> expected(requests.size());
  for (size_t r = 0; r < requests.size(); ++r) {
    ASSERT_TRUE((*plan)->Run(FeedsOf(requests[r]), &expected[r]).ok());
  }
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Tensor> out;
      for (int i = 0; i < 20; ++i) {
        const size_t r = static_cast<size_t>(t + i) % requests.size();
        if (!(*plan)->Run(FeedsOf(requests[r]), &out).ok() || out != expected[r]) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(ReferenceModelsTest, DefaultRegistryHasKernels) {
  EXPECT_FALSE(KernelRegistry::Default().Ops(OpSet::kOnnx).empty());
  EXPECT_FALSE(KernelRegistry::Default().Ops(OpSet::kTensorFlow).empty());
}

}  // namespace
}  // namespace rankopt
