#include "graph/passes/prune.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "prune";

// Ops whose only purpose is a control dependency: edges on them are dropped.
bool IsControlOnlyOp(const Node& node) {
  return (node.op == "NoOp" || node.op == "Assert") && node.domain.empty();
}

bool IsSwitchOp(const Node& node) { return node.op == "Switch" || node.op == "RefSwitch"; }

// The tensor behind `ref` past pass-through nodes ordered only after NoOp/Assert (the
// shape prune leaves them in), or `ref` itself.
TensorRef PastAssertIdentities(const std::vector<Node>& nodes,
                               const std::function<int(absl::string_view)>& find, TensorRef ref) {
  for (size_t steps = 0; steps <= nodes.size(); ++steps) {
    int i = ref.port == 0 ? find(ref.node) : -1;
    if (i < 0 || !IsPassThroughOp(nodes[i]) || nodes[i].inputs.size() != 1) return ref;
    for (const std::string& control : nodes[i].control_inputs) {
      int c = find(control);
      if (c < 0 || !IsControlOnlyOp(nodes[c])) return ref;
    }
    ref = nodes[i].inputs[0];
  }
  return ref;
}

// True for the Merge that closes tf.Assert's guard, cond(condition, no_op, Assert): every
// input comes from one Switch(condition, condition) through Identities ordered only after the
// NoOp/Assert. With the Assert gone it computes nothing anyone reads; edges on it only order.
bool IsAssertGuardMerge(const std::vector<Node>& nodes,
                        const std::function<int(absl::string_view)>& find, int merge) {
  const Node& node = nodes[merge];
  if (node.op != "Merge" || node.inputs.empty()) return false;
  int switch_index = -1;
  for (const TensorRef& input : node.inputs) {
    TensorRef source = PastAssertIdentities(nodes, find, input);
    int s = find(source.node);
    if (s < 0 || !IsSwitchOp(nodes[s]) || (switch_index >= 0 && s != switch_index)) {
      return false;
    }
    switch_index = s;
  }
  const Node& guard = nodes[switch_index];
  return guard.inputs.size() == 2 && guard.inputs[0] == guard.inputs[1] &&
         guard.control_inputs.empty();
}

// A user-typed name with the tensor it resolved to.
struct Requested {
  std::string typed;
  TensorRef ref;
};

// One --inputs tensor that becomes a Placeholder.
struct Cut {
  std::string typed;           // as the user typed it
  TensorRef tensor;            // the tensor replaced, in `in`
  std::string placeholder;     // the new Placeholder's node name
  std::string tensor_name;     // ONNX: the tensor name the Placeholder outputs; TF: ""
  bool replaces_node = false;  // TF port 0: the Placeholder takes the producer's name and slot
  DType dtype = DType::kInvalid;
  Shape shape;
};

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, status.message()));
}

// Names a user could pass to --outputs, for the "no outputs" error.
std::string KnownOutputsHint(const Graph& graph) {
  std::vector<std::string> names;
  for (const GraphOutput& output : graph.outputs()) names.push_back("'" + output.name + "'");
  for (const Signature& signature : graph.signatures()) {
    for (const SignatureTensor& output : signature.outputs) {
      names.push_back("'" + output.key + "'");
    }
  }
  if (names.empty()) return "";
  if (names.size() > 10) names.resize(10);
  return absl::StrCat("; this model's outputs include ", absl::StrJoin(names, ", "));
}

// Resolves a name from --outputs/--inputs and checks that the port exists.
absl::StatusOr<TensorRef> ResolveChecked(const Graph& graph, absl::string_view flag,
                                         absl::string_view name) {
  absl::StatusOr<TensorRef> ref = graph.ResolveTensor(name);
  if (!ref.ok()) return WithContext(ref.status(), absl::StrCat("prune ", flag, ": "));
  const Node* node = graph.FindNode(ref->node);
  if (node == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("prune ", flag, ": '", name, "' refers to tensor '", ref->ToString(),
                     "', whose node is not in the graph; the model is inconsistent"));
  }
  if (ref->port < 0 ||
      (!node->output_names.empty() && ref->port >= static_cast<int>(node->output_names.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prune ", flag, ": '", name, "' reads output ", ref->port, " of node '", node->name, "' (",
        node->op, "), which has ", node->output_names.size(), " outputs"));
  }
  return *ref;
}

