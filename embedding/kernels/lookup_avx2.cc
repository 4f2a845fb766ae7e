// AVX2 (+ FMA + F16C) lookup kernels: the row-block policy for lookup_driver.h, its functions
// marked __attribute__((target("avx2,fma,f16c"))); kAvx2Kernels is only called by the dispatcher
// after CpuSupports(Isa::kAvx2).
//
// One ymm register holds 8 columns. A bag is pooled in column blocks of up to kMaxVecs registers
// kept live across the bag's ids; the last dim % 8 columns go through a scalar tail with the same
// operations (AVX2 has no byte/half masked loads), so nothing past a row or past `out` is touched
// and results equal the scalar reference bit for bit.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "embedding/kernels/lookup_driver.h"
#include "embedding/kernels/lookup_internal.h"

namespace rankopt::lookup_internal {
namespace {

struct Avx2Rows {
  static constexpr int64_t kLanes = 8;

  // kKernel(args...) compiled for AVX2: flatten inlines the driver, and these blocks, into here.
  template <auto kKernel, class... Args>
  __attribute__((target("avx2,fma,f16c"), flatten)) static bool Run(Args... args) {
    return kKernel(args...);
  }

  // Columns [c, c + 8) of a row as fp32.
  template <TableDType kDType>
  __attribute__((target("avx2,fma,f16c"))) static __m256 LoadCols(const uint8_t* row, int64_t c) {
    if constexpr (kDType == TableDType::kFloat32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row + 4 * c));
    } else if constexpr (kDType == TableDType::kFloat16) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * c)));
    } else {
      return _mm256_cvtepi32_ps(
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + c))));
    }
  }

  // Column c of a row as fp32 (the scalar tail).
  template <TableDType kDType>
  __attribute__((target("avx2,fma,f16c"))) static float LoadCol(const uint8_t* row, int64_t c) {
    if constexpr (kDType == TableDType::kFloat32) {
      float v;
      std::memcpy(&v, row + 4 * c, sizeof(v));
      return v;
    } else if constexpr (kDType == TableDType::kFloat16) {
      uint16_t h;
      std::memcpy(&h, row + 2 * c, sizeof(h));
      return _cvtsh_ss(h);
    } else {
      return static_cast<float>(row[c]);
    }
  }

  // kVecs registers from c0, then (kPartial) `tail` < 8 columns one at a time.
  template <TableDType kDType, int kVecs, bool kWeighted, bool kPartial>
  __attribute__((target("avx2,fma,f16c"))) static void BagBlock(const BagBlockArgs& a, int64_t c0,
                                                                int tail, float* out) {
    __m256 acc[kVecs > 0 ? kVecs : 1];
    float tail_acc[kLanes] = {};
    for (int v = 0; v < kVecs; ++v) acc[v] = _mm256_setzero_ps();
    const int64_t ct = c0 + kLanes * kVecs;  // First tail column.
    for (int64_t i = 0; i < a.len; ++i) {
      const uint8_t* row = a.Row(i);
      [[maybe_unused]] Int8RowTail rt{};
      [[maybe_unused]] __m256 vs, vb, vw;
      [[maybe_unused]] float w = 0.0f;
      if constexpr (kDType == TableDType::kInt8RowWise) {
        rt = TailOf(row, a.dim);
        vs = _mm256_set1_ps(rt.scale);
        vb = _mm256_set1_ps(rt.bias);
      }
      if constexpr (kWeighted) {
        w = a.weights[i];
        vw = _mm256_set1_ps(w);
      }
      for (int v = 0; v < kVecs; ++v) {
        __m256 x = LoadCols<kDType>(row, c0 + kLanes * v);
        if constexpr (kDType == TableDType::kInt8RowWise) x = _mm256_fmadd_ps(vs, x, vb);
        acc[v] = kWeighted ? _mm256_fmadd_ps(vw, x, acc[v]) : _mm256_add_ps(acc[v], x);
      }
      if constexpr (kPartial) {
        for (int j = 0; j < tail; ++j) {
          float x = LoadCol<kDType>(row, ct + j);
          if constexpr (kDType == TableDType::kInt8RowWise) x = std::fma(rt.scale, x, rt.bias);
          tail_acc[j] = kWeighted ? std::fma(w, x, tail_acc[j]) : tail_acc[j] + x;
        }
      }
    }
    const __m256 rs = _mm256_set1_ps(a.result_scale);
    for (int v = 0; v < kVecs; ++v) {
      _mm256_storeu_ps(out + c0 + kLanes * v, a.scale_result ? _mm256_mul_ps(acc[v], rs) : acc[v]);
    }
    if constexpr (kPartial) {
      for (int j = 0; j < tail; ++j) {
        out[ct + j] = a.scale_result ? tail_acc[j] * a.result_scale : tail_acc[j];
      }
    }
  }

  template <TableDType kDType>
  __attribute__((target("avx2,fma,f16c"))) static void GatherRow(const uint8_t* row, int64_t dim,
                                                                 float* out) {
    [[maybe_unused]] Int8RowTail rt{};
    [[maybe_unused]] __m256 vs, vb;
    if constexpr (kDType == TableDType::kInt8RowWise) {
      rt = TailOf(row, dim);
      vs = _mm256_set1_ps(rt.scale);
      vb = _mm256_set1_ps(rt.bias);
    }
    int64_t c = 0;
    for (; c + kLanes <= dim; c += kLanes) {
      __m256 x = LoadCols<kDType>(row, c);
      if constexpr (kDType == TableDType::kInt8RowWise) x = _mm256_fmadd_ps(vs, x, vb);
      _mm256_storeu_ps(out + c, x);
    }
    for (; c < dim; ++c) {
      float x = LoadCol<kDType>(row, c);
      if constexpr (kDType == TableDType::kInt8RowWise) x = std::fma(rt.scale, x, rt.bias);
      out[c] = x;
    }
  }
};

}  // namespace

constinit const IsaKernels kAvx2Kernels{GatherWith<Avx2Rows>, BagWith<Avx2Rows>};

}  // namespace rankopt::lookup_internal
