#include "graph/tf/table_init.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "graph/ir/table_attrs.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

bool IsTableOp(absl::string_view op) {
  return op == "HashTableV2" || op == "HashTable" || op == "MutableHashTableV2";
}

// The node behind `ref`, skipping Identity-like forwards.
const Node* Producer(const Graph& graph, TensorRef ref) {
  for (int hops = 0; hops < 64; ++hops) {
    const Node* node = graph.FindNode(ref.node);
    if (node == nullptr) return nullptr;
    if ((node->op != "Identity" && node->op != "Snapshot") || node->inputs.empty()) return node;
    ref = node->inputs[0];
  }
  return nullptr;
}

const Tensor* ConstantAt(const Graph& graph, const Node& consumer, size_t input) {
  if (input >= consumer.inputs.size()) return nullptr;
  const Node* node = Producer(graph, consumer.inputs[input]);
  if (node == nullptr || node->op != kConstOp) return nullptr;
  return node->attrs.Get<Tensor>("value");
}

std::string Where(const Node& init) {
  return absl::StrCat("table initializer '", init.name, "' (", init.op, ")");
}

// One column of a text line as a tensor element of `dtype`.
absl::Status AppendCell(DType dtype, absl::string_view cell, int64_t line_number,
                        std::vector<std::string>* strings, std::vector<int64_t>* ints,
                        std::vector<double>* floats) {
  switch (dtype) {
    case DType::kString:
      strings->emplace_back(cell);
      return absl::OkStatus();
    case DType::kInt64:
    case DType::kInt32: {
      int64_t v;
      if (!absl::SimpleAtoi(cell, &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number + 1, ": '", cell, "' is not an integer"));
      }
      ints->push_back(v);
      return absl::OkStatus();
    }
    case DType::kFloat32:
    case DType::kFloat64: {
      double v;
      if (!absl::SimpleAtod(cell, &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number + 1, ": '", cell, "' is not a number"));
      }
      floats->push_back(v);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("a text-file table cannot hold ", DTypeName(dtype)));
  }
}

absl::StatusOr<Tensor> MakeTensor(DType dtype, std::vector<std::string> strings,
                                  const std::vector<int64_t>& ints,
                                  const std::vector<double>& floats) {
  switch (dtype) {
    case DType::kString: {
      const int64_t n = static_cast<int64_t>(strings.size());
      return Tensor::FromStrings({n}, std::move(strings));
    }
    case DType::kInt64:
      return Tensor::FromValues<int64_t>({static_cast<int64_t>(ints.size())}, ints);
    case DType::kInt32: {
      std::vector<int32_t> v(ints.begin(), ints.end());
      return Tensor::FromValues<int32_t>({static_cast<int64_t>(v.size())}, v);
    }
    case DType::kFloat32: {
      std::vector<float> v(floats.begin(), floats.end());
      return Tensor::FromValues<float>({static_cast<int64_t>(v.size())}, v);
    }
    default:
      return Tensor::FromValues<double>({static_cast<int64_t>(floats.size())}, floats);
  }
}

// The asset file a graph-side path names.
std::string FindAsset(const std::string& model_dir, const std::string& path) {
  std::error_code ec;
  if (!model_dir.empty()) {
    const std::string in_assets =
        model_dir + "/assets/" + std::filesystem::path(path).filename().string();
    if (std::filesystem::is_regular_file(in_assets, ec)) return in_assets;
  }
  if (std::filesystem::is_regular_file(path, ec)) return path;
  if (!model_dir.empty() && std::filesystem::is_regular_file(model_dir + "/" + path, ec)) {
    return model_dir + "/" + path;
  }
  return std::string();
}

struct Contents {
  Tensor keys, values;
  std::string source;
};

