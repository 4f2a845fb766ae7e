// Convolution, pooling, top-k, recurrent and gradient-reduction kernels (float32) for both op
// sets:
//   TF:   Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool, MaxPool3D, TopKV2, BiasAddGrad;
//   ONNX: Conv, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, TopK, GRU.
// Window geometry follows each framework: TF padding SAME/VALID/EXPLICIT (SAME puts the odd
// padding element at the end), ONNX auto_pad / pads / ceil_mode / count_include_pad.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_NN_KERNELS_H_
#define RANKOPT_GRAPH_KERNELS_MATH_NN_KERNELS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

// Registers the kernels listed above. KernelRegistry::Default() calls it.
absl::Status RegisterNnKernels(KernelRegistry* registry);

namespace nn_internal {

absl::Status RegisterConvKernels(KernelRegistry* registry);  // conv_kernels.cc
absl::Status RegisterPoolKernels(KernelRegistry* registry);  // pool_kernels.cc
absl::Status RegisterTopKKernels(KernelRegistry* registry);  // topk_kernels.cc
absl::Status RegisterGradKernels(KernelRegistry* registry);  // grad_kernels.cc
absl::Status RegisterRnnKernels(KernelRegistry* registry);   // rnn_kernels.cc

// How padding is chosen for a sliding window.
enum class PadMode {
  kExplicit,   // pads_begin / pads_end as given (ONNX pads, TF EXPLICIT)
  kValid,      // no padding
  kSameUpper,  // out = ceil(in / stride); odd padding at the end (TF SAME, ONNX SAME_UPPER)
  kSameLower,  // the same with the odd padding at the beginning (ONNX SAME_LOWER)
};

// The window attributes of one node, per spatial dim.
struct WindowSpec {
  PadMode mode = PadMode::kValid;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  bool ceil_mode = false;  // ONNX pooling only
};

// The geometry of one spatial dim of one run.
struct WindowDim {
  int64_t in = 0, kernel = 1, stride = 1, dilation = 1, pad_begin = 0, pad_end = 0, out = 0;
};

// Resolves `spec` against the input's spatial extents. Errors name the node: a non-positive
// kernel, stride or dilation, negative pads, an attribute of the wrong length, or a window
// larger than the padded input.
absl::StatusOr<std::vector<WindowDim>> ResolveWindow(const Node& node, const WindowSpec& spec,
                                                     absl::Span<const int64_t> in_spatial);

// Where batch, channel and spatial dims sit in an activation tensor.
struct ActLayout {
  bool channels_last = true;  // NHWC / NDHWC; else NCHW / NCDHW
  int spatial_rank = 2;
};

// The dims of an activation tensor split by `layout`.
struct ActShape {
  bool channels_last = true;
  int64_t batch = 0, channels = 0, spatial_size = 1;
  std::vector<int64_t> spatial;
  // Element strides of the channel, of the flattened spatial position and of the batch.
  int64_t channel_stride() const { return channels_last ? 1 : spatial_size; }
  int64_t position_stride() const { return channels_last ? channels : 1; }
  int64_t batch_stride() const { return channels * spatial_size; }
};

// Checks rank == spatial_rank + 2 and splits the dims.
absl::StatusOr<ActShape> SplitActivation(const Node& node, const TensorView& t,
                                         const ActLayout& layout);

// Output dims for batch, channels and spatial extents in `layout`.
std::vector<int64_t> ActivationDims(const ActLayout& layout, int64_t batch, int64_t channels,
                                    const std::vector<WindowDim>& window);

// TF data_format ("NHWC", "NCHW", "NDHWC", "NCDHW"; empty: channels last) for `spatial_rank`.
absl::StatusOr<ActLayout> TfLayout(const Node& node, int spatial_rank);

// Reads a TF window attribute given per dim of the data format (strides, ksize, dilations;
// length spatial_rank + 2, batch and channel entries 1) into its spatial entries. Absent:
// `fallback` for every spatial dim.
absl::StatusOr<std::vector<int64_t>> TfSpatialAttr(const Node& node, const char* name,
                                                   const ActLayout& layout, int64_t fallback);

// TF "padding" (+ "explicit_paddings") into `spec`.
absl::Status TfPadding(const Node& node, const ActLayout& layout, WindowSpec* spec);

// ONNX auto_pad / pads / strides / dilations (kernel_shape is set by the caller) into `spec`.
absl::Status OnnxWindow(const Node& node, int spatial_rank, WindowSpec* spec);

}  // namespace nn_internal
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_NN_KERNELS_H_
