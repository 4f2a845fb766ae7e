// Shape-only and value-creating ops: Identity and friends, Reshape, Flatten, Squeeze, Unsqueeze,
// ExpandDims, Shape/ShapeN/Size/Rank, Cast, Constant, ConstantOfShape, Fill, Range, NoOp.
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "graph/kernels/array/array_util.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

// Outputs larger than this many elements from a data-dependent size (Range) are refused.
constexpr int64_t kMaxGeneratedElements = int64_t{1} << 31;

absl::StatusOr<int64_t> MulChecked(const Node& node, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) {
    return NodeError(node, "shape element count overflows int64");
  }
  return r;
}

// Writes `values` as a 1-D (or scalar when `scalar`) tensor of integer `dtype` into output `o`.
absl::Status WriteInts(KernelContext* ctx, int o, DType dtype, absl::Span<const int64_t> values,
                       bool scalar) {
  Dims dims;
  if (!scalar) dims.push_back(static_cast<int64_t>(values.size()));
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(o, dtype, dims));
  if (dtype == DType::kInt64) {
    for (size_t i = 0; i < values.size(); ++i) out.data_as<int64_t>()[i] = values[i];
    return absl::OkStatus();
  }
  if (dtype != DType::kInt32) {
    return NodeError(ctx->node(), "out_type ", DTypeName(dtype), " is not int32 or int64");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > std::numeric_limits<int32_t>::max()) {
      return NodeError(ctx->node(), "value ", values[i], " does not fit out_type int32");
    }
    out.data_as<int32_t>()[i] = static_cast<int32_t>(values[i]);
  }
  return absl::OkStatus();
}

// ---- Forwarding ops --------------------------------------------------------------------------

// Output i aliases input i for every input (Identity: one; IdentityN: all).
Factory ForwardAll(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, -1));
    for (int i = 0; i < ctx->num_inputs(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, i));
      RANKOPT_RETURN_IF_ERROR(ctx->ForwardInput(i, i, in->dims));
    }
    return absl::OkStatus();
  });
}

// Output 0 aliases input 0; other inputs are ignored (PlaceholderWithDefault has one anyway).
Factory ForwardFirst(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    return ctx->ForwardInput(0, 0, in->dims);
  });
}

// TF CheckNumerics: forwards its input, or fails naming `message` on NaN or Inf.
Factory CheckNumericsFactory(const KernelBuildContext& b) {
  std::string message;
  if (const auto* m = b.node->attrs.Get<std::string>("message")) message = *m;
  return MakeKernel([message](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    if (IsFloatDType(in->dtype)) {
      const int64_t n = in->NumElements();
      for (int64_t i = 0; i < n; ++i) {
        const double v = ValueAt<double>(*in, i);
        if (!std::isfinite(v)) {
          return NodeError(ctx->node(), message, " : Tensor had ", std::isnan(v) ? "NaN" : "Inf",
                           " values (element ", i, ")");
        }
      }
    }
    return ctx->ForwardInput(0, 0, in->dims);
  });
}

Factory NoOpFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext*) { return absl::OkStatus(); });
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

// ---- Shape, Size, Rank -------------------------------------------------------------------------

Factory ShapeFactory(const KernelBuildContext& b) {
  const bool onnx = b.format == ModelFormat::kOnnx;
  const DType out_type =
      onnx ? DType::kInt64 : AttrDType(*b.node, "out_type").value_or(DType::kInt32);
  const std::optional<int64_t> start = onnx && b.node->attrs.Find("start")
                                           ? std::optional<int64_t>(AttrInt(*b.node, "start", 0))
                                           : std::nullopt;
  const std::optional<int64_t> end = onnx && b.node->attrs.Find("end")
                                         ? std::optional<int64_t>(AttrInt(*b.node, "end", 0))
                                         : std::nullopt;
  return MakeKernel([out_type, start, end](KernelContext* ctx) -> absl::Status {
    // TF ShapeN: one output per input; Shape has one input.
    for (int i = 0; i < ctx->num_inputs(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, i));
      const int64_t r = in->rank();
      auto clamp = [r](int64_t v) { return std::min(std::max(v < 0 ? v + r : v, int64_t{0}), r); };
      const int64_t s = start ? clamp(*start) : 0;
      const int64_t e = end ? clamp(*end) : r;
      Dims values;
      for (int64_t a = s; a < e; ++a) values.push_back(in->dims[a]);
      RANKOPT_RETURN_IF_ERROR(WriteInts(ctx, i, out_type, values, /*scalar=*/false));
    }
    return ctx->num_inputs() > 0 ? absl::OkStatus() : CheckNumInputs(*ctx, 1, -1);
  });
}

