#include "graph/exec/chunked_runner.h"

#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "graph/exec/profiler.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "gtest/gtest.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

ChunkedRunnerOptions Opts(int64_t chunk_rows, int threads,
                          Separability separability = Separability::kVerifyOnFirstRun,
                          std::vector<std::string> request_level = {}) {
  ChunkedRunnerOptions options;
  options.chunk_rows = chunk_rows;
  options.threads = threads;
  options.separability = separability;
  options.request_level_inputs = std::move(request_level);
  return options;
}

struct Model {
  std::unique_ptr<const ExecutionPlan> plan;
  TensorJsonDocument doc;
};

Model LoadPeer(const std::string& model, const std::string& ref, const KernelRegistry* registry) {
  Model m;
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return m;
  PlanOptions options;
  options.registry = registry;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (plan.ok()) m.plan = std::move(*plan);
  absl::StatusOr<std::string> text = ReadFileToString(TestData(ref));
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return m;
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, ref);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (doc.ok()) m.doc = std::move(*doc);
  return m;
}

double MaxRelativeError(const Tensor& got, const Tensor& ref) {
  double worst = 0;
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double r = ref.values<float>()[i];
    worst = std::max(worst, std::abs(got.values<float>()[i] - r) / std::abs(r));
  }
  return worst;
}

// Every chunk size and thread count gives the unchunked run's bytes, and PyTorch's values.
void ExpectChunkingInvariant(const std::string& model, const std::string& ref) {
  Model m = LoadPeer(model, ref, nullptr);
  ASSERT_NE(m.plan, nullptr);
  ASSERT_EQ(m.doc.inputs[0].tensor.dims()[0], 200);
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  std::vector<Tensor> whole;
  ASSERT_TRUE(m.plan->Run(feeds, &whole).ok());
  for (int threads : {1, 2, 4}) {
    for (int64_t chunk : {1, 7, 64, 200}) {
      SCOPED_TRACE(absl::StrCat(model, " threads ", threads, " chunk ", chunk));
      absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
          ChunkedRunner::Create(m.plan.get(), Opts(chunk, threads, Separability::kAssume));
      ASSERT_TRUE(runner.ok()) << runner.status();
      for (int repeat = 0; repeat < 2; ++repeat) {
        std::vector<Tensor> outputs;
        absl::Status status = (*runner)->Run(feeds, &outputs);
        ASSERT_TRUE(status.ok()) << status;
        ASSERT_EQ(outputs.size(), whole.size());
        for (size_t i = 0; i < outputs.size(); ++i) {
          EXPECT_TRUE(outputs[i] == whole[i]) << m.plan->outputs()[i] << " differs bitwise";
        }
        for (const NamedTensor& expected : m.doc.reference_outputs) {
          for (size_t i = 0; i < outputs.size(); ++i) {
            if (m.plan->outputs()[i] != expected.name) continue;
            ASSERT_EQ(outputs[i].dims(), expected.tensor.dims());
            EXPECT_LE(MaxRelativeError(outputs[i], expected.tensor), 1e-5) << expected.name;
          }
        }
      }
    }
  }
}

TEST(ChunkedRunnerTest, DinBitwiseIdenticalForAnyChunkAndThreads) {
  ExpectChunkingInvariant("peers/din.onnx", "exec/din_ref_200.json");
}

TEST(ChunkedRunnerTest, EsmmBitwiseIdenticalForAnyChunkAndThreads) {
  ExpectChunkingInvariant("peers/esmm.onnx", "exec/esmm_ref_200.json");
}

TEST(ChunkedRunnerTest, VerifiesSeparabilityOnFirstRunAndAutoChunks) {
  Model m = LoadPeer("peers/din.onnx", "exec/din_ref_200.json", nullptr);
  ASSERT_NE(m.plan, nullptr);
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(m.plan.get(), Opts(0, 2));
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_EQ((*runner)->ChunkRowsFor(200), 50);
  EXPECT_EQ((*runner)->ChunkRowsFor(512), 64);
  EXPECT_EQ((*runner)->ChunkRowsFor(16), 16);
  EXPECT_EQ((*runner)->ChunkRowsFor(1), 1);
  EXPECT_EQ((*runner)->separability(), SeparabilityState::kUnknown);
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*runner)->Run(FeedsOf(m.doc.inputs), &outputs).ok());
  EXPECT_EQ((*runner)->separability(), SeparabilityState::kSeparable);
  EXPECT_LE(MaxRelativeError(outputs[0], m.doc.reference_outputs[0].tensor), 1e-5);
}

