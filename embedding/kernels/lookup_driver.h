// The part of Gather and Bag every SIMD ISA shares, written once: id checks, software prefetch,
// bag bookkeeping, and cutting a row into column blocks. Templates over an ISA row-block policy
// that does the vector work:
//
//   struct Policy {
//     static constexpr int64_t kLanes;  // fp32 columns per register.
//     // Returns kKernel(args...), with kKernel and all it calls inlined into code for this ISA:
//     // the one function marked __attribute__((target(ISA), flatten)). Arguments by value, as
//     // kernel parameters (a lambda's captures would be reloaded after every vector store).
//     template <auto kKernel, class... Args> static bool Run(Args... args);
//     // Pools columns [c0, c0 + kLanes * kVecs + (kPartial ? tail : 0)) of one bag into out,
//     // reading nothing past those columns of a row; tail is in [1, kLanes) when kPartial.
//     template <TableDType kDType, int kVecs, bool kWeighted, bool kPartial>
//     static void BagBlock(const BagBlockArgs& a, int64_t c0, int tail, float* out);
//     // out[0, dim) = dequant(row).
//     template <TableDType kDType>
//     static void GatherRow(const uint8_t* row, int64_t dim, float* out);
//   };
//
// Nothing here has a target attribute or needs more than baseline x86-64. An ISA file marks its
// policy's functions with __attribute__((target(...))), and Run also with `flatten`, which
// inlines the driver's loops and, through them, the policy's blocks into code compiled for that
// ISA. (GCC will not inline intrinsics into a function without the target, and a target on these
// templates would tie them to one ISA.) Any out-of-line copy of this code is baseline, so the ISA
// files may share it; the ISA file's kernel table is {GatherWith<P>, BagWith<P>}.
#ifndef RANKOPT_EMBEDDING_KERNELS_LOOKUP_DRIVER_H_
#define RANKOPT_EMBEDDING_KERNELS_LOOKUP_DRIVER_H_

#include <xmmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "embedding/kernels/lookup.h"
#include "embedding/kernels/lookup_internal.h"
#include "embedding/table_view.h"

namespace rankopt::lookup_internal {

// Registers a bag keeps live across its ids: a row is pooled in blocks of kMaxVecs * kLanes
// columns.
inline constexpr int kMaxVecs = 8;
inline constexpr auto kRegisterCounts = std::make_integer_sequence<int, kMaxVecs + 1>{};

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

// The fp32 scale and bias after an int8 row's `dim` values.
inline Int8RowTail TailOf(const uint8_t* row, int64_t dim) {
  Int8RowTail tail;
  std::memcpy(&tail, row + dim, sizeof(tail));
  return tail;
}

// One bag, as a policy's BagBlock sees it.
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

  // The row of this bag's i-th id; first prefetches the row kPrefetchDistance ids ahead.
  const uint8_t* Row(int64_t i) const {
    if (i + kPrefetchDistance < prefetch_room) {
      PrefetchRow(data, row_bytes, rows, ids[i + kPrefetchDistance]);
    }
    return data + static_cast<size_t>(ids[i]) * row_bytes;
  }
};

// The last columns of a bag: `vecs` (0..kMaxVecs) full registers, then `tail` columns when
// kPartial. One BagBlock instance per register count, picked by a fold over kVecs.
template <class P, TableDType kDType, bool kWeighted, bool kPartial, int... kVecs>
void BagRest(std::integer_sequence<int, kVecs...>, const BagBlockArgs& a, int64_t c0, int vecs,
             int tail, float* out) {
  (void)((vecs == kVecs &&
          (P::template BagBlock<kDType, kVecs, kWeighted, kPartial>(a, c0, tail, out), true)) ||
         ...);
}

template <class P, TableDType kDType, bool kWeighted>
bool BagTyped(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
              int64_t num_bags, const float* weights, bool mean, float* out) {
  constexpr int64_t kLanes = P::kLanes;
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
      P::template BagBlock<kDType, kMaxVecs, kWeighted, false>(a, c, 0, o);
      a.prefetch_room = 0;  // Rows of this bag are cached now.
    }
    const int64_t rest = dim - c;
    const int vecs = static_cast<int>(rest / kLanes);
    const int tail = static_cast<int>(rest % kLanes);
    if (tail > 0) {
      BagRest<P, kDType, kWeighted, true>(kRegisterCounts, a, c, vecs, tail, o);
    } else if (vecs > 0) {
      BagRest<P, kDType, kWeighted, false>(kRegisterCounts, a, c, vecs, 0, o);
    }
    pos += len;
  }
  return true;
}

// Each (dtype, pooling) kernel is a function of its own, compiled for P's ISA by P::Run.
template <class P, TableDType kDType>
bool BagPooled(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
               int64_t num_bags, const float* weights, Pooling pooling, float* out) {
  if (pooling == Pooling::kWeightedSum) {
    return P::template Run<BagTyped<P, kDType, true>>(t, ids, n, lengths, num_bags, weights, false,
                                                      out);
  }
  return P::template Run<BagTyped<P, kDType, false>>(t, ids, n, lengths, num_bags, weights,
                                                     pooling == Pooling::kMean, out);
}

// A BagFn for policy P.
template <class P>
bool BagWith(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
             int64_t num_bags, const float* weights, Pooling pooling, float* out) {
  switch (t.dtype) {
    case TableDType::kFloat32:
      return BagPooled<P, TableDType::kFloat32>(t, ids, n, lengths, num_bags, weights, pooling,
                                                out);
    case TableDType::kFloat16:
      return BagPooled<P, TableDType::kFloat16>(t, ids, n, lengths, num_bags, weights, pooling,
                                                out);
    case TableDType::kInt8RowWise:
      return BagPooled<P, TableDType::kInt8RowWise>(t, ids, n, lengths, num_bags, weights, pooling,
                                                    out);
  }
  return false;
}

template <class P, TableDType kDType>
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
    P::template GatherRow<kDType>(row, dim, out + i * dim);
  }
  return true;
}

// A GatherFn for policy P.
template <class P>
bool GatherWith(const TableView& t, const int64_t* ids, int64_t n, float* out) {
  switch (t.dtype) {
    case TableDType::kFloat32:
      return P::template Run<GatherTyped<P, TableDType::kFloat32>>(t, ids, n, out);
    case TableDType::kFloat16:
      return P::template Run<GatherTyped<P, TableDType::kFloat16>>(t, ids, n, out);
    case TableDType::kInt8RowWise:
      return P::template Run<GatherTyped<P, TableDType::kInt8RowWise>>(t, ids, n, out);
  }
  return false;
}

}  // namespace rankopt::lookup_internal

#endif  // RANKOPT_EMBEDDING_KERNELS_LOOKUP_DRIVER_H_
