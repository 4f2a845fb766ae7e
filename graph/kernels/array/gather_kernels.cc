// Indexing ops: ONNX Gather/GatherND/GatherElements/ScatterND/ScatterElements, TF
// Gather/GatherV2/GatherNd/ScatterNd. Every index is checked before any byte moves; ONNX wraps
// negative indices, TF rejects them.
#include <cstring>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "graph/kernels/array/array_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

absl::Status CheckIndices(const Node& node, const TensorView& indices) {
  if (indices.dtype != DType::kInt32 && indices.dtype != DType::kInt64) {
    return NodeError(node, "indices are ", DescribeTensor(indices), "; expected int32 or int64");
  }
  return absl::OkStatus();
}

// True when index `k` of `indices` lies in [0, d) (after adding d to a negative one when
// `wrap`): the hot-path check, which builds no message.
bool IndexInRange(const TensorView& indices, int64_t k, int64_t d, bool wrap) {
  const int64_t raw = IntAt(indices, k);
  const int64_t v = raw < 0 && wrap ? raw + d : raw;
  return v >= 0 && v < d;
}

// Index `k` of `indices` checked against [0, d) (after adding d to a negative one when `wrap`).
absl::StatusOr<int64_t> IndexAt(const Node& node, const TensorView& indices, int64_t k, int64_t d,
                                bool wrap, absl::string_view where) {
  const int64_t raw = IntAt(indices, k);
  const int64_t v = raw < 0 && wrap ? raw + d : raw;
  if (v < 0 || v >= d) {
    return NodeError(node, "index ", raw, " (indices element ", k, ") is out of range for ", where,
                     " of size ", d, "; expected [", wrap ? -d : 0, ", ", d, ")");
  }
  return v;
}

absl::Status GatherCompute(KernelContext* ctx, const TensorView& data, const TensorView& indices,
                           int64_t axis_raw, bool wrap) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckIndices(node, indices));
  if (data.rank() == 0) return NodeError(node, "cannot gather from a scalar");
  RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_raw, data.rank(), "axis"));
  const int64_t d = data.dims[axis];
  const int64_t n = indices.NumElements();
  for (int64_t k = 0; k < n; ++k) {
    if (!IndexInRange(indices, k, d, wrap)) {  // the message only on failure: no allocation
      return IndexAt(node, indices, k, d, wrap,
                     absl::StrCat("axis ", axis, " of ", DescribeTensor(data)))
          .status();
    }
  }
  Dims out_dims(data.dims.begin(), data.dims.begin() + axis);
  out_dims.insert(out_dims.end(), indices.dims.begin(), indices.dims.end());
  out_dims.insert(out_dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data.dtype, out_dims));
  const int64_t outer = Product(data.dims, 0, axis);
  const int64_t inner =
      Product(data.dims, axis + 1, data.dims.size()) * ExecElementSize(data.dtype);
  if (inner == 0 || n == 0) return absl::OkStatus();
  const char* src = static_cast<const char*>(data.data);
  char* dst = static_cast<char*>(out.data);
  // The indices' byte offsets once (validated above), then rows copied inline: a field-pair
  // gather (FiBiNET's v[:, rows]) copies many short rows from few indices.
  // Blocks of indices, so that the offsets live on the stack (the hot path allocates nothing).
  constexpr int64_t kBlock = 256;
  int64_t offsets[kBlock];
  const size_t row = static_cast<size_t>(inner);
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t k1 = std::min(n, k0 + kBlock);
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t v = IntAt(indices, k);
      offsets[k - k0] = (v < 0 ? v + d : v) * inner;
    }
    for (int64_t o = 0; o < outer; ++o) {
      const char* base = src + o * d * inner;
      char* out_row = dst + (o * n + k0) * inner;
      for (int64_t k = k0; k < k1; ++k, out_row += row) {
        CopyRowBytes(out_row, base + offsets[k - k0], row);
      }
    }
  }
  return absl::OkStatus();
}