// A plan of many cheap nodes runs in fewer, larger automatic chunks (Scorer's cap): one chunk
// per thread when the cap covers the request.
TEST(ChunkedRunnerTest, AutoChunkRowsCapMakesLargerChunks) {
  Model m = LoadPeer("peers/din.onnx", "exec/din_ref_200.json", nullptr);
  ASSERT_NE(m.plan, nullptr);
  for (const auto& [threads, cap, candidates, rows] :
       std::vector<std::tuple<int, int64_t, int64_t, int64_t>>{
           {1, 250, 200, 200}, {2, 250, 200, 100}, {1, 250, 512, 171}, {1, 100, 200, 100}}) {
    ChunkedRunnerOptions options = Opts(0, threads);
    options.max_auto_chunk_rows = cap;
    absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
        ChunkedRunner::Create(m.plan.get(), options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    EXPECT_EQ((*runner)->ChunkRowsFor(candidates), rows)
        << threads << " threads, cap " << cap << ", " << candidates << " candidates";
  }
}

TEST(ChunkedRunnerTest, ConcurrentRunsAgree) {
  Model m = LoadPeer("peers/esmm.onnx", "exec/esmm_ref_200.json", nullptr);
  ASSERT_NE(m.plan, nullptr);
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(m.plan.get(), Opts(32, 2));
  ASSERT_TRUE(runner.ok());
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  std::vector<Tensor> expected;
  ASSERT_TRUE((*runner)->Run(feeds, &expected).ok());
  std::vector<std::thread> callers;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::vector<Tensor> outputs;
        if (!(*runner)->Run(feeds, &outputs).ok() || outputs != expected) ++mismatches[t];
      }
    });
  }
  for (std::thread& c : callers) c.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "caller " << t;
}

TEST(ChunkedRunnerTest, RunIntoReusesItsBuffersAcrossRequests) {
  Model m = LoadPeer("peers/din.onnx", "exec/din_ref_200.json", nullptr);
  ASSERT_NE(m.plan, nullptr);
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(m.plan.get(), Opts(7, 2));
  ASSERT_TRUE(runner.ok());
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  ChunkedOutputs outputs;
  const void* first_data = nullptr;
  for (int64_t n : {200, 150, 1, 200, 64}) {
    SCOPED_TRACE(absl::StrCat(n, " candidates"));
    std::vector<NamedTensorView> request = feeds;
    for (NamedTensorView& f : request) {
      if (f.view.rank() >= 1 && f.view.dims[0] == 200) f.view.dims[0] = n;
    }
    std::vector<Tensor> whole;
    ASSERT_TRUE(m.plan->Run(request, &whole).ok());
    ASSERT_TRUE((*runner)->RunInto(request, &outputs).ok());
    std::vector<Tensor> got;
    ASSERT_TRUE(outputs.CopyTo(&got).ok());
    EXPECT_TRUE(got == whole);
    if (first_data == nullptr) first_data = outputs.views()[0].data;
    EXPECT_EQ(outputs.views()[0].data, first_data) << "no request is larger than the first";
  }
  EXPECT_EQ((*runner)->separability(), SeparabilityState::kSeparable);
}

// Tiny graphs with test kernels: one row-separable, two that mix rows.

// y = x - mean over axis 0 of x (mixes rows; keeps the leading dim).
class SubRowMeanKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, DType::kFloat32, x.dims));
    const int64_t rows = x.dims[0];
    const int64_t cols = x.NumElements() / std::max<int64_t>(rows, 1);
    for (int64_t j = 0; j < cols; ++j) {
      float mean = 0;
      for (int64_t i = 0; i < rows; ++i) mean += x.data_as<float>()[i * cols + j];
      mean /= rows;
      for (int64_t i = 0; i < rows; ++i) {
        y.data_as<float>()[i * cols + j] = x.data_as<float>()[i * cols + j] - mean;
      }
    }
    return absl::OkStatus();
  }
};

// y = sum of all of x, shape [1] (the leading dim is not the row count).
class SumAllKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, DType::kFloat32, {1}));
    float sum = 0;
    for (float v : x.values<float>()) sum += v;
    y.data_as<float>()[0] = sum;
    return absl::OkStatus();
  }
};

// y = 2 * x (row-separable).
class DoubleKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, DType::kFloat32, x.dims));
    for (int64_t i = 0; i < x.NumElements(); ++i) y.data_as<float>()[i] = 2 * x.data_as<float>()[i];
    return absl::OkStatus();
  }
};

// y[i, j] = x[i, 0] * w[j]: row-separable, its width set by the request-level w.
class OuterKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    const TensorView& w = ctx->input(1);
    const int64_t rows = x.dims[0];
    const int64_t cols = w.dims[0];
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, DType::kFloat32, {rows, cols}));
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        y.data_as<float>()[i * cols + j] =
            x.data_as<float>()[i * x.dims[1]] * w.data_as<float>()[j];
      }
    }
    return absl::OkStatus();
  }
};

template <typename K>
KernelFactory Simple() {
  return [](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::make_unique<K>();
  };
}

