#include "graph/split/boundary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace graph_split {

absl::Status CheckRequestInputs(const Graph& graph,
                                const std::vector<RequestLevelInput>& request_inputs,
                                absl::string_view who) {
  for (const RequestLevelInput& input : request_inputs) {
    bool found = false;
    for (const Node& node : graph.nodes()) {
      found |= node.op == kPlaceholderOp &&
               (node.name == input.name || pass_util::FeedName(graph, node) == input.name);
    }
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat(who, ": request input '", input.name, "' is not a graph input"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorRef>> ResolveOutputs(const Graph& graph,
                                                      const std::vector<std::string>& outputs) {
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
  return output_refs;
}

bool InPart(const Node& node, const absl::flat_hash_set<TensorRef>& part) {
  return node.op != kConstOp && node.op != kPlaceholderOp && part.contains(TensorRef{node.name, 0});
}

const TensorRef* FirstOutputIn(const std::vector<TensorRef>& output_refs,
                               const absl::flat_hash_set<TensorRef>& part) {
  for (const TensorRef& ref : output_refs) {
    if (part.contains(ref)) return &ref;
  }
  return nullptr;
}

std::vector<std::string> BoundaryNodes(const std::vector<TensorRef>& boundary) {
  std::vector<std::string> nodes;
  absl::flat_hash_set<std::string> seen;
  for (const TensorRef& ref : boundary) {
    if (seen.insert(ref.node).second) nodes.push_back(ref.node);
  }
  return nodes;
}

std::vector<TensorRef> FindBoundary(const Graph& graph, const absl::flat_hash_set<TensorRef>& part,
                                    bool graph_inputs) {
  std::vector<TensorRef> boundary;
  absl::flat_hash_set<TensorRef> in_boundary;
  for (const Node& node : graph.nodes()) {
    if (InPart(node, part)) continue;
    for (const TensorRef& ref : node.inputs) {
      if (ref.empty() || !part.contains(ref)) continue;
      if (!graph_inputs) {
        const Node* producer = graph.FindNode(ref.node);
        if (producer == nullptr || producer->op == kPlaceholderOp) continue;
      }
      if (in_boundary.insert(ref).second) boundary.push_back(ref);
    }
  }
  std::sort(boundary.begin(), boundary.end(), [&](const TensorRef& a, const TensorRef& b) {
    const int ia = graph.NodeIndex(a.node), ib = graph.NodeIndex(b.node);
    return ia != ib ? ia < ib : a.port < b.port;
  });
  return boundary;
}

std::vector<RequestLevelInput> InputsRead(
    const Graph& graph, const absl::flat_hash_set<std::string>& whole,
    const absl::flat_hash_map<std::string, std::vector<int64_t>>& columns_of) {
  std::vector<RequestLevelInput> inputs;
  for (const Node& node : graph.nodes()) {
    if (node.op != kPlaceholderOp) continue;
    const std::string feed = pass_util::FeedName(graph, node);
    if (whole.contains(feed)) {
      inputs.push_back({feed, {}});
    } else if (auto it = columns_of.find(feed); it != columns_of.end()) {
      std::vector<int64_t> c = it->second;
      std::sort(c.begin(), c.end());
      c.erase(std::unique(c.begin(), c.end()), c.end());
      inputs.push_back({feed, std::move(c)});
    }
  }
  return inputs;
}

Node MakePlaceholder(const Graph& graph, std::string name, DType dtype, Shape shape) {
  Node node;
  node.name = std::move(name);
  node.op = std::string(kPlaceholderOp);
  node.attrs.Set("dtype", dtype);
  node.attrs.Set("shape", std::move(shape));
  if (graph.format() == ModelFormat::kOnnx) node.output_names = {node.name};
  return node;
}

std::vector<Node> CutAtPlaceholders(
    const Graph& graph, std::vector<Node> placeholders,
    const absl::flat_hash_map<TensorRef, std::string>& placeholder_of,
    const absl::flat_hash_set<std::string>& dropped) {
  std::vector<Node> nodes = std::move(placeholders);
  nodes.reserve(graph.num_nodes() + nodes.size());
  for (const Node& source : graph.nodes()) {
    if (dropped.contains(source.name)) continue;
    Node node = source;
    for (TensorRef& ref : node.inputs) {
      auto it = placeholder_of.find(ref);
      if (it != placeholder_of.end()) ref = TensorRef{it->second, 0};
    }
    node.control_inputs.erase(
        std::remove_if(node.control_inputs.begin(), node.control_inputs.end(),
                       [&](const std::string& c) { return dropped.contains(c); }),
        node.control_inputs.end());
    nodes.push_back(std::move(node));
  }
  return nodes;
}

Graph FirstPart(const Graph& graph) {
  Graph part = graph;
  part.mutable_signatures()->clear();
  part.mutable_outputs()->clear();
  return part;
}

BoundaryCut::BoundaryCut(const Graph& graph) : graph_(graph), names_(pass_util::NodeNames(graph)) {
  for (const Node& node : graph.nodes()) {
    for (const std::string& o : node.output_names) names_.insert(o);
  }
}

std::string BoundaryCut::Add(const TensorRef& ref, absl::string_view suffix, DType dtype,
                             Shape shape) {
  Node p = MakePlaceholder(
      graph_,
      pass_util::UniqueName(
          absl::StrCat(ref.node, ref.port == 0 ? "" : absl::StrCat("_", ref.port), suffix),
          &names_),
      dtype, std::move(shape));
  std::string feed_name = p.name;
  placeholder_of_[ref] = p.name;
  placeholders_.push_back(std::move(p));
  return feed_name;
}

absl::Status BoundaryCut::Apply(const absl::flat_hash_set<TensorRef>& part, Graph* rest) {
  absl::flat_hash_set<std::string> dropped;
  for (const Node& node : graph_.nodes()) {
    if (InPart(node, part)) dropped.insert(node.name);
  }
  std::vector<Node> nodes =
      CutAtPlaceholders(graph_, std::move(placeholders_), placeholder_of_, dropped);
  placeholders_.clear();
  RANKOPT_RETURN_IF_ERROR(rest->SetNodes(std::move(nodes)));
  return rest->Validate();
}

}  // namespace graph_split
}  // namespace rankopt
