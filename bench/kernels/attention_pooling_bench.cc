// DIN attention pooling (graph/kernels/math/attention_pooling.h), single-threaded, one request
// of B candidates per iteration: the fused kernel next to an unfused GEMM engine and the plain
// reference, on the same inputs, in one run.
//
//   ninja -C build attention_pooling_bench && build/bench/kernels/attention_pooling_bench
//   ... --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Names: Attention/<fused|fused_bf16|fused_int8|unfused_gemm|reference>/b<candidates> (fused_*:
// both MLP GEMM layers at that precision, where this CPU has a vector kernel for it;
// fused_int8_bf16 and fused_bf16_int8: layer 0 at the first, layer 1 at the second);
// AttentionForm/<activation>_<mul| where_softmax>/b200 (the fused kernel with another hidden
// activation / mask form); DIN sizes: dim 32, L 50, MLP 128 -> 80 sigmoid -> 40 sigmoid -> 1, keys
// shared by the request, mask length 37.
//   fused        = AttentionPooling::Run (split first layer, masked positions skipped);
//   unfused_gemm = what an engine without the split does: materialize x = [q, k, q-k, q*k] for
//                  all B x L positions, GemmF32 (packed weights) + bias + SigmoidF32 per layer,
//                  then the masked weighted sum;
//   reference    = AttentionPoolingReference (plain loops).
// Counters: per_cand = time / B (seconds, SI prefix: u = microseconds); GFLOPs = useful work per
// second, where useful work is the unsplit MLP plus the weighted sum over the active positions
// only:
//   B x 37 x 2 x (128*80 + 80*40 + 40*1 + 32) flops, the same number for every variant;
// exec_GFLOPs (fused only) = the flops the split really performs (q*k, the three GEMMs, the
// adds, the per-candidate q @ Wq' and the per-request K @ Wk'), against the GemmF32 ceiling that
// Gemm/* measures for the same shapes.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "benchmark/benchmark.h"
#include "core/cpu_features.h"
#include "graph/kernels/math/attention_pooling.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "graph/kernels/math/vector_math.h"