const KernelRegistry& TinyRegistry() {
  static const KernelRegistry* const registry = [] {
    auto* r = new KernelRegistry();
    EXPECT_TRUE(r->Register(OpSet::kOnnx, "SubRowMean", Simple<SubRowMeanKernel>()).ok());
    EXPECT_TRUE(r->Register(OpSet::kOnnx, "SumAll", Simple<SumAllKernel>()).ok());
    EXPECT_TRUE(r->Register(OpSet::kOnnx, "Double", Simple<DoubleKernel>()).ok());
    EXPECT_TRUE(r->Register(OpSet::kOnnx, "Outer", Simple<OuterKernel>()).ok());
    return r;
  }();
  return *registry;
}

// ONNX graph y = OP(x), x float32 [?, 2].
std::unique_ptr<const ExecutionPlan> TinyPlan(const std::string& op,
                                              const KernelRegistry* registry) {
  Graph g(ModelFormat::kOnnx);
  Node x;
  x.name = "x";
  x.op = std::string(kPlaceholderOp);
  x.attrs.Set("dtype", DType::kFloat32);
  x.attrs.Set("shape", Shape({-1, 2}));
  x.output_names = {"x"};
  EXPECT_TRUE(g.AddNode(std::move(x)).ok());
  Node y;
  y.name = "op";
  y.op = op;
  y.inputs = {{"x", 0}};
  y.output_names = {"y"};
  EXPECT_TRUE(g.AddNode(std::move(y)).ok());
  PlanOptions options;
  options.outputs = {"y"};
  options.registry = registry;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? std::move(*plan) : nullptr;
}

Tensor Rows(int64_t n) {
  std::vector<float> v(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i) v[i] = static_cast<float>(i * i % 13);
  return *Tensor::FromValues<float>({n, 2}, v);
}

TEST(ChunkedRunnerTest, RowMixingModelFallsBackToUnchunked) {
  std::unique_ptr<const ExecutionPlan> plan = TinyPlan("SubRowMean", &TinyRegistry());
  ASSERT_NE(plan, nullptr);
  const std::vector<NamedTensor> x = {{"x", Rows(10)}};
  std::vector<Tensor> whole;
  ASSERT_TRUE(plan->Run(FeedsOf(x), &whole).ok());

  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(plan.get(), Opts(3, 2));
  ASSERT_TRUE(runner.ok());
  for (int i = 0; i < 2; ++i) {
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*runner)->Run(FeedsOf(x), &outputs).ok());
    EXPECT_TRUE(outputs == whole);
    EXPECT_EQ((*runner)->separability(), SeparabilityState::kNotSeparable);
  }
}

TEST(ChunkedRunnerTest, MisalignedOutputIsAnErrorWhenSeparabilityIsAssumed) {
  std::unique_ptr<const ExecutionPlan> plan = TinyPlan("SumAll", &TinyRegistry());
  ASSERT_NE(plan, nullptr);
  const std::vector<NamedTensor> x = {{"x", Rows(10)}};
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> assumed =
      ChunkedRunner::Create(plan.get(), Opts(4, 1, Separability::kAssume));
  ASSERT_TRUE(assumed.ok());
  std::vector<Tensor> outputs;
  absl::Status status = (*assumed)->Run(FeedsOf(x), &outputs);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("not row-separable"));

  absl::StatusOr<std::unique_ptr<ChunkedRunner>> verified =
      ChunkedRunner::Create(plan.get(), Opts(4, 2));
  ASSERT_TRUE(verified.ok());
  ASSERT_TRUE((*verified)->Run(FeedsOf(x), &outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].dims(), std::vector<int64_t>({1}));
  EXPECT_EQ((*verified)->separability(), SeparabilityState::kNotSeparable);
}

TEST(ChunkedRunnerTest, RequestLevelFeedsArePassedWhole) {
  std::unique_ptr<const ExecutionPlan> plan = TinyPlan("Double", &TinyRegistry());
  ASSERT_NE(plan, nullptr);
  const std::vector<NamedTensor> x = {{"x", Rows(9)}};
  std::vector<Tensor> whole;
  ASSERT_TRUE(plan->Run(FeedsOf(x), &whole).ok());
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(plan.get(), Opts(2, 2, Separability::kVerifyOnFirstRun, {"x"}));
  ASSERT_TRUE(runner.ok());
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*runner)->Run(FeedsOf(x), &outputs).ok());
  EXPECT_TRUE(outputs == whole);
  // Still unknown: nothing was split.
  EXPECT_EQ((*runner)->separability(), SeparabilityState::kUnknown);
}

