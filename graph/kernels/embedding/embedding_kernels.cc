#include "graph/kernels/embedding/embedding_kernels.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "embedding/kernels/lookup.h"

namespace rankopt {
namespace {

// embedding/'s view of a constant [rows, dim] float32 table. REQUIRES: `table` is one.
TableView Float32View(const Tensor& table) {
  TableView view;
  view.dtype = TableDType::kFloat32;
  view.rows = table.dims()[0];
  view.dim = table.dims()[1];
  view.row_bytes = RowBytes(TableDType::kFloat32, view.dim);
  view.data = reinterpret_cast<const uint8_t*>(table.bytes().data());
  return view;
}

// The table every embedding kernel reads: constant input 0, [rows, dim] float32.
absl::StatusOr<const Tensor*> ConstantTable(const KernelBuildContext& build,
                                            absl::string_view pass) {
  const Tensor* table = build.constant_inputs.empty() ? nullptr : build.constant_inputs[0];
  if (table == nullptr || table->dtype() != DType::kFloat32 || table->dims().size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 0 must be a constant [rows, dim] float32 table (the ", pass,
                     " pass only rewrites Gathers of such constants)"));
  }
  return table;
}

bool IsIndexType(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

// Element i of an int32 or int64 tensor. REQUIRES: IsIndexType(t.dtype), 0 <= i < size.
int64_t IndexAt(const TensorView& t, int64_t i) {
  return t.dtype == DType::kInt64 ? t.data_as<int64_t>()[i] : t.data_as<int32_t>()[i];
}

class EmbeddingLookupKernel : public OpKernel {
 public:
  EmbeddingLookupKernel(Tensor table, bool wrap_negative_ids)
      : table_(std::move(table)),
        view_(Float32View(table_)),
        wrap_negative_ids_(wrap_negative_ids) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 2 inputs (table, ids), got ", ctx->num_inputs()));
    }
    const TensorView& ids = ctx->input(1);
    if (ids.dtype != DType::kInt64 && ids.dtype != DType::kInt32) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids are ", DescribeTensor(ids), "; expected int32 or int64"));
    }
    const int64_t n = ids.NumElements();
    // The lookup kernel takes int64 ids; int32 ids and wrapped negatives go through scratch.
    const int64_t* ids64 = ids.dtype == DType::kInt64 ? ids.data_as<int64_t>() : nullptr;
    if (ids64 == nullptr || wrap_negative_ids_) {
      RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                               ctx->AllocateScratch(static_cast<size_t>(n) * sizeof(int64_t)));
      int64_t* converted = static_cast<int64_t*>(scratch);
      for (int64_t i = 0; i < n; ++i) {
        int64_t id =
            ids.dtype == DType::kInt64 ? ids.data_as<int64_t>()[i] : ids.data_as<int32_t>()[i];
        if (wrap_negative_ids_ && id < 0 && id >= -view_.rows) id += view_.rows;
        converted[i] = id;
      }
      ids64 = converted;
    }
    Dims dims = ids.dims;
    dims.push_back(view_.dim);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, dims));
    if (!Gather(view_, absl::Span<const int64_t>(ids64, static_cast<size_t>(n)),
                out.data_as<float>())) {
      for (int64_t i = 0; i < n; ++i) {
        if (ids64[i] < 0 || ids64[i] >= view_.rows) {
          return absl::OutOfRangeError(absl::StrCat("id ", ids64[i], " at position ", i,
                                                    " is outside the table's rows [0, ", view_.rows,
                                                    ")"));
        }
      }
      return absl::InternalError("the embedding lookup failed");
    }
    return absl::OkStatus();
  }

 private:
  Tensor table_;  // shares the constant's storage; keeps it alive
  TableView view_;
  bool wrap_negative_ids_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeEmbeddingLookup(const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(const Tensor* table, ConstantTable(build, "EmbeddingLookup"));
  const bool* wrap = build.node->attrs.Get<bool>("wrap_negative_ids");
  return std::make_unique<EmbeddingLookupKernel>(*table, wrap != nullptr && *wrap);
}

// Validation and index packing happen here, once per call; the pooling loop is Bag's.
class EmbeddingBagKernel : public OpKernel {
 public:
  EmbeddingBagKernel(Tensor table, Pooling pooling)
      : table_(std::move(table)), view_(Float32View(table_)), pooling_(pooling) {}

  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->num_inputs() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected 3 inputs (table, ids, lengths), got ", ctx->num_inputs()));
    }
    const TensorView& ids = ctx->input(1);
    const TensorView& lengths = ctx->input(2);
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
      if (id < 0 || id >= view_.rows) {
        return absl::OutOfRangeError(
            absl::StrCat("id ", id, " at position ", i, " (row ", i / max_len, ", column ",
                         i % max_len, ") is outside the table's rows [0, ", view_.rows, ")"));
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
                             ctx->AllocateOutput(0, DType::kFloat32, {rows, view_.dim}));
    if (!Bag(view_, absl::Span<const int64_t>(bag_ids, static_cast<size_t>(total)),
             absl::Span<const int32_t>(bag_lengths, static_cast<size_t>(rows)), nullptr, pooling_,
             out.data_as<float>())) {
      return absl::InternalError("the embedding bag failed on validated inputs");
    }
    return absl::OkStatus();
  }

 private:
  Tensor table_;  // shares the constant's storage; keeps it alive
  TableView view_;
  Pooling pooling_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeEmbeddingBag(const KernelBuildContext& build) {
  RANKOPT_ASSIGN_OR_RETURN(const Tensor* table, ConstantTable(build, "EmbeddingBag"));
  const std::string* mode = build.node->attrs.Get<std::string>("mode");
  if (mode == nullptr || (*mode != "sum" && *mode != "mean")) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'mode' is ", mode == nullptr ? "missing" : absl::StrCat("'", *mode, "'"),
                     "; expected \"sum\" or \"mean\""));
  }
  return std::make_unique<EmbeddingBagKernel>(*table,
                                              *mode == "sum" ? Pooling::kSum : Pooling::kMean);
}

}  // namespace

absl::Status RegisterEmbeddingKernels(KernelRegistry* registry) {
  for (OpSet set : {OpSet::kOnnx, OpSet::kTensorFlow}) {
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kEmbeddingLookupOp), MakeEmbeddingLookup));
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kEmbeddingBagOp), MakeEmbeddingBag));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
