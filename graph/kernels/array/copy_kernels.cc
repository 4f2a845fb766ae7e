// Data movement ops: Concat/ConcatV2, Pack/Unpack, Split/SplitV, Slice, StridedSlice, Transpose,
// Tile, Expand/BroadcastTo, Pad/PadV2/MirrorPad, Where/Select/SelectV2, OneHot, ReverseSequence.
// All byte-copy, so every fixed-width dtype works.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "graph/kernels/array/array_util.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

int64_t ClampI(int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); }

const char* Bytes(const TensorView& t) { return static_cast<const char*>(t.data); }
char* MutableBytes(const TensorView& t) { return static_cast<char*>(t.data); }

// Byte strides of a dense row-major tensor.
Dims ByteStrides(const TensorView& t) {
  Dims s = ElementStrides(t.dims);
  for (int64_t& v : s) v *= static_cast<int64_t>(DTypeSize(t.dtype));
  return s;
}

// Converts `v` to one element of `dtype` in `out` (16 bytes suffice for every fixed-width type).
absl::Status ScalarBytes(const Node& node, double v, DType dtype, char* out) {
  return VisitAll(
      dtype,
      [&]<typename T>() {
        const T t = ConvertValue<T>(v);
        std::memcpy(out, &t, sizeof(T));
        return absl::OkStatus();
      },
      [&] { return NodeError(node, "dtype ", DTypeName(dtype), " has no numeric value"); });
}

// ---- Concat, Pack, Unpack ---------------------------------------------------------------------

absl::Status ConcatCompute(KernelContext* ctx, int first, int count, int64_t axis_raw) {
  const Node& node = ctx->node();
  if (count < 1) return NodeError(node, "has no tensors to concatenate");
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* ref, RequiredInput(*ctx, first));
  if (ref->rank() == 0) return NodeError(node, "cannot concatenate scalars; expected rank >= 1");
  RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_raw, ref->rank(), "axis"));
  Dims out_dims = ref->dims;
  out_dims[axis] = 0;
  for (int i = first; i < first + count; ++i) {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, i));
    bool ok = in->dtype == ref->dtype && in->rank() == ref->rank();
    for (int a = 0; ok && a < in->rank(); ++a) ok = a == axis || in->dims[a] == ref->dims[a];
    if (!ok) {
      return NodeError(node, "input ", i, " is ", DescribeTensor(*in), " but input ", first, " is ",
                       DescribeTensor(*ref), "; expected equal dtypes and dims except axis ", axis);
    }
    out_dims[axis] += in->dims[axis];
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, ref->dtype, out_dims));
  const int64_t outer = Product(ref->dims, 0, axis);
  const int64_t inner = Product(ref->dims, axis + 1, ref->dims.size()) * DTypeSize(ref->dtype);
  char* dst = MutableBytes(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (int i = first; i < first + count; ++i) {
      const TensorView& in = ctx->input(i);
      const int64_t chunk = in.dims[axis] * inner;
      if (chunk == 0) continue;
      std::memcpy(dst, Bytes(in) + o * chunk, chunk);
      dst += chunk;
    }
  }
  return absl::OkStatus();
}

Factory OnnxConcatFactory(const KernelBuildContext& b) {
  if (!b.node->attrs.Find("axis")) return NodeError(*b.node, "has no axis attribute");
  const int64_t axis = AttrInt(*b.node, "axis", 0);
  return MakeKernel(
      [axis](KernelContext* ctx) { return ConcatCompute(ctx, 0, ctx->num_inputs(), axis); });
}

// TF ConcatV2(values..., axis) and Concat(concat_dim, values...).
Factory TfConcatFactory(const KernelBuildContext& b) {
  const bool v2 = b.node->op == "ConcatV2";
  return MakeKernel([v2](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, -1));
    const int n = ctx->num_inputs();
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, ReadIntScalar(*ctx, v2 ? n - 1 : 0, "axis"));
    return ConcatCompute(ctx, v2 ? 0 : 1, n - 1, axis);
  });
}

Factory PackFactory(const KernelBuildContext& b) {
  const int64_t axis_raw = AttrInt(*b.node, "axis", 0);
  return MakeKernel([axis_raw](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, -1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* ref, RequiredInput(*ctx, 0));
    const int n = ctx->num_inputs();
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_raw, ref->rank() + 1, "axis"));
    for (int i = 1; i < n; ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, i));
      if (in->dtype != ref->dtype || in->dims != ref->dims) {
        return NodeError(node, "input ", i, " is ", DescribeTensor(*in), " but input 0 is ",
                         DescribeTensor(*ref), "; expected every input alike");
      }
    }
    Dims out_dims = ref->dims;
    out_dims.insert(out_dims.begin() + axis, n);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, ref->dtype, out_dims));
    const int64_t outer = Product(ref->dims, 0, axis);
    const int64_t chunk = Product(ref->dims, axis, ref->dims.size()) * DTypeSize(ref->dtype);
    if (chunk == 0) return absl::OkStatus();
    char* dst = MutableBytes(out);
    for (int64_t o = 0; o < outer; ++o) {
      for (int i = 0; i < n; ++i) {
        std::memcpy(dst, Bytes(ctx->input(i)) + o * chunk, chunk);
        dst += chunk;
      }
    }
    return absl::OkStatus();
  });
}

