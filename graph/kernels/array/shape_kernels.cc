// Shape-only and value-creating ops: Identity and friends, Shape/ShapeN/Size/Rank, Cast, Constant,
// ConstantOfShape, Fill, Range, NoOp.
#include <cmath>
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

// Outputs larger than this many elements from a data-dependent size (Range) are refused.
constexpr int64_t kMaxGeneratedElements = int64_t{1} << 31;

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

// ONNX Dropout at inference: output 0 is the input, the optional mask (output 1) all true.
// training_mode (input 2), when given, must be false: rankopt runs the model as trained.
Factory DropoutFactory(const KernelBuildContext& b) {
  const bool mask = b.node->output_names.size() > 1 && !b.node->output_names[1].empty();
  return MakeKernel([mask](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    if (HasInput(*ctx, 2)) {
      const TensorView& training = ctx->input(2);
      if (training.dtype != DType::kBool || training.NumElements() != 1) {
        return NodeError(ctx->node(), "training_mode is ", DescribeTensor(training),
                         "; expected a bool scalar");
      }
      if (static_cast<const uint8_t*>(training.data)[0] != 0) {
        return NodeError(ctx->node(),
                         "training_mode is true; rankopt runs inference (export the model in "
                         "eval mode)");
      }
    }
    RANKOPT_RETURN_IF_ERROR(ctx->ForwardInput(0, 0, in->dims));
    if (mask) {
      RANKOPT_ASSIGN_OR_RETURN(TensorView m, ctx->AllocateOutput(1, DType::kBool, in->dims));
      std::memset(m.data, 1, m.ByteSize());
    }
    return absl::OkStatus();
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
  const size_t esize = ExecElementSize(dtype);
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

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void ShapeOfShape(const Node& n, ShapeContext* ctx, DType out_type) {
  const Shape s = ctx->In(n, 0).shape;
  if (!s.known_rank()) {
    ctx->Set(n, 0, out_type, Shape({kUnknownDim}));
    return;
  }
  // ONNX Shape-15 start/end select a range of dims (clamped, negative counts from the end).
  int64_t r = s.rank();
  int64_t start = AttrInt(n, "start").value_or(0);
  int64_t end = AttrInt(n, "end").value_or(r);
  if (start < 0) start = std::max<int64_t>(start + r, 0);
  if (end < 0) end = std::max<int64_t>(end + r, 0);
  start = std::min(start, r);
  end = std::min(end, r);
  IntValue v{{0}, {}};
  for (int64_t i = start; i < end; ++i) {
    const int64_t d = s.dim(static_cast<int>(i));
    v.elems.push_back(d < 0 ? kUnknownElem : d);
  }
  v.dims[0] = static_cast<int64_t>(v.elems.size());
  ctx->SetInt(n, 0, out_type, std::move(v));
}

// Range(start, limit, delta) (TF and ONNX): ceil((limit - start) / delta) elements, or none.
void RangeShape(const Node& n, ShapeContext* ctx) {
  DType dtype = ctx->In(n, 0).dtype;
  if (dtype == DType::kInvalid) dtype = AttrDType(n, "Tidx");
  const std::optional<Dims> start = ctx->InInts(n, 0), limit = ctx->InInts(n, 1),
                            delta = ctx->InInts(n, 2);
  if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 ||
      delta->size() != 1 || (*delta)[0] == 0) {
    ctx->Set(n, 0, dtype, Shape({kUnknownDim}));
    return;
  }
  const int64_t s = (*start)[0], d = (*delta)[0];
  const std::optional<int64_t> diff = CheckedSub((*limit)[0], s);
  if (!diff) {
    ctx->Set(n, 0, dtype, Shape({kUnknownDim}));
    return;
  }
  // Same signs: truncating division rounds toward zero, so add one for a remainder.
  const int64_t count = (*diff != 0 && (*diff > 0) == (d > 0)) ? *diff / d + (*diff % d != 0) : 0;
  if (count <= kMaxInferredValueElements && IsIntType(dtype)) {
    IntValue v{{count}, {}};
    for (int64_t i = 0; i < count; ++i) v.elems.push_back(s + i * d);
    ctx->SetInt(n, 0, dtype, std::move(v));
    return;
  }
  ctx->Set(n, 0, dtype, Shape({count}));
}

void IdentityNShape(const Node& n, ShapeContext* ctx) {
  for (size_t i = 0; i < n.inputs.size(); ++i) ctx->PassThrough(n, static_cast<int>(i), i);
}

void ForwardShape(const Node& n, ShapeContext* ctx) { ctx->PassThrough(n, 0, 0); }

// The input merged with the asserted shape.
void EnsureShapeShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape* s = n.attrs.Get<Shape>("shape");
  std::optional<Shape> m = s ? MergeShapes(in.shape, Sanitize(*s)) : in.shape;
  ctx->Set(n, 0, in.dtype, m.value_or(Shape()));
}

void CastShape(const Node& n, ShapeContext* ctx) {
  DType to =
      IsOnnxNode(n) || n.attrs.Find("to") != nullptr ? AttrDType(n, "to") : AttrDType(n, "DstT");
  const IntValue* v = ctx->InInt(n, 0);
  if (v != nullptr && IsIntType(to)) {
    ctx->SetInt(n, 0, to, *v);
  } else {
    ctx->Set(n, 0, to, ctx->In(n, 0).shape);
  }
}

void ShapeOpShape(const Node& n, ShapeContext* ctx) {
  DType out = IsOnnxNode(n) ? DType::kInt64 : AttrDType(n, "out_type");
  ShapeOfShape(n, ctx, out == DType::kInvalid ? DType::kInt32 : out);
}

// Size and Rank: scalars, with their values when the input shape tells them.
void SizeRankShape(const Node& n, ShapeContext* ctx) {
  DType out = IsOnnxNode(n) ? DType::kInt64 : AttrDType(n, "out_type");
  if (out == DType::kInvalid) out = DType::kInt32;
  const Shape s = ctx->In(n, 0).shape;
  std::optional<int64_t> value;
  if (n.op == "Size") value = s.NumElements();
  if (n.op == "Rank" && s.known_rank()) value = s.rank();
  if (value) {
    ctx->SetInt(n, 0, out, IntValue{{}, {*value}});
  } else {
    ctx->Set(n, 0, out, Shape::Scalar());
  }
}

void FillShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, ctx->In(n, 1).dtype, ctx->ShapeFromValue(n, 0));
}

void ConstantOfShapeShape(const Node& n, ShapeContext* ctx) {
  const Tensor* t = n.attrs.Get<Tensor>("value");
  ctx->Set(n, 0, t ? t->dtype() : DType::kFloat32, ctx->ShapeFromValue(n, 0));
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterShapeKernels(KernelRegistry* r) {
  for (const char* op :
       {"Identity", "StopGradient", "CheckNumerics", "Snapshot", "PreventGradient", "Dropout"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::ForwardShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("IdentityN", {shape_fn::IdentityNShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("EnsureShape", {shape_fn::EnsureShapeShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Cast", {shape_fn::CastShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Shape", {shape_fn::ShapeOpShape, flops::DataMovement}));
  for (const char* op : {"Size", "Rank"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::SizeRankShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Fill", {shape_fn::FillShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ConstantOfShape", {shape_fn::ConstantOfShapeShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Range", {shape_fn::RangeShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("NoOp", {nullptr, flops::DataMovement}));
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
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Dropout", DropoutFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "CheckNumerics", CheckNumericsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "NoOp", NoOpFactory));
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
