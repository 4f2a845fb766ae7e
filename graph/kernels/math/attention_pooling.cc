#include "graph/kernels/math/attention_pooling.h"

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_ps); known false positives.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "graph/kernels/math/vector_math.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// Rows (candidate x active position) per block: each layer is one GemmF32 of this many rows,
// enough to hide the kernel's row-tail and call costs while the block's activations
// (~rows x (2 d + 2 h1) floats) stay in L2. 64..512 measured the same within noise.
constexpr int64_t kTargetRows = 256;
// Candidates per block, bounding the qW buffer when few positions are active.
constexpr int64_t kMaxBlockCandidates = 64;
// Rows of the last hidden layer activated and scored together.
constexpr int64_t kScoreRows = 16;

constexpr int64_t kAlignFloats = 16;  // 64 bytes
int64_t RoundUp(int64_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

const char* ActName(AttentionActivation act) {
  switch (act) {
    case AttentionActivation::kNone:
      return "kNone";
    case AttentionActivation::kRelu:
      return "kRelu";
    case AttentionActivation::kSigmoid:
      return "kSigmoid";
    case AttentionActivation::kPRelu:
      return "kPRelu";
    case AttentionActivation::kDice:
      return "kDice";
    case AttentionActivation::kSwish:
      return "kSwish";
  }
  return "?";
}

// ---- Element-wise steps -------------------------------------------------------------------
// One implementation per ISA level, each doing the same IEEE operations per element: exact
// single operations (mul, add, max) or explicit fused multiply-adds, in the same order, so every
// level yields the same bits (and the compiler finds no a * b + c to contract).

// Score(h, w, n) = Dot16(h, w, n) + bias where Dot16 sums in 16 lanes and then a fixed tree:
//   s[l] = 0; for k ascending: s[k % 16] = fma(h[k], w[k], s[k % 16]);
//   s[l] += s[l + 8] (l < 8); s[l] += s[l + 4] (l < 4); s[l] += s[l + 2] (l < 2); s[0] + s[1].
struct ElementOps {
  void (*mul)(const float* a, const float* b, float* y, int64_t n);   // y = a * b
  void (*add2)(float* z, const float* a, const float* b, int64_t n);  // z = (z + a) + b
  void (*relu)(float* x, int64_t n);                                  // x = x > 0 ? x : 0
  void (*axpy)(float w, const float* k, float* acc, int64_t n);       // acc = fma(w, k, acc)
  float (*dot16)(const float* h, const float* w, int64_t n);
};

void MulScalar(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
void Add2Scalar(float* z, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) z[i] = (z[i] + a[i]) + b[i];
}
void ReluScalar(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
void AxpyScalar(float w, const float* k, float* acc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = std::fma(w, k[i], acc[i]);
}
float Dot16Scalar(const float* h, const float* w, int64_t n) {
  float s[16] = {};
  for (int64_t k = 0; k < n; ++k) s[k % 16] = std::fma(h[k], w[k], s[k % 16]);
  for (int width = 8; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) s[l] = s[l] + s[l + width];
  }
  return s[0];
}

// The last 128-bit steps of Dot16 on lanes s[0..3].
inline float Reduce4(__m128 s) {                         // SSE only: inlines into every level
  const __m128 t2 = _mm_add_ps(s, _mm_movehl_ps(s, s));  // s0+s2, s1+s3
  return _mm_cvtss_f32(_mm_add_ss(t2, _mm_shuffle_ps(t2, t2, 1)));  // (s0+s2)+(s1+s3)
}

__attribute__((target("avx2,fma"))) inline __m256i TailMask8(int64_t valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) void MulAvx2(const float* a, const float* b, float* y,
                                                 int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  if (i < n) {
    const __m256i m = TailMask8(n - i);
    _mm256_maskstore_ps(y + i, m,
                        _mm256_mul_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
  }
}
__attribute__((target("avx2,fma"))) void Add2Avx2(float* z, const float* a, const float* b,
                                                  int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(z + i), _mm256_loadu_ps(a + i));
    _mm256_storeu_ps(z + i, _mm256_add_ps(v, _mm256_loadu_ps(b + i)));
  }
  if (i < n) {
    const __m256i m = TailMask8(n - i);
    const __m256 v = _mm256_add_ps(_mm256_maskload_ps(z + i, m), _mm256_maskload_ps(a + i, m));
    _mm256_maskstore_ps(z + i, m, _mm256_add_ps(v, _mm256_maskload_ps(b + i, m)));
  }
}
__attribute__((target("avx2,fma"))) void ReluAvx2(float* x, int64_t n) {
  // max_ps(x, 0) returns its second operand for NaN and for two zeros: x > 0 ? x : 0 exactly.
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_loadu_ps(x + i), zero));
  for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
__attribute__((target("avx2,fma"))) void AxpyAvx2(float w, const float* k, float* acc, int64_t n) {
  const __m256 vw = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(acc + i,
                     _mm256_fmadd_ps(vw, _mm256_loadu_ps(k + i), _mm256_loadu_ps(acc + i)));
  }
  if (i < n) {
    const __m256i m = TailMask8(n - i);
    const __m256 v =
        _mm256_fmadd_ps(vw, _mm256_maskload_ps(k + i, m), _mm256_maskload_ps(acc + i, m));
    _mm256_maskstore_ps(acc + i, m, v);
  }
}
__attribute__((target("avx2,fma"))) float Dot16Avx2(const float* h, const float* w, int64_t n) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();  // lanes 0..7 and 8..15
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(h + k), _mm256_loadu_ps(w + k), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(h + k + 8), _mm256_loadu_ps(w + k + 8), hi);
  }
  if (k < n) {  // masked-off lanes keep their sums untouched
    const __m256i m0 = TailMask8(n - k), m1 = TailMask8(n - k - 8);
    const __m256 f0 =
        _mm256_fmadd_ps(_mm256_maskload_ps(h + k, m0), _mm256_maskload_ps(w + k, m0), lo);
    const __m256 f1 =
        _mm256_fmadd_ps(_mm256_maskload_ps(h + k + 8, m1), _mm256_maskload_ps(w + k + 8, m1), hi);
    lo = _mm256_blendv_ps(lo, f0, _mm256_castsi256_ps(m0));
    hi = _mm256_blendv_ps(hi, f1, _mm256_castsi256_ps(m1));
  }
  const __m256 t8 = _mm256_add_ps(lo, hi);
  return Reduce4(_mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1)));
}