Factory OnnxGatherFactory(const KernelBuildContext& b) {
  const int64_t axis = AttrInt(*b.node, "axis", 0);
  return MakeKernel([axis](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    return GatherCompute(ctx, *data, *indices, axis, /*wrap=*/true);
  });
}

// TF GatherV2(params, indices, axis; batch_dims = 0) and Gather(params, indices).
Factory TfGatherFactory(const KernelBuildContext& b) {
  const bool v2 = b.node->op == "GatherV2";
  const int64_t batch_dims = AttrInt(*b.node, "batch_dims", 0);
  if (batch_dims != 0) {
    return NodeError(*b.node, "batch_dims = ", batch_dims, " is not supported; expected 0");
  }
  return MakeKernel([v2](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, v2 ? 3 : 2, v2 ? 3 : 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    int64_t axis = 0;
    if (v2) {
      RANKOPT_ASSIGN_OR_RETURN(axis, ReadIntScalar(*ctx, 2, "axis"));
    }
    return GatherCompute(ctx, *data, *indices, axis, /*wrap=*/false);
  });
}

// out[b..., i...] = data[b..., indices[b..., i..., :], ...] with `batch_dims` leading dims shared.
absl::Status GatherNdCompute(KernelContext* ctx, int64_t batch_dims, bool wrap) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
  RANKOPT_RETURN_IF_ERROR(CheckIndices(node, *indices));
  const int64_t r = data->rank(), q = indices->rank();
  if (q < 1) return NodeError(node, "indices are a scalar; expected rank >= 1");
  const int64_t k_dims = indices->dims[q - 1];
  if (batch_dims < 0 || batch_dims >= q || k_dims + batch_dims > r) {
    return NodeError(node, "indices ", DescribeTensor(*indices), " with batch_dims ", batch_dims,
                     " do not fit data ", DescribeTensor(*data),
                     "; expected indices.shape[-1] + batch_dims <= data rank");
  }
  for (int64_t a = 0; a < batch_dims; ++a) {
    if (data->dims[a] != indices->dims[a]) {
      return NodeError(node, "batch dim ", a, " differs: data ", DescribeTensor(*data),
                       ", indices ", DescribeTensor(*indices));
    }
  }
  Dims out_dims(indices->dims.begin(), indices->dims.end() - 1);
  out_dims.insert(out_dims.end(), data->dims.begin() + batch_dims + k_dims, data->dims.end());
  const int64_t batches = Product(data->dims, 0, batch_dims);
  const int64_t per_batch = Product(indices->dims, batch_dims, q - 1);
  const int64_t slice_bytes =
      Product(data->dims, batch_dims + k_dims, data->dims.size()) * ExecElementSize(data->dtype);
  const int64_t batch_bytes =
      Product(data->dims, batch_dims, data->dims.size()) * ExecElementSize(data->dtype);
  const Dims strides = ElementStrides(absl::MakeConstSpan(data->dims).subspan(batch_dims));
  // Validate every coordinate before allocating.
  for (int64_t t = 0; t < batches * per_batch; ++t) {
    for (int64_t j = 0; j < k_dims; ++j) {
      const int64_t k = t * k_dims + j;
      const int64_t d = data->dims[batch_dims + j];
      if (!IndexInRange(*indices, k, d, wrap)) {
        return IndexAt(node, *indices, k, d, wrap,
                       absl::StrCat("dim ", batch_dims + j, " of ", DescribeTensor(*data)))
            .status();
      }
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data->dtype, out_dims));
  if (slice_bytes == 0) return absl::OkStatus();
  const char* src = static_cast<const char*>(data->data);
  char* dst = static_cast<char*>(out.data);
  const int64_t esize = static_cast<int64_t>(ExecElementSize(data->dtype));
  for (int64_t bt = 0; bt < batches; ++bt) {
    for (int64_t i = 0; i < per_batch; ++i) {
      const int64_t t = bt * per_batch + i;
      int64_t offset = 0;
      for (int64_t j = 0; j < k_dims; ++j) {
        int64_t v = IntAt(*indices, t * k_dims + j);
        if (v < 0) v += data->dims[batch_dims + j];
        offset += v * strides[j];
      }
      std::memcpy(dst, src + bt * batch_bytes + offset * esize, slice_bytes);
      dst += slice_bytes;
    }
  }
  return absl::OkStatus();
}

