#include "serving/remote/remote_graph.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "embedding/storage/embedding_table.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/fuse_multi_lookup.h"
#include "rankopt/status_macros.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace rankopt {

namespace {

constexpr absl::string_view kRemoteTableAttr = "remote_table";
constexpr absl::string_view kKeyPrefixAttr = "remote_key_prefix";
constexpr absl::string_view kXxh64Attr = "table_xxh64";
constexpr absl::string_view kRedisAttr = "remote_redis";
constexpr absl::string_view kRowsSuffix = "/remote_rows";
constexpr absl::string_view kIdsSuffix = "/remote_ids";

bool IsLocalLookup(const Node& n) {
  return n.op == kEmbeddingLookupOp || n.op == kEmbeddingBagOp;
}
bool IsRemoteLookup(const Node& n) {
  return n.op == kRemoteEmbeddingLookupOp || n.op == kRemoteEmbeddingBagOp;
}

// Ops whose output values are a subset of their data inputs' values (moved, reshaped,
// selected); the inputs listed are the data inputs (-1: all non-constant inputs).
int DataInputsOf(const Node& n) {
  static const auto* kFirst = new absl::flat_hash_set<std::string>{
      "Identity", "Reshape", "Squeeze", "Unsqueeze", "ExpandDims", "Flatten", "Transpose",
      "Slice", "StridedSlice", "Gather", "GatherV2", "Tile", "_RankoptRequestRow"};
  if (kFirst->contains(n.op)) return 1;
  if (n.op == "Concat" || n.op == "ConcatV2") return -1;
  return 0;
}

absl::Status TraceIds(const Graph& graph, TensorRef ref, DType cast, bool wrap, int depth,
                      std::vector<RemoteIdSource>* sources) {
  if (depth > 64) return absl::FailedPreconditionError("the ids' producer chain is too deep");
  const Node* node = graph.FindNode(ref.node);
  if (node == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("ids come from unknown node '", ref.node, "'"));
  }
  if (node->op == kPlaceholderOp) {
    const bool onnx = graph.format() == ModelFormat::kOnnx;
    RemoteIdSource s;
    s.input = onnx && !node->output_names.empty() && !node->output_names[0].empty()
                  ? node->output_names[0]
                  : node->name;
    s.cast = cast;
    s.wrap_negative_ids = wrap;
    for (const RemoteIdSource& old : *sources) {
      if (old.input == s.input && old.cast == s.cast && old.wrap_negative_ids == wrap) {
        return absl::OkStatus();
      }
    }
    sources->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (node->op == kConstOp) return absl::OkStatus();  // constant ids: handled below by the caller
  if (node->op == "Cast") {
    const DType* to = node->attrs.Get<DType>("to");
    if (to == nullptr) to = node->attrs.Get<DType>("DstT");
    if (to == nullptr || (*to != DType::kInt32 && *to != DType::kInt64)) {
      return absl::FailedPreconditionError(
          absl::StrCat("ids pass through Cast '", node->name, "' to a non-integer type"));
    }
    return TraceIds(graph, node->inputs[0], *to == DType::kInt32 ? DType::kInt32 : cast, wrap,
                    depth + 1, sources);
  }
  const int data = DataInputsOf(*node);
  if (data == 0 || node->inputs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ids are computed by ", node->op, " '", node->name,
                     "' (only id-moving ops and casts can sit between a graph input and a "
                     "remote table)"));
  }
  const size_t count = data < 0 ? node->inputs.size() : 1;
  for (size_t i = 0; i < count; ++i) {
    if (node->inputs[i].empty()) continue;
    if (data < 0) {
      const Node* in = graph.FindNode(node->inputs[i].node);
      if (in != nullptr && in->op == kConstOp) continue;  // ConcatV2's axis
    }
    RANKOPT_RETURN_IF_ERROR(TraceIds(graph, node->inputs[i], cast, wrap, depth + 1, sources));
  }
  return absl::OkStatus();
}

// Const ids anywhere on the way would need their values too: refuse them (rare in exports).
bool HasConstIds(const Graph& graph, TensorRef ref, int depth) {
  const Node* node = graph.FindNode(ref.node);
  if (node == nullptr || depth > 64) return false;
  if (node->op == kConstOp) return true;
  if (node->op == kPlaceholderOp) return false;
  const int data = node->op == "Cast" ? 1 : DataInputsOf(*node);
  const size_t count = data < 0 ? node->inputs.size() : std::min<size_t>(1, node->inputs.size());
  for (size_t i = 0; i < count; ++i) {
    if (node->inputs[i].empty()) continue;
    const Node* in = graph.FindNode(node->inputs[i].node);
    if (data < 0 && in != nullptr && in->op == kConstOp && node->op == "ConcatV2" &&
        i + 1 == node->inputs.size()) {
      continue;
    }
    if (HasConstIds(graph, node->inputs[i], depth + 1)) return true;
  }
  return false;
}

