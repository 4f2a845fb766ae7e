// Reduced-precision dense GEMMs beside GemmF32 (gemm.h): int8 (AMX tdpbusd, AVX512-VNNI vpdpbusd,
// AVX2 vpmaddwd) and bf16 (AMX tdpbf16ps, AVX512-BF16 vdpbf16ps, AVX2 shifts + fma), each with a
// scalar reference.
//
// int8: C[i,j] = act(float(acc[i,j]) * (sa[i] * sw[j]) + bias[j]), exactly:
//   weights (once, at load): per output column j, sw[j] = max_k |W[k,j]| / 127 and
//     qw[k,j] = clamp(nearbyint(W[k,j] / sw[j]), -127, 127) (0 when sw[j] = 0)  [QuantizeGemmBInt8]
//   activations (per row i, per call, "dynamic"):
//     amax = 0; for k ascending: v = |A[i,k]|; amax = v > amax ? v : amax   (NaN never wins)
//     sa[i] = amax / 127; inv = amax > 0 ? 127 / amax : 0
//     x = A[i,k] * inv; x = x > -127 ? x : -127; x = x < 127 ? x : 127; qa = nearbyint(x) (RNE)
//     ua = qa + 128 (u8)
//   acc[i,j] = sum_k ua[k] * qw[k,j] - 128 * sum_k qw[k,j], int32 (two's complement; exact for
//     K <= kGemmInt8MaxK)
//   y = float(acc) * (sa[i] * sw[j]); y = bias ? y + bias[j] : y   (two roundings, no fma: the
//   same bits as the layer without bias followed by an Add, which the item-cache split makes)
//   relu: y = y > 0 ? y : 0
// bf16: A and B rounded to bf16 (RNE, denormals flushed to signed zero, NaN made quiet; B once at
//   load), then per element, over pairs t = 0..ceil(K/2)-1 ascending (the odd element first, as
//   vdpbf16ps does; products exact in fp32, denormal sums and products flushed to signed zero):
//     acc = 0; acc = ftz(acc + ftz(a[2t+1] * b[2t+1])); acc = ftz(acc + ftz(a[2t] * b[2t]))
//   y = bias ? acc + bias[j] : acc; relu: y = y > 0 ? y : 0
//   The AVX2 kernel runs the same sequence with fma and no flushing:
//     acc = fma(a[2t+1], b[2t+1], acc); acc = fma(a[2t], b[2t], acc)   [GemmBf16Avx2Reference]
//   a bf16 x bf16 product is exact in fp32, so each step rounds once, as vdpbf16ps's does: the
//   bits are the same unless a product or a partial sum is below 2^-126 in magnitude (denormal),
//   which vdpbf16ps flushes and fma keeps. Weights with denormal bf16 bits are packed as zeros.
//   The AMX kernel (tdpbf16ps) sums the same bf16 products in fp32, but the SDM does not fix the
//   order or the rounding steps within a K pair / tile; it equals the reference within fp32
//   accumulation rounding, not bitwise (tests bound it by (K + 2) * 2^-24 * sum |a b|).
//
// Kernels by ISA (GemmInt8 / GemmBf16 pick the first that applies):
//   AMX (Sapphire Rapids+: amx-tile, amx-int8, amx-bf16, Linux permission from arch_prctl) when
//   `isa` is kAvx512, `use_amx` and AmxUsable(); then AVX512-VNNI / AVX512-BF16 at kAvx512; then
//   AVX2 at kAvx2 or above; then the scalar reference. int8 gives the same bits on every one.
//
// Row i of C depends only on row i of A (and B, bias): a request split into chunks gives the same
// bits at every chunking and thread count. The vector kernels and the references agree bit for
// bit, except bf16 AMX and the bf16 denormal case above (tests/graph/kernels/math/
// gemm_lowp_test.cc); RANKOPT_ISA caps the kernel like GemmF32's, and any value of it but "amx"
// (or an unknown one) turns AMX off.
// Thread-safe: packed weights are immutable; per-call state lives in the caller's scratch.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_GEMM_LOWP_H_
#define RANKOPT_GRAPH_KERNELS_MATH_GEMM_LOWP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/cpu_features.h"

namespace rankopt {

// The precision a dense layer runs at (the `precision` attr of _RankoptFusedMatMul).
enum class DensePrecision { kFp32 = 0, kBf16 = 1, kInt8 = 2 };
// "fp32", "bf16", "int8".
absl::string_view DensePrecisionName(DensePrecision precision);
// The names above; the error lists them.
absl::StatusOr<DensePrecision> ParseDensePrecision(absl::string_view text);

// Largest K the int8 kernel accepts: 255 * 127 * K stays within int32.
inline constexpr int64_t kGemmInt8MaxK = 65536;

// True when the AMX kernels may run: the CPU has AMX-TILE/INT8/BF16 and AVX-512, RANKOPT_ISA is
// unset, "amx" or unknown, and Linux granted this process the tile data state (asked once, with
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); refused means false, never a crash).
bool AmxUsable();

