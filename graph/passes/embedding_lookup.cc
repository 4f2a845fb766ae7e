#include "graph/passes/embedding_lookup.h"

#include "absl/strings/str_cat.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

bool IsTable(const Node& node) {
  const Tensor* value = node.attrs.Get<Tensor>("value");
  return value != nullptr && value->dtype() == DType::kFloat32 && value->dims().size() == 2;
}

// A constant integer scalar (or one-element tensor) behind `ref`.
bool IsConstZero(const Graph& graph, const TensorRef& ref) {
  const Node* node = graph.ConstantBehind(ref);
  const Tensor* value = node == nullptr ? nullptr : node->attrs.Get<Tensor>("value");
  if (value == nullptr || value->num_elements() != 1) return false;
  if (value->dtype() == DType::kInt32) return value->values<int32_t>()[0] == 0;
  if (value->dtype() == DType::kInt64) return value->values<int64_t>()[0] == 0;
  return false;
}

// The table Const when `node` gathers rows of one; nullptr otherwise. The ladder of guards:
// op and arity, axis 0, no batch dims, a 2-D float32 constant table.
const Node* GatheredTable(const Graph& graph, const Node& node) {
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  if (onnx) {
    if (node.op != "Gather" || !node.domain.empty() || node.inputs.size() != 2) return nullptr;
    const int64_t* axis = node.attrs.Get<int64_t>("axis");
    if (axis != nullptr && *axis != 0 && *axis != -2) return nullptr;
  } else if (node.op == "GatherV2") {
    if (node.inputs.size() != 3 || !IsConstZero(graph, node.inputs[2])) return nullptr;
    const int64_t* batch_dims = node.attrs.Get<int64_t>("batch_dims");
    if (batch_dims != nullptr && *batch_dims != 0) return nullptr;
  } else if (node.op != "Gather" || node.inputs.size() != 2) {
    return nullptr;
  }
  if (!node.control_inputs.empty()) return nullptr;
  const Node* table = graph.ConstantBehind(node.inputs[0]);
  return table != nullptr && IsTable(*table) ? table : nullptr;
}

}  // namespace

absl::StatusOr<PassReport> EmbeddingLookupPass(const Graph& in, const PassOptions& /*options*/,
                                               Graph* out) {
  if (out == nullptr) return absl::InvalidArgumentError("EmbeddingLookupPass: `out` is null");
  PassReport report;
  report.pass = "embedding_lookup";
  std::vector<Node> nodes = in.nodes();
  int64_t rewritten = 0;
  for (Node& node : nodes) {
    const Node* table = GatheredTable(in, node);
    if (table == nullptr) continue;
    Node lookup;
    lookup.name = node.name;
    lookup.op = std::string(kEmbeddingLookupOp);
    lookup.device = node.device;
    lookup.inputs = {TensorRef{table->name, 0}, node.inputs[1]};
    lookup.output_names = node.output_names;
    // ONNX Gather reads row rows + id for a negative id; TF's GatherV2 rejects it.
    lookup.attrs.Set("wrap_negative_ids", in.format() == ModelFormat::kOnnx);
    node = std::move(lookup);
    ++rewritten;
  }
  Graph result = in;
  RANKOPT_RETURN_IF_ERROR(result.SetNodes(std::move(nodes)));
  RANKOPT_RETURN_IF_ERROR(result.Validate());
  report.changed = rewritten > 0;
  report.notes.push_back(
      absl::StrCat("rewrote ", rewritten, " Gather(s) of constant tables into embedding lookups"));
  RecordNodeCounts(in, result, &report);
  *out = std::move(result);
  return report;
}

}  // namespace rankopt
