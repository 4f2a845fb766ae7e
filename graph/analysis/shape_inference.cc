#include "graph/analysis/shape_inference.h"

#include <algorithm>
#include <vector>

#include "graph/exec/op_kernel.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {

absl::StatusOr<ShapeMap> InferShapes(const Graph& graph, int64_t batch_size) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, graph.TopologicalOrder());
  const KernelRegistry& registry = KernelRegistry::Default();
  ShapeContext ctx(batch_size);
  for (int index : order) {
    const Node& n = graph.nodes()[index];
    // Ops from custom ONNX domains (com.microsoft, ...) reuse names with other meanings: left
    // unknown, like every op without a registered shape function.
    const bool default_domain = n.domain.empty() || n.domain == "ai.onnx";
    const OpInfo* info = default_domain ? registry.FindOpInfo(n.op) : nullptr;
    if (info != nullptr && info->shape != nullptr) info->shape(n, &ctx);
    // Every declared output gets an entry; an op left unmodelled gets unknown port 0.
    ctx.EnsureOutputs(n, std::max(static_cast<int>(n.output_names.size()), 1));
  }
  return ctx.TakeMap();
}

}  // namespace rankopt
