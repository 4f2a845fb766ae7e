// tf.Example parsing, per TensorFlow's ParseExample / ParseExampleV2 / ParseSingleExample
// (fixed-length dense features and sparse (VarLen) features; ragged features are refused):
//   dense key k, shape S, default D: each example's feature must hold exactly |S| values of the
//     declared type; a missing feature takes D, or is an error when D is empty (required).
//     Output [batch] + S (ParseSingleExample: S).
//   sparse key k: indices [n, 2] = (example, position), values [n], shape [batch, max count]
//     (ParseSingleExample: indices [n, 1], shape [count]). A missing feature adds nothing.
// Errors name the feature, the example index and what was expected, as TF's do.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/kernels/array/array_util.h"
#include "graph/kernels/features/feature_kernels.h"
#include "graph/kernels/features/tf_example.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace feature_internal {
namespace {

using array_internal::Add;
using array_internal::AttrInt;
using array_internal::MakeKernel;
using array_internal::RequiredInput;
using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

ExampleFeature::Kind KindOf(DType dtype) {
  switch (dtype) {
    case DType::kString:
      return ExampleFeature::Kind::kBytes;
    case DType::kFloat32:
      return ExampleFeature::Kind::kFloat;
    case DType::kInt64:
      return ExampleFeature::Kind::kInt64;
    default:
      return ExampleFeature::Kind::kEmpty;
  }
}

absl::string_view ListName(DType dtype) {
  return dtype == DType::kString    ? "bytes_list"
         : dtype == DType::kFloat32 ? "float_list"
                                    : "int64_list";
}

// The op's layout, fixed at plan time.
struct ParseSpec {
  enum class Form { kV1, kV2, kSingle };
  Form form = Form::kV1;
  std::vector<DType> sparse_types;
  std::vector<DType> dense_types;
  std::vector<Dims> dense_shapes;
  // kSingle: the keys are attributes.
  std::vector<std::string> sparse_keys, dense_keys;
};

// Copies a feature's values (already type-checked) to dst[at...].
void CopyValues(const ExampleFeature& f, DType dtype, char* dst, int64_t at) {
  switch (dtype) {
    case DType::kString: {
      auto* d = reinterpret_cast<absl::string_view*>(dst) + at;
      for (size_t i = 0; i < f.bytes.size(); ++i) d[i] = f.bytes[i];
      break;
    }
    case DType::kFloat32:
      if (!f.floats.empty()) {
        std::memcpy(reinterpret_cast<float*>(dst) + at, f.floats.data(), f.floats.size() * 4);
      }
      break;
    default:
      if (!f.ints.empty()) {
        std::memcpy(reinterpret_cast<int64_t*>(dst) + at, f.ints.data(), f.ints.size() * 8);
      }
      break;
  }
}

absl::Status Run(const ParseSpec& spec, KernelContext* ctx) {
  const Node& node = ctx->node();
  const size_t ns = spec.sparse_types.size(), nd = spec.dense_types.size();
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* serialized, RequiredInput(*ctx, 0));
  if (serialized->dtype != DType::kString ||
      serialized->rank() > (spec.form == ParseSpec::Form::kSingle ? 0 : 1)) {
    return NodeError(
        node, "serialized is ", DescribeTensor(*serialized), "; expected ",
        spec.form == ParseSpec::Form::kSingle ? "a string scalar" : "a string vector (or scalar)");
  }
  const bool batched = spec.form != ParseSpec::Form::kSingle && serialized->rank() == 1;
  const int64_t batch = serialized->NumElements();
  // Keys and where the defaults are.
  std::vector<std::string> sparse_keys = spec.sparse_keys, dense_keys = spec.dense_keys;
  int defaults_at = 1;
  auto read_keys = [&](int at, size_t count, std::vector<std::string>* keys) -> absl::Status {
    for (size_t i = 0; i < count; ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* k, RequiredInput(*ctx, at + static_cast<int>(i)));
      if (k->dtype != DType::kString || k->NumElements() != 1) {
        return NodeError(node, "key input ", at + i, " is ", DescribeTensor(*k),
                         "; expected a string scalar");
      }
      keys->emplace_back(k->strings()[0]);
    }
    return absl::OkStatus();
  };
  auto read_key_vector = [&](int at, size_t count, std::vector<std::string>* keys) -> absl::Status {
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* k, RequiredInput(*ctx, at));
    if (k->dtype != DType::kString || k->rank() > 1 ||
        k->NumElements() != static_cast<int64_t>(count)) {
      return NodeError(node, "key input ", at, " is ", DescribeTensor(*k), "; expected ", count,
                       " string keys");
    }
    for (absl::string_view s : k->strings()) keys->emplace_back(s);
    return absl::OkStatus();
  };
  if (spec.form == ParseSpec::Form::kV1) {
    RANKOPT_RETURN_IF_ERROR(read_keys(2, ns, &sparse_keys));
    RANKOPT_RETURN_IF_ERROR(read_keys(2 + static_cast<int>(ns), nd, &dense_keys));
    defaults_at = 2 + static_cast<int>(ns + nd);
  } else if (spec.form == ParseSpec::Form::kV2) {
    RANKOPT_RETURN_IF_ERROR(read_key_vector(2, ns, &sparse_keys));
    RANKOPT_RETURN_IF_ERROR(read_key_vector(3, nd, &dense_keys));
    RANKOPT_RETURN_IF_ERROR(read_key_vector(4, 0, &sparse_keys));  // ragged: none
    defaults_at = 5;
  }
  if (ctx->num_inputs() != defaults_at + static_cast<int>(nd)) {
    return NodeError(node, "has ", ctx->num_inputs(), " inputs; expected ",
                     defaults_at + static_cast<int>(nd));
  }
  // Dense defaults and outputs.
  const int dense_port = static_cast<int>(3 * ns);
  std::vector<TensorView> dense_out(nd);
  std::vector<const TensorView*> defaults(nd);
  std::vector<int64_t> dense_size(nd);
  for (size_t j = 0; j < nd; ++j) {
    int64_t size = 1;
    for (int64_t d : spec.dense_shapes[j]) size *= d;
    dense_size[j] = size;
    RANKOPT_ASSIGN_OR_RETURN(defaults[j], RequiredInput(*ctx, defaults_at + static_cast<int>(j)));
    const TensorView& dflt = *defaults[j];
    if (dflt.dtype != spec.dense_types[j] ||
        (dflt.NumElements() != 0 && dflt.NumElements() != size)) {
      return NodeError(node, "the default of feature '", dense_keys[j], "' is ",
                       DescribeTensor(dflt), "; expected ", DTypeName(spec.dense_types[j]),
                       " with ", size, " values, or none (required)");
    }
    Dims dims;
    if (batched) dims.push_back(batch);
    dims.insert(dims.end(), spec.dense_shapes[j].begin(), spec.dense_shapes[j].end());
    RANKOPT_ASSIGN_OR_RETURN(dense_out[j], ctx->AllocateOutput(dense_port + static_cast<int>(j),
                                                               spec.dense_types[j], dims));
  }
  absl::flat_hash_map<absl::string_view, int> slot;  // key -> dense j, or ~sparse i
  for (size_t j = 0; j < nd; ++j) slot[dense_keys[j]] = static_cast<int>(j);
  for (size_t i = 0; i < ns; ++i) slot[sparse_keys[i]] = ~static_cast<int>(i);

  std::vector<absl::string_view> found(nd + ns);
  std::vector<std::vector<int64_t>> sparse_counts(ns);  // per example
  std::vector<std::vector<ExampleFeature>> sparse_values(ns);
  ExampleFeature feature;
  for (int64_t b = 0; b < batch; ++b) {
    std::fill(found.begin(), found.end(), absl::string_view());
    std::vector<char> seen(nd + ns, 0);
    const absl::string_view example = serialized->strings()[b];
    absl::Status s = ForEachExampleFeature(
        example, [&](absl::string_view key, absl::string_view value) -> absl::Status {
          auto it = slot.find(key);
          if (it == slot.end()) return absl::OkStatus();
          const size_t at = it->second >= 0 ? static_cast<size_t>(it->second)
                                            : nd + static_cast<size_t>(~it->second);
          found[at] = value;
          seen[at] = 1;
          return absl::OkStatus();
        });
    if (!s.ok()) return NodeError(node, "example ", b, ": ", s.message());
    for (size_t j = 0; j < nd; ++j) {
      const DType type = spec.dense_types[j];
      char* dst = static_cast<char*>(dense_out[j].data);
      const size_t esize = ExecElementSize(type);
      bool missing = !seen[j];
      if (!missing) {
        RANKOPT_RETURN_IF_ERROR(DecodeExampleFeature(found[j], &feature));
        missing = feature.kind == ExampleFeature::Kind::kEmpty && feature.size() == 0;
      }
      if (missing) {
        if (defaults[j]->NumElements() == 0) {
          return NodeError(node, "example ", b, ": feature '", dense_keys[j],
                           "' (data type: ", DTypeName(type),
                           ") is required but could not be found");
        }
        std::memcpy(dst + b * dense_size[j] * esize, defaults[j]->data,
                    static_cast<size_t>(dense_size[j]) * esize);
        continue;
      }
      if (feature.kind != KindOf(type)) {
        return NodeError(node, "example ", b, ": feature '", dense_keys[j], "' has the wrong ",
                         "type: expected ", ListName(type), " (", DTypeName(type), "), got ",
                         feature.KindName());
      }
      if (static_cast<int64_t>(feature.size()) != dense_size[j]) {
        return NodeError(node, "example ", b, ": feature '", dense_keys[j], "' has ",
                         feature.size(), " values; expected ", dense_size[j], " (shape ",
                         DimsString(spec.dense_shapes[j]), ")");
      }
      CopyValues(feature, type, dst, b * dense_size[j]);
    }
    for (size_t i = 0; i < ns; ++i) {
      const DType type = spec.sparse_types[i];
      ExampleFeature value;
      if (seen[nd + i]) {
        RANKOPT_RETURN_IF_ERROR(DecodeExampleFeature(found[nd + i], &value));
        if (value.kind != ExampleFeature::Kind::kEmpty && value.kind != KindOf(type)) {
          return NodeError(node, "example ", b, ": feature '", sparse_keys[i],
                           "' has the wrong type: expected ", ListName(type), " (", DTypeName(type),
                           "), got ", value.KindName());
        }
      }
      sparse_counts[i].push_back(static_cast<int64_t>(value.size()));
      sparse_values[i].push_back(std::move(value));
    }
  }
  for (size_t i = 0; i < ns; ++i) {
    const int rank = batched ? 2 : 1;
    int64_t total = 0, widest = 0;
    for (int64_t c : sparse_counts[i]) {
      total += c;
      widest = std::max(widest, c);
    }
    const int64_t idx_dims[2] = {total, rank};
    RANKOPT_ASSIGN_OR_RETURN(TensorView idx,
                             ctx->AllocateOutput(static_cast<int>(i), DType::kInt64, idx_dims));
    const int64_t val_dims[1] = {total};
    RANKOPT_ASSIGN_OR_RETURN(TensorView vals, ctx->AllocateOutput(static_cast<int>(ns + i),
                                                                  spec.sparse_types[i], val_dims));
    const int64_t shape_dims[1] = {rank};
    RANKOPT_ASSIGN_OR_RETURN(TensorView shape, ctx->AllocateOutput(static_cast<int>(2 * ns + i),
                                                                   DType::kInt64, shape_dims));
    if (batched) {
      shape.data_as<int64_t>()[0] = batch;
      shape.data_as<int64_t>()[1] = widest;
    } else {
      shape.data_as<int64_t>()[0] = widest;
    }
    int64_t at = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const ExampleFeature& f = sparse_values[i][b];
      CopyValues(f, spec.sparse_types[i], static_cast<char*>(vals.data), at);
      for (int64_t k = 0; k < static_cast<int64_t>(f.size()); ++k, ++at) {
        if (batched) {
          idx.data_as<int64_t>()[2 * at] = b;
          idx.data_as<int64_t>()[2 * at + 1] = k;
        } else {
          idx.data_as<int64_t>()[at] = k;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DType>> TypesAttr(const Node& node, absl::string_view name) {
  std::vector<DType> types;
  if (const auto* v = node.attrs.Get<std::vector<DType>>(name)) types = *v;
  for (DType t : types) {
    if (KindOf(t) == ExampleFeature::Kind::kEmpty) {
      return NodeError(node, name, " has ", DTypeName(t),
                       "; tf.Example features are string, float32 or int64");
    }
  }
  return types;
}

Factory ParseFactory(const KernelBuildContext& b, ParseSpec::Form form) {
  const Node& node = *b.node;
  ParseSpec spec;
  spec.form = form;
  RANKOPT_ASSIGN_OR_RETURN(spec.sparse_types, TypesAttr(node, "sparse_types"));
  RANKOPT_ASSIGN_OR_RETURN(spec.dense_types, TypesAttr(node, "Tdense"));
  const auto* shapes = node.attrs.Get<std::vector<Shape>>("dense_shapes");
  const size_t nd = spec.dense_types.size();
  if ((shapes == nullptr && nd > 0) || (shapes != nullptr && shapes->size() != nd)) {
    return NodeError(node, "dense_shapes does not list one shape per dense feature (", nd, ")");
  }
  for (size_t j = 0; j < nd; ++j) {
    const Shape& s = (*shapes)[j];
    if (!s.IsFullyDefined()) {
      return NodeError(node, "dense feature ", j, " has shape ", s.ToString(),
                       "; variable-length dense features (allow_missing) are not supported");
    }
    Dims dims;
    for (int d = 0; d < s.rank(); ++d) dims.push_back(s.dim(d));
    spec.dense_shapes.push_back(dims);
  }
  if (form == ParseSpec::Form::kV2) {
    const auto* ragged = node.attrs.Get<std::vector<DType>>("ragged_value_types");
    if (ragged != nullptr && !ragged->empty()) {
      return NodeError(node, "ragged features are not supported");
    }
    const int64_t num_sparse = AttrInt(node, "num_sparse", 0);
    if (num_sparse != static_cast<int64_t>(spec.sparse_types.size())) {
      return NodeError(node, "num_sparse ", num_sparse, " does not match sparse_types");
    }
  }
  if (form == ParseSpec::Form::kSingle) {
    if (const auto* k = node.attrs.Get<std::vector<std::string>>("sparse_keys")) {
      spec.sparse_keys = *k;
    }
    if (const auto* k = node.attrs.Get<std::vector<std::string>>("dense_keys")) {
      spec.dense_keys = *k;
    }
    if (spec.sparse_keys.size() != spec.sparse_types.size() || spec.dense_keys.size() != nd) {
      return NodeError(node, "sparse_keys/dense_keys do not match sparse_types/Tdense");
    }
  }
  return MakeKernel([spec](KernelContext* ctx) { return Run(spec, ctx); });
}

}  // namespace

absl::Status RegisterExampleKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ParseExample", [](const KernelBuildContext& b) {
    return ParseFactory(b, ParseSpec::Form::kV1);
  }));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ParseExampleV2", [](const KernelBuildContext& b) {
    return ParseFactory(b, ParseSpec::Form::kV2);
  }));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "ParseSingleExample", [](const KernelBuildContext& b) {
    return ParseFactory(b, ParseSpec::Form::kSingle);
  }));
  for (const char* op : {"ParseExample", "ParseExampleV2", "ParseSingleExample"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {nullptr, flops::DataMovement}));
  }
  return absl::OkStatus();
}

}  // namespace feature_internal
}  // namespace rankopt
