#include "graph/kernels/math/gemm.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps); a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace rankopt {

void PackGemmBInto(const float* b, int64_t k, int64_t n, int64_t k_stride, int64_t n_stride,
                   float* dst) {
  const int64_t panels = (n + kGemmPanelWidth - 1) / kGemmPanelWidth;
  for (int64_t p = 0; p < panels; ++p) {
    float* out = dst + p * kGemmPanelWidth * k;
    const int64_t j0 = p * kGemmPanelWidth;
    const int64_t width = std::min(kGemmPanelWidth, n - j0);
    for (int64_t kk = 0; kk < k; ++kk) {
      float* row = out + kk * kGemmPanelWidth;
      for (int64_t jj = 0; jj < width; ++jj) row[jj] = b[kk * k_stride + (j0 + jj) * n_stride];
      for (int64_t jj = width; jj < kGemmPanelWidth; ++jj) row[jj] = 0.0f;
    }
  }
}

PackedB PackGemmB(const float* b, int64_t k, int64_t n, int64_t k_stride, int64_t n_stride) {
  PackedB packed;
  packed.k = k;
  packed.n = n;
  packed.data.resize(static_cast<size_t>(PackedGemmBSize(k, n)));
  PackGemmBInto(b, k, n, k_stride, n_stride, packed.data.data());
  return packed;
}

namespace {

// ---- Scalar reference -------------------------------------------------------------------------

void GemmScalar(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs,
                const GemmB& b, const float* bias, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const float* bp = b.data + (j / kGemmPanelWidth) * b.panel_stride + j % kGemmPanelWidth;
      float acc = 0.0f;
      for (int64_t kk = 0; kk < k; ++kk) {
        acc = std::fma(a[i * ars + kk * acs], bp[kk * b.k_stride], acc);
      }
      c[i * ldc + j] = bias != nullptr ? acc + bias[j] : acc;
    }
  }
}

// ---- AVX2 + FMA: MR rows x one 16-column panel (two 8-float vectors) -------------------------

constexpr int kMr2 = 6;

template <int MR>
__attribute__((target("avx2,fma"))) void Kernel2(int64_t k, const float* a, int64_t ars,
                                                 int64_t acs, const float* b, int64_t ks, int valid,
                                                 const float* bias, float* c, int64_t ldc) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), iota);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid - 8), iota);
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = _mm256_setzero_ps();
    acc[r][1] = _mm256_setzero_ps();
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* bk = b + kk * ks;
    const __m256 b0 = _mm256_maskload_ps(bk, m0);
    const __m256 b1 = _mm256_maskload_ps(bk + 8, m1);
    const float* ak = a + kk * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(ak + r * ars);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
  if (bias != nullptr) {
    bias0 = _mm256_maskload_ps(bias, m0);
    bias1 = _mm256_maskload_ps(bias + 8, m1);
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    __m256 v0 = acc[r][0], v1 = acc[r][1];
    if (bias != nullptr) {
      v0 = _mm256_add_ps(v0, bias0);
      v1 = _mm256_add_ps(v1, bias1);
    }
    _mm256_maskstore_ps(c + r * ldc, m0, v0);
    _mm256_maskstore_ps(c + r * ldc + 8, m1, v1);
  }
}

using Kernel2Fn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, int,
                           const float*, float*, int64_t);
constexpr Kernel2Fn kKernels2[kMr2] = {Kernel2<1>, Kernel2<2>, Kernel2<3>,
                                       Kernel2<4>, Kernel2<5>, Kernel2<6>};

void GemmAvx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs,
              const GemmB& b, const float* bias, float* c, int64_t ldc) {
  const int64_t panels = (n + kGemmPanelWidth - 1) / kGemmPanelWidth;
  for (int64_t i0 = 0; i0 < m; i0 += kMr2) {
    const int mr = static_cast<int>(std::min<int64_t>(kMr2, m - i0));
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t j0 = p * kGemmPanelWidth;
      const int valid = static_cast<int>(std::min(kGemmPanelWidth, n - j0));
      kKernels2[mr - 1](k, a + i0 * ars, ars, acs, b.data + p * b.panel_stride, b.k_stride, valid,
                        bias != nullptr ? bias + j0 : nullptr, c + i0 * ldc + j0, ldc);
    }
  }
}

// ---- AVX-512: MR rows x two 16-column panels -------------------------------------------------

constexpr int kMr512 = 12;

