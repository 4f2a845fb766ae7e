#include "graph/kernels/math/gemm_lowp.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps); a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
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
// The AMX kernels convert 64 rows at a time (four row tiles: two full 2 x 2 tile blocks, where 48
// rows left a one-row-tile pass loading the B tiles for a single A tile). They fit the scratch
// sized for kRowBlock: u8 codes (int8) in the int16 rows, bf16 in the float rows, and the 64 row
// scales in the kRowBlock scales plus the trailing 64 bytes.
constexpr int64_t kAmxRowBlock = 64;
static_assert(kAmxRowBlock <= 2 * kRowBlock, "AMX int8 codes fit the int16 scratch rows");
static_assert(kAmxRowBlock * 4 <= kRowBlock * 4 + 64, "AMX int8 row scales fit");
constexpr int kMr = 12;

constexpr int64_t kTileRows = 16;        // rows of an AMX tile (and of a C tile)
constexpr int64_t kTileBytes = 64;       // bytes in one AMX tile row
constexpr int64_t kInt8PanelK = 64;      // K per AMX int8 tile: panels are padded to this
constexpr int64_t kBf16PanelK = 32;      // K per AMX bf16 tile

int64_t RoundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
int64_t Panels(int64_t n) { return (n + kPanel - 1) / kPanel; }
int64_t Int8PanelK(int64_t k) { return RoundUp(std::max<int64_t>(k, 1), kInt8PanelK); }
int64_t Bf16PanelK(int64_t k) { return RoundUp(std::max<int64_t>(k, 1), kBf16PanelK); }

bool VnniKernel(Isa isa) {
  return isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512) && GetCpuFeatures().avx512_vnni;
}
bool Bf16Kernel(Isa isa) {
  return isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512) && GetCpuFeatures().avx512_bf16;
}
bool Avx2Kernel(Isa isa) { return isa != Isa::kScalar && CpuSupports(Isa::kAvx2); }
bool AmxKernel(Isa isa, bool use_amx) {
  return use_amx && isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512) && AmxUsable();
}

// Asks Linux for the AMX tile data state (Documentation/arch/x86/xstate.rst): without it the
// first tile instruction kills the process with SIGILL. Permission is per process.
bool RequestAmxPermission() {
  constexpr long kArchGetXcompPerm = 0x1022;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  unsigned long permitted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &permitted) != 0) return false;
  return (permitted & (1ul << kXfeatureXtiledata)) != 0;
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

bool AmxUsable() {
  static const bool usable = [] {
    if (!GetCpuFeatures().amx || !CpuSupports(Isa::kAvx512)) return false;
    const char* cap = std::getenv("RANKOPT_ISA");
    if (cap != nullptr && (std::strcmp(cap, "scalar") == 0 || std::strcmp(cap, "avx2") == 0 ||
                           std::strcmp(cap, "avx512") == 0)) {
      return false;
    }
    return RequestAmxPermission();
  }();
  return usable;
}