Factory OnnxGatherNdFactory(const KernelBuildContext& b) {
  const int64_t batch_dims = AttrInt(*b.node, "batch_dims", 0);
  return MakeKernel(
      [batch_dims](KernelContext* ctx) { return GatherNdCompute(ctx, batch_dims, /*wrap=*/true); });
}

Factory TfGatherNdFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) { return GatherNdCompute(ctx, 0, /*wrap=*/false); });
}

// GatherElements' and ScatterElements' indexing: `indices` of data's rank (>= 1), every dim but
// `axis` at most data's, every index in range on `axis` (negative ones count from the end).
// ElementOffset then maps element k of indices to data's element it names.
class ElementsIndexing {
 public:
  static absl::StatusOr<ElementsIndexing> Check(const Node& node, const TensorView& data,
                                                const TensorView& indices, int64_t axis_attr) {
    RANKOPT_RETURN_IF_ERROR(CheckIndices(node, indices));
    const int64_t rank = data.rank();
    if (rank == 0 || indices.rank() != rank) {
      return NodeError(node, "indices ", DescribeTensor(indices), " and data ",
                       DescribeTensor(data), " must have the same rank >= 1");
    }
    RANKOPT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axis_attr, rank, "axis"));
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && indices.dims[d] > data.dims[d]) {
        return NodeError(node, "indices ", DescribeTensor(indices), " exceed data ",
                         DescribeTensor(data), " in dim ", d);
      }
    }
    const int64_t size = data.dims[axis];
    for (int64_t k = 0; k < indices.NumElements(); ++k) {
      if (!IndexInRange(indices, k, size, /*wrap=*/true)) {
        return IndexAt(node, indices, k, size, true,
                       absl::StrCat("axis ", axis, " of ", DescribeTensor(data)))
            .status();
      }
    }
    return ElementsIndexing(data, indices, axis);
  }

  int64_t ElementOffset(int64_t k) const {
    int64_t offset = 0, rest = k;
    for (size_t d = 0; d < data_strides_.size(); ++d) {
      int64_t i = rest / index_strides_[d];
      rest %= index_strides_[d];
      if (static_cast<int64_t>(d) == axis_) {
        i = IntAt(*indices_, k);
        if (i < 0) i += size_;
      }
      offset += i * data_strides_[d];
    }
    return offset;
  }

 private:
  ElementsIndexing(const TensorView& data, const TensorView& indices, int64_t axis)
      : indices_(&indices),
        axis_(axis),
        size_(data.dims[axis]),
        data_strides_(ElementStrides(data.dims)),
        index_strides_(ElementStrides(indices.dims)) {}

  const TensorView* indices_;
  int64_t axis_, size_;
  Dims data_strides_, index_strides_;
};

// ONNX GatherElements(data, indices; axis): output[i] = data[i with i[axis] = indices[i]], the
// output shaped as indices (same rank as data; each other dim at most data's); negative
// indices count from the end.
Factory GatherElementsFactory(const KernelBuildContext& b) {
  const int64_t axis_attr = AttrInt(*b.node, "axis", 0);
  return MakeKernel([axis_attr](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(ElementsIndexing at,
                             ElementsIndexing::Check(node, *data, *indices, axis_attr));
    const size_t width = DTypeSize(data->dtype);
    if (width == 0) return NodeError(node, "data ", DescribeTensor(*data), " is not fixed-width");
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data->dtype, indices->dims));
    const char* src = Bytes(*data);
    char* dst = MutableBytes(out);
    for (int64_t k = 0; k < indices->NumElements(); ++k) {
      const int64_t offset = at.ElementOffset(k);
      std::memcpy(dst + k * width, src + offset * width, width);
    }
    return absl::OkStatus();
  });
}

