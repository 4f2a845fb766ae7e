#include "graph/kernels/math/gemm_lowp.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps); a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rankopt {

absl::string_view DensePrecisionName(DensePrecision precision) {
  switch (precision) {
    case DensePrecision::kFp32:
      return "fp32";
    case DensePrecision::kBf16:
      return "bf16";
    case DensePrecision::kInt8:
      return "int8";
  }
  return "unknown";
}

absl::StatusOr<DensePrecision> ParseDensePrecision(absl::string_view text) {
  if (text == "fp32") return DensePrecision::kFp32;
  if (text == "bf16") return DensePrecision::kBf16;
  if (text == "int8") return DensePrecision::kInt8;
  return absl::InvalidArgumentError(
      absl::StrCat("precision '", text, "' is not one of fp32, bf16, int8"));
}

namespace {

constexpr int64_t kPanel = 16;
constexpr int64_t kRowBlock = 48;  // rows of A converted at a time (a multiple of kMr)
constexpr int kMr = 12;

int64_t RoundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
int64_t Panels(int64_t n) { return (n + kPanel - 1) / kPanel; }

bool VnniKernel(Isa isa) {
  return isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512) && GetCpuFeatures().avx512_vnni;
}
bool Bf16Kernel(Isa isa) {
  return isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512) && GetCpuFeatures().avx512_bf16;
}

uint8_t* AlignUp64(void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<uint8_t*>((u + 63) & ~uintptr_t{63});
}

// ---- Scalar pieces shared by the references ---------------------------------------------------

// One row of A to u8 codes (qa + 128), k4 bytes (zeros past K); returns sa.
float QuantizeRowU8Scalar(const float* a, int64_t k, int64_t k4, uint8_t* out) {
  float amax = 0.0f;
  for (int64_t kk = 0; kk < k; ++kk) {
    const float v = std::fabs(a[kk]);
    amax = v > amax ? v : amax;
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int64_t kk = 0; kk < k; ++kk) {
    float x = a[kk] * inv;
    x = x > -127.0f ? x : -127.0f;
    x = x < 127.0f ? x : 127.0f;
    out[kk] = static_cast<uint8_t>(static_cast<int32_t>(std::nearbyint(x)) + 128);
  }
  for (int64_t kk = k; kk < k4; ++kk) out[kk] = 0;
  return amax / 127.0f;
}

float Ftz(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

}  // namespace

absl::string_view DenseKernelName(DensePrecision precision, Isa isa) {
  switch (precision) {
    case DensePrecision::kInt8:
      return VnniKernel(isa) ? "int8-avx512vnni" : "int8-scalar";
    case DensePrecision::kBf16:
      return Bf16Kernel(isa) ? "bf16-avx512bf16" : "bf16-scalar";
    case DensePrecision::kFp32:
      break;
  }
  if (isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512)) return "fp32-avx512";
  if (isa != Isa::kScalar && CpuSupports(Isa::kAvx2)) return "fp32-avx2";
  return "fp32-scalar";
}

bool DensePrecisionIsFast(DensePrecision precision, Isa isa) {
  switch (precision) {
    case DensePrecision::kInt8:
      return VnniKernel(isa);
    case DensePrecision::kBf16:
      return Bf16Kernel(isa);
    case DensePrecision::kFp32:
      return true;
  }
  return false;
}

uint16_t FloatToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  if (std::fpclassify(x) == FP_SUBNORMAL) return static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t lsb = (u >> 16) & 1;
  return static_cast<uint16_t>((u + 0x7fff + lsb) >> 16);
}