absl::string_view DenseKernelName(DensePrecision precision, Isa isa, bool use_amx) {
  switch (precision) {
    case DensePrecision::kInt8:
      if (AmxKernel(isa, use_amx)) return "int8-amx";
      if (VnniKernel(isa)) return "int8-avx512vnni";
      return Avx2Kernel(isa) ? "int8-avx2" : "int8-scalar";
    case DensePrecision::kBf16:
      if (AmxKernel(isa, use_amx)) return "bf16-amx";
      if (Bf16Kernel(isa)) return "bf16-avx512bf16";
      return Avx2Kernel(isa) ? "bf16-avx2" : "bf16-scalar";
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
    case DensePrecision::kBf16:
      return Avx2Kernel(isa);
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
  p.kp = Int8PanelK(k);
  const int64_t panels = Panels(n);
  p.data.assign(static_cast<size_t>(panels * p.kp * kPanel), 0);
  p.scales.assign(static_cast<size_t>(panels * kPanel), 0.0f);
  p.compensation.assign(static_cast<size_t>(panels * kPanel), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / kPanel, c = j % kPanel;
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t v = q[kk * k_stride + j * n_stride];
      sum += v;
      p.data[static_cast<size_t>((panel * p.kp / 4 + kk / 4) * 64 + c * 4 + kk % 4)] = v;
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
  p.kp = Bf16PanelK(k);
  const int64_t panels = Panels(n);
  p.data.assign(static_cast<size_t>(panels * p.kp * kPanel), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / kPanel, c = j % kPanel;
    for (int64_t kk = 0; kk < k; ++kk) {
      uint16_t v = b[kk * k_stride + j * n_stride];
      if ((v & 0x7f80) == 0) v &= 0x8000;  // denormal: signed zero, as every kernel reads it
      p.data[static_cast<size_t>((panel * p.kp / 2 + kk / 2) * 32 + c * 2 + kk % 2)] = v;
    }
  }
  return p;
}

// int8: kRowBlock rows of u8 codes (int16 for AVX2) at stride kp, then kRowBlock row scales.
int64_t GemmInt8ScratchBytes(int64_t k) {
  return 64 + kRowBlock * Int8PanelK(k) * 2 + kRowBlock * 4 + 64;
}
// bf16: kRowBlock rows of bf16 (float for AVX2 and the reference) at stride kp.
int64_t GemmBf16ScratchBytes(int64_t k) { return 64 + kRowBlock * Bf16PanelK(k) * 4; }

// ---- References -------------------------------------------------------------------------------

namespace {

// The references over caller memory: `row` holds k4 bytes (int8) or k2 floats (bf16).
void GemmInt8Scalar(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                    const float* bias, bool relu, float* c, int64_t ldc, uint8_t* row) {
  for (int64_t i = 0; i < m; ++i) {
    const float sa = QuantizeRowU8Scalar(a + i * lda, b.k, b.k4, row);
    for (int64_t j = 0; j < b.n; ++j) {
      const int8_t* panel = b.data.data() + (j / kPanel) * b.kp * kPanel + (j % kPanel) * 4;
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
      const uint16_t* panel = b.data.data() + (j / kPanel) * b.kp * kPanel + (j % kPanel) * 2;
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

// The largest |a[i]| of a row of k floats (two accumulators over full chunks of 32).
__attribute__((target("avx512f,avx512bw"))) float AbsMaxAvx512(const float* a, int64_t k) {
  __m512 vmax0 = _mm512_setzero_ps(), vmax1 = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 32 <= k; kk += 32) {
    vmax0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + kk)), vmax0);
    vmax1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + kk + 16)), vmax1);
  }
  for (; kk < k; kk += 16) {
    vmax0 = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(MaskFor(k - kk), a + kk)), vmax0);
  }
  return _mm512_reduce_max_ps(_mm512_max_ps(vmax0, vmax1));
}

// Codes of one row, out[0 .. k4) (k4 a multiple of 64: the AMX panel K; codes past K are 0),
// 64 at a time: four chunks' dwords packed to bytes (vpackusdw / vpackuswb keep 0..255 exactly,
// in 128-bit-lane order, which one vpermd puts back in row order) and one 64-byte store, padding
// included. The same operations per element as every other int8 quantizer.
__attribute__((target("avx512f,avx512bw"))) float QuantizeRowU8Avx512(const float* a, int64_t k,
                                                                      int64_t k4, uint8_t* out) {
  const float amax = AbsMaxAvx512(a, k);
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i offset = _mm512_set1_epi32(128);
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (int64_t c = 0; c < k4; c += 64) {
    __m512i q[4];
    for (int j = 0; j < 4; ++j) {
      const __mmask16 mask = MaskFor(k - c - 16 * j);
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, a + c + 16 * j), vinv);
      x = _mm512_max_ps(x, lo);  // x > -127 ? x : -127
      x = _mm512_min_ps(x, hi);  // x < 127 ? x : 127
      q[j] = _mm512_maskz_add_epi32(mask, _mm512_cvtps_epi32(x), offset);
    }
    const __m512i packed =
        _mm512_packus_epi16(_mm512_packus_epi32(q[0], q[1]), _mm512_packus_epi32(q[2], q[3]));
    _mm512_storeu_si512(out + c, _mm512_permutexvar_epi32(order, packed));
  }
  return amax / 127.0f;
}

// QuantizeRowU8Avx512's codes written straight into the kernel's interleaved layout: group g
// (codes 4g .. 4g+3) at out + g * stride, for g < k4 / 4 (codes past K are 0). The same
// operations per element (so the same codes and scale); full chunks go without masks, the codes
// leave by a register vpmovdb and dword stores (no separate interleaving pass).
__attribute__((target("avx512f,avx512bw"))) float QuantizeRowU8InterleavedAvx512(
    const float* a, int64_t k, int64_t k4, uint8_t* out, int64_t stride) {
  const float amax = AbsMaxAvx512(a, k);
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i offset = _mm512_set1_epi32(128);
  for (int64_t c = 0; c < k4; c += 16) {
    const __mmask16 mask = MaskFor(k - c);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, a + c), vinv);
    x = _mm512_max_ps(x, lo);  // x > -127 ? x : -127
    x = _mm512_min_ps(x, hi);  // x < 127 ? x : 127
    const __m128i q =
        _mm512_cvtepi32_epi8(_mm512_maskz_add_epi32(mask, _mm512_cvtps_epi32(x), offset));
    uint8_t* o = out + (c / 4) * stride;
    const int64_t groups = std::min<int64_t>(4, (k4 - c) / 4);
    const int32_t w0 = _mm_cvtsi128_si32(q), w1 = _mm_extract_epi32(q, 1),
                  w2 = _mm_extract_epi32(q, 2), w3 = _mm_extract_epi32(q, 3);
    std::memcpy(o, &w0, 4);
    if (groups > 1) std::memcpy(o + stride, &w1, 4);
    if (groups > 2) std::memcpy(o + 2 * stride, &w2, 4);
    if (groups > 3) std::memcpy(o + 3 * stride, &w3, 4);
  }
  return amax / 127.0f;
}

