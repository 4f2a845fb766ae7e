// Heap allocations of ChunkedRunner::RunInto after warm-up. This binary replaces the global
// operator new/delete with counting versions (so it is its own executable).
//
// TBB's task objects do not come through operator new: libtbb takes its memory from tbbmalloc
// (scalable_malloc, loaded with dlopen), and parallel_for's tasks from per-thread small-object
// pools that refill from it only when empty. Under gdb, breakpoints on malloc, scalable_malloc
// and scalable_aligned_malloc saw no call in warm 2-thread runs, so these counts miss nothing.
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
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/op_kernel.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "gtest/gtest.h"
#include "tbb/global_control.h"
#include "tbb/parallel_for.h"
#include "tbb/partitioner.h"
#include "tbb/task_arena.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_news{0};

void* Allocate(std::size_t size, std::size_t alignment) {
  if (g_counting.load(std::memory_order_relaxed)) g_news.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

void* AllocateOrThrow(std::size_t size, std::size_t alignment) {
  void* p = Allocate(size, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return AllocateOrThrow(n, 0); }
void* operator new[](std::size_t n) { return AllocateOrThrow(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return AllocateOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return AllocateOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace rankopt {
namespace {

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

struct Model {
  std::unique_ptr<const ExecutionPlan> plan;
  TensorJsonDocument doc;
};

Model LoadPeer(const std::string& model, const std::string& ref) {
  Model m;
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return m;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(*graph, {});
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

// Allocations made, on any thread, while `f` runs.
template <typename F>
int64_t Count(F f) {
  g_news = 0;
  g_counting = true;
  f();
  g_counting = false;
  return g_news.load();
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

// `feeds` with their candidate rows cut to [begin, begin + rows): one chunk's feeds.
std::vector<NamedTensorView> Rows(const std::vector<NamedTensorView>& feeds, int64_t n,
                                  int64_t begin, int64_t rows) {
  std::vector<NamedTensorView> cut = feeds;
  for (NamedTensorView& f : cut) {
    if (f.view.rank() < 1 || f.view.dims[0] != n) continue;
    const size_t row_bytes = f.view.ByteSize() / n;
    f.view.dims[0] = rows;
    f.view.data = static_cast<char*>(f.view.data) + row_bytes * begin;
  }
  return cut;
}

// What the plan's kernels allocate for one request of n candidates in chunks of c rows: the
// sum over its chunks of a warm, copy-free plan run. A runner that adds nothing allocates this.
int64_t KernelAllocations(const ExecutionPlan& plan, const std::vector<NamedTensorView>& feeds,
                          int64_t n, int64_t c) {
  std::vector<std::vector<NamedTensorView>> chunks;
  for (int64_t begin = 0; begin < n; begin += c) {
    chunks.push_back(Rows(feeds, n, begin, std::min(c, n - begin)));
  }
  auto sink = [](absl::Span<const TensorView>) { return absl::OkStatus(); };
  bool ok = true;
  for (const auto& chunk : chunks) ok = plan.RunWithSink(chunk, sink).ok() && ok;
  const int64_t count = Count([&] {
    for (const auto& chunk : chunks) ok = plan.RunWithSink(chunk, sink).ok() && ok;
  });
  EXPECT_TRUE(ok);
  return count;
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

// RunInto after 2 warm-up runs of `n` candidates, at `rows` <= n candidates: allocates exactly
// what the kernels do (`expect_zero`: nothing at all), for chunks of 1, 7 and 64 rows on 1 and
// 2 threads, and gives the unchunked run's bytes.
void ExpectNoRunnerAllocations(const ExecutionPlan& plan, const std::vector<NamedTensorView>& feeds,
                               int64_t n, bool expect_zero) {
  WarmEveryThread(plan, feeds);
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
        const int64_t kernels = expect_zero ? 0 : KernelAllocations(plan, request, rows, chunk);
        bool ok = true;
        const int64_t count = Count([&] {
          for (int i = 0; i < kRuns; ++i) ok = (*runner)->RunInto(request, &outputs).ok() && ok;
        });
        ASSERT_TRUE(ok);
        EXPECT_EQ(count, kRuns * kernels)
            << "the runner allocates " << count - kRuns * kernels << " times in " << kRuns
            << " runs beyond its kernels' " << kRuns * kernels;
        EXPECT_TRUE(SameBytes(outputs.views(), whole));
        if (rows == n && !expect_zero) {
          std::printf(
              "%d thread(s), chunks of %2lld: RunInto %6.1f allocations a run, all kernels'\n",
              threads, static_cast<long long>(chunk), static_cast<double>(count) / kRuns);
        }
      }
    }
  }
}

// The Tensor-returning Run allocates what its kernels do plus the returned Tensors (a few
// allocations each).
void ExpectTensorApiAllocatesOnlyItsTensors(const ExecutionPlan& plan,
                                            const std::vector<NamedTensorView>& feeds, int64_t n) {
  for (int64_t chunk : {1, 7, 64}) {
    SCOPED_TRACE(absl::StrCat("Run, chunk ", chunk));
    absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
        ChunkedRunner::Create(&plan, Opts(chunk, 2));
    ASSERT_TRUE(runner.ok()) << runner.status();
    std::vector<Tensor> outputs;
    for (int i = 0; i < kWarmUpRuns; ++i) ASSERT_TRUE((*runner)->Run(feeds, &outputs).ok());
    bool ok = true;
    const int64_t count = Count([&] {
      for (int i = 0; i < kRuns; ++i) ok = (*runner)->Run(feeds, &outputs).ok() && ok;
    });
    ASSERT_TRUE(ok);
    const int64_t kernels = KernelAllocations(plan, feeds, n, chunk);
    EXPECT_LE(count, kRuns * (kernels + 4 * static_cast<int64_t>(outputs.size())));
    std::printf("2 thread(s), chunks of %2lld: Run     %6.1f allocations a run (%zu outputs)\n",
                static_cast<long long>(chunk), static_cast<double>(count) / kRuns, outputs.size());
  }
}

void ExpectPeerAllocatesOnlyInKernels(const std::string& model, const std::string& ref) {
  const tbb::global_control one_worker = OneWorker();
  Model m = LoadPeer(model, ref);
  ASSERT_NE(m.plan, nullptr);
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  ASSERT_EQ(feeds[0].view.dims[0], 200);
  std::printf("%s, 200 candidates:\n", model.c_str());
  ExpectNoRunnerAllocations(*m.plan, feeds, 200, /*expect_zero=*/false);
  ExpectTensorApiAllocatesOnlyItsTensors(*m.plan, feeds, 200);
}

TEST(ChunkedRunnerAllocTest, DinRunIntoAllocatesOnlyInKernels) {
  ExpectPeerAllocatesOnlyInKernels("peers/din.onnx", "exec/din_ref_200.json");
}

TEST(ChunkedRunnerAllocTest, EsmmRunIntoAllocatesOnlyInKernels) {
  ExpectPeerAllocatesOnlyInKernels("peers/esmm.onnx", "exec/esmm_ref_200.json");
}

// Enable when the DIN and ESMM kernels stop allocating per call (broadcast plans, error-message
// strings built before any error): then a warm RunInto allocates nothing at all.
TEST(ChunkedRunnerAllocTest, DISABLED_DinAndEsmmRunIntoAllocateNothing) {
  for (const auto& [model, ref] :
       {std::pair<std::string, std::string>{"peers/din.onnx", "exec/din_ref_200.json"},
        {"peers/esmm.onnx", "exec/esmm_ref_200.json"}}) {
    const tbb::global_control one_worker = OneWorker();
    Model m = LoadPeer(model, ref);
    ASSERT_NE(m.plan, nullptr);
    ExpectNoRunnerAllocations(*m.plan, FeedsOf(m.doc.inputs), 200, /*expect_zero=*/true);
  }
}

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
  ExpectNoRunnerAllocations(*plan, FeedsOf(feeds), 200, /*expect_zero=*/true);
}

}  // namespace
}  // namespace rankopt
