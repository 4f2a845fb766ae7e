// The reshape family: Reshape, Flatten, Squeeze, Unsqueeze, ExpandDims. Each output aliases its
// input's bytes with new dims (no copy).
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "graph/kernels/array/array_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

absl::StatusOr<int64_t> MulChecked(const Node& node, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) {
    return NodeError(node, "shape element count overflows int64");
  }
  return r;
}

// ---- Reshape family ---------------------------------------------------------------------------

// Resolves a requested shape against `in` (ONNX: 0 copies the input dim unless allow_zero;
// both: one -1 is inferred).
absl::StatusOr<Dims> ResolveReshape(const Node& node, const TensorView& in,
                                    absl::Span<const int64_t> requested, bool zero_copies) {
  Dims out(requested.begin(), requested.end());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && zero_copies) {
      if (i >= in.dims.size()) {
        return NodeError(node, "shape ", DimsString(requested), " copies dim ", i,
                         " (0) but the input ", DescribeTensor(in), " has rank ", in.rank());
      }
      out[i] = in.dims[i];
    }
    if (out[i] == -1) {
      if (infer >= 0) {
        return NodeError(node, "shape ", DimsString(requested),
                         " has more than one -1; at most one dim can be inferred");
      }
      infer = static_cast<int>(i);
      continue;
    }
    if (out[i] < 0) {
      return NodeError(node, "shape ", DimsString(requested), " has dim ", out[i],
                       "; expected >= 0 or -1");
    }
    RANKOPT_ASSIGN_OR_RETURN(known, MulChecked(node, known, out[i]));
  }
  const int64_t n = in.NumElements();
  if (infer >= 0) {
    if (known == 0 || n % known != 0) {
      return NodeError(node, "cannot reshape ", DescribeTensor(in), " (", n, " elements) to ",
                       DimsString(requested), ": the -1 dim is not a whole number");
    }
    out[infer] = n / known;
  } else if (known != n) {
    return NodeError(node, "cannot reshape ", DescribeTensor(in), " (", n, " elements) to ",
                     DimsString(out), " (", known, " elements)");
  }
  return out;
}

Factory ReshapeFactory(const KernelBuildContext& b) {
  const bool onnx = b.format == ModelFormat::kOnnx;
  const bool zero_copies = onnx && AttrInt(*b.node, "allowzero", 0) == 0;
  std::optional<std::vector<int64_t>> attr_shape;
  if (onnx) attr_shape = AttrInts(*b.node, "shape");  // opset < 5
  return MakeKernel([zero_copies, attr_shape](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    Dims requested;
    if (HasInput(*ctx, 1)) {
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "shape", &requested));
    } else if (attr_shape.has_value()) {
      requested.assign(attr_shape->begin(), attr_shape->end());
    } else {
      return NodeError(ctx->node(), "has no shape input");
    }
    RANKOPT_ASSIGN_OR_RETURN(Dims out, ResolveReshape(ctx->node(), *in, requested, zero_copies));
    return ctx->ForwardInput(0, 0, out);
  });
}

Factory FlattenFactory(const KernelBuildContext& b) {
  const int64_t axis = AttrInt(*b.node, "axis", 1);
  return MakeKernel([axis](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t r = in->rank();
    if (axis < -r || axis > r) {
      return NodeError(ctx->node(), "axis ", axis, " is out of range for ", DescribeTensor(*in),
                       "; expected [", -r, ", ", r, "]");
    }
    const size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    const int64_t dims[2] = {Product(in->dims, 0, a), Product(in->dims, a, in->dims.size())};
    return ctx->ForwardInput(0, 0, dims);
  });
}

// Squeeze: `axes` empty removes every dim of size 1.
absl::Status SqueezeCompute(KernelContext* ctx, absl::Span<const int64_t> axes) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
  const int64_t r = in->rank();
  absl::InlinedVector<bool, 8> drop(static_cast<size_t>(r), false);
  for (int64_t axis : axes) {
    RANKOPT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx->node(), axis, r, "squeeze axis"));
    if (in->dims[a] != 1) {
      return NodeError(ctx->node(), "cannot squeeze axis ", axis, " of ", DescribeTensor(*in),
                       ": its size is ", in->dims[a], ", expected 1");
    }
    drop[a] = true;
  }
  Dims out;
  for (int64_t a = 0; a < r; ++a) {
    if (axes.empty() ? in->dims[a] == 1 : drop[a]) continue;
    out.push_back(in->dims[a]);
  }
  return ctx->ForwardInput(0, 0, out);
}

