#include "graph/passes/split_field_concat.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/prune.h"
#include "graph/passes/request_level.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "split_field_concat";

bool In(absl::string_view op, std::initializer_list<absl::string_view> ops) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

bool IsUnary(absl::string_view op) {
  return In(op, {"Identity", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt",
                 "Reciprocal", "Softplus", "Erf", "Gelu", "HardSwish", "Mish"});
}

bool IsBinary(absl::string_view op) {
  return In(op, {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"});
}

// What a tensor reached from a split concat is: its pieces along `axis`, in their current
// order, and where each current position along `axis` was in the original tensor.
enum class Kind { kRequest, kCandidate, kMixed };
struct Piece {
  TensorRef ref;
  int64_t width = 0;
  Kind kind = Kind::kCandidate;
};
struct Split {
  int axis = 0;
  int rank = 0;
  std::vector<Piece> pieces;
  std::vector<int64_t> order;  // current position -> original position along `axis`
};

// How a node of a closure uses the split tensors it reads.
enum class Role { kSeed, kElementwise, kFlatten, kConcat, kReduce, kDense };

class FieldSplitter {
 public:
  FieldSplitter(const Graph& in, const PassOptions& options)
      : in_(in), options_(options), names_(pass_util::NodeNames(in)) {}

  absl::StatusOr<PassReport> Run(Graph* out);

 private:
  const Shape& ShapeOf(const TensorRef& ref) const { return LookupInferred(shapes_, ref).shape; }
  int RankOf(const TensorRef& ref) const {
    const Shape& s = ShapeOf(ref);
    return s.known_rank() ? s.rank() : -1;
  }
  // The normalized concat axis of `node`, or -1.
  int ConcatAxis(const Node& node) const;
  Kind KindOf(const TensorRef& ref) const {
    if (request_.contains(ref)) return Kind::kRequest;
    if (ref.port == 0 && mixed_.contains(ref.node)) return Kind::kMixed;
    return Kind::kCandidate;
  }
  // Whether node `seed` (a Concat) starts a closure: non-batch axis, known widths, both kinds.
  bool IsSeed(const Node& seed) const;
  // Walks every reader of the tensors `seed` reaches. Fills `roles` (node index -> role) and
  // returns nullopt, or returns why the concat cannot be split (a near-miss note). A reader of
  // the concat (or of a Flatten/Concat of it) that no rule covers keeps reading it as is (it
  // stays, per candidate); why goes to `kept`.
  std::optional<std::string> Check(int seed, absl::flat_hash_map<int, Role>* roles,
                                   std::vector<std::string>* kept) const;
  // Role of node `m` reading split tensor `t` (axis `a`, rank `r`) at input `i`, with the axis
  // and rank of its output when it is split too; or a reason.
  std::optional<std::string> Classify(const TensorRef& t, int a, int r, int m, int i, Role* role,
                                      int* out_axis, int* out_rank) const;

  // Rewrites one checked closure; new nodes go to emitted_ (before a node) and replaced_.
  void Rewrite(const absl::flat_hash_map<int, Role>& roles);
  // `s` regrouped into at most two pieces: request-level first, then the rest.
  Split Consolidate(const Split& s, absl::string_view base, std::vector<Node>* emitted);
  Node NewNode(const Node& like, absl::string_view base) {
    Node node = like;
    node.name = pass_util::UniqueName(base, &names_);
    node.output_names = {node.name};
    node.control_inputs.clear();
    return node;
  }
  TensorRef ConcatOf(absl::string_view base, int axis, const std::vector<TensorRef>& refs,
                     std::vector<Node>* emitted);

  const Graph& in_;
  const PassOptions& options_;
  absl::flat_hash_set<std::string> names_;
  ShapeMap shapes_;
  absl::flat_hash_set<TensorRef> request_;
  absl::flat_hash_set<std::string> mixed_;
  pass_util::Consumers consumers_;
  // tensor -> (reader node index, input index)
  absl::flat_hash_map<TensorRef, std::vector<std::pair<int, int>>> readers_;
  absl::flat_hash_map<int, std::vector<Node>> emitted_;  // node index -> nodes placed before it
  absl::flat_hash_map<int, Node> replaced_;              // node index -> its replacement
  absl::flat_hash_set<int> taken_;                       // nodes of rewritten closures
  std::vector<int> topo_;                                // node index -> topological position
};

int FieldSplitter::ConcatAxis(const Node& node) const {
  const int r = RankOf(TensorRef{node.name, 0});
  const int64_t* a = node.attrs.Get<int64_t>("axis");
  if (a == nullptr || r < 1) return -1;
  const int64_t axis = *a < 0 ? *a + r : *a;
  return axis >= 0 && axis < r ? static_cast<int>(axis) : -1;
}

bool FieldSplitter::IsSeed(const Node& seed) const {
  if (seed.op != "Concat" || !seed.domain.empty() || !seed.control_inputs.empty()) return false;
  const int a = ConcatAxis(seed);
  if (a < 1 || seed.inputs.size() < 2) return false;
  bool request = false, other = false;
  for (const TensorRef& ref : seed.inputs) {
    if (ref.empty() || in_.ConstantBehind(ref) != nullptr) return false;
    const Shape& s = ShapeOf(ref);
    if (!s.known_rank() || s.rank() <= a || s.dim(a) < 0) return false;
    (KindOf(ref) == Kind::kRequest ? request : other) = true;
  }
  return request && other;
}

std::optional<std::string> FieldSplitter::Classify(const TensorRef& t, int a, int r, int m, int i,
                                                   Role* role, int* out_axis, int* out_rank) const {
  const Node& node = in_.nodes()[m];
  auto why = [&](absl::string_view condition) {
    return absl::StrCat("node ", node.name, " (", node.op, ") ", condition);
  };
  if (!node.domain.empty() || !node.control_inputs.empty()) {
    return why("has a domain or control inputs");
  }
  *out_axis = a;
  *out_rank = r;
  if (IsUnary(node.op) && node.inputs.size() == 1) {
    *role = Role::kElementwise;
    return std::nullopt;
  }
  if (IsBinary(node.op) && node.inputs.size() == 2) {
    const TensorRef& other = node.inputs[1 - i];
    *role = Role::kElementwise;
    if (other == t) return std::nullopt;
    const Node* c = in_.ConstantBehind(other);
    if (c == nullptr) {
      return why(absl::StrCat("reads it with ", other.node,
                              ", which is neither the same tensor nor a constant"));
    }
    const Shape& cs = ShapeOf(other);
    const Shape& ts = ShapeOf(t);
    if (!cs.known_rank() || cs.rank() > r) return why("has a constant of higher rank");
    for (int j = 0; j < cs.rank(); ++j) {
      const int jj = j + r - cs.rank();
      if (cs.dim(j) == 1) continue;
      if (jj == a) return why("has a constant that varies along the field axis");
      if (cs.dim(j) != ts.dim(jj)) return why("has a constant that broadcasts the tensor");
    }
    return std::nullopt;
  }
  if (node.op == "ReduceSum" && i == 0) {
    std::optional<std::vector<int64_t>> axes = pass_util::AxesOf(in_, node, "axes", 1);
    if (!axes.has_value() || axes->empty()) return why("has no constant axes");
    bool field = false;
    for (int64_t x : *axes) {
      const int64_t n = x < 0 ? x + r : x;
      if (n == 0) return why("sums over the batch axis");
      field |= n == a;
    }
    if (!field) return why(absl::StrCat("does not sum over the field axis ", a));
    *role = Role::kReduce;
    return std::nullopt;
  }
  if (node.op == "Flatten") {
    const int64_t* fa = node.attrs.Get<int64_t>("axis");
    if ((fa != nullptr && *fa != 1) || r != 3 || a != 1 || ShapeOf(t).dim(2) < 0) {
      return why("is not a Flatten(axis 1) of a [batch, fields, known width] tensor");
    }
    *role = Role::kFlatten;
    *out_rank = 2;
    return std::nullopt;
  }
  if (node.op == "Concat") {
    if (ConcatAxis(node) != a) return why("concatenates along another axis");
    for (const TensorRef& ref : node.inputs) {
      const Shape& s = ShapeOf(ref);
      if (ref.empty() || in_.ConstantBehind(ref) != nullptr || !s.known_rank() || s.rank() != r ||
          s.dim(a) < 0) {
        return why("has an input of unknown width or a constant input");
      }
    }
    *role = Role::kConcat;
    return std::nullopt;
  }
  const bool gemm = node.op == "Gemm";
  if (node.op == "MatMul" || gemm) {
    if (i != 0 || node.inputs.size() < 2) return why("reads it as the weight");
    if (r != 2 || a != 1) return why("reads a tensor that is not [batch, columns]");
    if (gemm && pass_util::BoolAttr(node, "transA", false)) return why("has transA");
    const Tensor* w = pass_util::ConstValue(in_, node.inputs[1]);
    if (w == nullptr || w->dtype() != DType::kFloat32 || w->dims().size() != 2) {
      return why("has a weight that is not a constant float matrix");
    }
    const bool transpose_b = gemm && pass_util::BoolAttr(node, "transB", false);
    if (ShapeOf(t).dim(1) != w->dims()[transpose_b ? 1 : 0]) {
      return why("has a weight whose rows do not match the tensor's columns");
    }
    *role = Role::kDense;
    return std::nullopt;
  }
  return why(
      "reads it, and no rule carries the split through that op (elementwise with itself or a "
      "constant, ReduceSum over the field axis, Flatten, Concat, MatMul/Gemm by a constant)");
}

std::optional<std::string> FieldSplitter::Check(int seed, absl::flat_hash_map<int, Role>* roles,
                                                std::vector<std::string>* kept) const {
  struct Item {
    TensorRef t;
    int axis, rank;
    bool moved_only;  // made from the concat by data movement only (Flatten, Concat)
  };
  const Node& s = in_.nodes()[seed];
  std::vector<Item> work = {
      {TensorRef{s.name, 0}, ConcatAxis(s), RankOf(TensorRef{s.name, 0}), true}};
  (*roles)[seed] = Role::kSeed;
  while (!work.empty()) {
    const Item item = work.back();
    work.pop_back();
    // A reader without a rule may keep reading a tensor that costs nothing to keep (the
    // unsplit graph computes it too, and no arithmetic is repeated).
    const bool at_seed = item.moved_only;
    if (consumers_.protected_tensors.contains(item.t)) {
      if (!at_seed) return absl::StrCat("tensor ", item.t.node, " is a graph output");
      kept->push_back("it is a graph output");
    }
    auto it = readers_.find(item.t);
    if (it == readers_.end()) continue;
    for (const auto& [m, i] : it->second) {
      if (roles->contains(m)) continue;
      if (taken_.contains(m)) return absl::StrCat("node ", in_.nodes()[m].name, " is taken");
      Role role = Role::kElementwise;
      int axis = 0, rank = 0;
      if (std::optional<std::string> no =
              Classify(item.t, item.axis, item.rank, m, i, &role, &axis, &rank)) {
        if (!at_seed) return no;
        kept->push_back(*std::move(no));
        continue;
      }
      (*roles)[m] = role;
      if (role != Role::kReduce && role != Role::kDense) {
        work.push_back({TensorRef{in_.nodes()[m].name, 0}, axis, rank,
                        item.moved_only && (role == Role::kFlatten || role == Role::kConcat)});
      }
    }
  }
  return std::nullopt;
}

TensorRef FieldSplitter::ConcatOf(absl::string_view base, int axis,
                                  const std::vector<TensorRef>& refs, std::vector<Node>* emitted) {
  if (refs.size() == 1) return refs[0];
  Node concat;
  concat.name = pass_util::UniqueName(base, &names_);
  concat.op = "Concat";
  concat.output_names = {concat.name};
  concat.inputs = refs;
  concat.attrs.Set("axis", static_cast<int64_t>(axis));
  TensorRef ref{concat.name, 0};
  emitted->push_back(std::move(concat));
  return ref;
}

Split FieldSplitter::Consolidate(const Split& s, absl::string_view base,
                                 std::vector<Node>* emitted) {
  Split out;
  out.axis = s.axis;
  out.rank = s.rank;
  for (const bool request : {true, false}) {
    std::vector<TensorRef> refs;
    int64_t width = 0, offset = 0;
    Kind kind = request ? Kind::kRequest : Kind::kCandidate;
    for (const Piece& p : s.pieces) {
      if ((p.kind == Kind::kRequest) == request) {
        refs.push_back(p.ref);
        width += p.width;
        if (!request) kind = s.pieces.size() == 1 ? p.kind : Kind::kCandidate;
        for (int64_t k = 0; k < p.width; ++k) out.order.push_back(s.order[offset + k]);
      }
      offset += p.width;
    }
    if (refs.empty()) continue;
    if (refs.size() == 1 && !request) {
      for (const Piece& p : s.pieces) {
        if (p.ref == refs[0]) kind = p.kind;
      }
    }
    out.pieces.push_back(
        {ConcatOf(absl::StrCat(base, request ? "/request_fields" : "/candidate_fields"), s.axis,
                  refs, emitted),
         width, kind});
  }
  return out;
}

void FieldSplitter::Rewrite(const absl::flat_hash_map<int, Role>& roles) {
  std::vector<int> order;
  for (const auto& [m, role] : roles) order.push_back(m);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return topo_[x] < topo_[y]; });
  absl::flat_hash_map<TensorRef, Split> splits;
  absl::flat_hash_map<TensorRef, Split> consolidated;  // each split tensor regrouped once
  for (int m : order) {
    taken_.insert(m);
    const Node& node = in_.nodes()[m];
    std::vector<Node>& emitted = emitted_[m];
    const TensorRef self{node.name, 0};
    const Role role = roles.at(m);
    if (role == Role::kSeed || role == Role::kConcat) {
      Split s;
      s.axis = ConcatAxis(node);
      s.rank = RankOf(self);
      int64_t offset = 0;
      for (const TensorRef& ref : node.inputs) {
        auto it = splits.find(ref);
        if (it != splits.end()) {
          for (const Piece& p : it->second.pieces) s.pieces.push_back(p);
          for (int64_t o : it->second.order) s.order.push_back(offset + o);
          offset += static_cast<int64_t>(it->second.order.size());
        } else {
          const int64_t w = ShapeOf(ref).dim(s.axis);
          s.pieces.push_back({ref, w, KindOf(ref)});
          for (int64_t k = 0; k < w; ++k) s.order.push_back(offset + k);
          offset += w;
        }
      }
      splits[self] = std::move(s);
      continue;
    }
    // The split input this node reads (an elementwise node may read it twice).
    const Split* in = nullptr;
    TensorRef in_ref;
    for (const TensorRef& ref : node.inputs) {
      auto it = splits.find(ref);
      if (it != splits.end()) {
        in = &it->second;
        in_ref = ref;
        break;
      }
    }
    if (role == Role::kDense) {
      std::vector<TensorRef> refs;
      for (const Piece& p : in->pieces) refs.push_back(p.ref);
      const TensorRef x = ConcatOf(absl::StrCat(node.name, "/regrouped"), 1, refs, &emitted);
      const Tensor& w = *pass_util::ConstValue(in_, node.inputs[1]);
      const bool transpose_b = node.op == "Gemm" && pass_util::BoolAttr(node, "transB", false);
      const int64_t k = w.dims()[transpose_b ? 1 : 0], n = w.dims()[transpose_b ? 0 : 1];
      const float* wv = w.values<float>().data();
      std::vector<float> v(static_cast<size_t>(k * n));
      for (int64_t r = 0; r < k; ++r) {
        const int64_t src = in->order[r];
        for (int64_t j = 0; j < n; ++j) {
          if (transpose_b) {
            v[j * k + r] = wv[j * k + src];
          } else {
            v[r * n + j] = wv[src * n + j];
          }
        }
      }
      Node wc = pass_util::MakeConst(
          in_, pass_util::UniqueName(absl::StrCat(node.name, "/regrouped_weight"), &names_),
          *Tensor::FromValues<float>(std::vector<int64_t>(w.dims().begin(), w.dims().end()), v));
      Node dense = node;
      dense.inputs[0] = x;
      dense.inputs[1] = TensorRef{wc.name, 0};
      emitted.push_back(std::move(wc));
      replaced_[m] = std::move(dense);
      continue;
    }
    auto cached = consolidated.find(in_ref);
    if (cached == consolidated.end()) {
      cached = consolidated.emplace(in_ref, Consolidate(*in, in_ref.node, &emitted)).first;
    }
    const Split c = cached->second;
    if (role == Role::kReduce) {
      std::vector<TensorRef> sums;
      for (const Piece& p : c.pieces) {
        Node sum =
            NewNode(node, absl::StrCat(node.name, p.kind == Kind::kRequest ? "/request_fields"
                                                                           : "/candidate_fields"));
        sum.inputs[0] = p.ref;
        sums.push_back(TensorRef{sum.name, 0});
        emitted.push_back(std::move(sum));
      }
      Node add = node;
      add.op = sums.size() == 2 ? "Add" : "Identity";
      add.attrs = AttrMap();
      add.inputs = sums;
      replaced_[m] = std::move(add);
      continue;
    }
    Split s;
    s.axis = c.axis;
    s.rank = c.rank;
    if (role == Role::kFlatten) {
      const int64_t d = ShapeOf(in_ref).dim(2);
      s.rank = 2;
      for (int64_t o : c.order) {
        for (int64_t j = 0; j < d; ++j) s.order.push_back(o * d + j);
      }
    } else {
      s.order = c.order;
    }
    for (const Piece& p : c.pieces) {
      const bool request = p.kind == Kind::kRequest;
      Node e = NewNode(node, absl::StrCat(node.name, request ? "/request" : "/candidate"));
      for (TensorRef& ref : e.inputs) {
        if (ref == in_ref) ref = p.ref;
      }
      const int64_t width = role == Role::kFlatten ? p.width * ShapeOf(in_ref).dim(2) : p.width;
      s.pieces.push_back(
          {TensorRef{e.name, 0}, width, request ? Kind::kRequest : Kind::kCandidate});
      emitted.push_back(std::move(e));
    }
    splits[self] = std::move(s);
  }
}

