#include "graph/kernels/math/vector_math.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps); a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace rankopt {
namespace {

constexpr float kLo = -87.0f;
constexpr float kHi = 88.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kC1 = 0.693359375f;
constexpr float kC2 = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f;
constexpr float kP1 = 1.3981999507e-3f;
constexpr float kP2 = 8.3334519073e-3f;
constexpr float kP3 = 4.1665795894e-2f;
constexpr float kP4 = 1.6666665459e-1f;
constexpr float kP5 = 5.0000001201e-1f;

// ---- Scalar reference ----------------------------------------------------------------------

float ExpScalar(float x) {
  if (std::isnan(x)) return x;
  x = x > kLo ? x : kLo;  // same operand order as max_ps(x, lo)
  x = x < kHi ? x : kHi;
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kC1, x);
  r = std::fma(n, -kC2, r);
  float p = kP0;
  p = std::fma(p, r, kP1);
  p = std::fma(p, r, kP2);
  p = std::fma(p, r, kP3);
  p = std::fma(p, r, kP4);
  p = std::fma(p, r, kP5);
  const float t = r * r;
  float e = std::fma(p, t, r);
  e = e + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return e * scale;
}

float SigmoidScalar(float x) {
  if (std::isnan(x)) return x;
  return 1.0f / (1.0f + ExpScalar(-x));
}

// ---- AVX2 ----------------------------------------------------------------------------------

__attribute__((target("avx2,fma"))) inline __m256 Exp8(__m256 x) {
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 v = _mm256_max_ps(x, _mm256_set1_ps(kLo));
  v = _mm256_min_ps(v, _mm256_set1_ps(kHi));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kC1), v);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kC2), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  const __m256 t = _mm256_mul_ps(r, r);
  __m256 e = _mm256_fmadd_ps(p, t, r);
  e = _mm256_add_ps(e, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  e = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  return _mm256_blendv_ps(e, x, nan);
}

__attribute__((target("avx2,fma"))) void ExpAvx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, Exp8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = ExpScalar(x[i]);
}

__attribute__((target("avx2,fma"))) void SigmoidAvx2(const float* x, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 e = Exp8(_mm256_xor_ps(v, sign));
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    _mm256_storeu_ps(y + i, _mm256_blendv_ps(s, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
  }
  for (; i < n; ++i) y[i] = SigmoidScalar(x[i]);
}

// ---- AVX-512 -------------------------------------------------------------------------------

// e^x for non-NaN x (NaN gives e^kLo; the callers put NaN back). scalef(e, n) = e * 2^n rounded
// once, the same bits as the scalar path's multiply by the constructed power of two (n is in
// [-126, 127] after the clamp, so 2^n is a normal float) in three fewer instructions.
__attribute__((target("avx512f"))) inline __m512 Exp16NoNan(__m512 x) {
  __m512 v = _mm512_max_ps(x, _mm512_set1_ps(kLo));
  v = _mm512_min_ps(v, _mm512_set1_ps(kHi));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kC1), v);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kC2), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  const __m512 t = _mm512_mul_ps(r, r);
  __m512 e = _mm512_fmadd_ps(p, t, r);
  e = _mm512_add_ps(e, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(e, n);
}

__attribute__((target("avx512f"))) inline __m512 Exp16(__m512 x) {
  return _mm512_mask_mov_ps(Exp16NoNan(x), _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

__attribute__((target("avx512f"))) void ExpAvx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Exp16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, Exp16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

__attribute__((target("avx512f"))) inline __m512 Sigmoid16(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 neg =
      _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)));
  const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, Exp16NoNan(neg)));
  return _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

__attribute__((target("avx512f"))) void SigmoidAvx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Sigmoid16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, Sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

Isa Resolve(Isa isa) {
  if (isa == Isa::kAvx512 && !CpuSupports(Isa::kAvx512)) isa = Isa::kAvx2;
  if (isa == Isa::kAvx2 && !CpuSupports(Isa::kAvx2)) isa = Isa::kScalar;
  return isa;
}

}  // namespace

void ExpF32(const float* x, float* y, int64_t n, Isa isa) {
  switch (Resolve(isa)) {
    case Isa::kAvx512:
      return ExpAvx512(x, y, n);
    case Isa::kAvx2:
      return ExpAvx2(x, y, n);
    case Isa::kScalar:
      for (int64_t i = 0; i < n; ++i) y[i] = ExpScalar(x[i]);
      return;
  }
}

void SigmoidF32(const float* x, float* y, int64_t n, Isa isa) {
  switch (Resolve(isa)) {
    case Isa::kAvx512:
      return SigmoidAvx512(x, y, n);
    case Isa::kAvx2:
      return SigmoidAvx2(x, y, n);
    case Isa::kScalar:
      for (int64_t i = 0; i < n; ++i) y[i] = SigmoidScalar(x[i]);
      return;
  }
}

}  // namespace rankopt