// The dtype (and, where an attribute states it, shape) of output `port` of `node`, read from
// its attributes: the fallback when shape inference cannot tell.
void TypeFromAttrs(const Node& node, int port, DType* dtype, Shape* shape) {
  if (port == 0) {
    if (const Tensor* value = node.attrs.Get<Tensor>("value")) {
      *dtype = value->dtype();
      *shape = Shape(value->dims());
      return;
    }
    if (const Shape* declared = node.attrs.Get<Shape>("shape")) *shape = *declared;
  }
  // Comparisons and logic produce bool whatever their "T" says.
  static const auto* const kBoolOps = new absl::flat_hash_set<std::string>{
      "Less",       "LessEqual", "Greater",    "GreaterEqual", "Equal", "NotEqual",
      "LogicalAnd", "LogicalOr", "LogicalNot", "IsNan",        "IsInf", "IsFinite",
      "And",        "Or",        "Not",        "Xor"};
  if (kBoolOps->contains(node.op)) {
    *dtype = DType::kBool;
    return;
  }
  for (absl::string_view attr : {"dtype", "DstT", "out_type", "output_type", "T"}) {
    if (const DType* t = node.attrs.Get<DType>(attr)) {
      *dtype = *t;
      return;
    }
  }
  for (absl::string_view attr : {"Tout", "output_types", "out_types", "T"}) {
    const std::vector<DType>* types = node.attrs.Get<std::vector<DType>>(attr);
    if (types != nullptr && port < static_cast<int>(types->size())) {
      *dtype = (*types)[port];
      return;
    }
  }
}

// Ops whose output 0 has the element type of their input 0 (TF and ONNX spellings).
bool PreservesInputType(const Node& node) {
  static const auto* const kOps = new absl::flat_hash_set<std::string>{
      "Abs",       "Add",       "AddV2",     "BiasAdd", "Clip",    "Concat",      "Div",
      "Dropout",   "Elu",       "Exp",       "Expand",  "Flatten", "FusedMatMul", "Gemm",
      "Identity",  "LeakyRelu", "Log",       "MatMul",  "Max",     "Maximum",     "Min",
      "Minimum",   "Mul",       "Neg",       "PRelu",   "Pow",     "ReduceMax",   "ReduceMean",
      "ReduceMin", "ReduceSum", "Relu",      "Reshape", "Sigmoid", "Slice",       "Softmax",
      "Softplus",  "Split",     "Sqrt",      "Squeeze", "Sub",     "Sum",         "Tanh",
      "Tile",      "Transpose", "Unsqueeze", "Where"};
  return kOps->contains(node.op);
}

// The dtype of `ref` from attributes, walking back through type-preserving ops (ONNX nodes
// carry no type attributes). kInvalid when no producer on the way says.
DType DTypeFromAttrs(const Graph& graph, TensorRef ref, Shape* shape) {
  for (size_t steps = 0; steps <= graph.num_nodes(); ++steps) {
    const Node* node = graph.FindNode(ref.node);
    if (node == nullptr) return DType::kInvalid;
    DType dtype = DType::kInvalid;
    Shape declared;
    TypeFromAttrs(*node, ref.port, &dtype, &declared);
    if (steps == 0) *shape = declared;
    if (dtype != DType::kInvalid) return dtype;
    if (!PreservesInputType(*node)) return DType::kInvalid;
    // "Where" takes the type of its value inputs, not of the bool condition.
    size_t value_input = node->op == "Where" ? 1 : 0;
    if (node->inputs.size() <= value_input || node->inputs[value_input].empty()) {
      return DType::kInvalid;
    }
    ref = node->inputs[value_input];
  }
  return DType::kInvalid;
}

