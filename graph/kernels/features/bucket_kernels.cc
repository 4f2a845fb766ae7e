// Bucketing, densifying and crossing, per TensorFlow's kernels:
//   Bucketize(input; boundaries): int32 bucket = #boundaries <= x (std::upper_bound, comparing
//     in the usual C++ promotion of the input type with float, as TF does).
//   BoostedTreesBucketize(float_values[N], bucket_boundaries[N]; num_features): per feature,
//     int32 bucket = std::lower_bound index, the last boundary's for values past it; 0 when a
//     feature has no boundaries.
//   SparseToDense(indices, output_shape, values, default_value): dense tensor of default_value
//     with the listed positions set; an index out of range is an error.
//   SparseCross / SparseCrossHashed / SparseCrossV2: the cartesian product, per batch row, of the
//     sparse inputs' row values then the dense inputs' row values (the last input varying
//     fastest). Hashed: FingerprintCat64 folded from hash_key (SparseCrossHashed: from the first
//     value's hash) over each value's hash (int64 values as themselves, strings Fingerprint64),
//     modulo num_buckets (or INT64_MAX when 0).
//     Not hashed: values joined with "_X_" (int64 as decimal; V2: the `sep` input).
//   ReverseV2 and IsNan, which tf.Transform's bucketize and z-score graphs use.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "features/transforms/hashing.h"
#include "graph/kernels/array/array_util.h"
#include "graph/kernels/features/feature_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace feature_internal {
namespace {

using array_internal::Add;
using array_internal::AttrInt;
using array_internal::CheckNumInputs;
using array_internal::IntAt;
using array_internal::IsIntegerDType;
using array_internal::MakeKernel;
using array_internal::RequiredInput;
using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

template <typename T>
void BucketizeAll(const T* x, int64_t n, const std::vector<float>& b, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<int32_t>(std::upper_bound(b.begin(), b.end(), x[i]) - b.begin());
  }
}

Factory BucketizeFactory(const KernelBuildContext& b) {
  const auto* boundaries = b.node->attrs.Get<std::vector<float>>("boundaries");
  if (boundaries == nullptr) {
    return NodeError(*b.node, "has no 'boundaries' attribute (a list of floats)");
  }
  if (!std::is_sorted(boundaries->begin(), boundaries->end())) {
    return NodeError(*b.node, "boundaries are not sorted");
  }
  const std::vector<float> bounds = *boundaries;
  return MakeKernel([bounds](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kInt32, x->dims));
    const int64_t n = x->NumElements();
    int32_t* dst = out.data_as<int32_t>();
    switch (x->dtype) {
      case DType::kFloat32:
        BucketizeAll(x->data_as<const float>(), n, bounds, dst);
        break;
      case DType::kFloat64:
        BucketizeAll(x->data_as<const double>(), n, bounds, dst);
        break;
      case DType::kInt32:
        BucketizeAll(x->data_as<const int32_t>(), n, bounds, dst);
        break;
      case DType::kInt64:
        BucketizeAll(x->data_as<const int64_t>(), n, bounds, dst);
        break;
      default:
        return NodeError(ctx->node(), "input is ", DescribeTensor(*x),
                         "; expected float, double, int32 or int64");
    }
    return absl::OkStatus();
  });
}

Factory BoostedTreesBucketizeFactory(const KernelBuildContext& b) {
  const int64_t features = AttrInt(*b.node, "num_features", -1);
  if (features < 0 || static_cast<size_t>(features) * 2 != b.node->inputs.size()) {
    return NodeError(*b.node, "num_features ", features, " does not match its ",
                     b.node->inputs.size(), " inputs (expected 2 * num_features)");
  }
  return MakeKernel([features](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2 * features, 2 * features));
    for (int64_t f = 0; f < features; ++f) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, f));
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* bounds, RequiredInput(*ctx, features + f));
      if (x->dtype != DType::kFloat32 || bounds->dtype != DType::kFloat32 || bounds->rank() != 1) {
        return NodeError(node, "feature ", f, ": values ", DescribeTensor(*x), ", boundaries ",
                         DescribeTensor(*bounds), "; expected float values and 1-D boundaries");
      }
      const int64_t n = x->rank() == 0 ? 1 : x->dims[0];
      if (x->NumElements() != n) {
        return NodeError(node, "feature ", f, ": values ", DescribeTensor(*x),
                         " must be 1-D (one value per example)");
      }
      const int64_t dims[1] = {n};
      RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                               ctx->AllocateOutput(static_cast<int>(f), DType::kInt32, dims));
      const float* begin = bounds->data_as<const float>();
      const float* end = begin + bounds->NumElements();
      const float* v = x->data_as<const float>();
      int32_t* dst = out.data_as<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        if (begin == end) {
          dst[i] = 0;
          continue;
        }
        const float* it = std::lower_bound(begin, end, v[i]);
        if (it == end) --it;
        dst[i] = static_cast<int32_t>(it - begin);
      }
    }
    return absl::OkStatus();
  });
}