// QuantizeRowU8InterleavedAvx512 for four rows at once (rows r .. r+3 of the interleaved block:
// `out` points at row r's first word). The same codes and scales; the four rows' codes of a chunk
// are packed together (vpackusdw / vpackuswb keep 0..255 exactly and interleave the rows by
// 128-bit lane, so lane L holds group L's four words of the four rows: one 16-byte store).
__attribute__((target("avx512f,avx512bw"))) void QuantizeRows4U8InterleavedAvx512(
    const float* a, int64_t lda, int64_t k, int64_t k4, uint8_t* out, int64_t stride, float* sa) {
  __m512 vinv[4];
  for (int r = 0; r < 4; ++r) {
    const float amax = AbsMaxAvx512(a + r * lda, k);
    vinv[r] = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    sa[r] = amax / 127.0f;
  }
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i offset = _mm512_set1_epi32(128);
  for (int64_t c = 0; c < k4; c += 16) {
    const __mmask16 mask = MaskFor(k - c);
    __m512i q[4];
    for (int r = 0; r < 4; ++r) {
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, a + r * lda + c), vinv[r]);
      x = _mm512_max_ps(x, lo);
      x = _mm512_min_ps(x, hi);
      q[r] = _mm512_maskz_add_epi32(mask, _mm512_cvtps_epi32(x), offset);
    }
    const __m512i packed =
        _mm512_packus_epi16(_mm512_packus_epi32(q[0], q[1]), _mm512_packus_epi32(q[2], q[3]));
    uint8_t* o = out + (c / 4) * stride;
    const int64_t groups = std::min<int64_t>(4, (k4 - c) / 4);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm512_castsi512_si128(packed));
    if (groups > 1) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + stride),
                       _mm512_extracti32x4_epi32(packed, 1));
    }
    if (groups > 2) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * stride),
                       _mm512_extracti32x4_epi32(packed, 2));
    }
    if (groups > 3) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 3 * stride),
                       _mm512_extracti32x4_epi32(packed, 3));
    }
  }
}

// acc += u8 `a` . s8 `b` per int32 lane (_mm512_dpbusd_epi32). In asm because GCC 12 allocates
// the intrinsic's accumulators badly (copies and a stack store per instruction: int8 ran at
// 1.4x fp32 instead of about 2x).
__attribute__((target("avx512f,avx512vnni"), always_inline)) inline void Dpbusd(__m512i& acc,
                                                                               __m512i a,
                                                                               __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
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
    const uint8_t* ag = a + g * MR * 4;  // the MR rows' words of group g, side by side
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t word;
      std::memcpy(&word, ag + r * 4, sizeof(word));
      const __m512i va = _mm512_set1_epi32(word);
      Dpbusd(acc[r][0], va, vb0);
      if constexpr (NV == 2) Dpbusd(acc[r][1], va, vb1);
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
  float* sa = reinterpret_cast<float*>(qa + kRowBlock * b.kp * 2);
  const int64_t panels = Panels(b.n);
  const int64_t groups = b.k4 / 4;
  const int64_t panel_bytes = b.kp * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r0 = 0; r0 < rows; r0 += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
      // The mr rows quantized straight into their layout interleaved by group (one base
      // register and constant offsets in the kernel).
      uint8_t* il = qa;
      int r = 0;
      for (; r + 4 <= mr; r += 4) {
        QuantizeRows4U8InterleavedAvx512(a + (i0 + r0 + r) * lda, lda, b.k, b.k4, il + r * 4,
                                         mr * 4, sa + r0 + r);
      }
      for (; r < mr; ++r) {
        sa[r0 + r] =
            QuantizeRowU8InterleavedAvx512(a + (i0 + r0 + r) * lda, b.k, b.k4, il + r * 4, mr * 4);
      }
      for (int64_t p = 0; p < panels; p += 2) {
        const int64_t j0 = p * kPanel;
        const bool two = p + 1 < panels;
        const int8_t* b0 = b.data.data() + p * panel_bytes;
        const KernelInt8Fn fn = two ? kKernelsInt8<2>[mr - 1] : kKernelsInt8<1>[mr - 1];
        fn(groups, il, mr * 4, b0, two ? b0 + panel_bytes : b0, sa + r0,
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
  int64_t kk = 0;
  for (; kk < k; kk += 16) {
    // Past K the masked load gives +0.0f, whose bf16 is 0: the padding comes with the store.
    const __mmask16 mask = MaskFor(k - kk);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, a + kk));
    __m256i bits;
    std::memcpy(&bits, &h, sizeof(bits));
    _mm256_mask_storeu_epi16(out + kk, MaskFor(k2 - kk), bits);
  }
  for (; kk < k2; kk += 16) {
    _mm256_mask_storeu_epi16(out + kk, MaskFor(k2 - kk), _mm256_setzero_si256());
  }
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
  const int64_t panel_elems = b.kp * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      ConvertRowBf16Avx512(a + (i0 + r) * lda, b.k, b.k2, ab + r * b.kp);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, rows - r0));
      for (int64_t p = 0; p < panels; p += 2) {
        const int64_t j0 = p * kPanel;
        const bool two = p + 1 < panels;
        const uint16_t* b0 = b.data.data() + p * panel_elems;
        const KernelBf16Fn fn = two ? kKernelsBf16<2>[mr - 1] : kKernelsBf16<1>[mr - 1];
        fn(pairs, ab + r0 * b.kp, b.kp, b0, two ? b0 + panel_elems : b0,
           bias != nullptr ? bias + j0 : nullptr, relu, MaskFor(b.n - j0),
           two ? MaskFor(b.n - j0 - kPanel) : 0, c + (i0 + r0) * ldc + j0, ldc);
      }
    }
  }
}