std::string UniqueName(const std::string& base, const absl::flat_hash_set<std::string>& taken) {
  if (!taken.contains(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = absl::StrCat(base, "_", i);
    if (!taken.contains(candidate)) return candidate;
  }
}

// "Assign x40, SaveV2 x1" for the op types of `nodes`, most frequent first, at most `limit`.
std::string OpHistogram(const std::vector<const Node*>& nodes, size_t limit) {
  std::map<std::string, int64_t> counts;
  for (const Node* node : nodes) ++counts[node->op];
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> parts;
  for (size_t i = 0; i < sorted.size() && i < limit; ++i) {
    parts.push_back(absl::StrCat(sorted[i].first, " x", sorted[i].second));
  }
  if (sorted.size() > limit) parts.push_back("...");
  return absl::StrJoin(parts, ", ");
}

Node MakePlaceholder(const Cut& cut) {
  Node node;
  node.name = cut.placeholder;
  node.op = std::string(kPlaceholderOp);
  node.attrs.Set("dtype", cut.dtype);
  node.attrs.Set("shape", cut.shape);
  if (!cut.tensor_name.empty()) node.output_names = {cut.tensor_name};
  return node;
}

// What a prune was asked for, resolved against the input graph.
struct Request {
  std::vector<Requested> requested;
  std::vector<Cut> cuts;
  std::vector<std::string> existing_inputs;  // --inputs that already were Placeholders
};

// The working node list: the input's nodes with cut tensors rewired to their Placeholders.
struct CutGraph {
  std::vector<Node> nodes;
  absl::flat_hash_map<std::string, int> index;
  absl::flat_hash_map<TensorRef, TensorRef> cut_map;
  absl::flat_hash_set<std::string> replaced_nodes;

  int Find(absl::string_view name) const {
    auto it = index.find(name);
    return it == index.end() ? -1 : it->second;
  }
  TensorRef MapRef(const TensorRef& ref) const {
    auto it = cut_map.find(ref);
    return it == cut_map.end() ? ref : it->second;
  }
};

// Per node of a CutGraph: how prune treats it.
struct Marking {
  std::vector<char> is_requested;
  std::vector<char> droppable;  // control-only: edges on it are dropped
  std::vector<char> ordered;    // has control inputs that stay
  std::vector<char> pinned;     // an Identity of a Switch output a kept node orders after
  std::vector<char> removable;  // a pass-through that is bypassed
  std::vector<char> keep;
  std::vector<char> bypassed;  // removable and on a path the outputs need
  bool pass_through_cycle = false;
};

// What rewiring the kept nodes changed, for the report.
struct RewriteCounts {
  int64_t rewired = 0;
  int64_t dropped_controls = 0;
  int64_t colocations_dropped = 0;
};

std::function<int(absl::string_view)> Finder(const CutGraph& graph) {
  return [&graph](absl::string_view name) { return graph.Find(name); };
}

// `ref` past removable nodes (marking them bypassed); flags a pass-through cycle.
TensorRef Resolve(const CutGraph& graph, Marking* m, TensorRef ref) {
  const int n = static_cast<int>(graph.nodes.size());
  for (int steps = 0; steps <= n; ++steps) {
    if (ref.port != 0) return ref;
    int i = graph.Find(ref.node);
    if (i < 0 || !m->removable[i]) return ref;
    m->bypassed[i] = 1;
    ref = graph.nodes[i].inputs[0];
  }
  m->pass_through_cycle = true;
  return ref;
}

// Stage 1: the --outputs and --inputs names, resolved against `in`.
absl::StatusOr<Request> ResolveRequest(const Graph& in, const PassOptions& options,
                                       PassReport* report) {
  Request request;
  std::vector<Requested>& requested = request.requested;
  for (const std::string& name : options.outputs) {
    RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, ResolveChecked(in, "--outputs", name));
    bool duplicate = false;
    for (const Requested& r : requested) duplicate |= r.typed == name;
    if (duplicate) {
      report->notes.push_back(absl::StrCat("output '", name, "' requested twice; kept once"));
      continue;
    }
    requested.push_back({name, ref});
  }

  std::vector<Cut>& cuts = request.cuts;
  for (const std::string& name : options.inputs) {
    RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, ResolveChecked(in, "--inputs", name));
    const Node& producer = *in.FindNode(ref.node);
    if (producer.op == kPlaceholderOp && ref.port == 0) {
      request.existing_inputs.push_back(ref.node);
      continue;
    }
    bool duplicate = false;
    for (const Cut& c : cuts) duplicate |= c.tensor == ref;
    if (duplicate) continue;
    Cut cut;
    cut.typed = name;
    cut.tensor = ref;
    cuts.push_back(std::move(cut));
  }
  return request;
}

