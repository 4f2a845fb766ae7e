// Runs a graph: planned once (topological order of what the outputs need, one kernel per node,
// constants bound in place, buffer lifetimes), then run per request from many threads.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
//                            ExecutionPlan::Create(graph, {.outputs = {"prob"}}));
//   std::vector<Tensor> outputs;
//   RANKOPT_RETURN_IF_ERROR(plan->Run({{"user_id", user_ids}, ...}, &outputs));
#ifndef RANKOPT_GRAPH_EXEC_EXECUTION_PLAN_H_
#define RANKOPT_GRAPH_EXEC_EXECUTION_PLAN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "graph/exec/op_kernel.h"
#include "graph/exec/tensor_view.h"
#include "graph/ir/graph.h"

namespace rankopt {

struct NamedTensorView {
  std::string name;
  TensorView view;
};

struct PlanOptions {
  // Tensors to compute, as a user names them (Graph::ResolveTensor). Empty: the graph outputs,
  // else the first signature's outputs, else the nodes nothing consumes.
  std::vector<std::string> outputs;
  // nullptr: KernelRegistry::Default().
  const KernelRegistry* registry = nullptr;
  // Bytes one run may allocate for intermediate tensors; 0 = no cap. Exceeding it is an error
  // (ResourceExhausted) naming the node, never an OOM.
  size_t memory_cap_bytes = 0;
};

// Immutable after Create; Run is safe for concurrent use.
class ExecutionPlan {
 public:
  struct Input {
    std::string name;  // the name to feed: the Placeholder's node (TF) or tensor (ONNX) name
    DType dtype = DType::kInvalid;
    Shape shape;  // as declared; unknown dims accept any size
  };

  // Errors: an unknown output name, an op without a kernel (naming op type and node), a kernel
  // factory that rejects its node (bad attrs, unsupported mode).
  static absl::StatusOr<std::unique_ptr<const ExecutionPlan>> Create(const Graph& graph,
                                                                     const PlanOptions& options);
  virtual ~ExecutionPlan() = default;

  // The Placeholders the outputs need, in graph order.
  virtual const std::vector<Input>& inputs() const = 0;
  // The output names, in PlanOptions order.
  virtual const std::vector<std::string>& outputs() const = 0;

  // Computes the outputs (copied into owned Tensors) from `feeds`, one per needed input.
  // Errors: a missing or unknown feed, a dtype or declared-dim mismatch, a kernel error.
  virtual absl::Status Run(absl::Span<const NamedTensorView> feeds,
                           std::vector<Tensor>* outputs) const = 0;

  // Receives a run's outputs, in outputs() order, as views into the running thread's memory:
  // valid only during the call. Its status becomes the run's.
  using OutputSink = absl::FunctionRef<absl::Status(absl::Span<const TensorView> outputs)>;

  // Run without the copies: lends the outputs to `sink` instead of returning Tensors, so a run
  // with warm per-thread state asks the heap for nothing the kernels do not. Errors as Run's;
  // `sink` is not called when the run fails.
  virtual absl::Status RunWithSink(absl::Span<const NamedTensorView> feeds,
                                   OutputSink sink) const = 0;
};

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_EXECUTION_PLAN_H_