// ---- AVX2 -------------------------------------------------------------------------------------
// int8: u8 codes and s8 weights widened to int16, vpmaddwd sums each product pair into int32 (no
// saturation: 2 * 255 * 127 fits), vpaddd wraps like vpdpbusd: the same int32 sums, so the same
// bits. bf16: the pair halves become floats by shifts (even element: << 16; odd: & 0xffff0000)
// and go in by fma, odd element first, as vdpbf16ps orders them.

__attribute__((target("avx2"))) __m256i MaskAvx2(int64_t valid) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(valid, 8))),
                            lanes);
}

// One row of A to int16 codes (qa + 128), kp values (zeros past K); returns sa. The same
// operations as QuantizeRowU8Scalar, eight at a time.
__attribute__((target("avx2,fma"))) float QuantizeRowI16Avx2(const float* a, int64_t k,
                                                             int64_t kp, int16_t* out) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    const __m256 v = _mm256_and_ps(_mm256_loadu_ps(a + kk), abs_mask);
    vmax = _mm256_max_ps(v, vmax);  // v > vmax ? v : vmax
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float amax = 0.0f;
  for (float v : lanes) amax = v > amax ? v : amax;
  for (; kk < k; ++kk) {
    const float v = std::fabs(a[kk]);
    amax = v > amax ? v : amax;
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  const __m256i offset = _mm256_set1_epi32(128);
  for (kk = 0; kk + 8 <= k; kk += 8) {
    __m256 x = _mm256_mul_ps(_mm256_loadu_ps(a + kk), vinv);
    x = _mm256_max_ps(x, lo);  // x > -127 ? x : -127
    x = _mm256_min_ps(x, hi);  // x < 127 ? x : 127
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(x), offset);  // 0..255
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(q, q), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kk), _mm256_castsi256_si128(packed));
  }
  for (; kk < k; ++kk) {
    float x = a[kk] * inv;
    x = x > -127.0f ? x : -127.0f;
    x = x < 127.0f ? x : 127.0f;
    out[kk] = static_cast<int16_t>(static_cast<int32_t>(std::nearbyint(x)) + 128);
  }
  for (kk = k; kk < kp; ++kk) out[kk] = 0;
  return amax / 127.0f;
}

