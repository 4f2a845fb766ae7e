// AVX-512 (F + BW + VL) lookup kernels: the row-block policy for lookup_driver.h, its functions
// marked __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))); kAvx512Kernels is
// only called by the dispatcher after CpuSupports(Isa::kAvx512).
//
// One zmm register holds 16 columns. A bag is pooled in column blocks of up to kMaxVecs
// registers kept live across the bag's ids; the last dim % 16 columns go through one masked load
// and store, so no dim needs padding and nothing past a row or past `out` is touched (masked-off
// lanes never fault). Per column the ids are accumulated in order with the reference's exact
// operations, so results equal the scalar reference bit for bit.
#include <immintrin.h>

#include <cstdint>

#include "embedding/kernels/lookup_driver.h"
#include "embedding/kernels/lookup_internal.h"

namespace rankopt::lookup_internal {
namespace {

struct Avx512Rows {
  static constexpr int64_t kLanes = 16;

  // kKernel(args...) compiled for AVX-512: flatten inlines the driver, and these blocks, into here.
  template <auto kKernel, class... Args>
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"), flatten)) static bool Run(
      Args... args) {
    return kKernel(args...);
  }

  // Lanes [0, tail) of a register.
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) static __mmask16 TailMask(
      int tail) {
    return static_cast<__mmask16>((1u << tail) - 1);
  }

  // Columns [c, c + 16) of a row as fp32 (lanes off `mask` read as zero, their bytes unread).
  template <TableDType kDType, bool kMasked>
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) static __m512 LoadCols(
      const uint8_t* row, int64_t c, __mmask16 mask) {
    if constexpr (kDType == TableDType::kFloat32) {
      const void* p = row + 4 * c;
      return kMasked ? _mm512_maskz_loadu_ps(mask, p) : _mm512_loadu_ps(p);
    } else if constexpr (kDType == TableDType::kFloat16) {
      const void* p = row + 2 * c;
      const __m256i h = kMasked ? _mm256_maskz_loadu_epi16(mask, p)
                                : _mm256_loadu_si256(static_cast<const __m256i*>(p));
      return _mm512_cvtph_ps(h);
    } else {
      const void* p = row + c;
      const __m128i q =
          kMasked ? _mm_maskz_loadu_epi8(mask, p) : _mm_loadu_si128(static_cast<const __m128i*>(p));
      return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
    }
  }

  // kVecs registers from c0, then (kPartial) one register masked to its first `tail` lanes.
  template <TableDType kDType, int kVecs, bool kWeighted, bool kPartial>
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) static void BagBlock(
      const BagBlockArgs& a, int64_t c0, int tail, float* out) {
    constexpr int kRegs = kVecs + (kPartial ? 1 : 0);
    const __mmask16 last = kPartial ? TailMask(tail) : __mmask16{0xffff};
    __m512 acc[kRegs > 0 ? kRegs : 1];
    for (int v = 0; v < kRegs; ++v) acc[v] = _mm512_setzero_ps();
    for (int64_t i = 0; i < a.len; ++i) {
      const uint8_t* row = a.Row(i);
      [[maybe_unused]] __m512 vs, vb, vw;
      if constexpr (kDType == TableDType::kInt8RowWise) {
        const Int8RowTail rt = TailOf(row, a.dim);
        vs = _mm512_set1_ps(rt.scale);
        vb = _mm512_set1_ps(rt.bias);
      }
      if constexpr (kWeighted) vw = _mm512_set1_ps(a.weights[i]);
      for (int v = 0; v < kRegs; ++v) {
        const bool masked = kPartial && v == kVecs;
        __m512 x = masked ? LoadCols<kDType, true>(row, c0 + kLanes * v, last)
                          : LoadCols<kDType, false>(row, c0 + kLanes * v, 0);
        if constexpr (kDType == TableDType::kInt8RowWise) x = _mm512_fmadd_ps(vs, x, vb);
        if constexpr (kWeighted) {
          acc[v] = _mm512_fmadd_ps(vw, x, acc[v]);
        } else {
          acc[v] = _mm512_add_ps(acc[v], x);
        }
      }
    }
    const __m512 rs = _mm512_set1_ps(a.result_scale);
    for (int v = 0; v < kRegs; ++v) {
      const __m512 r = a.scale_result ? _mm512_mul_ps(acc[v], rs) : acc[v];
      if (kPartial && v == kVecs) {
        _mm512_mask_storeu_ps(out + c0 + kLanes * v, last, r);
      } else {
        _mm512_storeu_ps(out + c0 + kLanes * v, r);
      }
    }
  }

  template <TableDType kDType>
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) static void GatherRow(
      const uint8_t* row, int64_t dim, float* out) {
    [[maybe_unused]] __m512 vs, vb;
    if constexpr (kDType == TableDType::kInt8RowWise) {
      const Int8RowTail rt = TailOf(row, dim);
      vs = _mm512_set1_ps(rt.scale);
      vb = _mm512_set1_ps(rt.bias);
    }
    int64_t c = 0;
    for (; c + kLanes <= dim; c += kLanes) {
      __m512 x = LoadCols<kDType, false>(row, c, 0);
      if constexpr (kDType == TableDType::kInt8RowWise) x = _mm512_fmadd_ps(vs, x, vb);
      _mm512_storeu_ps(out + c, x);
    }
    if (c < dim) {
      const __mmask16 last = TailMask(static_cast<int>(dim - c));
      __m512 x = LoadCols<kDType, true>(row, c, last);
      if constexpr (kDType == TableDType::kInt8RowWise) x = _mm512_fmadd_ps(vs, x, vb);
      _mm512_mask_storeu_ps(out + c, last, x);
    }
  }
};

}  // namespace

constinit const IsaKernels kAvx512Kernels{GatherWith<Avx512Rows>, BagWith<Avx512Rows>};

}  // namespace rankopt::lookup_internal