Factory UnpackFactory(const KernelBuildContext& b) {
  const int64_t axis_raw = AttrInt(*b.node, "axis", 0);
  const int64_t num = AttrInt(*b.node, "num", -1);
  return MakeKernel([axis_raw, num](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    if (in->rank() == 0) return NodeError(node, "cannot unpack a scalar");
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_raw, in->rank(), "axis"));
    const int64_t n = in->dims[axis];
    if (num >= 0 && n != num) {
      return NodeError(node, "input ", DescribeTensor(*in), " has ", n, " entries along axis ",
                       axis, "; expected num = ", num);
    }
    Dims out_dims = in->dims;
    out_dims.erase(out_dims.begin() + axis);
    const int64_t outer = Product(in->dims, 0, axis);
    const int64_t chunk = Product(in->dims, axis + 1, in->dims.size()) * DTypeSize(in->dtype);
    for (int64_t k = 0; k < n; ++k) {
      RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                               ctx->AllocateOutput(static_cast<int>(k), in->dtype, out_dims));
      for (int64_t o = 0; o < outer && chunk > 0; ++o) {
        std::memcpy(MutableBytes(out) + o * chunk, Bytes(*in) + (o * n + k) * chunk, chunk);
      }
    }
    return absl::OkStatus();
  });
}

// ---- Split ------------------------------------------------------------------------------------

// Splits input `in_index` along `axis_raw` into outputs of `sizes`.
absl::Status SplitCompute(KernelContext* ctx, int in_index, int64_t axis_raw,
                          absl::Span<const int64_t> sizes) {
  const Node& node = ctx->node();
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, in_index));
  if (in->rank() == 0) return NodeError(node, "cannot split a scalar");
  RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_raw, in->rank(), "axis"));
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || __builtin_add_overflow(total, s, &total)) {
      return NodeError(node, "split sizes ", DimsString(sizes), " must be >= 0");
    }
  }
  if (total != in->dims[axis]) {
    return NodeError(node, "split sizes ", DimsString(sizes), " sum to ", total, " but axis ", axis,
                     " of ", DescribeTensor(*in), " has ", in->dims[axis]);
  }
  const int64_t outer = Product(in->dims, 0, axis);
  const int64_t inner = Product(in->dims, axis + 1, in->dims.size()) * DTypeSize(in->dtype);
  const int64_t row = in->dims[axis] * inner;
  int64_t offset = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    Dims out_dims = in->dims;
    out_dims[axis] = sizes[k];
    RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                             ctx->AllocateOutput(static_cast<int>(k), in->dtype, out_dims));
    const int64_t chunk = sizes[k] * inner;
    for (int64_t o = 0; o < outer && chunk > 0; ++o) {
      std::memcpy(MutableBytes(out) + o * chunk, Bytes(*in) + o * row + offset, chunk);
    }
    offset += chunk;
  }
  return absl::OkStatus();
}

// Equal parts; `ceil_parts` (ONNX num_outputs) lets the last part be smaller.
absl::Status EqualSizes(const Node& node, int64_t dim, int64_t parts, bool ceil_parts,
                        Dims* sizes) {
  if (parts <= 0) return NodeError(node, "has ", parts, " outputs; expected at least 1");
  if (!ceil_parts && dim % parts != 0) {
    return NodeError(node, "cannot split ", dim, " entries into ", parts, " equal parts");
  }
  const int64_t chunk = (dim + parts - 1) / parts;
  sizes->clear();
  int64_t left = dim;
  for (int64_t k = 0; k < parts; ++k) {
    const int64_t s = std::min(chunk, left);
    sizes->push_back(s);
    left -= s;
  }
  return absl::OkStatus();
}

Factory OnnxSplitFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  const int64_t axis = AttrInt(node, "axis", 0);
  std::optional<std::vector<int64_t>> attr_split = AttrInts(node, "split");
  const bool has_num_outputs = node.attrs.Find("num_outputs") != nullptr;
  const int64_t parts = has_num_outputs ? AttrInt(node, "num_outputs", 0)
                                        : static_cast<int64_t>(node.output_names.size());
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims sizes;
    if (HasInput(*ctx, 1)) {
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "split", &sizes));
    } else if (attr_split.has_value()) {
      sizes.assign(attr_split->begin(), attr_split->end());
    } else {
      if (in->rank() == 0) return NodeError(ctx->node(), "cannot split a scalar");
      RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx->node(), axis, in->rank(), "axis"));
      RANKOPT_RETURN_IF_ERROR(EqualSizes(ctx->node(), in->dims[a], parts, has_num_outputs, &sizes));
    }
    return SplitCompute(ctx, 0, axis, sizes);
  });
}

// TF Split(split_dim, value; num_split).
Factory TfSplitFactory(const KernelBuildContext& b) {
  const int64_t num_split = AttrInt(*b.node, "num_split", -1);
  if (num_split < 1) return NodeError(*b.node, "num_split ", num_split, " must be >= 1");
  return MakeKernel([num_split](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, ReadIntScalar(*ctx, 0, "split_dim"));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 1));
    if (in->rank() == 0) return NodeError(ctx->node(), "cannot split a scalar");
    RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx->node(), axis, in->rank(), "split_dim"));
    Dims sizes;
    RANKOPT_RETURN_IF_ERROR(EqualSizes(ctx->node(), in->dims[a], num_split, false, &sizes));
    return SplitCompute(ctx, 1, a, sizes);
  });
}

// TF SplitV(value, size_splits, split_dim): one size may be -1 (the rest).
Factory SplitVFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims sizes;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "size_splits", &sizes));
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, ReadIntScalar(*ctx, 2, "split_dim"));
    if (in->rank() == 0) return NodeError(ctx->node(), "cannot split a scalar");
    RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx->node(), axis, in->rank(), "split_dim"));
    int infer = -1;
    int64_t known = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      if (sizes[k] == -1 && infer < 0) {
        infer = static_cast<int>(k);
      } else if (sizes[k] < 0 || __builtin_add_overflow(known, sizes[k], &known)) {
        return NodeError(ctx->node(), "size_splits ", DimsString(sizes),
                         " must be >= 0 with at most one -1");
      }
    }
    if (infer >= 0) {
      if (known > in->dims[a]) {
        return NodeError(ctx->node(), "size_splits ", DimsString(sizes), " exceed dim ",
                         in->dims[a]);
      }
      sizes[infer] = in->dims[a] - known;
    }
    return SplitCompute(ctx, 0, a, sizes);
  });
}