void QuantizeWeightsInt8(const float* w, int64_t k, int64_t n, int64_t k_stride,
                         int64_t n_stride, int8_t* q, float* scales) {
  for (int64_t j = 0; j < n; ++j) {
    float amax = 0.0f;
    for (int64_t kk = 0; kk < k; ++kk) {
      const float v = std::fabs(w[kk * k_stride + j * n_stride]);
      amax = v > amax ? v : amax;
    }
    const float s = amax / 127.0f;
    scales[j] = s;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t at = kk * k_stride + j * n_stride;
      float x = s > 0.0f ? std::nearbyint(w[at] / s) : 0.0f;
      x = x > -127.0f ? x : -127.0f;
      x = x < 127.0f ? x : 127.0f;
      q[at] = static_cast<int8_t>(x);
    }
  }
}

absl::StatusOr<PackedBInt8> PackGemmBInt8(const int8_t* q, const float* scales, int64_t k,
                                          int64_t n, int64_t k_stride, int64_t n_stride) {
  if (k > kGemmInt8MaxK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "int8 GEMM: K = ", k, " is over ", kGemmInt8MaxK, " (int32 accumulators could overflow)"));
  }
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(scales[j]) || scales[j] < 0.0f) {
      return absl::InvalidArgumentError(absl::StrCat("int8 GEMM: weight scale of column ", j,
                                                     " is ", scales[j],
                                                     ", expected a finite value >= 0"));
    }
  }
  PackedBInt8 p;
  p.k = k;
  p.n = n;
  p.k4 = RoundUp(std::max<int64_t>(k, 1), 4);
  const int64_t panels = Panels(n);
  p.data.assign(static_cast<size_t>(panels * p.k4 * kPanel), 0);
  p.scales.assign(static_cast<size_t>(panels * kPanel), 0.0f);
  p.compensation.assign(static_cast<size_t>(panels * kPanel), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / kPanel, c = j % kPanel;
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t v = q[kk * k_stride + j * n_stride];
      sum += v;
      p.data[static_cast<size_t>((panel * p.k4 / 4 + kk / 4) * 64 + c * 4 + kk % 4)] = v;
    }
    p.scales[static_cast<size_t>(j)] = scales[j];
    p.compensation[static_cast<size_t>(j)] = 128 * sum;
  }
  return p;
}

PackedBBf16 PackGemmBBf16(const uint16_t* b, int64_t k, int64_t n, int64_t k_stride,
                          int64_t n_stride) {
  PackedBBf16 p;
  p.k = k;
  p.n = n;
  p.k2 = RoundUp(std::max<int64_t>(k, 1), 2);
  const int64_t panels = Panels(n);
  p.data.assign(static_cast<size_t>(panels * p.k2 * kPanel), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / kPanel, c = j % kPanel;
    for (int64_t kk = 0; kk < k; ++kk) {
      p.data[static_cast<size_t>((panel * p.k2 / 2 + kk / 2) * 32 + c * 2 + kk % 2)] =
          b[kk * k_stride + j * n_stride];
    }
  }
  return p;
}

int64_t GemmInt8ScratchBytes(int64_t k) {
  return 64 + kRowBlock * RoundUp(std::max<int64_t>(k, 1), 4) + kRowBlock * 4 + 64;
}
int64_t GemmBf16ScratchBytes(int64_t k) {  // bf16 rows, or one float row for the reference
  return 64 + kRowBlock * RoundUp(std::max<int64_t>(k, 1), 2) * 2;
}

// ---- References -------------------------------------------------------------------------------

