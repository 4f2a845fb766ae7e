// Splits an O2 graph (graph/passes/request_level.h) at its request-level boundary, so that a
// server can cache the request-level (user/context) results across requests:
//
//   user part:      the request-level inputs -> the request-level tensors that candidate-level
//                   nodes read (the "boundary": DIN's behaviour keys and pooled user embeddings,
//                   the user half of a split first dense layer, ...), at one row per request;
//   candidate part: the rest of the graph, where every boundary tensor is a new graph input
//                   (a Placeholder with the boundary's dtype and inferred shape, leading dim 1).
//
// Running the user part and feeding its outputs to the candidate part computes exactly what the
// whole graph computes (the same kernels on the same values), so the scores are bitwise equal.
//
// The request-level tensors are those RequestLevelTensors finds from the graph's
// _RankoptRequestRow nodes (the marks MarkRequestLevel left): they all have one row. The user part
// reads its graph inputs only through _RankoptRequestRow nodes, i.e. only row 0 of each, and of a
// mixed [N, C] input only the request row's `columns`; `user_inputs` says which (the bytes a cache
// key must cover: equal bytes there mean equal user-part outputs).
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(RequestGraphSplit split, SplitRequestGraph(graph, inputs, outputs));
//   if (split.applicable) { plan split.user (outputs: split.user_outputs) and split.candidate }
#ifndef RANKOPT_GRAPH_SPLIT_SPLIT_REQUEST_GRAPH_H_
#define RANKOPT_GRAPH_SPLIT_SPLIT_REQUEST_GRAPH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"

namespace rankopt {

// One tensor computed by the user part and read by the candidate part.
struct RequestBoundary {
  TensorRef tensor;       // in the source graph (and in the user part)
  std::string user_name;  // the user part's output name (PlanOptions::outputs)
  std::string feed_name;  // the candidate part's new input (its Placeholder's feed name)
  DType dtype = DType::kInvalid;
  Shape shape;  // inferred; leading dim 1
};

struct RequestGraphSplit {
  // False: `note` says why (no request-level tensor read by a candidate-level node, an output
  // that is request-level, ...); the graphs are then empty.
  bool applicable = false;
  std::string note;
  Graph user{ModelFormat::kOnnx};       // outputs: the boundary, in `boundary` order
  Graph candidate{ModelFormat::kOnnx};  // outputs: those of the source graph
  std::vector<RequestBoundary> boundary;
  // The source graph inputs the user part reads (feed names), in graph order: `columns` empty =
  // row 0 whole; else only those columns of row 0 of a [N, C] input.
  std::vector<RequestLevelInput> user_inputs;
};

// `request_inputs`: the graph's request-level inputs (as the O2 passes took them); an entry that
// is not a graph input is an error (NotFound). `outputs`: the tensors the candidate part must
// produce (as Graph::ResolveTensor takes them; empty: the graph outputs). Not applicable when
// `request_inputs` is empty or the graph has no _RankoptRequestRow node whose result reaches a
// candidate-level node. Errors: a graph that does not validate or whose shapes do not infer.
absl::StatusOr<RequestGraphSplit> SplitRequestGraph(
    const Graph& graph, const std::vector<RequestLevelInput>& request_inputs,
    const std::vector<std::string>& outputs = {});

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_SPLIT_SPLIT_REQUEST_GRAPH_H_
