#include "graph/passes/request_level.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using pass_util::AxesOf;
using pass_util::ConstInts;

constexpr absl::string_view kPassName = "request_level";

bool In(absl::string_view op, std::initializer_list<absl::string_view> ops) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// Ops whose every output element depends only on the same element of each (broadcast) input.
bool IsElementwise(absl::string_view op) {
  return In(op, {"Identity", "Cast", "Sigmoid", "Relu", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt",
                 "Reciprocal", "Softplus", "Erf", "Not", "Floor", "Ceil", "Round", "Sign",
                 "IsNaN", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Clip", "Square", "Rsqrt",
                 "StopGradient", "LogicalNot", "Add", "Sub", "Mul", "Div", "Pow", "Less",
                 "LessOrEqual", "Greater", "GreaterOrEqual", "Equal", "NotEqual", "And", "Or",
                 "Xor", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "BiasAdd", "AddV2",
                 "RealDiv", "Maximum", "Minimum", "LogicalAnd", "LogicalOr", "Select",
                 "SelectV2", "SquaredDifference", "FloorDiv", "FloorMod", "Mod", "Gelu",
                 "HardSwish", "Mish", "Celu", "ThresholdedRelu", "Expm1", "Log1p", "Sin", "Cos",
                 "Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "IsInf", "IsNan", "IsFinite"});
}

int RankOf(const ShapeMap& shapes, const TensorRef& ref) {
  const Shape& s = LookupInferred(shapes, ref).shape;
  return s.known_rank() ? s.rank() : -1;
}

// True when no axis of `axes` (numpy-style, negative from the end of a rank-`rank` tensor) is
// the batch axis 0. Unknown rank with a negative axis: false.
bool AvoidsBatchAxis(const std::vector<int64_t>& axes, int rank) {
  if (axes.empty()) return false;
  for (int64_t a : axes) {
    if (a < 0) {
      if (rank < 0) return false;
      a += rank;
    }
    if (a == 0) return false;
  }
  return true;
}

bool IsConst(const Graph& graph, const TensorRef& ref) {
  return graph.ConstantBehind(ref) != nullptr;
}

bool IsRemoteLookup(absl::string_view op) {
  return op == "_RankoptRemoteEmbeddingLookup" || op == "_RankoptRemoteEmbeddingBag";
}

// Row-wise: computed on request-level inputs with one row, the node yields row 0 of what it
// yields on N equal rows. `request` holds the request-level tensors; every non-constant data
// input must be one of them (checked by the caller).
bool IsRowWise(const Graph& graph, const Node& node, const ShapeMap& shapes) {
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  const std::string& op = node.op;
  const int out_rank = RankOf(shapes, TensorRef{node.name, 0});
  if (op == kRequestRowOp || op == "_RankoptAttentionPooling" || op == "_RankoptEmbeddingLookup" ||
      op == "_RankoptEmbeddingBag" || op == "_RankoptMultiLookup" || IsRemoteLookup(op)) {
    return true;
  }
  if (IsElementwise(op)) {
    if (out_rank < 1) return false;
    for (const TensorRef& in : node.inputs) {
      if (in.empty()) continue;
      const int rank = RankOf(shapes, in);
      if (IsConst(graph, in)) {
        // A constant must not carry a batch axis of its own.
        const Shape& s = LookupInferred(shapes, in).shape;
        if (rank < 0 || (rank == out_rank && s.dim(0) != 1)) return false;
      } else if (rank != out_rank) {
        return false;  // its axis 0 would not line up with the output's batch axis
      }
    }
    return true;
  }
  if (op == "Gather" && onnx) {
    const int64_t* axis = node.attrs.Get<int64_t>("axis");
    return node.inputs.size() == 2 && (axis == nullptr || *axis == 0) &&
           IsConst(graph, node.inputs[0]);
  }
  if ((op == "GatherV2" || op == "ResourceGather") && !onnx) {
    const int64_t* batch_dims = node.attrs.Get<int64_t>("batch_dims");
    if (batch_dims != nullptr && *batch_dims != 0) return false;
    if (!IsConst(graph, node.inputs[0])) return false;
    if (op == "GatherV2") {
      std::optional<std::vector<int64_t>> axis = ConstInts(graph, node.inputs[2]);
      return axis.has_value() && axis->size() == 1 && (*axis)[0] == 0;
    }
    return true;
  }
  if (op == "Gather" && !onnx) return IsConst(graph, node.inputs[0]);
  if (op == "Concat" && onnx) {
    for (const TensorRef& in : node.inputs) {
      if (IsConst(graph, in)) return false;
    }
    std::optional<std::vector<int64_t>> axis = AxesOf(graph, node, "axis", -1);
    return axis.has_value() && AvoidsBatchAxis(*axis, out_rank);
  }
  if (op == "ConcatV2" && !onnx) {
    for (size_t i = 0; i + 1 < node.inputs.size(); ++i) {
      if (IsConst(graph, node.inputs[i])) return false;
    }
    std::optional<std::vector<int64_t>> axis = ConstInts(graph, node.inputs.back());
    return axis.has_value() && AvoidsBatchAxis(*axis, out_rank);
  }
  if (op == "Unsqueeze") {
    std::optional<std::vector<int64_t>> axes = AxesOf(graph, node, "axes", 1);
    return axes.has_value() && AvoidsBatchAxis(*axes, out_rank);
  }
  if (op == "ExpandDims") {
    std::optional<std::vector<int64_t>> axes = ConstInts(graph, node.inputs[1]);
    return axes.has_value() && AvoidsBatchAxis(*axes, out_rank);
  }
  if (op == "Flatten" && onnx) {  // [B, ...] -> [B, prod(rest)] keeps rows when axis is 1
    const int64_t* axis = node.attrs.Get<int64_t>("axis");
    return axis == nullptr || *axis == 1;
  }
  if (op == "Squeeze") {
    std::optional<std::vector<int64_t>> axes =
        onnx ? AxesOf(graph, node, "axes", 1) : AxesOf(graph, node, "squeeze_dims", -1);
    return axes.has_value() && AvoidsBatchAxis(*axes, RankOf(shapes, node.inputs[0]));
  }
  if (op == "MatMul" || op == "BatchMatMul" || op == "BatchMatMulV2") {
    if (node.inputs.size() != 2) return false;
    if (IsConst(graph, node.inputs[1])) return RankOf(shapes, node.inputs[0]) >= 2;
    // Two request-level operands: a batched product whose leading axis is the batch.
    return RankOf(shapes, node.inputs[0]) >= 3 && RankOf(shapes, node.inputs[1]) >= 3;
  }
  if (op == "Gemm") {
    const int64_t* trans_a = node.attrs.Get<int64_t>("transA");
    if (trans_a != nullptr && *trans_a != 0) return false;
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      if (!node.inputs[i].empty() && !IsConst(graph, node.inputs[i])) return false;
    }
    return true;
  }
  if (op == "_RankoptFusedMatMul") return IsConst(graph, node.inputs[1]);
  if (op == "Transpose" && onnx) {
    const auto* perm = node.attrs.Get<std::vector<int64_t>>("perm");
    return perm != nullptr && !perm->empty() && (*perm)[0] == 0;
  }
  if (In(op, {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"}) && onnx) {
    std::optional<std::vector<int64_t>> axes = AxesOf(graph, node, "axes", 1);
    return axes.has_value() && AvoidsBatchAxis(*axes, RankOf(shapes, node.inputs[0]));
  }
  if (In(op, {"Sum", "Mean", "Max", "Min", "Prod"}) && !onnx && node.inputs.size() == 2) {
    std::optional<std::vector<int64_t>> axes = ConstInts(graph, node.inputs[1]);
    return axes.has_value() && AvoidsBatchAxis(*axes, RankOf(shapes, node.inputs[0]));
  }
  if (op == "GRU" && onnx) {
    // Batch first (layout 1: gru_batch_first makes it) with constant weights and no initial
    // state: each row's Y and Y_h depend on that row of X (and of sequence_lens) alone.
    const int64_t* layout = node.attrs.Get<int64_t>("layout");
    if (layout == nullptr || *layout != 1 || node.inputs.size() < 3) return false;
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      const bool present = !node.inputs[i].empty();
      const bool constant = present && IsConst(graph, node.inputs[i]);
      if ((i <= 2 && !constant) || (i == 3 && present && !constant) || (i == 4 && constant) ||
          (i == 5 && present)) {
        return false;
      }
    }
    return true;
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    const int64_t* axis = node.attrs.Get<int64_t>("axis");
    const int64_t a = axis != nullptr ? *axis : (onnx && graph.onnx_opset() < 13 ? 1 : -1);
    return AvoidsBatchAxis({a}, out_rank);
  }
  return false;
}

// A consumer that is correct as is when its request-level inputs keep a leading dim of 1:
// numpy broadcasting, or a kernel that takes one row for the whole request.
bool AcceptsOneRow(const Graph& graph, const Node& node, int input,
                   const absl::flat_hash_set<TensorRef>& request, const ShapeMap& shapes) {
  const std::string& op = node.op;
  if (op == "_RankoptAttentionPooling") return input == 1 || input == 2;
  if (op == "_RankoptFusedMatMul") return input == 2;
  const int out_rank = RankOf(shapes, TensorRef{node.name, 0});
  auto has_candidate_operand = [&](int min_rank) {
    for (const TensorRef& in : node.inputs) {
      if (in.empty() || request.contains(in) || IsConst(graph, in)) continue;
      if (RankOf(shapes, in) >= min_rank && (min_rank > 0 || RankOf(shapes, in) == out_rank)) {
        return true;
      }
    }
    return false;
  };
  if (IsElementwise(op)) {
    return out_rank >= 1 && RankOf(shapes, node.inputs[input]) == out_rank &&
           has_candidate_operand(0);
  }
  if (op == "MatMul" && graph.format() == ModelFormat::kOnnx) {
    // Batch dims broadcast: [B,1,L] @ [1,L,d] -> [B,1,d].
    return RankOf(shapes, node.inputs[input]) >= 3 && out_rank >= 3 &&
           RankOf(shapes, node.inputs[1 - input]) == out_rank;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<RequestLevelInput>> ParseRequestInputs(absl::string_view spec) {
  std::vector<RequestLevelInput> inputs;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    RequestLevelInput input;
    const size_t open = entry.find('[');
    if (open == absl::string_view::npos) {
      input.name = std::string(entry);
      inputs.push_back(std::move(input));
      continue;
    }
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("request input '", entry, "': ", why,
                       "; expected NAME, NAME[a:b] (columns a..b-1) or NAME[i,j,...]"));
    };
    if (entry.back() != ']' || open == 0) return error("malformed");
    input.name = std::string(entry.substr(0, open));
    absl::string_view body = entry.substr(open + 1, entry.size() - open - 2);
    if (body.find(':') != absl::string_view::npos) {
      std::vector<absl::string_view> ends = absl::StrSplit(body, ':');
      int64_t a = 0, b = 0;
      if (ends.size() != 2 || !absl::SimpleAtoi(ends[0], &a) || !absl::SimpleAtoi(ends[1], &b) ||
          a < 0 || b <= a) {
        return error("bad column range");
      }
      for (int64_t c = a; c < b; ++c) input.columns.push_back(c);
    } else {
      for (absl::string_view c : absl::StrSplit(body, ';')) {
        for (absl::string_view d : absl::StrSplit(c, ' ', absl::SkipWhitespace())) {
          int64_t v = 0;
          if (!absl::SimpleAtoi(d, &v) || v < 0) return error("bad column index");
          input.columns.push_back(v);
        }
      }
      if (input.columns.empty()) return error("no columns");
    }
    inputs.push_back(std::move(input));
  }
  if (inputs.empty()) return absl::InvalidArgumentError("request inputs: the list is empty");
  return inputs;
}

bool IsRemoteTableInput(const Node& node, size_t input) {
  // Lookup(rows, ids, keys), Bag(rows, ids, lengths, keys): at least rows, ids and keys.
  return IsRemoteLookup(node.op) && node.inputs.size() >= 3 &&
         (input == 0 || input + 1 == node.inputs.size());
}

bool IsRowWiseNode(const Graph& graph, const Node& node, const ShapeMap& shapes) {
  return IsRowWise(graph, node, shapes);
}

absl::flat_hash_set<TensorRef> RequestLevelTensors(const Graph& graph,
                                                   const std::vector<RequestLevelInput>& inputs,
                                                   const ShapeMap& shapes) {
  absl::flat_hash_set<TensorRef> request;
  absl::flat_hash_set<std::string> whole;
  for (const RequestLevelInput& input : inputs) {
    if (input.columns.empty()) whole.insert(input.name);
  }
  absl::StatusOr<std::vector<int>> order = graph.TopologicalOrder();
  if (!order.ok()) return request;
  for (int index : *order) {
    const Node& node = graph.nodes()[index];
    if (node.op == kPlaceholderOp) {
      if (whole.contains(node.name)) request.insert(TensorRef{node.name, 0});
      continue;
    }
    if (node.op == kConstOp || !node.control_inputs.empty()) continue;
    bool any = false, all = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& in = node.inputs[i];
      if (in.empty() || IsConst(graph, in) || IsRemoteTableInput(node, i)) continue;
      any = true;
      all &= request.contains(in);
    }
    if (node.op == kRequestRowOp) any = all = true;
    if (!any || !all || !IsRowWise(graph, node, shapes)) continue;
    const int outputs = std::max<int>(1, static_cast<int>(node.output_names.size()));
    for (int port = 0; port < outputs; ++port) request.insert(TensorRef{node.name, port});
  }
  return request;
}

