#include "graph/kernels/embedding/embedding_kernels.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "embedding/kernels/lookup.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kTableDTypeAttr = kEmbeddingTableDTypeAttr;
constexpr absl::string_view kTableDimAttr = kEmbeddingTableDimAttr;

// "[2,50] uint8", as DescribeTensor writes a view.
std::string DescribeConstant(const Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.dims(), ","), "] ", DTypeName(t.dtype()));
}

// A table a kernel serves: the constant's storage (kept alive) and embedding/'s view of it.
struct ServedTable {
  Tensor storage;
  TableView view;
};

// The storage type `attr` names; fp32 when absent.
absl::StatusOr<TableDType> TableDTypeOf(const Node& node) {
  const AttrValue* attr = node.attrs.Find(kTableDTypeAttr);
  if (attr == nullptr) return TableDType::kFloat32;
  const std::string* name = std::get_if<std::string>(attr);
  if (name != nullptr && *name == "fp32") return TableDType::kFloat32;
  if (name != nullptr && *name == "fp16") return TableDType::kFloat16;
  if (name != nullptr && *name == "int8") return TableDType::kInt8RowWise;
  return absl::InvalidArgumentError(
      absl::StrCat("attr '", kTableDTypeAttr, "' is ",
                   name == nullptr ? "not a string" : absl::StrCat("'", *name, "'"),
                   "; expected \"int8\" (row-wise), \"fp16\" or \"fp32\" (or no attr: fp32)"));
}

// The table every embedding kernel reads: constant input 0, either [rows, dim] float32, or, with
// attrs table_dtype ("int8" / "fp16") and table_dim, [rows, row_bytes] uint8 rows in embedding/'s
// layout (embedding/table_view.h) with row_bytes == RowBytes(table_dtype, table_dim). Checked
// here, once, so that no lookup can read past a row.
absl::StatusOr<ServedTable> ConstantTable(const KernelBuildContext& build, absl::string_view pass) {
  RANKOPT_ASSIGN_OR_RETURN(TableDType dtype, TableDTypeOf(*build.node));
  const Tensor* table = build.constant_inputs.empty() ? nullptr : build.constant_inputs[0];
  const int64_t* dim_attr = build.node->attrs.Get<int64_t>(kTableDimAttr);
  if (build.node->attrs.Find(kTableDimAttr) != nullptr && dim_attr == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr '", kTableDimAttr, "' is not an integer; expected the table's dim"));
  }
  ServedTable served;
  if (dtype == TableDType::kFloat32) {
    if (table == nullptr || table->dtype() != DType::kFloat32 || table->dims().size() != 2) {
      const bool quantized_storage = table != nullptr && table->dtype() == DType::kUInt8;
      return absl::InvalidArgumentError(
          absl::StrCat("input 0 must be a constant [rows, dim] float32 table (the ", pass,
                       " pass only rewrites Gathers of such constants)",
                       quantized_storage
                           ? absl::StrCat("; it is ", DescribeConstant(*table),
                                          ": a quantized table also needs attrs '", kTableDTypeAttr,
                                          "' (\"int8\" or \"fp16\") and '", kTableDimAttr, "'")
                           : ""));
    }
    if (dim_attr != nullptr && *dim_attr != table->dims()[1]) {
      return absl::InvalidArgumentError(absl::StrCat("attr '", kTableDimAttr, "' is ", *dim_attr,
                                                     " but the float32 table is ",
                                                     DescribeConstant(*table)));
    }
    served.view.dtype = dtype;
    served.view.rows = table->dims()[0];
    served.view.dim = table->dims()[1];
    served.view.row_bytes = RowBytes(dtype, served.view.dim);
  } else {
    const absl::string_view name = dtype == TableDType::kInt8RowWise ? "int8" : "fp16";
    if (table == nullptr || table->dtype() != DType::kUInt8 || table->dims().size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attr '", kTableDTypeAttr, "' is \"", name,
          "\", so input 0 must be a constant [rows, row_bytes] uint8 tensor of ", name,
          " rows; it is ", table == nullptr ? "not a constant" : DescribeConstant(*table)));
    }
    const int64_t row_bytes = table->dims()[1];
    if (dim_attr == nullptr || *dim_attr < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr '", kTableDimAttr, "' is ",
                       dim_attr == nullptr ? "missing" : absl::StrCat(*dim_attr),
                       "; a quantized table needs its dim (>= 1) to find the values in its ",
                       row_bytes, "-byte rows"));
    }
    const int64_t dim = *dim_attr;
    // dim <= row_bytes first, so RowBytes cannot overflow.
    if (dim > row_bytes || RowBytes(dtype, dim) != static_cast<size_t>(row_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", name, " table ", DescribeConstant(*table), " has ", row_bytes,
          "-byte rows but attr '", kTableDimAttr, "' = ", dim, " needs ",
          dim > row_bytes ? absl::StrCat("more than ", row_bytes)
                          : absl::StrCat(RowBytes(dtype, dim)),
          dtype == TableDType::kInt8RowWise ? " (dim codes, then a float scale and bias)"
                                            : " (2 bytes per value)"));
    }
    served.view.dtype = dtype;
    served.view.rows = table->dims()[0];
    served.view.dim = dim;
    served.view.row_bytes = static_cast<size_t>(row_bytes);
  }
  served.storage = *table;  // shares the constant's bytes
  served.view.data = reinterpret_cast<const uint8_t*>(served.storage.bytes().data());
  return served;
}