template <int MR, int NV>
__attribute__((target("avx512f"))) void Kernel512(int64_t k, const float* a, int64_t ars,
                                                  int64_t acs, const float* b0, const float* b1,
                                                  int64_t ks, __mmask16 m0, __mmask16 m1,
                                                  const float* bias, float* c, int64_t ldc) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m512 vb0 = _mm512_maskz_loadu_ps(m0, b0 + kk * ks);
    __m512 vb1 = _mm512_setzero_ps();
    if constexpr (NV == 2) vb1 = _mm512_maskz_loadu_ps(m1, b1 + kk * ks);
    const float* ak = a + kk * acs;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(ak[r * ars]);
      acc[r][0] = _mm512_fmadd_ps(av, vb0, acc[r][0]);
      if constexpr (NV == 2) acc[r][1] = _mm512_fmadd_ps(av, vb1, acc[r][1]);
    }
  }
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (bias != nullptr) {
    bias0 = _mm512_maskz_loadu_ps(m0, bias);
    if constexpr (NV == 2) bias1 = _mm512_maskz_loadu_ps(m1, bias + kGemmPanelWidth);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __m512 v0 = acc[r][0];
    if (bias != nullptr) v0 = _mm512_add_ps(v0, bias0);
    _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
    if constexpr (NV == 2) {
      __m512 v1 = acc[r][1];
      if (bias != nullptr) v1 = _mm512_add_ps(v1, bias1);
      _mm512_mask_storeu_ps(c + r * ldc + kGemmPanelWidth, m1, v1);
    }
  }
}

using Kernel512Fn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, const float*,
                             int64_t, __mmask16, __mmask16, const float*, float*, int64_t);

template <int NV>
constexpr Kernel512Fn kKernels512[kMr512] = {
    Kernel512<1, NV>, Kernel512<2, NV>,  Kernel512<3, NV>,  Kernel512<4, NV>,
    Kernel512<5, NV>, Kernel512<6, NV>,  Kernel512<7, NV>,  Kernel512<8, NV>,
    Kernel512<9, NV>, Kernel512<10, NV>, Kernel512<11, NV>, Kernel512<12, NV>};

__mmask16 MaskFor(int64_t valid) {
  if (valid <= 0) return 0;
  if (valid >= 16) return 0xFFFF;
  return static_cast<__mmask16>((1u << valid) - 1u);
}

void GemmAvx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs,
                const GemmB& b, const float* bias, float* c, int64_t ldc) {
  const int64_t panels = (n + kGemmPanelWidth - 1) / kGemmPanelWidth;
  for (int64_t i0 = 0; i0 < m; i0 += kMr512) {
    const int mr = static_cast<int>(std::min<int64_t>(kMr512, m - i0));
    for (int64_t p = 0; p < panels; p += 2) {
      const int64_t j0 = p * kGemmPanelWidth;
      const bool two = p + 1 < panels;
      const __mmask16 m0 = MaskFor(n - j0);
      const __mmask16 m1 = two ? MaskFor(n - j0 - kGemmPanelWidth) : 0;
      const float* b0 = b.data + p * b.panel_stride;
      const float* b1 = two ? b0 + b.panel_stride : b0;
      const Kernel512Fn fn = two ? kKernels512<2>[mr - 1] : kKernels512<1>[mr - 1];
      fn(k, a + i0 * ars, ars, acs, b0, b1, b.k_stride, m0, m1,
         bias != nullptr ? bias + j0 : nullptr, c + i0 * ldc + j0, ldc);
    }
  }
}

}  // namespace

void GemmF32(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_row_stride,
             int64_t a_col_stride, const GemmB& b, const float* bias, float* c, int64_t ldc,
             Isa isa) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // no products, and B may be empty (null data): C = 0 + bias
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = bias != nullptr ? 0.0f + bias[j] : 0.0f;
    }
    return;
  }
  if (isa == Isa::kAvx512 && !CpuSupports(Isa::kAvx512)) isa = Isa::kAvx2;
  if (isa == Isa::kAvx2 && !CpuSupports(Isa::kAvx2)) isa = Isa::kScalar;
  switch (isa) {
    case Isa::kAvx512:
      GemmAvx512(m, n, k, a, a_row_stride, a_col_stride, b, bias, c, ldc);
      return;
    case Isa::kAvx2:
      GemmAvx2(m, n, k, a, a_row_stride, a_col_stride, b, bias, c, ldc);
      return;
    case Isa::kScalar:
      GemmScalar(m, n, k, a, a_row_stride, a_col_stride, b, bias, c, ldc);
      return;
  }
}

}  // namespace rankopt
