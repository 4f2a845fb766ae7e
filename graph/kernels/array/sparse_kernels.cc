// Data-dependent and sparse ops, exactly per TensorFlow's documented semantics since TF's
// feature columns chain them (SparseFillEmptyRows -> Unique -> SparseSegmentMean):
// Where (1 input) / ONNX NonZero, Unique, SparseFillEmptyRows, SparseReshape,
// SparseSegmentSum/Mean/SqrtN (+WithNumSegments), UnsortedSegmentSum.
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/kernels/array/array_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

// Requires an int64 tensor of `rank` (`what` names it).
absl::Status CheckInt64(const Node& node, const TensorView& t, int rank, absl::string_view what) {
  if (t.dtype != DType::kInt64 || t.rank() != rank) {
    return NodeError(node, what, " is ", DescribeTensor(t), "; expected a rank-", rank,
                     " int64 tensor");
  }
  return absl::OkStatus();
}

// ---- Where (coordinates) / NonZero ------------------------------------------------------------

// TF Where(x): int64 [n, rank] coordinates of the true (non-zero) elements in row-major order.
// ONNX NonZero: the same, transposed to [rank, n].
Factory WhereCoordsFactory(const KernelBuildContext& b) {
  const bool transposed = b.format == ModelFormat::kOnnx;
  return MakeKernel([transposed](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    const int64_t n = in->NumElements();
    const int64_t r = in->rank();
    std::vector<bool> truth(static_cast<size_t>(n));
    int64_t count = 0;
    RANKOPT_RETURN_IF_ERROR(VisitAll(
        in->dtype,
        [&]<typename T>() {
          const char* src = static_cast<const char*>(in->data);
          for (int64_t i = 0; i < n; ++i) {
            T v;
            std::memcpy(&v, src + i * sizeof(T), sizeof(T));
            truth[i] = ConvertValue<bool>(v);
            count += truth[i];
          }
          return absl::OkStatus();
        },
        [&] {
          return NodeError(ctx->node(), "input ", DescribeTensor(*in), " is not numeric or bool");
        }));
    const int64_t dims[2] = {transposed ? r : count, transposed ? count : r};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kInt64, dims));
    int64_t* dst = out.data_as<int64_t>();
    const Dims strides = ElementStrides(in->dims);
    int64_t row = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!truth[i]) continue;
      for (int64_t a = 0; a < r; ++a) {
        const int64_t coord = (i / strides[a]) % in->dims[a];
        dst[transposed ? a * count + row : row * r + a] = coord;
      }
      ++row;
    }
    return absl::OkStatus();
  });
}

// ---- Unique -----------------------------------------------------------------------------------

// Hash key of element i: its value bits, with floats normalized so that -0 == 0. nullopt for
// NaN, which equals nothing (TF gives each NaN its own entry).
template <typename T>
std::optional<uint64_t> UniqueKey(const char* src, int64_t i) {
  T v;
  std::memcpy(&v, src + i * sizeof(T), sizeof(T));
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> ||
                std::is_floating_point_v<T>) {
    double d = ConvertValue<double>(v);
    if (d != d) return std::nullopt;
    if (d == 0) d = 0;
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    return bits;
  } else {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    return bits;
  }
}

