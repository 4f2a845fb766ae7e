// The O2 pass that carries the request-level split through a concat over fields (FM-style
// models: DeepFM, NFM, FwFM, the first-order "linear" logit of WDL/DeepFM/xDeepFM).
//
// A field model stacks one embedding per field, user and item fields interleaved:
//   v = Concat(Unsqueeze(e_user_id), ..., Unsqueeze(e_item_id), ...; axis 1)   [B, F, d]
// and reads v through sums over the field axis (FM: 0.5 * ((sum_f v)^2 - sum_f v^2); first
// order: sum_f w_f) and through Flatten -> (Concat with dense) -> the first dense layer. Neither
// is request-level (every field row mixes), so without this pass the whole FM term and the whole
// first layer run per candidate. The pass regroups such a concat into a request-level half U
// and a candidate half I and pushes the grouping down to where it cancels:
//   elementwise ops (x*x, Pow(x, c), a constant that does not vary along the field axis, unary
//   ops) act on U and I separately; Flatten and further concats along the same axis keep the
//   halves (with a column map); a ReduceSum over the field axis becomes ReduceSum(U) + ReduceSum(I)
//   (ReduceSum(U) then runs once per request after request_level); a MatMul/Gemm by a constant
//   weight reads Concat(U..., I..., other parts) with its weight rows permuted to match, which
//   split_first_dense then splits into a once-per-request term and a per-candidate layer.
// A concat is rewritten only when every reader of every tensor it reaches is one of those; else
// the report names the reader and the condition that failed (a near miss).
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(PassReport report, SplitFieldConcat(graph, options, &graph));
#ifndef RANKOPT_GRAPH_PASSES_SPLIT_FIELD_CONCAT_H_
#define RANKOPT_GRAPH_PASSES_SPLIT_FIELD_CONCAT_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Uses options.request_inputs (as request_level) and options.outputs. ONNX graphs only (a TF
// graph is left unchanged with a note). Not applicable without request-level inputs.
absl::StatusOr<PassReport> SplitFieldConcat(const Graph& in, const PassOptions& options,
                                            Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_SPLIT_FIELD_CONCAT_H_