// ONNX graph y = Outer(x, w), x float32 [?, 2], w float32 [?].
std::unique_ptr<const ExecutionPlan> OuterPlan() {
  Graph g(ModelFormat::kOnnx);
  for (const auto& [name, shape] :
       {std::pair<std::string, Shape>{"x", Shape({-1, 2})}, {"w", Shape({-1})}}) {
    Node in;
    in.name = name;
    in.op = std::string(kPlaceholderOp);
    in.attrs.Set("dtype", DType::kFloat32);
    in.attrs.Set("shape", shape);
    in.output_names = {name};
    EXPECT_TRUE(g.AddNode(std::move(in)).ok());
  }
  Node y;
  y.name = "op";
  y.op = "Outer";
  y.inputs = {{"x", 0}, {"w", 0}};
  y.output_names = {"y"};
  EXPECT_TRUE(g.AddNode(std::move(y)).ok());
  PlanOptions options;
  options.outputs = {"y"};
  options.registry = &TinyRegistry();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? std::move(*plan) : nullptr;
}

// RunInto predicts an output's trailing dims from the last request; a request that changes
// them is still right.
TEST(ChunkedRunnerTest, RunIntoFollowsOutputWidthsThatChange) {
  std::unique_ptr<const ExecutionPlan> plan = OuterPlan();
  ASSERT_NE(plan, nullptr);
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(plan.get(), Opts(3, 2, Separability::kVerifyOnFirstRun, {"w"}));
  ASSERT_TRUE(runner.ok());
  ChunkedOutputs outputs;
  for (int64_t width : {2, 2, 5, 1, 5}) {
    SCOPED_TRACE(absl::StrCat("width ", width));
    std::vector<float> w(width);
    for (int64_t j = 0; j < width; ++j) w[j] = 1.5f + j;
    const std::vector<NamedTensor> feeds = {{"x", Rows(10)},
                                            {"w", *Tensor::FromValues<float>({width}, w)}};
    std::vector<Tensor> whole;
    ASSERT_TRUE(plan->Run(FeedsOf(feeds), &whole).ok());
    ASSERT_TRUE((*runner)->RunInto(FeedsOf(feeds), &outputs).ok());
    std::vector<Tensor> got;
    ASSERT_TRUE(outputs.CopyTo(&got).ok());
    EXPECT_TRUE(got == whole);
    EXPECT_EQ((*runner)->separability(), SeparabilityState::kSeparable);
  }
}

TEST(ChunkedRunnerTest, ChunkErrorsNameTheRows) {
  std::unique_ptr<const ExecutionPlan> plan = TinyPlan("Double", &TinyRegistry());
  ASSERT_NE(plan, nullptr);
  Tensor ints = *Tensor::FromValues<int64_t>({6, 2}, std::vector<int64_t>(12, 1));
  const std::vector<NamedTensor> x = {{"x", ints}};
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(plan.get(), Opts(4, 2, Separability::kAssume));
  ASSERT_TRUE(runner.ok());
  std::vector<Tensor> outputs;
  absl::Status status = (*runner)->Run(FeedsOf(x), &outputs);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("candidate rows 0..3 of 6"));
}

TEST(ChunkedRunnerTest, BadOptions) {
  std::unique_ptr<const ExecutionPlan> plan = TinyPlan("Double", &TinyRegistry());
  EXPECT_FALSE(ChunkedRunner::Create(nullptr, Opts(0, 1)).ok());
  EXPECT_THAT(ChunkedRunner::Create(plan.get(), Opts(0, 0)).status().message(),
              HasSubstr("threads is 0"));
  EXPECT_FALSE(ChunkedRunner::Create(plan.get(), Opts(-1, 1)).ok());
}

TEST(OpProfilerTest, TimesEveryKernelByOpType) {
  absl::StatusOr<std::unique_ptr<OpProfiler>> profiler = OpProfiler::Create();
  ASSERT_TRUE(profiler.ok()) << profiler.status();
  Model m = LoadPeer("peers/esmm.onnx", "exec/esmm_ref_200.json", &(*profiler)->registry());
  ASSERT_NE(m.plan, nullptr);
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(m.plan.get(), Opts(50, 2));
  ASSERT_TRUE(runner.ok());
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*runner)->Run(FeedsOf(m.doc.inputs), &outputs).ok());  // verifies separability
  (*profiler)->Reset();
  ASSERT_TRUE((*runner)->Run(FeedsOf(m.doc.inputs), &outputs).ok());
  EXPECT_LE(MaxRelativeError(outputs[0], m.doc.reference_outputs[0].tensor), 1e-5);
  bool saw_gemm = false;
  for (const OpTypeProfile& p : (*profiler)->ByOpType()) {
    if (p.op != "Gemm") continue;
    saw_gemm = true;
    EXPECT_EQ(p.nodes, 8);
    EXPECT_EQ(p.calls, 8 * 4);  // 4 chunks of 50
    EXPECT_GT(p.total_ns, 0);
  }
  EXPECT_TRUE(saw_gemm);
}

}  // namespace
}  // namespace rankopt