// MR rows x one 16-column panel. acc[r][q]: columns 4q..4q+3, lane 2c + h = half h of column c.
template <int MR>
__attribute__((target("avx2,fma"))) void KernelInt8Avx2(int64_t groups, const int16_t* a,
                                                        int64_t lda, const int8_t* b,
                                                        const float* sa, const float* sw,
                                                        const int32_t* comp, const float* bias,
                                                        bool relu, int64_t valid, float* c,
                                                        int64_t ldc) {
  __m256i acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_setzero_si256();
  }
  for (int64_t g = 0; g < groups; ++g) {
    __m256i va[MR];
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      int64_t word;
      std::memcpy(&word, a + r * lda + g * 4, sizeof(word));
      va[r] = _mm256_set1_epi64x(word);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m256i vb = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + g * 64 + q * 16)));
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(va[r], vb));
      }
    }
  }
  const __m256i masks[2] = {MaskAvx2(valid), MaskAvx2(valid - 8)};
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v) {
    if (valid <= v * 8) break;
    const __m256i vcomp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(comp + v * 8));
    const __m256 vsw = _mm256_loadu_ps(sw + v * 8);
    const __m256 vbias =
        bias != nullptr ? _mm256_maskload_ps(bias + v * 8, masks[v]) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m256i h = _mm256_hadd_epi32(acc[r][2 * v], acc[r][2 * v + 1]);
      const __m256i sums = _mm256_permute4x64_epi64(h, 0xD8);  // columns 8v .. 8v+7 in order
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(sa[r]), vsw);
      const __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(sums, vcomp));
      __m256 y = _mm256_mul_ps(f, scale);
      if (bias != nullptr) y = _mm256_add_ps(y, vbias);
      if (relu) y = _mm256_max_ps(y, _mm256_setzero_ps());  // y > 0 ? y : 0
      _mm256_maskstore_ps(c + r * ldc + v * 8, masks[v], y);
    }
  }
}

constexpr int kMrAvx2Int8 = 3;
using KernelInt8Avx2Fn = void (*)(int64_t, const int16_t*, int64_t, const int8_t*, const float*,
                                  const float*, const int32_t*, const float*, bool, int64_t,
                                  float*, int64_t);
constexpr KernelInt8Avx2Fn kKernelsInt8Avx2[kMrAvx2Int8] = {
    KernelInt8Avx2<1>, KernelInt8Avx2<2>, KernelInt8Avx2<3>};

void GemmInt8Avx2(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                  const float* bias, bool relu, float* c, int64_t ldc, void* scratch) {
  int16_t* qa = reinterpret_cast<int16_t*>(AlignUp64(scratch));
  float* sa = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(qa) + kRowBlock * b.kp * 2);
  const int64_t panels = Panels(b.n);
  const int64_t groups = b.k4 / 4;
  const int64_t panel_bytes = b.kp * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      sa[r] = QuantizeRowI16Avx2(a + (i0 + r) * lda, b.k, b.k4, qa + r * b.kp);
    }
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t j0 = p * kPanel;
      for (int64_t r0 = 0; r0 < rows; r0 += kMrAvx2Int8) {
        const int mr = static_cast<int>(std::min<int64_t>(kMrAvx2Int8, rows - r0));
        kKernelsInt8Avx2[mr - 1](groups, qa + r0 * b.kp, b.kp, b.data.data() + p * panel_bytes,
                                 sa + r0, b.scales.data() + j0, b.compensation.data() + j0,
                                 bias != nullptr ? bias + j0 : nullptr, relu, b.n - j0,
                                 c + (i0 + r0) * ldc + j0, ldc);
      }
    }
  }
}

// One row of A rounded to bf16 and widened back to float (FloatToBf16's rounding, eight at a
// time), kp values (zeros past K).
__attribute__((target("avx2,fma"))) void ConvertRowBf16FloatAvx2(const float* a, int64_t k,
                                                                 int64_t kp, float* out) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
  const __m256i one = _mm256_set1_epi32(1);
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(a + kk));
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), exp_mask);
    const __m256i is_sub = _mm256_cmpeq_epi32(_mm256_and_si256(u, exp_mask), _mm256_setzero_si256());
    const __m256i lsb = _mm256_and_si256(hi, one);
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), is_nan);
    r = _mm256_blendv_epi8(r, _mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), is_sub);
    _mm256_storeu_ps(out + kk, _mm256_castsi256_ps(_mm256_slli_epi32(r, 16)));
  }
  for (; kk < k; ++kk) out[kk] = Bf16ToFloat(FloatToBf16(a[kk]));
  for (kk = k; kk < kp; ++kk) out[kk] = 0.0f;
}

// MR rows x one 16-column panel (two vectors of eight columns).
template <int MR>
__attribute__((target("avx2,fma"))) void KernelBf16Avx2(int64_t pairs, const float* a,
                                                        int64_t lda, const uint16_t* b,
                                                        const float* bias, bool relu,
                                                        int64_t valid, float* c, int64_t ldc) {
  __m256 acc[MR][2];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const __m256i odd_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  for (int64_t t = 0; t < pairs; ++t) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + t * 32));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + t * 32 + 16));
    const __m256 even0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
    const __m256 odd0 = _mm256_castsi256_ps(_mm256_and_si256(w0, odd_mask));
    const __m256 even1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
    const __m256 odd1 = _mm256_castsi256_ps(_mm256_and_si256(w1, odd_mask));
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m256 ao = _mm256_broadcast_ss(a + r * lda + 2 * t + 1);
      const __m256 ae = _mm256_broadcast_ss(a + r * lda + 2 * t);
      acc[r][0] = _mm256_fmadd_ps(ao, odd0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ao, odd1, acc[r][1]);
      acc[r][0] = _mm256_fmadd_ps(ae, even0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ae, even1, acc[r][1]);
    }
  }
  const __m256i masks[2] = {MaskAvx2(valid), MaskAvx2(valid - 8)};
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v) {
    if (valid <= v * 8) break;
    const __m256 vbias =
        bias != nullptr ? _mm256_maskload_ps(bias + v * 8, masks[v]) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      __m256 y = acc[r][v];
      if (bias != nullptr) y = _mm256_add_ps(y, vbias);
      if (relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
      _mm256_maskstore_ps(c + r * ldc + v * 8, masks[v], y);
    }
  }
}