// ONNX ScatterND / ScatterElements attr reduction: how an update meets the element it lands on.
enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };

absl::StatusOr<ScatterReduction> ParseReduction(const Node& node) {
  const std::string* r = node.attrs.Get<std::string>("reduction");
  if (r == nullptr || *r == "none") return ScatterReduction::kNone;
  if (*r == "add") return ScatterReduction::kAdd;
  if (*r == "mul") return ScatterReduction::kMul;
  if (*r == "max") return ScatterReduction::kMax;
  if (*r == "min") return ScatterReduction::kMin;
  return NodeError(node, "attribute reduction is '", *r, "'; expected none, add, mul, max or min");
}

// Integers wrap (computed in uint64_t, converted back modulo 2^bits).
template <typename T>
T Combine(T old, T update, ScatterReduction r) {
  switch (r) {
    case ScatterReduction::kNone:
      return update;
    case ScatterReduction::kAdd:
      if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(static_cast<uint64_t>(old) + static_cast<uint64_t>(update));
      } else {
        return old + update;
      }
    case ScatterReduction::kMul:
      if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(static_cast<uint64_t>(old) * static_cast<uint64_t>(update));
      } else {
        return old * update;
      }
    case ScatterReduction::kMax:
      return old < update ? update : old;
    case ScatterReduction::kMin:
      return update < old ? update : old;
  }
  return update;
}

// ONNX ScatterND(data, indices, updates; reduction): data with the slices at indices[..., :k]
// replaced by (or reduced with) updates, in index order (a repeated index: the last wins).
Factory OnnxScatterNdFactory(const KernelBuildContext& b) {
  absl::StatusOr<ScatterReduction> reduction = ParseReduction(*b.node);
  if (!reduction.ok()) return reduction.status();
  return MakeKernel([r = *reduction](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* updates, RequiredInput(*ctx, 2));
    RANKOPT_RETURN_IF_ERROR(CheckIndices(node, *indices));
    const int64_t q = indices->rank();
    if (q < 1) return NodeError(node, "indices are a scalar; expected rank >= 1");
    const int64_t k_dims = indices->dims[q - 1];
    if (k_dims < 1 || k_dims > data->rank()) {
      return NodeError(node, "indices ", DescribeTensor(*indices), " index ", k_dims,
                       " dims of data ", DescribeTensor(*data), "; expected 1 to its rank");
    }
    if (updates->dtype != data->dtype) {
      return NodeError(node, "updates are ", DescribeTensor(*updates), "; expected ",
                       DTypeName(data->dtype));
    }
    Dims expected(indices->dims.begin(), indices->dims.end() - 1);
    expected.insert(expected.end(), data->dims.begin() + k_dims, data->dims.end());
    if (updates->dims != expected) {
      return NodeError(node, "updates are ", DescribeTensor(*updates), "; expected dims ",
                       DimsString(expected));
    }
    const int64_t n = Product(indices->dims, 0, q - 1);
    for (int64_t t = 0; t < n * k_dims; ++t) {
      const int64_t j = t % k_dims;
      if (!IndexInRange(*indices, t, data->dims[j], /*wrap=*/true)) {
        return IndexAt(node, *indices, t, data->dims[j], true, absl::StrCat("dim ", j, " of data"))
            .status();
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data->dtype, data->dims));
    std::memcpy(out.data, data->data, out.ByteSize());
    const Dims strides = ElementStrides(data->dims);
    const int64_t slice = Product(data->dims, k_dims, data->rank());
    return VisitNumeric(
        data->dtype,
        [&]<typename T>() -> absl::Status {
          T* dst = out.data_as<T>();
          const T* src = updates->data_as<T>();
          for (int64_t i = 0; i < n; ++i) {
            int64_t offset = 0;
            for (int64_t j = 0; j < k_dims; ++j) {
              int64_t v = IntAt(*indices, i * k_dims + j);
              if (v < 0) v += data->dims[j];
              offset += v * strides[j];
            }
            for (int64_t e = 0; e < slice; ++e) {
              dst[offset + e] = Combine<T>(dst[offset + e], src[i * slice + e], r);
            }
          }
          return absl::OkStatus();
        },
        [&] { return NodeError(node, "data ", DescribeTensor(*data), " is not numeric"); });
  });
}

