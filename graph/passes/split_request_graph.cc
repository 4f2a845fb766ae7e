#include "graph/passes/split_request_graph.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"

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
  for (const RequestLevelInput& input : request_inputs) {
    bool found = false;
    for (const Node& node : graph.nodes()) {
      found |= node.op == kPlaceholderOp && (node.name == input.name ||
                                             pass_util::FeedName(graph, node) == input.name);
    }
    if (!found) {
      return absl::NotFoundError(absl::StrCat("split request graph: request input '", input.name,
                                              "' is not a graph input"));
    }
  }
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RANKOPT_ASSIGN_OR_RETURN(const ShapeMap shapes, InferShapes(graph));
  // Seeded by the _RankoptRequestRow nodes only: their results have one row per request.
  const absl::flat_hash_set<TensorRef> request = RequestLevelTensors(graph, {}, shapes);
  if (request.empty()) return NotApplicable("no _RankoptRequestRow node (run at -O2)");

  // The outputs the candidate part must produce; none may be request-level (one row).
  std::vector<TensorRef> output_refs;
  if (outputs.empty()) {
    for (const GraphOutput& o : graph.outputs()) output_refs.push_back(o.ref);
    if (output_refs.empty() && !graph.signatures().empty()) {
      for (const SignatureTensor& t : graph.signatures()[0].outputs) output_refs.push_back(t.ref);
    }
  } else {
    for (const std::string& name : outputs) {
      RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, graph.ResolveTensor(name));
      output_refs.push_back(std::move(ref));
    }
  }
  for (const TensorRef& ref : output_refs) {
    if (request.contains(ref)) {
      return NotApplicable(absl::StrCat("output '", ref.ToString(), "' is request-level"));
    }
  }

  // The boundary: request-level tensors read by a candidate-level node, in graph order.
  auto is_request_node = [&](const Node& node) {
    return node.op != kConstOp && node.op != kPlaceholderOp &&
           request.contains(TensorRef{node.name, 0});
  };
  std::vector<TensorRef> boundary;
  absl::flat_hash_set<TensorRef> in_boundary;
  for (const Node& node : graph.nodes()) {
    if (is_request_node(node)) continue;
    for (const TensorRef& ref : node.inputs) {
      if (ref.empty() || !request.contains(ref) || !in_boundary.insert(ref).second) continue;
      boundary.push_back(ref);
    }
  }
  if (boundary.empty()) return NotApplicable("no request-level tensor reaches a candidate node");
  std::sort(boundary.begin(), boundary.end(), [&](const TensorRef& a, const TensorRef& b) {
    const int ia = graph.NodeIndex(a.node), ib = graph.NodeIndex(b.node);
    return ia != ib ? ia < ib : a.port < b.port;
  });

  // What the user part reads: walk back from the boundary through request-level nodes to the
  // _RankoptRequestRow nodes, and from them to their graph inputs.
  absl::flat_hash_map<std::string, std::vector<int64_t>> columns_of;  // feed -> columns
  absl::flat_hash_set<std::string> whole;                             // feeds read whole
  {
    std::vector<std::string> stack;
    absl::flat_hash_set<std::string> seen;
    for (const TensorRef& ref : boundary) {
      if (seen.insert(ref.node).second) stack.push_back(ref.node);
    }
    while (!stack.empty()) {
      const Node* node = graph.FindNode(stack.back());
      stack.pop_back();
      if (node == nullptr) continue;
      if (node->op == kRequestRowOp) {
        const Node* source = node->inputs.empty() ? nullptr : graph.FindNode(node->inputs[0].node);
        if (source == nullptr || source->op != kPlaceholderOp) {
          return NotApplicable(absl::StrCat("request row '", node->name,
                                            "' does not read a graph input"));
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
  split.user_inputs = pass_util::InputsRead(graph, whole, columns_of);

  // The user part: the source graph computing the boundary (ExecutionPlan keeps only what the
  // outputs need).
  split.user = graph;
  split.user.mutable_signatures()->clear();
  std::vector<GraphOutput>* user_outputs = split.user.mutable_outputs();
  user_outputs->clear();

  // The candidate part: the candidate-level nodes, the boundary read from new Placeholders.
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(graph);
  for (const Node& node : graph.nodes()) {
    for (const std::string& o : node.output_names) names.insert(o);
  }
  absl::flat_hash_map<TensorRef, std::string> placeholder_of;
  std::vector<Node> placeholders;
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
    Node p = pass_util::MakePlaceholder(graph, pass_util::UniqueName(absl::StrCat(ref.node, ref.port == 0 ? "" : absl::StrCat("_", ref.port),
                                                "/request_boundary"),
                                   &names), b.dtype, b.shape);
    b.feed_name = p.name;
    placeholder_of[ref] = p.name;
    user_outputs->push_back(GraphOutput{b.user_name, ref});
    placeholders.push_back(std::move(p));
    split.boundary.push_back(std::move(b));
  }
  absl::flat_hash_set<std::string> dropped;
  for (const Node& node : graph.nodes()) {
    if (is_request_node(node)) dropped.insert(node.name);
  }
  // A control edge from request-level work only ordered it; that work is the user part's now.
  std::vector<Node> nodes =
      pass_util::CutAtPlaceholders(graph, std::move(placeholders), placeholder_of, dropped);
  split.candidate = graph;
  RANKOPT_RETURN_IF_ERROR(split.candidate.SetNodes(std::move(nodes)));
  // Outputs and signatures name candidate-level tensors (checked above), so they stay valid.
  RANKOPT_RETURN_IF_ERROR(split.candidate.Validate());
  RANKOPT_RETURN_IF_ERROR(split.user.Validate());
  return split;
}

}  // namespace rankopt