Factory SparseToDenseFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 4, 4));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* indices, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* shape, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* values, RequiredInput(*ctx, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* dflt, RequiredInput(*ctx, 3));
    if (!IsIntegerDType(indices->dtype) || !IsIntegerDType(shape->dtype) || indices->rank() > 2 ||
        shape->rank() > 1) {
      return NodeError(node, "sparse_indices ", DescribeTensor(*indices), " and output_shape ",
                       DescribeTensor(*shape), " must be integer tensors of rank <= 2 and <= 1");
    }
    const int64_t rank = shape->NumElements();
    const int64_t n = indices->rank() == 0 ? 1 : indices->dims[0];
    const int64_t index_width = indices->rank() == 2 ? indices->dims[1] : 1;
    if (index_width != rank && !(indices->rank() < 2 && rank == 1)) {
      return NodeError(node, "sparse_indices ", DescribeTensor(*indices), " do not match ",
                       "output_shape of ", rank, " dims");
    }
    if (values->dtype != dflt->dtype || dflt->NumElements() != 1 ||
        (values->NumElements() != n && values->NumElements() != 1)) {
      return NodeError(node, "sparse_values ", DescribeTensor(*values), " and default_value ",
                       DescribeTensor(*dflt), " must share a dtype; values: one per index or ",
                       "a scalar, default: a scalar");
    }
    Dims dims;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t v = IntAt(*shape, d);
      if (v < 0) return NodeError(node, "output_shape[", d, "] = ", v, " is negative");
      dims.push_back(v);
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, values->dtype, dims));
    const size_t esize = ExecElementSize(values->dtype);
    char* dst = static_cast<char*>(out.data);
    const int64_t total = out.NumElements();
    for (int64_t i = 0; i < total; ++i) std::memcpy(dst + i * esize, dflt->data, esize);
    const Dims strides = array_internal::ElementStrides(dims);
    const char* src = static_cast<const char*>(values->data);
    for (int64_t i = 0; i < n; ++i) {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d) {
        const int64_t c = IntAt(*indices, i * index_width + d);
        if (c < 0 || c >= dims[d]) {
          return NodeError(node, "sparse_indices[", i, "] = ", c, " in dim ", d,
                           " is out of range for output_shape ", DimsString(dims));
        }
        offset += c * strides[d];
      }
      std::memcpy(dst + offset * esize, src + (values->NumElements() == 1 ? 0 : i * esize), esize);
    }
    return absl::OkStatus();
  });
}

// One input of a cross: its values per batch row.
struct CrossColumn {
  const TensorView* values = nullptr;
  std::vector<int64_t> start, count;  // per row (sparse); dense rows are contiguous
  int64_t width = 0;                  // dense: values per row
  bool dense = false;
  int64_t Count(int64_t row) const { return dense ? width : count[row]; }
  int64_t Index(int64_t row, int64_t k) const { return dense ? row * width + k : start[row] + k; }
};

enum class CrossKind { kStrings, kHashed, kHashedV2 };

