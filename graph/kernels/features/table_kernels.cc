// Vocabulary tables, per TensorFlow's lookup ops. The contents are set at import
// (graph/tf/table_init.h) as two attributes of the table node, so a table is built once with
// its plan and read-only afterwards:
//   HashTableV2 / MutableHashTableV2 (key_dtype, value_dtype) -> a resource handle: one pointer
//     to the table its kernel owns.
//   LookupTableFindV2(table, keys, default_value) -> values of keys' shape; a missing key gets
//     default_value (a scalar, or one value per key of the same shape).
//   LookupTableSizeV2(table) -> int64 scalar: the number of entries.
//   InitializeTableV2 / InitializeTableFromTextFileV2 / LookupTableImportV2: nothing to do at
//     run time (the import filled the table); they exist so init signatures plan.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/kernels/array/array_util.h"
#include "graph/kernels/features/feature_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace feature_internal {
namespace {

using array_internal::Add;
using array_internal::AttrDType;
using array_internal::CheckNumInputs;
using array_internal::IntAt;
using array_internal::IsIntegerDType;
using array_internal::MakeKernel;
using array_internal::RequiredInput;
using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

// Read-only after Build; a LookupTableFindV2 reaches it through the handle.
class Table {
 public:
  static absl::StatusOr<std::shared_ptr<const Table>> Build(const Node& node) {
    auto table = std::make_shared<Table>();
    table->key_dtype_ = AttrDType(node, "key_dtype").value_or(DType::kInvalid);
    table->value_dtype_ = AttrDType(node, "value_dtype").value_or(DType::kInvalid);
    const bool string_keys = table->key_dtype_ == DType::kString;
    if (!string_keys && table->key_dtype_ != DType::kInt64 && table->key_dtype_ != DType::kInt32) {
      return NodeError(node, "key_dtype ", DTypeName(table->key_dtype_),
                       " is not supported; expected string, int64 or int32");
    }
    if (ExecElementSize(table->value_dtype_) == 0 || table->value_dtype_ == DType::kResource) {
      return NodeError(node, "value_dtype ", DTypeName(table->value_dtype_), " is not supported");
    }
    const Tensor* keys = node.attrs.Get<Tensor>(kTableKeysAttr);
    const Tensor* values = node.attrs.Get<Tensor>(kTableValuesAttr);
    if (keys == nullptr || values == nullptr) {
      if (node.op == "MutableHashTableV2") return std::shared_ptr<const Table>(table);
      return NodeError(node,
                       "the table has no contents: no initializer rankopt understands fills it "
                       "(InitializeTableFromTextFileV2 over an asset, InitializeTableV2 or "
                       "LookupTableImportV2 over constants)");
    }
    if (keys->num_elements() != values->num_elements()) {
      return NodeError(node, "the table has ", keys->num_elements(), " keys but ",
                       values->num_elements(), " values");
    }
    const bool int_ok = keys->dtype() == DType::kInt64 || keys->dtype() == DType::kInt32;
    if ((string_keys && keys->dtype() != DType::kString) || (!string_keys && !int_ok)) {
      return NodeError(node, "the table's keys are ", DTypeName(keys->dtype()), ", its key_dtype ",
                       DTypeName(table->key_dtype_));
    }
    if (values->dtype() != table->value_dtype_) {
      return NodeError(node, "the table's values are ", DTypeName(values->dtype()),
                       ", its value_dtype ", DTypeName(table->value_dtype_));
    }
    table->values_ = *values;
    const int64_t n = keys->num_elements();
    if (values->dtype() == DType::kString) {
      for (const std::string& s : values->strings()) table->value_views_.emplace_back(s);
    }
    for (int64_t i = 0; i < n; ++i) {
      bool inserted;
      if (string_keys) {
        inserted = table->string_index_.emplace(keys->strings()[i], i).second;
      } else {
        const int64_t k = keys->dtype() == DType::kInt64 ? keys->values<int64_t>()[i]
                                                         : keys->values<int32_t>()[i];
        inserted = table->int_index_.emplace(k, i).second;
      }
      if (!inserted) {
        return NodeError(node, "the table has key ", i, " twice (",
                         string_keys ? absl::StrCat("'", keys->strings()[i], "'")
                                     : std::string("an integer key"),
                         "); TensorFlow's HashTable refuses duplicate keys");
      }
    }
    table->size_ = n;
    return std::shared_ptr<const Table>(table);
  }

