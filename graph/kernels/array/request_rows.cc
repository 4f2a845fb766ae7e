// The kernels at the boundary between request-level and candidate-level tensors (created by the
// O2 pass graph/passes/request_level.h):
//   _RankoptRequestRow(x) [attr columns]: x [N, ...] whose rows are all the same (one user per
//     request) -> row 0 as [1, ...] (or its `columns` as [1, |columns|] of a 2-D x). Every row
//     is checked against row 0, so a request with two users is an error, never a wrong score.
//   _RankoptBroadcastRows(r, like): r [1, ...] -> [like.dims[0], ...], row 0 repeated.
//   _RankoptSelectColumns(x) [attr columns]: x [N, C] -> [N, |columns|].
#include <cstring>
#include <vector>

#include "graph/exec/op_kernel.h"
#include "graph/kernels/array/array_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

// The `columns` attribute, checked against a 2-D input of `width` columns.
absl::Status CheckColumns(const Node& node, const std::vector<int64_t>& columns,
                          const TensorView& x) {
  if (x.rank() != 2) {
    return NodeError(node, "input is ", DescribeTensor(x),
                     ", expected a matrix [rows, columns] when `columns` is set");
  }
  for (int64_t c : columns) {
    if (c < 0 || c >= x.dims[1]) {
      return NodeError(node, "column ", c, " is out of range for input ", DescribeTensor(x));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestRow(const std::vector<int64_t>& columns, bool has_columns, KernelContext* ctx) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
  const size_t esize = DTypeSize(x->dtype);
  if (esize == 0) return NodeError(node, "input is ", DescribeTensor(*x), ", expected numbers");
  if (x->rank() < 1) return NodeError(node, "input is a scalar, expected rows");
  if (has_columns) RANKOPT_RETURN_IF_ERROR(CheckColumns(node, columns, *x));
  const int64_t rows = x->dims[0];
  const int64_t row_elems = rows == 0 ? 0 : x->NumElements() / rows;
  const size_t row_bytes = static_cast<size_t>(row_elems) * esize;
  const char* base = static_cast<const char*>(x->data);
  for (int64_t r = 1; r < rows; ++r) {
    const char* row = base + r * row_bytes;
    bool same = true;
    if (!has_columns) {
      same = std::memcmp(row, base, row_bytes) == 0;
    } else {
      for (int64_t c : columns) same &= std::memcmp(row + c * esize, base + c * esize, esize) == 0;
    }
    if (!same) {
      return NodeError(node, "row ", r, " of ", DescribeTensor(*x),
                       " differs from row 0, but this input is request-level (-O2 computes it "
                       "once per request): send one user per request, or run at -O1");
    }
  }
  Dims out_dims = x->dims;
  out_dims[0] = rows == 0 ? 0 : 1;
  if (has_columns) out_dims[1] = static_cast<int64_t>(columns.size());
  if (!has_columns && rows <= 1) return ctx->ForwardInput(0, 0, out_dims);
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x->dtype, out_dims));
  if (rows == 0) return absl::OkStatus();
  char* dst = static_cast<char*>(out.data);
  if (!has_columns) {
    std::memcpy(dst, base, row_bytes);
  } else {
    for (size_t i = 0; i < columns.size(); ++i) {
      std::memcpy(dst + i * esize, base + columns[i] * esize, esize);
    }
  }
  return absl::OkStatus();
}

absl::Status BroadcastRows(KernelContext* ctx) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 2, 2));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* r, RequiredInput(*ctx, 0));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* like, RequiredInput(*ctx, 1));
  const size_t esize = DTypeSize(r->dtype);
  if (esize == 0) return NodeError(node, "input is ", DescribeTensor(*r), ", expected numbers");
  if (r->rank() < 1 || r->dims[0] != 1) {
    return NodeError(node, "input is ", DescribeTensor(*r), ", expected one row [1, ...]");
  }
  if (like->rank() < 1) {
    return NodeError(node, "reference is ", DescribeTensor(*like), ", expected rows");
  }
  const int64_t rows = like->dims[0];
  Dims out_dims = r->dims;
  out_dims[0] = rows;
  if (rows == 1) return ctx->ForwardInput(0, 0, out_dims);
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, r->dtype, out_dims));
  const size_t row_bytes = r->ByteSize();
  char* dst = static_cast<char*>(out.data);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(dst + i * row_bytes, r->data, row_bytes);
  return absl::OkStatus();
}

