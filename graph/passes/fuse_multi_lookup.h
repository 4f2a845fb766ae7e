// O2: a field model's embedding lookups and their concat become one multi-table lookup.
//
// DeepFM, WDL, DCN-v2 and their kin stack one embedding per field:
//   Concat(Unsqueeze(Gather(T_1, id_1)), ..., Unsqueeze(Gather(T_F, id_F)); axis 1)   [B, F, d]
// (or Concat(Gather(...), ...; axis -1) for first-order weights): 2F + 1 nodes whose fixed cost
// dominates at one thread. After embedding_lookup, this pass replaces each run of two or more
// concat inputs that are _RankoptEmbeddingLookup outputs (through Unsqueeze / ExpandDims chains
// read only there) by one _RankoptMultiLookup (graph/kernels/embedding/embedding_kernels.h), which
// writes every id's concatenated row directly. A piece fits when the concat's dims from its axis
// on are known and hold exactly one table row (so the rows before the axis are the ids); a concat
// of fits only replaces the concat itself. Bitwise equal (rows are copied, or dequantized as the
// lookup does).
//
// Near misses (a concat with two or more lookup inputs where one did not fit, and why) go to the
// report as "near miss at node 'X' (concat 'C'): why".
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(PassReport report, FuseMultiLookup(graph, options, &graph));
#ifndef RANKOPT_GRAPH_PASSES_FUSE_MULTI_LOOKUP_H_
#define RANKOPT_GRAPH_PASSES_FUSE_MULTI_LOOKUP_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes `in` with the runs fused to `out` (which may be `&in`).
absl::StatusOr<PassReport> FuseMultiLookup(const Graph& in, const PassOptions& options, Graph* out);

// The inverse, for code that works per lookup (remote tables: serving/remote/remote_graph.h):
// each _RankoptMultiLookup M becomes per-field _RankoptEmbeddingLookup nodes "M/field_<f>" (with
// the field's table_dtype / table_dim), each reshaped to [n, dim_f], a Concat of those along axis
// 1 and a Reshape to M's out_dims named M (same output name). Bitwise equal. No-op without one.
absl::Status SplitMultiLookups(Graph* graph);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_FUSE_MULTI_LOOKUP_H_