// TF Unique(x; out_idx): y = distinct values in order of first occurrence, idx[i] = position of
// x[i] in y.
Factory UniqueFactory(const KernelBuildContext& b) {
  const DType out_idx = AttrDType(*b.node, "out_idx").value_or(DType::kInt32);
  if (out_idx != DType::kInt32 && out_idx != DType::kInt64) {
    return NodeError(*b.node, "out_idx ", DTypeName(out_idx), " is not int32 or int64");
  }
  return MakeKernel([out_idx](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    if (x->rank() != 1) return NodeError(node, "x is ", DescribeTensor(*x), "; expected 1-D");
    const int64_t n = x->NumElements();
    if (out_idx == DType::kInt32 && n > std::numeric_limits<int32_t>::max()) {
      return NodeError(node, "x has ", n, " elements, too many for out_idx int32");
    }
    const size_t esize = ExecElementSize(x->dtype);
    const char* src = static_cast<const char*>(x->data);
    RANKOPT_ASSIGN_OR_RETURN(TensorView idx, ctx->AllocateOutput(1, out_idx, x->dims));
    absl::flat_hash_map<uint64_t, int64_t> seen;
    std::vector<int64_t> first;  // input position of each unique value
    RANKOPT_RETURN_IF_ERROR(VisitAll(
        x->dtype,
        [&]<typename T>() {
          for (int64_t i = 0; i < n; ++i) {
            const std::optional<uint64_t> key = UniqueKey<T>(src, i);
            int64_t pos = static_cast<int64_t>(first.size());
            if (key.has_value()) pos = seen.try_emplace(*key, pos).first->second;
            if (pos == static_cast<int64_t>(first.size())) first.push_back(i);
            if (out_idx == DType::kInt64) {
              idx.data_as<int64_t>()[i] = pos;
            } else {
              idx.data_as<int32_t>()[i] = static_cast<int32_t>(pos);
            }
          }
          return absl::OkStatus();
        },
        [&] { return NodeError(node, "x ", DescribeTensor(*x), " is not numeric or bool"); }));
    const int64_t dims[1] = {static_cast<int64_t>(first.size())};
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, x->dtype, dims));
    for (size_t k = 0; k < first.size(); ++k) {
      std::memcpy(static_cast<char*>(y.data) + k * esize, src + first[k] * esize, esize);
    }
    return absl::OkStatus();
  });
}

// ---- SparseFillEmptyRows ----------------------------------------------------------------------

// TF SparseFillEmptyRows(indices [N,R], values [N], dense_shape [R], default_value) ->
// (output_indices [N',R], output_values [N'], empty_row_indicator [rows] bool,
//  reverse_index_map [N]). Entries keep their input order within a row; rows come in order; an
// empty row r gets one entry (r, 0, ..., 0) = default_value. reverse_index_map[i] is where
// input entry i landed.
Factory SparseFillEmptyRowsFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 4, 4));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* values, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* shape, RequiredInput(*ctx, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* dflt, RequiredInput(*ctx, 3));
    RANKOPT_RETURN_IF_ERROR(CheckInt64(node, *indices, 2, "indices"));
    RANKOPT_RETURN_IF_ERROR(CheckInt64(node, *shape, 1, "dense_shape"));
    const int64_t n = indices->dims[0], r = indices->dims[1];
    if (values->rank() != 1 || values->dims[0] != n) {
      return NodeError(node, "values are ", DescribeTensor(*values), "; expected [", n, "]");
    }
    if (shape->dims[0] != r || r < 1) {
      return NodeError(node, "dense_shape is ", DescribeTensor(*shape), "; expected [", r,
                       "] matching indices ", DescribeTensor(*indices));
    }
    if (dflt->NumElements() != 1 || dflt->rank() != 0 || dflt->dtype != values->dtype) {
      return NodeError(node, "default_value is ", DescribeTensor(*dflt), "; expected a ",
                       DTypeName(values->dtype), " scalar");
    }
    const int64_t rows = shape->data_as<int64_t>()[0];
    if (rows < 0 || rows > std::numeric_limits<int64_t>::max() / 16) {
      return NodeError(node, "dense_shape[0] = ", rows, " is out of range");
    }
    if (rows == 0 && n > 0) {
      return NodeError(node, "dense_shape[0] is 0 but indices has ", n, " entries");
    }
    const int64_t* idx = indices->data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (idx[i * r] < 0 || idx[i * r] >= rows) {
        return NodeError(node, "indices(", i, ", 0) = ", idx[i * r],
                         " is out of range; expected [0, ", rows, ")");
      }
    }
    const int64_t rows_dims[1] = {rows};
    RANKOPT_ASSIGN_OR_RETURN(TensorView empty, ctx->AllocateOutput(2, DType::kBool, rows_dims));
    RANKOPT_ASSIGN_OR_RETURN(void* scratch, ctx->AllocateScratch(rows * sizeof(int64_t) * 2));
    int64_t* end_of_row = static_cast<int64_t*>(scratch);  // cumulative output rows
    int64_t* filled = end_of_row + rows;
    for (int64_t row = 0; row < rows; ++row) end_of_row[row] = filled[row] = 0;
    for (int64_t i = 0; i < n; ++i) ++end_of_row[idx[i * r]];
    bool* empty_row = empty.data_as<bool>();
    for (int64_t row = 0; row < rows; ++row) {
      empty_row[row] = end_of_row[row] == 0;
      end_of_row[row] = std::max<int64_t>(end_of_row[row], 1) + (row > 0 ? end_of_row[row - 1] : 0);
    }
    const int64_t out_n = rows > 0 ? end_of_row[rows - 1] : 0;
    const int64_t out_idx_dims[2] = {out_n, r};
    const int64_t out_val_dims[1] = {out_n};
    const int64_t map_dims[1] = {n};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_idx,
                             ctx->AllocateOutput(0, DType::kInt64, out_idx_dims));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_val,
                             ctx->AllocateOutput(1, values->dtype, out_val_dims));
    RANKOPT_ASSIGN_OR_RETURN(TensorView reverse, ctx->AllocateOutput(3, DType::kInt64, map_dims));
    const size_t esize = ExecElementSize(values->dtype);
    int64_t* oi = out_idx.data_as<int64_t>();
    char* ov = static_cast<char*>(out_val.data);
    const char* iv = static_cast<const char*>(values->data);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = idx[i * r];
      const int64_t pos = (row > 0 ? end_of_row[row - 1] : 0) + filled[row]++;
      std::memcpy(oi + pos * r, idx + i * r, r * sizeof(int64_t));
      std::memcpy(ov + pos * esize, iv + i * esize, esize);
      reverse.data_as<int64_t>()[i] = pos;
    }
    for (int64_t row = 0; row < rows; ++row) {
      if (!empty_row[row]) continue;
      const int64_t pos = row > 0 ? end_of_row[row - 1] : 0;
      oi[pos * r] = row;
      for (int64_t a = 1; a < r; ++a) oi[pos * r + a] = 0;
      std::memcpy(ov + pos * esize, dflt->data, esize);
    }
    return absl::OkStatus();
  });
}

