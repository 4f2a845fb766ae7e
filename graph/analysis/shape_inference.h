// Static shape, dtype and small-value inference over rankopt's IR, for both source vocabularies
// (TF op names and ONNX op names): walks the graph and calls each op's shape function, which its
// kernel family registers (KernelRegistry::RegisterOpInfo). Never fails on what it does not
// understand: an unknown op, an odd attribute or an out-of-range axis yields an unknown
// InferredTensor, and its consumers are inferred as far as that allows.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(graph, /*batch_size=*/1));
//   const InferredTensor& t = LookupInferred(shapes, TensorRef{"MatMul", 0});
#ifndef RANKOPT_GRAPH_ANALYSIS_SHAPE_INFERENCE_H_
#define RANKOPT_GRAPH_ANALYSIS_SHAPE_INFERENCE_H_

#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "graph/ir/graph.h"
#include "graph/ops/shape_context.h"

namespace rankopt {

// InferredTensor, ShapeMap and LookupInferred: graph/ops/shape_context.h.

// Infers every node output in topological order. Multi-output ops get ports 0..n-1; ops it does
// not model get unknown outputs. batch_size < 0 keeps unknown dims unknown; otherwise unknown
// dims of graph inputs (Placeholders) become batch_size. An error only when the graph has no
// topological order (a missing input node or a cycle).
absl::StatusOr<ShapeMap> InferShapes(const Graph& graph, int64_t batch_size = -1);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ANALYSIS_SHAPE_INFERENCE_H_