absl::StatusOr<TableDType> ParseDTypeAttr(const Node& n) {
  const std::string* name = n.attrs.Get<std::string>(kEmbeddingTableDTypeAttr);
  if (name == nullptr || *name == "fp32") return TableDType::kFloat32;
  if (*name == "fp16") return TableDType::kFloat16;
  if (*name == "int8") return TableDType::kInt8RowWise;
  return absl::InvalidArgumentError(absl::StrCat("node '", n.name, "': attr '",
                                                 kEmbeddingTableDTypeAttr, "' is '", *name,
                                                 "'; expected int8, fp16 or fp32"));
}

}  // namespace

std::string RemoteTableDesc::ReadyMarker() const {
  return absl::StrFormat("%s %d %d %016x", TableDTypeName(dtype), rows, dim, xxh64);
}

std::string EscapeKeyComponent(absl::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == '%' || c == ':' || c == '{' || c == '}' || c == '*' || c == '?' || c == '[' ||
        c == ']' || c == '\\' || absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string RemoteKeyPrefix(absl::string_view model, absl::string_view version,
                            absl::string_view table) {
  return absl::StrCat("rankopt:", EscapeKeyComponent(model), ":", EscapeKeyComponent(version), ":",
                      EscapeKeyComponent(table), ":");
}

std::string RemoteVersionPattern(absl::string_view model, absl::string_view version) {
  // Escaped components hold no glob characters.
  return absl::StrCat("rankopt:", EscapeKeyComponent(model), ":", EscapeKeyComponent(version),
                      ":*");
}

absl::StatusOr<std::vector<RemotableTable>> FindRemotableTables(
    const Graph& fused, absl::string_view model, absl::string_view version,
    const std::vector<std::string>& names, std::vector<std::string>* skipped) {
  // Tables are found per lookup: an O2 multi-table lookup is looked at as its fields.
  Graph graph = fused;  // cheap: constants share storage
  RANKOPT_RETURN_IF_ERROR(SplitMultiLookups(&graph));
  absl::flat_hash_map<std::string, std::vector<const Node*>> readers;  // by table
  absl::flat_hash_set<std::string> other_readers;
  for (const Node& n : graph.nodes()) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Node* in = graph.FindNode(n.inputs[i].node);
      if (in == nullptr || in->op != kConstOp) continue;
      if (IsLocalLookup(n) && i == 0) {
        readers[in->name].push_back(&n);
      } else {
        other_readers.insert(in->name);
      }
    }
  }
  for (const GraphOutput& out : graph.outputs()) other_readers.insert(out.ref.node);
  for (const std::string& name : names) {
    if (!readers.contains(name)) {
      std::vector<std::string> tables;
      for (const auto& [t, _] : readers) tables.push_back(t);
      std::sort(tables.begin(), tables.end());
      return absl::InvalidArgumentError(
          absl::StrCat("'", name, "' is not an embedding table of the graph; its tables are: ",
                       absl::StrJoin(tables, ", ")));
    }
  }
  std::vector<RemotableTable> out;
  for (const Node& n : graph.nodes()) {
    auto it = readers.find(n.name);
    if (it == readers.end()) continue;
    if (!names.empty() && std::find(names.begin(), names.end(), n.name) == names.end()) continue;
    if (other_readers.contains(n.name)) {
      skipped->push_back(absl::StrCat(n.name, ": read by nodes other than embedding lookups"));
      continue;
    }
    RemotableTable t;
    t.desc.table = n.name;
    t.desc.key_prefix = RemoteKeyPrefix(model, version, n.name);
    const Tensor* value = n.attrs.Get<Tensor>("value");
    if (value == nullptr || value->dims().size() != 2) {
      skipped->push_back(absl::StrCat(n.name, ": not a 2-D constant"));
      continue;
    }
    absl::StatusOr<TableDType> dtype = ParseDTypeAttr(*it->second[0]);
    if (!dtype.ok()) return dtype.status();
    bool consistent = true;
    std::string why;
    for (const Node* r : it->second) {
      absl::StatusOr<TableDType> d = ParseDTypeAttr(*r);
      const int64_t* dim = r->attrs.Get<int64_t>(kEmbeddingTableDimAttr);
      if (!d.ok() || *d != *dtype ||
          (*dtype != TableDType::kFloat32 && (dim == nullptr || *dim < 1))) {
        consistent = false;
        why = "its readers disagree on its storage type";
      }
      std::vector<RemoteIdSource> sources;
      absl::Status traced = TraceIds(graph, r->inputs.size() > 1 ? r->inputs[1] : TensorRef{},
                                     DType::kInt64,
                                     r->attrs.Get<bool>("wrap_negative_ids") != nullptr &&
                                         *r->attrs.Get<bool>("wrap_negative_ids"),
                                     0, &sources);
      if (traced.ok() && r->inputs.size() > 1 && HasConstIds(graph, r->inputs[1], 0)) {
        traced = absl::FailedPreconditionError("some ids are graph constants");
      }
      if (!traced.ok()) {
        consistent = false;
        why = absl::StrCat("reader '", r->name, "': ", traced.message());
      }
      for (RemoteIdSource& s : sources) t.desc.sources.push_back(std::move(s));
    }
    if (!consistent) {
      skipped->push_back(absl::StrCat(n.name, ": ", why));
      continue;
    }
    t.desc.dtype = *dtype;
    t.desc.rows = value->dims()[0];
    if (*dtype == TableDType::kFloat32) {
      if (value->dtype() != DType::kFloat32) {
        skipped->push_back(absl::StrCat(n.name, ": an fp32 table that is not float32"));
        continue;
      }
      t.desc.dim = value->dims()[1];
    } else {
      t.desc.dim = *it->second[0]->attrs.Get<int64_t>(kEmbeddingTableDimAttr);
      if (value->dtype() != DType::kUInt8 ||
          static_cast<int64_t>(RowBytes(*dtype, t.desc.dim)) != value->dims()[1]) {
        skipped->push_back(absl::StrCat(n.name, ": rows do not match table_dim"));
        continue;
      }
    }
    t.desc.row_bytes = RowBytes(*dtype, t.desc.dim);
    if (t.desc.rows < 1 || t.desc.dim < 1 ||
        value->bytes().size() != static_cast<size_t>(t.desc.rows) * t.desc.row_bytes) {
      skipped->push_back(absl::StrCat(n.name, ": empty or inconsistent table"));
      continue;
    }
    t.desc.xxh64 = XXH64(value->bytes().data(), value->bytes().size(), 0);
    t.value = *value;
    out.push_back(std::move(t));
  }
  return out;
}