absl::StatusOr<PassReport> FieldSplitter::Run(Graph* out) {
  PassReport report;
  report.pass = std::string(kPassName);
  auto unchanged = [&](std::vector<std::string> notes) -> absl::StatusOr<PassReport> {
    report.notes = std::move(notes);
    RecordNodeCounts(in_, in_, &report);
    if (out != &in_) *out = in_;
    return report;
  };
  if (in_.format() != ModelFormat::kOnnx) {
    return unchanged({"not applicable: field concats are matched in ONNX graphs only"});
  }
  if (options_.request_inputs.empty()) {
    return unchanged({"not applicable: no request-level inputs"});
  }
  RANKOPT_ASSIGN_OR_RETURN(consumers_, pass_util::CountConsumers(in_, options_));
  RANKOPT_ASSIGN_OR_RETURN(shapes_, InferShapes(in_));
  request_ = RequestLevelTensors(in_, options_.request_inputs, shapes_);
  for (const RequestLevelInput& input : options_.request_inputs) {
    if (!input.columns.empty()) mixed_.insert(input.name);
  }
  RANKOPT_ASSIGN_OR_RETURN(std::vector<int> topo, in_.TopologicalOrder());
  topo_.assign(in_.num_nodes(), 0);
  for (size_t p = 0; p < topo.size(); ++p) topo_[topo[p]] = static_cast<int>(p);
  for (size_t m = 0; m < in_.num_nodes(); ++m) {
    const Node& node = in_.nodes()[m];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (!node.inputs[i].empty()) {
        readers_[node.inputs[i]].push_back({static_cast<int>(m), static_cast<int>(i)});
      }
    }
  }

  std::vector<std::string> notes;
  for (int m : topo) {
    const Node& seed = in_.nodes()[m];
    if (taken_.contains(m) || !IsSeed(seed)) continue;
    absl::flat_hash_map<int, Role> roles;
    std::vector<std::string> kept;
    if (std::optional<std::string> no = Check(m, &roles, &kept)) {
      notes.push_back(absl::StrCat("near miss: ", seed.name, " (a concat of request-level and ",
                                   "candidate fields) not split: ", *no));
      continue;
    }
    int reduces = 0, dense = 0, others = 0;
    for (const auto& [n, role] : roles) {
      reduces += role == Role::kReduce;
      dense += role == Role::kDense;
      others += role != Role::kSeed && role != Role::kReduce && role != Role::kDense;
    }
    if (reduces == 0 && others == 0) {  // at most a dense layer on the concat: split_first_dense
      if (!kept.empty()) {
        notes.push_back(absl::StrCat("near miss: ", seed.name, " (a concat of request-level and ",
                                     "candidate fields) not split: ", kept[0]));
      }
      continue;
    }
    int request = 0;
    for (const TensorRef& ref : seed.inputs) request += KindOf(ref) == Kind::kRequest;
    Rewrite(roles);
    notes.push_back(absl::StrCat(seed.name, ": ", request, " of ", seed.inputs.size(),
                                 " fields request-level, split through ", others, " ops into ",
                                 reduces, " field sums and ", dense, " dense layers",
                                 kept.empty() ? "" : "; the concat stays for ",
                                 absl::StrJoin(kept, "; ")));
  }
  if (replaced_.empty()) {
    if (notes.empty()) notes.push_back("not applicable: no concat mixes request-level fields");
    return unchanged(std::move(notes));
  }
  std::vector<Node> result;
  result.reserve(in_.num_nodes() + 16 * replaced_.size());
  for (size_t m = 0; m < in_.num_nodes(); ++m) {
    auto e = emitted_.find(static_cast<int>(m));
    if (e != emitted_.end()) {
      for (Node& n : e->second) result.push_back(std::move(n));
    }
    auto r = replaced_.find(static_cast<int>(m));
    result.push_back(r != replaced_.end() ? std::move(r->second) : in_.nodes()[m]);
  }
  Graph graph = in_;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  Graph pruned = graph;
  RANKOPT_RETURN_IF_ERROR(PruneGraph(graph, options_, &pruned).status());
  RecordNodeCounts(in_, pruned, &report);
  report.changed = true;
  report.notes = std::move(notes);
  *out = std::move(pruned);
  return report;
}

}  // namespace

absl::StatusOr<PassReport> SplitFieldConcat(const Graph& in, const PassOptions& options,
                                            Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError(
        "SplitFieldConcat: `out` is null; pass a Graph to write into");
  }
  FieldSplitter splitter(in, options);
  return splitter.Run(out);
}

}  // namespace rankopt