// ---- Slice, StridedSlice ----------------------------------------------------------------------

// Copies the region of `in` where axis a reads start[a] + o * step[a], o < count[a], into output
// `o`, shaped `out_dims` (same element count as the region).
absl::Status CopyRegion(KernelContext* ctx, const TensorView& in, absl::Span<const int64_t> start,
                        absl::Span<const int64_t> step, absl::Span<const int64_t> count,
                        absl::Span<const int64_t> out_dims, int o = 0) {
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(o, in.dtype, out_dims));
  if (out.NumElements() == 0) return absl::OkStatus();
  const Dims strides = ByteStrides(in);
  RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, count));
  for (size_t a = 0; a < maps.size(); ++a) {
    maps[a].src_stride = strides[a];
    FillIota(maps[a].index, start[a], step[a]);
  }
  CopyByAxisMaps(maps, Bytes(in), MutableBytes(out), DTypeSize(in.dtype), nullptr);
  return absl::OkStatus();
}

// TF Slice(input, begin, size): size -1 takes the rest of the axis.
Factory TfSliceFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims begin, size;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "begin", &begin));
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 2, "size", &size));
    const size_t r = in->dims.size();
    if (begin.size() != r || size.size() != r) {
      return NodeError(ctx->node(), "begin ", DimsString(begin), " and size ", DimsString(size),
                       " must both have ", r, " entries for input ", DescribeTensor(*in));
    }
    Dims step(r, 1);
    for (size_t a = 0; a < r; ++a) {
      const int64_t d = in->dims[a];
      if (size[a] == -1 && begin[a] >= 0 && begin[a] <= d) size[a] = d - begin[a];
      if (begin[a] < 0 || size[a] < 0 || begin[a] > d || size[a] > d - begin[a]) {
        return NodeError(ctx->node(), "begin ", begin[a], " size ", size[a], " of axis ", a,
                         " is outside [0, ", d, "] of ", DescribeTensor(*in));
      }
    }
    return CopyRegion(ctx, *in, begin, step, size, size);
  });
}

// ONNX Slice: starts/ends/axes/steps inputs (opset >= 10) or starts/ends/axes attributes.
Factory OnnxSliceFactory(const KernelBuildContext& b) {
  const std::optional<std::vector<int64_t>> attr_starts = AttrInts(*b.node, "starts");
  const std::optional<std::vector<int64_t>> attr_ends = AttrInts(*b.node, "ends");
  const std::optional<std::vector<int64_t>> attr_axes = AttrInts(*b.node, "axes");
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t r = in->rank();
    Dims starts, ends, axes, steps;
    if (HasInput(*ctx, 1)) {
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "starts", &starts));
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 2, "ends", &ends));
      if (HasInput(*ctx, 3)) RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 3, "axes", &axes));
      if (HasInput(*ctx, 4)) RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 4, "steps", &steps));
    } else if (attr_starts && attr_ends) {
      starts.assign(attr_starts->begin(), attr_starts->end());
      ends.assign(attr_ends->begin(), attr_ends->end());
      if (attr_axes) axes.assign(attr_axes->begin(), attr_axes->end());
    } else {
      return NodeError(node, "has neither starts/ends inputs nor attributes");
    }
    const bool axes_given = HasInput(*ctx, 1) ? HasInput(*ctx, 3) : attr_axes.has_value();
    if (!axes_given) {
      axes.resize(starts.size());
      std::iota(axes.begin(), axes.end(), 0);
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return NodeError(node, "starts ", DimsString(starts), ", ends ", DimsString(ends), ", axes ",
                       DimsString(axes), " and steps ", DimsString(steps),
                       " must have equal lengths");
    }
    Dims start(r, 0), step(r, 1), count(in->dims.begin(), in->dims.end());
    absl::InlinedVector<bool, 8> seen(static_cast<size_t>(r), false);
    for (size_t i = 0; i < starts.size(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(node, axes[i], r, "slice axis"));
      if (seen[a]) return NodeError(node, "axes ", DimsString(axes), " repeat axis ", a);
      seen[a] = true;
      const int64_t d = in->dims[a], st = steps[i];
      if (st == 0) return NodeError(node, "step of axis ", a, " is 0");
      int64_t s = starts[i] < 0 ? starts[i] + d : starts[i];
      int64_t e = ends[i] < 0 ? ends[i] + d : ends[i];
      int64_t n;
      if (st > 0) {
        s = ClampI(s, 0, d);
        e = ClampI(e, 0, d);
        n = e > s ? (e - s - 1) / st + 1 : 0;
      } else {
        s = ClampI(s, 0, d - 1);
        e = ClampI(e, -1, d - 1);
        n = s > e ? (s - e - 1) / (-st) + 1 : 0;
      }
      start[a] = s;
      step[a] = st;
      count[a] = n;
    }
    return CopyRegion(ctx, *in, start, step, count, count);
  });
}

