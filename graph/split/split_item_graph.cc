#include "graph/split/split_item_graph.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "graph/split/boundary.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kFusedMatMulOp = "_RankoptFusedMatMul";

ItemGraphSplit NotApplicable(std::string why) {
  ItemGraphSplit split;
  split.note = absl::StrCat("not applicable: ", why);
  return split;
}

bool IsConst(const Graph& graph, const TensorRef& ref) {
  return graph.ConstantBehind(ref) != nullptr;
}

// Ops whose work is worth caching per item: products and pooled bags, and (`lookups`) table reads.
bool IsWork(absl::string_view op, bool lookups) {
  for (absl::string_view w : {"_RankoptEmbeddingBag", "_RankoptRemoteEmbeddingBag", "MatMul",
                              "BatchMatMul", "BatchMatMulV2", "Gemm", "_RankoptFusedMatMul"}) {
    if (op == w) return true;
  }
  if (!lookups) return false;
  for (absl::string_view w : {"Gather", "GatherV2", "ResourceGather", "_RankoptEmbeddingLookup",
                              "_RankoptRemoteEmbeddingLookup", "_RankoptMultiLookup"}) {
    if (op == w) return true;
  }
  return false;
}

// The item-level tensors of `graph` (see the header): seeded by every graph input that is not a
// whole request-level input, grown through row-wise nodes and _RankoptSelectColumns.
absl::flat_hash_set<TensorRef> ItemLevelTensors(const Graph& graph,
                                                const absl::flat_hash_set<std::string>& request,
                                                const ShapeMap& shapes) {
  absl::flat_hash_set<TensorRef> item;
  absl::StatusOr<std::vector<int>> order = graph.TopologicalOrder();
  if (!order.ok()) return item;
  for (int index : *order) {
    const Node& node = graph.nodes()[index];
    if (node.op == kPlaceholderOp) {
      if (!request.contains(node.name) && !request.contains(pass_util::FeedName(graph, node))) {
        item.insert(TensorRef{node.name, 0});
      }
      continue;
    }
    // _RankoptRequestRow yields one row for all candidates: user-side, never item-level.
    if (node.op == kConstOp || node.op == kRequestRowOp || !node.control_inputs.empty()) continue;
    if (node.op == kSelectColumnsOp) {
      if (node.inputs.size() == 1 && item.contains(node.inputs[0])) {
        item.insert(TensorRef{node.name, 0});
      }
      continue;
    }
    bool any = false, all = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& in = node.inputs[i];
      // A remote table's fetched rows and ids are read whole, like a constant table.
      if (in.empty() || IsConst(graph, in) || IsRemoteTableInput(node, i)) continue;
      any = true;
      all &= item.contains(in);
    }
    if (!any || !all || !IsRowWiseNode(graph, node, shapes)) continue;
    const int outputs = std::max<int>(1, static_cast<int>(node.output_names.size()));
    for (int port = 0; port < outputs; ++port) item.insert(TensorRef{node.name, port});
  }
  return item;
}

