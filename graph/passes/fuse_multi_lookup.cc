#include "graph/passes/fuse_multi_lookup.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fuse_multi_lookup";

// One concat input that is a lookup's rows.
struct Piece {
  const Node* lookup = nullptr;
  std::vector<const Node*> reshapes;  // Unsqueeze / ExpandDims between lookup and concat
  Shape shape;                        // as the concat reads it
  int64_t dim = 0;                    // values per table row
  bool wrap = false;
};

class Fuser {
 public:
  Fuser(const Graph& in) : in_(in), onnx_(in.format() == ModelFormat::kOnnx) {}

  absl::Status Init(const PassOptions& options) {
    RANKOPT_ASSIGN_OR_RETURN(consumers_, pass_util::CountConsumers(in_, options));
    RANKOPT_ASSIGN_OR_RETURN(shapes_, InferShapes(in_));
    names_ = pass_util::NodeNames(in_);
    return absl::OkStatus();
  }

  void Visit(const Node& concat);
  absl::StatusOr<PassReport> Finish(Graph* out);

 private:
  // The piece behind concat input `ref` (axis `axis` of rank `rank`), or why not (empty: not a
  // lookup at all).
  std::variant<Piece, std::string> MatchPiece(const TensorRef& ref, int axis, int rank) const;
  // Whether `ref` is read once, by one node, and is no output.
  bool Private(const TensorRef& ref) const {
    return consumers_.SingleReader(ref) && !consumers_.protected_tensors.contains(ref);
  }

  const Graph& in_;
  bool onnx_;
  pass_util::Consumers consumers_;
  ShapeMap shapes_;
  absl::flat_hash_set<std::string> names_;

  absl::flat_hash_set<std::string> erased_;
  absl::flat_hash_map<std::string, Node> replaced_;                    // concat -> its new form
  absl::flat_hash_map<std::string, std::vector<Node>> insert_before_;  // concat -> new nodes
  std::vector<std::string> notes_;
  std::vector<std::string> near_misses_;
};

std::variant<Piece, std::string> Fuser::MatchPiece(const TensorRef& ref, int axis, int rank) const {
  Piece piece;
  TensorRef t = ref;
  for (;;) {
    const Node* node = in_.FindNode(t.node);
    if (node == nullptr || t.port != 0) return std::string();
    const bool unsqueeze = onnx_ ? node->op == "Unsqueeze" : node->op == "ExpandDims";
    if (node->op == kEmbeddingLookupOp) {
      piece.lookup = node;
      break;
    }
    if (node->op == "_RankoptBroadcastRows" && !node->inputs.empty()) {
      // A once-per-request field broadcast to the candidates: a lookup behind it is a near miss.
      for (const Node* m = in_.FindNode(node->inputs[0].node); m != nullptr;) {
        if (m->op == kEmbeddingLookupOp) {
          return absl::StrCat("its rows are a once-per-request lookup's ('", m->name,
                              "') broadcast to the candidates (_RankoptBroadcastRows '",
                              node->name, "')");
        }
        const bool through = (m->op == "Unsqueeze" || m->op == "ExpandDims") && !m->inputs.empty();
        m = through ? in_.FindNode(m->inputs[0].node) : nullptr;
      }
      return std::string();
    }
    if (!unsqueeze || !node->domain.empty() || node->inputs.empty()) return std::string();
    piece.reshapes.push_back(node);
    t = node->inputs[0];
  }
  const Node& lookup = *piece.lookup;
  if (!lookup.control_inputs.empty() || lookup.inputs.size() != 2) {
    return std::string("it has control inputs or not 2 inputs");
  }
  // Every link private to this chain.
  TensorRef link{lookup.name, 0};
  for (auto it = piece.reshapes.rbegin(); it != piece.reshapes.rend(); ++it) {
    if (!Private(link)) return absl::StrCat("'", link.ToString(), "' is read elsewhere too");
    if (!(*it)->control_inputs.empty())
      return absl::StrCat("'", (*it)->name, "' has control inputs");
    link = TensorRef{(*it)->name, 0};
  }
  if (!Private(link)) return absl::StrCat("'", link.ToString(), "' is read elsewhere too");
  // The row width: the table's dim.
  const int64_t* dim_attr = lookup.attrs.Get<int64_t>(kEmbeddingTableDimAttr);
  const Tensor* table = pass_util::ConstValue(in_, lookup.inputs[0]);
  if (dim_attr != nullptr) {
    piece.dim = *dim_attr;
  } else if (table != nullptr && table->dims().size() == 2) {
    piece.dim = table->dims()[1];
  } else {
    return std::string("its table is not a constant [rows, dim]");
  }
  const bool* wrap = lookup.attrs.Get<bool>("wrap_negative_ids");
  piece.wrap = wrap != nullptr && *wrap;
  piece.shape = LookupInferred(shapes_, ref).shape;
  if (!piece.shape.known_rank() || piece.shape.rank() != rank) {
    return absl::StrCat("its shape ", piece.shape.ToString(), " is not of the concat's rank ",
                        rank);
  }
  int64_t inner = 1;
  for (int d = axis; d < rank; ++d) {
    if (piece.shape.dim(d) < 0) {
      return absl::StrCat("its shape ", piece.shape.ToString(), " has an unknown dim at or after ",
                          "the concat axis ", axis);
    }
    inner *= piece.shape.dim(d);
  }
  if (inner != piece.dim) {
    return absl::StrCat("its shape ", piece.shape.ToString(), " holds ", inner,
                        " values from the concat axis ", axis, " on, not one table row of ",
                        piece.dim, " (the rows before the axis must be the ids)");
  }
  return piece;
}

