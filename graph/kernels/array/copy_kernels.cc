// Data movement ops: Transpose, Tile, Expand/BroadcastTo, Pad/PadV2/MirrorPad,
// Where/Select/SelectV2, OneHot, ReverseSequence. All byte-copy, so every fixed-width dtype works.
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

// ---- Transpose, Tile, Expand ------------------------------------------------------------------

// Strided gather of one output row: n elements of T, `stride` elements apart in src.
template <typename T>
void GatherRow(const char* src, int64_t stride, int64_t n, char* dst) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = s[i * stride];
}

// Transpose with the axes that move together merged and size-1 axes dropped (attention's
// [B, m, H, a] -> [B, H, m, a] becomes 4 axes of which the last is a contiguous run; K^T's
// [B, H, m, a] -> [B, H, a, m] becomes [BH, a, m] over [BH, m, a]), walked in output order with
// an incremental source offset: the rows are memcpy'd when the last axis stays last, else
// gathered with a typed strided loop. False when the element size has no typed loop (the caller
// then uses the generic axis-map copy).
bool TransposeMerged(const TensorView& in, absl::Span<const int64_t> perm, const Dims& out_dims,
                     char* dst) {
  const size_t esize = ExecElementSize(in.dtype);
  if (esize != 1 && esize != 2 && esize != 4 && esize != 8) return false;
  const int64_t r = in.rank();
  const Dims in_stride = ElementStrides(in.dims);
  // Output axes with their source strides, size-1 dropped, runs merged.
  absl::InlinedVector<int64_t, 8> dims, strides;
  for (int64_t a = 0; a < r; ++a) {
    const int64_t d = out_dims[a];
    const int64_t st = in_stride[perm[a]];
    if (d == 1) continue;
    if (!dims.empty() && strides.back() == st * d) {
      dims.back() *= d;
      strides.back() = st;
      continue;
    }
    dims.push_back(d);
    strides.push_back(st);
  }
  const char* src = static_cast<const char*>(in.data);
  if (dims.empty()) {
    std::memcpy(dst, src, esize);
    return true;
  }
  // Axis 0 of a single-axis result is a 1-row middle loop.
  if (dims.size() == 1) {
    dims.insert(dims.begin(), 1);
    strides.insert(strides.begin(), 0);
  }
  const int k = static_cast<int>(dims.size());
  const int64_t n = dims[k - 1];
  const int64_t inner_stride = strides[k - 1];
  const int64_t rows = dims[k - 2];
  const int64_t row_stride = strides[k - 2] * static_cast<int64_t>(esize);
  const size_t row_bytes = static_cast<size_t>(n) * esize;
  absl::InlinedVector<int64_t, 8> counter(k, 0);
  int64_t offset = 0;  // elements
  while (true) {
    const char* row = src + offset * static_cast<int64_t>(esize);
    for (int64_t j = 0; j < rows; ++j, row += row_stride, dst += row_bytes) {
      if (inner_stride == 1) {
        CopyRowBytes(dst, row, row_bytes);
        continue;
      }
      switch (esize) {
        case 1: GatherRow<uint8_t>(row, inner_stride, n, dst); break;
        case 2: GatherRow<uint16_t>(row, inner_stride, n, dst); break;
        case 4: GatherRow<uint32_t>(row, inner_stride, n, dst); break;
        default: GatherRow<uint64_t>(row, inner_stride, n, dst); break;
      }
    }
    // The odometer over the axes before the last two.
    int a = k - 3;
    for (; a >= 0; --a) {
      offset += strides[a];
      if (++counter[a] < dims[a]) break;
      offset -= strides[a] * dims[a];
      counter[a] = 0;
    }
    if (a < 0) break;
  }
  return true;
}

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
  if (TransposeMerged(*in, perm, out_dims, MutableBytes(out))) return absl::OkStatus();
  const Dims strides = ByteStrides(*in);
  RANKOPT_ASSIGN_OR_RETURN(AxisMaps maps, AllocateAxisMaps(ctx, out_dims));
  for (int64_t a = 0; a < r; ++a) {
    maps[a].src_stride = strides[perm[a]];
    FillIota(maps[a].index);
  }
  CopyByAxisMaps(maps, Bytes(*in), MutableBytes(out), ExecElementSize(in->dtype), nullptr);
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
    CopyByAxisMaps(maps, Bytes(*in), MutableBytes(out), ExecElementSize(in->dtype), nullptr);
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
  CopyByAxisMaps(maps, Bytes(in), dst, ExecElementSize(in.dtype), nullptr);
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
  CopyByAxisMaps(maps, Bytes(in), MutableBytes(out), ExecElementSize(in.dtype), fill);
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
      std::memcpy(fill, v.data, ExecElementSize(v.dtype));
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
      std::memcpy(fill, v->data, ExecElementSize(v->dtype));
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
  const size_t esize = ExecElementSize(x.dtype);
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
  const size_t esize = ExecElementSize(dtype);
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
    const size_t esize = ExecElementSize(values->dtype);
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
  const size_t esize = ExecElementSize(in->dtype);
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

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void TransposeShape(const Node& n, ShapeContext* ctx, std::optional<Dims> perm) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  if (!perm) {
    ctx->Set(n, 0, in.dtype, Shape(Dims(s.rank(), kUnknownDim)));
    return;
  }
  if (static_cast<int>(perm->size()) != s.rank()) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  std::vector<bool> seen(s.rank(), false);
  Dims out;
  for (int64_t p : *perm) {
    std::optional<int> ax = NormalizeAxis(p, s.rank());
    if (!ax || seen[*ax]) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
    seen[*ax] = true;
    out.push_back(s.dim(*ax));
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

void TileShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor in = ctx->In(n, 0);
  Shape mult = ctx->ShapeFromValue(n, 1);
  if (!in.shape.known_rank() || !mult.known_rank() || mult.rank() != in.shape.rank()) {
    ctx->Set(n, 0, in.dtype,
             in.shape.known_rank() ? Shape(Dims(in.shape.rank(), kUnknownDim)) : Shape());
    return;
  }
  Dims out;
  for (int i = 0; i < mult.rank(); ++i) out.push_back(MulDims(in.shape.dim(i), mult.dim(i)));
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

void OneHotShape(const Node& n, ShapeContext* ctx, DType dtype) {
  const Shape s = ctx->In(n, 0).shape;
  std::optional<Dims> depth = ctx->InInts(n, 1);
  int64_t d = depth && depth->size() == 1 && (*depth)[0] >= 0 ? (*depth)[0] : kUnknownDim;
  std::optional<int> ax =
      s.known_rank() ? NormalizeAxis(AttrInt(n, "axis").value_or(-1), s.rank() + 1) : std::nullopt;
  if (!ax) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = s.dims();
  out.insert(out.begin() + *ax, d);
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

// perm attr; ONNX default: reverse the axes; TF: the perm input.
void TransposeOpShape(const Node& n, ShapeContext* ctx) {
  const bool onnx = IsOnnxNode(n);
  std::optional<Dims> perm;
  if (n.attrs.Find("perm") != nullptr) {
    perm = AttrInts(n, "perm");
  } else if (onnx && ctx->In(n, 0).shape.known_rank()) {  // ONNX default: reverse the axes
    perm = Dims();
    for (int i = ctx->In(n, 0).shape.rank() - 1; i >= 0; --i) perm->push_back(i);
  } else if (!onnx) {
    perm = ctx->InInts(n, 1);
  }
  TransposeShape(n, ctx, perm);
}

void ExpandShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, ctx->In(n, 0).dtype, Broadcast(ctx->In(n, 0).shape, ctx->ShapeFromValue(n, 1)));
}