Factory StridedSliceFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  const int64_t begin_mask = AttrInt(node, "begin_mask", 0);
  const int64_t end_mask = AttrInt(node, "end_mask", 0);
  const int64_t ellipsis_mask = AttrInt(node, "ellipsis_mask", 0);
  const int64_t new_axis_mask = AttrInt(node, "new_axis_mask", 0);
  const int64_t shrink_mask = AttrInt(node, "shrink_axis_mask", 0);
  if (ellipsis_mask & (ellipsis_mask - 1)) {
    return NodeError(node, "ellipsis_mask ", ellipsis_mask,
                     " has more than one bit; only one ellipsis is allowed");
  }
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 4));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims begin, end, strides;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "begin", &begin));
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 2, "end", &end));
    if (HasInput(*ctx, 3)) {
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 3, "strides", &strides));
    } else {
      strides.assign(begin.size(), 1);
    }
    if (begin.size() != end.size() || begin.size() != strides.size() || begin.size() > 32) {
      return NodeError(node, "begin ", DimsString(begin), ", end ", DimsString(end),
                       " and strides ", DimsString(strides),
                       " must have equal lengths (at most 32)");
    }
    // Sparse spec -> dense spec over the input dims (TF's BuildDenseSpec). Without an ellipsis
    // there is an implicit one at the end.
    int sparse_dims = static_cast<int>(begin.size());
    int64_t ellipsis = ellipsis_mask;
    if (ellipsis == 0) {
      ellipsis = int64_t{1} << sparse_dims;
      ++sparse_dims;
    }
    const int r = in->rank();
    int new_axes_after_ellipsis = 0;
    {
      int e = 0;
      while (e < sparse_dims && !((ellipsis >> e) & 1)) ++e;
      for (int i = e + 1; i < sparse_dims; ++i) {
        if ((new_axis_mask >> i) & 1) ++new_axes_after_ellipsis;
      }
    }
    Dims d_begin(r, 0), d_end(r, 0), d_stride(r, 1);
    absl::InlinedVector<bool, 8> d_bmask(r, false), d_emask(r, false), d_shrink(r, false);
    constexpr int64_t kNewAxis = -1, kShrinkAxis = -2;
    absl::InlinedVector<int64_t, 8> final_gather;
    int full = 0;
    for (int i = 0; i < sparse_dims; ++i) {
      if ((ellipsis >> i) & 1) {
        const int next = std::min(r - (sparse_dims - i) + 1 + new_axes_after_ellipsis, r);
        for (; full < next; ++full) {
          d_bmask[full] = d_emask[full] = true;
          final_gather.push_back(full);
        }
      } else if ((new_axis_mask >> i) & 1) {
        final_gather.push_back(kNewAxis);
      } else {
        if (full >= r) {
          return NodeError(node, "slice index ", i, " of ", sparse_dims,
                           " is out of bounds for input ", DescribeTensor(*in));
        }
        d_begin[full] = begin[i];
        d_end[full] = end[i];
        d_stride[full] = strides[i];
        d_bmask[full] = (begin_mask >> i) & 1;
        d_emask[full] = (end_mask >> i) & 1;
        if ((shrink_mask >> i) & 1) {
          d_shrink[full] = true;
          final_gather.push_back(kShrinkAxis);
        } else {
          final_gather.push_back(full);
        }
        ++full;
      }
    }
    Dims start(r, 0), step(r, 1), count(r, 0);
    for (int a = 0; a < r; ++a) {
      const int64_t d = in->dims[a], st = d_stride[a];
      if (st == 0) return NodeError(node, "stride of dim ", a, " is 0");
      if (d_shrink[a]) {
        if (st < 0) {
          return NodeError(node, "only stride 1 is allowed on the shrunk dim ", a);
        }
        const int64_t x = d_begin[a] < 0 ? d_begin[a] + d : d_begin[a];
        if (x < 0 || x >= d) {
          return NodeError(node, "slice index ", d_begin[a], " of dim ", a,
                           " is out of bounds for ", DescribeTensor(*in));
        }
        start[a] = x;
        step[a] = 1;
        count[a] = 1;
        continue;
      }
      const int64_t lo = st > 0 ? 0 : -1, hi = st > 0 ? d : d - 1;
      auto canonical = [&](int64_t x, bool masked, bool is_end) {
        if (masked) return (st > 0) != is_end ? lo : hi;
        const int64_t fwd = x < 0 ? d + x : x;
        return ClampI(fwd, lo, hi);
      };
      const int64_t s = canonical(d_begin[a], d_bmask[a], false);
      const int64_t e = canonical(d_end[a], d_emask[a], true);
      const int64_t len = e - s;
      int64_t n = 0;
      if (len != 0 && (len < 0) == (st < 0)) n = len / st + (len % st != 0 ? 1 : 0);
      start[a] = s;
      step[a] = st;
      count[a] = n;
    }
    Dims out_dims;
    for (int64_t g : final_gather) {
      if (g == kNewAxis) {
        out_dims.push_back(1);
      } else if (g >= 0) {
        out_dims.push_back(count[g]);
      }
    }
    return CopyRegion(ctx, *in, start, step, count, out_dims);
  });
}

// ---- Transpose, Tile, Expand ------------------------------------------------------------------