absl::StatusOr<PassReport> MarkRequestLevel(const Graph& in, const PassOptions& options,
                                            Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("MarkRequestLevel: `out` is null; pass a Graph to write into");
  }
  PassReport report;
  report.pass = std::string(kPassName);
  auto unchanged = [&](std::string why) -> absl::StatusOr<PassReport> {
    report.notes.push_back(std::move(why));
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  };
  if (options.request_inputs.empty()) {
    return unchanged(
        "not applicable: no request-level inputs (give a feature config with user/context "
        "features or --request-inputs)");
  }
  // Check the names; pick the candidate-level input whose leading dim is the candidate count.
  absl::flat_hash_set<std::string> whole;
  for (const RequestLevelInput& input : options.request_inputs) {
    const Node* node = in.FindNode(input.name);
    if (node == nullptr || node->op != kPlaceholderOp) {
      std::vector<std::string> inputs;
      for (const Node& n : in.nodes()) {
        if (n.op == kPlaceholderOp) inputs.push_back(n.name);
      }
      return absl::NotFoundError(absl::StrCat("request input '", input.name,
                                              "' is not a graph input; graph inputs: ",
                                              absl::StrJoin(inputs, ", ")));
    }
    if (input.columns.empty()) whole.insert(input.name);
  }
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(in));
  // A remote table's fetched rows and ids have one row per fetched id, not per candidate.
  absl::flat_hash_set<std::string> remote_inputs;
  for (const Node& node : in.nodes()) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (IsRemoteTableInput(node, i)) remote_inputs.insert(node.inputs[i].node);
    }
  }
  std::string batch_reference;
  for (const Node& node : in.nodes()) {
    if (node.op != kPlaceholderOp || whole.contains(node.name) ||
        remote_inputs.contains(node.name)) {
      continue;
    }
    if (RankOf(shapes, TensorRef{node.name, 0}) >= 1) {
      batch_reference = node.name;
      break;
    }
  }
  if (batch_reference.empty()) {
    return unchanged("not applicable: no candidate-level graph input to take the candidate "
                     "count from (every input is request-level)");
  }
  if (whole.empty()) {
    bool has_rows = false;
    for (const Node& node : in.nodes()) has_rows |= node.op == kRequestRowOp;
    if (!has_rows) return unchanged("not applicable: no whole request-level input");
  }

  const bool onnx = in.format() == ModelFormat::kOnnx;
  RANKOPT_ASSIGN_OR_RETURN(pass_util::Consumers consumers, pass_util::CountConsumers(in, options));
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(in);
  auto make_node = [&](absl::string_view base, absl::string_view op) {
    Node node;
    node.name = pass_util::UniqueName(base, &names);
    node.op = std::string(op);
    if (onnx) node.output_names = {node.name};
    return node;
  };

  // 1. Row 0 of each whole request-level input, read once.
  Graph graph = in;
  absl::flat_hash_map<std::string, std::string> row_of;  // placeholder -> its request row node
  std::vector<Node> nodes;
  nodes.reserve(in.num_nodes() + whole.size());
  for (const Node& node : in.nodes()) {
    nodes.push_back(node);
    if (node.op == kPlaceholderOp && whole.contains(node.name) &&
        consumers.node_readers.contains(node.name)) {
      Node row = make_node(absl::StrCat(node.name, "/request_row"), kRequestRowOp);
      row.inputs = {TensorRef{node.name, 0}};
      row_of[node.name] = row.name;
      nodes.push_back(std::move(row));
    }
  }
  for (Node& node : nodes) {
    if (node.op == kRequestRowOp) continue;
    for (TensorRef& ref : node.inputs) {
      auto it = row_of.find(ref.node);
      if (it != row_of.end() && ref.port == 0) ref.node = it->second;
    }
  }
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(nodes)));
  // Ranks are those of the source graph: a request row keeps its input's rank.
  for (const auto& [placeholder, row] : row_of) {
    InferredTensor same = LookupInferred(shapes, TensorRef{placeholder, 0});  // a copy: the
    shapes[TensorRef{row, 0}] = std::move(same);  // insertion may move the map's entries
  }
  const absl::flat_hash_set<TensorRef> request =
      RequestLevelTensors(graph, {}, shapes);  // seeded by the request row nodes

  // 2. Broadcast at the boundary: consumers that need the candidate count get it back.
  absl::flat_hash_map<TensorRef, std::string> broadcast_of;
  std::vector<Node> broadcasts;
  auto broadcast = [&](const TensorRef& ref) {
    auto it = broadcast_of.find(ref);
    if (it != broadcast_of.end()) return TensorRef{it->second, 0};
    Node b = make_node(absl::StrCat(ref.node, "/candidate_rows"), kBroadcastRowsOp);
    b.inputs = {ref, TensorRef{batch_reference, 0}};
    broadcast_of[ref] = b.name;
    std::string name = b.name;
    broadcasts.push_back(std::move(b));
    return TensorRef{name, 0};
  };
  int request_nodes = 0;
  std::vector<Node> result;
  result.reserve(graph.num_nodes());
  absl::StatusOr<std::vector<int>> order = graph.TopologicalOrder();
  if (!order.ok()) return order.status();
  for (int index : *order) {
    Node node = graph.nodes()[index];
    const bool is_request = request.contains(TensorRef{node.name, 0});
    request_nodes += is_request && node.op != kRequestRowOp;
    if (!is_request) {
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        const TensorRef& ref = node.inputs[i];
        if (ref.empty() || !request.contains(ref)) continue;
        if (AcceptsOneRow(graph, node, static_cast<int>(i), request, shapes)) continue;
        node.inputs[i] = broadcast(ref);
      }
    }
    for (Node& b : broadcasts) result.push_back(std::move(b));
    broadcasts.clear();
    result.push_back(std::move(node));
  }
  // Outputs the caller reads keep one row per candidate.
  auto fix_output = [&](TensorRef* ref) {
    if (request.contains(*ref)) *ref = broadcast(*ref);
  };
  for (GraphOutput& o : *graph.mutable_outputs()) fix_output(&o.ref);
  for (Signature& s : *graph.mutable_signatures()) {
    for (SignatureTensor& t : s.outputs) fix_output(&t.ref);
  }
  for (Node& b : broadcasts) result.push_back(std::move(b));
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());

  RecordNodeCounts(in, graph, &report);
  report.changed = true;
  std::vector<std::string> rows(whole.begin(), whole.end());
  std::sort(rows.begin(), rows.end());
  report.notes.push_back(absl::StrCat("request-level inputs (read once per request): ",
                                      absl::StrJoin(rows, ", ")));
  report.notes.push_back(absl::StrCat(request_nodes,
                                      " nodes run once per request instead of per candidate; ",
                                      broadcast_of.size(), " broadcast back to the candidates"));
  *out = std::move(graph);
  return report;
}

}  // namespace rankopt
