// Convolutions (float32): TF Conv2D and DepthwiseConv2dNative (NHWC or NCHW; filter HWIO /
// HW,C,multiplier), ONNX Conv (N,C,spatial...; W [M, C/group, k...]; optional bias [M]).
//
// Semantics, per batch n, output position o and output channel m of group g = m / (M/G):
//   out[n,o,m] = bias[m] + sum_{k in window} sum_{ci < C/G} x[n, o*stride - pad + k*dilation,
//                                                             g*C/G + ci] * w[k, ci, m]
// where positions outside the input contribute nothing (zero padding). The filter is kept as
// w[k][ci][m] (TF's HWIO order; a depthwise filter [k, C, mult] is the same memory with C/G = 1
// and m = c*mult + j); ONNX filters are transposed to it once at load when constant.
//
// A pointwise convolution (one group, every kernel extent 1, stride 1, no padding: xDeepFM's
// CIN, Conv1d(kernel 1)) is a GEMM per batch: out[n,:,p] = x[n,:,p] . w + bias, computed by
// GemmF32 (gemm.h) with the positions as rows: each output is fma(x[n,ci,p], w[ci,m], acc) in
// increasing ci from 0, then + bias[m] (the same on every ISA and batch size).
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/nn_kernels.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace nn_internal {
namespace {

using math_internal::AttrInt;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;

enum class FilterKind { kTfHwio, kTfDepthwise, kOnnx };

// A filter as w[k][ci][m]: kernel extents, input channels per group, output channels.
struct FilterView {
  std::vector<int64_t> kernel;
  int64_t kernel_size = 1;
  int64_t in_per_group = 0;
  int64_t out_channels = 0;
  int64_t depthwise_channels = 0;  // TF depthwise: the input channels the filter expects
  const float* data = nullptr;
};

// Reads the filter's geometry. `packed` (as many floats as the filter), when non-null, receives
// a copy in w[k][ci][m] order (ONNX: transposed) and data points there; else TF filters are
// used in place and ONNX filters leave data unset.
absl::StatusOr<FilterView> ViewFilter(const Node& node, FilterKind kind, const TensorView& w,
                                      float* packed) {
  if (w.dtype != DType::kFloat32) return DTypeError(node, 1, w, "float32");
  if (w.rank() < 3) {
    return NodeError(node, "filter ", DescribeTensor(w), " must have rank >= 3");
  }
  if (kind != FilterKind::kOnnx && w.rank() != 4) {
    return NodeError(node, "filter ", DescribeTensor(w), " must have rank 4 (",
                     kind == FilterKind::kTfHwio ? "height, width, in, out"
                                                 : "height, width, channels, multiplier",
                     ")");
  }
  FilterView f;
  const int s = w.rank() - 2;
  if (kind == FilterKind::kOnnx) {
    f.out_channels = w.dims[0];
    f.in_per_group = w.dims[1];
    f.kernel.assign(w.dims.begin() + 2, w.dims.end());
  } else {
    f.kernel.assign(w.dims.begin(), w.dims.begin() + s);
    if (kind == FilterKind::kTfHwio) {
      f.in_per_group = w.dims[s];
      f.out_channels = w.dims[s + 1];
    } else {
      f.in_per_group = 1;
      f.depthwise_channels = w.dims[s];
      f.out_channels = w.dims[s] * w.dims[s + 1];
    }
    f.data = static_cast<const float*>(w.data);
    if (packed != nullptr) {
      std::memcpy(packed, w.data, w.ByteSize());
      f.data = packed;
    }
  }
  for (int64_t k : f.kernel) f.kernel_size *= k;
  if (f.kernel_size == 0 || f.in_per_group == 0 || f.out_channels == 0) {
    return NodeError(node, "filter ", DescribeTensor(w), " is empty");
  }
  if (kind == FilterKind::kOnnx && packed != nullptr) {
    const float* src = static_cast<const float*>(w.data);
    const int64_t k_size = f.kernel_size, cg = f.in_per_group, m_size = f.out_channels;
    for (int64_t m = 0; m < m_size; ++m) {
      for (int64_t ci = 0; ci < cg; ++ci) {
        for (int64_t k = 0; k < k_size; ++k) {
          packed[(k * cg + ci) * m_size + m] = src[(m * cg + ci) * k_size + k];
        }
      }
    }
    f.data = packed;
  }
  return f;
}

class ConvKernel : public OpKernel {
 public:
  ConvKernel(FilterKind kind, std::optional<ActLayout> tf_layout, WindowSpec spec,
             bool window_per_run, int64_t group, std::vector<float> packed,
             std::optional<FilterView> filter)
      : kind_(kind),
        tf_layout_(tf_layout),
        spec_(std::move(spec)),
        window_per_run_(window_per_run),
        group_(group),
        packed_(std::move(packed)),
        filter_(std::move(filter)) {
    if (filter_.has_value()) {
      filter_->data = packed_.data();
      if (filter_->kernel_size == 1) {  // pointwise: w[ci][m] is B [C/G, M] for the GEMM path
        packed_b_ = PackGemmB(filter_->data, filter_->in_per_group, filter_->out_channels,
                              filter_->out_channels, 1);
      }
    }
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    const bool onnx = kind_ == FilterKind::kOnnx;
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, onnx ? 3 : 2));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    FilterView f;
    if (filter_.has_value()) {
      f = *filter_;
    } else {
      const TensorView& w = ctx->input(1);
      float* packed = nullptr;
      if (onnx) {
        RANKOPT_ASSIGN_OR_RETURN(void* p, ctx->AllocateScratch(w.ByteSize()));
        packed = static_cast<float*>(p);
      }
      RANKOPT_ASSIGN_OR_RETURN(f, ViewFilter(node, kind_, w, packed));
    }
    ActLayout layout;
    if (tf_layout_.has_value()) {
      layout = *tf_layout_;
    } else {
      layout.channels_last = false;
      layout.spatial_rank = static_cast<int>(f.kernel.size());
    }
    if (static_cast<int>(f.kernel.size()) != layout.spatial_rank) {
      return NodeError(node, "the filter has ", f.kernel.size(), " spatial dims, the input ",
                       layout.spatial_rank);
    }
    RANKOPT_ASSIGN_OR_RETURN(ActShape xs, SplitActivation(node, x, layout));
    int64_t groups = group_;
    if (kind_ == FilterKind::kTfDepthwise) {
      if (xs.channels != f.depthwise_channels) {
        return NodeError(node, "input ", DescribeTensor(x), " has ", xs.channels,
                         " channels, the depthwise filter expects ", f.depthwise_channels);
      }
      groups = xs.channels;
    } else if (kind_ == FilterKind::kTfHwio) {
      if (xs.channels % f.in_per_group != 0) {
        return NodeError(node, "input channels ", xs.channels,
                         " are not a multiple of the filter's input depth ", f.in_per_group);
      }
      groups = xs.channels / f.in_per_group;
    }
    if (groups <= 0 || xs.channels != groups * f.in_per_group || f.out_channels % groups != 0) {
      return NodeError(node, "input channels ", xs.channels, ", ", groups,
                       " groups and a filter of ", f.in_per_group, " input and ", f.out_channels,
                       " output channels do not fit (channels = groups * filter input depth, "
                       "output channels a multiple of groups)");
    }
    const TensorView* bias = nullptr;
    if (onnx && ctx->num_inputs() > 2 && ctx->input(2).present()) {
      bias = &ctx->input(2);
      if (bias->dtype != DType::kFloat32) return DTypeError(node, 2, *bias, "float32");
      if (bias->rank() != 1 || bias->dims[0] != f.out_channels) {
        return NodeError(node, "bias ", DescribeTensor(*bias), " must be [", f.out_channels, "]");
      }
    }
    WindowSpec spec = spec_;
    if (window_per_run_) RANKOPT_RETURN_IF_ERROR(OnnxWindow(node, layout.spatial_rank, &spec));
    spec.kernel = f.kernel;
    RANKOPT_ASSIGN_OR_RETURN(std::vector<WindowDim> win, ResolveWindow(node, spec, xs.spatial));
    const std::vector<int64_t> out_dims = ActivationDims(layout, xs.batch, f.out_channels, win);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, out_dims));
    RANKOPT_ASSIGN_OR_RETURN(ActShape os, SplitActivation(node, out, layout));
    const int s = layout.spatial_rank;
    const bool pointwise =
        groups == 1 && f.kernel_size == 1 && std::all_of(win.begin(), win.end(), [](const auto& w) {
          return w.stride == 1 && w.pad_begin == 0 && w.out == w.in;
        });
    if (pointwise) return Pointwise(ctx, f, xs, os, bias, out);
    RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                             ctx->AllocateScratch(sizeof(float) * f.out_channels +
                                                  sizeof(int64_t) * (f.kernel_size * s + 2 * s)));
    // The int64 arrays first: after an odd number of floats they would be misaligned.
    int64_t* kernel_offsets = static_cast<int64_t*>(scratch);
    int64_t* pos = kernel_offsets + f.kernel_size * s;
    int64_t* start = pos + s;
    float* acc = reinterpret_cast<float*>(start + s);
    // Window offsets (dilated) of every kernel element, per spatial dim.
    for (int64_t k = 0; k < f.kernel_size; ++k) {
      int64_t rest = k;
      for (int d = s - 1; d >= 0; --d) {
        kernel_offsets[k * s + d] = (rest % win[d].kernel) * win[d].dilation;
        rest /= win[d].kernel;
      }
    }
    const float* xd = static_cast<const float*>(x.data);
    float* od = static_cast<float*>(out.data);
    const float* bd = bias != nullptr ? static_cast<const float*>(bias->data) : nullptr;
    const int64_t m_size = f.out_channels, cg = f.in_per_group, mg = m_size / groups;
    for (int64_t n = 0; n < xs.batch; ++n) {
      for (int64_t op = 0; op < os.spatial_size; ++op) {
        int64_t rest = op;
        for (int d = s - 1; d >= 0; --d) {
          start[d] = (rest % win[d].out) * win[d].stride - win[d].pad_begin;
          rest /= win[d].out;
        }
        if (bd != nullptr) {
          std::memcpy(acc, bd, sizeof(float) * m_size);
        } else {
          std::fill_n(acc, m_size, 0.0f);
        }
        for (int64_t k = 0; k < f.kernel_size; ++k) {
          int64_t p = 0;
          bool inside = true;
          for (int d = 0; d < s; ++d) {
            const int64_t i = start[d] + kernel_offsets[k * s + d];
            if (i < 0 || i >= win[d].in) {
              inside = false;
              break;
            }
            p = p * win[d].in + i;
          }
          if (!inside) continue;
          const float* xp = xd + n * xs.batch_stride() + p * xs.position_stride();
          for (int64_t g = 0; g < groups; ++g) {
            float* ag = acc + g * mg;
            for (int64_t ci = 0; ci < cg; ++ci) {
              const float xv = xp[(g * cg + ci) * xs.channel_stride()];
              const float* wr = f.data + (k * cg + ci) * m_size + g * mg;
              for (int64_t j = 0; j < mg; ++j) ag[j] += xv * wr[j];
            }
          }
        }
        float* o = od + n * os.batch_stride() + op * os.position_stride();
        for (int64_t m = 0; m < m_size; ++m) o[m * os.channel_stride()] = acc[m];
      }
    }
    return absl::OkStatus();
  }

 private:
  // out[n, m, p] = sum_ci x[n, ci, p] * w[ci][m] (+ bias[m]) as a GEMM per batch row.
  absl::Status Pointwise(KernelContext* ctx, const FilterView& f, const ActShape& xs,
                         const ActShape& os, const TensorView* bias, const TensorView& out) const {
    const int64_t p_size = xs.spatial_size, c_size = f.in_per_group, m_size = f.out_channels;
    const GemmB b =
        packed_b_.data.empty() ? GemmBFromRowMajor(f.data, m_size) : GemmBFromPacked(packed_b_);
    // Channels last: the GEMM writes the output in place; channels first: [P, M] then transposed.
    float* tile = nullptr;
    if (!os.channels_last) {
      RANKOPT_ASSIGN_OR_RETURN(void* t, ctx->AllocateScratch(sizeof(float) * p_size * m_size));
      tile = static_cast<float*>(t);
    }
    const float* xd = static_cast<const float*>(ctx->input(0).data);
    float* od = static_cast<float*>(out.data);
    const float* bd = bias != nullptr ? static_cast<const float*>(bias->data) : nullptr;
    for (int64_t n = 0; n < xs.batch; ++n) {
      float* o = od + n * os.batch_stride();
      float* c = tile != nullptr ? tile : o;
      GemmF32(p_size, m_size, c_size, xd + n * xs.batch_stride(), xs.position_stride(),
              xs.channel_stride(), b, bd, c, m_size);
      if (tile == nullptr) continue;
      for (int64_t m = 0; m < m_size; ++m) {
        for (int64_t p = 0; p < p_size; ++p) o[m * p_size + p] = tile[p * m_size + m];
      }
    }
    return absl::OkStatus();
  }

  FilterKind kind_;
  std::optional<ActLayout> tf_layout_;  // unset for ONNX (channels first, rank from filter)
  WindowSpec spec_;                     // kernel filled per run from the filter
  bool window_per_run_;                 // ONNX: strides/pads read once the rank is known
  int64_t group_;                       // ONNX group; TF derives it from the shapes
  std::vector<float> packed_;           // the constant filter as w[k][ci][m]
  std::optional<FilterView> filter_;    // set when the filter is constant
  PackedB packed_b_;                    // a constant pointwise filter packed for GemmF32
};