namespace {

// The references over caller memory: `row` holds k4 bytes (int8) or k2 floats (bf16).
void GemmInt8Scalar(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                    const float* bias, bool relu, float* c, int64_t ldc, uint8_t* row) {
  for (int64_t i = 0; i < m; ++i) {
    const float sa = QuantizeRowU8Scalar(a + i * lda, b.k, b.k4, row);
    for (int64_t j = 0; j < b.n; ++j) {
      const int8_t* panel = b.data.data() + (j / kPanel) * b.k4 * kPanel + (j % kPanel) * 4;
      uint32_t acc = 0;  // two's complement, as vpdpbusd
      for (int64_t kk = 0; kk < b.k4; ++kk) {
        acc += static_cast<uint32_t>(static_cast<int32_t>(row[kk]) *
                                     static_cast<int32_t>(panel[(kk / 4) * 64 + kk % 4]));
      }
      acc -= static_cast<uint32_t>(b.compensation[j]);
      const float f = static_cast<float>(static_cast<int32_t>(acc));
      const float scale = sa * b.scales[j];
      float y = f * scale;
      if (bias != nullptr) y = y + bias[j];
      if (relu) y = y > 0.0f ? y : 0.0f;
      c[i * ldc + j] = y;
    }
  }
}

void GemmBf16Scalar(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                    const float* bias, bool relu, float* c, int64_t ldc, float* row) {
  for (int64_t kk = b.k; kk < b.k2; ++kk) row[kk] = 0.0f;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t kk = 0; kk < b.k; ++kk) row[kk] = Bf16ToFloat(FloatToBf16(a[i * lda + kk]));
    for (int64_t j = 0; j < b.n; ++j) {
      const uint16_t* panel = b.data.data() + (j / kPanel) * b.k2 * kPanel + (j % kPanel) * 2;
      float acc = 0.0f;
      for (int64_t t = 0; t < b.k2 / 2; ++t) {
        const float b0 = Ftz(Bf16ToFloat(panel[t * 32])), b1 = Ftz(Bf16ToFloat(panel[t * 32 + 1]));
        acc = Ftz(acc + Ftz(row[2 * t + 1] * b1));
        acc = Ftz(acc + Ftz(row[2 * t] * b0));
      }
      float y = bias != nullptr ? acc + bias[j] : acc;
      if (relu) y = y > 0.0f ? y : 0.0f;
      c[i * ldc + j] = y;
    }
  }
}

}  // namespace

void GemmInt8Reference(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                       const float* bias, bool relu, float* c, int64_t ldc) {
  std::vector<uint8_t> row(static_cast<size_t>(b.k4));
  GemmInt8Scalar(m, a, lda, b, bias, relu, c, ldc, row.data());
}

void GemmBf16Reference(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                       const float* bias, bool relu, float* c, int64_t ldc) {
  std::vector<float> row(static_cast<size_t>(b.k2));
  GemmBf16Scalar(m, a, lda, b, bias, relu, c, ldc, row.data());
}

namespace {

// ---- AVX512-VNNI ------------------------------------------------------------------------------

__mmask16 MaskFor(int64_t valid) {
  if (valid <= 0) return 0;
  if (valid >= 16) return 0xFFFF;
  return static_cast<__mmask16>((1u << valid) - 1u);
}

__attribute__((target("avx512f,avx512bw"))) float QuantizeRowU8Avx512(const float* a, int64_t k,
                                                                      int64_t k4, uint8_t* out) {
  __m512 vmax = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; kk += 16) {
    const __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(MaskFor(k - kk), a + kk));
    vmax = _mm512_max_ps(v, vmax);  // v > vmax ? v : vmax
  }
  const float amax = _mm512_reduce_max_ps(vmax);
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i offset = _mm512_set1_epi32(128);
  for (int64_t kk = 0; kk < k; kk += 16) {
    const __mmask16 mask = MaskFor(k - kk);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, a + kk), vinv);
    x = _mm512_max_ps(x, lo);  // x > -127 ? x : -127
    x = _mm512_min_ps(x, hi);  // x < 127 ? x : 127
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(x), offset);
    _mm512_mask_cvtepi32_storeu_epi8(out + kk, mask, q);
  }
  for (int64_t kk = k; kk < k4; ++kk) out[kk] = 0;
  return amax / 127.0f;
}

