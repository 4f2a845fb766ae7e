// EmbeddingBag kernels, single-threaded, one request of B bags of L ids per iteration, side by
// side in one run on the same table and ids:
//   offsets = _RankoptEmbeddingBagOffsets (what torch's EmbeddingBag Loop imports as: flat ids,
//             offsets, every offset and id validated, then the pooling loop);
//   lengths = _RankoptEmbeddingBag (the TF-side pass's op: ids [B, L], lengths, embedding/'s
//             pooling kernels), the same sums.
//
//   ninja -C build offsets_bag_bench && build/bench/kernels/offsets_bag_bench
//   ... --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Names: Bag/<offsets|lengths>/b<B>/l<L>/d<dim>, table 100000 rows. Counter per_bag = time / B.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "benchmark/benchmark.h"
#include "core/tensor.h"
#include "graph/exec/op_kernel.h"
#include "graph/kernels/embedding/embedding_kernels.h"

namespace rankopt {
namespace {

constexpr int64_t kRows = 100000;

// Inputs as given, one preallocated output buffer reused every run.
class BenchContext : public KernelContext {
 public:
  BenchContext(const Node& node, std::vector<TensorView> inputs)
      : node_(node), inputs_(std::move(inputs)) {}
  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  const TensorView& input(int i) const override { return inputs_[i]; }
  absl::StatusOr<TensorView> AllocateOutput(int, DType dtype,
                                            absl::Span<const int64_t> dims) override {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    const size_t bytes = static_cast<size_t>(n) * DTypeSize(dtype);
    if (out_.size() < bytes) out_.resize(bytes);
    return TensorView{dtype, Dims(dims.begin(), dims.end()), out_.data()};
  }
  absl::Status ForwardInput(int, int, absl::Span<const int64_t>) override {
    return absl::UnimplementedError("not in this bench");
  }
  // Scratch buffers are kept and handed out again after Reset(), as the executor's arena does.
  absl::StatusOr<void*> AllocateScratch(size_t bytes) override {
    if (next_ == scratch_.size()) scratch_.emplace_back();
    Buffer& b = scratch_[next_++];
    if (b.size < bytes) {
      b.data.reset(new char[bytes]);
      b.size = bytes;
    }
    return b.data.get();
  }
  void Reset() { next_ = 0; }
  const Node& node() const override { return node_; }

 private:
  const Node& node_;
  std::vector<TensorView> inputs_;
  std::vector<char> out_;
  struct Buffer {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  std::vector<Buffer> scratch_;
  size_t next_ = 0;
};

TensorView ViewOf(const Tensor& t) {
  return TensorView{t.dtype(), Dims(t.dims().begin(), t.dims().end()),
                    const_cast<char*>(t.bytes().data())};
}

void BM_Bag(benchmark::State& state, bool offsets_op) {
  const int64_t bags = state.range(0), len = state.range(1), dim = state.range(2);
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_int_distribution<int64_t> id(0, kRows - 1);
  std::vector<float> w(static_cast<size_t>(kRows * dim));
  for (float& x : w) x = value(gen);
  std::vector<int64_t> ids(static_cast<size_t>(bags * len));
  for (int64_t& x : ids) x = id(gen);
  std::vector<int64_t> offsets;
  for (int64_t b = 0; b <= bags; ++b) offsets.push_back(b * len);
  const Tensor table = *Tensor::FromValues<float>({kRows, dim}, w);
  const Tensor flat = *Tensor::FromValues<int64_t>({bags * len}, ids);
  const Tensor square = *Tensor::FromValues<int64_t>({bags, len}, ids);
  const Tensor offs = *Tensor::FromValues<int64_t>({bags + 1}, offsets);
  const Tensor lengths = *Tensor::FromValues<int64_t>({}, std::vector<int64_t>{len});

  KernelRegistry registry;
  if (!RegisterEmbeddingKernels(&registry).ok()) {
    state.SkipWithError("registering the embedding kernels failed");
    return;
  }
  Node node;
  node.name = "bag";
  node.op = std::string(offsets_op ? kOffsetsEmbeddingBagOp : kEmbeddingBagOp);
  node.attrs.Set("mode", std::string("sum"));
  KernelBuildContext build;
  build.node = &node;
  build.constant_inputs = {&table, nullptr, nullptr};
  const KernelFactory* factory = registry.Find(OpSet::kOnnx, node.op);
  absl::StatusOr<std::unique_ptr<OpKernel>> kernel =
      factory == nullptr ? absl::NotFoundError(node.op) : (*factory)(build);
  if (!kernel.ok()) {
    state.SkipWithError(std::string(kernel.status().message()).c_str());
    return;
  }
  BenchContext ctx(
      node, offsets_op ? std::vector<TensorView>{ViewOf(table), ViewOf(flat), ViewOf(offs)}
                       : std::vector<TensorView>{ViewOf(table), ViewOf(square), ViewOf(lengths)});
  for (auto _ : state) {
    ctx.Reset();
    absl::Status s = (*kernel)->Compute(&ctx);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::ClobberMemory();
  }
  state.counters["per_bag"] =
      benchmark::Counter(static_cast<double>(bags), benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t bags : {16, 200}) {
    for (int64_t len : {5, 50}) {
      for (int64_t dim : {16, 64}) b->Args({bags, len, dim});
    }
  }
  b->ArgNames({"b", "l", "d"});
}

BENCHMARK_CAPTURE(BM_Bag, offsets, true)->Apply(Args);
BENCHMARK_CAPTURE(BM_Bag, lengths, false)->Apply(Args);

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::WarnIfUnoptimizedBuild();
  return rankopt::RunRegisteredBenchmarks(argc, argv);
}