void Fuser::Visit(const Node& concat) {
  const bool is_concat =
      onnx_ ? (concat.op == "Concat" && concat.domain.empty()) : concat.op == "ConcatV2";
  if (!is_concat || !concat.control_inputs.empty() || concat.inputs.size() < 2) return;
  const Shape& out_shape = LookupInferred(shapes_, TensorRef{concat.name, 0}).shape;
  if (!out_shape.known_rank() || out_shape.rank() < 1) return;
  const int rank = out_shape.rank();
  int64_t axis = 0;
  size_t data_inputs = concat.inputs.size();
  if (onnx_) {
    const int64_t* a = concat.attrs.Get<int64_t>("axis");
    if (a == nullptr) return;
    axis = *a;
  } else {
    std::optional<std::vector<int64_t>> a = pass_util::ConstInts(in_, concat.inputs.back());
    if (!a.has_value() || a->size() != 1) return;
    axis = (*a)[0];
    --data_inputs;
  }
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return;

  std::vector<std::optional<Piece>> pieces(data_inputs);
  std::vector<std::string> misses;
  int lookups = 0;
  for (size_t k = 0; k < data_inputs; ++k) {
    std::variant<Piece, std::string> m = MatchPiece(concat.inputs[k], static_cast<int>(axis), rank);
    if (Piece* p = std::get_if<Piece>(&m)) {
      pieces[k] = std::move(*p);
      ++lookups;
    } else if (!std::get<std::string>(m).empty()) {
      ++lookups;
      misses.push_back(absl::StrCat("near miss at node '", concat.inputs[k].node, "' (concat '",
                                    concat.name, "'): ", std::get<std::string>(m)));
    }
  }
  if (axis == 0 && lookups >= 2) {
    near_misses_.push_back(absl::StrCat("near miss at node '", concat.name, "' (concat '",
                                        concat.name,
                                        "'): it concatenates along axis 0 (the rows)"));
    return;
  }
  if (lookups >= 2) {
    for (std::string& m : misses) near_misses_.push_back(std::move(m));
  }
  // Runs of >= 2 consecutive pieces with one wrap mode.
  std::vector<std::pair<size_t, size_t>> runs;  // [begin, end)
  for (size_t k = 0; k < data_inputs;) {
    if (!pieces[k].has_value()) {
      ++k;
      continue;
    }
    size_t e = k + 1;
    while (e < data_inputs && pieces[e].has_value() && pieces[e]->wrap == pieces[k]->wrap) ++e;
    if (e - k >= 2) runs.push_back({k, e});
    k = e;
  }
  if (runs.empty()) return;

  const bool whole = runs.size() == 1 && runs[0].first == 0 && runs[0].second == data_inputs;
  Node rewritten = concat;
  std::vector<TensorRef> new_inputs;
  size_t next = 0;
  int fused_here = 0;
  for (const auto& [b, e] : runs) {
    // The output shape: the leading dims (one may be unknown: the rows), the summed axis, the
    // rest (equal in every piece).
    const Shape& first = pieces[b]->shape;
    std::vector<int64_t> out_dims;
    int unknown = 0;
    for (int d = 0; d < axis; ++d) {
      out_dims.push_back(first.dim(d) < 0 ? -1 : first.dim(d));
      unknown += first.dim(d) < 0;
    }
    int64_t summed = 0;
    bool same_rest = true;
    for (size_t k = b; k < e; ++k) {
      summed += pieces[k]->shape.dim(static_cast<int>(axis));
      for (int d = static_cast<int>(axis) + 1; d < rank; ++d) {
        same_rest &= pieces[k]->shape.dim(d) == first.dim(d);
      }
    }
    if (unknown > 1 || !same_rest) {
      near_misses_.push_back(absl::StrCat(
          "near miss at node '", concat.inputs[b].node, "' (concat '", concat.name, "'): ",
          unknown > 1 ? "more than one unknown dim before the concat axis"
                      : "the pieces differ after the concat axis"));
      continue;
    }
    out_dims.push_back(summed);
    for (int d = static_cast<int>(axis) + 1; d < rank; ++d) out_dims.push_back(first.dim(d));

    Node multi;
    multi.name = whole ? concat.name
                       : pass_util::UniqueName(absl::StrCat(concat.name, "/multi_lookup"), &names_);
    multi.op = std::string(kMultiLookupOp);
    multi.device = concat.device;
    if (onnx_)
      multi.output_names = whole ? concat.output_names : std::vector<std::string>{multi.name};
    std::vector<std::string> dtypes;
    std::vector<int64_t> dims;
    bool quantized = false;
    std::vector<std::string> fields;
    for (size_t k = b; k < e; ++k) {
      const Node& lookup = *pieces[k]->lookup;
      multi.inputs.push_back(lookup.inputs[0]);
      multi.inputs.push_back(lookup.inputs[1]);
      const std::string* dtype = lookup.attrs.Get<std::string>(kEmbeddingTableDTypeAttr);
      dtypes.push_back(dtype == nullptr ? "fp32" : *dtype);
      quantized |= dtype != nullptr && *dtype != "fp32";
      dims.push_back(pieces[k]->dim);
      erased_.insert(lookup.name);
      for (const Node* r : pieces[k]->reshapes) erased_.insert(r->name);
      fields.push_back(lookup.name);
    }
    multi.attrs.Set("out_dims", out_dims);
    multi.attrs.Set("wrap_negative_ids", pieces[b]->wrap);
    if (quantized) {
      multi.attrs.Set("table_dtypes", dtypes);
      multi.attrs.Set("table_dims", dims);
    }
    notes_.push_back(absl::StrCat("'", multi.name, "': ", e - b, " lookups into [",
                                  absl::StrJoin(out_dims, ","), "] (", fields.front(), " .. ",
                                  fields.back(), ")"));
    ++fused_here;
    if (whole) {
      replaced_[concat.name] = std::move(multi);
      return;
    }
    for (; next < b; ++next) new_inputs.push_back(concat.inputs[next]);
    new_inputs.push_back(TensorRef{multi.name, 0});
    next = e;
    insert_before_[concat.name].push_back(std::move(multi));
  }
  if (fused_here == 0) return;
  for (; next < concat.inputs.size(); ++next) new_inputs.push_back(concat.inputs[next]);
  rewritten.inputs = std::move(new_inputs);
  replaced_[concat.name] = std::move(rewritten);
}

