#include "graph/analysis/flops.h"

#include "graph/exec/op_kernel.h"

namespace rankopt {

NodeFlops EstimateNodeFlops(const Node& node, const ShapeMap& shapes) {
  if (!node.domain.empty() && node.domain != "ai.onnx") return NodeFlops{};
  const OpInfo* info = KernelRegistry::Default().FindOpInfo(node.op);
  if (info == nullptr || info->flops == nullptr) return NodeFlops{};
  return info->flops(node, shapes);
}

}  // namespace rankopt
