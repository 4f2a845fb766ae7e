#include "serving/synthetic_requests.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// A deterministic spread of small non-negative integers: feature `salt`, element `k`.
int64_t Mix(int64_t salt, int64_t k) { return (k * 7919 + salt * 104729 + 13) & 0x7fffffff; }

// A float in [-1, 1].
double Unit(int64_t salt, int64_t k) {
  return static_cast<double>(Mix(salt, k) % 2001) / 1000.0 - 1.0;
}

FeatureValue CategoricalValue(const FeatureSpec& feature, int64_t bound, int64_t salt, int64_t k) {
  const CategoricalSpec& c = feature.categorical;
  switch (c.source) {
    case CategoricalSpec::Source::kHash:
      return absl::StrCat("v", Mix(salt, k) % 1000);
    case CategoricalSpec::Source::kVocabulary:
      if (c.vocabulary.empty()) return absl::StrCat("v", k);  // every value is out of vocabulary
      return c.vocabulary[static_cast<size_t>(Mix(salt, k)) % c.vocabulary.size()];
    case CategoricalSpec::Source::kIdentity:
      return bound < 2 ? int64_t{0} : 1 + Mix(salt, k) % (bound - 1);
    case CategoricalSpec::Source::kPassthrough:
      return int64_t{0};  // no range is known: the one value every id range holds
  }
  return std::monostate();
}

FeatureValue NumericValue(const FeatureSpec& feature, int64_t salt, int64_t k) {
  const NumericSpec& n = feature.numeric;
  double v = Unit(salt, k);
  if (!n.boundaries.empty()) {
    const size_t count = n.boundaries.size();
    if (count == 1) {
      v = n.boundaries[0];
    } else {
      const size_t j = static_cast<size_t>(Mix(salt, k)) % (count - 1);
      v = (static_cast<double>(n.boundaries[j]) + static_cast<double>(n.boundaries[j + 1])) / 2;
    }
  } else if (n.normalize == NumericSpec::Normalize::kStandard) {
    v = n.mean + n.stddev * v;
  } else if (n.normalize == NumericSpec::Normalize::kMinMax) {
    v = n.min + (n.max - n.min) * (v + 1) / 2;
  }
  if (n.from_string) return absl::StrCat(v);
  return v;
}

// Ids of the feature are valid below this (see the header).
int64_t IdBound(const FeatureSpec& feature,
                const absl::flat_hash_map<std::string, int64_t>& table_rows) {
  int64_t bound = feature.categorical.NumIds();
  auto rows =
      feature.embedding.has_value() ? table_rows.find(feature.embedding->table) : table_rows.end();
  return std::min(bound, rows != table_rows.end() ? rows->second : int64_t{10});
}

FeatureValue ValueOf(const FeatureSpec& feature, int64_t bound, int64_t salt, int64_t k) {
  switch (feature.kind) {
    case FeatureKind::kCategorical:
      return CategoricalValue(feature, bound, salt, k);
    case FeatureKind::kNumeric:
      return NumericValue(feature, salt, k);
    case FeatureKind::kSequence: {
      const int64_t length = std::max<int64_t>(1, (feature.max_len * 3 + 3) / 4);
      const bool strings = feature.categorical.source != CategoricalSpec::Source::kIdentity;
      std::vector<int64_t> ids;
      std::vector<std::string> texts;
      for (int64_t e = 0; e < length; ++e) {
        FeatureValue element = CategoricalValue(feature, bound, salt, k * 1009 + e);
        if (strings) {
          texts.push_back(std::get<std::string>(std::move(element)));
        } else {
          ids.push_back(std::get<int64_t>(element));
        }
      }
      if (strings) return texts;
      return ids;
    }
    case FeatureKind::kCross:
    case FeatureKind::kSequenceLength:
      break;
  }
  return std::monostate();
}

}  // namespace

