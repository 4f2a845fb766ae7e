// AVX-512 (F + BW + VL) lookup kernels. Compiled with -mavx512f -mavx512bw -mavx512vl; only
// reached through the dispatcher after CpuSupports(Isa::kAvx512).
//
// One zmm register holds 16 columns. A bag is pooled in column blocks of up to kMaxVecs
// registers kept live across the bag's ids; the block's last register uses a masked load and
// store, so no dim needs padding and nothing past a row or past `out` is touched (masked-off
// lanes never fault). Per column the ids are accumulated in order with the reference's exact
// operations, so results equal the scalar reference bit for bit.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "embedding/kernels/lookup_internal.h"

namespace rankopt::lookup_internal {
namespace {

constexpr int64_t kLanes = 16;
constexpr int kMaxVecs = 8;  // 128 columns per block.

struct BagBlockArgs {
  const uint8_t* data;
  size_t row_bytes;
  int64_t rows;
  int64_t dim;
  const int64_t* ids;     // This bag's ids (all in range).
  int64_t len;            // Ids in this bag.
  const float* weights;   // This bag's weights, or null.
  int64_t prefetch_room;  // ids[i] is readable for i < prefetch_room; 0 = no prefetch.
  bool scale_result;      // kMean of a nonempty bag.
  float result_scale;     // 1 / len.
};

// Prefetches row `id` (every line it spans) into L2; see kPrefetchDistance.
inline void PrefetchRow(const uint8_t* data, size_t row_bytes, int64_t rows, int64_t id) {
  if (static_cast<uint64_t>(id) >= static_cast<uint64_t>(rows)) return;
  const char* p = reinterpret_cast<const char*>(data) + static_cast<size_t>(id) * row_bytes;
  for (size_t off = 0; off < row_bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
  _mm_prefetch(p + row_bytes - 1, _MM_HINT_T1);  // A row may straddle one more line.
}

// The rows of the first kPrefetchDistance ids, which the in-loop prefetch never reaches.
inline void PrefetchFirstRows(const TableView& t, const int64_t* ids, int64_t n) {
  const int64_t first = n < kPrefetchDistance ? n : kPrefetchDistance;
  for (int64_t i = 0; i < first; ++i) PrefetchRow(t.data, t.row_bytes, t.rows, ids[i]);
}

// Columns [c, c + 16) of a row as fp32 (lanes off `mask` read as zero, their bytes unread).
template <TableDType kDType, bool kMasked>
inline __m512 LoadCols(const uint8_t* row, int64_t c, __mmask16 mask) {
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

inline Int8RowTail TailOf(const uint8_t* row, int64_t dim) {
  Int8RowTail tail;
  std::memcpy(&tail, row + dim, sizeof(tail));
  return tail;
}

// Pools columns [c0, c0 + 16 * kVecs) of one bag (the last register masked by `last`).
template <TableDType kDType, int kVecs, bool kWeighted, bool kMaskLast>
inline void BagBlock(const BagBlockArgs& a, int64_t c0, __mmask16 last, float* out) {
  __m512 acc[kVecs];
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t i = 0; i < a.len; ++i) {
    if (i + kPrefetchDistance < a.prefetch_room) {
      PrefetchRow(a.data, a.row_bytes, a.rows, a.ids[i + kPrefetchDistance]);
    }
    const uint8_t* row = a.data + static_cast<size_t>(a.ids[i]) * a.row_bytes;
    [[maybe_unused]] __m512 vs, vb, vw;
    if constexpr (kDType == TableDType::kInt8RowWise) {
      const Int8RowTail tail = TailOf(row, a.dim);
      vs = _mm512_set1_ps(tail.scale);
      vb = _mm512_set1_ps(tail.bias);
    }
    if constexpr (kWeighted) vw = _mm512_set1_ps(a.weights[i]);
    for (int v = 0; v < kVecs; ++v) {
      const bool masked = kMaskLast && v == kVecs - 1;
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
  for (int v = 0; v < kVecs; ++v) {
    const __m512 r = a.scale_result ? _mm512_mul_ps(acc[v], rs) : acc[v];
    if (kMaskLast && v == kVecs - 1) {
      _mm512_mask_storeu_ps(out + c0 + kLanes * v, last, r);
    } else {
      _mm512_storeu_ps(out + c0 + kLanes * v, r);
    }
  }
}

template <TableDType kDType, bool kWeighted>
void BagRest(const BagBlockArgs& a, int64_t c0, int vecs, __mmask16 last, float* out) {
  switch (vecs) {
    case 1:
      return BagBlock<kDType, 1, kWeighted, true>(a, c0, last, out);
    case 2:
      return BagBlock<kDType, 2, kWeighted, true>(a, c0, last, out);
    case 3:
      return BagBlock<kDType, 3, kWeighted, true>(a, c0, last, out);
    case 4:
      return BagBlock<kDType, 4, kWeighted, true>(a, c0, last, out);
    case 5:
      return BagBlock<kDType, 5, kWeighted, true>(a, c0, last, out);
    case 6:
      return BagBlock<kDType, 6, kWeighted, true>(a, c0, last, out);
    case 7:
      return BagBlock<kDType, 7, kWeighted, true>(a, c0, last, out);
    default:
      return BagBlock<kDType, 8, kWeighted, true>(a, c0, last, out);
  }
}

template <TableDType kDType, bool kWeighted>
bool BagTyped(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
              int64_t num_bags, const float* weights, bool mean, float* out) {
  const int64_t dim = t.dim;
  const uint64_t rows = static_cast<uint64_t>(t.rows);
  PrefetchFirstRows(t, ids, n);
  int64_t pos = 0;
  for (int64_t b = 0; b < num_bags; ++b) {
    const int64_t len = lengths[b];
    const int64_t* bag_ids = ids + pos;
    for (int64_t i = 0; i < len; ++i) {
      if (static_cast<uint64_t>(bag_ids[i]) >= rows) return false;
    }
    BagBlockArgs a{t.data,
                   t.row_bytes,
                   t.rows,
                   dim,
                   bag_ids,
                   len,
                   kWeighted ? weights + pos : nullptr,
                   n - pos,
                   mean && len > 0,
                   len > 0 ? 1.0f / static_cast<float>(len) : 1.0f};
    float* o = out + b * dim;
    int64_t c = 0;
    for (; dim - c > kMaxVecs * kLanes; c += kMaxVecs * kLanes) {
      BagBlock<kDType, kMaxVecs, kWeighted, false>(a, c, 0, o);
      a.prefetch_room = 0;  // Rows of this bag are cached now.
    }
    const int64_t rest = dim - c;
    if (rest > 0) {
      const int vecs = static_cast<int>((rest + kLanes - 1) / kLanes);
      const int tail = static_cast<int>(rest % kLanes);
      const __mmask16 last =
          tail == 0 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << tail) - 1);
      BagRest<kDType, kWeighted>(a, c, vecs, last, o);
    }
    pos += len;
  }
  return true;
}

template <TableDType kDType>
bool GatherTyped(const TableView& t, const int64_t* ids, int64_t n, float* out) {
  const int64_t dim = t.dim;
  const uint64_t rows = static_cast<uint64_t>(t.rows);
  const int64_t tail = dim % kLanes;
  const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1);
  PrefetchFirstRows(t, ids, n);
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<uint64_t>(ids[i]) >= rows) return false;
    if (i + kPrefetchDistance < n) {
      PrefetchRow(t.data, t.row_bytes, t.rows, ids[i + kPrefetchDistance]);
    }
    const uint8_t* row = t.data + static_cast<size_t>(ids[i]) * t.row_bytes;
    float* o = out + i * dim;
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
      _mm512_storeu_ps(o + c, x);
    }
    if (tail != 0) {
      __m512 x = LoadCols<kDType, true>(row, c, last);
      if constexpr (kDType == TableDType::kInt8RowWise) x = _mm512_fmadd_ps(vs, x, vb);
      _mm512_mask_storeu_ps(o + c, last, x);
    }
  }
  return true;
}

}  // namespace

