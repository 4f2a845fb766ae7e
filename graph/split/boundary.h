// What both graph splits (split_request_graph.h, split_item_graph.h) do at the cut between their
// two parts: check the request inputs, resolve the outputs, find the boundary tensors, say which
// feeds the first part reads, and read the boundary from new Placeholders in the second part.
//
// Example (the first part computes the tensors in `part`):
//   std::vector<TensorRef> boundary = graph_split::FindBoundary(graph, part, true);
//   graph_split::BoundaryCut cut(graph);
//   for (const TensorRef& ref : boundary) cut.Add(ref, "/boundary", dtype, shape);
//   Graph rest = graph;
//   RANKOPT_RETURN_IF_ERROR(cut.Apply(part, &rest));
#ifndef RANKOPT_GRAPH_SPLIT_BOUNDARY_H_
#define RANKOPT_GRAPH_SPLIT_BOUNDARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"

namespace rankopt {
namespace graph_split {

// OK when every entry of `request_inputs` is a graph input (a Placeholder, by node or feed
// name); else NotFound, the message led by `who` ("split request graph").
absl::Status CheckRequestInputs(const Graph& graph,
                                const std::vector<RequestLevelInput>& request_inputs,
                                absl::string_view who);

// The tensors the second part must produce: `outputs` resolved (as Graph::ResolveTensor takes
// them); when empty, the graph outputs, else the first signature's outputs.
absl::StatusOr<std::vector<TensorRef>> ResolveOutputs(const Graph& graph,
                                                      const std::vector<std::string>& outputs);

// The first tensor of `output_refs` that lies in `part` (a part computed once cannot produce an
// output that has one row per candidate), or nullptr.
const TensorRef* FirstOutputIn(const std::vector<TensorRef>& output_refs,
                               const absl::flat_hash_set<TensorRef>& part);

// The nodes that make the `boundary` tensors, each once, in order: where a walk back through the
// first part starts.
std::vector<std::string> BoundaryNodes(const std::vector<TensorRef>& boundary);

// True for a node the first part computes: its output 0 is in `part` and it is no Const or
// Placeholder (those stay in both parts).
bool InPart(const Node& node, const absl::flat_hash_set<TensorRef>& part);

// The boundary: tensors of `part` read by a node outside it, each once, in graph order (node
// index, then port). `graph_inputs`: false leaves out tensors a Placeholder makes (they stay
// inputs of the second part).
std::vector<TensorRef> FindBoundary(const Graph& graph, const absl::flat_hash_set<TensorRef>& part,
                                    bool graph_inputs);

// The graph inputs (in graph order) a part of the graph reads: those in `whole` as a whole, those
// in `columns_of` by the listed columns (sorted, unique).
std::vector<RequestLevelInput> InputsRead(
    const Graph& graph, const absl::flat_hash_set<std::string>& whole,
    const absl::flat_hash_map<std::string, std::vector<int64_t>>& columns_of);

// A Placeholder node of `dtype` and `shape` (ONNX: its tensor name is the node name).
Node MakePlaceholder(const Graph& graph, std::string name, DType dtype, Shape shape);

// The nodes of `graph` cut at a boundary: `placeholders` first, then every node not in `dropped`,
// with inputs reading a tensor of `placeholder_of` reading that placeholder instead and control
// edges from dropped nodes removed (they only ordered work that now runs elsewhere).
std::vector<Node> CutAtPlaceholders(
    const Graph& graph, std::vector<Node> placeholders,
    const absl::flat_hash_map<TensorRef, std::string>& placeholder_of,
    const absl::flat_hash_set<std::string>& dropped);

// The first part before its outputs are set: `graph` without outputs and signatures
// (ExecutionPlan keeps only what the boundary outputs then added need).
Graph FirstPart(const Graph& graph);

// The Placeholders that stand for the boundary in the second part. Not thread-safe.
class BoundaryCut {
 public:
  // REQUIRES: `graph` outlives the cut.
  explicit BoundaryCut(const Graph& graph);

  // Adds a Placeholder of `dtype` and `shape` for `ref`, named "<node>[_<port>]<suffix>" (made
  // unique against every node and tensor name); returns its feed name.
  std::string Add(const TensorRef& ref, absl::string_view suffix, DType dtype, Shape shape);

  // Sets the nodes of `rest` (a copy of the graph) to the graph cut at the boundary: the
  // Placeholders, then every node not InPart(`part`); then validates it.
  absl::Status Apply(const absl::flat_hash_set<TensorRef>& part, Graph* rest);

 private:
  const Graph& graph_;
  absl::flat_hash_set<std::string> names_;
  absl::flat_hash_map<TensorRef, std::string> placeholder_of_;
  std::vector<Node> placeholders_;
};

}  // namespace graph_split
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_SPLIT_BOUNDARY_H_