// ---- SparseReshape ----------------------------------------------------------------------------

// TF SparseReshape(input_indices [N,R_in], input_shape [R_in], new_shape [R_out]) ->
// (output_indices [N,R_out], output_shape [R_out]); new_shape may hold one -1.
Factory SparseReshapeFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in_shape, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* new_shape, RequiredInput(*ctx, 2));
    RANKOPT_RETURN_IF_ERROR(CheckInt64(node, *indices, 2, "input_indices"));
    RANKOPT_RETURN_IF_ERROR(CheckInt64(node, *in_shape, 1, "input_shape"));
    RANKOPT_RETURN_IF_ERROR(CheckInt64(node, *new_shape, 1, "new_shape"));
    const int64_t n = indices->dims[0], r_in = indices->dims[1];
    const int64_t r_out = new_shape->dims[0];
    if (in_shape->dims[0] != r_in) {
      return NodeError(node, "input_shape is ", DescribeTensor(*in_shape), "; expected [", r_in,
                       "] matching input_indices ", DescribeTensor(*indices));
    }
    const absl::Span<const int64_t> in_dims = in_shape->values<int64_t>();
    int64_t dense = 1;
    for (int64_t d : in_dims) {
      if (d < 0 || __builtin_mul_overflow(dense, d, &dense)) {
        return NodeError(node, "input_shape ", DimsString(in_dims), " is negative or overflows");
      }
    }
    Dims out_dims(new_shape->values<int64_t>().begin(), new_shape->values<int64_t>().end());
    int infer = -1;
    int64_t known = 1;
    for (int64_t a = 0; a < r_out; ++a) {
      if (out_dims[a] == -1 && infer < 0) {
        infer = static_cast<int>(a);
      } else if (out_dims[a] < 0 || __builtin_mul_overflow(known, out_dims[a], &known)) {
        return NodeError(node, "new_shape ", DimsString(out_dims),
                         " must be >= 0 with at most one -1");
      }
    }
    if (infer >= 0) {
      if (known == 0) {
        return NodeError(node, "cannot infer the -1 of new_shape ", DimsString(out_dims),
                         " when the other sizes multiply to 0");
      }
      out_dims[infer] = dense / known;
      known *= out_dims[infer];
    }
    if (known != dense) {
      return NodeError(node, "input_shape ", DimsString(in_dims), " has ", dense,
                       " dense values but new_shape ", DimsString(out_dims), " has ", known);
    }
    const int64_t* idx = indices->data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t a = 0; a < r_in; ++a) {
        if (idx[i * r_in + a] < 0 || idx[i * r_in + a] >= in_dims[a]) {
          return NodeError(node, "input_indices(", i, ", ", a, ") = ", idx[i * r_in + a],
                           " is outside input_shape ", DimsString(in_dims));
        }
      }
    }
    const int64_t oi_dims[2] = {n, r_out};
    const int64_t os_dims[1] = {r_out};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_idx, ctx->AllocateOutput(0, DType::kInt64, oi_dims));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_shape, ctx->AllocateOutput(1, DType::kInt64, os_dims));
    for (int64_t a = 0; a < r_out; ++a) out_shape.data_as<int64_t>()[a] = out_dims[a];
    const Dims in_strides = ElementStrides(in_dims);
    const Dims out_strides = ElementStrides(out_dims);
    int64_t* dst = out_idx.data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t linear = 0;
      for (int64_t a = 0; a < r_in; ++a) linear += idx[i * r_in + a] * in_strides[a];
      for (int64_t a = 0; a < r_out; ++a) {
        dst[i * r_out + a] = linear / out_strides[a];
        linear %= out_strides[a];
      }
    }
    return absl::OkStatus();
  });
}