namespace rankopt {
namespace {

constexpr int64_t kDim = 32;
constexpr int64_t kSeqLen = 50;
constexpr int64_t kLength = 37;
constexpr int64_t kH1 = 80;
constexpr int64_t kH2 = 40;

std::vector<float> Random(size_t n, float scale, std::mt19937* gen, bool normal) {
  std::vector<float> v(n);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::normal_distribution<float> gauss(0.0f, scale);
  for (float& x : v) x = normal ? gauss(*gen) : uniform(*gen);
  return v;
}

std::vector<AttentionLayer> DinLayers() {
  std::mt19937 gen(1);
  const int64_t ins[] = {4 * kDim, kH1, kH2};
  const int64_t outs[] = {kH1, kH2, 1};
  const AttentionActivation acts[] = {AttentionActivation::kSigmoid, AttentionActivation::kSigmoid,
                                      AttentionActivation::kNone};
  std::vector<AttentionLayer> layers;
  for (int i = 0; i < 3; ++i) {
    AttentionLayer l;
    l.in = ins[i];
    l.out = outs[i];
    l.act = acts[i];
    l.weight = Random(l.in * l.out, 0.1f, &gen, false);
    l.bias = Random(l.out, 0.1f, &gen, false);
    layers.push_back(std::move(l));
  }
  return layers;
}

struct Request {
  int64_t batch;
  std::vector<float> q, keys, mask, out;
  explicit Request(int64_t b) : batch(b), mask(kSeqLen, 0.0f), out(b * kDim) {
    std::mt19937 gen(2 + b);
    q = Random(b * kDim, 0.05f, &gen, true);
    keys = Random(kSeqLen * kDim, 0.05f, &gen, true);
    std::fill(mask.begin(), mask.begin() + kLength, 1.0f);
  }
};

// 64-byte aligned float buffer.
struct Scratch {
  std::vector<float> store;
  float* data;
  explicit Scratch(int64_t n) : store(n + 16) {
    data = store.data();
    while (reinterpret_cast<uintptr_t>(data) % 64 != 0) ++data;
  }
};

void SetCounters(benchmark::State& state, int64_t batch, double exec_flops) {
  const double useful = double(batch) * kLength * 2.0 * (4 * kDim * kH1 + kH1 * kH2 + kH2 + kDim);
  state.counters["per_cand"] = benchmark::Counter(  // seconds per candidate
      double(batch), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["GFLOPs"] =
      benchmark::Counter(useful / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  if (exec_flops > 0) {
    state.counters["exec_GFLOPs"] =
        benchmark::Counter(exec_flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  }
}

// range(1), range(2): the precisions of the two GEMM layers (DensePrecision: 0 fp32, 1 bf16,
// 2 int8).
void BM_Fused(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const DensePrecision p0 = static_cast<DensePrecision>(state.range(1));
  const DensePrecision p1 = static_cast<DensePrecision>(state.range(2));
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(
      kDim, DinLayers(), AttentionOptions(), {p0, p1, DensePrecision::kFp32});
  if (!attn.ok()) return state.SkipWithError(std::string(attn.status().message()).c_str());
  Request req(batch);
  Scratch scratch(attn->ScratchFloats(batch, kSeqLen));
  for (auto _ : state) {
    absl::Status s = attn->Run(batch, req.q.data(), req.keys.data(), 1, kSeqLen, req.mask.data(), 1,
                               req.out.data(), scratch.data);
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    benchmark::DoNotOptimize(req.out.data());
    benchmark::ClobberMemory();
  }
  const double rows = double(batch) * kLength;
  const double exec = rows * (kDim + 2.0 * kDim * kH1 + 2.0 * kH1 + 2.0 * kH1 * kH2 + kH2 +
                              2.0 * kH2 + 2.0 * kDim) +
                      batch * 2.0 * kDim * kH1 + kLength * (2.0 * kDim * kH1 + kH1);
  SetCounters(state, batch, exec);
}

// The fused kernel at DIN's sizes with every hidden activation of `kActs[range(1)]` and the
// form of `range(2)`: 0 = DIN's (score * mask), 1 = Where mask with fill -2^32 + 1 and softmax
// (DeepCTR's form): the cost of the generalized activations and of the softmax tail.
const AttentionActivation kActs[] = {AttentionActivation::kSigmoid, AttentionActivation::kRelu,
                                     AttentionActivation::kPRelu, AttentionActivation::kDice,
                                     AttentionActivation::kSwish};
void BM_FusedForm(benchmark::State& state) {
  const int64_t batch = state.range(0);
  std::vector<AttentionLayer> layers = DinLayers();
  std::mt19937 gen(3);
  for (int i = 0; i < 2; ++i) {
    AttentionLayer& l = layers[i];
    l.act = kActs[state.range(1)];
    l.slope = Random(l.out, 0.25f, &gen, false);
    l.dice_scale = Random(l.out, 1.0f, &gen, false);
    l.dice_shift = Random(l.out, 0.2f, &gen, false);
    l.dice_alpha = Random(l.out, 0.5f, &gen, false);
  }
  AttentionOptions options;
  if (state.range(2) == 1) {
    options.mask = AttentionMask::kSelect;
    options.fill = -4294967295.0f;
    options.softmax = true;
  }
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(kDim, layers, options);
  if (!attn.ok()) return state.SkipWithError(std::string(attn.status().message()).c_str());
  Request req(batch);
  Scratch scratch(attn->ScratchFloats(batch, kSeqLen));
  for (auto _ : state) {
    absl::Status s = attn->Run(batch, req.q.data(), req.keys.data(), 1, kSeqLen, req.mask.data(), 1,
                               req.out.data(), scratch.data);
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    benchmark::DoNotOptimize(req.out.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, batch, 0);
}

void BM_Reference(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const std::vector<AttentionLayer> layers = DinLayers();
  Request req(batch);
  for (auto _ : state) {
    AttentionPoolingReference(kDim, layers, batch, req.q.data(), req.keys.data(), 1, kSeqLen,
                              req.mask.data(), 1, req.out.data());
    benchmark::DoNotOptimize(req.out.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, batch, 0);
}

// An engine without the split: x [B*L, 4d] materialized, one GemmF32 per layer on all rows.
void BM_UnfusedGemm(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const std::vector<AttentionLayer> layers = DinLayers();
  std::vector<PackedB> packed;
  for (const AttentionLayer& l : layers) {
    packed.push_back(PackGemmB(l.weight.data(), l.in, l.out, l.out, 1));
  }
  Request req(batch);
  const int64_t rows = batch * kSeqLen;
  Scratch x(rows * 4 * kDim), h1(rows * kH1), h2(rows * kH2), a(rows);
  for (auto _ : state) {
    for (int64_t b = 0; b < batch; ++b) {
      const float* q = req.q.data() + b * kDim;
      for (int64_t t = 0; t < kSeqLen; ++t) {
        const float* k = req.keys.data() + t * kDim;
        float* row = x.data + (b * kSeqLen + t) * 4 * kDim;
        for (int64_t j = 0; j < kDim; ++j) {
          row[j] = q[j];
          row[kDim + j] = k[j];
          row[2 * kDim + j] = q[j] - k[j];
          row[3 * kDim + j] = q[j] * k[j];
        }
      }
    }
    GemmF32(rows, kH1, 4 * kDim, x.data, 4 * kDim, 1, GemmBFromPacked(packed[0]),
            layers[0].bias.data(), h1.data, kH1);
    SigmoidF32(h1.data, h1.data, rows * kH1);
    GemmF32(rows, kH2, kH1, h1.data, kH1, 1, GemmBFromPacked(packed[1]), layers[1].bias.data(),
            h2.data, kH2);
    SigmoidF32(h2.data, h2.data, rows * kH2);
    GemmF32(rows, 1, kH2, h2.data, kH2, 1, GemmBFromPacked(packed[2]), layers[2].bias.data(),
            a.data, 1);
    for (int64_t b = 0; b < batch; ++b) {
      float* o = req.out.data() + b * kDim;
      std::fill(o, o + kDim, 0.0f);
      for (int64_t t = 0; t < kSeqLen; ++t) {
        const float w = a.data[b * kSeqLen + t] * req.mask[t];
        const float* k = req.keys.data() + t * kDim;
        for (int64_t j = 0; j < kDim; ++j) o[j] += w * k[j];
      }
    }
    benchmark::DoNotOptimize(req.out.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, batch, 0);
}

// The GemmF32 ceiling for the fused kernel's two big shapes at its block size (256 rows).
void BM_Gemm(benchmark::State& state) {
  const int64_t m = 256, k = state.range(0), n = state.range(1);
  std::mt19937 gen(3);
  const std::vector<float> a = Random(m * k, 1.0f, &gen, false);
  const std::vector<float> b = Random(k * n, 1.0f, &gen, false);
  const PackedB packed = PackGemmB(b.data(), k, n, n, 1);
  std::vector<float> c(m * n);
  for (auto _ : state) {
    GemmF32(m, n, k, a.data(), k, 1, GemmBFromPacked(packed), nullptr, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * m * n * k / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void RegisterAll() {
  for (int64_t b : {1, 16, 200, 512}) {
    const std::string suffix = "/b" + std::to_string(b);
    const int64_t fp32 = static_cast<int64_t>(DensePrecision::kFp32);
    benchmark::RegisterBenchmark(("Attention/fused" + suffix).c_str(), BM_Fused)
        ->Args({b, fp32, fp32});
    // Both layers at one precision (fused_bf16, fused_int8), then the mixed plans
    // (fused_<layer 0>_<layer 1>, e.g. DIN's auto plan int8_bf16).
    for (DensePrecision p0 : {DensePrecision::kBf16, DensePrecision::kInt8}) {
      for (DensePrecision p1 : {DensePrecision::kBf16, DensePrecision::kInt8}) {
        if (!DensePrecisionIsFast(p0) || !DensePrecisionIsFast(p1)) continue;
        std::string name = "Attention/fused_" + std::string(DensePrecisionName(p0));
        if (p1 != p0) name += "_" + std::string(DensePrecisionName(p1));
        benchmark::RegisterBenchmark((name + suffix).c_str(), BM_Fused)
            ->Args({b, static_cast<int64_t>(p0), static_cast<int64_t>(p1)});
      }
    }
    benchmark::RegisterBenchmark(("Attention/unfused_gemm" + suffix).c_str(), BM_UnfusedGemm)
        ->Arg(b);
    benchmark::RegisterBenchmark(("Attention/reference" + suffix).c_str(), BM_Reference)->Arg(b);
  }
  const char* act_names[] = {"sigmoid", "relu", "prelu", "dice", "swish"};
  for (int form = 0; form < 2; ++form) {
    for (int act = 0; act < 5; ++act) {
      const std::string name = std::string("AttentionForm/") + act_names[act] +
                               (form == 1 ? "_where_softmax" : "_mul") + "/b200";
      benchmark::RegisterBenchmark(name.c_str(), BM_FusedForm)->Args({200, act, form});
    }
  }
  benchmark::RegisterBenchmark("Gemm/m256/k32/n80", BM_Gemm)->Args({kDim, kH1});
  benchmark::RegisterBenchmark("Gemm/m256/k80/n40", BM_Gemm)->Args({kH1, kH2});
  benchmark::RegisterBenchmark("Gemm/m256/k128/n80", BM_Gemm)->Args({4 * kDim, kH1});
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::WarnIfUnoptimizedBuild();
  std::printf("isa: %s\n", std::string(rankopt::IsaName(rankopt::BestIsa())).c_str());
  rankopt::RegisterAll();
  return rankopt::RunRegisteredBenchmarks(argc, argv);
}