// Rewrites each first-layer _RankoptFusedMatMul(i, W, runtime_bias, act) with an item-level `i`
// into act(Add(_RankoptFusedMatMul(i, W), runtime_bias)) (see the header). Returns how many.
absl::StatusOr<int> MoveItemHalves(const Graph& graph, const absl::flat_hash_set<TensorRef>& item,
                                   Graph* out) {
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(graph);
  for (const Node& node : graph.nodes()) {
    for (const std::string& o : node.output_names) names.insert(o);
  }
  auto new_node = [&](absl::string_view base, absl::string_view op, const Node& like) {
    Node n;
    n.name = pass_util::UniqueName(base, &names);
    n.op = std::string(op);
    n.device = like.device;
    if (onnx) n.output_names = {n.name};
    if (!onnx) n.attrs.Set("T", DType::kFloat32);
    return n;
  };
  int moved = 0;
  std::vector<Node> nodes;
  nodes.reserve(graph.num_nodes() + 8);
  for (const Node& node : graph.nodes()) {
    const std::string* activation = node.attrs.Get<std::string>("activation");
    const std::string act = activation == nullptr ? "none" : *activation;
    const bool movable = node.op == kFusedMatMulOp && node.inputs.size() == 3 &&
                         node.control_inputs.empty() && item.contains(node.inputs[0]) &&
                         IsConst(graph, node.inputs[1]) && !node.inputs[2].empty() &&
                         !IsConst(graph, node.inputs[2]) && !item.contains(node.inputs[2]) &&
                         (act == "none" || act == "relu" || act == "sigmoid" || act == "tanh");
    if (!movable) {
      nodes.push_back(node);
      continue;
    }
    Node term = new_node(absl::StrCat(node.name, "/item_term"), kFusedMatMulOp, node);
    term.attrs = node.attrs;
    term.attrs.Set("activation", std::string("none"));
    term.inputs = {node.inputs[0], node.inputs[1]};
    const absl::string_view add_op = onnx ? "Add" : "AddV2";
    Node last;
    if (act == "none") {
      last.name = node.name;
      last.op = std::string(add_op);
      last.device = node.device;
      last.inputs = {TensorRef{term.name, 0}, node.inputs[2]};
      if (!onnx) last.attrs.Set("T", DType::kFloat32);
      nodes.push_back(std::move(term));
    } else {
      Node add = new_node(absl::StrCat(node.name, "/bias_add"), add_op, node);
      add.inputs = {TensorRef{term.name, 0}, node.inputs[2]};
      last.name = node.name;
      last.op = act == "relu" ? "Relu" : act == "sigmoid" ? "Sigmoid" : "Tanh";
      last.device = node.device;
      last.inputs = {TensorRef{add.name, 0}};
      if (!onnx) last.attrs.Set("T", DType::kFloat32);
      nodes.push_back(std::move(term));
      nodes.push_back(std::move(add));
    }
    last.output_names = node.output_names;  // the readers' tensor keeps its name
    nodes.push_back(std::move(last));
    ++moved;
  }
  *out = graph;
  if (moved > 0) RANKOPT_RETURN_IF_ERROR(out->SetNodes(std::move(nodes)));
  return moved;
}

}  // namespace