// The kernel that runs `precision` at `isa` on this CPU: "fp32-avx512", "fp32-avx2",
// "fp32-scalar", "int8-amx", "int8-avx512vnni", "int8-avx2", "int8-scalar", "bf16-amx",
// "bf16-avx512bf16", "bf16-avx2", "bf16-scalar".
absl::string_view DenseKernelName(DensePrecision precision, Isa isa = BestIsa(),
                                  bool use_amx = true);
// True when `precision` has a vector kernel at `isa` on this CPU (the scalar reference is slow).
bool DensePrecisionIsFast(DensePrecision precision, Isa isa = BestIsa());

// ---- Weight conversion (once, at load) --------------------------------------------------------

// fp32 -> bf16 bits, as vcvtneps2bf16: RNE, denormals to signed zero, NaN quiet.
uint16_t FloatToBf16(float x);
inline float Bf16ToFloat(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  __builtin_memcpy(&x, &u, sizeof(x));
  return x;
}

// W[k,j] = w[k * k_stride + j * n_stride] (as PackGemmB) quantized per column j: q at the same
// index of `q` (same layout as w), scales[j] = sw[j]. REQUIRES: both outputs sized.
void QuantizeWeightsInt8(const float* w, int64_t k, int64_t n, int64_t k_stride,
                         int64_t n_stride, int8_t* q, float* scales);

// B [K,N] as int8 in 16-column panels of 4-row groups (vpdpbusd's layout): panel p, group g holds
// for column c < 16 the four bytes q[4g .. 4g+3, 16p + c] at data[(p * kp / 4 + g) * 64 + 4c],
// zero padded past K (to kp: whole AMX tiles of 16 groups) and N; plus the scales and
// 128 * column sums, padded to whole panels. A panel's 16 groups are one AMX B tile.
struct PackedBInt8 {
  int64_t k = 0;
  int64_t n = 0;
  int64_t k4 = 0;  // K rounded up to 4
  int64_t kp = 0;  // K rounded up to 64: the panel stride is kp * 16 bytes
  std::vector<int8_t> data;
  std::vector<float> scales;
  std::vector<int32_t> compensation;  // 128 * sum_k q[k, j]
};
// Packs codes q[k * k_stride + j * n_stride] with their column scales. Errors: K > kGemmInt8MaxK,
// a non-finite or negative scale.
absl::StatusOr<PackedBInt8> PackGemmBInt8(const int8_t* q, const float* scales, int64_t k,
                                          int64_t n, int64_t k_stride, int64_t n_stride);

// B [K,N] as bf16 in 16-column panels of row pairs (vdpbf16ps's layout): panel p, pair t holds for
// column c the two values b[2t, 16p+c], b[2t+1, 16p+c] at data[(p * kp / 2 + t) * 32 + 2c],
// zero padded past K (to kp: whole AMX tiles of 16 pairs) and N.
struct PackedBBf16 {
  int64_t k = 0;
  int64_t n = 0;
  int64_t k2 = 0;  // K rounded up to 2
  int64_t kp = 0;  // K rounded up to 32: the panel stride is kp * 16 values
  std::vector<uint16_t> data;
};
// Packs bf16 bits b[k * k_stride + j * n_stride]; denormal bits become signed zeros (what
// vdpbf16ps and tdpbf16ps read them as).
PackedBBf16 PackGemmBBf16(const uint16_t* b, int64_t k, int64_t n, int64_t k_stride,
                          int64_t n_stride);

// ---- The GEMMs --------------------------------------------------------------------------------

// Bytes of scratch GemmInt8 / GemmBf16 need for K (independent of M: rows go in blocks).
int64_t GemmInt8ScratchBytes(int64_t k);
int64_t GemmBf16ScratchBytes(int64_t k);

// C[i,j] (at c[i * ldc + j]) for i < m, j < b.n, from A[i,k] at a[i * lda + k], as stated above.
// `bias` may be null. `scratch`: GemmInt8ScratchBytes(b.k) bytes, 64-byte aligned. `isa` is capped
// at what the CPU supports; `use_amx` = false keeps the AVX-512 kernels on an AMX CPU (tests and
// benches compare the two).
void GemmInt8(int64_t m, const float* a, int64_t lda, const PackedBInt8& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa = BestIsa(),
              bool use_amx = true);
void GemmBf16(int64_t m, const float* a, int64_t lda, const PackedBBf16& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa = BestIsa(),
              bool use_amx = true);

// The scalar references (what GemmInt8 / GemmBf16 run at Isa::kScalar), for tests and benches.
void GemmInt8Reference(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                       const float* bias, bool relu, float* c, int64_t ldc);
void GemmBf16Reference(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                       const float* bias, bool relu, float* c, int64_t ldc);
// The scalar reference of the AVX2 bf16 kernel's order (fma, no flushing; see above).
void GemmBf16Avx2Reference(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                           const float* bias, bool relu, float* c, int64_t ldc);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_GEMM_LOWP_H_
