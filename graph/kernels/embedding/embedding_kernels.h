// Kernels that serve graph nodes from embedding/'s lookup kernels, so that tables in any storage
// type (fp32 today; fp16/int8 when a model package supplies them) plug into a graph.
//
//   _RankoptEmbeddingLookup(table [rows, dim] float32 constant, ids int32/int64 of any shape)
//     -> [ids dims..., dim] float32; attr "wrap_negative_ids" (bool, ONNX Gather semantics:
//     id < 0 reads row rows + id). An id outside the table is an error naming it.
//   _RankoptEmbeddingBag(table [rows, dim] float32 constant, ids [B, L] int32/int64,
//                        lengths int32/int64: [n], [n, 1] or a scalar (n = 1))
//     -> [R, dim] float32, R = max(B, n) (B == n, or either is 1 and broadcasts, as numpy would);
//     attr "mode": "sum" | "mean". With len = clamp(lengths[r], 0, L), row r pools ids[r, 0..len):
//       sum:  sum_{t < len} table[ids[r, t]]     (in order; an empty bag is zeros)
//       mean: that sum * (1 / len)                (zeros for an empty bag)
//     Positions t >= len are not pooled, yet every id must lie in [0, rows), as GatherV2 demands
//     of the padding too; an id outside the table is an error naming it.
// Created by the EmbeddingLookup and EmbeddingBag passes (graph/passes/embedding_lookup.h,
// graph/passes/embedding_bag.h).
#ifndef RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_
#define RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_

#include "absl/strings/string_view.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

inline constexpr absl::string_view kEmbeddingLookupOp = "_RankoptEmbeddingLookup";
inline constexpr absl::string_view kEmbeddingBagOp = "_RankoptEmbeddingBag";

// Registers the embedding kernels in both op sets.
absl::Status RegisterEmbeddingKernels(KernelRegistry* registry);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_
