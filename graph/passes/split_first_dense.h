// The O2 split of a dense layer over a concat of request-level and candidate-level parts:
//
//   act(concat(u, i) @ W + b)  ->  act(i @ W_i + (u @ W_u + b))
//
// where W_u, W_i are W's rows for the request-level and candidate-level columns. The bracketed
// term is request-level (one row per request once MarkRequestLevel has run) and becomes the
// runtime bias of the candidate-side _RankoptFusedMatMul, which also takes the activation. A
// graph input with request-level columns inside a mixed dense input ("dense[0:2]") contributes
// those columns to u (_RankoptRequestRow with `columns`) and the rest to i
// (_RankoptSelectColumns). Handles ONNX Gemm/MatMul(+Add) and TF MatMul(+BiasAdd/Add) over ONNX
// Concat / TF ConcatV2 on the last axis; layers sharing one concat (ESMM's two towers) share u
// and i.
//
// Must be followed by MarkRequestLevel (the pass pipeline runs them in that order): until then
// the runtime bias has one row per candidate, which _RankoptFusedMatMul rejects.
#ifndef RANKOPT_GRAPH_PASSES_SPLIT_FIRST_DENSE_H_
#define RANKOPT_GRAPH_PASSES_SPLIT_FIRST_DENSE_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Uses options.request_inputs and options.outputs. Not applicable (unchanged, with a note) when
// no layer reads a concat with both kinds of columns.
absl::StatusOr<PassReport> SplitFirstDense(const Graph& in, const PassOptions& options,
                                           Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_SPLIT_FIRST_DENSE_H_