Factory SizeFactory(const KernelBuildContext& b) {
  const DType out_type = b.format == ModelFormat::kOnnx
                             ? DType::kInt64
                             : AttrDType(*b.node, "out_type").value_or(DType::kInt32);
  return MakeKernel([out_type](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t n = in->NumElements();
    return WriteInts(ctx, 0, out_type, absl::MakeConstSpan(&n, 1), /*scalar=*/true);
  });
}

Factory RankFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t r = in->rank();
    return WriteInts(ctx, 0, DType::kInt32, absl::MakeConstSpan(&r, 1), /*scalar=*/true);
  });
}

// ---- Cast -------------------------------------------------------------------------------------

absl::Status CastCompute(KernelContext* ctx, DType to) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
  if (in->dtype == to) return ctx->ForwardInput(0, 0, in->dims);
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, to, in->dims));
  const int64_t n = in->NumElements();
  const auto unsupported = [&] {
    return NodeError(ctx->node(), "cannot cast ", DescribeTensor(*in), " to ", DTypeName(to));
  };
  return VisitAll(
      in->dtype,
      [&]<typename S>() {
        return VisitAll(
            to,
            [&]<typename D>() {
              const char* src = static_cast<const char*>(in->data);
              char* dst = static_cast<char*>(out.data);
              for (int64_t i = 0; i < n; ++i) {
                S s;
                std::memcpy(&s, src + i * sizeof(S), sizeof(S));
                const D d = ConvertValue<D>(s);
                std::memcpy(dst + i * sizeof(D), &d, sizeof(D));
              }
              return absl::OkStatus();
            },
            unsupported);
      },
      unsupported);
}

Factory CastFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  std::optional<DType> to;
  if (b.format == ModelFormat::kOnnx) {
    if (const int64_t* v = node.attrs.Get<int64_t>("to")) {
      const DType dtype = DTypeFromOnnxEnum(*v);
      if (IsFixedWidth(dtype)) to = dtype;
      if (!to) {
        return NodeError(node, "attribute 'to' = ", *v,
                         " is not a numeric ONNX type (1 float, 6 int32, 7 int64, 9 bool, 11 "
                         "double, ...)");
      }
    } else {
      to = AttrDType(node, "to");
    }
    if (!to) return NodeError(node, "has no 'to' attribute");
  } else {
    to = AttrDType(node, "DstT");
    if (!to) return NodeError(node, "has no 'DstT' attribute");
  }
  if (!IsFixedWidth(*to)) {
    return NodeError(node, "cast to ", DTypeName(*to),
                     " is not supported; expected a numeric or "
                     "bool type");
  }
  const DType dst = *to;
  return MakeKernel([dst](KernelContext* ctx) { return CastCompute(ctx, dst); });
}

// ONNX CastLike: the dtype of input 1.
Factory CastLikeFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* like, RequiredInput(*ctx, 1));
    return CastCompute(ctx, like->dtype);
  });
}

// ---- Constants and fills ----------------------------------------------------------------------

absl::Status CopyTensorToOutput(KernelContext* ctx, const Tensor& t) {
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, t.dtype(), t.dims()));
  if (!t.bytes().empty()) std::memcpy(out.data, t.bytes().data(), t.bytes().size());
  return absl::OkStatus();
}