// Stage 2: name and type each cut. Shape inference is the source of truth; node attributes are
// the fallback when it is not built in or cannot handle the graph.
absl::Status NameAndTypeCuts(const Graph& in, std::vector<Cut>* cuts, PassReport* report) {
  if (cuts->empty()) return absl::OkStatus();
  const bool onnx = in.format() == ModelFormat::kOnnx;
  absl::flat_hash_set<std::string> taken;
  for (const Node& node : in.nodes()) taken.insert(node.name);
  absl::StatusOr<ShapeMap> shapes = InferShapes(in);
  if (!shapes.ok()) {
    report->notes.push_back(absl::StrCat("shape inference failed (", shapes.status().message(),
                                         "); input dtypes read from node attributes"));
  }
  for (Cut& cut : *cuts) {
    const Node& producer = *in.FindNode(cut.tensor.node);
    if (onnx) {
      cut.tensor_name = cut.tensor.port < static_cast<int>(producer.output_names.size())
                            ? producer.output_names[cut.tensor.port]
                            : cut.tensor.ToString();
      // ONNX feeds a graph input by its tensor name; the node name only has to be unique.
      cut.placeholder = UniqueName(cut.tensor_name, taken);
    } else if (cut.tensor.port == 0) {
      // TF semantics: the Placeholder takes the node's name so "node" still feeds it.
      cut.placeholder = producer.name;
      cut.replaces_node = true;
    } else {
      cut.placeholder = UniqueName(absl::StrCat(producer.name, "_", cut.tensor.port), taken);
    }
    taken.insert(cut.placeholder);
    if (shapes.ok()) {
      auto it = shapes->find(cut.tensor);
      if (it != shapes->end()) {
        cut.dtype = it->second.dtype;
        cut.shape = it->second.shape;
      }
    }
    if (cut.dtype == DType::kInvalid) {
      Shape attr_shape;
      cut.dtype = DTypeFromAttrs(in, cut.tensor, &attr_shape);
      if (!cut.shape.known_rank()) cut.shape = attr_shape;
    }
    if (cut.dtype == DType::kInvalid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prune --inputs '", cut.typed, "': cannot tell the dtype of tensor '",
          onnx ? cut.tensor_name : cut.tensor.ToString(), "' (output ", cut.tensor.port, " of ",
          producer.op, " node '", producer.name,
          "'), which the new Placeholder needs; cut at a neighbouring tensor whose producer "
          "declares its type (a 'dtype', 'T' or 'out_type' attribute)"));
    }
  }
  return absl::OkStatus();
}

// Stage 3: the working node list, cut tensors rewired to their Placeholders, which sit where
// their producer sat (source order is kept for exporters); `requested` remapped to match.
void ApplyCuts(const Graph& in, const std::vector<Cut>& cuts, std::vector<Requested>* requested,
               CutGraph* graph) {
  absl::flat_hash_map<std::string, std::vector<const Cut*>> cuts_by_producer;
  for (const Cut& cut : cuts) {
    graph->cut_map[cut.tensor] = TensorRef{cut.placeholder, 0};
    cuts_by_producer[cut.tensor.node].push_back(&cut);
    if (cut.replaces_node) graph->replaced_nodes.insert(cut.tensor.node);
  }
  std::vector<Node>& nodes = graph->nodes;
  nodes.reserve(in.num_nodes() + cuts.size());
  for (const Node& original : in.nodes()) {
    auto cut_it = cuts_by_producer.find(original.name);
    const Cut* replacing = nullptr;
    if (cut_it != cuts_by_producer.end()) {
      for (const Cut* cut : cut_it->second) {
        if (cut->replaces_node) {
          replacing = cut;
        } else {
          nodes.push_back(MakePlaceholder(*cut));
        }
      }
    }
    if (replacing != nullptr) {
      nodes.push_back(MakePlaceholder(*replacing));
      continue;
    }
    nodes.push_back(original);
    for (TensorRef& input : nodes.back().inputs) input = graph->MapRef(input);
  }
  for (Requested& r : *requested) r.ref = graph->MapRef(r.ref);

  const int n = static_cast<int>(nodes.size());
  graph->index.reserve(n);
  for (int i = 0; i < n; ++i) graph->index.emplace(nodes[i].name, i);
}