constexpr int kMrAvx2Bf16 = 4;
using KernelBf16Avx2Fn = void (*)(int64_t, const float*, int64_t, const uint16_t*, const float*,
                                  bool, int64_t, float*, int64_t);
constexpr KernelBf16Avx2Fn kKernelsBf16Avx2[kMrAvx2Bf16] = {
    KernelBf16Avx2<1>, KernelBf16Avx2<2>, KernelBf16Avx2<3>, KernelBf16Avx2<4>};

void GemmBf16Avx2(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                  const float* bias, bool relu, float* c, int64_t ldc, void* scratch) {
  float* af = reinterpret_cast<float*>(AlignUp64(scratch));
  const int64_t panels = Panels(b.n);
  const int64_t pairs = b.k2 / 2;
  const int64_t panel_elems = b.kp * kPanel;
  for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, m - i0);
    for (int64_t r = 0; r < rows; ++r) {
      ConvertRowBf16FloatAvx2(a + (i0 + r) * lda, b.k, b.k2, af + r * b.kp);
    }
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t j0 = p * kPanel;
      for (int64_t r0 = 0; r0 < rows; r0 += kMrAvx2Bf16) {
        const int mr = static_cast<int>(std::min<int64_t>(kMrAvx2Bf16, rows - r0));
        kKernelsBf16Avx2[mr - 1](pairs, af + r0 * b.kp, b.kp, b.data.data() + p * panel_elems,
                                 bias != nullptr ? bias + j0 : nullptr, relu, b.n - j0,
                                 c + (i0 + r0) * ldc + j0, ldc);
      }
    }
  }
}

// ---- AMX --------------------------------------------------------------------------------------
// Every tile is 16 rows x 64 bytes: C tiles 0-3 (16 x 16 int32 / fp32), A tiles 4-5 (16 rows x 64
// u8 codes / 32 bf16 of K), B tiles 6-7 (16 rows of K quads / pairs x 16 columns: exactly one
// tile's worth of a packed panel, whose panels are padded to whole tiles of K). A block of up to
// 2 x 2 C tiles (32 rows x 32 columns) accumulates over K; C tiles go through a 1 KiB buffer to the
// same epilogue as the AVX-512 kernels. Rows of A past M in the last tile are zeros (their C rows
// are computed and dropped); K padding is zero in A and B.

// ldtilecfg's 64-byte operand: palette 1, tiles 8-15 unused (zero), reserved bytes zero.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads 64 bytes");

constexpr TileConfig AllTiles16x64() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = kTileBytes;
    cfg.rows[t] = kTileRows;
  }
  return cfg;
}
// A global, so all 64 bytes are in memory: GCC 12's _tile_loadconfig names only the first 8
// bytes as its memory operand, and its _tile_loadd names none (hence the barriers below).
alignas(64) constexpr TileConfig kAllTiles16x64 = AllTiles16x64();

// Makes every store issued so far visible to the tile loads that follow.
inline void CompilerBarrier() { __asm__ volatile("" ::: "memory"); }

#define RANKOPT_AMX_TARGET \
  __attribute__((target("amx-tile,amx-int8,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))

// The int8 epilogue of KernelInt8 on one 16 x 16 C tile held in `acc` (row stride 16).
RANKOPT_AMX_TARGET void EpilogueInt8Tile(const int32_t* acc, int64_t rows, const float* sa,
                                         const float* sw, const int32_t* comp, const float* bias,
                                         bool relu, __mmask16 mask, float* c, int64_t ldc) {
  const __m512i vcomp = _mm512_loadu_si512(comp);
  const __m512 vsw = _mm512_loadu_ps(sw);
  const __m512 vbias = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(sa[r]), vsw);
    const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(acc + r * 16), vcomp));
    __m512 y = _mm512_mul_ps(f, scale);
    if (bias != nullptr) y = _mm512_add_ps(y, vbias);
    if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(c + r * ldc, mask, y);
  }
}