__attribute__((target("avx512f"))) inline __mmask16 TailMask16(int64_t valid) {
  return static_cast<__mmask16>((1u << valid) - 1u);
}

__attribute__((target("avx512f"))) void MulAvx512(const float* a, const float* b, float* y,
                                                  int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask16(n - i);
    _mm512_mask_storeu_ps(
        y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}
__attribute__((target("avx512f"))) void Add2Avx512(float* z, const float* a, const float* b,
                                                   int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_add_ps(_mm512_loadu_ps(z + i), _mm512_loadu_ps(a + i));
    _mm512_storeu_ps(z + i, _mm512_add_ps(v, _mm512_loadu_ps(b + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask16(n - i);
    const __m512 v =
        _mm512_add_ps(_mm512_maskz_loadu_ps(m, z + i), _mm512_maskz_loadu_ps(m, a + i));
    _mm512_mask_storeu_ps(z + i, m, _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i)));
  }
}
__attribute__((target("avx512f"))) void ReluAvx512(float* x, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_max_ps(_mm512_loadu_ps(x + i), zero));
  if (i < n) {
    const __mmask16 m = TailMask16(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), zero));
  }
}
__attribute__((target("avx512f"))) void AxpyAvx512(float w, const float* k, float* acc, int64_t n) {
  const __m512 vw = _mm512_set1_ps(w);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(acc + i,
                     _mm512_fmadd_ps(vw, _mm512_loadu_ps(k + i), _mm512_loadu_ps(acc + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask16(n - i);
    const __m512 v =
        _mm512_fmadd_ps(vw, _mm512_maskz_loadu_ps(m, k + i), _mm512_maskz_loadu_ps(m, acc + i));
    _mm512_mask_storeu_ps(acc + i, m, v);
  }
}
__attribute__((target("avx512f"))) float Dot16Avx512(const float* h, const float* w, int64_t n) {
  __m512 s = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    s = _mm512_fmadd_ps(_mm512_loadu_ps(h + k), _mm512_loadu_ps(w + k), s);
  if (k < n) {  // masked-off lanes keep their sums untouched
    const __mmask16 m = TailMask16(n - k);
    s = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, h + k), _mm512_maskz_loadu_ps(m, w + k), s,
                              m);
  }
  const __m512 high = _mm512_shuffle_f32x4(s, s, _MM_SHUFFLE(3, 2, 3, 2));  // lanes 8..15 low
  const __m256 t8 = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_castps512_ps256(high));
  return Reduce4(_mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1)));
}

ElementOps OpsFor(Isa isa) {
  if (isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512)) {
    return {MulAvx512, Add2Avx512, ReluAvx512, AxpyAvx512, Dot16Avx512};
  }
  if (isa != Isa::kScalar && CpuSupports(Isa::kAvx2)) {
    return {MulAvx2, Add2Avx2, ReluAvx2, AxpyAvx2, Dot16Avx2};
  }
  return {MulScalar, Add2Scalar, ReluScalar, AxpyScalar, Dot16Scalar};
}

// ---- The generalized activations -----------------------------------------------------------
// Plain loops in functions compiled for the base ISA (no FMA to contract into): the same IEEE
// operations on every level; the sigmoids are SigmoidF32 (bitwise ISA-independent).

// PReLU: x = x < 0 ? slope[c] * x : x for one row of n channels; one implementation per ISA
// level, each a multiply and a select per element (the compiler does not vectorize the scalar
// select: an ordered compare may trap).
void PReluRowScalar(float* x, const float* slope, int64_t n) {
  for (int64_t c = 0; c < n; ++c) x[c] = x[c] < 0.0f ? slope[c] * x[c] : x[c];
}
__attribute__((target("avx2,fma"))) void PReluRowAvx2(float* x, const float* slope, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256 v = _mm256_loadu_ps(x + c);
    const __m256 negative = _mm256_mul_ps(_mm256_loadu_ps(slope + c), v);
    _mm256_storeu_ps(x + c, _mm256_blendv_ps(v, negative, _mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
  }
  PReluRowScalar(x + c, slope + c, n - c);
}
__attribute__((target("avx512f"))) void PReluRowAvx512(float* x, const float* slope, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c < n; c += 16) {
    const __mmask16 m = n - c >= 16 ? static_cast<__mmask16>(0xffff) : TailMask16(n - c);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + c);
    const __mmask16 negative = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
    _mm512_mask_storeu_ps(x + c, m,
                          _mm512_mask_mul_ps(v, negative, _mm512_maskz_loadu_ps(m, slope + c), v));
  }
}

void PReluRows(float* x, int64_t rows, int64_t width, const float* slope, Isa isa) {
  void (*row_fn)(float*, const float*, int64_t) = PReluRowScalar;
  if (isa == Isa::kAvx512 && CpuSupports(Isa::kAvx512)) {
    row_fn = PReluRowAvx512;
  } else if (isa != Isa::kScalar && CpuSupports(Isa::kAvx2)) {
    row_fn = PReluRowAvx2;
  }
  for (int64_t r = 0; r < rows; ++r) row_fn(x + r * width, slope, width);
}

// p = sigmoid(x * scale[c] + shift[c]); x = (alpha[c] * (1 - p)) * x + p * x. `tmp`: rows *
// width floats.
void DiceRows(float* x, int64_t rows, int64_t width, const float* scale, const float* shift,
              const float* alpha, float* tmp, Isa isa) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * width;
    float* t = tmp + r * width;
    for (int64_t c = 0; c < width; ++c) {
      const float scaled = row[c] * scale[c];
      t[c] = scaled + shift[c];
    }
  }
  SigmoidF32(tmp, tmp, rows * width, isa);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * width;
    const float* p = tmp + r * width;
    for (int64_t c = 0; c < width; ++c) {
      const float negative = alpha[c] * (1.0f - p[c]) * row[c];
      const float positive = p[c] * row[c];
      row[c] = negative + positive;
    }
  }
}

