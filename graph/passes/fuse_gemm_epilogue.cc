#include "graph/passes/fuse_gemm_epilogue.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/fuse_matmul_bias_activation.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fuse_gemm_epilogue";
constexpr int kEpilogueInput = 4;  // x, w, bias, slope, then the epilogue operands
constexpr int kMaxOperands = 16;   // the kernel's bound

// The epilogue op of an elementwise node, or "" when the epilogue has none.
std::string EpilogueOp(const Node& node, bool onnx) {
  if (!node.domain.empty()) return "";
  const std::string& op = node.op;
  if (op == "Add" || (!onnx && op == "AddV2")) return "add";
  if (op == "Sub") return "sub";
  if (op == "Mul") return "mul";
  if (op == "Div" && onnx) return "div";
  if (op == "RealDiv" && !onnx) return "div";
  if (op == "Sigmoid") return "sigmoid";
  if (op == "Tanh") return "tanh";
  if (op == "Relu") return "relu";
  if (op == "Neg") return "neg";
  if (op == "PRelu" && onnx) return "prelu";
  if (op == "LeakyRelu") return "leaky_relu";
  if (op == "BatchNormalization" && onnx) return "batchnorm";
  return "";
}

// Elementwise ops the epilogue does not run: a reader with one of these is worth a near-miss note.
bool OtherElementwise(const Node& node) {
  static const auto* const kOps = new absl::flat_hash_set<std::string>{
      "Exp",      "Log",  "Pow",         "Sqrt",      "Reciprocal",     "Abs",
      "Clip",     "Max",  "Min",         "Elu",       "Selu",           "Softplus",
      "Softsign", "Erf",  "HardSigmoid", "HardSwish", "Relu6",          "Square",
      "Rsqrt",    "Gelu", "Maximum",     "Minimum",   "FusedBatchNorm", "FusedBatchNormV3",
      "BiasAdd",  "Mish"};
  return node.domain.empty() && kOps->contains(node.op);
}

class Fuser {
 public:
  Fuser(const Graph& in, const PassOptions& options)
      : in_(in), onnx_(in.format() == ModelFormat::kOnnx), names_(pass_util::NodeNames(in)) {}

  absl::Status Init(const PassOptions& options) {
    RANKOPT_ASSIGN_OR_RETURN(consumers_, pass_util::CountConsumers(in_, options));
    RANKOPT_ASSIGN_OR_RETURN(shapes_, InferShapes(in_));
    request_ = RequestLevelTensors(in_, options.request_inputs, shapes_);
    for (size_t i = 0; i < in_.num_nodes(); ++i) {
      index_[in_.nodes()[i].name] = static_cast<int>(i);
      for (const TensorRef& ref : in_.nodes()[i].inputs) {
        if (ref.empty()) continue;
        readers_[ref].push_back(static_cast<int>(i));
        auto it = index_.find(ref.node);
        topological_ &= it != index_.end();  // the producer came first
      }
    }
    return absl::OkStatus();
  }

  // The DAG walk below visits readers in node order, which needs a topological one.
  bool topological() const { return topological_; }

  // Tries the layer at node index `root`.
  void Visit(int root);

  absl::StatusOr<PassReport> Finish(Graph* out);

 private:
  struct Member {
    int node = 0;
    std::string op;  // epilogue op, or "batchnorm"
  };

  // Whether `ref` can be an epilogue operand of a layer with `n` columns and output rank `rank`:
  // one value or one per column. Else why not.
  std::optional<std::string> OperandProblem(const TensorRef& ref, const Shape& out_shape, int64_t n,
                                            int rank) const;
  std::optional<std::string> Classify(const Node& node, const std::string& op,
                                      const absl::flat_hash_set<TensorRef>& dag,
                                      const Shape& out_shape) const;
  void Miss(const std::string& node, const std::string& layer, const std::string& why) {
    near_misses_.push_back(
        absl::StrCat("near miss at node '", node, "' (layer '", layer, "'): ", why));
  }

