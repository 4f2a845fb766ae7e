// AVX2 (+ FMA + F16C) lookup kernels. Compiled with -mavx2 -mfma -mf16c; only reached through
// the dispatcher after CpuSupports(Isa::kAvx2).
//
// One ymm register holds 8 columns. A bag is pooled in column blocks of up to kMaxVecs registers
// kept live across the bag's ids; the last dim % 8 columns go through a scalar tail with the same
// operations (AVX2 has no byte/half masked loads), so nothing past a row or past `out` is touched
// and results equal the scalar reference bit for bit.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "embedding/kernels/lookup_internal.h"

namespace rankopt::lookup_internal {
namespace {

constexpr int64_t kLanes = 8;
constexpr int kMaxVecs = 8;  // 64 columns per block.

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

// Columns [c, c + 8) of a row as fp32.
template <TableDType kDType>
inline __m256 LoadCols(const uint8_t* row, int64_t c) {
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
inline float LoadCol(const uint8_t* row, int64_t c) {
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

inline Int8RowTail TailOf(const uint8_t* row, int64_t dim) {
  Int8RowTail tail;
  std::memcpy(&tail, row + dim, sizeof(tail));
  return tail;
}

// Pools columns [c0, c0 + 8 * kVecs + tail) of one bag; tail < 8 columns go scalar.
template <TableDType kDType, int kVecs, bool kWeighted, bool kTail>
inline void BagBlock(const BagBlockArgs& a, int64_t c0, int tail, float* out) {
  __m256 acc[kVecs > 0 ? kVecs : 1];
  float tail_acc[kLanes] = {};
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm256_setzero_ps();
  const int64_t ct = c0 + kLanes * kVecs;  // First tail column.
  for (int64_t i = 0; i < a.len; ++i) {
    if (i + kPrefetchDistance < a.prefetch_room) {
      PrefetchRow(a.data, a.row_bytes, a.rows, a.ids[i + kPrefetchDistance]);
    }
    const uint8_t* row = a.data + static_cast<size_t>(a.ids[i]) * a.row_bytes;
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
    if constexpr (kTail) {
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
  if constexpr (kTail) {
    for (int j = 0; j < tail; ++j) {
      out[ct + j] = a.scale_result ? tail_acc[j] * a.result_scale : tail_acc[j];
    }
  }
}

template <TableDType kDType, bool kWeighted, bool kTail>
void BagRest(const BagBlockArgs& a, int64_t c0, int vecs, int tail, float* out) {
  switch (vecs) {
    case 0:
      return BagBlock<kDType, 0, kWeighted, kTail>(a, c0, tail, out);
    case 1:
      return BagBlock<kDType, 1, kWeighted, kTail>(a, c0, tail, out);
    case 2:
      return BagBlock<kDType, 2, kWeighted, kTail>(a, c0, tail, out);
    case 3:
      return BagBlock<kDType, 3, kWeighted, kTail>(a, c0, tail, out);
    case 4:
      return BagBlock<kDType, 4, kWeighted, kTail>(a, c0, tail, out);
    case 5:
      return BagBlock<kDType, 5, kWeighted, kTail>(a, c0, tail, out);
    case 6:
      return BagBlock<kDType, 6, kWeighted, kTail>(a, c0, tail, out);
    case 7:
      return BagBlock<kDType, 7, kWeighted, kTail>(a, c0, tail, out);
    default:
      return BagBlock<kDType, 8, kWeighted, kTail>(a, c0, tail, out);
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
    const int vecs = static_cast<int>(rest / kLanes);
    const int tail = static_cast<int>(rest % kLanes);
    if (tail > 0) {
      BagRest<kDType, kWeighted, true>(a, c, vecs, tail, o);
    } else if (vecs > 0) {
      BagRest<kDType, kWeighted, false>(a, c, vecs, 0, o);
    }
    pos += len;
  }
  return true;
}

template <TableDType kDType>
bool GatherTyped(const TableView& t, const int64_t* ids, int64_t n, float* out) {
  const int64_t dim = t.dim;
  const uint64_t rows = static_cast<uint64_t>(t.rows);
  PrefetchFirstRows(t, ids, n);
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<uint64_t>(ids[i]) >= rows) return false;
    if (i + kPrefetchDistance < n) {
      PrefetchRow(t.data, t.row_bytes, t.rows, ids[i + kPrefetchDistance]);
    }
    const uint8_t* row = t.data + static_cast<size_t>(ids[i]) * t.row_bytes;
    float* o = out + i * dim;
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
      _mm256_storeu_ps(o + c, x);
    }
    for (; c < dim; ++c) {
      float x = LoadCol<kDType>(row, c);
      if constexpr (kDType == TableDType::kInt8RowWise) x = std::fma(rt.scale, x, rt.bias);
      o[c] = x;
    }
  }
  return true;
}

}  // namespace

bool GatherAvx2(const TableView& t, const int64_t* ids, int64_t n, float* out) {
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

bool BagAvx2(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
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