// x = x * sigmoid(x). `tmp`: n floats.
void SwishRows(float* x, int64_t n, float* tmp, Isa isa) {
  SigmoidF32(x, tmp, n, isa);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * tmp[i];
}

// The activation of a layer over `rows` rows of `width`; `tmp` (rows * width floats) is free
// scratch.
void Activate(AttentionActivation act, const AttentionPooling::ActParams& params,
              const ElementOps& ops, float* x, int64_t rows, int64_t width, float* tmp, Isa isa) {
  const int64_t n = rows * width;
  switch (act) {
    case AttentionActivation::kNone:
      return;
    case AttentionActivation::kRelu:
      return ops.relu(x, n);
    case AttentionActivation::kSigmoid:
      return SigmoidF32(x, x, n, isa);
    case AttentionActivation::kPRelu:
      return PReluRows(x, rows, width, params.slope.data(), isa);
    case AttentionActivation::kDice:
      return DiceRows(x, rows, width, params.scale.data(), params.shift.data(), params.alpha.data(),
                      tmp, isa);
    case AttentionActivation::kSwish:
      return SwishRows(x, n, tmp, isa);
  }
}

// The masked score of an active position (score a, mask value m; no mask: a).
inline float Combine(AttentionMask mode, float a, const float* m, int64_t t) {
  if (m == nullptr) return a;
  switch (mode) {
    case AttentionMask::kMultiply:
      return a * m[t];
    case AttentionMask::kAdd:
      return a + m[t];
    case AttentionMask::kSelect:
    case AttentionMask::kSelectNot:
      return a;
  }
  return a;
}

// Softmax of s[0..n) in place (header: flushes e^x to 0 below x = -87); `e`: n floats.
void SoftmaxRow(float* s, int64_t n, float* e, Isa isa) {
  float max = s[0];
  for (int64_t t = 1; t < n; ++t) max = s[t] > max ? s[t] : max;
  for (int64_t t = 0; t < n; ++t) s[t] = s[t] - max;
  ExpF32(s, e, n, isa);
  float sum = 0.0f;
  for (int64_t t = 0; t < n; ++t) {
    if (s[t] < -87.0f) e[t] = 0.0f;
    sum += e[t];
  }
  for (int64_t t = 0; t < n; ++t) s[t] = e[t] / sum;
}

using Weight = AttentionPooling::Weight;

// w [k, n] row-major packed for `precision`'s kernel (int8: quantized per column first; bf16:
// rounded once). `what` names the weight in errors.
absl::StatusOr<Weight> MakeWeight(const float* w, int64_t k, int64_t n, DensePrecision precision,
                                  const std::string& what) {
  Weight packed;
  packed.precision = precision;
  packed.k = k;
  packed.n = n;
  switch (precision) {
    case DensePrecision::kFp32:
      packed.f32 = PackGemmB(w, k, n, n, 1);
      break;
    case DensePrecision::kInt8: {
      std::vector<int8_t> codes(static_cast<size_t>(k * n));
      std::vector<float> scales(static_cast<size_t>(n));
      QuantizeWeightsInt8(w, k, n, n, 1, codes.data(), scales.data());
      absl::StatusOr<PackedBInt8> int8 = PackGemmBInt8(codes.data(), scales.data(), k, n, n, 1);
      if (!int8.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " at int8: ", int8.status().message()));
      }
      packed.int8 = *std::move(int8);
      break;
    }
    case DensePrecision::kBf16: {
      std::vector<uint16_t> bits(static_cast<size_t>(k * n));
      for (size_t i = 0; i < bits.size(); ++i) bits[i] = FloatToBf16(w[i]);
      packed.bf16 = PackGemmBBf16(bits.data(), k, n, n, 1);
      break;
    }
  }
  return packed;
}

int64_t WeightScratchBytes(const Weight& w) {
  switch (w.precision) {
    case DensePrecision::kInt8:
      return GemmInt8ScratchBytes(w.k);
    case DensePrecision::kBf16:
      return GemmBf16ScratchBytes(w.k);
    case DensePrecision::kFp32:
      break;
  }
  return 0;
}

// c = a @ w (+ bias) at w's precision; `relu` (int8/bf16 only: y > 0 ? y : 0 in the epilogue).
// `scratch`: WeightScratchBytes(w) bytes, any alignment.
void WeightGemm(const Weight& w, int64_t m, const float* a, int64_t lda, const float* bias,
                bool relu, float* c, int64_t ldc, void* scratch, Isa isa) {
  switch (w.precision) {
    case DensePrecision::kFp32:
      GemmF32(m, w.n, w.k, a, lda, 1, GemmBFromPacked(w.f32), bias, c, ldc, isa);
      return;
    case DensePrecision::kInt8:
      GemmInt8(m, a, lda, w.int8, bias, relu, c, ldc, scratch, isa);
      return;
    case DensePrecision::kBf16:
      GemmBf16(m, a, lda, w.bf16, bias, relu, c, ldc, scratch, isa);
      return;
  }
}

// One row of WeightGemm with the scalar references.
void WeightGemmReference(const Weight& w, const float* a, const float* bias, bool relu, float* c,
                         AttentionPooling::Bf16Order order) {
  switch (w.precision) {
    case DensePrecision::kFp32:
      GemmF32(1, w.n, w.k, a, w.k, 1, GemmBFromPacked(w.f32), bias, c, w.n, Isa::kScalar);
      return;
    case DensePrecision::kInt8:
      GemmInt8Reference(1, a, w.k, w.int8, bias, relu, c, w.n);
      return;
    case DensePrecision::kBf16:
      if (order == AttentionPooling::Bf16Order::kFma) {
        GemmBf16Avx2Reference(1, a, w.k, w.bf16, bias, relu, c, w.n);
      } else {
        GemmBf16Reference(1, a, w.k, w.bf16, bias, relu, c, w.n);
      }
      return;
  }
}