// ONNX ScatterElements(data, indices, updates; axis, reduction): data with element i of updates
// written (or reduced) at i with i[axis] = indices[i]; indices and updates share a shape.
Factory ScatterElementsFactory(const KernelBuildContext& b) {
  absl::StatusOr<ScatterReduction> reduction = ParseReduction(*b.node);
  if (!reduction.ok()) return reduction.status();
  const int64_t axis_attr = AttrInt(*b.node, "axis", 0);
  return MakeKernel([r = *reduction, axis_attr](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* updates, RequiredInput(*ctx, 2));
    if (updates->dims != indices->dims || updates->dtype != data->dtype) {
      return NodeError(node, "indices ", DescribeTensor(*indices), " and updates ",
                       DescribeTensor(*updates), ": expected one shape, updates of data's dtype ",
                       DTypeName(data->dtype));
    }
    RANKOPT_ASSIGN_OR_RETURN(ElementsIndexing at,
                             ElementsIndexing::Check(node, *data, *indices, axis_attr));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data->dtype, data->dims));
    std::memcpy(out.data, data->data, out.ByteSize());
    return VisitNumeric(
        data->dtype,
        [&]<typename T>() -> absl::Status {
          T* dst = out.data_as<T>();
          const T* src = updates->data_as<T>();
          for (int64_t k = 0; k < indices->NumElements(); ++k) {
            const int64_t offset = at.ElementOffset(k);
            dst[offset] = Combine<T>(dst[offset], src[k], r);
          }
          return absl::OkStatus();
        },
        [&] { return NodeError(node, "data ", DescribeTensor(*data), " is not numeric"); });
  });
}

