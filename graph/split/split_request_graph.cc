#include "graph/split/split_request_graph.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "graph/split/boundary.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

RequestGraphSplit NotApplicable(std::string why) {
  RequestGraphSplit split;
  split.note = absl::StrCat("not applicable: ", why);
  return split;
}

}  // namespace

absl::StatusOr<RequestGraphSplit> SplitRequestGraph(
    const Graph& graph, const std::vector<RequestLevelInput>& request_inputs,
    const std::vector<std::string>& outputs) {
  if (request_inputs.empty()) return NotApplicable("no request-level inputs");
  RANKOPT_RETURN_IF_ERROR(
      graph_split::CheckRequestInputs(graph, request_inputs, "split request graph"));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RANKOPT_ASSIGN_OR_RETURN(const ShapeMap shapes, InferShapes(graph));
  // Seeded by the _RankoptRequestRow nodes only: their results have one row per request.
  const absl::flat_hash_set<TensorRef> request = RequestLevelTensors(graph, {}, shapes);
  if (request.empty()) return NotApplicable("no _RankoptRequestRow node (run at -O2)");

  // The outputs the candidate part must produce; none may be request-level (one row).
  RANKOPT_ASSIGN_OR_RETURN(const std::vector<TensorRef> output_refs,
                           graph_split::ResolveOutputs(graph, outputs));
  if (const TensorRef* ref = graph_split::FirstOutputIn(output_refs, request)) {
    return NotApplicable(absl::StrCat("output '", ref->ToString(), "' is request-level"));
  }

  // The boundary: request-level tensors read by a candidate-level node, in graph order.
  const std::vector<TensorRef> boundary =
      graph_split::FindBoundary(graph, request, /*graph_inputs=*/true);
  if (boundary.empty()) return NotApplicable("no request-level tensor reaches a candidate node");

  // What the user part reads: walk back from the boundary through request-level nodes to the
  // _RankoptRequestRow nodes, and from them to their graph inputs.
  absl::flat_hash_map<std::string, std::vector<int64_t>> columns_of;  // feed -> columns
  absl::flat_hash_set<std::string> whole;                             // feeds read whole
  {
    std::vector<std::string> stack = graph_split::BoundaryNodes(boundary);
    absl::flat_hash_set<std::string> seen(stack.begin(), stack.end());
    while (!stack.empty()) {
      const Node* node = graph.FindNode(stack.back());
      stack.pop_back();
      if (node == nullptr) continue;
      if (node->op == kRequestRowOp) {
        const Node* source = node->inputs.empty() ? nullptr : graph.FindNode(node->inputs[0].node);
        if (source == nullptr || source->op != kPlaceholderOp) {
          return NotApplicable(
              absl::StrCat("request row '", node->name, "' does not read a graph input"));
        }
        const std::string feed = pass_util::FeedName(graph, *source);
        const auto* columns = node->attrs.Get<std::vector<int64_t>>("columns");
        if (columns == nullptr) {
          whole.insert(feed);
        } else {
          std::vector<int64_t>& c = columns_of[feed];
          c.insert(c.end(), columns->begin(), columns->end());
        }
        continue;
      }
      for (const TensorRef& in : node->inputs) {
        if (in.empty() || !request.contains(in)) continue;  // constants stay in both parts
        if (seen.insert(in.node).second) stack.push_back(in.node);
      }
    }
  }
  RequestGraphSplit split;
  split.applicable = true;
  split.user_inputs = graph_split::InputsRead(graph, whole, columns_of);

  // The user part: the source graph computing the boundary.
  split.user = graph_split::FirstPart(graph);
  std::vector<GraphOutput>* user_outputs = split.user.mutable_outputs();

  // The candidate part: the candidate-level nodes, the boundary read from new Placeholders.
  graph_split::BoundaryCut cut(graph);
  for (const TensorRef& ref : boundary) {
    const InferredTensor& inferred = LookupInferred(shapes, ref);
    RequestBoundary b;
    b.tensor = ref;
    b.user_name = ref.ToString();
    b.dtype = inferred.dtype;
    b.shape = inferred.shape;
    if (b.shape.known_rank() && b.shape.rank() >= 1) {
      std::vector<int64_t> dims(b.shape.dims().begin(), b.shape.dims().end());
      dims[0] = 1;
      b.shape = Shape(std::move(dims));
    }
    b.feed_name = cut.Add(ref, "/request_boundary", b.dtype, b.shape);
    user_outputs->push_back(GraphOutput{b.user_name, ref});
    split.boundary.push_back(std::move(b));
  }
  // A control edge from request-level work only ordered it; that work is the user part's now.
  // Outputs and signatures name candidate-level tensors (checked above), so they stay valid.
  split.candidate = graph;
  RANKOPT_RETURN_IF_ERROR(cut.Apply(request, &split.candidate));
  RANKOPT_RETURN_IF_ERROR(split.user.Validate());
  return split;
}

}  // namespace rankopt