bool IsIndexType(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

// Element i of an int32 or int64 tensor. REQUIRES: IsIndexType(t.dtype), 0 <= i < size.
int64_t IndexAt(const TensorView& t, int64_t i) {
  return t.dtype == DType::kInt64 ? t.data_as<int64_t>()[i] : t.data_as<int32_t>()[i];
}

// The lookup of `ids` in `view` into output 0 (see the header); errors name a bad id.
absl::Status ComputeLookup(const TableView& view, bool wrap_negative_ids, const TensorView& ids,
                           KernelContext* ctx) {
  if (ids.dtype != DType::kInt64 && ids.dtype != DType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids are ", DescribeTensor(ids), "; expected int32 or int64"));
  }
  const int64_t n = ids.NumElements();
  // The lookup kernel takes int64 ids; int32 ids and wrapped negatives go through scratch.
  const int64_t* ids64 = ids.dtype == DType::kInt64 ? ids.data_as<int64_t>() : nullptr;
  if (ids64 == nullptr || wrap_negative_ids) {
    RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                             ctx->AllocateScratch(static_cast<size_t>(n) * sizeof(int64_t)));
    int64_t* converted = static_cast<int64_t*>(scratch);
    for (int64_t i = 0; i < n; ++i) {
      int64_t id =
          ids.dtype == DType::kInt64 ? ids.data_as<int64_t>()[i] : ids.data_as<int32_t>()[i];
      if (wrap_negative_ids && id < 0 && id >= -view.rows) id += view.rows;
      converted[i] = id;
    }
    ids64 = converted;
  }
  Dims dims = ids.dims;
  dims.push_back(view.dim);
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, dims));
  if (!Gather(view, absl::Span<const int64_t>(ids64, static_cast<size_t>(n)),
              out.data_as<float>())) {
    for (int64_t i = 0; i < n; ++i) {
      if (ids64[i] < 0 || ids64[i] >= view.rows) {
        return absl::OutOfRangeError(absl::StrCat("id ", ids64[i], " at position ", i,
                                                  " is outside the table's rows [0, ", view.rows,
                                                  ")"));
      }
    }
    return absl::InternalError("the embedding lookup failed");
  }
  return absl::OkStatus();
}