Factory ConstantFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  absl::StatusOr<Tensor> value = absl::NotFoundError("");
  if (const Tensor* t = node.attrs.Get<Tensor>("value")) {
    value = *t;
  } else if (const float* f = node.attrs.Get<float>("value_float")) {
    value = Tensor::FromValues<float>({}, absl::MakeConstSpan(f, 1));
  } else if (const int64_t* i = node.attrs.Get<int64_t>("value_int")) {
    value = Tensor::FromValues<int64_t>({}, absl::MakeConstSpan(i, 1));
  } else if (const auto* fs = node.attrs.Get<std::vector<float>>("value_floats")) {
    value = Tensor::FromValues<float>({static_cast<int64_t>(fs->size())}, *fs);
  } else if (const auto* is = node.attrs.Get<std::vector<int64_t>>("value_ints")) {
    value = Tensor::FromValues<int64_t>({static_cast<int64_t>(is->size())}, *is);
  } else {
    return NodeError(node, "has no value attribute (value, value_float(s), value_int(s))");
  }
  if (!value.ok()) return NodeError(node, value.status().message());
  if (!IsFixedWidth(value->dtype())) {
    return NodeError(node, "constant of type ", DTypeName(value->dtype()),
                     " is not supported; expected a numeric or bool tensor");
  }
  Tensor t = *std::move(value);
  return MakeKernel([t](KernelContext* ctx) { return CopyTensorToOutput(ctx, t); });
}

// Fills output 0 (dims, dtype of `value`) with the one element of `value`.
absl::Status FillOutput(KernelContext* ctx, absl::Span<const int64_t> dims, DType dtype,
                        const char* value) {
  for (int64_t d : dims) {
    if (d < 0) {
      return NodeError(ctx->node(), "shape ", DimsString(dims), " has a negative dim");
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, dtype, dims));
  const size_t esize = DTypeSize(dtype);
  const int64_t n = out.NumElements();
  char* dst = static_cast<char*>(out.data);
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * esize, value, esize);
  return absl::OkStatus();
}

Factory ConstantOfShapeFactory(const KernelBuildContext& b) {
  Tensor value;
  if (const Tensor* t = b.node->attrs.Get<Tensor>("value")) {
    if (t->num_elements() != 1 || !IsFixedWidth(t->dtype())) {
      return NodeError(*b.node, "value attribute has ", t->num_elements(), " ",
                       DTypeName(t->dtype()), " elements; expected one numeric element");
    }
    value = *t;
  } else {
    const float zero = 0.0f;
    RANKOPT_ASSIGN_OR_RETURN(value, Tensor::FromValues<float>({1}, absl::MakeConstSpan(&zero, 1)));
  }
  return MakeKernel([value](KernelContext* ctx) -> absl::Status {
    Dims dims;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 0, "shape", &dims));
    return FillOutput(ctx, dims, value.dtype(), value.bytes().data());
  });
}

// TF Fill(dims, value).
Factory FillFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    Dims dims;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 0, "dims", &dims));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* value, RequiredInput(*ctx, 1));
    if (value->NumElements() != 1 || value->rank() != 0) {
      return NodeError(ctx->node(), "value is ", DescribeTensor(*value), "; expected a scalar");
    }
    return FillOutput(ctx, dims, value->dtype, static_cast<const char*>(value->data));
  });
}

// ---- Range ------------------------------------------------------------------------------------

