#include "graph/passes/pass_util.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rankopt {
namespace pass_util {

int Consumers::TensorReaders(const TensorRef& ref) const {
  auto it = tensor_readers.find(ref);
  return it == tensor_readers.end() ? 0 : it->second;
}

bool Consumers::SingleReader(const TensorRef& ref) const {
  auto node = node_readers.find(ref.node);
  return node != node_readers.end() && node->second == 1 && TensorReaders(ref) == 1 &&
         !protected_nodes.contains(ref.node) && !control_readers.contains(ref.node);
}

absl::StatusOr<Consumers> CountConsumers(const Graph& graph, const PassOptions& options) {
  Consumers c;
  for (const Node& node : graph.nodes()) {
    for (const TensorRef& in : node.inputs) {
      if (in.empty()) continue;
      ++c.tensor_readers[in];
      ++c.node_readers[in.node];
    }
    for (const std::string& control : node.control_inputs) ++c.control_readers[control];
  }
  auto protect = [&](const TensorRef& ref) {
    c.protected_nodes.insert(ref.node);
    c.protected_tensors.insert(ref);
  };
  for (const GraphOutput& output : graph.outputs()) protect(output.ref);
  for (const Signature& signature : graph.signatures()) {
    for (const SignatureTensor& output : signature.outputs) protect(output.ref);
  }
  for (const std::string& name : options.outputs) {
    absl::StatusOr<TensorRef> ref = graph.ResolveTensor(name);
    if (!ref.ok()) {
      return absl::Status(ref.status().code(),
                          absl::StrCat("pass output '", name, "': ", ref.status().message()));
    }
    protect(*ref);
  }
  return c;
}

const Tensor* ConstValue(const Graph& graph, const TensorRef& ref) {
  if (ref.empty() || ref.port != 0) return nullptr;
  const Node* node = graph.FindNode(ref.node);
  if (node == nullptr || node->op != kConstOp) return nullptr;
  return node->attrs.Get<Tensor>("value");
}

bool BoolAttr(const Node& node, absl::string_view name, bool fallback) {
  if (const bool* b = node.attrs.Get<bool>(name)) return *b;
  if (const int64_t* i = node.attrs.Get<int64_t>(name)) return *i != 0;
  return fallback;
}

float FloatAttr(const Node& node, absl::string_view name, float fallback) {
  if (const float* f = node.attrs.Get<float>(name)) return *f;
  return fallback;
}

std::optional<std::vector<int64_t>> TensorInts(const Tensor& t) {
  std::vector<int64_t> values;
  if (t.dtype() == DType::kInt64) {
    for (int64_t v : t.values<int64_t>()) values.push_back(v);
  } else if (t.dtype() == DType::kInt32) {
    for (int32_t v : t.values<int32_t>()) values.push_back(v);
  } else {
    return std::nullopt;
  }
  return values;
}

std::optional<std::vector<int64_t>> ConstInts(const Graph& graph, const TensorRef& ref) {
  if (ref.empty()) return std::nullopt;
  const Node* node = graph.ConstantBehind(ref);
  const Tensor* t = node == nullptr ? nullptr : node->attrs.Get<Tensor>("value");
  if (t == nullptr) return std::nullopt;
  return TensorInts(*t);
}

std::optional<std::vector<int64_t>> AxesOf(const Graph& graph, const Node& node,
                                           absl::string_view attr, int input) {
  if (const auto* list = node.attrs.Get<std::vector<int64_t>>(attr)) return *list;
  if (const int64_t* one = node.attrs.Get<int64_t>(attr)) return std::vector<int64_t>{*one};
  if (input >= 0 && static_cast<int>(node.inputs.size()) > input) {
    return ConstInts(graph, node.inputs[input]);
  }
  return std::nullopt;
}

std::string UniqueName(absl::string_view base, absl::flat_hash_set<std::string>* taken) {
  std::string name(base);
  for (int i = 1; taken->contains(name); ++i) name = absl::StrCat(base, "_", i);
  taken->insert(name);
  return name;
}

absl::flat_hash_set<std::string> NodeNames(const Graph& graph) {
  absl::flat_hash_set<std::string> names;
  names.reserve(graph.num_nodes());
  for (const Node& node : graph.nodes()) names.insert(node.name);
  return names;
}

std::string FeedName(const Graph& graph, const Node& node) {
  if (graph.format() == ModelFormat::kOnnx && !node.output_names.empty()) {
    return node.output_names[0];
  }
  return node.name;
}

Node MakeConst(const Graph& graph, std::string name, Tensor value, std::string onnx_tensor_name) {
  Node node;
  node.name = std::move(name);
  node.op = std::string(kConstOp);
  if (graph.format() == ModelFormat::kOnnx) {
    node.output_names = {onnx_tensor_name.empty() ? node.name : std::move(onnx_tensor_name)};
  } else {
    node.attrs.Set("dtype", value.dtype());
  }
  node.attrs.Set("value", std::move(value));
  return node;
}

void TrimFrozenVariables(Graph* graph) {
  std::vector<std::string>* frozen = graph->mutable_frozen_variables();
  std::vector<std::string> kept;
  for (std::string& name : *frozen) {
    if (graph->FindNode(name) != nullptr) kept.push_back(std::move(name));
  }
  *frozen = std::move(kept);
}

}  // namespace pass_util
}  // namespace rankopt