// The inputs of one Run, resolved once.
struct Request {
  int64_t dim;
  int64_t seq_len;
  const float* keys;
  bool shared_keys;
  const float* mask;
  bool shared_mask;
  AttentionMask mode;

  const float* Keys(int64_t b) const { return keys + (shared_keys ? 0 : b * seq_len * dim); }
  const float* Mask(int64_t b) const {
    return mask == nullptr ? nullptr : mask + (shared_mask ? 0 : b * seq_len);
  }
  // Whether the score at t depends on the MLP (header: "active").
  bool Active(const float* m, int64_t t) const {
    if (m == nullptr) return true;
    switch (mode) {
      case AttentionMask::kMultiply:
      case AttentionMask::kSelect:
        return m[t] != 0.0f;
      case AttentionMask::kAdd:
        return m[t] != -std::numeric_limits<float>::infinity();
      case AttentionMask::kSelectNot:
        return m[t] == 0.0f;
    }
    return true;
  }
  int64_t CountActive(const float* m) const {
    if (m == nullptr) return seq_len;
    int64_t n = 0;
    for (int64_t t = 0; t < seq_len; ++t) n += Active(m, t);
    return n;
  }
  // Calls fn(t) for every active position of mask row m, ascending.
  template <typename Fn>
  void ForEachActive(const float* m, Fn fn) const {
    for (int64_t t = 0; t < seq_len; ++t) {
      if (Active(m, t)) fn(t);
    }
  }
};

std::string TermList(const std::vector<AttentionTerm>& terms) {
  std::string text = "[";
  for (size_t i = 0; i < terms.size(); ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ", ", AttentionTermName(terms[i]));
  }
  return text + "]";
}

absl::Status CheckActParams(const std::string& name, const AttentionLayer& layer) {
  auto check = [&](const std::vector<float>& v, const char* what, bool scalar_ok) {
    const int64_t n = static_cast<int64_t>(v.size());
    if (n == layer.out || (scalar_ok && n == 1)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what, " has ", n,
                                                   " floats, expected [out] = [", layer.out, "]",
                                                   scalar_ok ? " or one for every channel" : ""));
  };
  if (layer.act == AttentionActivation::kPRelu) return check(layer.slope, "PReLU slope", true);
  if (layer.act == AttentionActivation::kDice) {
    RANKOPT_RETURN_IF_ERROR(check(layer.dice_scale, "Dice scale", false));
    RANKOPT_RETURN_IF_ERROR(check(layer.dice_shift, "Dice shift", false));
    return check(layer.dice_alpha, "Dice alpha", false);
  }
  return absl::OkStatus();
}

absl::Status CheckLayer(int64_t index, int64_t count, const AttentionLayer& layer,
                        int64_t expected_in, const std::vector<AttentionTerm>& terms) {
  const std::string name =
      absl::StrCat("attention layer ", index, " of ", count,
                   index == 0 ? absl::StrCat(" (the ", TermList(terms), " layer)") : "",
                   index == count - 1 ? " (the score layer)" : "");
  if (layer.in != expected_in) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": in is ", layer.in, ", expected ", expected_in,
                     index == 0 ? absl::StrCat(" (", terms.size(), " * dim)")
                                : absl::StrCat(" (the out of layer ", index - 1, ")")));
  }
  if (layer.out <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": out is ", layer.out, ", expected a positive width"));
  }
  if (static_cast<int64_t>(layer.weight.size()) != layer.in * layer.out) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": weight has ", layer.weight.size(), " floats, expected [in, out] = [",
                     layer.in, ", ", layer.out, "] row-major (", layer.in * layer.out, " floats)"));
  }
  if (static_cast<int64_t>(layer.bias.size()) != layer.out) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bias has ", layer.bias.size(),
                                                   " floats, expected [out] = [", layer.out, "]"));
  }
  RANKOPT_RETURN_IF_ERROR(CheckActParams(name, layer));
  if (index == count - 1) {
    if (layer.out != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": out is ", layer.out, ", expected 1 (the last layer gives the attention score)"));
    }
    if (layer.act != AttentionActivation::kNone) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": act is ", ActName(layer.act),
                                                     ", expected kNone (the score is linear)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* AttentionTermName(AttentionTerm term) {
  switch (term) {
    case AttentionTerm::kQuery:
      return "q";
    case AttentionTerm::kKey:
      return "k";
    case AttentionTerm::kQueryMinusKey:
      return "q-k";
    case AttentionTerm::kKeyMinusQuery:
      return "k-q";
    case AttentionTerm::kQueryTimesKey:
      return "q*k";
  }
  return "?";
}

bool ParseAttentionTerm(const std::string& text, AttentionTerm* term) {
  for (AttentionTerm t : {AttentionTerm::kQuery, AttentionTerm::kKey, AttentionTerm::kQueryMinusKey,
                          AttentionTerm::kKeyMinusQuery, AttentionTerm::kQueryTimesKey}) {
    if (text == AttentionTermName(t)) {
      *term = t;
      return true;
    }
  }
  return false;
}

absl::StatusOr<AttentionPooling> AttentionPooling::Create(int64_t dim,
                                                          std::vector<AttentionLayer> layers) {
  return Create(dim, std::move(layers), AttentionOptions());
}

absl::StatusOr<AttentionPooling> AttentionPooling::Create(int64_t dim,
                                                          std::vector<AttentionLayer> layers,
                                                          AttentionOptions options) {
  return Create(dim, std::move(layers), std::move(options), {});
}