template <int MR, int NV>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void KernelInt8(
    int64_t groups, const uint8_t* a, int64_t lda, const int8_t* b0, const int8_t* b1,
    const float* sa, const float* sw, const int32_t* comp, const float* bias, bool relu,
    __mmask16 m0, __mmask16 m1, float* c, int64_t ldc) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  }
  for (int64_t g = 0; g < groups; ++g) {
    const __m512i vb0 = _mm512_loadu_si512(b0 + g * 64);
    __m512i vb1 = _mm512_setzero_si512();
    if constexpr (NV == 2) vb1 = _mm512_loadu_si512(b1 + g * 64);
    const uint8_t* ag = a + g * 4;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t word;
      std::memcpy(&word, ag + r * lda, sizeof(word));
      const __m512i va = _mm512_set1_epi32(word);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], va, vb0);
      if constexpr (NV == 2) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], va, vb1);
    }
  }
  const __mmask16 masks[2] = {m0, m1};
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) {
    const __m512i vcomp = _mm512_loadu_si512(comp + v * kPanel);
    const __m512 vsw = _mm512_loadu_ps(sw + v * kPanel);
    const __m512 vbias =
        bias != nullptr ? _mm512_maskz_loadu_ps(masks[v], bias + v * kPanel) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(sa[r]), vsw);
      const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], vcomp));
      __m512 y = _mm512_mul_ps(f, scale);
      if (bias != nullptr) y = _mm512_add_ps(y, vbias);
      if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());  // y > 0 ? y : 0
      _mm512_mask_storeu_ps(c + r * ldc + v * kPanel, masks[v], y);
    }
  }
}

using KernelInt8Fn = void (*)(int64_t, const uint8_t*, int64_t, const int8_t*, const int8_t*,
                              const float*, const float*, const int32_t*, const float*, bool,
                              __mmask16, __mmask16, float*, int64_t);
template <int NV>
constexpr KernelInt8Fn kKernelsInt8[kMr] = {
    KernelInt8<1, NV>, KernelInt8<2, NV>,  KernelInt8<3, NV>,  KernelInt8<4, NV>,
    KernelInt8<5, NV>, KernelInt8<6, NV>,  KernelInt8<7, NV>,  KernelInt8<8, NV>,
    KernelInt8<9, NV>, KernelInt8<10, NV>, KernelInt8<11, NV>, KernelInt8<12, NV>};

void GemmInt8Avx512(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                    const float* bias, bool relu, float* c, int64_t ldc, void* scratch) {
  uint8_t* qa = AlignUp64(scratch);
  float* sa = reinterpret_cast<float*>(qa + kRowBlock * b.k4);
  const int64_t panels = Panels(b.n);
  const int64_t groups = b.k4 / 4;
  const int64_t panel_bytes = b.k4 * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      sa[r] = QuantizeRowU8Avx512(a + (i0 + r) * lda, b.k, b.k4, qa + r * b.k4);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
      for (int64_t p = 0; p < panels; p += 2) {
        const int64_t j0 = p * kPanel;
        const bool two = p + 1 < panels;
        const int8_t* b0 = b.data.data() + p * panel_bytes;
        const KernelInt8Fn fn = two ? kKernelsInt8<2>[mr - 1] : kKernelsInt8<1>[mr - 1];
        fn(groups, qa + r0 * b.k4, b.k4, b0, two ? b0 + panel_bytes : b0, sa + r0,
           b.scales.data() + j0, b.compensation.data() + j0,
           bias != nullptr ? bias + j0 : nullptr, relu, MaskFor(b.n - j0),
           two ? MaskFor(b.n - j0 - kPanel) : 0, c + (i0 + r0) * ldc + j0, ldc);
      }
    }
  }
}

// ---- AVX512-BF16 ------------------------------------------------------------------------------

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void ConvertRowBf16Avx512(
    const float* a, int64_t k, int64_t k2, uint16_t* out) {
  for (int64_t kk = 0; kk < k; kk += 16) {
    const __mmask16 mask = MaskFor(k - kk);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, a + kk));
    __m256i bits;
    std::memcpy(&bits, &h, sizeof(bits));
    _mm256_mask_storeu_epi16(out + kk, mask, bits);
  }
  for (int64_t kk = k; kk < k2; ++kk) out[kk] = 0;
}

