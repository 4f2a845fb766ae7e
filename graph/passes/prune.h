// The prune pass (`rankopt prune MODEL --outputs NAMES [--inputs NAMES]`): keep only what the
// requested outputs need, bypass pass-through nodes (Identity & co.), drop NoOp/Assert control
// dependencies, and optionally cut the graph at new inputs. Like TF graph_transforms'
// strip_unused_nodes + remove_nodes, for every format the IR holds.
#ifndef RANKOPT_GRAPH_PASSES_PRUNE_H_
#define RANKOPT_GRAPH_PASSES_PRUNE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes to `out` the part of `in` that `options.outputs` need, through data and control
// inputs (only `outputs` and `inputs` of PassOptions matter here), with:
//   - Identity, StopGradient, PreventGradient, CheckNumerics, Snapshot bypassed (consumers
//     read the pass-through's input 0), unless requested as an output or ordered by control
//     inputs that stay;
//   - control inputs on NoOp/Assert dropped, and what only they needed removed;
//   - each `options.inputs` tensor replaced by a Placeholder (attrs "dtype", "shape"): named
//     like the node for port 0 (TF), "<node>_<port>" for port > 0 (TF), the tensor name (ONNX);
//   - out->outputs() exactly the requested outputs in order (ONNX: named by the tensor);
//     signatures keep only requested outputs and surviving inputs, empty ones are dropped.
// Surviving nodes keep their source order and source_index. `out` may be `&in`.
// Errors: no outputs, an unknown name (with close names), an input whose dtype is unknown, or
// an invalid result; `out` is untouched on error.
// Example: PruneGraph(graph, {.outputs = {"pctcvr"}}, &pruned)
absl::StatusOr<PassReport> PruneGraph(const Graph& in, const PassOptions& options, Graph* out);

// True for ops that forward input 0 unchanged and that prune bypasses (Identity, StopGradient,
// PreventGradient, CheckNumerics, Snapshot; ONNX Identity).
bool IsPassThroughOp(const Node& node);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_PRUNE_H_