absl::StatusOr<Contents> FromTextFile(const Graph& graph, const Node& init, const Node& table,
                                      const std::string& model_dir) {
  const Tensor* name = ConstantAt(graph, init, 1);
  if (name == nullptr || name->dtype() != DType::kString || name->num_elements() != 1) {
    return absl::FailedPreconditionError("filename is not a string constant");
  }
  const std::string named = name->strings()[0];
  const std::string path = FindAsset(model_dir, named);
  if (path.empty()) {
    return absl::NotFoundError(absl::StrCat(Where(init), ": vocabulary file '", named,
                                            "' is neither in ", model_dir,
                                            "/assets nor readable where the graph names it"));
  }
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat(Where(init), ": ", text.status().message()));
  }
  const int64_t* key_index = init.attrs.Get<int64_t>("key_index");
  const int64_t* value_index = init.attrs.Get<int64_t>("value_index");
  const int64_t* vocab_size = init.attrs.Get<int64_t>("vocab_size");
  const int64_t* offset = init.attrs.Get<int64_t>("offset");
  const std::string* delimiter = init.attrs.Get<std::string>("delimiter");
  const int64_t ki = key_index ? *key_index : -2, vi = value_index ? *value_index : -1;
  const std::string delim = delimiter ? *delimiter : "\t";
  const DType* key_dtype = table.attrs.Get<DType>("key_dtype");
  const DType* value_dtype = table.attrs.Get<DType>("value_dtype");
  if (key_dtype == nullptr || value_dtype == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("table '", table.name, "' has no key_dtype/value_dtype"));
  }
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (vocab_size != nullptr && *vocab_size >= 0) {
    if (static_cast<int64_t>(lines.size()) < *vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(Where(init), ": ", path, " has ", lines.size(),
                                                     " lines; vocab_size is ", *vocab_size));
    }
    lines.resize(static_cast<size_t>(*vocab_size));
  }
  std::vector<std::string> ks, vs;
  std::vector<int64_t> ki_ints, vi_ints;
  std::vector<double> kf, vf;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<absl::string_view> cells;
    if (ki >= 0 || vi >= 0) cells = absl::StrSplit(line, delim);
    auto cell = [&](int64_t index, DType dtype, std::vector<std::string>* s,
                    std::vector<int64_t>* n, std::vector<double>* f) -> absl::Status {
      if (index == -1) {
        n->push_back(static_cast<int64_t>(i) + (offset ? *offset : 0));
        return dtype == DType::kInt64 || dtype == DType::kInt32
                   ? absl::OkStatus()
                   : absl::InvalidArgumentError("a line-number column must be an integer");
      }
      if (index == -2) return AppendCell(dtype, line, static_cast<int64_t>(i), s, n, f);
      if (index < 0 || index >= static_cast<int64_t>(cells.size())) {
        return absl::InvalidArgumentError(absl::StrCat("line ", i + 1, " has ", cells.size(),
                                                       " columns; column ", index, " is read"));
      }
      return AppendCell(dtype, cells[index], static_cast<int64_t>(i), s, n, f);
    };
    absl::Status s = cell(ki, *key_dtype, &ks, &ki_ints, &kf);
    if (s.ok()) s = cell(vi, *value_dtype, &vs, &vi_ints, &vf);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(init), ": ", path, ": ", s.message()));
    }
  }
  Contents c;
  RANKOPT_ASSIGN_OR_RETURN(c.keys, MakeTensor(*key_dtype, std::move(ks), ki_ints, kf));
  RANKOPT_ASSIGN_OR_RETURN(c.values, MakeTensor(*value_dtype, std::move(vs), vi_ints, vf));
  c.source = absl::StrCat("asset ", std::filesystem::path(path).filename().string());
  return c;
}

