// Pooling (float32): TF MaxPool, AvgPool (NHWC or NCHW), MaxPool3D, AvgPool3D (NDHWC or
// NCDHW); ONNX MaxPool, AveragePool (N,C,spatial...), GlobalAveragePool, GlobalMaxPool.
//
// Per batch n, output position o and channel c, over the window positions
// i = o*stride - pad_begin + k*dilation that fall inside the input:
//   max: out = max_i x[n,i,c]     (a window with no input position gives -inf)
//   avg: out = sum_i x[n,i,c] / count
// where count is the number of those positions (TF; ONNX count_include_pad = 0), or with ONNX
// count_include_pad = 1 the number of window positions inside the padded input.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
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

struct PoolOptions {
  bool max = true;
  bool global = false;             // kernel = the whole spatial extent (ONNX Global*Pool)
  bool count_include_pad = false;  // ONNX AveragePool
  ActLayout layout;                // spatial_rank is -1 for Global*Pool: the input's rank - 2
  WindowSpec spec;
};

class PoolKernel : public OpKernel {
 public:
  explicit PoolKernel(PoolOptions options) : o_(std::move(options)) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    ActLayout layout = o_.layout;
    WindowSpec spec = o_.spec;
    if (o_.global) {
      if (x.rank() < 3) {
        return NodeError(node, "input ", DescribeTensor(x),
                         " must have rank >= 3 (batch, channels, spatial dims)");
      }
      layout.spatial_rank = x.rank() - 2;
      spec.mode = PadMode::kValid;
      spec.kernel.assign(x.dims.begin() + 2, x.dims.end());
      spec.strides.assign(layout.spatial_rank, 1);
      spec.dilations.assign(layout.spatial_rank, 1);
    }
    RANKOPT_ASSIGN_OR_RETURN(ActShape xs, SplitActivation(node, x, layout));
    RANKOPT_ASSIGN_OR_RETURN(std::vector<WindowDim> win, ResolveWindow(node, spec, xs.spatial));
    for (size_t d = 0; d < win.size(); ++d) {
      const int64_t extent = (win[d].kernel - 1) * win[d].dilation + 1;
      if (win[d].pad_begin >= extent || win[d].pad_end >= extent) {
        return NodeError(node, "spatial dim ", d, ": pads ", win[d].pad_begin, " and ",
                         win[d].pad_end, " must be smaller than the window extent ", extent);
      }
    }
    const std::vector<int64_t> out_dims = ActivationDims(layout, xs.batch, xs.channels, win);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, out_dims));
    RANKOPT_ASSIGN_OR_RETURN(ActShape os, SplitActivation(node, out, layout));
    const int s = layout.spatial_rank;
    int64_t kernel_size = 1;
    for (const WindowDim& w : win) kernel_size *= w.kernel;
    RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                             ctx->AllocateScratch(sizeof(float) * xs.channels +
                                                  sizeof(int64_t) * (kernel_size * s + s)));
    // The int64 arrays first: after an odd number of floats they would be misaligned.
    int64_t* kernel_offsets = static_cast<int64_t*>(scratch);
    int64_t* start = kernel_offsets + kernel_size * s;
    float* acc = reinterpret_cast<float*>(start + s);
    for (int64_t k = 0; k < kernel_size; ++k) {
      int64_t rest = k;
      for (int d = s - 1; d >= 0; --d) {
        kernel_offsets[k * s + d] = (rest % win[d].kernel) * win[d].dilation;
        rest /= win[d].kernel;
      }
    }
    const float* xd = static_cast<const float*>(x.data);
    float* od = static_cast<float*>(out.data);
    const int64_t channels = xs.channels;
    for (int64_t n = 0; n < xs.batch; ++n) {
      for (int64_t op = 0; op < os.spatial_size; ++op) {
        int64_t rest = op;
        for (int d = s - 1; d >= 0; --d) {
          start[d] = (rest % win[d].out) * win[d].stride - win[d].pad_begin;
          rest /= win[d].out;
        }
        std::fill_n(acc, channels, o_.max ? -std::numeric_limits<float>::infinity() : 0.0f);
        int64_t count = 0, padded_count = 0;
        for (int64_t k = 0; k < kernel_size; ++k) {
          int64_t p = 0;
          bool inside = true, inside_padded = true;
          for (int d = 0; d < s; ++d) {
            const int64_t i = start[d] + kernel_offsets[k * s + d];
            if (i < 0 || i >= win[d].in) inside = false;
            if (i < -win[d].pad_begin || i >= win[d].in + win[d].pad_end) inside_padded = false;
            p = p * win[d].in + i;
          }
          if (inside_padded) ++padded_count;
          if (!inside) continue;
          ++count;
          const float* xp = xd + n * xs.batch_stride() + p * xs.position_stride();
          const int64_t cs = xs.channel_stride();
          if (o_.max) {
            for (int64_t c = 0; c < channels; ++c) acc[c] = std::max(acc[c], xp[c * cs]);
          } else {
            for (int64_t c = 0; c < channels; ++c) acc[c] += xp[c * cs];
          }
        }
        if (!o_.max) {
          const int64_t divisor = o_.count_include_pad ? padded_count : count;
          const float d = static_cast<float>(divisor);
          for (int64_t c = 0; c < channels; ++c) acc[c] = divisor > 0 ? acc[c] / d : 0.0f;
        }
        float* o = od + n * os.batch_stride() + op * os.position_stride();
        for (int64_t c = 0; c < channels; ++c) o[c * os.channel_stride()] = acc[c];
      }
    }
    return absl::OkStatus();
  }

 private:
  PoolOptions o_;
};

