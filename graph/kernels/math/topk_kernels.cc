// Top-k along one axis: TF TopKV2 (last axis, k as input 1, int32 indices) and ONNX TopK
// (axis, largest, sorted; K as input 1 or, before opset 10, attribute k; int64 indices).
//
// Per slice along the axis: the k largest (ONNX largest = 0: smallest) values in order, ties
// by lower index; NaN counts as larger than every number. Both sorted = 0 and sorted = 1 give
// this order (a valid order for "unsorted").
#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/nn_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace nn_internal {
namespace {

using math_internal::AttrInt;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;
using math_internal::NormalizeAxis;
using math_internal::ReadIntTensor;

// a strictly before b in descending order, NaN first.
template <typename T>
bool Greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

class TopKKernel : public OpKernel {
 public:
  TopKKernel(bool tf, int64_t axis, bool largest, int64_t attr_k)
      : tf_(tf), axis_(axis), largest_(largest), attr_k_(attr_k) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, attr_k_ >= 0 ? 1 : 2, 2));
    const TensorView& x = ctx->input(0);
    if (x.rank() == 0) return NodeError(node, "input ", DescribeTensor(x), " must have rank >= 1");
    int64_t k = attr_k_;
    if (ctx->num_inputs() > 1 && ctx->input(1).present()) {
      RANKOPT_ASSIGN_OR_RETURN(Dims kv, ReadIntTensor(node, ctx->input(1), "k (input 1)"));
      if (kv.size() != 1) return NodeError(node, "k (input 1) must hold one value");
      k = kv[0];
    }
    RANKOPT_ASSIGN_OR_RETURN(int axis, NormalizeAxis(node, tf_ ? -1 : axis_, x.rank()));
    const int64_t n = x.dims[axis];
    if (k < 0 || k > n) {
      return NodeError(node, "k = ", k, " must be in [0, ", n, "] for input ", DescribeTensor(x),
                       " along axis ", axis);
    }
    Dims out_dims = x.dims;
    out_dims[axis] = k;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
      if (d < axis) outer *= x.dims[d];
      if (d > axis) inner *= x.dims[d];
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView values, ctx->AllocateOutput(0, x.dtype, out_dims));
    RANKOPT_ASSIGN_OR_RETURN(TensorView indices,
                             ctx->AllocateOutput(1, tf_ ? DType::kInt32 : DType::kInt64, out_dims));
    RANKOPT_ASSIGN_OR_RETURN(void* scratch, ctx->AllocateScratch(sizeof(int64_t) * (n + 1)));
    int64_t* order = static_cast<int64_t*>(scratch);
    switch (x.dtype) {
      case DType::kFloat32:
        Run<float>(x, outer, n, inner, k, order, values, indices);
        break;
      case DType::kInt32:
        Run<int32_t>(x, outer, n, inner, k, order, values, indices);
        break;
      case DType::kInt64:
        Run<int64_t>(x, outer, n, inner, k, order, values, indices);
        break;
      default:
        return DTypeError(node, 0, x, "float32/int32/int64");
    }
    return absl::OkStatus();
  }

 private:
  template <typename T>
  void Run(const TensorView& x, int64_t outer, int64_t n, int64_t inner, int64_t k, int64_t* order,
           const TensorView& values, const TensorView& indices) const {
    const T* in = static_cast<const T*>(x.data);
    T* out = static_cast<T*>(values.data);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T* p = in + o * n * inner + i;
        for (int64_t j = 0; j < n; ++j) order[j] = j;
        auto before = [&](int64_t a, int64_t b) {
          const T va = p[a * inner], vb = p[b * inner];
          const bool ab = largest_ ? Greater(va, vb) : Greater(vb, va);
          const bool ba = largest_ ? Greater(vb, va) : Greater(va, vb);
          return ab || (!ba && a < b);
        };
        std::partial_sort(order, order + k, order + n, before);
        for (int64_t j = 0; j < k; ++j) {
          const int64_t at = (o * k + j) * inner + i;
          out[at] = p[order[j] * inner];
          if (tf_) {
            indices.data_as<int32_t>()[at] = static_cast<int32_t>(order[j]);
          } else {
            indices.data_as<int64_t>()[at] = order[j];
          }
        }
      }
    }
  }

  bool tf_;
  int64_t axis_;
  bool largest_;
  int64_t attr_k_;  // ONNX opset < 10; -1 when k is input 1
};

KernelFactory TopK(bool tf) {
  return [tf](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    if (tf) {
      RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 2, 2));
      return std::unique_ptr<OpKernel>(new TopKKernel(true, -1, true, -1));
    }
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 1, 2));
    int64_t attr_k = -1;
    if (b.constant_inputs.size() < 2) {
      attr_k = AttrInt(node, "k", -1);
      if (attr_k < 0) return NodeError(node, "needs K as input 1 or a non-negative attribute k");
    }
    return std::unique_ptr<OpKernel>(
        new TopKKernel(false, AttrInt(node, "axis", -1), AttrInt(node, "largest", 1) != 0, attr_k));
  };
}

}  // namespace

absl::Status RegisterTopKKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kTensorFlow, "TopKV2", TopK(true)));
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kOnnx, "TopK", TopK(false)));
  return absl::OkStatus();
}

}  // namespace nn_internal
}  // namespace rankopt