absl::StatusOr<PassReport> Fuser::Finish(Graph* out) {
  PassReport report;
  report.pass = std::string(kPassName);
  if (replaced_.empty()) {
    AddNotApplicableNotes("no concat of two or more embedding lookups",
                          "concat input(s) of embedding lookups did not fit", &near_misses_,
                          &report);
    RecordNodeCounts(in_, in_, &report);
    if (out != &in_) *out = in_;
    return report;
  }
  std::vector<Node> result;
  result.reserve(in_.num_nodes());
  for (const Node& node : in_.nodes()) {
    if (erased_.contains(node.name)) continue;
    if (auto it = insert_before_.find(node.name); it != insert_before_.end()) {
      for (Node& n : it->second) result.push_back(std::move(n));
    }
    if (auto it = replaced_.find(node.name); it != replaced_.end()) {
      result.push_back(std::move(it->second));
    } else {
      result.push_back(node);
    }
  }
  Graph graph = in_;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RecordNodeCounts(in_, graph, &report);
  report.changed = true;
  for (std::string& note : notes_) report.notes.push_back(std::move(note));
  for (std::string& m : near_misses_) report.notes.push_back(std::move(m));
  *out = std::move(graph);
  return report;
}

}  // namespace

absl::Status SplitMultiLookups(Graph* graph) {
  const bool onnx = graph->format() == ModelFormat::kOnnx;
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(*graph);
  std::vector<Node> result;
  bool changed = false;
  auto int64s = [&](const std::string& base, std::vector<int64_t> values) -> absl::StatusOr<Node> {
    const int64_t count = static_cast<int64_t>(values.size());
    RANKOPT_ASSIGN_OR_RETURN(Tensor t, Tensor::FromValues<int64_t>({count}, values));
    return pass_util::MakeConst(*graph, pass_util::UniqueName(base, &names), std::move(t));
  };
  auto with_output = [&](Node node) {
    if (onnx) node.output_names = {node.name};
    return node;
  };
  for (const Node& m : graph->nodes()) {
    if (m.op != kMultiLookupOp) {
      result.push_back(m);
      continue;
    }
    changed = true;
    const size_t fields = m.inputs.size() / 2;
    const auto* dtypes = m.attrs.Get<std::vector<std::string>>("table_dtypes");
    const auto* dims = m.attrs.Get<std::vector<int64_t>>("table_dims");
    const auto* out_dims = m.attrs.Get<std::vector<int64_t>>("out_dims");
    const bool* wrap = m.attrs.Get<bool>("wrap_negative_ids");
    if (out_dims == nullptr || m.inputs.size() % 2 != 0 || fields == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          kMultiLookupOp, " node '", m.name, "' lacks attr out_dims or (table, ids) pairs"));
    }
    std::vector<TensorRef> rows;
    for (size_t f = 0; f < fields; ++f) {
      Node lookup;
      lookup.name = pass_util::UniqueName(absl::StrCat(m.name, "/field_", f), &names);
      lookup.op = std::string(kEmbeddingLookupOp);
      lookup.device = m.device;
      lookup.inputs = {m.inputs[2 * f], m.inputs[2 * f + 1]};
      lookup.attrs.Set("wrap_negative_ids", wrap != nullptr && *wrap);
      int64_t dim = -1;
      if (dtypes != nullptr && f < dtypes->size() && (*dtypes)[f] != "fp32") {
        lookup.attrs.Set(std::string(kEmbeddingTableDTypeAttr), (*dtypes)[f]);
        if (dims != nullptr && f < dims->size()) {
          lookup.attrs.Set(std::string(kEmbeddingTableDimAttr), (*dims)[f]);
        }
      }
      if (dims != nullptr && f < dims->size()) {
        dim = (*dims)[f];
      } else if (const Tensor* t = pass_util::ConstValue(*graph, m.inputs[2 * f]);
                 t != nullptr && t->dims().size() == 2) {
        dim = t->dims()[1];
      }
      if (dim < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(kMultiLookupOp, " node '", m.name, "': field ", f, " has no known dim"));
      }
      RANKOPT_ASSIGN_OR_RETURN(Node shape,
                               int64s(absl::StrCat(m.name, "/row_shape_", f), {-1, dim}));
      Node reshape;
      reshape.name = pass_util::UniqueName(absl::StrCat(m.name, "/rows_", f), &names);
      reshape.op = "Reshape";
      reshape.inputs = {TensorRef{lookup.name, 0}, TensorRef{shape.name, 0}};
      reshape = with_output(std::move(reshape));
      rows.push_back(TensorRef{reshape.name, 0});
      result.push_back(std::move(shape));
      result.push_back(with_output(std::move(lookup)));
      result.push_back(std::move(reshape));
    }
    Node concat;
    concat.name = pass_util::UniqueName(absl::StrCat(m.name, "/concat"), &names);
    concat.inputs = rows;
    if (onnx) {
      concat.op = "Concat";
      concat.attrs.Set("axis", int64_t{1});
    } else {
      concat.op = "ConcatV2";
      RANKOPT_ASSIGN_OR_RETURN(Tensor axis, Tensor::FromValues<int32_t>({}, {1}));
      Node axis_node = pass_util::MakeConst(
          *graph, pass_util::UniqueName(absl::StrCat(m.name, "/axis"), &names), std::move(axis));
      concat.inputs.push_back(TensorRef{axis_node.name, 0});
      concat.attrs.Set("T", DType::kFloat32);
      concat.attrs.Set("N", static_cast<int64_t>(rows.size()));
      result.push_back(std::move(axis_node));
    }
    RANKOPT_ASSIGN_OR_RETURN(Node out_shape, int64s(absl::StrCat(m.name, "/out_shape"), *out_dims));
    Node reshape;
    reshape.name = m.name;
    reshape.op = "Reshape";
    reshape.device = m.device;
    reshape.output_names = m.output_names;
    reshape.inputs = {TensorRef{concat.name, 0}, TensorRef{out_shape.name, 0}};
    if (!onnx) reshape.attrs.Set("T", DType::kFloat32);
    result.push_back(with_output(std::move(concat)));
    result.push_back(std::move(out_shape));
    result.push_back(std::move(reshape));
  }
  if (!changed) return absl::OkStatus();
  RANKOPT_RETURN_IF_ERROR(graph->SetNodes(std::move(result)));
  return graph->Validate();
}

absl::StatusOr<PassReport> FuseMultiLookup(const Graph& in, const PassOptions& options,
                                           Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("FuseMultiLookup: `out` is null; pass a Graph to write into");
  }
  Fuser fuser(in);
  RANKOPT_RETURN_IF_ERROR(fuser.Init(options));
  for (const Node& node : in.nodes()) fuser.Visit(node);
  return fuser.Finish(out);
}

}  // namespace rankopt