absl::StatusOr<AttentionPooling> AttentionPooling::Create(int64_t dim,
                                                          std::vector<AttentionLayer> layers,
                                                          AttentionOptions options,
                                                          std::vector<DensePrecision> precisions) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention pooling: dim is ", dim, ", expected the embedding width (> 0)"));
  }
  if (layers.empty()) {
    return absl::InvalidArgumentError(
        "attention pooling: no layers; expected [terms*dim -> h1, hidden..., h_last -> 1]");
  }
  if (options.terms.empty()) {
    return absl::InvalidArgumentError(
        "attention pooling: no first-layer terms; expected some of q, k, q-k, k-q, q*k");
  }
  const int64_t count = static_cast<int64_t>(layers.size());
  const int64_t num_terms = static_cast<int64_t>(options.terms.size());
  int64_t in = num_terms * dim;
  for (int64_t i = 0; i < count; ++i) {
    RANKOPT_RETURN_IF_ERROR(CheckLayer(i, count, layers[i], in, options.terms));
    in = layers[i].out;
  }

  if (precisions.empty()) precisions.assign(layers.size(), DensePrecision::kFp32);
  if (static_cast<int64_t>(precisions.size()) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention pooling: ", precisions.size(), " layer precisions for ", count,
                     " layers; expected one per layer (or none: every layer fp32)"));
  }
  if (count > 1 && precisions.back() != DensePrecision::kFp32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention pooling: the score layer (layer ", count - 1, ") is a dot product kept fp32, ",
        "but its precision is ", DensePrecisionName(precisions.back()), "; expected fp32"));
  }

  AttentionPooling p;
  p.dim_ = dim;
  p.precisions_ = precisions;
  const int64_t h1 = layers[0].out;
  const std::vector<float>& w0 = layers[0].weight;
  // Fold W_0's row blocks (header): sums in term order, starting from 0.
  std::vector<float> wq(dim * h1, 0.0f), wk(dim * h1, 0.0f), wp(dim * h1, 0.0f);
  p.has_product_ = false;
  for (int64_t term = 0; term < num_terms; ++term) {
    const float* block = w0.data() + term * dim * h1;
    const AttentionTerm kind = options.terms[term];
    p.has_product_ |= kind == AttentionTerm::kQueryTimesKey;
    for (int64_t e = 0; e < dim * h1; ++e) {
      switch (kind) {
        case AttentionTerm::kQuery:
          wq[e] = wq[e] + block[e];
          break;
        case AttentionTerm::kKey:
          wk[e] = wk[e] + block[e];
          break;
        case AttentionTerm::kQueryMinusKey:
          wq[e] = wq[e] + block[e];
          wk[e] = wk[e] - block[e];
          break;
        case AttentionTerm::kKeyMinusQuery:
          wq[e] = wq[e] - block[e];
          wk[e] = wk[e] + block[e];
          break;
        case AttentionTerm::kQueryTimesKey:
          wp[e] = wp[e] + block[e];
          break;
      }
    }
  }
  const std::string first = absl::StrCat("attention layer 0 of ", count);
  RANKOPT_ASSIGN_OR_RETURN(p.wq_, MakeWeight(wq.data(), dim, h1, precisions[0], first));
  RANKOPT_ASSIGN_OR_RETURN(p.wk_, MakeWeight(wk.data(), dim, h1, precisions[0], first));
  RANKOPT_ASSIGN_OR_RETURN(p.wp_, MakeWeight(wp.data(), dim, h1, precisions[0], first));
  p.lowp_scratch_bytes_ = WeightScratchBytes(p.wq_);
  p.bias0_ = layers[0].bias;
  p.options_ = std::move(options);
  for (int64_t i = 0; i < count; ++i) {
    p.widths_.push_back(layers[i].out);
    p.acts_.push_back(layers[i].act);
    ActParams params;
    const int64_t w = layers[i].out;
    if (layers[i].act == AttentionActivation::kPRelu) {
      params.slope =
          layers[i].slope.size() == 1 ? std::vector<float>(w, layers[i].slope[0]) : layers[i].slope;
    } else if (layers[i].act == AttentionActivation::kDice) {
      params.scale = layers[i].dice_scale;
      params.shift = layers[i].dice_shift;
      params.alpha = layers[i].dice_alpha;
    }
    p.act_params_.push_back(std::move(params));
    p.max_width_ = std::max(p.max_width_, layers[i].out);
    if (i == 0) continue;
    if (i == count - 1) {  // the score layer: a per-row dot product
      p.score_weight_ = std::move(layers[i].weight);
      p.score_bias_ = layers[i].bias[0];
      continue;
    }
    RANKOPT_ASSIGN_OR_RETURN(
        Weight packed,
        MakeWeight(layers[i].weight.data(), layers[i].in, layers[i].out, precisions[i],
                   absl::StrCat("attention layer ", i, " of ", count)));
    p.lowp_scratch_bytes_ = std::max(p.lowp_scratch_bytes_, WeightScratchBytes(packed));
    p.weights_.push_back(std::move(packed));
    p.biases_.push_back(std::move(layers[i].bias));
  }
  return p;
}

namespace {

// Scratch carving, shared by ScratchFloats and Run.
struct Plan {
  int64_t row_cap;                                              // rows per block
  int64_t cand_cap;                                             // candidates per block
  int64_t kw, ka, qk, qw, buf0, buf1, srow, erow, lowp, total;  // offsets in floats
};

Plan MakePlan(int64_t batch, int64_t seq_len, int64_t dim, int64_t h1, int64_t max_width,
              int64_t lowp_bytes) {
  Plan p;
  p.row_cap = std::min(std::max(kTargetRows, seq_len), batch * seq_len);
  p.cand_cap = std::min(batch, kMaxBlockCandidates);
  int64_t at = 0;
  auto take = [&at](int64_t floats) {
    const int64_t offset = at;
    at += RoundUp(floats);
    return offset;
  };
  p.kw = take(std::max(seq_len, p.row_cap) * h1);
  p.ka = take(p.row_cap * dim);
  p.qk = take(p.row_cap * dim);
  p.qw = take(p.cand_cap * h1);
  p.buf0 = take(p.row_cap * max_width);
  p.buf1 = take(p.row_cap * max_width);
  p.srow = take(seq_len);
  p.erow = take(seq_len);
  p.lowp = take((lowp_bytes + 3) / 4);
  p.total = at;
  return p;
}

}  // namespace