absl::flat_hash_map<std::string, int64_t> TableRowsOf(const FeatureConfig& config,
                                                      const Graph& graph) {
  absl::flat_hash_map<std::string, int64_t> rows;
  for (const TableSpec& table : config.tables) {
    if (table.rows > 0) {
      rows[table.name] = table.rows;
      continue;
    }
    if (table.source != TableSpec::Source::kGraphConstant) continue;
    const Node* node = graph.FindNode(table.source_name);
    if (node == nullptr || node->op != kConstOp) continue;
    const Tensor* value = node->attrs.Get<Tensor>("value");
    if (value != nullptr && !value->dims().empty()) rows[table.name] = value->dims()[0];
  }
  return rows;
}

Request SynthesizeFeatureRequest(const FeatureConfig& config,
                                 const absl::flat_hash_map<std::string, int64_t>& table_rows,
                                 int64_t candidates) {
  Request request;
  request.candidates.resize(static_cast<size_t>(std::max<int64_t>(0, candidates)));
  for (size_t f = 0; f < config.features.size(); ++f) {
    const FeatureSpec& feature = config.features[f];
    if (feature.kind == FeatureKind::kCross || feature.kind == FeatureKind::kSequenceLength) {
      continue;
    }
    const int64_t bound = IdBound(feature, table_rows);
    const int64_t salt = static_cast<int64_t>(f);
    switch (feature.side) {
      case FeatureSide::kUser:
        request.user.Append(feature.name, ValueOf(feature, bound, salt, 0));
        break;
      case FeatureSide::kContext:
        request.context.Append(feature.name, ValueOf(feature, bound, salt, 0));
        break;
      case FeatureSide::kItem:
        for (size_t i = 0; i < request.candidates.size(); ++i) {
          request.candidates[i].Append(feature.name,
                                       ValueOf(feature, bound, salt, static_cast<int64_t>(i)));
        }
        break;
    }
  }
  return request;
}

namespace {

template <typename T>
void FillAs(std::string* bytes, int64_t count, double value_of_index(int64_t)) {
  bytes->resize(static_cast<size_t>(count) * sizeof(T));
  T* p = reinterpret_cast<T*>(bytes->data());
  for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(value_of_index(i));
}

double IdOf(int64_t i) { return static_cast<double>(1 + (i * 7) % 9); }
double HalfOf(int64_t) { return 0.5; }

}  // namespace