// Stage 4: control-only nodes whose edges are dropped, and nodes ordered by edges that stay.
void ClassifyNodes(const CutGraph& graph, const std::vector<Requested>& requested, Marking* m) {
  const std::vector<Node>& nodes = graph.nodes;
  const int n = static_cast<int>(nodes.size());
  const std::function<int(absl::string_view)> find = Finder(graph);
  m->is_requested.assign(n, 0);
  for (const Requested& r : requested) {
    int i = find(r.ref.node);
    if (i >= 0) m->is_requested[i] = 1;
  }
  std::vector<char> data_consumed(n, 0);
  for (const Node& node : nodes) {
    for (const TensorRef& input : node.inputs) {
      int i = input.empty() ? -1 : find(input.node);
      if (i >= 0) data_consumed[i] = 1;
    }
  }
  m->droppable.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    if (m->is_requested[i]) continue;
    m->droppable[i] =
        IsControlOnlyOp(nodes[i]) || (!data_consumed[i] && IsAssertGuardMerge(nodes, find, i));
  }
  // A pass-through node with control inputs that stay is kept rather than bypassed: moving
  // those edges to its consumers would be equivalent, but keeping it leaves the ordering a
  // kept stateful op relies on exactly where the model put it.
  m->ordered.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    for (const std::string& control : nodes[i].control_inputs) {
      int c = find(control);
      m->ordered[i] |= c < 0 || !m->droppable[c];
    }
  }
}

// One round of stage 5: marks `keep` from the outputs through data and (surviving) control
// inputs. True when it pinned a new Identity, so the marking must run again.
bool MarkKeptOnce(const CutGraph& graph, const std::vector<Requested>& requested, Marking* m) {
  const std::vector<Node>& nodes = graph.nodes;
  const int n = static_cast<int>(nodes.size());
  bool again = false;
  for (int i = 0; i < n; ++i) {
    const Node& node = nodes[i];
    int producer =
        node.inputs.size() == 1 && !node.inputs[0].empty() ? graph.Find(node.inputs[0].node) : -1;
    m->removable[i] = IsPassThroughOp(node) && !m->is_requested[i] && producer >= 0 &&
                      !m->ordered[i] && !m->pinned[i];
  }
  std::fill(m->keep.begin(), m->keep.end(), 0);
  std::fill(m->bypassed.begin(), m->bypassed.end(), 0);
  std::vector<int> stack;
  auto mark = [&](absl::string_view name) {
    int i = graph.Find(name);
    if (i >= 0 && !m->keep[i]) {
      m->keep[i] = 1;
      stack.push_back(i);
    }
  };
  for (const Requested& r : requested) mark(r.ref.node);
  while (!stack.empty()) {
    const Node& node = nodes[stack.back()];
    stack.pop_back();
    for (const TensorRef& input : node.inputs) {
      if (!input.empty()) mark(Resolve(graph, m, input).node);
    }
    for (const std::string& control : node.control_inputs) {
      int c = graph.Find(control);
      if (c >= 0 && m->droppable[c]) continue;
      // Walk the bypassed chain this edge would move along; pin it at a Switch.
      for (int x = c, steps = 0; x >= 0 && m->removable[x] && steps <= n; ++steps) {
        int producer = graph.Find(nodes[x].inputs[0].node);
        if (IsSwitchOp(nodes[producer])) {
          m->pinned[x] = 1;
          again = true;
          break;
        }
        if (nodes[x].inputs[0].port != 0) break;
        x = producer;
      }
      mark(c >= 0 && m->removable[c] ? Resolve(graph, m, TensorRef{control, 0}).node : control);
    }
  }
  return again;
}

// Stage 5: keep what the outputs need. An Identity of a Switch output that a kept node orders
// after carries the branch's deadness (tf.cond pins branch constants to it), so it must stay
// (Grappler's dependency optimizer has the same guard). Found while marking, so the marking
// repeats until none is new.
absl::Status MarkKept(const CutGraph& graph, const std::vector<Requested>& requested, Marking* m) {
  const int n = static_cast<int>(graph.nodes.size());
  m->pinned.assign(n, 0);
  m->removable.assign(n, 0);
  m->keep.assign(n, 0);
  m->bypassed.assign(n, 0);
  for (bool again = true; again && !m->pass_through_cycle;) {
    again = MarkKeptOnce(graph, requested, m);
  }
  if (m->pass_through_cycle) {
    return absl::InvalidArgumentError(
        "prune: pass-through nodes (Identity, ...) form a cycle; the model graph is invalid");
  }
  return absl::OkStatus();
}

