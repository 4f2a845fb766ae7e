// The embedding-bag pass: masked sum pooling over a gathered sequence, as a frozen TF graph
// spells tf.reduce_sum(embeddings * mask[..., None], axis=1) with tf.sequence_mask,
//
//   Sum(Mul(GatherV2(table, ids [B, L]),                       table: a constant float32
//           Cast<float>(ExpandDims(Less(iota, lens), -1))),    [rows, dim] of finite values
//       axis 1, keep_dims false)
//   iota: Range(0, maxlen, 1) with maxlen provably L, or a constant [0, 1, ..., L-1]
//   lens: [n, 1] ints; Cast(ExpandDims(lengths [n], -1)) (sequence_mask's own form, the Cast
//         exact) or a constant
//
// (Mul operands in either order, Identity chains around the Gather, the Gather as GatherV2 axis 0,
// Gather or an unwrapped _RankoptEmbeddingLookup) becomes one _RankoptEmbeddingBag(table, ids,
// lengths) node with mode "sum", served by embedding/'s Bag kernel: the same floats, since the
// reduction adds its terms in order and a masked term is a zero. A constant lens becomes a new
// [n] Const. The Sum keeps its name; the Mul and the mask stay for other readers (prune drops
// them otherwise).
//
// Not rewritten: ONNX graphs and mean pooling (no reference model builds either; TF's
// sum / cast(lengths) also differs from a bag mean at length 0 and beyond L).
#ifndef RANKOPT_GRAPH_PASSES_EMBEDDING_BAG_H_
#define RANKOPT_GRAPH_PASSES_EMBEDDING_BAG_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes `in` with every masked pooling above rewritten to `out` (which may be `&in`).
absl::StatusOr<PassReport> EmbeddingBagPass(const Graph& in, const PassOptions& options,
                                            Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_EMBEDDING_BAG_H_