absl::StatusOr<std::vector<NamedTensor>> SynthesizeGraphInputs(
    absl::Span<const ExecutionPlan::Input> inputs, int64_t n) {
  std::vector<NamedTensor> out;
  for (const ExecutionPlan::Input& in : inputs) {
    std::vector<int64_t> dims;
    if (!in.shape.known_rank()) {
      dims = {n};
    } else {
      for (int d = 0; d < in.shape.rank(); ++d) {
        const int64_t dim = in.shape.dim(d);
        dims.push_back(dim != Shape::kUnknownDim ? dim : (d == 0 ? n : 1));
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(int64_t count, CheckedNumElements(dims));
    std::string bytes;
    switch (in.dtype) {
      case DType::kFloat32:
        FillAs<float>(&bytes, count, HalfOf);
        break;
      case DType::kFloat64:
        FillAs<double>(&bytes, count, HalfOf);
        break;
      case DType::kInt64:
        FillAs<int64_t>(&bytes, count, IdOf);
        break;
      case DType::kInt32:
        FillAs<int32_t>(&bytes, count, IdOf);
        break;
      case DType::kBool:
        FillAs<bool>(&bytes, count, HalfOf);
        break;
      default:
        return absl::UnimplementedError(absl::StrCat("cannot synthesize input '", in.name,
                                                     "' of dtype ", DTypeName(in.dtype),
                                                     "; pass --requests with real inputs"));
    }
    RANKOPT_ASSIGN_OR_RETURN(Tensor t, Tensor::FromBytes(in.dtype, dims, bytes));
    out.push_back({in.name, std::move(t)});
  }
  return out;
}

absl::StatusOr<std::vector<NamedTensor>> SynthesizeScorerInputs(
    const Scorer& scorer, const absl::flat_hash_map<std::string, int64_t>& table_rows, int64_t n) {
  if (scorer.transformer() == nullptr) {
    return absl::FailedPreconditionError(
        "synthesized feature requests need a scorer with a feature config");
  }
  const Request request = SynthesizeFeatureRequest(scorer.transformer()->config(), table_rows, n);
  ScorerContext context;
  RANKOPT_RETURN_IF_ERROR(scorer.Feed(request, &context));
  std::vector<NamedTensor> out;
  for (const NamedTensorView& feed : context.feeds.views) {
    RANKOPT_ASSIGN_OR_RETURN(
        Tensor t,
        Tensor::FromBytes(
            feed.view.dtype, std::vector<int64_t>(feed.view.dims.begin(), feed.view.dims.end()),
            absl::string_view(static_cast<const char*>(feed.view.data), feed.view.ByteSize())));
    out.push_back({feed.name, std::move(t)});
  }
  return out;
}

namespace {

bool IsCandidateInput(const ExecutionPlan::Input& in) {
  return !in.shape.known_rank() || (in.shape.rank() >= 1 && in.shape.dim(0) == Shape::kUnknownDim);
}

const ExecutionPlan::Input* FindInput(const ExecutionPlan& plan, const std::string& name) {
  for (const ExecutionPlan::Input& in : plan.inputs()) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<RequestTemplate> LoadRequestTemplate(const std::string& path,
                                                    const ExecutionPlan& plan) {
  RANKOPT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  // A JSON-lines file: its first non-blank line is the first request.
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(text, path);
  if (!doc.ok()) {
    const size_t start = text.find_first_not_of(" \t\r\n");
    const size_t end = start == std::string::npos ? std::string::npos : text.find('\n', start);
    if (start != std::string::npos && end != std::string::npos) {
      absl::StatusOr<TensorJsonDocument> first =
          ParseTensorJson(text.substr(start, end - start), absl::StrCat(path, ": first line"));
      if (first.ok()) doc = std::move(first);
    }
  }
  if (!doc.ok()) return doc.status();
  RequestTemplate t;
  for (NamedTensor& tensor : doc->inputs) {
    const ExecutionPlan::Input* in = FindInput(plan, tensor.name);
    if (in == nullptr) continue;  // e.g. an input a pruned model no longer needs
    if (!IsFixedWidth(tensor.tensor.dtype())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": input '", tensor.name, "' is not numeric"));
    }
    if (IsCandidateInput(*in) && !tensor.tensor.dims().empty()) {
      t.rows = std::max(t.rows, tensor.tensor.dims()[0]);
    }
    t.tensors.push_back(std::move(tensor));
  }
  if (t.rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no input with candidate rows (a dynamic leading dim of at least 1 row)"));
  }
  return t;
}

absl::StatusOr<std::vector<NamedTensor>> TileRequest(const RequestTemplate& t,
                                                     const ExecutionPlan& plan, int64_t n) {
  std::vector<NamedTensor> out;
  for (const NamedTensor& tensor : t.tensors) {
    const ExecutionPlan::Input* in = FindInput(plan, tensor.name);
    const std::vector<int64_t>& dims = tensor.tensor.dims();
    if (!IsCandidateInput(*in) || dims.empty() || dims[0] != t.rows) {
      out.push_back(tensor);
      continue;
    }
    const absl::string_view bytes = tensor.tensor.bytes();
    const size_t row_bytes = bytes.size() / static_cast<size_t>(t.rows);
    std::string tiled;
    tiled.reserve(row_bytes * n);
    for (int64_t r = 0; r < n; ++r) {
      tiled.append(bytes.data() + row_bytes * static_cast<size_t>(r % t.rows), row_bytes);
    }
    std::vector<int64_t> new_dims = dims;
    new_dims[0] = n;
    RANKOPT_ASSIGN_OR_RETURN(Tensor tiled_tensor,
                             Tensor::FromBytes(tensor.tensor.dtype(), new_dims, tiled));
    out.push_back({tensor.name, std::move(tiled_tensor)});
  }
  return out;
}

}  // namespace rankopt