Factory SparseCrossFactory(const KernelBuildContext& b, CrossKind kind) {
  const Node& node = *b.node;
  const int64_t num_sparse = AttrInt(node, "N", -1);
  const auto* dense_types = node.attrs.Get<std::vector<DType>>("dense_types");
  const int64_t num_dense = dense_types != nullptr ? static_cast<int64_t>(dense_types->size()) : 0;
  bool hashed = kind != CrossKind::kStrings;
  if (node.op == "SparseCross") hashed = AttrInt(node, "hashed_output", 0) != 0;
  const int64_t extra = node.op == "SparseCross" ? 0 : node.op == "SparseCrossV2" ? 1 : 3;
  if (num_sparse < 0 ||
      static_cast<int64_t>(node.inputs.size()) != 3 * num_sparse + num_dense + extra) {
    return NodeError(node, "has ", node.inputs.size(), " inputs; expected 3 * N (", num_sparse,
                     ") + dense inputs (", num_dense, ") + ", extra);
  }
  const int64_t attr_buckets = AttrInt(node, "num_buckets", 0);
  const uint64_t attr_key = static_cast<uint64_t>(AttrInt(node, "hash_key", 0));
  const std::string op = node.op;
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    const Node& n = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, ctx->num_inputs(), -1));
    int64_t batch = -1;
    std::vector<CrossColumn> columns;
    for (int64_t i = 0; i < num_sparse; ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* idx, RequiredInput(*ctx, i));
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* vals, RequiredInput(*ctx, num_sparse + i));
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* shp, RequiredInput(*ctx, 2 * num_sparse + i));
      if (idx->dtype != DType::kInt64 || idx->rank() != 2 || idx->dims[1] != 2 ||
          vals->rank() != 1 || vals->dims[0] != idx->dims[0] || shp->dtype != DType::kInt64 ||
          shp->NumElements() != 2) {
        return NodeError(n, "sparse input ", i, ": indices ", DescribeTensor(*idx), ", values ",
                         DescribeTensor(*vals), ", shape ", DescribeTensor(*shp),
                         "; expected int64 [n,2], [n] and int64 [2]");
      }
      if (vals->dtype != DType::kInt64 && vals->dtype != DType::kString) {
        return NodeError(n, "sparse input ", i, " values are ", DescribeTensor(*vals),
                         "; expected int64 or string");
      }
      const int64_t rows = shp->data_as<const int64_t>()[0];
      if (rows < 0 || (batch >= 0 && rows != batch)) {
        return NodeError(n, "sparse input ", i, " has ", rows, " rows; expected ", batch);
      }
      batch = rows;
      CrossColumn c;
      c.values = vals;
      c.start.assign(static_cast<size_t>(rows), 0);
      c.count.assign(static_cast<size_t>(rows), 0);
      const int64_t* ip = idx->data_as<const int64_t>();
      int64_t last = -1;
      for (int64_t k = 0; k < idx->dims[0]; ++k) {
        const int64_t row = ip[2 * k];
        if (row < 0 || row >= rows || row < last) {
          return NodeError(n, "sparse input ", i, " index ", k, " has row ", row,
                           "; expected rows in order within [0, ", rows, ")");
        }
        if (row != last) c.start[row] = k;
        ++c.count[row];
        last = row;
      }
      columns.push_back(std::move(c));
    }
    for (int64_t i = 0; i < num_dense; ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* d, RequiredInput(*ctx, 3 * num_sparse + i));
      if (d->rank() != 2 || (d->dtype != DType::kInt64 && d->dtype != DType::kString)) {
        return NodeError(n, "dense input ", i, " is ", DescribeTensor(*d),
                         "; expected an int64 or string matrix");
      }
      if (batch >= 0 && d->dims[0] != batch) {
        return NodeError(n, "dense input ", i, " has ", d->dims[0], " rows; expected ", batch);
      }
      batch = d->dims[0];
      CrossColumn c;
      c.values = d;
      c.dense = true;
      c.width = d->dims[1];
      columns.push_back(std::move(c));
    }
    if (batch < 0) batch = 0;
    int64_t num_buckets = attr_buckets;
    uint64_t hash_key = attr_key;
    std::string sep = "_X_";
    const int base = static_cast<int>(3 * num_sparse + num_dense);
    if (op == "SparseCrossHashed") {
      RANKOPT_ASSIGN_OR_RETURN(num_buckets,
                               array_internal::ReadIntScalar(*ctx, base, "num_buckets"));
      RANKOPT_ASSIGN_OR_RETURN(const int64_t strong,
                               array_internal::ReadIntScalar(*ctx, base + 1, "strong_hash"));
      if (strong != 0) {
        return NodeError(n, "strong_hash (SipHash) is not supported; only FingerprintCat64");
      }
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* salt, RequiredInput(*ctx, base + 2));
      (void)salt;  // only read by the strong (SipHash) variant
    } else if (op == "SparseCrossV2") {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* s, RequiredInput(*ctx, base));
      if (s->dtype != DType::kString || s->NumElements() != 1) {
        return NodeError(n, "sep is ", DescribeTensor(*s), "; expected a string scalar");
      }
      sep = std::string(s->strings()[0]);
    }
    const bool v2_hash = op == "SparseCrossHashed";
    if (num_buckets < 0) return NodeError(n, "num_buckets ", num_buckets, " is negative");
    // Output row sizes: the product of the columns' counts (0 when any is empty).
    std::vector<int64_t> row_count(static_cast<size_t>(batch), 0);
    int64_t total = 0, widest = 0;
    for (int64_t r = 0; r < batch; ++r) {
      int64_t p = columns.empty() ? 0 : 1;
      for (const CrossColumn& c : columns) {
        const int64_t k = c.Count(r);
        if (k != 0 && p > (int64_t{1} << 40) / k) {
          return NodeError(n, "row ", r, " crosses into too many values");
        }
        p *= k;
      }
      row_count[r] = p;
      total += p;
      widest = std::max(widest, p);
      if (total > (int64_t{1} << 40)) return NodeError(n, "the cross has too many values");
    }
    const int64_t idx_dims[2] = {total, 2};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_idx, ctx->AllocateOutput(0, DType::kInt64, idx_dims));
    const int64_t shape_dims[1] = {2};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out_shape,
                             ctx->AllocateOutput(2, DType::kInt64, shape_dims));
    out_shape.data_as<int64_t>()[0] = batch;
    out_shape.data_as<int64_t>()[1] = widest;
    const int64_t val_dims[1] = {total};
    TensorView out_vals;
    if (hashed) {
      RANKOPT_ASSIGN_OR_RETURN(out_vals, ctx->AllocateOutput(1, DType::kInt64, val_dims));
    }
    std::vector<std::string> strings;
    int64_t at = 0;
    std::vector<int64_t> perm(columns.size());
    for (int64_t r = 0; r < batch; ++r) {
      if (row_count[r] == 0) continue;
      std::fill(perm.begin(), perm.end(), 0);
      for (int64_t k = 0; k < row_count[r]; ++k, ++at) {
        out_idx.data_as<int64_t>()[2 * at] = r;
        out_idx.data_as<int64_t>()[2 * at + 1] = k;
        if (hashed) {
          uint64_t h = hash_key;
          for (size_t c = 0; c < columns.size(); ++c) {
            const TensorView& v = *columns[c].values;
            const int64_t e = columns[c].Index(r, perm[c]);
            const uint64_t f = v.dtype == DType::kString
                                   ? TfFingerprint64(v.strings()[e])
                                   : static_cast<uint64_t>(v.data_as<const int64_t>()[e]);
            // SparseCrossHashed (HashCrosserV2) starts from the first value, not hash_key.
            h = c == 0 && v2_hash ? f : FingerprintCat64(h, f);
          }
          out_vals.data_as<int64_t>()[at] = static_cast<int64_t>(
              num_buckets > 0 ? h % static_cast<uint64_t>(num_buckets)
                              : h % static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
        } else {
          std::string s;
          for (size_t c = 0; c < columns.size(); ++c) {
            const TensorView& v = *columns[c].values;
            const int64_t e = columns[c].Index(r, perm[c]);
            if (c > 0) s += sep;
            if (v.dtype == DType::kString) {
              absl::StrAppend(&s, v.strings()[e]);
            } else {
              absl::StrAppend(&s, v.data_as<const int64_t>()[e]);
            }
          }
          strings.push_back(std::move(s));
        }
        for (int64_t c = static_cast<int64_t>(columns.size()) - 1; c >= 0; --c) {
          if (++perm[c] < columns[c].Count(r)) break;
          perm[c] = 0;
        }
      }
    }
    if (!hashed) return OutputStrings(ctx, 1, val_dims, strings);
    return absl::OkStatus();
  });
}