Factory SqueezeFactory(const KernelBuildContext& b) {
  std::optional<std::vector<int64_t>> attr = AttrInts(*b.node, "axes");
  if (!attr) attr = AttrInts(*b.node, "squeeze_dims");
  if (!attr) attr = AttrInts(*b.node, "axis");
  std::vector<int64_t> attr_axes = attr.value_or(std::vector<int64_t>{});
  return MakeKernel([attr_axes](KernelContext* ctx) -> absl::Status {
    if (HasInput(*ctx, 1)) {
      Dims axes;
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "axes", &axes));
      return SqueezeCompute(ctx, axes);
    }
    return SqueezeCompute(ctx, attr_axes);
  });
}

// Inserts size-1 dims at `axes` (positions in the output, negative counted from its end).
absl::Status UnsqueezeCompute(KernelContext* ctx, absl::Span<const int64_t> axes) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
  const int64_t out_rank = in->rank() + static_cast<int64_t>(axes.size());
  absl::InlinedVector<bool, 8> is_new(static_cast<size_t>(out_rank), false);
  for (int64_t axis : axes) {
    RANKOPT_ASSIGN_OR_RETURN(int64_t a,
                             NormalizeAxis(ctx->node(), axis, out_rank, "unsqueeze axis"));
    if (is_new[a]) {
      return NodeError(ctx->node(), "axes ", DimsString(axes), " repeat axis ", a);
    }
    is_new[a] = true;
  }
  Dims out;
  size_t next = 0;
  for (int64_t a = 0; a < out_rank; ++a) {
    out.push_back(is_new[a] ? 1 : in->dims[next++]);
  }
  return ctx->ForwardInput(0, 0, out);
}

Factory UnsqueezeFactory(const KernelBuildContext& b) {
  std::optional<std::vector<int64_t>> attr_axes = AttrInts(*b.node, "axes");
  return MakeKernel([attr_axes](KernelContext* ctx) -> absl::Status {
    if (HasInput(*ctx, 1)) {
      Dims axes;
      RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 1, "axes", &axes));
      return UnsqueezeCompute(ctx, axes);
    }
    if (!attr_axes) {
      return NodeError(ctx->node(), "has neither an axes attribute nor an axes input");
    }
    return UnsqueezeCompute(ctx, *attr_axes);
  });
}

Factory ExpandDimsFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(int64_t dim, ReadIntScalar(*ctx, 1, "dim"));
    const int64_t r = in->rank();
    if (dim < -r - 1 || dim > r) {
      return NodeError(ctx->node(), "dim ", dim, " is out of range for ", DescribeTensor(*in),
                       "; expected [", -r - 1, ", ", r, "]");
    }
    if (dim < 0) dim += r + 1;
    Dims out = in->dims;
    out.insert(out.begin() + dim, 1);
    return ctx->ForwardInput(0, 0, out);
  });
}

}  // namespace

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void ReshapeShape(const Node& n, ShapeContext* ctx, bool onnx) {
  const InferredTensor in = ctx->In(n, 0);
  Shape target = ctx->ShapeFromValue(n, 1);
  const IntValue* tv = ctx->InInt(n, 1);
  if (target.known_rank() && tv != nullptr) {
    // Re-read the raw elements: -1 means "infer", ONNX 0 means "copy the input dim".
    Dims dims;
    int infer_at = -1;
    const bool allow_zero = AttrBool(n, "allowzero", false);
    for (size_t i = 0; i < tv->elems.size(); ++i) {
      int64_t e = tv->elems[i];
      if (e == kUnknownElem) {
        dims.push_back(kUnknownDim);
      } else if (e == -1) {
        if (infer_at >= 0) {
          ctx->Set(n, 0, in.dtype, Shape(Dims(tv->elems.size(), kUnknownDim)));
          return;
        }
        infer_at = static_cast<int>(i);
        dims.push_back(kUnknownDim);
      } else if (e == 0 && onnx && !allow_zero) {
        const bool have = in.shape.known_rank() && static_cast<int>(i) < in.shape.rank();
        dims.push_back(have ? in.shape.dim(static_cast<int>(i)) : kUnknownDim);
      } else {
        dims.push_back(e < 0 ? kUnknownDim : e);
      }
    }
    if (infer_at >= 0) {
      std::optional<int64_t> total = in.shape.NumElements();
      int64_t known = 1;
      bool all_known = true;
      for (size_t i = 0; i < dims.size(); ++i) {
        if (static_cast<int>(i) == infer_at) continue;
        if (dims[i] < 0) {
          all_known = false;
          break;
        }
        known = MulDims(known, dims[i]);
      }
      if (total && all_known && known > 0 && *total % known == 0) dims[infer_at] = *total / known;
    }
    target = Shape(std::move(dims));
  }
  const IntValue* v = ctx->InInt(n, 0);
  if (v != nullptr && target.IsFullyDefined() &&
      target.NumElements() == static_cast<int64_t>(v->elems.size())) {
    ctx->SetInt(n, 0, in.dtype, IntValue{target.dims(), v->elems});
    return;
  }
  ctx->Set(n, 0, in.dtype, target);
}