absl::Status TransposeCompute(KernelContext* ctx, absl::Span<const int64_t> perm_in) {
  const Node& node = ctx->node();
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
  const int64_t r = in->rank();
  Dims perm(perm_in.begin(), perm_in.end());
  if (perm.empty() && r > 0) {
    for (int64_t a = r - 1; a >= 0; --a) perm.push_back(a);
  }
  if (static_cast<int64_t>(perm.size()) != r) {
    return NodeError(node, "perm ", DimsString(perm), " has ", perm.size(),
                     " entries; expected the input rank ", r, " of ", DescribeTensor(*in));
  }
  absl::InlinedVector<bool, 8> seen(static_cast<size_t>(r), false);
  bool identity = true;
  for (int64_t a = 0; a < r; ++a) {
    RANKOPT_ASSIGN_OR_RETURN(perm[a], NormalizeAxis(node, perm[a], r, "perm entry"));
    if (seen[perm[a]]) return NodeError(node, "perm ", DimsString(perm_in), " repeats an axis");
    seen[perm[a]] = true;
    identity = identity && perm[a] == a;
  }
  if (identity) return ctx->ForwardInput(0, 0, in->dims);
  Dims out_dims(r);
  for (int64_t a = 0; a < r; ++a) out_dims[a] = in->dims[perm[a]];
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, in->dtype, out_dims));
  if (out.NumElements() == 0) return absl::OkStatus();
  const Dims strides = ByteStrides(*in);
  RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, out_dims));
  for (int64_t a = 0; a < r; ++a) {
    maps[a].src_stride = strides[perm[a]];
    FillIota(maps[a].index);
  }
  CopyByAxisMaps(maps, Bytes(*in), MutableBytes(out), DTypeSize(in->dtype), nullptr);
  return absl::OkStatus();
}

Factory OnnxTransposeFactory(const KernelBuildContext& b) {
  const std::vector<int64_t> perm = AttrInts(*b.node, "perm").value_or(std::vector<int64_t>{});
  return MakeKernel([perm](KernelContext* ctx) { return TransposeCompute(ctx, perm); });
}

Factory TfTransposeFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    Dims perm;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "perm", &perm));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    if (perm.size() != in->dims.size()) {
      return NodeError(ctx->node(), "perm ", DimsString(perm), " has ", perm.size(),
                       " entries; expected the input rank ", in->rank());
    }
    return TransposeCompute(ctx, perm);
  });
}

// ONNX Tile(input, repeats) and TF Tile(input, multiples).
Factory TileFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims reps;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "multiples", &reps));
    const size_t r = in->dims.size();
    if (reps.size() != r) {
      return NodeError(node, "multiples ", DimsString(reps), " has ", reps.size(),
                       " entries; expected the input rank ", r, " of ", DescribeTensor(*in));
    }
    Dims out_dims(r);
    for (size_t a = 0; a < r; ++a) {
      if (reps[a] < 0 || __builtin_mul_overflow(in->dims[a], reps[a], &out_dims[a])) {
        return NodeError(node, "multiples ", DimsString(reps), " must be >= 0 and not overflow");
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, in->dtype, out_dims));
    if (out.NumElements() == 0) return absl::OkStatus();
    const Dims strides = ByteStrides(*in);
    RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, out_dims));
    for (size_t a = 0; a < r; ++a) {
      maps[a].src_stride = strides[a];
      for (int64_t o = 0; o < out_dims[a]; ++o) maps[a].index[o] = o % in->dims[a];
    }
    CopyByAxisMaps(maps, Bytes(*in), MutableBytes(out), DTypeSize(in->dtype), nullptr);
    return absl::OkStatus();
  });
}

// Broadcasts `in` to `out_dims` (already checked compatible) into output 0, or into `dst` when
// given.
absl::Status BroadcastInto(KernelContext* ctx, const TensorView& in,
                           absl::Span<const int64_t> out_dims, char* dst) {
  const size_t r = out_dims.size();
  const size_t lead = r - in.dims.size();
  const Dims strides = ByteStrides(in);
  if (dst == nullptr) {
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, in.dtype, out_dims));
    dst = MutableBytes(out);
    if (out.NumElements() == 0) return absl::OkStatus();
  }
  for (int64_t d : out_dims) {
    if (d == 0) return absl::OkStatus();
  }
  RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, out_dims));
  for (size_t a = 0; a < r; ++a) {
    const bool broadcast = a < lead || in.dims[a - lead] == 1;
    maps[a].src_stride = a < lead ? 0 : strides[a - lead];
    FillIota(maps[a].index, 0, broadcast ? 0 : 1);
  }
  CopyByAxisMaps(maps, Bytes(in), dst, DTypeSize(in.dtype), nullptr);
  return absl::OkStatus();
}

// ONNX Expand (bidirectional) and TF BroadcastTo (the result must equal `shape`).
Factory ExpandFactory(const KernelBuildContext& b) {
  const bool tf = b.format != ModelFormat::kOnnx;
  return MakeKernel([tf](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims shape;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "shape", &shape));
    for (int64_t d : shape) {
      if (d < 0) return NodeError(ctx->node(), "shape ", DimsString(shape), " has a negative dim");
    }
    RANKOPT_ASSIGN_OR_RETURN(Dims out_dims, BroadcastDims(ctx->node(), in->dims, shape));
    if (tf && out_dims != shape) {
      return NodeError(ctx->node(), "cannot broadcast ", DescribeTensor(*in), " to ",
                       DimsString(shape));
    }
    return BroadcastInto(ctx, *in, out_dims, nullptr);
  });
}

// ---- Pad --------------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kSymmetric, kWrap };

absl::StatusOr<PadMode> ParsePadMode(const Node& node, absl::string_view mode) {
  std::string m(mode);
  for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  if (m == "symmetric") return PadMode::kSymmetric;
  if (m == "wrap") return PadMode::kWrap;
  return NodeError(node, "pad mode '", mode,
                   "' is not supported; expected constant, reflect, edge, symmetric or wrap");
}