  DType key_dtype() const { return key_dtype_; }
  DType value_dtype() const { return value_dtype_; }
  int64_t size() const { return size_; }
  // Position of the key's value, -1 when absent.
  int64_t Find(absl::string_view key) const {
    auto it = string_index_.find(key);
    return it == string_index_.end() ? -1 : it->second;
  }
  int64_t Find(int64_t key) const {
    auto it = int_index_.find(key);
    return it == int_index_.end() ? -1 : it->second;
  }
  // Address of value i (string values as string_views).
  const char* ValueAt(int64_t i) const {
    if (value_dtype_ == DType::kString) return reinterpret_cast<const char*>(&value_views_[i]);
    return values_.bytes().data() + i * DTypeSize(value_dtype_);
  }

 private:
  DType key_dtype_ = DType::kInvalid;
  DType value_dtype_ = DType::kInvalid;
  int64_t size_ = 0;
  Tensor values_;
  std::vector<absl::string_view> value_views_;
  absl::flat_hash_map<std::string, int64_t> string_index_;
  absl::flat_hash_map<int64_t, int64_t> int_index_;
};

Factory HashTableFactory(const KernelBuildContext& b) {
  RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table, Table::Build(*b.node));
  return MakeKernel([table](KernelContext* ctx) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kResource, {}));
    const Table* p = table.get();
    std::memcpy(out.data, &p, sizeof(p));
    return absl::OkStatus();
  });
}

absl::StatusOr<const Table*> TableOf(const KernelContext& ctx) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* handle, RequiredInput(ctx, 0));
  if (handle->dtype != DType::kResource || handle->NumElements() != 1) {
    return NodeError(ctx.node(), "table handle is ", DescribeTensor(*handle),
                     "; expected the scalar resource of a HashTableV2");
  }
  const Table* table;
  std::memcpy(&table, handle->data, sizeof(table));
  if (table == nullptr) return NodeError(ctx.node(), "the table handle is null");
  return table;
}

Factory FindFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const Table* table, TableOf(*ctx));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* keys, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* dflt, RequiredInput(*ctx, 2));
    const bool string_keys = table->key_dtype() == DType::kString;
    if (string_keys ? keys->dtype != DType::kString : !IsIntegerDType(keys->dtype)) {
      return NodeError(node, "keys are ", DescribeTensor(*keys), "; the table's keys are ",
                       DTypeName(table->key_dtype()));
    }
    if (dflt->dtype != table->value_dtype() ||
        (dflt->NumElements() != 1 && dflt->dims != keys->dims)) {
      return NodeError(node, "default_value is ", DescribeTensor(*dflt), "; expected a ",
                       DTypeName(table->value_dtype()), " scalar or one value per key");
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                             ctx->AllocateOutput(0, table->value_dtype(), keys->dims));
    const size_t esize = ExecElementSize(table->value_dtype());
    const int64_t n = keys->NumElements();
    const bool one_default = dflt->NumElements() == 1;
    char* dst = static_cast<char*>(out.data);
    const char* dsrc = static_cast<const char*>(dflt->data);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t at =
          string_keys ? table->Find(keys->strings()[i]) : table->Find(IntAt(*keys, i));
      const char* src = at >= 0 ? table->ValueAt(at) : dsrc + (one_default ? 0 : i * esize);
      std::memcpy(dst + i * esize, src, esize);
    }
    return absl::OkStatus();
  });
}

Factory SizeFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const Table* table, TableOf(*ctx));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kInt64, {}));
    *out.data_as<int64_t>() = table->size();
    return absl::OkStatus();
  });
}

Factory InitFactory(const KernelBuildContext&) {
  return MakeKernel([](KernelContext*) { return absl::OkStatus(); });
}

void HandleShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kResource, Shape(std::vector<int64_t>{}));
}
void FindShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, array_internal::AttrDType(n, "Tout").value_or(DType::kInvalid),
           ctx->In(n, 1).shape);
}
void SizeShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kInt64, Shape(std::vector<int64_t>{}));
}

}  // namespace

absl::Status RegisterTableKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  for (const char* op : {"HashTableV2", "MutableHashTableV2"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, HashTableFactory));
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {HandleShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "LookupTableFindV2", FindFactory));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("LookupTableFindV2", {FindShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "LookupTableSizeV2", SizeFactory));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("LookupTableSizeV2", {SizeShape, flops::DataMovement}));
  for (const char* op :
       {"InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableImportV2"}) {
    RANKOPT_RETURN_IF_ERROR(Add(r, kTf, op, InitFactory));
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {nullptr, flops::DataMovement}));
  }
  return absl::OkStatus();
}

}  // namespace feature_internal
}  // namespace rankopt
