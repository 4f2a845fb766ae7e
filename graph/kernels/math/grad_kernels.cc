// TF BiasAddGrad: the bias gradient, the sum of the incoming gradient over every dim but the
// channel dim (the last for NHWC, dim 1 for NCHW). Output [channels], float32; each channel
// sums its elements in increasing memory order.
#include <algorithm>
#include <memory>
#include <string>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/nn_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace nn_internal {
namespace {

using math_internal::AttrString;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;

class BiasAddGradKernel : public OpKernel {
 public:
  explicit BiasAddGradKernel(bool channels_last) : channels_last_(channels_last) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    if (x.rank() < 2) {
      return NodeError(node, "input ", DescribeTensor(x), " must have rank >= 2");
    }
    const int axis = channels_last_ ? x.rank() - 1 : 1;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
      if (d < axis) outer *= x.dims[d];
      if (d > axis) inner *= x.dims[d];
    }
    const int64_t channels = x.dims[axis];
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, {channels}));
    float* o = static_cast<float*>(out.data);
    std::fill_n(o, channels, 0.0f);
    const float* p = static_cast<const float*>(x.data);
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t c = 0; c < channels; ++c) {
        float acc = o[c];
        for (int64_t i = 0; i < inner; ++i) acc += *p++;
        o[c] = acc;
      }
    }
    return absl::OkStatus();
  }

 private:
  bool channels_last_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> BiasAddGrad(const KernelBuildContext& b) {
  const Node& node = *b.node;
  RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 1, 1));
  const std::string format = AttrString(node, "data_format", "NHWC");
  if (format != "NHWC" && format != "NCHW") {
    return NodeError(node, "data_format '", format, "' is not supported (NHWC or NCHW)");
  }
  return std::unique_ptr<OpKernel>(new BiasAddGradKernel(format == "NHWC"));
}

}  // namespace

absl::Status RegisterGradKernels(KernelRegistry* r) {
  return r->Register(OpSet::kTensorFlow, "BiasAddGrad", BiasAddGrad);
}

}  // namespace nn_internal
}  // namespace rankopt