KernelFactory TfPool(bool max, int spatial_rank) {
  return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 1, 1));
    PoolOptions o;
    o.max = max;
    RANKOPT_ASSIGN_OR_RETURN(o.layout, TfLayout(node, spatial_rank));
    if (node.attrs.Find("ksize") == nullptr) {
      return NodeError(node, "attribute 'ksize' is missing");
    }
    RANKOPT_ASSIGN_OR_RETURN(o.spec.kernel, TfSpatialAttr(node, "ksize", o.layout, 1));
    RANKOPT_ASSIGN_OR_RETURN(o.spec.strides, TfSpatialAttr(node, "strides", o.layout, 1));
    o.spec.dilations.assign(spatial_rank, 1);
    RANKOPT_RETURN_IF_ERROR(TfPadding(node, o.layout, &o.spec));
    return std::unique_ptr<OpKernel>(new PoolKernel(std::move(o)));
  };
}

KernelFactory OnnxPool(bool max, bool global) {
  return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 1, 1));
    if (node.output_names.size() > 1 && !node.output_names[1].empty()) {
      return NodeError(node, "the Indices output (output 1) is not supported");
    }
    PoolOptions o;
    o.max = max;
    o.global = global;
    o.layout.channels_last = false;
    if (!global) {
      const auto* kernel_shape = node.attrs.Get<std::vector<int64_t>>("kernel_shape");
      if (kernel_shape == nullptr || kernel_shape->empty()) {
        return NodeError(node, "attribute 'kernel_shape' is missing");
      }
      o.spec.kernel = *kernel_shape;
      o.layout.spatial_rank = static_cast<int>(kernel_shape->size());
      RANKOPT_RETURN_IF_ERROR(OnnxWindow(node, o.layout.spatial_rank, &o.spec));
      o.count_include_pad = AttrInt(node, "count_include_pad", 0) != 0;
      if (AttrInt(node, "storage_order", 0) != 0) {
        return NodeError(node, "storage_order 1 is not supported");
      }
    }
    return std::unique_ptr<OpKernel>(new PoolKernel(std::move(o)));
  };
}

}  // namespace

absl::Status RegisterPoolKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "MaxPool", TfPool(true, 2)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "AvgPool", TfPool(false, 2)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "MaxPool3D", TfPool(true, 3)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "AvgPool3D", TfPool(false, 3)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "MaxPool", OnnxPool(true, false)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "AveragePool", OnnxPool(false, false)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "GlobalAveragePool", OnnxPool(false, true)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "GlobalMaxPool", OnnxPool(true, true)));
  return absl::OkStatus();
}

}  // namespace nn_internal
}  // namespace rankopt
