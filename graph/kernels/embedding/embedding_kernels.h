// Kernels that serve graph nodes from embedding/'s lookup kernels, so that tables in any storage
// type (fp32, fp16, int8 row-wise) plug into a graph.
//
//   _RankoptEmbeddingLookup(table constant, ids int32/int64 of any shape)
//     -> [ids dims..., dim] float32; attr "wrap_negative_ids" (bool, ONNX Gather semantics:
//     id < 0 reads row rows + id). An id outside the table is an error naming it.
//   _RankoptEmbeddingBag(table constant, ids [B, L] int32/int64,
//                        lengths int32/int64: [n], [n, 1] or a scalar (n = 1))
//     -> [R, dim] float32, R = max(B, n) (B == n, or either is 1 and broadcasts, as numpy would);
//     attr "mode": "sum" | "mean". With len = clamp(lengths[r], 0, L), row r pools ids[r, 0..len):
//       sum:  sum_{t < len} table[ids[r, t]]     (in order; an empty bag is zeros)
//       mean: that sum * (1 / len)                (zeros for an empty bag)
//     Positions t >= len are not pooled, yet every id must lie in [0, rows), as GatherV2 demands
//     of the padding too; an id outside the table is an error naming it.
//
// The table (input 0, a Const) is stored as attr "table_dtype" says:
//   absent or "fp32": a [rows, dim] float32 constant (what the passes create);
//   "int8" / "fp16":  a [rows, row_bytes] uint8 constant holding embedding/'s rows (int8: dim
//                     codes then a float scale and bias; fp16: dim halves; embedding/table_view.h),
//                     with attr "table_dim" (int) = dim and row_bytes == RowBytes(dtype, dim).
// Values are dequant(row) as embedding/kernels/lookup.h defines it, so a lookup equals a Gather
// of the dequantized fp32 table bit for bit. A table that does not match its attrs is an error
// when the plan is built, never a read past a row.
//
// Remote tables (serving/remote/): the table is not in the graph but in a Redis Cluster, and each
// request feeds the rows it needs:
//   _RankoptRemoteEmbeddingLookup(rows, ids, keys), _RankoptRemoteEmbeddingBag(rows, ids, lengths,
//   keys): `rows` the request's fetched rows ([k, dim] float32 or [k, row_bytes] uint8 as
//   table_dtype says), `keys` their table ids ([k] int64, strictly increasing); attrs table_dtype,
//   table_dim and table_rows (the whole table's rows). Each id is range-checked against
//   table_rows exactly as above, then looked up among `keys`, and the fetched rows go through the
//   same lookup kernels: scores equal the local table's bit for bit. An in-range id missing from
//   `keys` is an internal error, never a wrong row.
// Several lookups concatenated (graph/passes/fuse_multi_lookup.h, O2):
//   _RankoptMultiLookup(table_0, ids_0, ..., table_{F-1}, ids_{F-1}) -> out_dims float32
//     every ids_f holds the same number n of int32/int64 ids; the output, viewed as [n, W] with
//     W = sum_f dim_f, has row o = concat_f dequant(table_f, ids_f[o]) (each id range-checked, and
//     wrapped as above with "wrap_negative_ids"). Attr "out_dims" (ints) is the output shape with
//     at most one -1, the dim that makes n * W elements. Tables are fp32 unless attrs
//     "table_dtypes" (strings, one per field: "fp32" / "fp16" / "int8") and "table_dims" say
//     otherwise, stored as above. Bitwise equal to the lookups, Unsqueezes and Concat it replaces.
// PyTorch's nn.EmbeddingBag with offsets, as the TorchScript exporter's ONNX Loop computes it
// (graph/onnx/onnx_embedding_bag.h rewrites that Loop into this op at import):
//   _RankoptEmbeddingBagOffsets(weight [rows, dim] float32, indices [n] int32/int64,
//                               offsets [B + 1] int32/int64[, per_sample_weights [n] float32])
//     -> [B, dim] float32 (B = 0 when offsets is empty); attr "mode": "sum" | "mean" | "max".
//     offsets include the last one (torch's include_last_offset: the exporter appends n when the
//     model did not): bag b pools rows weight[indices[t]] (times per_sample_weights[t] if given)
//     for t in [offsets[b], offsets[b+1]):
//       sum:  in order from 0            (an empty bag is zeros: ReduceSum of an empty set)
//       mean: that sum / count           (an empty bag is zeros, as ONNX Runtime's ReduceMean)
//       max:  elementwise max            (an empty bag is -inf: ONNX ReduceMax of an empty set;
//                                         zeros with int attr empty_is_zero = 1, as torch and
//                                         its dynamo export)
//     0 <= offsets[0] <= ... <= offsets[B] <= n, and every pooled id in [-rows, rows) (a negative
//     id reads row rows + id, as ONNX Gather), else an error naming the node and the position.
// Created by the EmbeddingLookup and EmbeddingBag passes (graph/passes/embedding_lookup.h,
// graph/passes/embedding_bag.h); quantized by serving/table_quantization.h.
#ifndef RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_
#define RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

inline constexpr absl::string_view kEmbeddingLookupOp = "_RankoptEmbeddingLookup";
inline constexpr absl::string_view kEmbeddingBagOp = "_RankoptEmbeddingBag";
inline constexpr absl::string_view kRemoteEmbeddingLookupOp = "_RankoptRemoteEmbeddingLookup";
inline constexpr absl::string_view kRemoteEmbeddingBagOp = "_RankoptRemoteEmbeddingBag";
inline constexpr absl::string_view kMultiLookupOp = "_RankoptMultiLookup";
inline constexpr absl::string_view kOffsetsEmbeddingBagOp = "_RankoptEmbeddingBagOffsets";
// The attrs of a quantized table (see above).
inline constexpr absl::string_view kEmbeddingTableDTypeAttr = "table_dtype";
inline constexpr absl::string_view kEmbeddingTableDimAttr = "table_dim";
// A remote table's row count.
inline constexpr absl::string_view kEmbeddingTableRowsAttr = "table_rows";

// Registers the embedding kernels in both op sets.
absl::Status RegisterEmbeddingKernels(KernelRegistry* registry);

// Registers _RankoptMultiLookup (multi_lookup.cc); called by RegisterEmbeddingKernels.
absl::Status RegisterMultiLookupKernel(KernelRegistry* registry);

// _RankoptEmbeddingBagOffsets's attr "mode" (offsets_bag.cc).
enum class OffsetsBagMode { kSum, kMean, kMax };
absl::StatusOr<OffsetsBagMode> ParseOffsetsBagMode(absl::string_view mode);

// Registers _RankoptEmbeddingBagOffsets (offsets_bag.cc); called by RegisterEmbeddingKernels.
absl::Status RegisterOffsetsBagKernel(KernelRegistry* registry);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_EMBEDDING_EMBEDDING_KERNELS_H_
