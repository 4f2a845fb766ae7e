// Window geometry and layout helpers shared by the convolution and pooling kernels.
#include <string>
#include <vector>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/nn_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace nn_internal {

using math_internal::AttrInt;
using math_internal::AttrString;
using math_internal::NodeError;

absl::StatusOr<std::vector<WindowDim>> ResolveWindow(const Node& node, const WindowSpec& spec,
                                                     absl::Span<const int64_t> in_spatial) {
  const size_t rank = in_spatial.size();
  auto check_len = [&](const std::vector<int64_t>& v, const char* what) -> absl::Status {
    if (v.size() != rank) {
      return NodeError(node, what, " has ", v.size(), " entries, expected one per spatial dim (",
                       rank, ")");
    }
    return absl::OkStatus();
  };
  RANKOPT_RETURN_IF_ERROR(check_len(spec.kernel, "the kernel shape"));
  RANKOPT_RETURN_IF_ERROR(check_len(spec.strides, "strides"));
  RANKOPT_RETURN_IF_ERROR(check_len(spec.dilations, "dilations"));
  if (spec.mode == PadMode::kExplicit) {
    RANKOPT_RETURN_IF_ERROR(check_len(spec.pads_begin, "the leading pads"));
    RANKOPT_RETURN_IF_ERROR(check_len(spec.pads_end, "the trailing pads"));
  }
  std::vector<WindowDim> dims(rank);
  for (size_t d = 0; d < rank; ++d) {
    WindowDim& w = dims[d];
    w.in = in_spatial[d];
    w.kernel = spec.kernel[d];
    w.stride = spec.strides[d];
    w.dilation = spec.dilations[d];
    if (w.kernel <= 0 || w.stride <= 0 || w.dilation <= 0 || w.kernel > (int64_t{1} << 30) ||
        w.dilation > (int64_t{1} << 30)) {
      return NodeError(node, "spatial dim ", d, ": kernel ", w.kernel, ", stride ", w.stride,
                       " and dilation ", w.dilation, " must be positive");
    }
    const int64_t effective = (w.kernel - 1) * w.dilation + 1;
    switch (spec.mode) {
      case PadMode::kExplicit:
        w.pad_begin = spec.pads_begin[d];
        w.pad_end = spec.pads_end[d];
        break;
      case PadMode::kValid:
        break;
      case PadMode::kSameUpper:
      case PadMode::kSameLower: {
        const int64_t out = (w.in + w.stride - 1) / w.stride;
        int64_t total = (out - 1) * w.stride + effective - w.in;
        if (total < 0) total = 0;
        w.pad_begin = spec.mode == PadMode::kSameUpper ? total / 2 : total - total / 2;
        w.pad_end = total - w.pad_begin;
        break;
      }
    }
    if (w.pad_begin < 0 || w.pad_end < 0 || w.pad_begin > (int64_t{1} << 30) ||
        w.pad_end > (int64_t{1} << 30)) {
      return NodeError(node, "spatial dim ", d, ": pads ", w.pad_begin, " and ", w.pad_end,
                       " must be non-negative");
    }
    const int64_t padded = w.in + w.pad_begin + w.pad_end;
    if (padded < effective) {
      return NodeError(node, "spatial dim ", d, ": the window (extent ", effective,
                       ") is larger than the padded input (", padded, ")");
    }
    if (spec.ceil_mode && spec.mode == PadMode::kExplicit) {
      w.out = (padded - effective + w.stride - 1) / w.stride + 1;
      // The last window must start inside the input or its leading padding.
      if ((w.out - 1) * w.stride >= w.in + w.pad_begin) --w.out;
    } else {
      w.out = (padded - effective) / w.stride + 1;
    }
  }
  return dims;
}

absl::StatusOr<ActShape> SplitActivation(const Node& node, const TensorView& t,
                                         const ActLayout& layout) {
  if (t.rank() != layout.spatial_rank + 2) {
    return NodeError(node, "input ", DescribeTensor(t), " must have rank ", layout.spatial_rank + 2,
                     " (batch, channels and ", layout.spatial_rank, " spatial dims, channels ",
                     layout.channels_last ? "last" : "first", ")");
  }
  ActShape s;
  s.channels_last = layout.channels_last;
  s.batch = t.dims[0];
  s.channels = layout.channels_last ? t.dims[t.rank() - 1] : t.dims[1];
  const int first = layout.channels_last ? 1 : 2;
  for (int d = 0; d < layout.spatial_rank; ++d) {
    s.spatial.push_back(t.dims[first + d]);
    s.spatial_size *= t.dims[first + d];
  }
  return s;
}

std::vector<int64_t> ActivationDims(const ActLayout& layout, int64_t batch, int64_t channels,
                                    const std::vector<WindowDim>& window) {
  std::vector<int64_t> dims{batch};
  if (!layout.channels_last) dims.push_back(channels);
  for (const WindowDim& w : window) dims.push_back(w.out);
  if (layout.channels_last) dims.push_back(channels);
  return dims;
}