void OneHotOpShape(const Node& n, ShapeContext* ctx) {
  DType dtype = ctx->In(n, 2).dtype;
  if (dtype == DType::kInvalid) dtype = AttrDType(n, "T");
  OneHotShape(n, ctx, dtype);
}

// ONNX Where and TF SelectV2 broadcast all three inputs.
void SelectV2Shape(const Node& n, ShapeContext* ctx) {
  Shape s = Broadcast(Broadcast(ctx->In(n, 0).shape, ctx->In(n, 1).shape), ctx->In(n, 2).shape);
  ctx->Set(n, 0, ctx->InDType(n, 1), s);
}

// TF Where(cond) lists the true coordinates [?, rank].
void WhereShape(const Node& n, ShapeContext* ctx) {
  if (!IsOnnxNode(n) && n.inputs.size() == 1) {
    const Shape s = ctx->In(n, 0).shape;
    ctx->Set(n, 0, DType::kInt64, s.known_rank() ? Shape({kUnknownDim, s.rank()}) : Shape());
    return;
  }
  SelectV2Shape(n, ctx);
}

void SelectShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, ctx->InDType(n, 1), Broadcast(ctx->In(n, 1).shape, ctx->In(n, 2).shape));
}

// TF Where(cond) is not counted; the selects are 1 per output element.
NodeFlops WhereFlops(const Node& n, const ShapeMap& shapes) {
  if (!IsOnnxNode(n) && n.inputs.size() == 1) return NodeFlops{};
  return flops::Elementwise(n, shapes);
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {
namespace {

// ONNX Trilu(input, k = 0; upper = 1): the upper (or lower) triangle of each matrix of the last
// two dims, the rest zeros: element (i, j) kept when j - i >= k (upper) or j - i <= k (lower).
Factory TriluFactory(const KernelBuildContext& b) {
  const bool upper = AttrInt(*b.node, "upper", 1) != 0;
  return MakeKernel([upper](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    int64_t k = 0;
    if (HasInput(*ctx, 1)) {
      RANKOPT_ASSIGN_OR_RETURN(k, ReadIntScalar(*ctx, 1, "k"));
    }
    if (x->rank() < 2) {
      return NodeError(node, "input ", DescribeTensor(*x), " has rank < 2");
    }
    const size_t width = DTypeSize(x->dtype);
    if (width == 0) return NodeError(node, "input ", DescribeTensor(*x), " is not fixed-width");
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x->dtype, x->dims));
    const int64_t rows = x->dims[x->rank() - 2], cols = x->dims[x->rank() - 1];
    const int64_t matrices = Product(x->dims, 0, x->rank() - 2);
    const char* src = Bytes(*x);
    char* dst = MutableBytes(out);
    std::memset(dst, 0, out.ByteSize());
    // k clamped to where it still matters, so comparisons with j - i cannot overflow.
    const int64_t kk = ClampI(k, -cols - rows - 1, cols + rows + 1);
    for (int64_t m = 0; m < matrices; ++m) {
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? j - i >= kk : j - i <= kk;
          if (!keep) continue;
          const int64_t at = (m * rows + i) * cols + j;
          std::memcpy(dst + at * width, src + at * width, width);
        }
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status RegisterCopyKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Transpose", {shape_fn::TransposeOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Tile", {shape_fn::TileShape, flops::DataMovement}));
  for (const char* op : {"Expand", "BroadcastTo"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::ExpandShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("OneHot", {shape_fn::OneHotOpShape, flops::DataMovement}));
  for (const char* op : {"Pad", "PadV2"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {nullptr, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Where", {shape_fn::WhereShape, shape_fn::WhereFlops}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("SelectV2", {shape_fn::SelectV2Shape, flops::Elementwise}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Select", {shape_fn::SelectShape, flops::Elementwise}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Trilu", {shape_fn::UnaryShape, flops::DataMovement}));
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
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
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Trilu", TriluFactory));
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