// Drops colocation constraints ("_class": "loc:@x") on nodes that are gone: TF refuses to import
// them. Returns how many were dropped.
int64_t DropGoneColocations(const CutGraph& graph, const Marking& m, Node* node) {
  const auto* classes = node->attrs.Get<std::vector<std::string>>("_class");
  if (classes == nullptr) return 0;
  std::vector<std::string> still;
  for (const std::string& entry : *classes) {
    if (absl::StartsWith(entry, "loc:@")) {
      int c = graph.Find(absl::string_view(entry).substr(5));
      if (c < 0 || !m.keep[c]) continue;
    }
    still.push_back(entry);
  }
  if (still.size() == classes->size()) return 0;
  const int64_t dropped = static_cast<int64_t>(classes->size() - still.size());
  if (still.empty()) {
    node->attrs.Erase("_class");
  } else {
    node->attrs.Set("_class", std::move(still));
  }
  return dropped;
}

// Stage 6: the surviving nodes, in order, with inputs rewired past bypassed nodes.
absl::StatusOr<std::vector<Node>> RewireKept(const CutGraph& graph, Marking* m,
                                             RewriteCounts* counts) {
  const std::vector<Node>& nodes = graph.nodes;
  const int n = static_cast<int>(nodes.size());
  std::vector<Node> kept_nodes;
  for (int i = 0; i < n; ++i) {
    if (!m->keep[i] && !m->bypassed[i]) continue;
    for (const std::string& control : nodes[i].control_inputs) {
      int c = graph.Find(control);
      counts->dropped_controls += c >= 0 && m->droppable[c];
    }
    if (!m->keep[i]) continue;
    Node node = nodes[i];
    for (TensorRef& input : node.inputs) {
      if (input.empty()) continue;
      TensorRef target = Resolve(graph, m, input);
      if (target != input) {
        ++counts->rewired;
        input = std::move(target);
      }
      if (input.port != 0 && graph.replaced_nodes.contains(input.node)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "prune --inputs: node '", input.node, "' became a Placeholder, but node '", node.name,
            "', which the outputs need, still reads its output ", input.port, "; also pass '",
            input.ToString(), "' to --inputs, or cut at other tensors"));
      }
    }
    std::vector<std::string> controls;
    for (const std::string& control : node.control_inputs) {
      int c = graph.Find(control);
      if (c >= 0 && m->droppable[c]) continue;
      std::string target =
          c >= 0 && m->removable[c] ? Resolve(graph, m, TensorRef{control, 0}).node : control;
      if (target != control) ++counts->rewired;
      if (target == node.name ||
          std::find(controls.begin(), controls.end(), target) != controls.end()) {
        continue;
      }
      controls.push_back(std::move(target));
    }
    node.control_inputs = std::move(controls);
    counts->colocations_dropped += DropGoneColocations(graph, *m, &node);
    kept_nodes.push_back(std::move(node));
  }
  return kept_nodes;
}

// Stage 7: graph outputs, exactly the requested ones, in order.
void SetOutputs(const std::vector<Requested>& requested, bool onnx, Graph* result,
                PassReport* report) {
  for (const Requested& r : requested) {
    std::string name = r.typed;
    const Node* producer = result->FindNode(r.ref.node);
    if (onnx && producer != nullptr &&
        r.ref.port < static_cast<int>(producer->output_names.size())) {
      name = producer->output_names[r.ref.port];  // an ONNX graph output is its tensor's name
    }
    bool duplicate = false;
    for (const GraphOutput& o : result->outputs()) duplicate |= o.name == name;
    if (duplicate) {
      report->notes.push_back(
          absl::StrCat("output '", r.typed, "' is tensor '", name, "', already an output"));
      continue;
    }
    result->mutable_outputs()->push_back({std::move(name), r.ref});
  }
}

