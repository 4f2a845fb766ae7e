// Dense-layer GEMMs at fp32, bf16 and int8 (graph/kernels/math/gemm.h, gemm_lowp.h), single
// threaded, side by side in one run on the same inputs: ESMM's tower shapes at 200 and 512 rows.
//
//   ninja -C build gemm_lowp_bench && build/bench/kernels/gemm_lowp_bench \
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Names: Gemm/<kind>/m<rows>/k<K>/n<N>. fp32 = GemmF32 with the weight packed as
// _RankoptFusedMatMul packs it (AVX-512 where present); bf16 / int8 = GemmBf16 / GemmInt8 at the
// best ISA (AMX where usable), the activation conversion (bf16 rounding, int8 per-row
// quantization) included; *_amx / *_avx512 / *_avx2 = that kernel only (the AMX ones report an
// error where AMX is not usable; avx512 = VNNI / AVX512-BF16); fp32_avx2 = GemmF32 at AVX2;
// *_ref = the scalar references. Counter GFLOPs = 2 m k n per second. The shapes are the peers'
// ESMM towers (bench/peers) at 200 and 512 rows and DIN's attention GEMMs at 256 rows.
#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/gemm_lowp.h"

namespace rankopt {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

enum Kind {
  kFp32,
  kBf16,
  kInt8,
  kInt8Ref,
  kBf16Ref,
  kInt8Amx,
  kBf16Amx,
  kInt8Avx512,
  kBf16Avx512,
  kInt8Avx2,
  kBf16Avx2,
  kFp32Avx2
};

void BM_Gemm(benchmark::State& state, Kind kind) {
  if ((kind == kInt8Amx || kind == kBf16Amx) && !AmxUsable()) {
    state.SkipWithError("AMX not usable on this CPU");
    return;
  }
  const Isa best = BestIsa();
  if ((kind == kInt8Avx512 &&
       DenseKernelName(DensePrecision::kInt8, Isa::kAvx512, false) != "int8-avx512vnni") ||
      (kind == kBf16Avx512 &&
       DenseKernelName(DensePrecision::kBf16, Isa::kAvx512, false) != "bf16-avx512bf16")) {
    state.SkipWithError("no AVX512-VNNI / AVX512-BF16 on this CPU");
    return;
  }
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const std::vector<float> a = Random(m * k, 1, 1.0f), w = Random(k * n, 2, 0.1f);
  const std::vector<float> bias = Random(n, 3, 0.1f);
  std::vector<float> c(m * n);
  const PackedB fp32 = PackGemmB(w.data(), k, n, n, 1);
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
  const PackedBBf16 bf16 = PackGemmBBf16(wb.data(), k, n, n, 1);
  std::vector<int8_t> q(w.size());
  std::vector<float> scales(n);
  QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), scales.data());
  const PackedBInt8 int8 = *PackGemmBInt8(q.data(), scales.data(), k, n, n, 1);
  std::vector<unsigned char> scratch(
      static_cast<size_t>(std::max(GemmInt8ScratchBytes(k), GemmBf16ScratchBytes(k))) + 64);
  for (auto _ : state) {
    switch (kind) {
      case kFp32:
        GemmF32(m, n, k, a.data(), k, 1, GemmBFromPacked(fp32), bias.data(), c.data(), n);
        break;
      case kBf16:
        GemmBf16(m, a.data(), k, bf16, bias.data(), true, c.data(), n, scratch.data());
        break;
      case kInt8:
        GemmInt8(m, a.data(), k, int8, bias.data(), true, c.data(), n, scratch.data());
        break;
      case kInt8Ref:
        GemmInt8(m, a.data(), k, int8, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kScalar);
        break;
      case kBf16Ref:
        GemmBf16(m, a.data(), k, bf16, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kScalar);
        break;
      case kInt8Amx:
        GemmInt8(m, a.data(), k, int8, bias.data(), true, c.data(), n, scratch.data(), best, true);
        break;
      case kBf16Amx:
        GemmBf16(m, a.data(), k, bf16, bias.data(), true, c.data(), n, scratch.data(), best, true);
        break;
      case kInt8Avx512:
        GemmInt8(m, a.data(), k, int8, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kAvx512, false);
        break;
      case kBf16Avx512:
        GemmBf16(m, a.data(), k, bf16, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kAvx512, false);
        break;
      case kInt8Avx2:
        GemmInt8(m, a.data(), k, int8, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kAvx2);
        break;
      case kBf16Avx2:
        GemmBf16(m, a.data(), k, bf16, bias.data(), true, c.data(), n, scratch.data(),
                 Isa::kAvx2);
        break;
      case kFp32Avx2:
        GemmF32(m, n, k, a.data(), k, 1, GemmBFromPacked(fp32), bias.data(), c.data(), n,
                Isa::kAvx2);
        break;
    }
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOPs"] = benchmark::Counter(static_cast<double>(2 * m * k * n),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t m : {200, 512}) {
    for (auto [k, n] : {std::pair<int64_t, int64_t>{195, 256}, {256, 128}, {128, 64}}) {
      b->Args({m, k, n});
    }
  }
  // DIN's attention MLP per block of 256 (candidate, position) rows: the q*k GEMM of the split
  // first layer (K = d = 32) and the hidden layer.
  b->Args({256, 32, 80});
  b->Args({256, 80, 40});
  b->ArgNames({"m", "k", "n"});
}

BENCHMARK_CAPTURE(BM_Gemm, fp32, kFp32)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, bf16, kBf16)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, int8, kInt8)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, int8_amx, kInt8Amx)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, bf16_amx, kBf16Amx)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, int8_avx512, kInt8Avx512)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, bf16_avx512, kBf16Avx512)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, fp32_avx2, kFp32Avx2)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, int8_avx2, kInt8Avx2)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, bf16_avx2, kBf16Avx2)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Gemm, int8_ref, kInt8Ref)->Args({200, 195, 256})->ArgNames({"m", "k", "n"});
BENCHMARK_CAPTURE(BM_Gemm, bf16_ref, kBf16Ref)->Args({200, 195, 256})->ArgNames({"m", "k", "n"});

}  // namespace
}  // namespace rankopt

BENCHMARK_MAIN();