class EmbeddingLookupKernel : public OpKernel {
 public:
  EmbeddingLookupKernel(ServedTable table, bool wrap_negative_ids)
      : table_(std::move(table.storage)),
        view_(table.view),
        wrap_negative_ids_(wrap_negative_ids) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 2 inputs (table, ids), got ", ctx->num_inputs()));
    }
    return ComputeLookup(view_, wrap_negative_ids_, ctx->input(1), ctx);
  }

 private:
  Tensor table_;  // the constant's storage (fp32, or uint8 rows); keeps view_.data alive
  TableView view_;
  bool wrap_negative_ids_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeEmbeddingLookup(const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(ServedTable table, ConstantTable(build, "EmbeddingLookup"));
  const bool* wrap = build.node->attrs.Get<bool>("wrap_negative_ids");
  return std::make_unique<EmbeddingLookupKernel>(std::move(table), wrap != nullptr && *wrap);
}

// The pooled bags of `ids` / `lengths` in `view` into output 0 (see the header). Validation and
// index packing happen here, once per call; the pooling loop is Bag's.
absl::Status ComputeBag(const TableView& view, Pooling pooling, const TensorView& ids,
                        const TensorView& lengths, KernelContext* ctx) {
  if (!IsIndexType(ids.dtype) || ids.rank() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("ids are ", DescribeTensor(ids),
                                                   "; expected [batch, length] int32 or int64"));
  }
  const bool lengths_shape_ok =
      lengths.rank() <= 1 || (lengths.rank() == 2 && lengths.dims[1] == 1);
  if (!IsIndexType(lengths.dtype) || !lengths_shape_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("lengths are ", DescribeTensor(lengths),
                     "; expected int32 or int64 of shape [batch], [batch, 1] or a scalar"));
  }
  const int64_t batch = ids.dims[0];
  const int64_t max_len = ids.dims[1];
  const int64_t n = lengths.NumElements();
  int64_t rows = batch;
  if (n != batch && n != 1) {
    if (batch != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids ", DescribeTensor(ids), " have ", batch, " rows but lengths ",
                       DescribeTensor(lengths), " have ", n,
                       " values; expected as many, or 1 on either side"));
    }
    rows = n;
  }
  if (max_len > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids ", DescribeTensor(ids), " have more than 2^31 - 1 columns"));
  }
  // GatherV2 would reject a bad id anywhere, padding included.
  const int64_t count = batch * max_len;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t id = IndexAt(ids, i);
    if (id < 0 || id >= view.rows) {
      return absl::OutOfRangeError(
          absl::StrCat("id ", id, " at position ", i, " (row ", i / max_len, ", column ",
                       i % max_len, ") is outside the table's rows [0, ", view.rows, ")"));
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(void* len_scratch,
                           ctx->AllocateScratch(static_cast<size_t>(rows + 1) * sizeof(int32_t)));
  int32_t* bag_lengths = static_cast<int32_t*>(len_scratch);
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t len = std::clamp<int64_t>(IndexAt(lengths, n == 1 ? 0 : r), 0, max_len);
    bag_lengths[r] = static_cast<int32_t>(len);
    total += len;
  }
  RANKOPT_ASSIGN_OR_RETURN(
      void* id_scratch, ctx->AllocateScratch(static_cast<size_t>(total + 1) * sizeof(int64_t)));
  int64_t* bag_ids = static_cast<int64_t*>(id_scratch);
  int64_t pos = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t first = (batch == 1 ? 0 : r) * max_len;
    for (int64_t t = 0; t < bag_lengths[r]; ++t) bag_ids[pos++] = IndexAt(ids, first + t);
  }
  RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                           ctx->AllocateOutput(0, DType::kFloat32, {rows, view.dim}));
  if (!Bag(view, absl::Span<const int64_t>(bag_ids, static_cast<size_t>(total)),
           absl::Span<const int32_t>(bag_lengths, static_cast<size_t>(rows)), nullptr, pooling,
           out.data_as<float>())) {
    return absl::InternalError("the embedding bag failed on validated inputs");
  }
  return absl::OkStatus();
}