// Source index of output position i - before along an axis of size d, or -1 for the fill.
int64_t PadSource(int64_t i, int64_t d, PadMode mode) {
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return ClampI(i, 0, d - 1);
    case PadMode::kWrap:
      return ((i % d) + d) % d;
    case PadMode::kReflect: {
      if (d == 1) return 0;
      const int64_t period = 2 * (d - 1);
      int64_t k = ((i % period) + period) % period;
      return k < d ? k : period - k;
    }
    case PadMode::kSymmetric: {
      const int64_t period = 2 * d;
      int64_t k = ((i % period) + period) % period;
      return k < d ? k : period - 1 - k;
    }
  }
  return -1;
}

// pads: [begin_0..begin_{r-1}, end_0..end_{r-1}] (ONNX layout).
absl::Status PadCompute(KernelContext* ctx, const TensorView& in, absl::Span<const int64_t> pads,
                        PadMode mode, const char* fill) {
  const Node& node = ctx->node();
  const size_t r = in.dims.size();
  Dims out_dims(r);
  for (size_t a = 0; a < r; ++a) {
    int64_t d;
    if (__builtin_add_overflow(in.dims[a], pads[a], &d) ||
        __builtin_add_overflow(d, pads[a + r], &d) || d < 0) {
      return NodeError(node, "pads ", DimsString(pads), " give a negative or overflowing dim ",
                       "for axis ", a, " of ", DescribeTensor(in));
    }
    if (mode != PadMode::kConstant && in.dims[a] == 0 && d > 0) {
      return NodeError(node, "cannot pad the empty axis ", a, " of ", DescribeTensor(in),
                       " in a non-constant mode");
    }
    out_dims[a] = d;
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, in.dtype, out_dims));
  if (out.NumElements() == 0) return absl::OkStatus();
  const Dims strides = ByteStrides(in);
  RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, out_dims));
  for (size_t a = 0; a < r; ++a) {
    maps[a].src_stride = strides[a];
    for (int64_t o = 0; o < out_dims[a]; ++o) {
      maps[a].index[o] = PadSource(o - pads[a], in.dims[a], mode);
    }
  }
  CopyByAxisMaps(maps, Bytes(in), MutableBytes(out), DTypeSize(in.dtype), fill);
  return absl::OkStatus();
}

Factory OnnxPadFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  PadMode mode = PadMode::kConstant;
  if (const auto* m = node.attrs.Get<std::string>("mode")) {
    RANKOPT_ASSIGN_OR_RETURN(mode, ParsePadMode(node, *m));
  }
  const std::optional<std::vector<int64_t>> attr_pads = AttrInts(node, "pads");
  const float* value_attr = node.attrs.Get<float>("value");
  const double attr_value = value_attr ? *value_attr : 0.0;
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t r = in->rank();
    Dims pads;
    if (HasInput(*ctx, 1)) {
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "pads", &pads));
    } else if (attr_pads) {
      pads.assign(attr_pads->begin(), attr_pads->end());
    } else {
      return NodeError(node, "has no pads");
    }
    if (HasInput(*ctx, 3)) {  // axes (opset 18): pads cover only these axes
      Dims axes;
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 3, "axes", &axes));
      if (pads.size() != 2 * axes.size()) {
        return NodeError(node, "pads ", DimsString(pads), " must have 2 entries per axis of ",
                         DimsString(axes));
      }
      Dims full(2 * r, 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(node, axes[i], r, "pad axis"));
        full[a] = pads[i];
        full[a + r] = pads[i + axes.size()];
      }
      pads = full;
    }
    if (static_cast<int64_t>(pads.size()) != 2 * r) {
      return NodeError(node, "pads ", DimsString(pads), " has ", pads.size(),
                       " entries; expected 2 * rank = ", 2 * r, " for ", DescribeTensor(*in));
    }
    char fill[16] = {};
    if (HasInput(*ctx, 2)) {
      const TensorView& v = ctx->input(2);
      if (v.dtype != in->dtype || v.NumElements() != 1) {
        return NodeError(node, "constant_value is ", DescribeTensor(v), "; expected one ",
                         DTypeName(in->dtype), " element");
      }
      std::memcpy(fill, v.data, DTypeSize(v.dtype));
    } else {
      RANKOPT_RETURN_IF_ERROR(ScalarBytes(node, attr_value, in->dtype, fill));
    }
    return PadCompute(ctx, *in, pads, mode, fill);
  });
}

// TF Pad(input, paddings), PadV2(input, paddings, constant_values), MirrorPad(input, paddings).
Factory TfPadFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  PadMode mode = PadMode::kConstant;
  if (node.op == "MirrorPad") {
    const auto* m = node.attrs.Get<std::string>("mode");
    if (m == nullptr) return NodeError(node, "has no mode attribute (REFLECT or SYMMETRIC)");
    RANKOPT_ASSIGN_OR_RETURN(mode, ParsePadMode(node, *m));
    if (mode != PadMode::kReflect && mode != PadMode::kSymmetric) {
      return NodeError(node, "mode '", *m, "' is not REFLECT or SYMMETRIC");
    }
  }
  const bool v2 = node.op == "PadV2";
  return MakeKernel([mode, v2](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, v2 ? 3 : 2, v2 ? 3 : 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* p, RequiredInput(*ctx, 1));
    const int64_t r = in->rank();
    if (!IsIntegerDType(p->dtype) || p->rank() != 2 || p->dims[0] != r || p->dims[1] != 2) {
      return NodeError(node, "paddings is ", DescribeTensor(*p), "; expected [", r,
                       ",2] int32 or int64 for input ", DescribeTensor(*in));
    }
    Dims pads(2 * r);
    for (int64_t a = 0; a < r; ++a) {
      pads[a] = IntAt(*p, 2 * a);
      pads[a + r] = IntAt(*p, 2 * a + 1);
      const int64_t limit = mode == PadMode::kReflect     ? in->dims[a] - 1
                            : mode == PadMode::kSymmetric ? in->dims[a]
                                                          : std::numeric_limits<int64_t>::max();
      if (pads[a] < 0 || pads[a + r] < 0 || pads[a] > limit || pads[a + r] > limit) {
        return NodeError(node, "paddings ", pads[a], ",", pads[a + r], " of dim ", a, " of ",
                         DescribeTensor(*in), " must be in [0, ", limit, "]");
      }
    }
    char fill[16] = {};
    if (v2) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* v, RequiredInput(*ctx, 2));
      if (v->dtype != in->dtype || v->NumElements() != 1) {
        return NodeError(node, "constant_values is ", DescribeTensor(*v), "; expected one ",
                         DTypeName(in->dtype), " element");
      }
      std::memcpy(fill, v->data, DTypeSize(v->dtype));
    }
    return PadCompute(ctx, *in, pads, mode, fill);
  });
}