KernelFactory Conv(FilterKind kind) {
  return [kind](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    const bool onnx = kind == FilterKind::kOnnx;
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 2, onnx ? 3 : 2));
    WindowSpec spec;
    std::optional<ActLayout> layout;
    int64_t group = 1;
    if (onnx) {
      group = AttrInt(node, "group", 1);
      if (group <= 0) return NodeError(node, "group ", group, " must be positive");
    } else {
      RANKOPT_ASSIGN_OR_RETURN(layout, TfLayout(node, 2));
      RANKOPT_ASSIGN_OR_RETURN(spec.strides, TfSpatialAttr(node, "strides", *layout, 1));
      RANKOPT_ASSIGN_OR_RETURN(spec.dilations, TfSpatialAttr(node, "dilations", *layout, 1));
      RANKOPT_RETURN_IF_ERROR(TfPadding(node, *layout, &spec));
    }
    std::vector<float> packed;
    std::optional<FilterView> filter;
    bool window_per_run = false;
    if (const Tensor* w = b.constant_inputs[1]; w != nullptr) {
      TensorView view{w->dtype(), Dims(w->dims().begin(), w->dims().end()),
                      const_cast<char*>(w->bytes().data())};
      if (w->dtype() == DType::kFloat32) packed.resize(w->num_elements());
      RANKOPT_ASSIGN_OR_RETURN(filter, ViewFilter(node, kind, view, packed.data()));
    }
    const int spatial_rank =
        filter.has_value() ? static_cast<int>(filter->kernel.size()) : (onnx ? -1 : 2);
    if (onnx) {
      const auto* kernel_shape = node.attrs.Get<std::vector<int64_t>>("kernel_shape");
      if (kernel_shape != nullptr && filter.has_value() && *kernel_shape != filter->kernel) {
        return NodeError(node, "kernel_shape does not match the filter's spatial dims");
      }
      const int s = spatial_rank > 0
                        ? spatial_rank
                        : (kernel_shape != nullptr ? static_cast<int>(kernel_shape->size()) : -1);
      // Without a constant filter or kernel_shape the spatial rank is known per run.
      if (s > 0) RANKOPT_RETURN_IF_ERROR(OnnxWindow(node, s, &spec));
      window_per_run = s <= 0;
    }
    return std::unique_ptr<OpKernel>(new ConvKernel(kind, layout, std::move(spec), window_per_run,
                                                    group, std::move(packed), filter));
  };
}

}  // namespace

}  // namespace nn_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// Output length of a window over `in` (TF Conv2D padding rules); unknown when it cannot tell.
int64_t ConvOutDim(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same) {
  if (in < 0 || stride <= 0 || dilation <= 0 || k < 1) return kUnknownDim;
  if (same) return in / stride + (in % stride != 0 ? 1 : 0);
  std::optional<int64_t> span = CheckedMul(k - 1, dilation);
  if (!span || *span >= in) return kUnknownDim;  // window larger than the input: not a valid graph
  return (in - *span - 1) / stride + 1;
}

