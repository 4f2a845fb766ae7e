// Options every graph pass takes (the Context of TF graph_transforms): what must survive and
// how far a pass may go. Shared by the passes of rankopt_graph_passes and rankopt_graph_optimize.
#ifndef RANKOPT_GRAPH_PASSES_PASS_OPTIONS_H_
#define RANKOPT_GRAPH_PASSES_PASS_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace rankopt {

class KernelRegistry;

// A graph input that is the same for every candidate of a request (user and context features).
struct RequestLevelInput {
  std::string name;              // a graph input (Placeholder)
  std::vector<int64_t> columns;  // empty: the whole input; else its request-level columns [B, C]
};

struct PassOptions {
  // Extra tensors that must keep their producer and name (as Graph::ResolveTensor takes them),
  // on top of the graph outputs and the signature outputs, which are always kept. Prune keeps
  // exactly these (required there): "node", "node:1", an ONNX tensor name or a signature key.
  std::vector<std::string> outputs;
  // Prune: tensors that become graph inputs (Placeholders); what only they needed is cut.
  std::vector<std::string> inputs;
  // Constant folding: the largest tensor it writes into the graph; larger results stay computed.
  int64_t max_constant_bytes = int64_t{64} << 20;
  // Kernels constant folding evaluates with; nullptr: KernelRegistry::Default().
  const KernelRegistry* registry = nullptr;
  // O2: inputs whose rows are all equal within a request (one user x N candidates).
  std::vector<RequestLevelInput> request_inputs;
};

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_PASS_OPTIONS_H_