class EmbeddingBagKernel : public OpKernel {
 public:
  EmbeddingBagKernel(ServedTable table, Pooling pooling)
      : table_(std::move(table.storage)), view_(table.view), pooling_(pooling) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 3 inputs (table, ids, lengths), got ", ctx->num_inputs()));
    }
    return ComputeBag(view_, pooling_, ctx->input(1), ctx->input(2), ctx);
  }

 private:
  Tensor table_;  // the constant's storage (fp32, or uint8 rows); keeps view_.data alive
  TableView view_;
  Pooling pooling_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeEmbeddingBag(const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(ServedTable table, ConstantTable(build, "EmbeddingBag"));
  const std::string* mode = build.node->attrs.Get<std::string>("mode");
  if (mode == nullptr || (*mode != "sum" && *mode != "mean")) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'mode' is ", mode == nullptr ? "missing" : absl::StrCat("'", *mode, "'"),
                     "; expected \"sum\" or \"mean\""));
  }
  return std::make_unique<EmbeddingBagKernel>(std::move(table),
                                              *mode == "sum" ? Pooling::kSum : Pooling::kMean);
}

// A remote table's attrs: table_dtype (absent: fp32), table_dim, table_rows (the whole table's).
struct RemoteTable {
  TableDType dtype = TableDType::kFloat32;
  int64_t dim = 0;
  int64_t rows = 0;
};

absl::StatusOr<RemoteTable> RemoteTableOf(const Node& node) {
  RemoteTable t;
  RANKOPT_ASSIGN_OR_RETURN(t.dtype, TableDTypeOf(node));
  const int64_t* dim = node.attrs.Get<int64_t>(kTableDimAttr);
  const int64_t* rows = node.attrs.Get<int64_t>(kEmbeddingTableRowsAttr);
  if (dim == nullptr || *dim < 1 || *dim > (int64_t{1} << 16)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attr '", kTableDimAttr, "' is ", dim == nullptr ? "missing" : absl::StrCat(*dim),
        "; a remote table needs its dim in [1, 65536]"));
  }
  if (rows == nullptr || *rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attr '", kEmbeddingTableRowsAttr, "' is ", rows == nullptr ? "missing" : absl::StrCat(*rows),
        "; a remote table needs its row count (>= 1)"));
  }
  t.dim = *dim;
  t.rows = *rows;
  return t;
}

// The view over a request's fetched rows (input 0) whose ids are `keys` (the last input).
absl::StatusOr<TableView> FetchedRows(const RemoteTable& t, const TensorView& rows,
                                      const TensorView& keys) {
  const size_t row_bytes = RowBytes(t.dtype, t.dim);
  const bool fp32 = t.dtype == TableDType::kFloat32;
  const bool rows_ok = rows.rank() == 2 && (fp32 ? rows.dtype == DType::kFloat32 && rows.dims[1] == t.dim
                                                 : rows.dtype == DType::kUInt8 &&
                                                       rows.dims[1] == static_cast<int64_t>(row_bytes));
  if (!rows_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the fetched rows are ", DescribeTensor(rows), "; expected [k, ",
        fp32 ? absl::StrCat(t.dim, "] float32") : absl::StrCat(row_bytes, "] uint8"),
        " (serving/remote fills them)"));
  }
  if (keys.dtype != DType::kInt64 || keys.rank() != 1 || keys.dims[0] != rows.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat("the fetched ids are ", DescribeTensor(keys),
                                                   "; expected [", rows.dims[0], "] int64"));
  }
  TableView view;
  view.dtype = t.dtype;
  view.rows = rows.dims[0];
  view.dim = t.dim;
  view.row_bytes = row_bytes;
  view.data = static_cast<const uint8_t*>(rows.data);
  return view;
}