// ---- Segment reductions -----------------------------------------------------------------------

enum class SegmentReduce { kSum, kMean, kSqrtN };

// TF SparseSegment{Sum,Mean,SqrtN}[WithNumSegments](data, indices, segment_ids[, num_segments]):
// out[s] = reduce over i with segment_ids[i] == s of data[indices[i]]. segment_ids must be sorted;
// rows no id names are zero. Output rows: num_segments, or the last id + 1.
template <typename T>
absl::Status SegmentReduceTyped(KernelContext* ctx, const TensorView& data,
                                const TensorView& indices, const TensorView& seg, int64_t out_rows,
                                SegmentReduce kind) {
  Dims out_dims = data.dims;
  out_dims[0] = out_rows;
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data.dtype, out_dims));
  const int64_t inner = Product(data.dims, 1, data.dims.size());
  T* dst = out.data_as<T>();
  const T* src = data.data_as<T>();
  const int64_t total = out.NumElements();
  for (int64_t i = 0; i < total; ++i) dst[i] = T(0);
  const int64_t n = indices.NumElements();
  int64_t i = 0;
  while (i < n) {
    const int64_t s = IntAt(seg, i);
    int64_t j = i;
    T* row = dst + s * inner;
    for (; j < n && IntAt(seg, j) == s; ++j) {
      const T* in = src + IntAt(indices, j) * inner;
      for (int64_t e = 0; e < inner; ++e) row[e] += in[e];
    }
    const int64_t count = j - i;
    if (kind != SegmentReduce::kSum && count > 1) {
      const T div = kind == SegmentReduce::kMean ? static_cast<T>(count)
                                                 : static_cast<T>(std::sqrt(static_cast<T>(count)));
      for (int64_t e = 0; e < inner; ++e) row[e] /= div;
    }
    i = j;
  }
  return absl::OkStatus();
}

Factory SparseSegmentFactory(const KernelBuildContext& b, SegmentReduce kind) {
  const bool with_num = absl::EndsWith(b.node->op, "WithNumSegments");
  return MakeKernel([kind, with_num](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, with_num ? 4 : 3, with_num ? 4 : 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* seg, RequiredInput(*ctx, 2));
    if (data->rank() < 1) return NodeError(node, "data is a scalar; expected rank >= 1");
    if ((indices->dtype != DType::kInt32 && indices->dtype != DType::kInt64) ||
        (seg->dtype != DType::kInt32 && seg->dtype != DType::kInt64) || indices->rank() != 1 ||
        seg->dims != indices->dims) {
      return NodeError(node, "indices ", DescribeTensor(*indices), " and segment_ids ",
                       DescribeTensor(*seg), " must be int32/int64 vectors of one length");
    }
    const int64_t n = indices->NumElements();
    int64_t out_rows = 0;
    if (with_num) {
      RANKOPT_ASSIGN_OR_RETURN(out_rows, ReadIntScalar(*ctx, 3, "num_segments"));
      if (out_rows < 0) return NodeError(node, "num_segments ", out_rows, " must be >= 0");
    } else if (n > 0) {
      const int64_t last = IntAt(*seg, n - 1);
      if (last < 0 || last == std::numeric_limits<int64_t>::max()) {
        return NodeError(node, "last segment id ", last, " is out of range");
      }
      out_rows = last + 1;
    }
    const int64_t rows = data->dims[0];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = IntAt(*seg, i), k = IntAt(*indices, i);
      if (s < 0 || s >= out_rows) {
        return NodeError(node, "segment_ids[", i, "] = ", s, " is out of range; expected [0, ",
                         out_rows, ")");
      }
      if (i > 0 && s < IntAt(*seg, i - 1)) {
        return NodeError(node, "segment ids are not increasing: segment_ids[", i, "] = ", s,
                         " follows ", IntAt(*seg, i - 1));
      }
      if (k < 0 || k >= rows) {
        return NodeError(node, "indices[", i, "] = ", k, " is out of range for data ",
                         DescribeTensor(*data), "; expected [0, ", rows, ")");
      }
    }
    switch (data->dtype) {
      case DType::kFloat32:
        return SegmentReduceTyped<float>(ctx, *data, *indices, *seg, out_rows, kind);
      case DType::kFloat64:
        return SegmentReduceTyped<double>(ctx, *data, *indices, *seg, out_rows, kind);
      default:
        return NodeError(node, "data ", DescribeTensor(*data), " is not float or double");
    }
  });
}