  const Graph& in_;
  bool onnx_;
  absl::flat_hash_set<std::string> names_;
  pass_util::Consumers consumers_;
  ShapeMap shapes_;
  absl::flat_hash_map<std::string, int> index_;
  absl::flat_hash_map<TensorRef, std::vector<int>> readers_;
  bool topological_ = true;
  // Tensors computed once per request (one row at run time whatever their static shape).
  absl::flat_hash_set<TensorRef> request_;
  bool layer_request_level_ = false;  // of the layer being visited

  absl::flat_hash_set<int> taken_;
  absl::flat_hash_map<int, Node> replaced_;                    // sink index -> fused node
  absl::flat_hash_map<int, std::vector<Node>> consts_before_;  // sink index -> new constants
  std::vector<std::string> notes_;
  std::vector<std::string> near_misses_;
};

std::optional<std::string> Fuser::OperandProblem(const TensorRef& ref, const Shape& out_shape,
                                                 int64_t n, int rank) const {
  const std::string want = absl::StrCat("expected float32 of one value, one per column (", n,
                                        ") or the layer's shape ", out_shape.ToString());
  if (const Tensor* c = pass_util::ConstValue(in_, ref)) {
    const std::vector<int64_t>& d = c->dims();
    const bool fits =
        c->dtype() == DType::kFloat32 && static_cast<int>(d.size()) <= rank &&
        (c->num_elements() == 1 || (c->num_elements() == n && !d.empty() && d.back() == n));
    if (fits) return std::nullopt;
    return absl::StrCat("constant '", ref.ToString(), "' is ", DTypeName(c->dtype()), " [",
                        absl::StrJoin(d, ","), "]; ", want);
  }
  const InferredTensor& t = LookupInferred(shapes_, ref);
  // A tensor of the layer's own shape (a residual, another layer's output): read element-wise.
  if (t.dtype == DType::kFloat32 && t.shape.known_rank() && t.shape.rank() == rank &&
      t.shape.dim(rank - 1) == n) {
    bool same = true;
    for (int i = 0; i < rank; ++i) {
      const int64_t a = t.shape.dim(i), b = out_shape.dim(i);
      same &= a == b || (a < 0 && b < 0);  // unknown only where the layer's is (the batch)
    }
    // A per-candidate tensor would broadcast a once-per-request layer's one row to its rows,
    // which the layer's output (its own rows) cannot hold.
    if (same && layer_request_level_ && !request_.contains(ref)) {
      return absl::StrCat("input '", ref.ToString(),
                          "' has a row per candidate but the layer runs once per request");
    }
    // One row per request under a rank > 2 layer broadcasts along its leading dim only, which
    // the epilogue's operands (one value, a row of n, or the layer's own shape) do not cover.
    if (same && rank > 2 && !layer_request_level_ && request_.contains(ref)) {
      return absl::StrCat("input '", ref.ToString(),
                          "' is computed once per request and would broadcast over the layer's ",
                          "leading dim");
    }
    if (same) return std::nullopt;
  }
  if (t.dtype == DType::kFloat32 && t.shape.known_rank() && t.shape.rank() <= rank) {
    int64_t count = 1;
    bool known = true;
    for (int i = 0; i < t.shape.rank(); ++i) {
      known &= t.shape.dim(i) >= 0;
      count *= std::max<int64_t>(t.shape.dim(i), 0);
    }
    const bool last_n = t.shape.rank() > 0 && t.shape.dim(t.shape.rank() - 1) == n;
    if (known && (count == 1 || (count == n && last_n))) return std::nullopt;
  }
  return absl::StrCat("input '", ref.ToString(), "' is neither part of the chain nor one value ",
                      "per column (", t.shape.known_rank() ? t.shape.ToString() : "unknown shape",
                      "); ", want);
}