RANKOPT_AMX_TARGET void EpilogueBf16Tile(const float* acc, int64_t rows, const float* bias,
                                         bool relu, __mmask16 mask, float* c, int64_t ldc) {
  const __m512 vbias = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    __m512 y = _mm512_load_ps(acc + r * 16);
    if (bias != nullptr) y = _mm512_add_ps(y, vbias);
    if (relu) y = _mm512_max_ps(y, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(c + r * ldc, mask, y);
  }
}

RANKOPT_AMX_TARGET void GemmInt8Amx(int64_t m, const float* a, int64_t lda, const PackedBInt8& b,
                                    const float* bias, bool relu, float* c, int64_t ldc,
                                    void* scratch) {
  uint8_t* qa = AlignUp64(scratch);
  float* sa = reinterpret_cast<float*>(qa + kRowBlock * b.kp * 2);
  const int64_t panels = Panels(b.n);
  const int64_t kblocks = b.kp / kInt8PanelK;
  const int64_t panel_bytes = b.kp * kPanel;
  alignas(64) int32_t tiles[4][kTileRows * 16];
  CompilerBarrier();
  _tile_loadconfig(&kAllTiles16x64);
  for (int64_t i0 = 0; i0 < m; i0 += kAmxRowBlock) {
    const int64_t rows = std::min(kAmxRowBlock, m - i0);
    const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
    for (int64_t r = 0; r < rows; ++r) {
      sa[r] = QuantizeRowU8Avx512(a + (i0 + r) * lda, b.k, b.kp, qa + r * b.kp);
    }
    std::memset(qa + rows * b.kp, 0, static_cast<size_t>((row_tiles * kTileRows - rows) * b.kp));
    CompilerBarrier();
    for (int64_t p = 0; p < panels; p += 2) {
      const bool two_c = p + 1 < panels;
      const int8_t* b0 = b.data.data() + p * panel_bytes;
      for (int64_t rt = 0; rt < row_tiles; rt += 2) {
        const bool two_r = rt + 1 < row_tiles;
        const uint8_t* a0 = qa + rt * kTileRows * b.kp;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          _tile_loadd(4, a0 + kb * kInt8PanelK, b.kp);
          _tile_loadd(6, b0 + kb * kTileRows * kTileBytes, kTileBytes);
          _tile_dpbusd(0, 4, 6);
          if (two_c) {
            _tile_loadd(7, b0 + panel_bytes + kb * kTileRows * kTileBytes, kTileBytes);
            _tile_dpbusd(1, 4, 7);
          }
          if (two_r) {
            _tile_loadd(5, a0 + kTileRows * b.kp + kb * kInt8PanelK, b.kp);
            _tile_dpbusd(2, 5, 6);
            if (two_c) _tile_dpbusd(3, 5, 7);
          }
        }
        // Only the tiles this block used (a 1 KiB store each).
        _tile_stored(0, tiles[0], 64);
        if (two_c) _tile_stored(1, tiles[1], 64);
        if (two_r) _tile_stored(2, tiles[2], 64);
        if (two_r && two_c) _tile_stored(3, tiles[3], 64);
        for (int dr = 0; dr < (two_r ? 2 : 1); ++dr) {
          const int64_t r0 = (rt + dr) * kTileRows;
          const int64_t nrows = std::min(kTileRows, rows - r0);
          for (int dc = 0; dc < (two_c ? 2 : 1); ++dc) {
            const int64_t j0 = (p + dc) * kPanel;
            EpilogueInt8Tile(tiles[dr * 2 + dc], nrows, sa + r0, b.scales.data() + j0,
                             b.compensation.data() + j0, bias != nullptr ? bias + j0 : nullptr,
                             relu, MaskFor(b.n - j0), c + (i0 + r0) * ldc + j0, ldc);
          }
        }
      }
    }
  }
  _tile_release();
}

