// GRU batch first: PyTorch exports nn.GRU(batch_first=True) as
//   Transpose(x, [1,0,2]) -> GRU (layout 0) -> Squeeze(Y, axis 1) -> Transpose([1,0,2]),
// which moves the batch off axis 0 and so hides a GRU over request-level inputs (DIEN's
// behaviour history) from request_level. This pass runs the GRU with ONNX layout 1 instead:
//   GRU(x, layout 1) -> Squeeze(Y, axis 2)
// (same values: the kernel computes each row the same way in either layout).
#ifndef RANKOPT_GRAPH_PASSES_GRU_BATCH_FIRST_H_
#define RANKOPT_GRAPH_PASSES_GRU_BATCH_FIRST_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes to `out` the graph `in` where each ONNX GRU (one direction, layout 0, initial_h absent
// or a zero ConstantOfShape / zero constant, Y_h unread) between a Transpose [1,0,2] of its
// input and a Squeeze(axis 1) -> Transpose [1,0,2] of Y (each read only by the next) becomes a
// layout-1 GRU on the untransposed input followed by Squeeze(axis 2) under the last Transpose's
// name (consumers and outputs still resolve). `out` may be `&in`; it is untouched on error.
absl::StatusOr<PassReport> GruBatchFirst(const Graph& in, const PassOptions& options, Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_GRU_BATCH_FIRST_H_