std::optional<std::string> Fuser::Classify(const Node& node, const std::string& op,
                                           const absl::flat_hash_set<TensorRef>& dag,
                                           const Shape& out_shape) const {
  const int rank = out_shape.rank();
  const int64_t n = out_shape.dim(rank - 1);
  if (!node.control_inputs.empty()) return "it has control inputs";
  if (op == "batchnorm") {
    if (node.inputs.size() != 5) return "BatchNormalization without its 5 inputs";
    if (pass_util::BoolAttr(node, "training_mode", false)) return "training_mode is set";
    if (!dag.contains(node.inputs[0])) return "the chain is not its input X";
    if (rank != 2) {
      return absl::StrCat("its input is rank ", rank,
                          ": channels are axis 1, not the layer's columns (needs rank 2)");
    }
    for (int port = 1; port < 5; ++port) {
      if (consumers_.TensorReaders(TensorRef{node.name, port}) > 0) {
        return absl::StrCat("its output ", port, " is read");
      }
    }
    for (int i = 1; i < 5; ++i) {
      const Tensor* p = pass_util::ConstValue(in_, node.inputs[i]);
      if (p == nullptr || p->dtype() != DType::kFloat32 || p->dims().size() != 1 ||
          p->num_elements() != n) {
        return absl::StrCat("parameter ", i, " ('", node.inputs[i].ToString(),
                            "') is not a constant float32 [", n, "]");
      }
    }
    return std::nullopt;
  }
  const size_t arity =
      (op == "add" || op == "sub" || op == "mul" || op == "div" || op == "prelu") ? 2 : 1;
  if (node.inputs.size() != arity) {
    return absl::StrCat("expected ", arity, " inputs, it has ", node.inputs.size());
  }
  if (op == "prelu" && !dag.contains(node.inputs[0])) return "the chain is not its input X";
  if (op == "prelu" && dag.contains(node.inputs[1])) return "its slope is the chain itself";
  for (const TensorRef& ref : node.inputs) {
    if (dag.contains(ref)) continue;
    if (std::optional<std::string> why = OperandProblem(ref, out_shape, n, rank)) return why;
  }
  return std::nullopt;
}

