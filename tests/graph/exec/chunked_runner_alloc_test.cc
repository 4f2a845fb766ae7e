// Heap allocations of ChunkedRunner::RunInto after warm-up: none, for DIN and ESMM at O0, O1 and
// O2, and for a toy kernel (counted by tests/util/counting_new.h; when a count is not zero the
// test prints the call stacks of the allocations).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "tests/util/counting_new.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/op_kernel.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/request_level.h"
#include "gtest/gtest.h"
#include "tbb/global_control.h"
#include "tbb/parallel_for.h"
#include "tbb/partitioner.h"
#include "tbb/task_arena.h"


namespace rankopt {
namespace {

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

// A reference model, its 200-candidate inputs, and the request-level inputs of its O2 split
// (configs/din.yaml, configs/esmm.yaml).
struct Peer {
  const char* name;
  const char* model;
  const char* ref;
  const char* request_inputs;
};
constexpr Peer kDin = {"Din", "peers/din.onnx", "exec/din_ref_200.json",
                       "user_id,hist_item_ids,hist_cate_ids,hist_len,dense[0:2]"};
constexpr Peer kEsmm = {
    "Esmm", "peers/esmm.onnx", "exec/esmm_ref_200.json",
    "user_id,user_age,user_occupation,user_geo,user_segment,hour_of_day,dense[0]"};

struct Model {
  std::unique_ptr<const ExecutionPlan> plan;
  TensorJsonDocument doc;
};

// `peer` optimized at `level` and planned, with its reference inputs.
Model LoadPeer(const Peer& peer, OptLevel level) {
  Model m;
  absl::StatusOr<Graph> graph = LoadModel(TestData(peer.model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return m;
  OptimizeOptions options;
  if (level == OptLevel::kO2) {
    absl::StatusOr<std::vector<RequestLevelInput>> inputs = ParseRequestInputs(peer.request_inputs);
    EXPECT_TRUE(inputs.ok()) << inputs.status();
    if (!inputs.ok()) return m;
    options.request_inputs = *std::move(inputs);
  }
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, level, options, &optimized);
  EXPECT_TRUE(reports.ok()) << reports.status();
  if (!reports.ok()) return m;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(optimized, {});
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (plan.ok()) m.plan = std::move(*plan);
  absl::StatusOr<std::string> text = ReadFileToString(TestData(peer.ref));
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return m;
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, peer.ref);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (doc.ok()) m.doc = std::move(*doc);
  return m;
}

ChunkedRunnerOptions Opts(int64_t chunk_rows, int threads) {
  ChunkedRunnerOptions options;
  options.chunk_rows = chunk_rows;
  options.threads = threads;
  return options;
}

constexpr int kWarmUpRuns = 2;

// The executor keeps its run state (arena, value table) per thread, so a run allocates nothing
// only on a thread that has run the plan at that size before. TBB lends an arena whichever of
// its workers is free, and on a loaded machine a worker may sit out a runner's warm-up runs and
// join in the counted ones. So: one TBB worker in all (OneWorker), warmed with the caller by
// WarmEveryThread; then a runner's own warm-up runs need warm only what the runner keeps.
tbb::global_control OneWorker() {
  return tbb::global_control(tbb::global_control::max_allowed_parallelism, 2);
}

// Runs `feeds` whole on the calling thread and on the TBB worker.
void WarmEveryThread(const ExecutionPlan& plan, const std::vector<NamedTensorView>& feeds) {
  tbb::task_arena arena(2);
  std::atomic<int> arrived{0};
  std::atomic<int> ran{0};
  arena.execute([&] {
    tbb::parallel_for(
        0, 2,
        [&](int) {
          // Hold each task until both threads have one (or 10 s have passed).
          arrived.fetch_add(1);
          for (int spin = 0; spin < 10000 && arrived.load() < 2; ++spin) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          std::vector<Tensor> outputs;
          if (plan.Run(feeds, &outputs).ok()) ran.fetch_add(1);
        },
        tbb::simple_partitioner());
  });
  EXPECT_EQ(arrived.load(), 2) << "the TBB worker never joined";
  EXPECT_EQ(ran.load(), 2);
}
constexpr int kRuns = 10;

// `feeds` with their candidate rows (leading dim == n) cut to the first `rows`.
std::vector<NamedTensorView> FirstRows(const std::vector<NamedTensorView>& feeds, int64_t n,
                                       int64_t rows) {
  std::vector<NamedTensorView> cut = feeds;
  for (NamedTensorView& f : cut) {
    if (f.view.rank() >= 1 && f.view.dims[0] == n) f.view.dims[0] = rows;
  }
  return cut;
}

bool SameBytes(absl::Span<const TensorView> views, const std::vector<Tensor>& tensors) {
  if (views.size() != tensors.size()) return false;
  for (size_t i = 0; i < views.size(); ++i) {
    const TensorView& v = views[i];
    if (v.dtype != tensors[i].dtype() ||
        std::vector<int64_t>(v.dims.begin(), v.dims.end()) != tensors[i].dims() ||
        absl::string_view(static_cast<const char*>(v.data), v.ByteSize()) != tensors[i].bytes()) {
      return false;
    }
  }
  return true;
}

// RunInto after 2 warm-up runs of `n` candidates, at `rows` <= n candidates, allocates nothing,
// for chunks of 1, 7 and 64 rows on 1 and 2 threads, and gives the unchunked run's bytes.
void ExpectRunIntoAllocatesNothing(const ExecutionPlan& plan,
                                   const std::vector<NamedTensorView>& feeds, int64_t n) {
  WarmEveryThread(plan, feeds);
  bool sites_printed = false;  // for the first failing case only
  for (int64_t rows : {n, n * 3 / 4}) {
    const std::vector<NamedTensorView> request = FirstRows(feeds, n, rows);
    std::vector<Tensor> whole;
    ASSERT_TRUE(plan.Run(request, &whole).ok());
    for (int threads : {1, 2}) {
      for (int64_t chunk : {1, 7, 64}) {
        SCOPED_TRACE(
            absl::StrCat(rows, " of ", n, " candidates, threads ", threads, ", chunk ", chunk));
        absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
            ChunkedRunner::Create(&plan, Opts(chunk, threads));
        ASSERT_TRUE(runner.ok()) << runner.status();
        ChunkedOutputs outputs;
        for (int i = 0; i < kWarmUpRuns; ++i) ASSERT_TRUE((*runner)->RunInto(feeds, &outputs).ok());
        ASSERT_EQ((*runner)->separability(), SeparabilityState::kSeparable);
        bool ok = true;
        const int64_t count = CountAllocations([&] {
          for (int i = 0; i < kRuns; ++i) ok = (*runner)->RunInto(request, &outputs).ok() && ok;
        });
        ASSERT_TRUE(ok);
        EXPECT_EQ(count, 0) << "RunInto allocates " << count << " times in " << kRuns << " runs";
        if (count != 0 && !sites_printed) {
          PrintAllocationSites([&] { (*runner)->RunInto(request, &outputs).IgnoreError(); });
          sites_printed = true;
        }
        EXPECT_TRUE(SameBytes(outputs.views(), whole));
      }
    }
  }
}

// The Tensor-returning Run allocates only the returned Tensors (a few allocations each).
void ExpectRunAllocatesOnlyItsTensors(const ExecutionPlan& plan,
                                      const std::vector<NamedTensorView>& feeds) {
  for (int64_t chunk : {1, 7, 64}) {
    SCOPED_TRACE(absl::StrCat("Run, chunk ", chunk));
    absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
        ChunkedRunner::Create(&plan, Opts(chunk, 2));
    ASSERT_TRUE(runner.ok()) << runner.status();
    std::vector<Tensor> outputs;
    for (int i = 0; i < kWarmUpRuns; ++i) ASSERT_TRUE((*runner)->Run(feeds, &outputs).ok());
    bool ok = true;
    const int64_t count = CountAllocations([&] {
      for (int i = 0; i < kRuns; ++i) ok = (*runner)->Run(feeds, &outputs).ok() && ok;
    });
    ASSERT_TRUE(ok);
    EXPECT_LE(count, kRuns * 4 * static_cast<int64_t>(outputs.size()));
  }
}

class PeerAllocTest : public ::testing::TestWithParam<std::tuple<Peer, OptLevel>> {};

// The kernels of DIN and ESMM, at every level, allocate nothing per call once warm: broadcast
// plans and copy maps live on the stack or in the run's scratch, error messages are built only
// on the error path.
TEST_P(PeerAllocTest, RunIntoAllocatesNothing) {
  const auto& [peer, level] = GetParam();
  const tbb::global_control one_worker = OneWorker();
  Model m = LoadPeer(peer, level);
  ASSERT_NE(m.plan, nullptr);
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  ASSERT_EQ(feeds[0].view.dims[0], 200);
  ExpectRunIntoAllocatesNothing(*m.plan, feeds, 200);
  ExpectRunAllocatesOnlyItsTensors(*m.plan, feeds);
}

INSTANTIATE_TEST_SUITE_P(DinAndEsmm, PeerAllocTest,
                         ::testing::Combine(::testing::Values(kDin, kEsmm),
                                            ::testing::Values(OptLevel::kO0, OptLevel::kO1,
                                                              OptLevel::kO2)),
                         [](const ::testing::TestParamInfo<PeerAllocTest::ParamType>& info) {
                           return absl::StrCat(std::get<0>(info.param).name,
                                               OptLevelName(std::get<1>(info.param)));
                         });

// y = 2 * x, row by row, writing into the run's arena: a kernel that never allocates.
class DoubleKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    absl::StatusOr<TensorView> y = ctx->AllocateOutput(0, DType::kFloat32, x.dims);
    if (!y.ok()) return y.status();
    for (int64_t i = 0; i < x.NumElements(); ++i)
      y->data_as<float>()[i] = 2 * x.data_as<float>()[i];
    return absl::OkStatus();
  }
};