RANKOPT_AMX_TARGET void GemmBf16Amx(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                                    const float* bias, bool relu, float* c, int64_t ldc,
                                    void* scratch) {
  uint16_t* ab = reinterpret_cast<uint16_t*>(AlignUp64(scratch));
  const int64_t panels = Panels(b.n);
  const int64_t kblocks = b.kp / kBf16PanelK;
  const int64_t panel_elems = b.kp * kPanel;
  const int64_t row_bytes = b.kp * 2;
  alignas(64) float tiles[4][kTileRows * 16];
  CompilerBarrier();
  _tile_loadconfig(&kAllTiles16x64);
  for (int64_t i0 = 0; i0 < m; i0 += kAmxRowBlock) {
    const int64_t rows = std::min(kAmxRowBlock, m - i0);
    const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
    for (int64_t r = 0; r < rows; ++r) {
      ConvertRowBf16Avx512(a + (i0 + r) * lda, b.k, b.kp, ab + r * b.kp);
    }
    std::memset(ab + rows * b.kp, 0,
                static_cast<size_t>((row_tiles * kTileRows - rows) * row_bytes));
    CompilerBarrier();
    for (int64_t p = 0; p < panels; p += 2) {
      const bool two_c = p + 1 < panels;
      const uint16_t* b0 = b.data.data() + p * panel_elems;
      for (int64_t rt = 0; rt < row_tiles; rt += 2) {
        const bool two_r = rt + 1 < row_tiles;
        const uint16_t* a0 = ab + rt * kTileRows * b.kp;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          _tile_loadd(4, a0 + kb * kBf16PanelK, row_bytes);
          _tile_loadd(6, b0 + kb * kTileRows * 32, kTileBytes);
          _tile_dpbf16ps(0, 4, 6);
          if (two_c) {
            _tile_loadd(7, b0 + panel_elems + kb * kTileRows * 32, kTileBytes);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (two_r) {
            _tile_loadd(5, a0 + kTileRows * b.kp + kb * kBf16PanelK, row_bytes);
            _tile_dpbf16ps(2, 5, 6);
            if (two_c) _tile_dpbf16ps(3, 5, 7);
          }
        }
        // Only the tiles this block used (a 1 KiB store each).
        _tile_stored(0, tiles[0], 64);
        if (two_c) _tile_stored(1, tiles[1], 64);
        if (two_r) _tile_stored(2, tiles[2], 64);
        if (two_r && two_c) _tile_stored(3, tiles[3], 64);
        for (int dr = 0; dr < (two_r ? 2 : 1); ++dr) {
          const int64_t r0 = (rt + dr) * kTileRows;
          const int64_t nrows = std::min(kTileRows, rows - r0);
          for (int dc = 0; dc < (two_c ? 2 : 1); ++dc) {
            const int64_t j0 = (p + dc) * kPanel;
            EpilogueBf16Tile(tiles[dr * 2 + dc], nrows, bias != nullptr ? bias + j0 : nullptr,
                             relu, MaskFor(b.n - j0), c + (i0 + r0) * ldc + j0, ldc);
          }
        }
      }
    }
  }
  _tile_release();
}

#undef RANKOPT_AMX_TARGET

}  // namespace

void GemmBf16Avx2Reference(int64_t m, const float* a, int64_t lda, const PackedBBf16& b,
                           const float* bias, bool relu, float* c, int64_t ldc) {
  std::vector<float> row(static_cast<size_t>(b.k2), 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t kk = 0; kk < b.k; ++kk) row[kk] = Bf16ToFloat(FloatToBf16(a[i * lda + kk]));
    for (int64_t j = 0; j < b.n; ++j) {
      const uint16_t* panel = b.data.data() + (j / kPanel) * b.kp * kPanel + (j % kPanel) * 2;
      float acc = 0.0f;
      for (int64_t t = 0; t < b.k2 / 2; ++t) {
        acc = std::fma(row[2 * t + 1], Bf16ToFloat(panel[t * 32 + 1]), acc);
        acc = std::fma(row[2 * t], Bf16ToFloat(panel[t * 32]), acc);
      }
      float y = bias != nullptr ? acc + bias[j] : acc;
      if (relu) y = y > 0.0f ? y : 0.0f;
      c[i * ldc + j] = y;
    }
  }
}

void GemmInt8(int64_t m, const float* a, int64_t lda, const PackedBInt8& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa, bool use_amx) {
  if (m <= 0 || b.n <= 0) return;
  if (AmxKernel(isa, use_amx)) {
    GemmInt8Amx(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else if (VnniKernel(isa)) {
    GemmInt8Avx512(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else if (Avx2Kernel(isa)) {
    GemmInt8Avx2(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else {
    GemmInt8Scalar(m, a, lda, b, bias, relu, c, ldc, AlignUp64(scratch));
  }
}

void GemmBf16(int64_t m, const float* a, int64_t lda, const PackedBBf16& b, const float* bias,
              bool relu, float* c, int64_t ldc, void* scratch, Isa isa, bool use_amx) {
  if (m <= 0 || b.n <= 0) return;
  if (AmxKernel(isa, use_amx)) {
    GemmBf16Amx(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else if (Bf16Kernel(isa)) {
    GemmBf16Avx512(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else if (Avx2Kernel(isa)) {
    GemmBf16Avx2(m, a, lda, b, bias, relu, c, ldc, scratch);
  } else {
    GemmBf16Scalar(m, a, lda, b, bias, relu, c, ldc, reinterpret_cast<float*>(AlignUp64(scratch)));
  }
}

}  // namespace rankopt
