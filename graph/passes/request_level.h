// Request-level (batch-invariance) analysis and the O2 pass that computes the user side once per
// request.
//
// A ranking request is one user x N candidates: the user and context inputs are the same in every
// row. Inputs named request-level (by the feature config's user/context sides, or
// --request-inputs) make the tensors computed only from them and from constants request-level
// too, through "row-wise" ops (elementwise, embedding gathers, MatMul by a weight, concat and
// reductions off the batch axis, ...). MarkRequestLevel reads row 0 of each such input once
// (_RankoptRequestRow, which checks that every row is equal), so the whole request-level subgraph
// runs at batch 1; where a request-level tensor meets a candidate-level consumer that does not
// broadcast, a _RankoptBroadcastRows puts the candidate count back (broadcasting pushed to the
// boundary).
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestLevelInput> inputs,
//                            ParseRequestInputs("user_id,hist_item_ids,dense[0:2]"));
//   RANKOPT_ASSIGN_OR_RETURN(PassReport report, MarkRequestLevel(graph, {.request_inputs =
//                            inputs}, &graph));
#ifndef RANKOPT_GRAPH_PASSES_REQUEST_LEVEL_H_
#define RANKOPT_GRAPH_PASSES_REQUEST_LEVEL_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/analysis/shape_inference.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

inline constexpr absl::string_view kRequestRowOp = "_RankoptRequestRow";
inline constexpr absl::string_view kBroadcastRowsOp = "_RankoptBroadcastRows";
inline constexpr absl::string_view kSelectColumnsOp = "_RankoptSelectColumns";

// "user_id,hist_item_ids,dense[0:2],ctx[0,3]" -> entries; a [a:b] range is half-open. Errors name
// the bad entry.
absl::StatusOr<std::vector<RequestLevelInput>> ParseRequestInputs(absl::string_view spec);

// Tensors of `graph` that are the same for every candidate: the outputs of the whole-input
// entries of `inputs` (graph inputs), of _RankoptRequestRow nodes, and of every row-wise node that
// reads only such tensors, constants and remote tables' per-request inputs (IsRemoteTableInput:
// a remote lookup of request-level ids is request-level). `shapes` comes from InferShapes(graph).
absl::flat_hash_set<TensorRef> RequestLevelTensors(const Graph& graph,
                                                   const std::vector<RequestLevelInput>& inputs,
                                                   const ShapeMap& shapes);

// Whether input `input` of `node` is a remote table's per-request input: the fetched rows (input
// 0) or fetched ids (the last input) of a _RankoptRemoteEmbeddingLookup/Bag
// (serving/remote/remote_graph.h). Every row reads it whole and a row's result depends only on
// the rows its ids select, so, like a constant table, it does not decide whether the lookup is
// request-level or item-level: the ids (and a bag's lengths) do. Serving feeds it whole to every
// part of a split and never keys a cache on it.
bool IsRemoteTableInput(const Node& node, size_t input);

// Whether `node` is row-wise: with every non-constant data input holding one row per candidate,
// row r of its outputs depends only on row r of those inputs (elementwise ops, gathers from a
// constant table, lookups into a remote table (its IsRemoteTableInput inputs aside), concat/reductions/softmax off the batch axis, products with a constant
// weight, ...). True for _RankoptRequestRow too (its one row is row 0 of every row); callers that
// need true row locality exclude it. `shapes` comes from InferShapes(graph).
bool IsRowWiseNode(const Graph& graph, const Node& node, const ShapeMap& shapes);

// The O2 pass (see the file comment). Uses options.request_inputs (whole inputs; column entries
// are the split pass's) and options.outputs. Not applicable (unchanged, with a note) when no
// request-level input is given or every graph input is request-level. Errors: a request input
// that is not a graph input of the graph.
absl::StatusOr<PassReport> MarkRequestLevel(const Graph& in, const PassOptions& options,
                                            Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_REQUEST_LEVEL_H_