void Fuser::Visit(int root) {
  const Node& mm = in_.nodes()[root];
  if (mm.op != kFusedMatMulOp || taken_.contains(root)) return;
  if (mm.attrs.Find("precision") != nullptr || mm.attrs.Find("epilogue") != nullptr) return;
  if (mm.inputs.size() > kEpilogueInput || !mm.control_inputs.empty()) return;
  const TensorRef t0{mm.name, 0};
  if (consumers_.protected_tensors.contains(t0)) return;
  const InferredTensor& out = LookupInferred(shapes_, t0);
  if (!out.shape.known_rank() || out.shape.rank() < 2) return;
  const int rank = out.shape.rank();
  const int64_t n = out.shape.dim(rank - 1);
  if (n <= 0) return;
  layer_request_level_ = request_.contains(t0);

  // Grow the elementwise DAG over t0's readers, in graph (topological) order.
  absl::flat_hash_set<TensorRef> dag = {t0};
  std::vector<Member> members;
  absl::flat_hash_set<int> member_set;
  std::set<int> frontier;
  for (int r : readers_[t0]) frontier.insert(r);
  absl::flat_hash_set<int> seen;
  while (!frontier.empty()) {
    const int i = *frontier.begin();
    frontier.erase(frontier.begin());
    if (!seen.insert(i).second) continue;
    const Node& node = in_.nodes()[i];
    const std::string op = EpilogueOp(node, onnx_);
    if (op.empty()) {
      if (OtherElementwise(node)) {
        Miss(node.name, mm.name,
             absl::StrCat("its op ", node.op,
                          " is not one the epilogue runs (Add, Sub, Mul, Div, Sigmoid, Tanh, "
                          "Relu, Neg, PRelu, LeakyRelu, BatchNormalization)"));
      }
      continue;
    }
    if (taken_.contains(i)) continue;
    if (std::optional<std::string> why = Classify(node, op, dag, out.shape)) {
      Miss(node.name, mm.name, *why);
      continue;
    }
    members.push_back({i, op});
    member_set.insert(i);
    const TensorRef o{node.name, 0};
    dag.insert(o);
    for (int r : readers_[o]) frontier.insert(r);
  }
  if (members.empty()) return;

  // The sink: the latest member whose ancestors (and t0) are read only among themselves.
  std::string blocked;
  std::vector<int> chosen;  // indices into members, in order
  for (int s = static_cast<int>(members.size()) - 1; s >= 0 && chosen.empty(); --s) {
    absl::flat_hash_set<int> anc = {members[s].node};
    for (int k = s; k >= 0; --k) {
      if (!anc.contains(members[k].node)) continue;
      for (const TensorRef& ref : in_.nodes()[members[k].node].inputs) {
        auto it = index_.find(ref.node);
        if (it != index_.end() && member_set.contains(it->second)) anc.insert(it->second);
      }
    }
    std::vector<TensorRef> inner = {t0};
    for (int k = 0; k < s; ++k) {
      if (anc.contains(members[k].node)) {
        inner.push_back(TensorRef{in_.nodes()[members[k].node].name, 0});
      }
    }
    std::string why;
    for (const TensorRef& ref : inner) {
      if (consumers_.protected_tensors.contains(ref) ||
          consumers_.protected_nodes.contains(ref.node)) {
        why = absl::StrCat("'", ref.ToString(), "' is a graph output");
        break;
      }
      if (consumers_.control_readers.contains(ref.node)) {
        why = absl::StrCat("'", ref.node, "' is a control dependency");
        break;
      }
      for (int r : readers_[ref]) {
        if (!anc.contains(r)) {
          why = absl::StrCat("'", ref.ToString(), "' is also read by ", in_.nodes()[r].op, " '",
                             in_.nodes()[r].name, "' outside the chain");
          break;
        }
      }
      if (!why.empty()) break;
    }
    if (!why.empty()) {
      if (blocked.empty()) blocked = why;
      continue;
    }
    for (int k = 0; k <= s; ++k) {
      if (anc.contains(members[k].node)) chosen.push_back(k);
    }
  }
  if (chosen.empty()) {
    Miss(in_.nodes()[members.back().node].name, mm.name, blocked);
    return;
  }

  // The program.
  Node fused = mm;
  while (fused.inputs.size() < kEpilogueInput) fused.inputs.push_back(TensorRef{});
  absl::flat_hash_map<TensorRef, std::string> reg = {{t0, "r0"}};
  absl::flat_hash_map<TensorRef, int> operand_index;
  std::vector<std::string> program;
  std::vector<Node> new_consts;
  std::vector<std::string> ops;
  auto operand = [&](const TensorRef& ref) -> std::string {
    if (auto it = reg.find(ref); it != reg.end()) return it->second;
    auto [it, added] = operand_index.emplace(ref, static_cast<int>(operand_index.size()));
    if (added) fused.inputs.push_back(ref);
    return absl::StrCat("c", it->second);
  };
  auto emit = [&](const std::string& op, const std::string& a, const std::string& b) {
    const std::string dst = absl::StrCat("r", program.size() + 1);
    program.push_back(b.empty() ? absl::StrCat(op, " ", dst, " ", a)
                                : absl::StrCat(op, " ", dst, " ", a, " ", b));
    return dst;
  };
  const Node& sink = in_.nodes()[members[chosen.back()].node];
  for (int k : chosen) {
    const Node& node = in_.nodes()[members[k].node];
    const std::string& op = members[k].op;
    ops.push_back(node.op);
    std::string dst;
    if (op == "batchnorm") {
      // The BatchNormalization kernel's own fold: a = scale / sqrt(var + eps), b = offset - mean
      // * a in float, then x * a + b (two roundings).
      const float eps = pass_util::FloatAttr(node, "epsilon", 1e-5f);
      const auto scale = pass_util::ConstValue(in_, node.inputs[1])->values<float>();
      const auto offset = pass_util::ConstValue(in_, node.inputs[2])->values<float>();
      const auto mean = pass_util::ConstValue(in_, node.inputs[3])->values<float>();
      const auto var = pass_util::ConstValue(in_, node.inputs[4])->values<float>();
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        a[j] = scale[j] / std::sqrt(var[j] + eps);
        b[j] = offset[j] - mean[j] * a[j];
      }
      std::string refs[2];
      for (int t = 0; t < 2; ++t) {
        absl::StatusOr<Tensor> value = Tensor::FromValues<float>({n}, t == 0 ? a : b);
        if (!value.ok()) return;
        Node c = pass_util::MakeConst(
            in_,
            pass_util::UniqueName(
                absl::StrCat(node.name, t == 0 ? "/epilogue_scale" : "/epilogue_shift"), &names_),
            *std::move(value));
        refs[t] = operand(TensorRef{c.name, 0});
        new_consts.push_back(std::move(c));
      }
      const std::string x = operand(node.inputs[0]);
      dst = emit("add", emit("mul", x, refs[0]), refs[1]);
    } else if (op == "leaky_relu") {
      // The LeakyRelu kernel's x < 0 ? alpha * x : x, which is prelu with a scalar slope.
      absl::StatusOr<Tensor> alpha = Tensor::FromValues<float>(
          {1}, {pass_util::FloatAttr(node, "alpha", onnx_ ? 0.01f : 0.2f)});
      if (!alpha.ok()) return;
      Node c = pass_util::MakeConst(
          in_, pass_util::UniqueName(absl::StrCat(node.name, "/epilogue_alpha"), &names_),
          *std::move(alpha));
      const std::string slope = operand(TensorRef{c.name, 0});
      new_consts.push_back(std::move(c));
      dst = emit("prelu", operand(node.inputs[0]), slope);
    } else if (node.inputs.size() == 2) {
      const std::string a = operand(node.inputs[0]);
      const std::string b = operand(node.inputs[1]);
      dst = emit(op, a, b);
    } else {
      dst = emit(op, operand(node.inputs[0]), "");
    }
    reg[TensorRef{node.name, 0}] = dst;
  }
  if (operand_index.size() > static_cast<size_t>(kMaxOperands)) {
    Miss(sink.name, mm.name,
         absl::StrCat("the chain needs ", operand_index.size(), " operands; the epilogue takes ",
                      kMaxOperands));
    return;
  }
  fused.name = sink.name;
  fused.output_names = sink.output_names;
  fused.attrs.Set("epilogue", program);
  notes_.push_back(absl::StrCat("fused into layer '", mm.name, "': ", absl::StrJoin(ops, ", "),
                                " (", program.size(), " instructions) -> '", sink.name, "'"));
  taken_.insert(root);
  for (int k : chosen) taken_.insert(members[k].node);
  const int sink_index = members[chosen.back()].node;
  consts_before_[sink_index] = std::move(new_consts);
  replaced_[sink_index] = std::move(fused);
}