absl::StatusOr<ItemGraphSplit> SplitItemGraph(const Graph& source,
                                              const std::vector<RequestLevelInput>& request_inputs,
                                              const std::vector<std::string>& outputs,
                                              const ItemSplitOptions& options) {
  RANKOPT_RETURN_IF_ERROR(
      graph_split::CheckRequestInputs(source, request_inputs, "split item graph"));
  absl::flat_hash_set<std::string> request;  // whole request-level inputs
  for (const RequestLevelInput& input : request_inputs) {
    if (input.columns.empty()) request.insert(input.name);
  }
  RANKOPT_RETURN_IF_ERROR(source.Validate());
  Graph graph(source.format());
  int moved = 0;
  {
    RANKOPT_ASSIGN_OR_RETURN(const ShapeMap shapes, InferShapes(source));
    RANKOPT_ASSIGN_OR_RETURN(
        moved, MoveItemHalves(source, ItemLevelTensors(source, request, shapes), &graph));
  }
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RANKOPT_ASSIGN_OR_RETURN(const ShapeMap shapes, InferShapes(graph));
  const absl::flat_hash_set<TensorRef> item = ItemLevelTensors(graph, request, shapes);

  RANKOPT_ASSIGN_OR_RETURN(const std::vector<TensorRef> output_refs,
                           graph_split::ResolveOutputs(graph, outputs));
  if (const TensorRef* ref = graph_split::FirstOutputIn(output_refs, item)) {
    return NotApplicable(absl::StrCat("output '", ref->ToString(), "' is item-level"));
  }

  // The boundary: item-level tensors made by a node (graph inputs stay inputs of the cross
  // part) and read by a node that is not item-level, in graph order.
  const std::vector<TensorRef> boundary =
      graph_split::FindBoundary(graph, item, /*graph_inputs=*/false);
  if (boundary.empty()) return NotApplicable("no item-level tensor reaches a cross node");

  // What the item part reads and does: walk back from the boundary through item-level nodes.
  absl::flat_hash_map<std::string, std::vector<int64_t>> columns_of;  // feed -> columns
  absl::flat_hash_set<std::string> whole;                             // feeds read whole
  bool work = false;
  {
    std::vector<std::string> stack = graph_split::BoundaryNodes(boundary);
    absl::flat_hash_set<std::string> seen(stack.begin(), stack.end());
    while (!stack.empty()) {
      const Node* node = graph.FindNode(stack.back());
      stack.pop_back();
      if (node == nullptr) continue;
      work |= IsWork(node->op, options.cache_lookups);
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        const TensorRef& in = node->inputs[i];
        // Constants stay in both parts; a remote table's inputs are fed whole, never keyed on.
        if (in.empty() || !item.contains(in) || IsRemoteTableInput(*node, i)) continue;
        const Node* producer = graph.FindNode(in.node);
        if (producer != nullptr && producer->op == kPlaceholderOp) {
          const std::string feed = pass_util::FeedName(graph, *producer);
          const auto* columns = node->attrs.Get<std::vector<int64_t>>("columns");
          if (node->op == kSelectColumnsOp && columns != nullptr) {
            std::vector<int64_t>& c = columns_of[feed];
            c.insert(c.end(), columns->begin(), columns->end());
          } else {
            whole.insert(feed);
          }
          continue;
        }
        if (seen.insert(in.node).second) stack.push_back(in.node);
      }
    }
  }
  if (!work) {
    return NotApplicable(options.cache_lookups
                             ? "the item-level part reads no table and multiplies nothing"
                             : "the item-level part only reads tables (a cache lookup costs "
                               "more than the read it saves)");
  }

  ItemGraphSplit split;
  split.applicable = true;
  split.moved_layers = moved;
  split.item_inputs = graph_split::InputsRead(graph, whole, columns_of);

  // The item part: the rewritten graph computing the boundary.
  split.item = graph_split::FirstPart(graph);
  std::vector<GraphOutput>* item_outputs = split.item.mutable_outputs();

  // The cross part: the other nodes, the boundary read from new Placeholders.
  graph_split::BoundaryCut cut(graph);
  for (const TensorRef& ref : boundary) {
    const InferredTensor& inferred = LookupInferred(shapes, ref);
    ItemBoundary b;
    b.tensor = ref;
    b.item_name = ref.ToString();
    b.dtype = inferred.dtype;
    b.shape = inferred.shape;
    bool known = b.dtype != DType::kInvalid && b.shape.known_rank() && b.shape.rank() >= 1;
    for (int d = 1; known && d < b.shape.rank(); ++d) known = b.shape.dim(d) >= 0;
    if (!known) {
      return NotApplicable(absl::StrCat("the row shape of boundary tensor '", ref.ToString(),
                                        "' is unknown (", b.shape.ToString(), ")"));
    }
    {
      std::vector<int64_t> dims = b.shape.dims();
      dims[0] = -1;  // one row per candidate
      b.shape = Shape(std::move(dims));
    }
    b.feed_name = cut.Add(ref, "/item_boundary", b.dtype, b.shape);
    item_outputs->push_back(GraphOutput{b.item_name, ref});
    split.boundary.push_back(std::move(b));
  }
  split.cross = graph;
  RANKOPT_RETURN_IF_ERROR(cut.Apply(item, &split.cross));
  RANKOPT_RETURN_IF_ERROR(split.item.Validate());
  return split;
}

}  // namespace rankopt