// ---- Where / Select ---------------------------------------------------------------------------

// out = cond ? x : y with numpy broadcasting of all three.
absl::Status SelectCompute(KernelContext* ctx, const TensorView& cond_in, const TensorView& x,
                           const TensorView& y) {
  const Node& node = ctx->node();
  if (cond_in.dtype != DType::kBool) {
    return NodeError(node, "condition is ", DescribeTensor(cond_in), "; expected bool");
  }
  if (x.dtype != y.dtype) {
    return NodeError(node, "branches are ", DescribeTensor(x), " and ", DescribeTensor(y),
                     "; expected one dtype");
  }
  RANKOPT_ASSIGN_OR_RETURN(Dims xy, BroadcastDims(node, x.dims, y.dims));
  RANKOPT_ASSIGN_OR_RETURN(Dims out_dims, BroadcastDims(node, cond_in.dims, xy));
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, out_dims));
  const int64_t n = out.NumElements();
  if (n == 0) return absl::OkStatus();
  const size_t esize = DTypeSize(x.dtype);
  RANKOPT_ASSIGN_OR_RETURN(void* ybuf, ctx->AllocateScratch(n * esize));
  RANKOPT_ASSIGN_OR_RETURN(void* cbuf, ctx->AllocateScratch(n));
  RANKOPT_RETURN_IF_ERROR(BroadcastInto(ctx, x, out_dims, MutableBytes(out)));
  RANKOPT_RETURN_IF_ERROR(BroadcastInto(ctx, y, out_dims, static_cast<char*>(ybuf)));
  RANKOPT_RETURN_IF_ERROR(BroadcastInto(ctx, cond_in, out_dims, static_cast<char*>(cbuf)));
  const char* c = static_cast<const char*>(cbuf);
  const char* ys = static_cast<const char*>(ybuf);
  char* dst = MutableBytes(out);
  for (int64_t i = 0; i < n; ++i) {
    if (c[i] == 0) std::memcpy(dst + i * esize, ys + i * esize, esize);
  }
  return absl::OkStatus();
}

// ONNX Where and TF SelectV2 broadcast; TF Select also takes a vector condition over dim 0.
Factory SelectFactory(const KernelBuildContext& b) {
  const bool v1 = b.node->op == "Select";
  return MakeKernel([v1](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* c, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* y, RequiredInput(*ctx, 2));
    if (!v1) return SelectCompute(ctx, *c, *x, *y);
    if (x->dims != y->dims) {
      return NodeError(ctx->node(), "t ", DescribeTensor(*x), " and e ", DescribeTensor(*y),
                       " must have the same shape");
    }
    if (c->dims == x->dims || c->rank() == 0) return SelectCompute(ctx, *c, *x, *y);
    if (c->rank() == 1 && x->rank() >= 1 && c->dims[0] == x->dims[0]) {
      TensorView column = *c;  // [n] -> [n,1,...,1] so it broadcasts over the rows
      column.dims.resize(x->dims.size(), 1);
      return SelectCompute(ctx, column, *x, *y);
    }
    return NodeError(ctx->node(), "condition ", DescribeTensor(*c), " must be a scalar, match t ",
                     DescribeTensor(*x), ", or be a vector over its first dim");
  });
}

// ---- OneHot -----------------------------------------------------------------------------------

absl::Status OneHotCompute(KernelContext* ctx, const TensorView& indices, int64_t depth,
                           int64_t axis_raw, const char* on, const char* off, DType dtype,
                           bool wrap_negative) {
  const Node& node = ctx->node();
  if (depth < 0) return NodeError(node, "depth ", depth, " must be >= 0");
  const int64_t r = indices.rank();
  if (axis_raw < -r - 1 || axis_raw > r) {
    return NodeError(node, "axis ", axis_raw, " is out of range for output rank ", r + 1);
  }
  const int64_t axis = axis_raw < 0 ? axis_raw + r + 1 : axis_raw;
  Dims out_dims = indices.dims;
  out_dims.insert(out_dims.begin() + axis, depth);
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, dtype, out_dims));
  const int64_t n = out.NumElements();
  const size_t esize = DTypeSize(dtype);
  char* dst = MutableBytes(out);
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * esize, off, esize);
  if (n == 0) return absl::OkStatus();
  const int64_t outer = Product(indices.dims, 0, axis);
  const int64_t inner = Product(indices.dims, axis, indices.dims.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t k = ValueAt<int64_t>(indices, o * inner + i);
      if (k < 0 && wrap_negative) k += depth;
      if (k < 0 || k >= depth) continue;
      std::memcpy(dst + ((o * depth + k) * inner + i) * esize, on, esize);
    }
  }
  return absl::OkStatus();
}