// TF accumulates (v += delta) and errors when the sign of delta points away from limit; ONNX
// computes start + i * delta and yields an empty tensor then.
template <typename T>
absl::Status RangeTyped(KernelContext* ctx, const TensorView& s, const TensorView& l,
                        const TensorView& d, bool tf) {
  const T start = ValueAt<T>(s, 0), limit = ValueAt<T>(l, 0), delta = ValueAt<T>(d, 0);
  const Node& node = ctx->node();
  if (delta == T(0)) return NodeError(node, "delta must not be 0");
  int64_t n = 0;
  if constexpr (std::is_floating_point_v<T>) {
    const double count = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                                   static_cast<double>(delta));
    if (!std::isfinite(count)) {
      return NodeError(node, "start, limit and delta must be finite");
    }
    if (tf && count < 0) {
      return NodeError(node, "start ", start, " and limit ", limit,
                       " are in the wrong order for delta ", delta);
    }
    if (count > static_cast<double>(kMaxGeneratedElements)) {
      return NodeError(node, "range has ", count, " elements; at most ", kMaxGeneratedElements,
                       " are supported");
    }
    n = count > 0 ? static_cast<int64_t>(count) : 0;
  } else {
    const __int128 span = static_cast<__int128>(limit) - static_cast<__int128>(start);
    const __int128 step = static_cast<__int128>(delta);
    if (tf && ((step > 0 && span < 0) || (step < 0 && span > 0))) {
      return NodeError(node, "start ", static_cast<int64_t>(start), " and limit ",
                       static_cast<int64_t>(limit), " are in the wrong order for delta ",
                       static_cast<int64_t>(delta));
    }
    __int128 count = 0;
    if ((span > 0 && step > 0) || (span < 0 && step < 0)) {
      const __int128 a = span < 0 ? -span : span, b = step < 0 ? -step : step;
      count = (a + b - 1) / b;
    }
    if (count > kMaxGeneratedElements) {
      return NodeError(node, "range has more than ", kMaxGeneratedElements,
                       " elements, the most supported");
    }
    n = static_cast<int64_t>(count);
  }
  const int64_t dims[1] = {n};
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, s.dtype, dims));
  T* dst = out.data_as<T>();
  if constexpr (std::is_floating_point_v<T>) {
    if (tf) {
      T v = start;
      for (int64_t i = 0; i < n; ++i) {
        dst[i] = v;
        v += delta;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] = start + static_cast<T>(i) * delta;
    }
  } else {
    // Exact in 128 bits and inside [start, limit), so the same for TF and ONNX.
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = static_cast<T>(static_cast<__int128>(start) + static_cast<__int128>(i) * delta);
    }
  }
  return absl::OkStatus();
}

Factory RangeFactory(const KernelBuildContext& b) {
  const bool tf = b.format != ModelFormat::kOnnx;
  return MakeKernel([tf](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    const TensorView* in[3];
    for (int i = 0; i < 3; ++i) {
      RANKOPT_ASSIGN_OR_RETURN(in[i], RequiredInput(*ctx, i));
      if (in[i]->NumElements() != 1 || in[i]->dtype != in[0]->dtype) {
        return NodeError(ctx->node(), "input ", i, " is ", DescribeTensor(*in[i]),
                         "; expected start, limit and delta scalars of one type");
      }
    }
    const TensorView &s = *in[0], &l = *in[1], &d = *in[2];
    switch (s.dtype) {
      case DType::kFloat32:
        return RangeTyped<float>(ctx, s, l, d, tf);
      case DType::kFloat64:
        return RangeTyped<double>(ctx, s, l, d, tf);
      case DType::kInt16:
        return RangeTyped<int16_t>(ctx, s, l, d, tf);
      case DType::kInt32:
        return RangeTyped<int32_t>(ctx, s, l, d, tf);
      case DType::kInt64:
        return RangeTyped<int64_t>(ctx, s, l, d, tf);
      default:
        return NodeError(ctx->node(), "range of ", DTypeName(s.dtype),
                         " is not supported; expected float, double, int16, int32 or int64");
    }
  });
}

}  // namespace

absl::Status RegisterShapeKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  for (const char* op : {"Identity", "IdentityN"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, ForwardAll));
  }
  for (const char* op :
       {"StopGradient", "PreventGradient", "Snapshot", "PlaceholderWithDefault", "EnsureShape"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, ForwardFirst));
  }
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Identity", ForwardFirst));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "CheckNumerics", CheckNumericsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "NoOp", NoOpFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Reshape", ReshapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Reshape", ReshapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Flatten", FlattenFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Squeeze", SqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Squeeze", SqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Unsqueeze", UnsqueezeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ExpandDims", ExpandDimsFactory));
  for (const char* op : {"Shape", "ShapeN"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, ShapeFactory));
  }
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Shape", ShapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Size", SizeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Size", SizeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Rank", RankFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Cast", CastFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Cast", CastFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "CastLike", CastLikeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Constant", ConstantFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "ConstantOfShape", ConstantOfShapeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Fill", FillFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Range", RangeFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Range", RangeFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