// Integer values of `ref` when it is a constant, a Cast of one, or a Range over constant
// scalars (TF1's index_table_from_tensor makes its values as Cast(Range(0, size, 1))).
std::optional<std::vector<int64_t>> IntegerValues(const Graph& graph, TensorRef ref, int depth) {
  if (depth > 8) return std::nullopt;
  const Node* node = Producer(graph, ref);
  if (node == nullptr) return std::nullopt;
  if (node->op == kConstOp) {
    const Tensor* t = node->attrs.Get<Tensor>("value");
    if (t == nullptr) return std::nullopt;
    if (t->dtype() == DType::kInt64) {
      return std::vector<int64_t>(t->values<int64_t>().begin(), t->values<int64_t>().end());
    }
    if (t->dtype() == DType::kInt32) {
      return std::vector<int64_t>(t->values<int32_t>().begin(), t->values<int32_t>().end());
    }
    return std::nullopt;
  }
  if (node->op == "Cast" && node->inputs.size() == 1) {
    return IntegerValues(graph, node->inputs[0], depth + 1);
  }
  if (node->op == "Range" && node->inputs.size() == 3) {
    std::optional<std::vector<int64_t>> v[3];
    for (int i = 0; i < 3; ++i) {
      v[i] = IntegerValues(graph, node->inputs[i], depth + 1);
      if (!v[i].has_value() || v[i]->size() != 1) return std::nullopt;
    }
    const int64_t start = (*v[0])[0], limit = (*v[1])[0], delta = (*v[2])[0];
    if (delta == 0 || (limit - start) / delta > (int64_t{1} << 26)) return std::nullopt;
    std::vector<int64_t> out;
    for (int64_t x = start; delta > 0 ? x < limit : x > limit; x += delta) out.push_back(x);
    return out;
  }
  return std::nullopt;
}

absl::StatusOr<Contents> FromConstants(const Graph& graph, const Node& init, const Node& table) {
  const Tensor* keys = ConstantAt(graph, init, 1);
  const Tensor* values = ConstantAt(graph, init, 2);
  Tensor computed;
  if (values == nullptr && init.inputs.size() > 2) {
    const DType* value_dtype = table.attrs.Get<DType>("value_dtype");
    std::optional<std::vector<int64_t>> ints = IntegerValues(graph, init.inputs[2], 0);
    if (ints.has_value() && value_dtype != nullptr &&
        (*value_dtype == DType::kInt64 || *value_dtype == DType::kInt32)) {
      RANKOPT_ASSIGN_OR_RETURN(computed, MakeTensor(*value_dtype, {}, *ints, {}));
      values = &computed;
    }
  }
  if (keys == nullptr || values == nullptr) {
    return absl::FailedPreconditionError("keys/values are not constants");
  }
  if (keys->num_elements() != values->num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(init), ": ", keys->num_elements(), " keys but ", values->num_elements(), " values"));
  }
  Contents c;
  c.keys = *keys;
  c.values = *values;
  c.source = "constants";
  return c;
}

}  // namespace

absl::Status FillTables(Graph* graph, const std::string& model_dir) {
  std::vector<std::pair<std::string, Contents>> filled;  // table node -> contents
  for (const Node& init : graph->nodes()) {
    const bool text = init.op == "InitializeTableFromTextFileV2";
    if (!text && init.op != "InitializeTableV2" && init.op != "LookupTableImportV2") continue;
    if (init.inputs.empty()) continue;
    const Node* table = Producer(*graph, init.inputs[0]);
    if (table == nullptr || !IsTableOp(table->op)) continue;
    absl::StatusOr<Contents> contents =
        text ? FromTextFile(*graph, init, *table, model_dir) : FromConstants(*graph, init, *table);
    if (absl::IsFailedPrecondition(contents.status())) continue;  // not static: left alone
    if (!contents.ok()) return contents.status();
    filled.emplace_back(table->name, *std::move(contents));
  }
  if (filled.empty()) return absl::OkStatus();
  std::vector<Node> nodes = graph->nodes();
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i].name] = i;
  for (auto& [name, contents] : filled) {
    Node& table = nodes[index[name]];
    // Tables sharing a shared_name are one table in TF (a TF2 init function and the serving
    // function each hold a handle to it).
    // A copy: setting the attributes below may move the table's attribute storage.
    const std::string* shared_attr = table.attrs.Get<std::string>("shared_name");
    const std::string shared = shared_attr != nullptr ? *shared_attr : std::string();
    for (Node& node : nodes) {
      if (&node != &table) {
        if (!IsTableOp(node.op) || shared.empty()) continue;
        const std::string* other = node.attrs.Get<std::string>("shared_name");
        if (other == nullptr || *other != shared) continue;
      }
      node.attrs.Set(kTableKeysAttr, contents.keys);
      node.attrs.Set(kTableValuesAttr, contents.values);
      node.attrs.Set(kTableSourceAttr, contents.source);
    }
  }
  return graph->SetNodes(std::move(nodes));
}

}  // namespace rankopt