// TF OneHot(indices, depth, on_value, off_value; axis).
Factory TfOneHotFactory(const KernelBuildContext& b) {
  const int64_t axis = AttrInt(*b.node, "axis", -1);
  return MakeKernel([axis](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 4, 4));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    if (!IsIntegerDType(indices->dtype)) {
      return NodeError(ctx->node(), "indices are ", DescribeTensor(*indices),
                       "; expected integers");
    }
    RANKOPT_ASSIGN_OR_RETURN(int64_t depth, ReadIntScalar(*ctx, 1, "depth"));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* on, RequiredInput(*ctx, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* off, RequiredInput(*ctx, 3));
    if (on->NumElements() != 1 || off->NumElements() != 1 || on->dtype != off->dtype) {
      return NodeError(ctx->node(), "on_value ", DescribeTensor(*on), " and off_value ",
                       DescribeTensor(*off), " must be scalars of one dtype");
    }
    if (axis < -1) return NodeError(ctx->node(), "axis ", axis, " must be >= -1");
    return OneHotCompute(ctx, *indices, depth, axis == -1 ? indices->rank() : axis, Bytes(*on),
                         Bytes(*off), on->dtype, /*wrap_negative=*/false);
  });
}

// ONNX OneHot(indices, depth, values = [off, on]; axis).
Factory OnnxOneHotFactory(const KernelBuildContext& b) {
  const int64_t axis = AttrInt(*b.node, "axis", -1);
  return MakeKernel([axis](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* depth_t, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* values, RequiredInput(*ctx, 2));
    if (depth_t->NumElements() != 1 || values->NumElements() != 2 ||
        indices->dtype == DType::kBool) {
      return NodeError(ctx->node(), "depth ", DescribeTensor(*depth_t), " and values ",
                       DescribeTensor(*values), " must be one element and [off, on]");
    }
    const int64_t depth = ValueAt<int64_t>(*depth_t, 0);
    const size_t esize = DTypeSize(values->dtype);
    return OneHotCompute(ctx, *indices, depth, axis, Bytes(*values) + esize, Bytes(*values),
                         values->dtype, /*wrap_negative=*/true);
  });
}

// ---- ReverseSequence --------------------------------------------------------------------------

absl::Status ReverseSequenceCompute(KernelContext* ctx, int64_t seq_raw, int64_t batch_raw) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
  Dims lens;
  RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "seq_lengths", &lens));
  const int64_t r = in->rank();
  RANKOPT_ASSIGN_OR_RETURN(int64_t seq, NormalizeAxis(node, seq_raw, r, "seq_dim"));
  RANKOPT_ASSIGN_OR_RETURN(int64_t batch, NormalizeAxis(node, batch_raw, r, "batch_dim"));
  if (seq == batch) return NodeError(node, "seq_dim and batch_dim are both ", seq);
  if (static_cast<int64_t>(lens.size()) != in->dims[batch]) {
    return NodeError(node, "seq_lengths has ", lens.size(), " entries; expected dim ", batch,
                     " of ", DescribeTensor(*in));
  }
  for (size_t b = 0; b < lens.size(); ++b) {
    if (lens[b] < 0 || lens[b] > in->dims[seq]) {
      return NodeError(node, "seq_lengths[", b, "] = ", lens[b], " is outside [0, ", in->dims[seq],
                       "]");
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, in->dtype, in->dims));
  const int64_t n = in->NumElements();
  const size_t esize = DTypeSize(in->dtype);
  const Dims strides = ElementStrides(in->dims);
  for (int64_t f = 0; f < n; ++f) {
    const int64_t b = (f / strides[batch]) % in->dims[batch];
    const int64_t t = (f / strides[seq]) % in->dims[seq];
    const int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
    const int64_t src = f + (src_t - t) * strides[seq];
    std::memcpy(MutableBytes(out) + f * esize, Bytes(*in) + src * esize, esize);
  }
  return absl::OkStatus();
}

Factory TfReverseSequenceFactory(const KernelBuildContext& b) {
  const int64_t seq = AttrInt(*b.node, "seq_dim", -1);
  const int64_t batch = AttrInt(*b.node, "batch_dim", 0);
  if (!b.node->attrs.Find("seq_dim")) return NodeError(*b.node, "has no seq_dim attribute");
  return MakeKernel([=](KernelContext* ctx) { return ReverseSequenceCompute(ctx, seq, batch); });
}

Factory OnnxReverseSequenceFactory(const KernelBuildContext& b) {
  const int64_t seq = AttrInt(*b.node, "time_axis", 0);
  const int64_t batch = AttrInt(*b.node, "batch_axis", 1);
  return MakeKernel([=](KernelContext* ctx) { return ReverseSequenceCompute(ctx, seq, batch); });
}

}  // namespace

absl::Status RegisterCopyKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Concat", OnnxConcatFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ConcatV2", TfConcatFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Concat", TfConcatFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Pack", PackFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Unpack", UnpackFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Split", OnnxSplitFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Split", TfSplitFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SplitV", SplitVFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Slice", TfSliceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Slice", OnnxSliceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "StridedSlice", StridedSliceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Transpose", OnnxTransposeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Transpose", TfTransposeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Tile", TileFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Tile", TileFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Expand", ExpandFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "BroadcastTo", ExpandFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Pad", OnnxPadFactory));
  for (const char* op : {"Pad", "PadV2", "MirrorPad"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, TfPadFactory));
  }
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Where", SelectFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Select", SelectFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SelectV2", SelectFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "OneHot", TfOneHotFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "OneHot", OnnxOneHotFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ReverseSequence", TfReverseSequenceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "ReverseSequence", OnnxReverseSequenceFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