int64_t AttentionPooling::ScratchFloats(int64_t batch, int64_t seq_len) const {
  if (batch <= 0 || seq_len <= 0) return 0;
  return MakePlan(batch, seq_len, dim_, widths_[0], max_width_, lowp_scratch_bytes_).total;
}

absl::Status AttentionPooling::Run(int64_t batch, const float* q, const float* keys,
                                   int64_t keys_batch, int64_t seq_len, const float* mask,
                                   int64_t mask_batch, float* out, float* scratch, Isa isa) const {
  if (batch < 0 || seq_len < 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention pooling: batch ", batch,
                                                   " and seq_len ", seq_len, " must be >= 0"));
  }
  if (batch == 0) return absl::OkStatus();
  if (keys_batch != 1 && keys_batch != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention pooling: keys_batch is ", keys_batch,
                     ", expected 1 (keys shared by the request) or batch (", batch, ")"));
  }
  if (mask != nullptr && mask_batch != 1 && mask_batch != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention pooling: mask_batch is ", mask_batch,
                     ", expected 1 (one mask for the request) or batch (", batch, ")"));
  }
  if (q == nullptr || out == nullptr || (seq_len > 0 && (keys == nullptr || scratch == nullptr))) {
    return absl::InvalidArgumentError(
        "attention pooling: q, out, keys and scratch must be non-null");
  }

  const int64_t d = dim_;
  const int64_t h1 = widths_[0];
  const Request req{
      d, seq_len, keys, keys_batch == 1, mask, mask == nullptr || mask_batch == 1, options_.mask};
  // The original DIN form: masked positions weigh 0 and the weight is a_t * m_t.
  const bool plain = options_.mask == AttentionMask::kMultiply && !options_.softmax;
  // Whether a candidate without active positions pools to 0.
  const bool inactive_pools_zero =
      !options_.softmax && (options_.mask == AttentionMask::kMultiply ||
                            (options_.mask != AttentionMask::kAdd && options_.fill == 0.0f));
  const ElementOps ops = OpsFor(isa);
  const Plan plan = MakePlan(batch, seq_len, d, h1, max_width_, lowp_scratch_bytes_);
  float* const kw = scratch + plan.kw;
  float* const ka = scratch + plan.ka;
  float* const qk = scratch + plan.qk;
  float* const qw = scratch + plan.qw;
  float* const buf[2] = {scratch + plan.buf0, scratch + plan.buf1};
  float* const srow = scratch + plan.srow;
  float* const erow = scratch + plan.erow;
  void* const lowp = scratch + plan.lowp;

  const int64_t shared_count = req.shared_mask ? req.CountActive(req.Mask(0)) : -1;
  if (seq_len == 0 || (shared_count == 0 && inactive_pools_zero)) {
    std::fill(out, out + batch * d, 0.0f);
    return absl::OkStatus();
  }

  // Shared keys: KW_t = k_t @ (Wk - Wd) + b_0 once, for the positions some candidate uses.
  int64_t t_lo = 0;
  if (req.shared_keys) {
    int64_t t_hi = 0;
    t_lo = seq_len;
    const int64_t mask_rows = req.shared_mask ? 1 : batch;
    for (int64_t b = 0; b < mask_rows; ++b) {
      req.ForEachActive(req.Mask(b), [&](int64_t t) {
        t_lo = std::min(t_lo, t);
        t_hi = std::max(t_hi, t + 1);
      });
    }
    if (t_lo < t_hi) {
      WeightGemm(wk_, t_hi - t_lo, keys + t_lo * d, d, bias0_.data(), false, kw, h1, lowp, isa);
    }
  }

  const int64_t layers = num_layers();
  for (int64_t begin = 0; begin < batch;) {
    // A block: consecutive candidates whose active rows fit in row_cap (at least one).
    int64_t nb = 0, rows = 0;
    while (begin + nb < batch && nb < plan.cand_cap) {
      const int64_t c = req.shared_mask ? shared_count : req.CountActive(req.Mask(begin + nb));
      if (nb > 0 && rows + c > plan.row_cap) break;
      rows += c;
      ++nb;
    }
    if (rows == 0 && inactive_pools_zero) {
      std::fill(out + begin * d, out + (begin + nb) * d, 0.0f);
      begin += nb;
      continue;
    }

    float* cur = buf[0];
    if (rows > 0) {
      // qW_b = q_b @ Wq; rows q_b * k_t (and k_t itself when keys are per candidate).
      WeightGemm(wq_, nb, q + begin * d, d, nullptr, false, qw, h1, lowp, isa);
      int64_t r = 0;
      for (int64_t i = 0; i < nb; ++i) {
        const float* qb = q + (begin + i) * d;
        const float* kb = req.Keys(begin + i);
        req.ForEachActive(req.Mask(begin + i), [&](int64_t t) {
          const float* k = kb + t * d;
          if (has_product_) ops.mul(qb, k, qk + r * d, d);
          if (!req.shared_keys) std::memcpy(ka + r * d, k, d * sizeof(float));
          ++r;
        });
      }
      if (!req.shared_keys) {
        WeightGemm(wk_, rows, ka, d, bias0_.data(), false, kw, h1, lowp, isa);
      }

      // Layer 0: z = ((q*k) @ Wp + qW_b) + KW_t (no q*k term: (0 + qW_b) + KW_t), then act.
      if (has_product_) {
        WeightGemm(wp_, rows, qk, d, nullptr, false, cur, h1, lowp, isa);
      } else {
        std::fill(cur, cur + rows * h1, 0.0f);
      }
      // One candidate's rows at a time (a few KiB: they stay in L1 between the add and the
      // activation; every step is per element, so the bits do not depend on the grouping).
      r = 0;
      for (int64_t i = 0; i < nb; ++i) {
        const float* qwb = qw + i * h1;
        const int64_t first = r;
        req.ForEachActive(req.Mask(begin + i), [&](int64_t t) {
          const float* kwt = req.shared_keys ? kw + (t - t_lo) * h1 : kw + r * h1;
          float* z = cur + r * h1;
          ops.add2(z, qwb, kwt, h1);
          ++r;
        });
        if (r > first) {
          Activate(acts_[0], act_params_[0], ops, cur + first * h1, r - first, h1,
                   buf[1] + first * h1, isa);
        }
      }

      // Hidden layers, then the score a_r = Dot16(h_r, w) + b into the other buffer.
      int64_t width = h1;
      bool scored = false;
      for (int64_t l = 1; l + 1 < layers; ++l) {
        float* next = buf[l % 2];
        const int64_t w = widths_[l];
        // int8/bf16: relu in the GEMM's epilogue (the same bits as the separate step).
        const bool fused_relu = acts_[l] == AttentionActivation::kRelu &&
                                weights_[l - 1].precision != DensePrecision::kFp32;
        WeightGemm(weights_[l - 1], rows, cur, width, biases_[l - 1].data(), fused_relu, next, w,
                   lowp, isa);
        // The last hidden layer's activation and the score together, kScoreRows rows at a time
        // (in L1 between the two); the score overwrites the consumed input rows of `cur`.
        if (l + 2 == layers) {
          for (int64_t s = 0; s < rows; s += kScoreRows) {
            const int64_t n = std::min(kScoreRows, rows - s);
            if (!fused_relu) {
              Activate(acts_[l], act_params_[l], ops, next + s * w, n, w, cur + s * width, isa);
            }
            for (int64_t i = s; i < s + n; ++i) {
              cur[i] = ops.dot16(next + i * w, score_weight_.data(), w) + score_bias_;
            }
          }
          scored = true;
          break;
        }
        if (!fused_relu) Activate(acts_[l], act_params_[l], ops, next, rows, w, cur, isa);
        cur = next;
        width = w;
      }
      if (layers > 1 && !scored) {
        float* score = buf[(layers - 1) % 2];
        for (int64_t i = 0; i < rows; ++i) {
          score[i] = ops.dot16(cur + i * width, score_weight_.data(), width) + score_bias_;
        }
        cur = score;
      }
    }

    int64_t r = 0;
    for (int64_t i = 0; i < nb; ++i) {
      float* o = out + (begin + i) * d;
      std::fill(o, o + d, 0.0f);
      const float* kb = req.Keys(begin + i);
      const float* m = req.Mask(begin + i);
      if (plain) {
        // pooled_b = sum_t (a_t * m_t) * k_t over active t, ascending.
        req.ForEachActive(m, [&](int64_t t) {
          const float a = m == nullptr ? cur[r] : cur[r] * m[t];
          ops.axpy(a, kb + t * d, o, d);
          ++r;
        });
        continue;
      }
      // The masked scores of every position, the softmax, then the weighted sum.
      for (int64_t t = 0; t < seq_len; ++t) {
        if (req.Active(m, t)) {
          srow[t] = Combine(options_.mask, cur[r++], m, t);
        } else {
          srow[t] = options_.mask == AttentionMask::kMultiply ? 0.0f
                    : options_.mask == AttentionMask::kAdd    ? m[t]
                                                              : options_.fill;
        }
      }
      if (options_.softmax) SoftmaxRow(srow, seq_len, erow, isa);
      for (int64_t t = 0; t < seq_len; ++t) {
        if (srow[t] != 0.0f) ops.axpy(srow[t], kb + t * d, o, d);
      }
    }
    begin += nb;
  }
  return absl::OkStatus();
}