absl::StatusOr<PassReport> Fuser::Finish(Graph* out) {
  PassReport report;
  report.pass = std::string(kPassName);
  if (replaced_.empty()) {
    AddNotApplicableNotes("no elementwise chain on a dense layer's output",
                          "elementwise chain(s) did not fuse", &near_misses_, &report);
    RecordNodeCounts(in_, in_, &report);
    if (out != &in_) *out = in_;
    return report;
  }
  std::vector<Node> result;
  result.reserve(in_.num_nodes());
  for (size_t i = 0; i < in_.num_nodes(); ++i) {
    const int idx = static_cast<int>(i);
    if (auto it = replaced_.find(idx); it != replaced_.end()) {
      for (Node& c : consts_before_[idx]) result.push_back(std::move(c));
      result.push_back(std::move(it->second));
    } else if (!taken_.contains(idx)) {
      result.push_back(in_.nodes()[i]);
    }
  }
  Graph graph = in_;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RecordNodeCounts(in_, graph, &report);
  report.changed = true;
  report.notes.push_back(absl::StrCat("fused ", replaced_.size(), " elementwise chain(s)"));
  for (std::string& note : notes_) report.notes.push_back(std::move(note));
  for (std::string& m : near_misses_) report.notes.push_back(std::move(m));
  *out = std::move(graph);
  return report;
}

}  // namespace

absl::StatusOr<PassReport> FuseGemmEpilogue(const Graph& in, const PassOptions& options,
                                            Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError(
        "FuseGemmEpilogue: `out` is null; pass a Graph to write into");
  }
  Fuser fuser(in, options);
  RANKOPT_RETURN_IF_ERROR(fuser.Init(options));
  if (!fuser.topological()) {
    PassReport report;
    report.pass = std::string(kPassName);
    report.notes.push_back("not applicable: the nodes are not in topological order");
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  }
  for (size_t i = 0; i < in.num_nodes(); ++i) fuser.Visit(static_cast<int>(i));
  return fuser.Finish(out);
}

}  // namespace rankopt