// TF UnsortedSegmentSum(data, segment_ids, num_segments): segment_ids' shape is a prefix of
// data's; negative ids are dropped; ids >= num_segments are errors.
Factory UnsortedSegmentSumFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* data, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* seg, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(int64_t num, ReadIntScalar(*ctx, 2, "num_segments"));
    if (num < 0) return NodeError(node, "num_segments ", num, " must be >= 0");
    bool prefix = IsIntegerDType(seg->dtype) && seg->rank() <= data->rank();
    for (int a = 0; prefix && a < seg->rank(); ++a) prefix = seg->dims[a] == data->dims[a];
    if (!prefix) {
      return NodeError(node, "segment_ids ", DescribeTensor(*seg),
                       " must be integers shaped like a prefix of data ", DescribeTensor(*data));
    }
    const int64_t n = seg->NumElements();
    for (int64_t i = 0; i < n; ++i) {
      if (IntAt(*seg, i) >= num) {
        return NodeError(node, "segment_ids[", i, "] = ", IntAt(*seg, i),
                         " is out of range; expected < num_segments ", num);
      }
    }
    Dims out_dims{num};
    out_dims.insert(out_dims.end(), data->dims.begin() + seg->rank(), data->dims.end());
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, data->dtype, out_dims));
    const int64_t inner = Product(data->dims, seg->rank(), data->dims.size());
    return VisitNumeric(
        data->dtype,
        [&]<typename T>() {
          T* dst = out.data_as<T>();
          const T* src = data->data_as<T>();
          const int64_t total = out.NumElements();
          for (int64_t i = 0; i < total; ++i) dst[i] = T(0);
          for (int64_t i = 0; i < n; ++i) {
            const int64_t s = IntAt(*seg, i);
            if (s < 0) continue;
            for (int64_t e = 0; e < inner; ++e) {
              dst[s * inner + e] = WrappingAdd(dst[s * inner + e], src[i * inner + e]);
            }
          }
          return absl::OkStatus();
        },
        [&] { return NodeError(node, "data ", DescribeTensor(*data), " is not numeric"); });
  });
}

}  // namespace

absl::Status RegisterSparseKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Where", WhereCoordsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kOnnx, "NonZero", WhereCoordsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Unique", UniqueFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseFillEmptyRows", SparseFillEmptyRowsFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseReshape", SparseReshapeFactory));
  const std::pair<const char*, SegmentReduce> segment_ops[] = {
      {"SparseSegmentSum", SegmentReduce::kSum},
      {"SparseSegmentMean", SegmentReduce::kMean},
      {"SparseSegmentSqrtN", SegmentReduce::kSqrtN},
      {"SparseSegmentSumWithNumSegments", SegmentReduce::kSum},
      {"SparseSegmentMeanWithNumSegments", SegmentReduce::kMean},
      {"SparseSegmentSqrtNWithNumSegments", SegmentReduce::kSqrtN},
  };
  for (const auto& [op, kind] : segment_ops) {
    const SegmentReduce k = kind;
    RANKOPT_RETURN_IF_ERROR(
        Add(r, kTf, op, [k](const KernelBuildContext& b) { return SparseSegmentFactory(b, k); }));
  }
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "UnsortedSegmentSum", UnsortedSegmentSumFactory));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