std::string AttentionPooling::KernelName(Isa isa) const {
  const int64_t gemm_layers = std::max<int64_t>(num_layers() - 1, 1);
  std::string name;
  for (int64_t l = 0; l < gemm_layers; ++l) {
    absl::StrAppend(&name, l == 0 ? "" : ",", DenseKernelName(precisions_[l], isa));
  }
  return name;
}

void AttentionPooling::RunReference(int64_t batch, const float* q, const float* keys,
                                    int64_t keys_batch, int64_t seq_len, const float* mask,
                                    int64_t mask_batch, float* out, Bf16Order order) const {
  const int64_t d = dim_;
  const int64_t h1 = widths_[0];
  const int64_t layers = num_layers();
  const ElementOps ops = OpsFor(Isa::kScalar);
  const Request req{
      d, seq_len, keys, keys_batch == 1, mask, mask == nullptr || mask_batch == 1, options_.mask};
  const bool plain = options_.mask == AttentionMask::kMultiply && !options_.softmax;
  const size_t width_max = static_cast<size_t>(std::max(max_width_, h1));
  std::vector<float> qw(h1), kw(h1), qk(d), x(width_max), y(width_max), tmp(width_max);
  std::vector<float> s(seq_len), e(seq_len);
  for (int64_t b = 0; b < batch; ++b) {
    const float* qb = q + b * d;
    const float* kb = req.Keys(b);
    const float* m = req.Mask(b);
    float* o = out + b * d;
    std::fill(o, o + d, 0.0f);
    if (seq_len == 0) continue;
    WeightGemmReference(wq_, qb, nullptr, false, qw.data(), order);
    for (int64_t t = 0; t < seq_len; ++t) {
      if (!req.Active(m, t)) {
        s[t] = options_.mask == AttentionMask::kMultiply ? 0.0f
               : options_.mask == AttentionMask::kAdd    ? m[t]
                                                         : options_.fill;
        continue;
      }
      const float* k = kb + t * d;
      // Layer 0: ((q*k) @ Wp + qW_b) + (k @ Wk + b_0), then its activation.
      WeightGemmReference(wk_, k, bias0_.data(), false, kw.data(), order);
      if (has_product_) {
        ops.mul(qb, k, qk.data(), d);
        WeightGemmReference(wp_, qk.data(), nullptr, false, x.data(), order);
      } else {
        std::fill(x.begin(), x.begin() + h1, 0.0f);
      }
      ops.add2(x.data(), qw.data(), kw.data(), h1);
      Activate(acts_[0], act_params_[0], ops, x.data(), 1, h1, tmp.data(), Isa::kScalar);
      int64_t width = h1;
      bool scored = false;
      for (int64_t l = 1; l + 1 < layers; ++l) {
        const bool fused_relu = acts_[l] == AttentionActivation::kRelu &&
                                weights_[l - 1].precision != DensePrecision::kFp32;
        WeightGemmReference(weights_[l - 1], x.data(), biases_[l - 1].data(), fused_relu, y.data(),
                            order);
        width = widths_[l];
        if (!fused_relu) {
          Activate(acts_[l], act_params_[l], ops, y.data(), 1, width, tmp.data(), Isa::kScalar);
        }
        std::swap(x, y);
      }
      const float a =
          layers > 1 ? ops.dot16(x.data(), score_weight_.data(), width) + score_bias_ : x[0];
      s[t] = plain ? (m == nullptr ? a : a * m[t]) : Combine(options_.mask, a, m, t);
    }
    if (plain) {
      for (int64_t t = 0; t < seq_len; ++t) {
        if (req.Active(m, t)) ops.axpy(s[t], kb + t * d, o, d);
      }
      continue;
    }
    if (options_.softmax) SoftmaxRow(s.data(), seq_len, e.data(), Isa::kScalar);
    for (int64_t t = 0; t < seq_len; ++t) {
      if (s[t] != 0.0f) ops.axpy(s[t], kb + t * d, o, d);
    }
  }
}

