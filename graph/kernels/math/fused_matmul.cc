// _RankoptFusedMatMul: y = act(x @ w + bias), rows of x flattened, weight packed at build.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "graph/kernels/math/fused_kernels.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/vector_math.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using math_internal::AttrBool;
using math_internal::AttrString;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;

enum class Activation { kNone, kRelu, kSigmoid, kTanh, kPRelu };

class FusedMatMulKernel : public OpKernel {
 public:
  FusedMatMulKernel(bool transpose_b, Activation activation)
      : transpose_b_(transpose_b), activation_(activation) {}

  void PackConstantWeight(const Tensor& w) {
    if (w.dtype() != DType::kFloat32 || w.dims().size() != 2) return;
    const int64_t rows = w.dims()[0], cols = w.dims()[1];
    const float* data = w.values<float>().data();
    packed_ =
        transpose_b_ ? PackGemmB(data, cols, rows, 1, cols) : PackGemmB(data, rows, cols, cols, 1);
    packed_dims_ = Dims{rows, cols};
    has_packed_ = true;
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 4));
    const TensorView& x = ctx->input(0);
    const TensorView& w = ctx->input(1);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    if (w.dtype != DType::kFloat32) return DTypeError(node, 1, w, "float32");
    if (x.rank() < 2 || w.rank() != 2) {
      return NodeError(node, "inputs are ", DescribeTensor(x), " and ", DescribeTensor(w),
                       ", expected x of rank >= 2 and a matrix w");
    }
    const int64_t k = x.dims.back();
    const int64_t kb = transpose_b_ ? w.dims[1] : w.dims[0];
    const int64_t n = transpose_b_ ? w.dims[0] : w.dims[1];
    if (k != kb) {
      return NodeError(node, "inner dimensions differ: x ", DescribeTensor(x), " has K = ", k,
                       ", w ", DescribeTensor(w), transpose_b_ ? " (transposed)" : "",
                       " has K = ", kb);
    }
    const float* bias = nullptr;
    if (ctx->num_inputs() > 2 && ctx->input(2).present()) {
      const TensorView& b = ctx->input(2);
      if (b.dtype != DType::kFloat32) return DTypeError(node, 2, b, "float32");
      if (b.NumElements() != n) {
        return NodeError(node, "bias is ", DescribeTensor(b), ", expected ", n, " values");
      }
      bias = b.data_as<float>();
    }
    const float* slope = nullptr;
    int64_t slope_count = 0;
    if (activation_ == Activation::kPRelu) {
      if (ctx->num_inputs() < 4 || !ctx->input(3).present()) {
        return NodeError(node, "activation 'prelu' needs the slope as input 3");
      }
      const TensorView& s = ctx->input(3);
      if (s.dtype != DType::kFloat32) return DTypeError(node, 3, s, "float32");
      slope_count = s.NumElements();
      if (slope_count != 1 && slope_count != n) {
        return NodeError(node, "slope is ", DescribeTensor(s), ", expected 1 or ", n, " values");
      }
      slope = s.data_as<float>();
    }
    Dims out_dims(x.dims.begin(), x.dims.end() - 1);
    out_dims.push_back(n);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, out_dims));
    const int64_t total = out.NumElements();
    if (total == 0) return absl::OkStatus();
    int64_t m = 1;
    for (int d = 0; d + 1 < x.rank(); ++d) m *= x.dims[d];

    GemmB b_view;
    if (has_packed_ && w.dims == packed_dims_) {
      b_view = GemmBFromPacked(packed_);
    } else if (!transpose_b_) {
      b_view = GemmBFromRowMajor(w.data_as<float>(), n);
    } else {
      RANKOPT_ASSIGN_OR_RETURN(
          void* p,
          ctx->AllocateScratch(static_cast<size_t>(PackedGemmBSize(k, n)) * sizeof(float)));
      PackGemmBInto(w.data_as<float>(), k, n, 1, k, static_cast<float*>(p));
      b_view = GemmBFromPackedData(static_cast<const float*>(p), k);
    }
    float* y = out.data_as<float>();
    GemmF32(m, n, k, x.data_as<float>(), k, 1, b_view, bias, y, n);

    // The same element math as the Relu, Sigmoid, Tanh and PRelu kernels.
    switch (activation_) {
      case Activation::kNone:
        break;
      case Activation::kRelu:
        for (int64_t i = 0; i < total; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
      case Activation::kSigmoid:
        SigmoidF32(y, y, total);
        break;
      case Activation::kTanh:
        for (int64_t i = 0; i < total; ++i) y[i] = std::tanh(y[i]);
        break;
      case Activation::kPRelu:
        for (int64_t r = 0; r < m; ++r) {
          float* row = y + r * n;
          for (int64_t j = 0; j < n; ++j) {
            const float a = row[j];
            const float b = slope[slope_count == 1 ? 0 : j];
            row[j] = a < 0 ? b * a : a;
          }
        }
        break;
    }
    return absl::OkStatus();
  }

 private:
  bool transpose_b_;
  Activation activation_;
  bool has_packed_ = false;
  PackedB packed_;
  Dims packed_dims_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeFusedMatMul(const KernelBuildContext& build) {
  const Node& node = *build.node;
  RANKOPT_RETURN_IF_ERROR(CheckInputCount(build, 2, 4));
  const std::string name = AttrString(node, "activation", "none");
  Activation activation;
  if (name == "none") {
    activation = Activation::kNone;
  } else if (name == "relu") {
    activation = Activation::kRelu;
  } else if (name == "sigmoid") {
    activation = Activation::kSigmoid;
  } else if (name == "tanh") {
    activation = Activation::kTanh;
  } else if (name == "prelu") {
    activation = Activation::kPRelu;
  } else {
    return NodeError(node, "activation '", name,
                     "' is not supported (none, relu, sigmoid, tanh, prelu)");
  }
  auto kernel =
      std::make_unique<FusedMatMulKernel>(AttrBool(node, "transpose_b", false), activation);
  if (build.constant_inputs.size() > 1 && build.constant_inputs[1] != nullptr) {
    kernel->PackConstantWeight(*build.constant_inputs[1]);
  }
  return std::unique_ptr<OpKernel>(std::move(kernel));
}

}  // namespace

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// x [..., K] times w ([K, N], or [N, K] with transpose_b) -> [..., N].
void FusedMatMulShape(const Node& n, ShapeContext* ctx) {
  const Shape x = ctx->In(n, 0).shape;
  const Shape w = ctx->In(n, 1).shape;
  const DType dtype = ctx->InDType(n, 0);
  if (!x.known_rank() || x.rank() < 2 || !w.known_rank() || w.rank() != 2) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = x.dims();
  out.back() = w.dim(AttrBool(n, "transpose_b", false) ? 0 : 1);
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

}  // namespace
}  // namespace shape_fn

absl::Status RegisterFusedKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(
      registry->RegisterOpInfo("_RankoptFusedMatMul", {shape_fn::FusedMatMulShape, nullptr}));
  for (OpSet set : {OpSet::kTensorFlow, OpSet::kOnnx}) {
    RANKOPT_RETURN_IF_ERROR(registry->Register(set, "_RankoptFusedMatMul", MakeFusedMatMul));
  }
  return RegisterAttentionPoolingKernel(registry);
}

}  // namespace rankopt