// Stage 8: signatures keep requested outputs only, inputs that survive, and new inputs for the
// cuts. Returns how many signatures were dropped.
int64_t KeepSignatures(const Graph& in, const Request& request, const CutGraph& graph, Marking* m,
                       Graph* result, PassReport* report) {
  int64_t signatures_dropped = 0;
  for (const Signature& signature : in.signatures()) {
    Signature kept = signature;
    kept.outputs.clear();
    for (const SignatureTensor& output : signature.outputs) {
      TensorRef target = Resolve(graph, m, graph.MapRef(output.ref));
      for (const Requested& r : request.requested) {
        if (r.ref != target) continue;
        SignatureTensor tensor = output;
        tensor.ref = target;
        kept.outputs.push_back(std::move(tensor));
        break;
      }
    }
    if (kept.outputs.empty()) {
      ++signatures_dropped;
      report->notes.push_back(
          absl::StrCat("signature '", signature.key, "' dropped: none of its outputs was kept"));
      continue;
    }
    kept.inputs.clear();
    for (const SignatureTensor& input : signature.inputs) {
      SignatureTensor tensor = input;
      tensor.ref = graph.MapRef(input.ref);
      if (result->FindNode(tensor.ref.node) != nullptr) kept.inputs.push_back(std::move(tensor));
    }
    // A cut input is fed through the signature like any other input: key = the name typed.
    for (const Cut& cut : request.cuts) {
      if (result->FindNode(cut.placeholder) == nullptr) continue;
      const TensorRef placeholder_ref{cut.placeholder, 0};
      bool present = false;
      for (const SignatureTensor& input : kept.inputs) {
        present |= input.ref == placeholder_ref || input.key == cut.typed;
      }
      if (present) continue;
      SignatureTensor tensor;
      tensor.key = cut.typed;
      tensor.ref = placeholder_ref;
      tensor.dtype = cut.dtype;
      tensor.shape = cut.shape;
      kept.inputs.push_back(std::move(tensor));
    }
    result->mutable_signatures()->push_back(std::move(kept));
  }
  return signatures_dropped;
}

// Stage 9a: notes on what was removed, bypassed or cut.
void NoteRemovals(const CutGraph& graph, const Marking& m, const Request& request,
                  const RewriteCounts& counts, const Graph& result, PassReport* report) {
  const std::vector<Node>& nodes = graph.nodes;
  const int n = static_cast<int>(nodes.size());
  int64_t pass_through_kept_for_control = 0;
  for (int i = 0; i < n; ++i) {
    pass_through_kept_for_control +=
        m.keep[i] && IsPassThroughOp(nodes[i]) && (m.ordered[i] || m.pinned[i]);
  }
  std::vector<const Node*> bypassed_nodes, control_only, unneeded;
  for (int i = 0; i < n; ++i) {
    if (m.keep[i]) continue;
    if (m.bypassed[i]) {
      bypassed_nodes.push_back(&nodes[i]);
    } else if (m.droppable[i]) {
      control_only.push_back(&nodes[i]);
    } else {
      unneeded.push_back(&nodes[i]);
    }
  }
  if (!bypassed_nodes.empty()) {
    report->notes.push_back(absl::StrCat("bypassed ", bypassed_nodes.size(),
                                         " pass-through nodes (", OpHistogram(bypassed_nodes, 5),
                                         ")"));
  }
  if (pass_through_kept_for_control > 0) {
    report->notes.push_back(absl::StrCat("kept ", pass_through_kept_for_control,
                                         " pass-through nodes that carry control dependencies"));
  }
  if (counts.dropped_controls > 0 || !control_only.empty()) {
    report->notes.push_back(absl::StrCat("dropped ", counts.dropped_controls,
                                         " control edges on NoOp/Assert/assert guards; removed ",
                                         control_only.size(), " such nodes (",
                                         OpHistogram(control_only, 3), ")"));
  }
  if (!unneeded.empty()) {
    report->notes.push_back(absl::StrCat("removed ", unneeded.size(), " nodes no output needs (",
                                         OpHistogram(unneeded, 8), ")"));
  }
  if (counts.colocations_dropped > 0) {
    report->notes.push_back(absl::StrCat("dropped ", counts.colocations_dropped,
                                         " colocation constraints on removed nodes"));
  }
  for (const Cut& cut : request.cuts) {
    if (result.FindNode(cut.placeholder) == nullptr) {
      report->notes.push_back(
          absl::StrCat("input '", cut.typed, "' is not upstream of any requested output; ignored"));
      continue;
    }
    report->notes.push_back(absl::StrCat("input '", cut.typed, "' is now Placeholder '",
                                         cut.placeholder, "' (", DTypeName(cut.dtype), " ",
                                         cut.shape.ToString(), ")"));
  }
  for (const std::string& name : request.existing_inputs) {
    if (result.FindNode(name) == nullptr) {
      report->notes.push_back(
          absl::StrCat("input '", name, "' is not upstream of any requested output; removed"));
    }
  }
}