void AttentionPoolingReference(int64_t dim, const std::vector<AttentionLayer>& layers,
                               int64_t batch, const float* q, const float* keys, int64_t keys_batch,
                               int64_t seq_len, const float* mask, int64_t mask_batch, float* out) {
  AttentionPoolingReference(dim, layers, AttentionOptions(), batch, q, keys, keys_batch, seq_len,
                            mask, mask_batch, out);
}

void AttentionPoolingReference(int64_t dim, const std::vector<AttentionLayer>& layers,
                               const AttentionOptions& options, int64_t batch, const float* q,
                               const float* keys, int64_t keys_batch, int64_t seq_len,
                               const float* mask, int64_t mask_batch, float* out) {
  const int64_t num_terms = static_cast<int64_t>(options.terms.size());
  int64_t max_width = num_terms * dim;
  for (const AttentionLayer& layer : layers) max_width = std::max(max_width, layer.out);
  std::vector<float> x(max_width), y(max_width), s(seq_len);
  for (int64_t b = 0; b < batch; ++b) {
    const float* qb = q + b * dim;
    const float* kb = keys + (keys_batch == 1 ? 0 : b) * seq_len * dim;
    const float* mb = mask == nullptr ? nullptr : mask + (mask_batch == 1 ? 0 : b) * seq_len;
    float* o = out + b * dim;
    for (int64_t j = 0; j < dim; ++j) o[j] = 0.0f;
    for (int64_t t = 0; t < seq_len; ++t) {
      const float* k = kb + t * dim;
      for (int64_t term = 0; term < num_terms; ++term) {
        float* xt = x.data() + term * dim;
        for (int64_t j = 0; j < dim; ++j) {
          switch (options.terms[term]) {
            case AttentionTerm::kQuery:
              xt[j] = qb[j];
              break;
            case AttentionTerm::kKey:
              xt[j] = k[j];
              break;
            case AttentionTerm::kQueryMinusKey:
              xt[j] = qb[j] - k[j];
              break;
            case AttentionTerm::kKeyMinusQuery:
              xt[j] = k[j] - qb[j];
              break;
            case AttentionTerm::kQueryTimesKey:
              xt[j] = qb[j] * k[j];
              break;
          }
        }
      }
      for (const AttentionLayer& layer : layers) {
        for (int64_t j = 0; j < layer.out; ++j) {
          float acc = 0.0f;
          for (int64_t i = 0; i < layer.in; ++i) acc += x[i] * layer.weight[i * layer.out + j];
          acc += layer.bias[j];
          switch (layer.act) {
            case AttentionActivation::kNone:
              break;
            case AttentionActivation::kRelu:
              acc = acc > 0.0f ? acc : 0.0f;
              break;
            case AttentionActivation::kSigmoid:
              acc = 1.0f / (1.0f + std::exp(-acc));
              break;
            case AttentionActivation::kPRelu: {
              const float slope = layer.slope.size() == 1 ? layer.slope[0] : layer.slope[j];
              acc = acc < 0.0f ? slope * acc : acc;
              break;
            }
            case AttentionActivation::kDice: {
              const float p =
                  1.0f / (1.0f + std::exp(-(acc * layer.dice_scale[j] + layer.dice_shift[j])));
              acc = layer.dice_alpha[j] * (1.0f - p) * acc + p * acc;
              break;
            }
            case AttentionActivation::kSwish:
              acc = acc / (1.0f + std::exp(-acc));
              break;
          }
          y[j] = acc;
        }
        std::swap(x, y);
      }
      const float a = x[0];
      if (mb == nullptr) {
        s[t] = a;
        continue;
      }
      switch (options.mask) {
        case AttentionMask::kMultiply:
          s[t] = a * mb[t];
          break;
        case AttentionMask::kAdd:
          s[t] = a + mb[t];
          break;
        case AttentionMask::kSelect:
          s[t] = mb[t] != 0.0f ? a : options.fill;
          break;
        case AttentionMask::kSelectNot:
          s[t] = mb[t] != 0.0f ? options.fill : a;
          break;
      }
    }
    if (options.softmax && seq_len > 0) {
      float max = s[0];
      for (int64_t t = 1; t < seq_len; ++t) max = std::max(max, s[t]);
      float sum = 0.0f;
      for (int64_t t = 0; t < seq_len; ++t) {
        s[t] = std::exp(s[t] - max);
        sum += s[t];
      }
      for (int64_t t = 0; t < seq_len; ++t) s[t] /= sum;
    }
    for (int64_t t = 0; t < seq_len; ++t) {
      for (int64_t j = 0; j < dim; ++j) o[j] += s[t] * kb[t * dim + j];
    }
  }
}

}  // namespace rankopt
