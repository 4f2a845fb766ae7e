// _RankoptMultiLookup (embedding_kernels.h): the rows of several tables, concatenated per id.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "embedding/kernels/lookup.h"
#include "embedding/table_view.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

struct Field {
  Tensor storage;  // keeps view.data alive
  TableView view;
  int64_t offset = 0;  // first column of its rows in the output row
};

std::string Describe(const Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.dims(), ","), "] ", DTypeName(t.dtype()));
}

absl::Status NodeError(const Node& node, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(kMultiLookupOp, " node '", node.name, "': ", what));
}

class MultiLookupKernel : public OpKernel {
 public:
  MultiLookupKernel(std::vector<Field> fields, int64_t width, std::vector<int64_t> out_dims,
                    bool wrap)
      : fields_(std::move(fields)), width_(width), out_dims_(std::move(out_dims)), wrap_(wrap) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    const size_t count = fields_.size();
    if (ctx->num_inputs() != static_cast<int>(2 * count)) {
      return NodeError(node, absl::StrCat("has ", ctx->num_inputs(), " inputs, expected ",
                                          2 * count, " (table, ids per field)"));
    }
    int64_t n = -1;
    for (size_t f = 0; f < count; ++f) {
      const TensorView& ids = ctx->input(static_cast<int>(2 * f + 1));
      if (ids.dtype != DType::kInt64 && ids.dtype != DType::kInt32) {
        return NodeError(node, absl::StrCat("ids of field ", f, " (input ", 2 * f + 1, ") are ",
                                            DescribeTensor(ids), "; expected int32 or int64"));
      }
      if (n < 0) n = ids.NumElements();
      if (ids.NumElements() != n) {
        return NodeError(node, absl::StrCat("ids of field ", f, " are ", DescribeTensor(ids), ": ",
                                            ids.NumElements(), " ids, but field 0 has ", n,
                                            "; every field needs one id per output row"));
      }
    }
    // The output: out_dims_ with its one unknown dim (if any) making n * width_ elements.
    Dims dims(out_dims_.begin(), out_dims_.end());
    int64_t known = 1;
    int unknown = -1;
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] < 0) {
        unknown = static_cast<int>(d);
      } else {
        known *= dims[d];
      }
    }
    const int64_t total = n * width_;
    if (unknown >= 0 && known > 0 && total % known == 0) dims[unknown] = total / known;
    int64_t product = 1;
    for (int64_t d : dims) product *= d;
    if (product != total || (unknown >= 0 && known == 0 && total != 0)) {
      return NodeError(node,
                       absl::StrCat(n, " ids of ", width_, " values each do not fill the output [",
                                    absl::StrJoin(out_dims_, ","), "]"));
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, dims));
    float* y = out.data_as<float>();
    for (size_t f = 0; f < count; ++f) {
      const Field& field = fields_[f];
      const TensorView& ids = ctx->input(static_cast<int>(2 * f + 1));
      const int64_t rows = field.view.rows, dim = field.view.dim;
      const bool fp32 = field.view.dtype == TableDType::kFloat32;
      for (int64_t o = 0; o < n; ++o) {
        int64_t id =
            ids.dtype == DType::kInt64 ? ids.data_as<int64_t>()[o] : ids.data_as<int32_t>()[o];
        if (wrap_ && id < 0 && id >= -rows) id += rows;
        if (id < 0 || id >= rows) {
          return absl::OutOfRangeError(
              absl::StrCat(kMultiLookupOp, " node '", node.name, "': id ", id, " of field ", f,
                           " at position ", o, " is outside the table's rows [0, ", rows, ")"));
        }
        float* dst = y + o * width_ + field.offset;
        if (fp32) {
          std::memcpy(dst, field.view.Row(id), static_cast<size_t>(dim) * sizeof(float));
        } else if (!Gather(field.view, absl::Span<const int64_t>(&id, 1), dst)) {
          return absl::InternalError(absl::StrCat(kMultiLookupOp, " node '", node.name,
                                                  "': the lookup of field ", f, " failed"));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Field> fields_;
  int64_t width_;
  std::vector<int64_t> out_dims_;
  bool wrap_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeMultiLookup(const KernelBuildContext& build) {
  const Node& node = *build.node;
  const size_t inputs = build.constant_inputs.size();
  if (inputs < 2 || inputs % 2 != 0) {
    return NodeError(
        node, absl::StrCat("has ", inputs, " inputs; expected (table, ids) pairs, at least one"));
  }
  const size_t count = inputs / 2;
  const std::vector<int64_t>* out_dims = node.attrs.Get<std::vector<int64_t>>("out_dims");
  if (out_dims == nullptr) return NodeError(node, "attr 'out_dims' (list of ints) is missing");
  int unknown = 0;
  bool negative = false;
  for (int64_t d : *out_dims) {
    unknown += d == -1;
    negative |= d < -1;
  }
  if (unknown > 1 || negative) {
    return NodeError(node, absl::StrCat("attr 'out_dims' [", absl::StrJoin(*out_dims, ","),
                                        "] may hold one -1 (the row count), no other negative"));
  }
  const auto* dtypes = node.attrs.Get<std::vector<std::string>>("table_dtypes");
  const auto* dims = node.attrs.Get<std::vector<int64_t>>("table_dims");
  if ((dtypes != nullptr && dtypes->size() != count) ||
      (dims != nullptr && dims->size() != count)) {
    return NodeError(node, absl::StrCat("attrs 'table_dtypes' / 'table_dims' need one entry per "
                                        "field (",
                                        count, ")"));
  }
  std::vector<Field> fields(count);
  int64_t width = 0;
  for (size_t f = 0; f < count; ++f) {
    const Tensor* table = build.constant_inputs[2 * f];
    const std::string dtype_name = dtypes == nullptr ? "fp32" : (*dtypes)[f];
    Field& field = fields[f];
    if (dtype_name == "fp32") {
      if (table == nullptr || table->dtype() != DType::kFloat32 || table->dims().size() != 2) {
        return NodeError(node,
                         absl::StrCat("input ", 2 * f,
                                      " must be a constant [rows, dim] "
                                      "float32 table, it is ",
                                      table == nullptr ? "not a constant" : Describe(*table)));
      }
      field.view.dtype = TableDType::kFloat32;
      field.view.dim = table->dims()[1];
      field.view.row_bytes = RowBytes(TableDType::kFloat32, field.view.dim);
    } else if (dtype_name == "int8" || dtype_name == "fp16") {
      const TableDType dtype =
          dtype_name == "int8" ? TableDType::kInt8RowWise : TableDType::kFloat16;
      const int64_t dim = dims == nullptr ? 0 : (*dims)[f];
      if (table == nullptr || table->dtype() != DType::kUInt8 || table->dims().size() != 2 ||
          dim < 1 || dim > table->dims()[1] ||
          RowBytes(dtype, dim) != static_cast<size_t>(table->dims()[1])) {
        return NodeError(node,
                         absl::StrCat("field ", f, " is a ", dtype_name, " table of dim ", dim,
                                      ", so input ", 2 * f, " must be a constant [rows, ",
                                      RowBytes(dtype, dim), "] uint8; it is ",
                                      table == nullptr ? "not a constant" : Describe(*table)));
      }
      field.view.dtype = dtype;
      field.view.dim = dim;
      field.view.row_bytes = static_cast<size_t>(table->dims()[1]);
    } else {
      return NodeError(node, absl::StrCat("table_dtypes[", f, "] is '", dtype_name,
                                          "'; expected fp32, fp16 or int8"));
    }
    field.view.rows = table->dims()[0];
    field.storage = *table;
    field.view.data = reinterpret_cast<const uint8_t*>(field.storage.bytes().data());
    field.offset = width;
    width += field.view.dim;
  }
  const bool* wrap = node.attrs.Get<bool>("wrap_negative_ids");
  return std::unique_ptr<OpKernel>(std::make_unique<MultiLookupKernel>(
      std::move(fields), width, *out_dims, wrap != nullptr && *wrap));
}

// out_dims with the -1 resolved from field 0's id count when it is known.
void MultiLookupShape(const Node& n, ShapeContext* ctx) {
  const std::vector<int64_t>* out_dims = n.attrs.Get<std::vector<int64_t>>("out_dims");
  if (out_dims == nullptr || n.inputs.size() < 2) {
    ctx->Set(n, 0, DType::kFloat32, Shape());
    return;
  }
  std::vector<int64_t> dims = *out_dims;
  const Shape ids = ctx->In(n, 1).shape;
  int64_t count = ids.known_rank() ? 1 : -1;
  for (int i = 0; ids.known_rank() && i < ids.rank(); ++i) {
    count = ids.dim(i) < 0 || count < 0 ? -1 : count * ids.dim(i);
  }
  int64_t width = 0;
  for (size_t f = 0; 2 * f < n.inputs.size(); ++f) {
    const Shape t = ctx->In(n, static_cast<int>(2 * f)).shape;
    const std::vector<int64_t>* tdims = n.attrs.Get<std::vector<int64_t>>("table_dims");
    if (tdims != nullptr && f < tdims->size()) {
      width += (*tdims)[f];
    } else if (t.known_rank() && t.rank() == 2 && t.dim(1) >= 0) {
      width += t.dim(1);
    } else {
      width = -1;
      break;
    }
  }
  int64_t known = 1;
  for (int64_t d : dims) known *= d < 0 ? 1 : d;
  for (int64_t& d : dims) {
    if (d >= 0) continue;
    d = count >= 0 && width >= 0 && known > 0 ? count * width / known : Shape::kUnknownDim;
  }
  ctx->Set(n, 0, DType::kFloat32, Shape(std::move(dims)));
}

}  // namespace

absl::Status RegisterMultiLookupKernel(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(
      registry->RegisterOpInfo(std::string(kMultiLookupOp), {MultiLookupShape, nullptr}));
  for (OpSet set : {OpSet::kOnnx, OpSet::kTensorFlow}) {
    RANKOPT_RETURN_IF_ERROR(registry->Register(set, std::string(kMultiLookupOp), MakeMultiLookup));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
