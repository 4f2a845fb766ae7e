// Joining and splitting along an axis: Concat/ConcatV2, Pack/Unpack, Split/SplitV. Byte copies,
// so every fixed-width dtype works.
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
  const int64_t inner =
      Product(ref->dims, axis + 1, ref->dims.size()) * ExecElementSize(ref->dtype);
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
    const int64_t chunk = Product(ref->dims, axis, ref->dims.size()) * ExecElementSize(ref->dtype);
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
    const int64_t chunk = Product(in->dims, axis + 1, in->dims.size()) * ExecElementSize(in->dtype);
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
  const int64_t inner = Product(in->dims, axis + 1, in->dims.size()) * ExecElementSize(in->dtype);
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

}  // namespace

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void ConcatShape(const Node& n, ShapeContext* ctx, size_t first, size_t count,
                 std::optional<int64_t> axis) {
  DType dtype = DType::kInvalid;
  int rank = -1;
  for (size_t i = first; i < first + count; ++i) {
    if (dtype == DType::kInvalid) dtype = ctx->In(n, i).dtype;
    const Shape s = ctx->In(n, i).shape;
    if (!s.known_rank()) continue;
    if (rank >= 0 && rank != s.rank()) {
      ctx->Set(n, 0, dtype, Shape());
      return;
    }
    rank = s.rank();
  }
  std::optional<int> ax = axis ? NormalizeAxis(*axis, rank) : std::nullopt;
  if (rank < 0 || (axis && !ax) || count == 0) {  // an out-of-range axis: an invalid graph
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  if (!ax) {  // the axis is computed at run time: only the rank is known
    ctx->Set(n, 0, dtype, Shape(Dims(rank, kUnknownDim)));
    return;
  }
  Dims out(rank, kUnknownDim);
  int64_t along = 0;
  for (size_t i = first; i < first + count; ++i) {
    const Shape s = ctx->In(n, i).shape;
    if (!s.known_rank()) {
      along = kUnknownDim;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == *ax) continue;
      if (out[d] == kUnknownDim) out[d] = s.dim(d);
    }
    along = AddDims(along, s.dim(*ax));
  }
  out[*ax] = along;
  // Values: rank-1 integer vectors (shape arithmetic).
  if (rank == 1 && IsIntType(dtype)) {
    IntValue v{{0}, {}};
    for (size_t i = first; i < first + count; ++i) {
      const IntValue* part = ctx->InInt(n, i);
      if (part == nullptr || part->dims.size() != 1) {
        ctx->Set(n, 0, dtype, Shape(out));
        return;
      }
      v.elems.insert(v.elems.end(), part->elems.begin(), part->elems.end());
    }
    v.dims[0] = static_cast<int64_t>(v.elems.size());
    if (v.dims[0] <= kMaxInferredValueElements) {
      ctx->SetInt(n, 0, dtype, std::move(v));
      return;
    }
  }
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

void SplitShape(const Node& n, ShapeContext* ctx, size_t value_input, std::optional<int64_t> axis,
                std::optional<Dims> sizes, int num_outputs, bool allow_uneven) {
  const InferredTensor in = ctx->In(n, value_input);
  if (num_outputs <= 0 || num_outputs > (1 << 16)) return;
  auto all_unknown = [&](Shape shape) {
    for (int p = 0; p < num_outputs; ++p) ctx->Set(n, p, in.dtype, shape);
  };
  const Shape& s = in.shape;
  std::optional<int> ax = (axis && s.known_rank()) ? NormalizeAxis(*axis, s.rank()) : std::nullopt;
  if (!ax) {
    all_unknown(s.known_rank() ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  const int64_t dim = s.dim(*ax);
  Dims parts(num_outputs, kUnknownDim);
  if (sizes) {
    if (static_cast<int>(sizes->size()) == num_outputs) {
      int infer_at = -1;
      int64_t known = 0;
      bool ok = true;
      for (int i = 0; i < num_outputs; ++i) {
        const int64_t z = (*sizes)[i];
        if (z == -1 && infer_at < 0) {
          infer_at = i;
        } else if (z < 0) {
          ok = false;
        } else {
          parts[i] = z;
          known = AddDims(known, z);
        }
      }
      if (ok && infer_at >= 0 && dim >= 0 && known >= 0 && known <= dim) {
        parts[infer_at] = dim - known;
      }
      if (!ok) parts.assign(num_outputs, kUnknownDim);
    }
  } else if (dim >= 0) {
    if (dim % num_outputs == 0) {
      parts.assign(num_outputs, dim / num_outputs);
    } else if (allow_uneven) {
      const int64_t chunk = dim / num_outputs + 1;  // ONNX: ceil, the last part smaller
      if (chunk * (num_outputs - 1) < dim) {
        parts.assign(num_outputs, chunk);
        parts.back() = dim - chunk * (num_outputs - 1);
      }
    }
  }
  for (int p = 0; p < num_outputs; ++p) {
    Dims d = s.dims();
    d[*ax] = parts[p];
    ctx->Set(n, p, in.dtype, Shape(std::move(d)));
  }
}

void PackShape(const Node& n, ShapeContext* ctx) {
  Shape merged;
  DType dtype = AttrDType(n, "T");
  bool conflict = false;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (dtype == DType::kInvalid) dtype = ctx->In(n, i).dtype;
    std::optional<Shape> m = MergeShapes(merged, ctx->In(n, i).shape);
    if (!m) conflict = true;
    if (m) merged = *m;
  }
  const int64_t count = static_cast<int64_t>(n.inputs.size());
  std::optional<int> ax = merged.known_rank()
                              ? NormalizeAxis(AttrInt(n, "axis").value_or(0), merged.rank() + 1)
                              : std::nullopt;
  if (conflict || !ax) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = merged.dims();
  out.insert(out.begin() + *ax, count);
  if (*ax == 0 && IsIntType(dtype) && count <= kMaxInferredValueElements) {
    IntValue v{out, {}};
    bool all = true;
    for (size_t i = 0; i < n.inputs.size() && all; ++i) {
      const IntValue* part = ctx->InInt(n, i);
      all = part != nullptr && Shape(part->dims) == merged;
      if (all) v.elems.insert(v.elems.end(), part->elems.begin(), part->elems.end());
    }
    if (all && static_cast<int64_t>(v.elems.size()) <= kMaxInferredValueElements) {
      ctx->SetInt(n, 0, dtype, std::move(v));
      return;
    }
  }
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

void UnpackShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  std::optional<int> ax =
      s.known_rank() ? NormalizeAxis(AttrInt(n, "axis").value_or(0), s.rank()) : std::nullopt;
  int64_t num = AttrInt(n, "num").value_or(ax ? s.dim(*ax) : -1);
  if (num <= 0 || num > (1 << 16)) return;
  for (int p = 0; p < num; ++p) {
    if (!ax) {
      ctx->Set(n, p, in.dtype, Shape());
      continue;
    }
    Dims d = s.dims();
    d.erase(d.begin() + *ax);
    const IntValue* v = ctx->InInt(n, 0);
    if (v != nullptr && v->dims.size() == 1 && static_cast<int64_t>(v->elems.size()) == num) {
      ctx->SetInt(n, p, in.dtype, IntValue{{}, {v->elems[p]}});
    } else {
      ctx->Set(n, p, in.dtype, Shape(std::move(d)));
    }
  }
}

// TF ConcatV2(values..., axis).
void ConcatV2Shape(const Node& n, ShapeContext* ctx) {
  if (n.inputs.empty()) return;
  std::optional<Dims> axis = ctx->InInts(n, n.inputs.size() - 1);
  ConcatShape(n, ctx, 0, n.inputs.size() - 1,
              axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt);
}

// ONNX Concat (axis attr) and TF v1 Concat(concat_dim, values...).
void ConcatOpShape(const Node& n, ShapeContext* ctx) {
  if (n.attrs.Find("axis") != nullptr || IsOnnxNode(n)) {
    ConcatShape(n, ctx, 0, n.inputs.size(), AttrInt(n, "axis"));
  } else if (!n.inputs.empty()) {  // TF v1 Concat: the axis comes first
    std::optional<Dims> axis = ctx->InInts(n, 0);
    ConcatShape(n, ctx, 1, n.inputs.size() - 1,
                axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt);
  }
}

// ONNX Split(input, split; axis) and TF Split(split_dim, value; num_split).
void SplitOpShape(const Node& n, ShapeContext* ctx) {
  if (IsOnnxNode(n)) {
    const int declared_outputs = static_cast<int>(n.output_names.size());
    std::optional<Dims> sizes;
    if (n.attrs.Find("split") != nullptr) {
      sizes = AttrInts(n, "split");
    } else if (ctx->HasInput(n, 1)) {
      sizes = ctx->InInts(n, 1);
      if (!sizes) sizes = Dims(declared_outputs, -2);  // known to exist, values unknown
    }
    SplitShape(n, ctx, 0, AttrInt(n, "axis").value_or(0), sizes, declared_outputs, true);
    return;
  }
  std::optional<Dims> axis = ctx->InInts(n, 0);
  SplitShape(n, ctx, 1,
             axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
             std::nullopt, static_cast<int>(AttrInt(n, "num_split").value_or(0)), false);
}

// TF SplitV(value, size_splits, split_dim).
void SplitVShape(const Node& n, ShapeContext* ctx) {
  std::optional<Dims> axis = ctx->InInts(n, 2);
  const int num = static_cast<int>(AttrInt(n, "num_split").value_or(0));
  SplitShape(n, ctx, 0,
             axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
             ctx->InInts(n, 1).value_or(Dims(std::max(num, 0), -2)), num, false);
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterConcatSplitKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ConcatV2", {shape_fn::ConcatV2Shape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Concat", {shape_fn::ConcatOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Split", {shape_fn::SplitOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("SplitV", {shape_fn::SplitVShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Pack", {shape_fn::PackShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Unpack", {shape_fn::UnpackShape, flops::DataMovement}));
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
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