absl::Status MakeTablesRemote(const std::vector<RemotableTable>& tables, absl::string_view redis,
                              Graph* graph) {
  RANKOPT_RETURN_IF_ERROR(SplitMultiLookups(graph));  // remote lookups are per field
  const bool onnx = graph->format() == ModelFormat::kOnnx;
  std::vector<Node> nodes;
  absl::flat_hash_map<std::string, const RemotableTable*> by_name;
  for (const RemotableTable& t : tables) by_name[t.desc.table] = &t;
  size_t found = 0;
  for (const Node& n : graph->nodes()) {
    auto it = by_name.find(n.name);
    if (it != by_name.end() && n.op == kConstOp) {
      ++found;
      const RemoteTableDesc& d = it->second->desc;
      const bool fp32 = d.dtype == TableDType::kFloat32;
      Node rows;
      rows.name = absl::StrCat(n.name, kRowsSuffix);
      rows.op = std::string(kPlaceholderOp);
      rows.attrs.Set("dtype", fp32 ? DType::kFloat32 : DType::kUInt8);
      rows.attrs.Set("shape", Shape({-1, fp32 ? d.dim : static_cast<int64_t>(d.row_bytes)}));
      rows.attrs.Set(std::string(kRemoteTableAttr), d.table);
      rows.attrs.Set(std::string(kKeyPrefixAttr), d.key_prefix);
      rows.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(TableDTypeName(d.dtype)));
      rows.attrs.Set(std::string(kEmbeddingTableDimAttr), d.dim);
      rows.attrs.Set(std::string(kEmbeddingTableRowsAttr), d.rows);
      rows.attrs.Set(std::string(kXxh64Attr), static_cast<int64_t>(d.xxh64));
      rows.attrs.Set(std::string(kRedisAttr), std::string(redis));
      if (onnx) rows.output_names = {rows.name};
      Node ids;
      ids.name = absl::StrCat(n.name, kIdsSuffix);
      ids.op = std::string(kPlaceholderOp);
      ids.attrs.Set("dtype", DType::kInt64);
      ids.attrs.Set("shape", Shape({-1}));
      if (onnx) ids.output_names = {ids.name};
      nodes.push_back(std::move(rows));
      nodes.push_back(std::move(ids));
      continue;
    }
    Node copy = n;
    if (IsLocalLookup(n) && !n.inputs.empty()) {
      auto t = by_name.find(n.inputs[0].node);
      if (t != by_name.end()) {
        const RemoteTableDesc& d = t->second->desc;
        copy.op = std::string(n.op == kEmbeddingLookupOp ? kRemoteEmbeddingLookupOp
                                                         : kRemoteEmbeddingBagOp);
        copy.inputs[0] = TensorRef{absl::StrCat(d.table, kRowsSuffix), 0};
        copy.inputs.push_back(TensorRef{absl::StrCat(d.table, kIdsSuffix), 0});
        copy.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(TableDTypeName(d.dtype)));
        copy.attrs.Set(std::string(kEmbeddingTableDimAttr), d.dim);
        copy.attrs.Set(std::string(kEmbeddingTableRowsAttr), d.rows);
      }
    }
    nodes.push_back(std::move(copy));
  }
  if (found != tables.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(tables.size() - found, " of the tables to make remote are not in the graph"));
  }
  return graph->SetNodes(std::move(nodes));
}

