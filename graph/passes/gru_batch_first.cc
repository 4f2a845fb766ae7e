#include "graph/passes/gru_batch_first.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "gru_batch_first";

bool IsOnnxOp(const Node& node, absl::string_view op) {
  return node.op == op && node.domain.empty();
}

// A Transpose with perm [1, 0, 2].
bool IsSwap01(const Node& node) {
  if (!IsOnnxOp(node, "Transpose") || node.inputs.size() != 1) return false;
  const auto* perm = node.attrs.Get<std::vector<int64_t>>("perm");
  return perm != nullptr && *perm == std::vector<int64_t>{1, 0, 2};
}

// All zeros: a float constant, or ConstantOfShape whose value is zero (absent: 0.0f).
bool IsZeroState(const Graph& graph, const TensorRef& ref) {
  auto all_zero = [](const Tensor& t) {
    if (t.dtype() != DType::kFloat32) return false;
    for (float v : t.values<float>()) {
      if (v != 0.0f) return false;
    }
    return true;
  };
  if (const Tensor* t = pass_util::ConstValue(graph, ref)) return all_zero(*t);
  const Node* node = graph.FindNode(ref.node);
  if (node == nullptr || !IsOnnxOp(*node, "ConstantOfShape") || ref.port != 0) return false;
  const Tensor* value = node->attrs.Get<Tensor>("value");
  return value == nullptr || all_zero(*value);
}

}  // namespace

absl::StatusOr<PassReport> GruBatchFirst(const Graph& in, const PassOptions& options, Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("GruBatchFirst: `out` is null; pass a Graph to write into");
  }
  PassReport report;
  report.pass = std::string(kPassName);
  if (in.format() != ModelFormat::kOnnx) {
    RecordNodeCounts(in, in, &report);
    report.notes.push_back("not applicable: not an ONNX graph");
    if (out != &in) *out = in;
    return report;
  }
  RANKOPT_ASSIGN_OR_RETURN(pass_util::Consumers consumers, pass_util::CountConsumers(in, options));
  // Which node reads each tensor (the chain's links are read once, so one reader suffices).
  absl::flat_hash_map<TensorRef, const Node*> reader;
  for (const Node& node : in.nodes()) {
    for (const TensorRef& ref : node.inputs) {
      if (!ref.empty()) reader[ref] = &node;
    }
  }
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(in);
  absl::flat_hash_map<std::string, Node> replaced;  // by name
  absl::flat_hash_map<std::string, std::vector<Node>> insert_before;
  absl::flat_hash_set<std::string> erased;
  for (const Node& gru : in.nodes()) {
    if (!IsOnnxOp(gru, "GRU") || gru.inputs.size() < 3 || gru.inputs[0].empty()) continue;
    const auto* layout = gru.attrs.Get<int64_t>("layout");
    const auto* direction = gru.attrs.Get<std::string>("direction");
    if ((layout != nullptr && *layout != 0) ||
        (direction != nullptr && *direction == "bidirectional")) {
      continue;
    }
    const TensorRef y{gru.name, 0}, y_h{gru.name, 1};
    if (consumers.TensorReaders(y_h) != 0 || consumers.protected_tensors.contains(y_h)) continue;
    const bool has_init = gru.inputs.size() > 5 && !gru.inputs[5].empty();
    if (has_init && !IsZeroState(in, gru.inputs[5])) continue;
    const Node* t1 = in.FindNode(gru.inputs[0].node);
    if (t1 == nullptr || !IsSwap01(*t1) || gru.inputs[0].port != 0) continue;
    // Y -> Squeeze(axis 1) -> Transpose [1,0,2], each link read once.
    if (!consumers.SingleReader(y) || !reader.contains(y)) continue;
    const Node* squeeze = reader.at(y);
    if (!IsOnnxOp(*squeeze, "Squeeze") || squeeze->inputs[0] != y) continue;
    std::optional<std::vector<int64_t>> axes = pass_util::AxesOf(in, *squeeze, "axes", 1);
    if (!axes.has_value() || axes->size() != 1 || ((*axes)[0] != 1 && (*axes)[0] != -3)) continue;
    const TensorRef s_out{squeeze->name, 0};
    if (!consumers.SingleReader(s_out) || !reader.contains(s_out)) continue;
    const Node* t2 = reader.at(s_out);
    if (!IsSwap01(*t2)) continue;

    Node new_gru = gru;
    new_gru.inputs[0] = t1->inputs[0];
    if (has_init) new_gru.inputs[5] = TensorRef{};
    while (!new_gru.inputs.empty() && new_gru.inputs.back().empty()) new_gru.inputs.pop_back();
    new_gru.attrs.Set("layout", int64_t{1});
    // The last Transpose's name now holds Squeeze(Y, axis 2): [B, T, 1, H] -> [B, T, H].
    Node new_squeeze;
    new_squeeze.name = t2->name;
    new_squeeze.op = "Squeeze";
    new_squeeze.control_inputs = t2->control_inputs;
    new_squeeze.output_names = t2->output_names;
    new_squeeze.inputs = {y};
    if (squeeze->inputs.size() > 1) {  // opset 13+: axes as an input
      absl::StatusOr<Tensor> axes2 = Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{2});
      if (!axes2.ok()) return axes2.status();
      Node axes_node = pass_util::MakeConst(
          in, pass_util::UniqueName(absl::StrCat(t2->name, "/axes"), &names), *axes2);
      new_squeeze.inputs.push_back(TensorRef{axes_node.name, 0});
      insert_before[t2->name].push_back(std::move(axes_node));
    } else {
      new_squeeze.attrs.Set("axes", std::vector<int64_t>{2});
    }
    replaced[gru.name] = std::move(new_gru);
    replaced[t2->name] = std::move(new_squeeze);
    erased.insert(squeeze->name);
    if (consumers.SingleReader(gru.inputs[0])) erased.insert(t1->name);
    report.notes.push_back(
        absl::StrCat("GRU '", gru.name, "' runs batch first (layout 1): ", "dropped Transpose '",
                     t1->name, "', Squeeze '", squeeze->name, "' and Transpose '", t2->name, "'"));
  }
  if (replaced.empty()) {
    report.notes.push_back("not applicable: no Transpose -> GRU -> Squeeze -> Transpose chain");
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  }
  // Node order stays valid: the GRU's new input fed the Transpose that came before it.
  std::vector<Node> result;
  result.reserve(in.nodes().size() + insert_before.size());
  for (const Node& node : in.nodes()) {
    if (erased.contains(node.name)) continue;
    auto added = insert_before.find(node.name);
    if (added != insert_before.end()) {
      for (Node& a : added->second) result.push_back(std::move(a));
    }
    auto it = replaced.find(node.name);
    result.push_back(it != replaced.end() ? std::move(it->second) : node);
  }
  Graph graph = in;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  pass_util::TrimFrozenVariables(&graph);
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RecordNodeCounts(in, graph, &report);
  report.changed = true;
  *out = std::move(graph);
  return report;
}

}  // namespace rankopt