// ONNX y = Double(Double(x)), x float32 [?, 3], with a kernel registry of Double alone.
std::unique_ptr<const ExecutionPlan> DoublePlan(const KernelRegistry* registry) {
  Graph g(ModelFormat::kOnnx);
  Node x;
  x.name = "x";
  x.op = std::string(kPlaceholderOp);
  x.attrs.Set("dtype", DType::kFloat32);
  x.attrs.Set("shape", Shape({-1, 3}));
  x.output_names = {"x"};
  EXPECT_TRUE(g.AddNode(std::move(x)).ok());
  for (const char* name : {"d1", "d2"}) {
    Node d;
    d.name = name;
    d.op = "Double";
    d.inputs = {{name == std::string("d1") ? "x" : "d1", 0}};
    d.output_names = {name};
    EXPECT_TRUE(g.AddNode(std::move(d)).ok());
  }
  PlanOptions options;
  options.outputs = {"d2"};
  options.registry = registry;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? std::move(*plan) : nullptr;
}

// With kernels that do not allocate, a warm RunInto allocates nothing: the runner, the plan's
// per-thread state and TBB's task objects included.
TEST(ChunkedRunnerAllocTest, RunIntoAllocatesNothingAfterWarmUp) {
  KernelRegistry registry;
  ASSERT_TRUE(
      registry
          .Register(OpSet::kOnnx, "Double",
                    [](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                      return std::make_unique<DoubleKernel>();
                    })
          .ok());
  std::unique_ptr<const ExecutionPlan> plan = DoublePlan(&registry);
  ASSERT_NE(plan, nullptr);
  const tbb::global_control one_worker = OneWorker();
  std::vector<float> x(200 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.5f;
  const std::vector<NamedTensor> feeds = {{"x", *Tensor::FromValues<float>({200, 3}, x)}};
  ExpectRunIntoAllocatesNothing(*plan, FeedsOf(feeds), 200);
}

}  // namespace
}  // namespace rankopt