bool GatherAvx512(const TableView& t, const int64_t* ids, int64_t n, float* out) {
  switch (t.dtype) {
    case TableDType::kFloat32:
      return GatherTyped<TableDType::kFloat32>(t, ids, n, out);
    case TableDType::kFloat16:
      return GatherTyped<TableDType::kFloat16>(t, ids, n, out);
    case TableDType::kInt8RowWise:
      return GatherTyped<TableDType::kInt8RowWise>(t, ids, n, out);
  }
  return false;
}

bool BagAvx512(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
               int64_t num_bags, const float* weights, Pooling pooling, float* out) {
  const bool mean = pooling == Pooling::kMean;
  const bool weighted = pooling == Pooling::kWeightedSum;
#define RANKOPT_BAG_CASE(dtype)                                                             \
  return weighted ? BagTyped<dtype, true>(t, ids, n, lengths, num_bags, weights, mean, out) \
                  : BagTyped<dtype, false>(t, ids, n, lengths, num_bags, weights, mean, out)
  switch (t.dtype) {
    case TableDType::kFloat32:
      RANKOPT_BAG_CASE(TableDType::kFloat32);
    case TableDType::kFloat16:
      RANKOPT_BAG_CASE(TableDType::kFloat16);
    case TableDType::kInt8RowWise:
      RANKOPT_BAG_CASE(TableDType::kInt8RowWise);
  }
#undef RANKOPT_BAG_CASE
  return false;
}

}  // namespace rankopt::lookup_internal