// tf.Transform's bucketize builds its boundaries with these two:
// ReverseV2(tensor, axis): the elements reversed along each listed axis (any dtype).
Factory ReverseFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    Dims axes;
    RANKOPT_RETURN_IF_ERROR(array_internal::ReadIntVector(*ctx, 1, "axis", &axes));
    std::vector<bool> flip(static_cast<size_t>(x->rank()), false);
    for (int64_t a : axes) {
      RANKOPT_ASSIGN_OR_RETURN(const int64_t axis,
                               array_internal::NormalizeAxis(node, a, x->rank(), "axis"));
      flip[axis] = true;
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x->dtype, x->dims));
    const size_t esize = ExecElementSize(x->dtype);
    const Dims strides = array_internal::ElementStrides(x->dims);
    const int64_t n = x->NumElements();
    const char* src = static_cast<const char*>(x->data);
    char* dst = static_cast<char*>(out.data);
    for (int64_t i = 0; i < n; ++i) {
      int64_t from = 0;
      for (int d = 0; d < x->rank(); ++d) {
        int64_t c = (i / strides[d]) % x->dims[d];
        if (flip[d]) c = x->dims[d] - 1 - c;
        from += c * strides[d];
      }
      std::memcpy(dst + i * esize, src + from * esize, esize);
    }
    return absl::OkStatus();
  });
}