// TF ScatterNd(indices, updates, shape): zeros of `shape` plus every update at its index
// (duplicates add up).
Factory ScatterNdFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* updates, RequiredInput(*ctx, 1));
    RANKOPT_RETURN_IF_ERROR(CheckIndices(node, *indices));
    Dims shape;
    RANKOPT_RETURN_IF_ERROR(ReadIntVector(*ctx, 2, "shape", &shape));
    for (int64_t d : shape) {
      if (d < 0) return NodeError(node, "shape ", DimsString(shape), " has a negative dim");
    }
    const int64_t q = indices->rank();
    if (q < 1) return NodeError(node, "indices are a scalar; expected rank >= 1");
    const int64_t k_dims = indices->dims[q - 1];
    if (k_dims > static_cast<int64_t>(shape.size())) {
      return NodeError(node, "indices ", DescribeTensor(*indices), " index more dims than shape ",
                       DimsString(shape));
    }
    Dims expected(indices->dims.begin(), indices->dims.end() - 1);
    expected.insert(expected.end(), shape.begin() + k_dims, shape.end());
    if (updates->dims != expected) {
      return NodeError(node, "updates are ", DescribeTensor(*updates), "; expected ",
                       DimsString(expected));
    }
    const int64_t n = Product(indices->dims, 0, q - 1);
    const Dims strides = ElementStrides(shape);
    for (int64_t t = 0; t < n * k_dims; ++t) {
      const int64_t j = t % k_dims;
      if (!IndexInRange(*indices, t, shape[j], false)) {
        return IndexAt(node, *indices, t, shape[j], false,
                       absl::StrCat("dim ", j, " of the output"))
            .status();
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, updates->dtype, shape));
    const int64_t slice = Product(shape, k_dims, shape.size());
    return VisitNumeric(
        updates->dtype,
        [&]<typename T>() {
          T* dst = out.data_as<T>();
          const T* src = updates->data_as<T>();
          const int64_t total = out.NumElements();
          for (int64_t i = 0; i < total; ++i) dst[i] = T(0);
          for (int64_t i = 0; i < n; ++i) {
            int64_t offset = 0;
            for (int64_t j = 0; j < k_dims; ++j)
              offset += IntAt(*indices, i * k_dims + j) * strides[j];
            for (int64_t e = 0; e < slice; ++e) {
              dst[offset + e] = WrappingAdd(dst[offset + e], src[i * slice + e]);
            }
          }
          return absl::OkStatus();
        },
        [&] {
          return NodeError(node, "updates of ", DTypeName(updates->dtype), " are not supported");
        });
  });
}

}  // namespace

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void GatherShape(const Node& n, ShapeContext* ctx, const Shape& params, DType dtype,
                 std::optional<int64_t> axis, int64_t batch_dims) {
  const Shape indices = ctx->In(n, 1).shape;
  if (!params.known_rank() || !indices.known_rank() || !axis || batch_dims != 0) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  std::optional<int> ax = NormalizeAxis(*axis, params.rank());
  if (!ax) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out(params.dims().begin(), params.dims().begin() + *ax);
  out.insert(out.end(), indices.dims().begin(), indices.dims().end());
  out.insert(out.end(), params.dims().begin() + *ax + 1, params.dims().end());
  const IntValue* pv = ctx->InInt(n, 0);
  const IntValue* iv = ctx->InInt(n, 1);
  if (pv != nullptr && iv != nullptr && pv->dims.size() == 1 && iv->FullyKnown()) {
    IntValue v{out, {}};
    const int64_t size = pv->dims[0];
    for (int64_t idx : iv->elems) {
      if (idx < -size || idx >= size) {
        ctx->Set(n, 0, dtype, Shape(std::move(out)));
        return;
      }
      v.elems.push_back(pv->elems[idx < 0 ? idx + size : idx]);
    }
    ctx->SetInt(n, 0, dtype, std::move(v));
    return;
  }
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

// ONNX Gather: axis attr (default 0); TF v1 Gather: always axis 0.
void GatherOpShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor params = ctx->In(n, 0);
  GatherShape(n, ctx, params.shape, params.dtype, AttrInt(n, "axis").value_or(0), 0);
}

void GatherV2Shape(const Node& n, ShapeContext* ctx) {
  std::optional<Dims> axis = ctx->InInts(n, 2);
  GatherShape(n, ctx, ctx->In(n, 0).shape,
              ctx->InDType(n, 0) == DType::kInvalid ? AttrDType(n, "Tparams") : ctx->InDType(n, 0),
              axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
              AttrInt(n, "batch_dims").value_or(0));
}

// GatherElements: data's dtype, indices' shape.
void GatherElementsShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, ctx->InDType(n, 0), ctx->In(n, 1).shape);
}

// ResourceGather reads the variable shape its VarHandleOp declared.
void ResourceGatherShape(const Node& n, ShapeContext* ctx) {
  Shape params;
  if (ctx->HasInput(n, 0)) params = ctx->ResourceShape(n.inputs[0]);
  GatherShape(n, ctx, params, AttrDType(n, "dtype"), 0, AttrInt(n, "batch_dims").value_or(0));
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterGatherKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("Gather", {shape_fn::GatherOpShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("GatherV2", {shape_fn::GatherV2Shape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ResourceGather", {shape_fn::ResourceGatherShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("GatherNd", {nullptr, flops::DataMovement}));
  for (const char* op : {"ScatterND", "ScatterElements"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("GatherElements", {shape_fn::GatherElementsShape, flops::DataMovement}));
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "Gather", OnnxGatherFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "GatherV2", TfGatherFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Gather", TfGatherFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "GatherND", OnnxGatherNdFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "GatherElements", GatherElementsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "ScatterND", OnnxScatterNdFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "ScatterElements", ScatterElementsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "GatherNd", TfGatherNdFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ScatterNd", ScatterNdFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