template <int MR, int NV>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void KernelBf16(
    int64_t pairs, const uint16_t* a, int64_t lda, const uint16_t* b0, const uint16_t* b1,
    const float* bias, bool relu, __mmask16 m0, __mmask16 m1, float* c, int64_t ldc) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (int64_t t = 0; t < pairs; ++t) {
    const __m512bh vb0 = (__m512bh)_mm512_loadu_si512(b0 + t * 32);
    __m512bh vb1 = vb0;
    if constexpr (NV == 2) vb1 = (__m512bh)_mm512_loadu_si512(b1 + t * 32);
    const uint16_t* at = a + t * 2;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t word;
      std::memcpy(&word, at + r * lda, sizeof(word));
      const __m512bh va = (__m512bh)_mm512_set1_epi32(word);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], va, vb0);
      if constexpr (NV == 2) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], va, vb1);
    }
  }
  const __mmask16 masks[2] = {m0, m1};
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) {
    const __m512 vbias =
        bias != nullptr ? _mm512_maskz_loadu_ps(masks[v], bias + v * kPanel) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512 y = acc[r][v];
      if (bias != nullptr) y = _mm512_add_ps(y, vbias);
      if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(c + r * ldc + v * kPanel, masks[v], y);
    }
  }
}

using KernelBf16Fn = void (*)(int64_t, const uint16_t*, int64_t, const uint16_t*,
                              const uint16_t*, const float*, bool, __mmask16, __mmask16, float*,
                              int64_t);
template <int NV>
constexpr KernelBf16Fn kKernelsBf16[kMr] = {
    KernelBf16<1, NV>, KernelBf16<2, NV>,  KernelBf16<3, NV>,  KernelBf16<4, NV>,
    KernelBf16<5, NV>, KernelBf16<6, NV>,  KernelBf16<7, NV>,  KernelBf16<8, NV>,
    KernelBf16<9, NV>, KernelBf16<10, NV>, KernelBf16<11, NV>, KernelBf16<12, NV>};

void GemmBf16Avx512(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                    const float* bias, bool relu, float* c, int64_t ldc, void* scratch) {
  uint16_t* ab = reinterpret_cast<uint16_t*>(AlignUp64(scratch));
  const int64_t panels = Panels(b.n);
  const int64_t pairs = b.k2 / 2;
  const int64_t panel_elems = b.k2 * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      ConvertRowBf16Avx512(a + (i0 + r) * lda, b.k, b.k2, ab + r * b.k2);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
      for (int64_t p = 0; p < panels; p += 2) {
        const int64_t j0 = p * kPanel;
        const bool two = p + 1 < panels;
        const uint16_t* b0 = b.data.data() + p * panel_elems;
        const KernelBf16Fn fn = two ? kKernelsBf16<2>[mr - 1] : kKernelsBf16<1>[mr - 1];
        fn(pairs, ab + r0 * b.k2, b.k2, b0, two ? b0 + panel_elems : b0,
           bias != nullptr ? bias + j0 : nullptr, relu, MaskFor(b.n - j0),
           two ? MaskFor(b.n - j0 - kPanel) : 0, c + (i0 + r0) * ldc + j0, ldc);
      }
    }
  }
}

}  // namespace

void GemmInt8(int64_t m, const float* a, int64_t lda, const PackedBInt8& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa) {
  if (m <= 0 || b.n <= 0) return;
  if (VnniKernel(isa)) {
    GemmInt8Avx512(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else {
    GemmInt8Scalar(m, a, lda, b, bias, relu, c, ldc, AlignUp64(scratch));
  }
}

void GemmBf16(int64_t m, const float* a, int64_t lda, const PackedBBf16& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa) {
  if (m <= 0 || b.n <= 0) return;
  if (Bf16Kernel(isa)) {
    GemmBf16Avx512(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else {
    GemmBf16Scalar(m, a, lda, b, bias, relu, c, ldc, reinterpret_cast<float*>(AlignUp64(scratch)));
  }
}

}  // namespace rankopt