// IsNan(x): bool, per element, for float32/float64.
Factory IsNanFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kBool, x->dims));
    const int64_t n = x->NumElements();
    bool* dst = out.data_as<bool>();
    if (x->dtype == DType::kFloat32) {
      for (int64_t i = 0; i < n; ++i) dst[i] = std::isnan(x->data_as<const float>()[i]);
    } else if (x->dtype == DType::kFloat64) {
      for (int64_t i = 0; i < n; ++i) dst[i] = std::isnan(x->data_as<const double>()[i]);
    } else {
      return NodeError(ctx->node(), "x is ", DescribeTensor(*x), "; expected float or double");
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status RegisterBucketKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Bucketize", BucketizeFactory));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(
      "Bucketize",
      {[](const Node& n, ShapeContext* ctx) { ctx->Set(n, 0, DType::kInt32, ctx->In(n, 0).shape); },
       flops::Elementwise}));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "BoostedTreesBucketize", BoostedTreesBucketizeFactory));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("BoostedTreesBucketize", {[](const Node& n, ShapeContext* ctx) {
                                                    const size_t features = n.inputs.size() / 2;
                                                    for (size_t f = 0; f < features; ++f) {
                                                      ctx->Set(n, static_cast<int>(f),
                                                               DType::kInt32, ctx->In(n, f).shape);
                                                    }
                                                  },
                                                  flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseToDense", SparseToDenseFactory));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("SparseToDense", {[](const Node& n, ShapeContext* ctx) {
                                                                ctx->Set(n, 0, ctx->InDType(n, 2),
                                                                         ctx->ShapeFromValue(n, 1));
                                                              },
                                                              flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseCross", [](const KernelBuildContext& b) {
    return SparseCrossFactory(b, CrossKind::kStrings);
  }));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseCrossV2", [](const KernelBuildContext& b) {
    return SparseCrossFactory(b, CrossKind::kStrings);
  }));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "SparseCrossHashed", [](const KernelBuildContext& b) {
    return SparseCrossFactory(b, CrossKind::kHashedV2);
  }));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ReverseV2", ReverseFactory));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("ReverseV2", {[](const Node& n, ShapeContext* ctx) {
                                                            ctx->Set(n, 0, ctx->InDType(n, 0),
                                                                     ctx->In(n, 0).shape);
                                                          },
                                                          flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "IsNan", IsNanFactory));
  for (const char* op : {"SparseCross", "SparseCrossV2", "SparseCrossHashed"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {nullptr, flops::DataMovement}));
  }
  return absl::OkStatus();
}

}  // namespace feature_internal
}  // namespace rankopt