void SqueezeShape(const Node& n, ShapeContext* ctx, std::optional<Dims> axes) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  std::vector<bool> drop(s.rank(), false);
  if (!axes || axes->empty()) {
    for (int i = 0; i < s.rank(); ++i) {
      if (s.dim(i) == kUnknownDim) {
        ctx->Set(n, 0, in.dtype, Shape());  // cannot tell whether it is 1
        return;
      }
      drop[i] = s.dim(i) == 1;
    }
  } else {
    for (int64_t a : *axes) {
      std::optional<int> ax = NormalizeAxis(a, s.rank());
      if (!ax || (s.dim(*ax) != 1 && s.dim(*ax) != kUnknownDim)) {
        ctx->Set(n, 0, in.dtype, Shape());
        return;
      }
      drop[*ax] = true;
    }
  }
  Dims out;
  for (int i = 0; i < s.rank(); ++i) {
    if (!drop[i]) out.push_back(s.dim(i));
  }
  if (const IntValue* v = ctx->InInt(n, 0)) {
    ctx->SetInt(n, 0, in.dtype, IntValue{out, v->elems});
    return;
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

void UnsqueezeShape(const Node& n, ShapeContext* ctx, std::optional<Dims> axes) {
  const InferredTensor in = ctx->In(n, 0);
  if (!in.shape.known_rank() || !axes || axes->size() > static_cast<size_t>(kMaxRank)) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  const int64_t out_rank = in.shape.rank() + static_cast<int64_t>(axes->size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : *axes) {
    std::optional<int> ax = NormalizeAxis(a, out_rank);
    if (!ax || inserted[*ax]) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
    inserted[*ax] = true;
  }
  Dims out;
  int src = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? 1 : in.shape.dim(src++));
  if (const IntValue* v = ctx->InInt(n, 0)) {
    ctx->SetInt(n, 0, in.dtype, IntValue{out, v->elems});
    return;
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

void FlattenShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  int64_t axis = AttrInt(n, "axis").value_or(1);
  if (!s.known_rank() || axis < -s.rank() || axis > s.rank()) {
    ctx->Set(n, 0, in.dtype, Shape({kUnknownDim, kUnknownDim}));
    return;
  }
  if (axis < 0) axis += s.rank();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < axis) {
      outer = MulDims(outer, s.dim(i));
    } else {
      inner = MulDims(inner, s.dim(i));
    }
  }
  ctx->Set(n, 0, in.dtype, Shape({outer, inner}));
}

void ReshapeOpShape(const Node& n, ShapeContext* ctx) { ReshapeShape(n, ctx, IsOnnxNode(n)); }

// Axes from squeeze_dims (TF), axis or axes (ONNX < 13) attributes, or the axes input.
void SqueezeOpShape(const Node& n, ShapeContext* ctx) {
  std::optional<Dims> axes;
  if (n.attrs.Find("squeeze_dims") != nullptr) {
    axes = AttrInts(n, "squeeze_dims");
  } else if (n.attrs.Find("axis") != nullptr) {
    axes = AttrInts(n, "axis");
  } else if (n.attrs.Find("axes") != nullptr) {
    axes = AttrInts(n, "axes");
  } else if (ctx->HasInput(n, 1)) {
    axes = ctx->InInts(n, 1);
    if (!axes) {
      ctx->Set(n, 0, ctx->In(n, 0).dtype, Shape());
      return;
    }
  }
  SqueezeShape(n, ctx, axes);
}

void UnsqueezeOpShape(const Node& n, ShapeContext* ctx) {
  UnsqueezeShape(n, ctx, ctx->AttrOrInput(n, "axes", 1));
}

void ExpandDimsShape(const Node& n, ShapeContext* ctx) {
  std::optional<Dims> axis = ctx->InInts(n, 1);
  UnsqueezeShape(n, ctx, axis && axis->size() == 1 ? axis : std::nullopt);
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterReshapeKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Reshape", {shape_fn::ReshapeOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Flatten", {shape_fn::FlattenShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Squeeze", {shape_fn::SqueezeOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Unsqueeze", {shape_fn::UnsqueezeOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ExpandDims", {shape_fn::ExpandDimsShape, flops::DataMovement}));
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Reshape", ReshapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Reshape", ReshapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Flatten", FlattenFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Squeeze", SqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Squeeze", SqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Unsqueeze", UnsqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ExpandDims", ExpandDimsFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
