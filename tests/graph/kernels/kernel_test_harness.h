// Runs one kernel outside any plan, for kernel unit tests: builds it from a node and its
// inputs, computes, and returns the outputs as Tensors.
//
// Example:
//   Node node = ...;  // op "Gemm", attrs transB = 1
//   absl::StatusOr<std::vector<Tensor>> out =
//       RunKernel(node, ModelFormat::kOnnx, {a, b, c}, /*constant=*/{false, true, true});
#ifndef RANKOPT_TESTS_GRAPH_KERNELS_KERNEL_TEST_HARNESS_H_
#define RANKOPT_TESTS_GRAPH_KERNELS_KERNEL_TEST_HARNESS_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "graph/exec/op_kernel.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace testing_internal {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

class FakeKernelContext : public KernelContext {
 public:
  FakeKernelContext(const Node& node, std::vector<TensorView> inputs)
      : node_(node), inputs_(std::move(inputs)) {}

  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  const TensorView& input(int i) const override { return inputs_[i]; }
  absl::StatusOr<TensorView> AllocateOutput(int i, DType dtype,
                                            absl::Span<const int64_t> dims) override {
    if (i < 0) return absl::InvalidArgumentError("negative output index");
    RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(dims));
    RANKOPT_ASSIGN_OR_RETURN(void* data, Allocate(static_cast<size_t>(n) * DTypeSize(dtype)));
    TensorView view{dtype, Dims(dims.begin(), dims.end()), data};
    Output(i) = view;
    return view;
  }
  absl::Status ForwardInput(int input, int output, absl::Span<const int64_t> dims) override {
    if (input < 0 || input >= num_inputs() || output < 0) {
      return absl::InvalidArgumentError("bad ForwardInput index");
    }
    RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(dims));
    if (n != inputs_[input].NumElements()) {
      return absl::InvalidArgumentError("ForwardInput changes the element count");
    }
    Output(output) = TensorView{inputs_[input].dtype, Dims(dims.begin(), dims.end()),
                                inputs_[input].data};
    return absl::OkStatus();
  }
  absl::StatusOr<void*> AllocateScratch(size_t bytes) override { return Allocate(bytes); }
  const Node& node() const override { return node_; }

  const std::vector<std::optional<TensorView>>& outputs() const { return outputs_; }

 private:
  std::optional<TensorView>& Output(int i) {
    if (static_cast<size_t>(i) >= outputs_.size()) outputs_.resize(i + 1);
    return outputs_[i];
  }
  absl::StatusOr<void*> Allocate(size_t bytes) {
    // Round up so that aligned_alloc's size rule holds; poison to catch reads of unset bytes.
    size_t rounded = (bytes + 63) / 64 * 64 + 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
    std::memset(p, 0xCD, rounded);
    buffers_.emplace_back(p);
    return p;
  }

  const Node& node_;
  std::vector<TensorView> inputs_;
  std::vector<std::optional<TensorView>> outputs_;
  std::vector<std::unique_ptr<void, AlignedFree>> buffers_;
};

}  // namespace testing_internal

// The registry holding what `Register` registers (RegisterNnKernels, RegisterEmbeddingKernels,
// ...), built once per test binary; a registration error aborts the binary with its message.
template <absl::Status (*Register)(KernelRegistry*)>
const KernelRegistry& RegistryOf() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    const absl::Status s = Register(r);
    if (!s.ok()) {
      std::fprintf(stderr, "kernel registration failed: %s\n", s.ToString().c_str());
      std::abort();
    }
    return r;
  }();
  return *registry;
}

// Builds the kernel for `node` from `registry` and computes it on `inputs` (an empty optional
// is an omitted input). constant[i] marks input i as a graph constant at build time.
inline absl::StatusOr<std::vector<Tensor>> RunKernel(
    const KernelRegistry& registry, const Node& node, ModelFormat format,
    const std::vector<std::optional<Tensor>>& inputs, std::vector<bool> constant = {}) {
  const KernelFactory* factory = registry.Find(OpSetOf(format), node.op);
  if (factory == nullptr) {
    return absl::NotFoundError(absl::StrCat("no kernel for ", node.op));
  }
  KernelBuildContext build;
  build.node = &node;
  build.format = format;
  std::vector<TensorView> views;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool is_constant = i < constant.size() && constant[i] && inputs[i].has_value();
    build.constant_inputs.push_back(is_constant ? &*inputs[i] : nullptr);
    TensorView view;
    if (inputs[i].has_value()) {
      view.dtype = inputs[i]->dtype();
      view.dims.assign(inputs[i]->dims().begin(), inputs[i]->dims().end());
      view.data = const_cast<char*>(inputs[i]->bytes().data());
    }
    views.push_back(std::move(view));
  }
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, (*factory)(build));
  testing_internal::FakeKernelContext ctx(node, std::move(views));
  RANKOPT_RETURN_IF_ERROR(kernel->Compute(&ctx));
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < ctx.outputs().size(); ++i) {
    const std::optional<TensorView>& out = ctx.outputs()[i];
    if (!out.has_value()) {
      return absl::InternalError(absl::StrCat(node.op, " left output ", i, " unset"));
    }
    std::vector<int64_t> dims(out->dims.begin(), out->dims.end());
    RANKOPT_ASSIGN_OR_RETURN(
        Tensor t, Tensor::FromBytes(out->dtype, dims,
                                    absl::string_view(static_cast<const char*>(out->data),
                                                      out->ByteSize())));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

}  // namespace rankopt

#endif  // RANKOPT_TESTS_GRAPH_KERNELS_KERNEL_TEST_HARNESS_H_
