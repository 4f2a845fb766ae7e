// Per-ISA entry points behind lookup.h. Callers (lookup.cc) have already checked the view, the
// lengths and `out`; these kernels still check every id. The AVX2 and AVX-512 kernels live in
// target-attributed functions (no per-file -m flags) built on the shared driver in
// lookup_driver.h, so inline code shared between files is always compiled for baseline x86-64.
#ifndef RANKOPT_EMBEDDING_KERNELS_LOOKUP_INTERNAL_H_
#define RANKOPT_EMBEDDING_KERNELS_LOOKUP_INTERNAL_H_

#include <cstdint>

#include "embedding/kernels/lookup.h"
#include "embedding/table_view.h"

namespace rankopt::lookup_internal {

// Software prefetch of upcoming rows: each kernel call first prefetches the rows of its first
// kPrefetchDistance ids, then, at id i, the row of id i + kPrefetchDistance. Into L2 (prefetcht1),
// not L1: on the AMD EPYC (Zen 4) this was measured on, prefetcht0 holds an L1 miss buffer per line
// until the line arrives, which caps a core at ~105M random DRAM lines/s; prefetcht1 reaches ~150M
// (bench/embedding/lookup_bench.cc, Stream/RandomLinesPrefetch*). Bag of 50 on a 1 GiB table, dim
// 16: +40% fp32, +60% int8 over prefetcht0 at distance 16; L2-resident tables and bags of 1 within
// a few percent either way.
inline constexpr int64_t kPrefetchDistance = 32;

// REQUIRES: view consistent; out holds n * t.dim floats.
using GatherFn = bool (*)(const TableView& t, const int64_t* ids, int64_t n, float* out);
// REQUIRES: view consistent; lengths nonnegative and summing to n; weights non-null when
// weighted and n > 0; out holds num_bags * t.dim floats.
using BagFn = bool (*)(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
                       int64_t num_bags, const float* weights, Pooling pooling, float* out);

bool GatherScalar(const TableView& t, const int64_t* ids, int64_t n, float* out);
bool BagScalar(const TableView& t, const int64_t* ids, int64_t n, const int32_t* lengths,
               int64_t num_bags, const float* weights, Pooling pooling, float* out);

// The kernels of one SIMD ISA. Call only after CpuSupports(that ISA).
struct IsaKernels {
  GatherFn gather;
  BagFn bag;
};
extern const IsaKernels kAvx2Kernels;    // lookup_avx2.cc
extern const IsaKernels kAvx512Kernels;  // lookup_avx512.cc

}  // namespace rankopt::lookup_internal

#endif  // RANKOPT_EMBEDDING_KERNELS_LOOKUP_INTERNAL_H_