// `ids` as positions among the sorted `keys` (int64, in scratch, same dims). An id outside
// [0, table rows) is the error the local kernels give; an id in range that was not fetched is an
// internal error (the fetch collects every id the graph can read), never a wrong row.
absl::StatusOr<TensorView> RemapIds(const RemoteTable& t, const TensorView& ids,
                                    const TensorView& keys, bool wrap_negative_ids, bool bag,
                                    KernelContext* ctx) {
  if (!IsIndexType(ids.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids are ", DescribeTensor(ids), "; expected int32 or int64"));
  }
  const int64_t n = ids.NumElements();
  RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                           ctx->AllocateScratch(static_cast<size_t>(n + 1) * sizeof(int64_t)));
  int64_t* local = static_cast<int64_t*>(scratch);
  const int64_t* first = keys.data_as<int64_t>();
  const int64_t* last = first + keys.dims[0];
  const int64_t width = bag && ids.rank() == 2 && ids.dims[1] > 0 ? ids.dims[1] : 1;
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = IndexAt(ids, i);
    if (wrap_negative_ids && id < 0 && id >= -t.rows) id += t.rows;
    if (id < 0 || id >= t.rows) {
      return absl::OutOfRangeError(absl::StrCat(
          "id ", id, " at position ", i,
          bag ? absl::StrCat(" (row ", i / width, ", column ", i % width, ")") : "",
          " is outside the table's rows [0, ", t.rows, ")"));
    }
    const int64_t* at = std::lower_bound(first, last, id);
    if (at == last || *at != id) {
      return absl::InternalError(absl::StrCat("id ", id, " at position ", i,
                                              " was not among the remote table's fetched rows"));
    }
    local[i] = at - first;
  }
  TensorView out;
  out.dtype = DType::kInt64;
  out.dims = ids.dims;
  out.data = local;
  return out;
}

// _RankoptRemoteEmbeddingLookup(rows, ids, keys): the lookup over the request's fetched rows.
class RemoteEmbeddingLookupKernel : public OpKernel {
 public:
  RemoteEmbeddingLookupKernel(RemoteTable table, bool wrap) : table_(table), wrap_(wrap) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 3 inputs (fetched rows, ids, fetched ids), got ",
                       ctx->num_inputs()));
    }
    RANKOPT_ASSIGN_OR_RETURN(TableView view, FetchedRows(table_, ctx->input(0), ctx->input(2)));
    RANKOPT_ASSIGN_OR_RETURN(TensorView local,
                             RemapIds(table_, ctx->input(1), ctx->input(2), wrap_, false, ctx));
    return ComputeLookup(view, false, local, ctx);
  }

 private:
  RemoteTable table_;
  bool wrap_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeRemoteEmbeddingLookup(
    const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(RemoteTable table, RemoteTableOf(*build.node));
  const bool* wrap = build.node->attrs.Get<bool>("wrap_negative_ids");
  return std::make_unique<RemoteEmbeddingLookupKernel>(table, wrap != nullptr && *wrap);
}

// _RankoptRemoteEmbeddingBag(rows, ids, lengths, keys): the bag over the request's fetched rows.
class RemoteEmbeddingBagKernel : public OpKernel {
 public:
  RemoteEmbeddingBagKernel(RemoteTable table, Pooling pooling) : table_(table), pooling_(pooling) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 4 inputs (fetched rows, ids, lengths, fetched ids), got ",
                       ctx->num_inputs()));
    }
    const TensorView& ids = ctx->input(1);
    if (!IsIndexType(ids.dtype) || ids.rank() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("ids are ", DescribeTensor(ids),
                                                     "; expected [batch, length] int32 or int64"));
    }
    RANKOPT_ASSIGN_OR_RETURN(TableView view, FetchedRows(table_, ctx->input(0), ctx->input(3)));
    RANKOPT_ASSIGN_OR_RETURN(TensorView local,
                             RemapIds(table_, ids, ctx->input(3), false, true, ctx));
    return ComputeBag(view, pooling_, local, ctx->input(2), ctx);
  }

 private:
  RemoteTable table_;
  Pooling pooling_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeRemoteEmbeddingBag(const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(RemoteTable table, RemoteTableOf(*build.node));
  const std::string* mode = build.node->attrs.Get<std::string>("mode");
  if (mode == nullptr || (*mode != "sum" && *mode != "mean")) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'mode' is ", mode == nullptr ? "missing" : absl::StrCat("'", *mode, "'"),
                     "; expected \"sum\" or \"mean\""));
  }
  return std::make_unique<RemoteEmbeddingBagKernel>(
      table, *mode == "sum" ? Pooling::kSum : Pooling::kMean);
}

}  // namespace

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// A quantized table (attrs table_dtype / table_dim, graph/kernels/embedding/embedding_kernels.h)
// is a uint8 [rows, row_bytes] constant that the lookups read as float32 [rows, table_dim].
InferredTensor TableAsServed(const Node& n, InferredTensor table) {
  const std::string* stored = n.attrs.Get<std::string>("table_dtype");
  const int64_t* dim = n.attrs.Get<int64_t>("table_dim");
  if (stored == nullptr || *stored == "fp32") return table;
  table.dtype = DType::kFloat32;
  table.value.reset();
  if (table.shape.known_rank() && table.shape.rank() == 2) {
    table.shape = Shape({table.shape.dim(0), dim != nullptr ? *dim : kUnknownDim});
  }
  return table;
}