// Stage 9b: whether the prune changed anything a user or exporter sees.
bool Changed(const Graph& in, const Graph& result, const Request& request,
             const RewriteCounts& counts, int64_t signatures_dropped) {
  bool outputs_changed = in.outputs().size() != result.outputs().size();
  for (size_t i = 0; !outputs_changed && i < in.outputs().size(); ++i) {
    outputs_changed = in.outputs()[i].name != result.outputs()[i].name ||
                      in.outputs()[i].ref != result.outputs()[i].ref;
  }
  bool signatures_changed = signatures_dropped > 0;
  for (size_t i = 0; !signatures_changed && i < result.signatures().size(); ++i) {
    const Signature& before = in.signatures()[i];
    const Signature& after = result.signatures()[i];
    signatures_changed = before.inputs.size() != after.inputs.size() ||
                         before.outputs.size() != after.outputs.size();
  }
  return result.num_nodes() != in.num_nodes() || !request.cuts.empty() || counts.rewired > 0 ||
         counts.dropped_controls > 0 || counts.colocations_dropped > 0 || outputs_changed ||
         signatures_changed;
}

}  // namespace

bool IsPassThroughOp(const Node& node) {
  if (!node.domain.empty() && node.domain != "ai.onnx") return false;
  return node.op == "Identity" || node.op == "StopGradient" || node.op == "PreventGradient" ||
         node.op == "CheckNumerics" || node.op == "Snapshot";
}

absl::StatusOr<PassReport> PruneGraph(const Graph& in, const PassOptions& options, Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("PruneGraph: `out` is null; pass a Graph to write into");
  }
  if (options.outputs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prune needs at least one output to keep: pass --outputs NAME[,NAME...] "
                     "(a node name, 'node:port', an ONNX tensor name or a signature output key)",
                     KnownOutputsHint(in)));
  }
  PassReport report;
  report.pass = std::string(kPassName);
  RANKOPT_ASSIGN_OR_RETURN(Request request, ResolveRequest(in, options, &report));
  RANKOPT_RETURN_IF_ERROR(NameAndTypeCuts(in, &request.cuts, &report));
  CutGraph graph;
  ApplyCuts(in, request.cuts, &request.requested, &graph);
  Marking marking;
  ClassifyNodes(graph, request.requested, &marking);
  RANKOPT_RETURN_IF_ERROR(MarkKept(graph, request.requested, &marking));
  RewriteCounts counts;
  RANKOPT_ASSIGN_OR_RETURN(std::vector<Node> kept_nodes, RewireKept(graph, &marking, &counts));

  Graph result(in.format());
  result.set_onnx_opset(in.onnx_opset());
  result.set_source(in.source());
  RANKOPT_RETURN_IF_ERROR(result.SetNodes(std::move(kept_nodes)));
  SetOutputs(request.requested, in.format() == ModelFormat::kOnnx, &result, &report);
  const int64_t signatures_dropped = KeepSignatures(in, request, graph, &marking, &result, &report);
  // Frozen variables that were pruned are no longer in the graph.
  for (const std::string& name : in.frozen_variables()) {
    if (result.FindNode(name) != nullptr) result.mutable_frozen_variables()->push_back(name);
  }
  absl::Status valid = result.Validate();
  if (!valid.ok()) {
    return WithContext(valid,
                       "prune: the pruned graph is invalid (is the input model valid? "
                       "`rankopt summarize` checks it): ");
  }

  NoteRemovals(graph, marking, request, counts, result, &report);
  report.changed = Changed(in, result, request, counts, signatures_dropped);
  RecordNodeCounts(in, result, &report);
  *out = std::move(result);
  return report;
}

}  // namespace rankopt