absl::Status SelectColumns(const std::vector<int64_t>& columns, KernelContext* ctx) {
  const Node& node = ctx->node();
  RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
  const size_t esize = DTypeSize(x->dtype);
  if (esize == 0) return NodeError(node, "input is ", DescribeTensor(*x), ", expected numbers");
  RANKOPT_RETURN_IF_ERROR(CheckColumns(node, columns, *x));
  const int64_t rows = x->dims[0], width = x->dims[1];
  const int64_t out_width = static_cast<int64_t>(columns.size());
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x->dtype, Dims{rows, out_width}));
  const char* src = static_cast<const char*>(x->data);
  char* dst = static_cast<char*>(out.data);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < out_width; ++i) {
      std::memcpy(dst + (r * out_width + i) * esize, src + (r * width + columns[i]) * esize, esize);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OpKernel>> RequestRowFactory(const KernelBuildContext& build) {
  std::optional<std::vector<int64_t>> columns = AttrInts(*build.node, "columns");
  const bool has_columns = columns.has_value();
  return MakeKernel([cols = columns.value_or(std::vector<int64_t>{}), has_columns](
                        KernelContext* ctx) { return RequestRow(cols, has_columns, ctx); });
}

absl::StatusOr<std::unique_ptr<OpKernel>> BroadcastRowsFactory(const KernelBuildContext&) {
  return MakeKernel(BroadcastRows);
}

absl::StatusOr<std::unique_ptr<OpKernel>> SelectColumnsFactory(const KernelBuildContext& build) {
  std::optional<std::vector<int64_t>> columns = AttrInts(*build.node, "columns");
  if (!columns.has_value()) {
    return NodeError(*build.node, "the `columns` attribute (a list of column indices) is missing");
  }
  return MakeKernel([cols = *columns](KernelContext* ctx) { return SelectColumns(cols, ctx); });
}

}  // namespace

}  // namespace array_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// The request-level boundary ops (graph/passes/request_level.h): _RankoptRequestRow x [N, ...]
// -> [1, ...] (with `columns`: [1, |columns|]); _RankoptBroadcastRows r [1, ...], like [M, ...]
// -> [M, ...]; _RankoptSelectColumns x [N, C] -> [N, |columns|].
void RequestRowsShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor x = ctx->In(n, 0);
  const auto* columns = n.attrs.Get<std::vector<int64_t>>("columns");
  if (!x.shape.known_rank() || x.shape.rank() < 1 || (columns != nullptr && x.shape.rank() != 2)) {
    ctx->Set(n, 0, x.dtype, Shape());
    return;
  }
  Dims out = x.shape.dims();
  if (columns != nullptr) out[1] = static_cast<int64_t>(columns->size());
  if (n.op == "_RankoptRequestRow") {
    out[0] = x.shape.dim(0) == 0 ? 0 : 1;
  } else if (n.op == "_RankoptBroadcastRows") {
    const Shape like = ctx->In(n, 1).shape;
    out[0] = like.known_rank() && like.rank() >= 1 ? like.dim(0) : kUnknownDim;
  }
  ctx->Set(n, 0, x.dtype, Shape(std::move(out)));
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterRequestRowKernels(KernelRegistry* registry) {
  for (const char* op : {"_RankoptRequestRow", "_RankoptBroadcastRows", "_RankoptSelectColumns"}) {
    RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo(op, {shape_fn::RequestRowsShape, nullptr}));
  }
  for (OpSet set : {OpSet::kTensorFlow, OpSet::kOnnx}) {
    RANKOPT_RETURN_IF_ERROR(Add(registry, set, "_RankoptRequestRow", RequestRowFactory));
    RANKOPT_RETURN_IF_ERROR(Add(registry, set, "_RankoptBroadcastRows", BroadcastRowsFactory));
    RANKOPT_RETURN_IF_ERROR(Add(registry, set, "_RankoptSelectColumns", SelectColumnsFactory));
  }
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
