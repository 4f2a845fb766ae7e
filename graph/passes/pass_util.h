// Helpers the rewriting passes share: who reads a tensor, which nodes must keep their name, fresh
// names, constant values. Internal to graph/passes/.
#ifndef RANKOPT_GRAPH_PASSES_PASS_UTIL_H_
#define RANKOPT_GRAPH_PASSES_PASS_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"

namespace rankopt {
namespace pass_util {

// Readers of every tensor and node of one graph, built once.
struct Consumers {
  // (node, port) -> number of data inputs that read it.
  absl::flat_hash_map<TensorRef, int> tensor_readers;
  // node -> number of data inputs that read any of its ports.
  absl::flat_hash_map<std::string, int> node_readers;
  // node -> number of control inputs that name it.
  absl::flat_hash_map<std::string, int> control_readers;
  // Nodes behind graph outputs, signature outputs and PassOptions::outputs.
  absl::flat_hash_set<std::string> protected_nodes;
  absl::flat_hash_set<TensorRef> protected_tensors;

  int TensorReaders(const TensorRef& ref) const;
  // True when `node` is read only through `ref`, exactly once, and is neither an output nor a
  // control dependency: the intermediate of a fusion may then disappear.
  bool SingleReader(const TensorRef& ref) const;
};

// Errors when an entry of options.outputs does not resolve.
absl::StatusOr<Consumers> CountConsumers(const Graph& graph, const PassOptions& options);

// The value of a Const node's output (port 0), or nullptr.
const Tensor* ConstValue(const Graph& graph, const TensorRef& ref);

// A bool attribute (TF bool, or ONNX int 0/1), else `fallback`.
bool BoolAttr(const Node& node, absl::string_view name, bool fallback);
// A float attribute, else `fallback`.
float FloatAttr(const Node& node, absl::string_view name, float fallback);
// The values of an int32 or int64 tensor, widened; nullopt for other dtypes.
std::optional<std::vector<int64_t>> TensorInts(const Tensor& t);
// The integer values (int32 or int64) of the constant `ref` reads (through Identity chains), or
// nullopt.
std::optional<std::vector<int64_t>> ConstInts(const Graph& graph, const TensorRef& ref);
// A node's axes: the int or int-list attribute `attr`, else the constant input `input` (ONNX
// moved axes from attributes to inputs in opset 13), else nullopt.
std::optional<std::vector<int64_t>> AxesOf(const Graph& graph, const Node& node,
                                           absl::string_view attr, int input);
// `base`, or `base_1`, `base_2`, ... whichever is not in `taken`; the result is added to it.
std::string UniqueName(absl::string_view base, absl::flat_hash_set<std::string>* taken);

// Every node name of `graph`.
absl::flat_hash_set<std::string> NodeNames(const Graph& graph);

// A Const node holding `value` (TF: attrs "dtype" and "value"; ONNX: "value" and the tensor
// name `onnx_tensor_name`, default: the node name).
Node MakeConst(const Graph& graph, std::string name, Tensor value,
               std::string onnx_tensor_name = "");

// The name a Placeholder is fed by: its tensor name in ONNX, its node name in TF.
std::string FeedName(const Graph& graph, const Node& node);

// Keeps frozen_variables() to the names still in the graph.
void TrimFrozenVariables(Graph* graph);

}  // namespace pass_util
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_PASS_UTIL_H_
