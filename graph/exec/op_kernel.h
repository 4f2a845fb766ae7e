// The kernel interface of the executor (XNNPACK's shape: create once, then run per request).
//
// At plan time a KernelFactory builds one OpKernel per node from the node's attributes and its
// constant inputs (weights are packed then, never per call). At run time the executor calls
// Compute with a KernelContext that hands out the node's inputs and allocates its outputs from
// the run's arena. A kernel validates shapes and returns a Status naming the node on bad input;
// it never reads or writes out of bounds.
#ifndef RANKOPT_GRAPH_EXEC_OP_KERNEL_H_
#define RANKOPT_GRAPH_EXEC_OP_KERNEL_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "graph/exec/tensor_view.h"
#include "graph/ir/graph.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {

// What a kernel sees while it computes one node for one request.
class KernelContext {
 public:
  virtual ~KernelContext() = default;

  virtual int num_inputs() const = 0;
  // REQUIRES: 0 <= i < num_inputs(). An omitted optional input has dtype kInvalid.
  virtual const TensorView& input(int i) const = 0;
  // Allocates output i: uninitialized, 64-byte aligned, valid until the run ends. Errors on a
  // bad index, negative or overflowing dims, or the run's memory cap.
  virtual absl::StatusOr<TensorView> AllocateOutput(int i, DType dtype,
                                                    absl::Span<const int64_t> dims) = 0;
  // Makes output i alias input j's bytes with new dims of the same element count (Identity,
  // Reshape, Squeeze, ...): no copy.
  virtual absl::Status ForwardInput(int input, int output, absl::Span<const int64_t> dims) = 0;
  // Scratch bytes (64-byte aligned) valid until Compute returns.
  virtual absl::StatusOr<void*> AllocateScratch(size_t bytes) = 0;
  // Bytes for the characters of string outputs: valid until the run ends (a string tensor's
  // elements are string_views that may outlive any block). The default hands out scratch, right
  // only for contexts whose scratch lives as long as the outputs (test harnesses).
  virtual absl::StatusOr<char*> AllocateStringBytes(size_t bytes) {
    RANKOPT_ASSIGN_OR_RETURN(void* p, AllocateScratch(bytes));
    return static_cast<char*>(p);
  }
  // The node being computed, for error messages and attributes.
  virtual const Node& node() const = 0;
};

// Computes one node. Immutable after creation and safe for concurrent Compute calls.
class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual absl::Status Compute(KernelContext* ctx) const = 0;
  // Which implementation runs, for reports ("int8-avx512vnni", ...); empty when there is only one.
  virtual std::string KernelName() const { return std::string(); }
};

// What a factory may use to build a kernel for `node`.
struct KernelBuildContext {
  const Node* node = nullptr;
  ModelFormat format = ModelFormat::kOnnx;
  // The ONNX model's default-domain opset (Graph::onnx_opset()); 0 when unknown or not ONNX.
  int64_t onnx_opset = 0;
  // constant_inputs[i]: the value of input i when a Const node produces it, else nullptr.
  std::vector<const Tensor*> constant_inputs;
};

using KernelFactory =
    std::function<absl::StatusOr<std::unique_ptr<OpKernel>>(const KernelBuildContext&)>;

// The op vocabularies rankopt executes. ONNX's default domain and TensorFlow's op names overlap
// ("MatMul", "Add") with different semantics, so kernels register per set.
enum class OpSet { kTensorFlow, kOnnx };
OpSet OpSetOf(ModelFormat format);
absl::string_view OpSetName(OpSet set);

// Op name -> kernel factory, per op set, and op name -> OpInfo (shape and FLOP functions), so
// that a kernel family registers everything rankopt knows of its ops in one place. Registration
// happens on first use through explicit Register* calls (no static initializers: they vanish from
// static libraries). Default() lives in the executor library (rankopt_graph_exec); the class itself
// in rankopt_graph_kernel_api.
class KernelRegistry {
 public:
  // Every built-in kernel. Thread-safe; built on first use.
  static const KernelRegistry& Default();

  // An error if (set, op) already has a factory.
  absl::Status Register(OpSet set, std::string op, KernelFactory factory);
  // nullptr when no kernel exists.
  const KernelFactory* Find(OpSet set, absl::string_view op) const;
  // Sorted op names of a set, for reports.
  std::vector<std::string> Ops(OpSet set) const;

  // Registers the shape function and FLOP count of `op`, one entry for every op set (an op may
  // have one without a kernel: graph inputs, variables). An error if `op` already has one.
  absl::Status RegisterOpInfo(std::string op, OpInfo info);
  // nullptr when `op` has no analysis entry.
  const OpInfo* FindOpInfo(absl::string_view op) const;

 private:
  absl::flat_hash_map<std::string, KernelFactory> tf_;
  absl::flat_hash_map<std::string, KernelFactory> onnx_;
  absl::flat_hash_map<std::string, OpInfo> op_infos_;
};

// Built-in kernel groups; each registers its ops in both op sets where they exist there.
// KernelRegistry::Default() (graph/exec/default_kernels.cc) calls them.
// graph/kernels/math/: elementwise, activations, MatMul/Gemm/BatchMatMul, reductions, softmax,
// batch norm.
absl::Status RegisterMathKernels(KernelRegistry* registry);
// graph/kernels/array/: data movement, indexing, shapes, casts, sparse and control-flow ops.
absl::Status RegisterArrayKernels(KernelRegistry* registry);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_OP_KERNEL_H_
