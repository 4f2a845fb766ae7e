// Slice (TF and ONNX) and StridedSlice: strided byte copies of a region, every fixed-width
// dtype.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "graph/kernels/array/array_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

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
  CopyByAxisMaps(maps, Bytes(in), MutableBytes(out), ExecElementSize(in.dtype), nullptr);
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

}  // namespace

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// One axis of a numpy-style slice over a known dim: the selected indices' count and first index.
// nullopt when the step is zero or unusable.
struct SliceRange {
  int64_t start;
  int64_t step;
  int64_t length;
};
std::optional<SliceRange> SliceAxis(int64_t dim, int64_t begin, int64_t end, int64_t step,
                                    bool begin_all, bool end_all) {
  if (step == 0 || step == std::numeric_limits<int64_t>::min() || dim < 0) return std::nullopt;
  int64_t start, stop;
  if (step > 0) {
    start = begin_all ? 0 : (begin < 0 ? std::max<int64_t>(begin + dim, 0) : std::min(begin, dim));
    stop = end_all ? dim : (end < 0 ? std::max<int64_t>(end + dim, 0) : std::min(end, dim));
    const int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;
    return SliceRange{start, step, len};
  }
  start = begin_all ? dim - 1
                    : (begin < 0 ? std::max<int64_t>(begin + dim, -1) : std::min(begin, dim - 1));
  stop = end_all ? -1 : (end < 0 ? std::max<int64_t>(end + dim, -1) : std::min(end, dim - 1));
  const int64_t len = start > stop ? (start - stop - 1) / (-step) + 1 : 0;
  return SliceRange{start, step, len};
}

void StridedSliceShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  std::optional<Dims> begin = ctx->InInts(n, 1), end = ctx->InInts(n, 2),
                      strides = ctx->InInts(n, 3);
  const int64_t begin_mask = AttrInt(n, "begin_mask").value_or(0);
  const int64_t end_mask = AttrInt(n, "end_mask").value_or(0);
  const int64_t shrink = AttrInt(n, "shrink_axis_mask").value_or(0);
  const int64_t ellipsis = AttrInt(n, "ellipsis_mask").value_or(0);
  const int64_t new_axis = AttrInt(n, "new_axis_mask").value_or(0);
  if (!s.known_rank() || !begin || !end || !strides || ellipsis != 0 || new_axis != 0 ||
      begin->size() != end->size() || begin->size() != strides->size() ||
      static_cast<int>(begin->size()) > s.rank() || begin->size() > 63) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  for (int64_t step : *strides) {
    if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
  }
  Dims out;
  std::optional<SliceRange> first_axis;
  for (int i = 0; i < s.rank(); ++i) {
    if (i >= static_cast<int>(begin->size())) {
      out.push_back(s.dim(i));
      continue;
    }
    const bool shrink_i = (shrink >> i) & 1;
    const int64_t d = s.dim(i);
    if (shrink_i) {
      const int64_t b = (*begin)[i];
      if (d >= 0 && (b < -d || b >= d)) {
        ctx->Set(n, 0, in.dtype, Shape());
        return;
      }
      if (i == 0 && d >= 0) first_axis = SliceRange{b < 0 ? b + d : b, 1, 1};
      continue;
    }
    std::optional<SliceRange> r = SliceAxis(d, (*begin)[i], (*end)[i], (*strides)[i],
                                            (begin_mask >> i) & 1, (end_mask >> i) & 1);
    if (d >= 0 && !r) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
    if (i == 0) first_axis = r;
    out.push_back(r ? r->length : kUnknownDim);
  }
  const IntValue* v = ctx->InInt(n, 0);
  if (v != nullptr && v->dims.size() == 1 && first_axis) {
    IntValue result{out, {}};
    for (int64_t k = 0; k < first_axis->length; ++k) {
      result.elems.push_back(v->elems[first_axis->start + k * first_axis->step]);
    }
    ctx->SetInt(n, 0, in.dtype, std::move(result));
    return;
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

void SliceShape(const Node& n, ShapeContext* ctx, std::optional<Dims> starts,
                std::optional<Dims> ends, std::optional<Dims> axes, std::optional<Dims> steps,
                bool size_form) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank() || !starts || !ends || starts->size() != ends->size()) {
    ctx->Set(n, 0, in.dtype, s.known_rank() ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  const size_t k = starts->size();
  if (!axes) {
    axes = Dims();
    for (size_t i = 0; i < k; ++i) axes->push_back(static_cast<int64_t>(i));
  }
  if (!steps) steps = Dims(k, 1);
  if (axes->size() != k || steps->size() != k) {
    ctx->Set(n, 0, in.dtype, Shape(Dims(s.rank(), kUnknownDim)));
    return;
  }
  for (int64_t step : *steps) {
    if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
  }
  Dims out = s.dims();
  std::optional<SliceRange> first_axis = SliceRange{0, 1, s.rank() > 0 ? s.dim(0) : 0};
  for (size_t i = 0; i < k; ++i) {
    std::optional<int> ax = NormalizeAxis((*axes)[i], s.rank());
    if (!ax) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
    const int64_t d = s.dim(*ax);
    std::optional<SliceRange> r;
    if (size_form) {  // TF Slice(begin, size): size -1 = to the end.
      const int64_t b = (*starts)[i], z = (*ends)[i];
      if (d >= 0 && b >= 0 && b <= d && (z == -1 || (z >= 0 && z <= d - b))) {
        r = SliceRange{b, 1, z == -1 ? d - b : z};
      }
    } else {
      r = SliceAxis(d, (*starts)[i], (*ends)[i], (*steps)[i], false, false);
    }
    out[*ax] = r ? r->length : kUnknownDim;
    if (*ax == 0) first_axis = r;
  }
  const IntValue* v = ctx->InInt(n, 0);
  if (v != nullptr && v->dims.size() == 1 && first_axis && first_axis->length >= 0) {
    IntValue result{out, {}};
    for (int64_t j = 0; j < first_axis->length; ++j) {
      result.elems.push_back(v->elems[first_axis->start + j * first_axis->step]);
    }
    ctx->SetInt(n, 0, in.dtype, std::move(result));
    return;
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

// ONNX Slice (starts/ends/axes/steps: attributes before opset 10, inputs after) and TF
// Slice(input, begin, size).
void SliceOpShape(const Node& n, ShapeContext* ctx) {
  if (!IsOnnxNode(n)) {
    SliceShape(n, ctx, ctx->InInts(n, 1), ctx->InInts(n, 2), std::nullopt, std::nullopt, true);
  } else if (n.attrs.Find("starts") != nullptr) {  // opset < 10
    SliceShape(n, ctx, AttrInts(n, "starts"), AttrInts(n, "ends"),
               n.attrs.Find("axes") ? AttrInts(n, "axes") : std::nullopt, std::nullopt, false);
  } else {
    SliceShape(n, ctx, ctx->InInts(n, 1), ctx->InInts(n, 2),
               ctx->HasInput(n, 3) ? ctx->InInts(n, 3) : std::nullopt,
               ctx->HasInput(n, 4) ? ctx->InInts(n, 4) : std::nullopt, false);
    if (ctx->HasInput(n, 3) && !ctx->InInts(n, 3)) ctx->Set(n, 0, ctx->In(n, 0).dtype, Shape());
  }
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterSliceKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("StridedSlice", {shape_fn::StridedSliceShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Slice", {shape_fn::SliceOpShape, flops::DataMovement}));
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Slice", TfSliceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Slice", OnnxSliceFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "StridedSlice", StridedSliceFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