absl::StatusOr<std::vector<RemoteTableDesc>> DescribeRemoteTables(const Graph& graph) {
  std::vector<RemoteTableDesc> out;
  absl::flat_hash_map<std::string, size_t> by_rows_input;
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  for (const Node& n : graph.nodes()) {
    if (n.op != kPlaceholderOp || n.attrs.Find(kRemoteTableAttr) == nullptr) continue;
    RemoteTableDesc d;
    const std::string* table = n.attrs.Get<std::string>(kRemoteTableAttr);
    const std::string* prefix = n.attrs.Get<std::string>(kKeyPrefixAttr);
    const int64_t* dim = n.attrs.Get<int64_t>(kEmbeddingTableDimAttr);
    const int64_t* rows = n.attrs.Get<int64_t>(kEmbeddingTableRowsAttr);
    const int64_t* hash = n.attrs.Get<int64_t>(kXxh64Attr);
    const std::string* redis = n.attrs.Get<std::string>(kRedisAttr);
    absl::StatusOr<TableDType> dtype = ParseDTypeAttr(n);
    if (table == nullptr || prefix == nullptr || dim == nullptr || *dim < 1 ||
        *dim > kMaxTableDim || rows == nullptr || *rows < 1 || *rows > kMaxTableRows ||
        hash == nullptr || !dtype.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "remote table input '", n.name,
          "' lacks valid attrs (remote_table, remote_key_prefix, table_dtype, table_dim in [1, ",
          kMaxTableDim, "], table_rows >= 1, table_xxh64)"));
    }
    d.table = *table;
    d.key_prefix = *prefix;
    d.dtype = *dtype;
    d.dim = *dim;
    d.rows = *rows;
    d.row_bytes = RowBytes(*dtype, *dim);
    d.xxh64 = static_cast<uint64_t>(*hash);
    if (redis != nullptr) d.redis = *redis;
    d.rows_input = onnx && !n.output_names.empty() ? n.output_names[0] : n.name;
    by_rows_input[n.name] = out.size();
    out.push_back(std::move(d));
  }
  for (const Node& n : graph.nodes()) {
    if (!IsRemoteLookup(n)) continue;
    if (n.inputs.size() < 3) {
      return absl::InvalidArgumentError(absl::StrCat("remote lookup '", n.name, "' has ",
                                                     n.inputs.size(), " inputs; expected 3 or 4"));
    }
    auto it = by_rows_input.find(n.inputs[0].node);
    if (it == by_rows_input.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "remote lookup '", n.name, "' reads '", n.inputs[0].node,
          "', which is not a remote table's rows input"));
    }
    RemoteTableDesc& d = out[it->second];
    const Node* ids = graph.FindNode(n.inputs.back().node);
    if (ids == nullptr || ids->op != kPlaceholderOp) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote lookup '", n.name, "': its last input is not the fetched ids"));
    }
    const std::string ids_input =
        onnx && !ids->output_names.empty() ? ids->output_names[0] : ids->name;
    if (!d.ids_input.empty() && d.ids_input != ids_input) {
      return absl::InvalidArgumentError(absl::StrCat(
          "remote lookups of table '", d.table, "' read different fetched-ids inputs"));
    }
    d.ids_input = ids_input;
    const bool* wrap = n.attrs.Get<bool>("wrap_negative_ids");
    absl::Status traced =
        TraceIds(graph, n.inputs[1], DType::kInt64, wrap != nullptr && *wrap, 0, &d.sources);
    if (!traced.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote lookup '", n.name, "': ", traced.message()));
    }
  }
  for (const RemoteTableDesc& d : out) {
    if (d.ids_input.empty() || d.sources.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote table '", d.table, "' has no lookup reading it"));
    }
  }
  return out;
}

}  // namespace rankopt