void Conv2DShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& x = in.shape;
  const Shape f = ctx->In(n, 1).shape;
  const std::string padding = AttrString(n, "padding");
  const bool nchw = AttrString(n, "data_format") == "NCHW";
  const bool depthwise = n.op == "DepthwiseConv2dNative";
  if (!x.known_rank() || !f.known_rank() || x.rank() != 4 || f.rank() != 4 ||
      (padding != "SAME" && padding != "VALID")) {
    ctx->Set(n, 0, in.dtype, x.known_rank() ? Shape(Dims(4, kUnknownDim)) : Shape());
    return;
  }
  Dims strides = AttrInts(n, "strides").value_or(Dims{1, 1, 1, 1});
  Dims dil = AttrInts(n, "dilations").value_or(Dims{1, 1, 1, 1});
  if (strides.size() != 4 || dil.size() != 4) {
    ctx->Set(n, 0, in.dtype, Shape(Dims(4, kUnknownDim)));
    return;
  }
  const int h = nchw ? 2 : 1, w = nchw ? 3 : 2, c = nchw ? 1 : 3;
  const bool same = padding == "SAME";
  const int64_t oh = ConvOutDim(x.dim(h), f.dim(0), strides[h], dil[h], same);
  const int64_t ow = ConvOutDim(x.dim(w), f.dim(1), strides[w], dil[w], same);
  const int64_t oc = depthwise ? MulDims(f.dim(2), f.dim(3)) : f.dim(3);
  Dims out(4);
  out[0] = x.dim(0);
  out[h] = oh;
  out[w] = ow;
  out[c] = oc;
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

// 2*K per output element, K = kh*kw*cin (depthwise: kh*kw).
NodeFlops ConvFlops(const Node& node, const ShapeMap& shapes) {
  const Shape& f = flops::InputShape(node, 1, shapes);
  if (!f.IsFullyDefined() || f.rank() != 4) return NodeFlops{};
  std::optional<int64_t> k = flops::Mul(f.dim(0), f.dim(1));
  if (node.op == "Conv2D") k = flops::Mul(k, f.dim(2));
  return flops::Counted(flops::Mul(2, flops::Mul(k, flops::OutputElements(node, shapes))));
}

}  // namespace
}  // namespace shape_fn

namespace nn_internal {

absl::Status RegisterConvKernels(KernelRegistry* r) {
  for (const char* op : {"Conv2D", "DepthwiseConv2dNative"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::Conv2DShape, shape_fn::ConvFlops}));
  }
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kTensorFlow, "Conv2D", Conv(FilterKind::kTfHwio)));
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kTensorFlow, "DepthwiseConv2dNative", Conv(FilterKind::kTfDepthwise)));
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kOnnx, "Conv", Conv(FilterKind::kOnnx)));
  return absl::OkStatus();
}

}  // namespace nn_internal
}  // namespace rankopt