absl::StatusOr<ActLayout> TfLayout(const Node& node, int spatial_rank) {
  const std::string format = AttrString(node, "data_format", "");
  ActLayout layout;
  layout.spatial_rank = spatial_rank;
  const std::string last = spatial_rank == 3 ? "NDHWC" : "NHWC";
  const std::string first = spatial_rank == 3 ? "NCDHW" : "NCHW";
  if (format.empty() || format == last) {
    layout.channels_last = true;
  } else if (format == first) {
    layout.channels_last = false;
  } else {
    return NodeError(node, "data_format '", format, "' is not supported (", last, " or ", first,
                     ")");
  }
  return layout;
}

absl::StatusOr<std::vector<int64_t>> TfSpatialAttr(const Node& node, const char* name,
                                                   const ActLayout& layout, int64_t fallback) {
  const int rank = layout.spatial_rank + 2;
  const auto* v = node.attrs.Get<std::vector<int64_t>>(name);
  if (v == nullptr) return std::vector<int64_t>(layout.spatial_rank, fallback);
  if (static_cast<int>(v->size()) != rank) {
    return NodeError(node, "attribute '", name, "' has ", v->size(), " entries, expected ", rank,
                     " (one per dim of the data format)");
  }
  const int channel = layout.channels_last ? rank - 1 : 1;
  if ((*v)[0] != 1 || (*v)[channel] != 1) {
    return NodeError(node, "attribute '", name,
                     "' must be 1 in the batch and channel dims (windows over batch or channels "
                     "are not supported)");
  }
  const int first = layout.channels_last ? 1 : 2;
  return std::vector<int64_t>(v->begin() + first, v->begin() + first + layout.spatial_rank);
}

absl::Status TfPadding(const Node& node, const ActLayout& layout, WindowSpec* spec) {
  const std::string padding = AttrString(node, "padding", "");
  if (padding == "VALID") {
    spec->mode = PadMode::kValid;
  } else if (padding == "SAME") {
    spec->mode = PadMode::kSameUpper;
  } else if (padding == "EXPLICIT") {
    spec->mode = PadMode::kExplicit;
    const int rank = layout.spatial_rank + 2;
    const auto* v = node.attrs.Get<std::vector<int64_t>>("explicit_paddings");
    if (v == nullptr || static_cast<int>(v->size()) != 2 * rank) {
      return NodeError(node, "padding EXPLICIT needs 'explicit_paddings' with ", 2 * rank,
                       " entries (a before/after pair per dim of the data format)");
    }
    const int channel = layout.channels_last ? rank - 1 : 1;
    if ((*v)[0] != 0 || (*v)[1] != 0 || (*v)[2 * channel] != 0 || (*v)[2 * channel + 1] != 0) {
      return NodeError(node, "explicit_paddings must be 0 in the batch and channel dims");
    }
    const int first = layout.channels_last ? 1 : 2;
    spec->pads_begin.clear();
    spec->pads_end.clear();
    for (int d = 0; d < layout.spatial_rank; ++d) {
      spec->pads_begin.push_back((*v)[2 * (first + d)]);
      spec->pads_end.push_back((*v)[2 * (first + d) + 1]);
    }
  } else {
    return NodeError(node, "padding '", padding, "' is not supported (SAME, VALID, EXPLICIT)");
  }
  return absl::OkStatus();
}

absl::Status OnnxWindow(const Node& node, int spatial_rank, WindowSpec* spec) {
  const std::string auto_pad = AttrString(node, "auto_pad", "NOTSET");
  if (auto_pad == "NOTSET" || auto_pad.empty()) {
    spec->mode = PadMode::kExplicit;
  } else if (auto_pad == "VALID") {
    spec->mode = PadMode::kValid;
  } else if (auto_pad == "SAME_UPPER") {
    spec->mode = PadMode::kSameUpper;
  } else if (auto_pad == "SAME_LOWER") {
    spec->mode = PadMode::kSameLower;
  } else {
    return NodeError(node, "auto_pad '", auto_pad,
                     "' is not supported (NOTSET, VALID, SAME_UPPER, SAME_LOWER)");
  }
  auto list = [&](const char* name, int64_t fallback, size_t len) {
    const auto* v = node.attrs.Get<std::vector<int64_t>>(name);
    return v != nullptr ? *v : std::vector<int64_t>(len, fallback);
  };
  const size_t s = static_cast<size_t>(spatial_rank);
  spec->strides = list("strides", 1, s);
  spec->dilations = list("dilations", 1, s);
  const std::vector<int64_t> pads = list("pads", 0, 2 * s);
  if (pads.size() != 2 * s) {
    return NodeError(node, "pads has ", pads.size(), " entries, expected ", 2 * s,
                     " (all leading pads, then all trailing pads)");
  }
  spec->pads_begin.assign(pads.begin(), pads.begin() + s);
  spec->pads_end.assign(pads.begin() + s, pads.end());
  spec->ceil_mode = AttrInt(node, "ceil_mode", 0) != 0;
  return absl::OkStatus();
}

}  // namespace nn_internal
}  // namespace rankopt
