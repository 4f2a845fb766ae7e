// The embedding-lookup pass: a Gather of rows from a constant [rows, dim] float32 table (ONNX
// Gather with axis 0, TF GatherV2 with a constant axis 0 and no batch_dims, TF Gather; through
// Identity chains) becomes a _RankoptEmbeddingLookup node served by embedding/'s lookup kernels,
// so quantized tables can replace the constant later. Results are bitwise those of the Gather.
#ifndef RANKOPT_GRAPH_PASSES_EMBEDDING_LOOKUP_H_
#define RANKOPT_GRAPH_PASSES_EMBEDDING_LOOKUP_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes `in` with every eligible Gather rewritten to `out` (which may be `&in`). The rewritten
// node keeps its name and output names; its inputs become (table Const, ids).
absl::StatusOr<PassReport> EmbeddingLookupPass(const Graph& in, const PassOptions& options,
                                               Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_EMBEDDING_LOOKUP_H_