// table [rows, dim], ids [...] -> [..., dim].
void EmbeddingLookupShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor table = TableAsServed(n, ctx->In(n, 0));
  const Shape ids = ctx->In(n, 1).shape;
  if (!table.shape.known_rank() || table.shape.rank() != 2 || !ids.known_rank()) {
    ctx->Set(n, 0, table.dtype, Shape());
    return;
  }
  Dims out = ids.dims();
  out.push_back(table.shape.dim(1));
  ctx->Set(n, 0, table.dtype, Shape(std::move(out)));
}

// table [rows, dim], ids [B, L], lengths [n] / [n, 1] / scalar -> [B and n broadcast, dim].
void EmbeddingBagShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor table = TableAsServed(n, ctx->In(n, 0));
  const Shape ids = ctx->In(n, 1).shape;
  const Shape lengths = ctx->In(n, 2).shape;
  if (!table.shape.known_rank() || table.shape.rank() != 2 || !ids.known_rank() ||
      ids.rank() != 2) {
    ctx->Set(n, 0, table.dtype, Shape());
    return;
  }
  int64_t count = kUnknownDim;
  if (lengths.known_rank() && lengths.rank() == 0) count = 1;
  if (lengths.known_rank() && (lengths.rank() == 1 || lengths.rank() == 2)) count = lengths.dim(0);
  const Shape rows = Broadcast(Shape({ids.dim(0)}), Shape({count}));
  ctx->Set(n, 0, table.dtype,
           Shape({rows.known_rank() ? rows.dim(0) : kUnknownDim, table.shape.dim(1)}));
}

}  // namespace
}  // namespace shape_fn

absl::Status RegisterEmbeddingKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo("_RankoptEmbeddingLookup",
                                                   {shape_fn::EmbeddingLookupShape, nullptr}));
  RANKOPT_RETURN_IF_ERROR(
      registry->RegisterOpInfo("_RankoptEmbeddingBag", {shape_fn::EmbeddingBagShape, nullptr}));
  RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo(std::string(kRemoteEmbeddingLookupOp),
                                                   {shape_fn::EmbeddingLookupShape, nullptr}));
  RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo(std::string(kRemoteEmbeddingBagOp),
                                                   {shape_fn::EmbeddingBagShape, nullptr}));
  for (OpSet set : {OpSet::kOnnx, OpSet::kTensorFlow}) {
    RANKOPT_RETURN_IF_ERROR(registry->Register(set, std::string(kRemoteEmbeddingLookupOp),
                                               MakeRemoteEmbeddingLookup));
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kRemoteEmbeddingBagOp), MakeRemoteEmbeddingBag));
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kEmbeddingLookupOp), MakeEmbeddingLookup));
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kEmbeddingBagOp), MakeEmbeddingBag));
  }
  RANKOPT_RETURN_IF_ERROR(RegisterOffsetsBagKernel(registry));
  return RegisterMultiLookupKernel(registry);
}

}  // namespace rankopt
