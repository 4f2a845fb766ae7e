#include "graph/passes/fuse_matmul_bias_activation.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fuse_matmul_bias_activation";

using pass_util::BoolAttr;
using pass_util::FloatAttr;

// A constant float32 of `n` values broadcasting along the last axis of a rank-`rank` tensor:
// dims (1, ..., 1, n) of rank <= `rank`, or n == 1 with `allow_scalar`.
const Tensor* LastAxisConstant(const Graph& graph, const TensorRef& ref, int64_t n, int rank,
                               bool allow_scalar) {
  const Tensor* t = pass_util::ConstValue(graph, ref);
  if (t == nullptr || t->dtype() != DType::kFloat32) return nullptr;
  const std::vector<int64_t>& d = t->dims();
  if (rank >= 0 && static_cast<int>(d.size()) > rank) return nullptr;
  if (allow_scalar && t->num_elements() == 1) return t;
  if (d.empty() || d.back() != n || t->num_elements() != n) return nullptr;
  return t;
}

// The only node reading `ref`, when `ref` is an intermediate that may disappear.
const Node* SoleReader(const Graph& graph, const pass_util::Consumers& consumers,
                       const absl::flat_hash_map<std::string, std::vector<int>>& readers,
                       const TensorRef& ref) {
  if (!consumers.SingleReader(ref)) return nullptr;
  auto it = readers.find(ref.node);
  if (it == readers.end() || it->second.size() != 1) return nullptr;
  return &graph.nodes()[it->second[0]];
}

// True when `node` is a Reshape of `x` whose output provably has x's shape, so fusion may look
// through it: the inferred shapes have one rank and agree on every dim but at most one, and the
// agreeing dims are known and positive, so the element count pins the last one (the Reshape
// either keeps x's shape or fails). E.g. a [batch, N] product reshaped to [-1, N], or to
// concat(shape(input)[0], N) as TF's Tensordot writes it.
bool KeepsShape(const Node& node, const TensorRef& x, const ShapeMap& shapes) {
  if (node.op != "Reshape" || !node.domain.empty() || node.inputs.size() != 2 ||
      node.inputs[0] != x || !node.control_inputs.empty()) {
    return false;
  }
  const Shape& in = LookupInferred(shapes, x).shape;
  const Shape& out = LookupInferred(shapes, TensorRef{node.name, 0}).shape;
  if (!in.known_rank() || !out.known_rank() || in.rank() != out.rank()) return false;
  int unpinned = 0;
  for (int i = 0; i < in.rank(); ++i) {
    const int64_t a = in.dim(i), b = out.dim(i);
    if (a > 0 && a == b) continue;
    if (a >= 0 && b >= 0) return false;  // known and different, or a zero (no pinning)
    ++unpinned;
  }
  return unpinned <= 1;
}

std::optional<std::string> ActivationOf(const Node& node, bool onnx) {
  if (!node.domain.empty() || node.inputs.size() != (node.op == "PRelu" ? 2u : 1u)) {
    return std::nullopt;
  }
  if (node.op == "Relu") return "relu";
  if (node.op == "Sigmoid") return "sigmoid";
  if (node.op == "Tanh") return "tanh";
  if (node.op == "PRelu" && onnx) return "prelu";
  return std::nullopt;
}

}  // namespace

absl::StatusOr<PassReport> FuseMatMulBiasActivation(const Graph& in, const PassOptions& options,
                                                    Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError(
        "FuseMatMulBiasActivation: `out` is null; pass a Graph to write into");
  }
  PassReport report;
  report.pass = std::string(kPassName);
  const bool onnx = in.format() == ModelFormat::kOnnx;
  RANKOPT_ASSIGN_OR_RETURN(pass_util::Consumers consumers, pass_util::CountConsumers(in, options));
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(in));
  absl::flat_hash_map<std::string, std::vector<int>> readers;  // node -> reader node indices
  for (size_t i = 0; i < in.num_nodes(); ++i) {
    for (const TensorRef& ref : in.nodes()[i].inputs) {
      if (!ref.empty()) readers[ref.node].push_back(static_cast<int>(i));
    }
  }

  absl::flat_hash_set<std::string> erased;
  absl::flat_hash_map<std::string, Node> replaced;  // last node of a chain -> the fused node
  absl::flat_hash_map<std::string, int> fused_by_kind;
  for (const Node& mm : in.nodes()) {
    // Guard ladder: each `continue` names a condition the rewrite needs.
    if (!mm.domain.empty() || mm.inputs.size() < 2 || erased.contains(mm.name)) continue;
    const bool gemm = onnx && mm.op == "Gemm";
    if (mm.op != "MatMul" && !gemm) continue;
    if (!mm.control_inputs.empty()) continue;
    bool transpose_b = false;
    int out_rank = 2;
    if (gemm) {
      if (BoolAttr(mm, "transA", false) || FloatAttr(mm, "alpha", 1.0f) != 1.0f) continue;
      transpose_b = BoolAttr(mm, "transB", false);
    } else if (onnx) {
      const Shape& xs = LookupInferred(shapes, mm.inputs[0]).shape;
      if (!xs.known_rank() || xs.rank() < 2) continue;  // 1-D x: numpy promotion, not a layer
      out_rank = xs.rank();
    } else {
      if (BoolAttr(mm, "transpose_a", false)) continue;
      transpose_b = BoolAttr(mm, "transpose_b", false);
    }
    const Tensor* w = pass_util::ConstValue(in, mm.inputs[1]);
    if (w == nullptr || w->dtype() != DType::kFloat32 || w->dims().size() != 2) continue;
    const int64_t n = w->dims()[transpose_b ? 0 : 1];

    TensorRef bias;
    std::vector<const Node*> chain = {&mm};
    if (gemm && mm.inputs.size() > 2 && !mm.inputs[2].empty()) {
      if (FloatAttr(mm, "beta", 1.0f) != 1.0f) continue;
      if (LastAxisConstant(in, mm.inputs[2], n, 2, false) == nullptr) continue;
      bias = mm.inputs[2];
    }
    TensorRef tail{mm.name, 0};
    // A Reshape that keeps the product's shape (TF Tensordot's) is looked through.
    const Node* reshape = SoleReader(in, consumers, readers, tail);
    if (reshape != nullptr && KeepsShape(*reshape, tail, shapes)) {
      chain.push_back(reshape);
      tail = TensorRef{reshape->name, 0};
    } else {
      reshape = nullptr;
    }
    if (bias.empty()) {
      const Node* add = SoleReader(in, consumers, readers, tail);
      const bool is_add =
          add != nullptr && add->domain.empty() && add->inputs.size() == 2 &&
          (add->op == "Add" || (!onnx && (add->op == "AddV2" || add->op == "BiasAdd")));
      if (is_add && add->op == "BiasAdd") {
        const std::string* format = add->attrs.Get<std::string>("data_format");
        if (format != nullptr && *format != "NHWC") add = nullptr;
      }
      if (is_add && add != nullptr && add->control_inputs.empty()) {
        const int side = add->inputs[0] == tail ? 1 : 0;
        const bool shape_ok = add->inputs[1 - side] == tail &&
                              (add->op != "BiasAdd" || side == 1) &&
                              LastAxisConstant(in, add->inputs[side], n, out_rank, false);
        if (shape_ok) {
          bias = add->inputs[side];
          chain.push_back(add);
          tail = TensorRef{add->name, 0};
        }
      }
    }
    std::string activation = "none";
    TensorRef slope;
    if (const Node* act = SoleReader(in, consumers, readers, tail);
        act != nullptr && act->control_inputs.empty() && act->inputs[0] == tail) {
      std::optional<std::string> kind = ActivationOf(*act, onnx);
      if (kind.has_value() &&
          (*kind != "prelu" || LastAxisConstant(in, act->inputs[1], n, out_rank, true))) {
        activation = *kind;
        if (*kind == "prelu") slope = act->inputs[1];
        chain.push_back(act);
        tail = TensorRef{act->name, 0};
      }
    }
    if (reshape != nullptr && chain.back() == reshape) chain.pop_back();  // nothing after it
    if (chain.size() == 1 && !gemm) continue;  // nothing to fuse into a plain MatMul
    bool taken = false;
    for (const Node* node : chain) taken |= erased.contains(node->name);
    if (taken) continue;

    const Node& last = *chain.back();
    Node fused;
    fused.name = last.name;
    fused.op = std::string(kFusedMatMulOp);
    fused.device = mm.device;
    fused.inputs = {mm.inputs[0], mm.inputs[1], bias};
    if (!slope.empty()) fused.inputs.push_back(slope);
    fused.attrs.Set("transpose_b", transpose_b);
    fused.attrs.Set("activation", activation);
    if (!onnx) fused.attrs.Set("T", DType::kFloat32);
    if (onnx) fused.output_names = {last.output_names.empty() ? last.name : last.output_names[0]};
    for (size_t k = 0; k + 1 < chain.size(); ++k) erased.insert(chain[k]->name);
    erased.insert(last.name);
    std::string kind = absl::StrCat(chain[0]->op);
    for (size_t k = 1; k < chain.size(); ++k) absl::StrAppend(&kind, "+", chain[k]->op);
    ++fused_by_kind[kind];
    replaced.emplace(last.name, std::move(fused));
  }

  if (replaced.empty()) {
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  }
  std::vector<Node> result;
  result.reserve(in.num_nodes());
  for (const Node& node : in.nodes()) {
    auto it = replaced.find(node.name);
    if (it != replaced.end()) {
      result.push_back(std::move(it->second));
    } else if (!erased.contains(node.name)) {
      result.push_back(node);
    }
  }
  // A fused node sits where the last node of its chain sat; its inputs come before the first.
  Graph graph = in;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RecordNodeCounts(in, graph, &report);
  report.changed = true;
  std::vector<std::pair<std::string, int>> kinds(fused_by_kind.begin(), fused_by_kind.end());
  std::sort(kinds.begin(), kinds.end());
  for (const auto& [kind, count] : kinds) {
    report.notes.push_back(absl::StrCat("fused ", count, " x ", kind));
  }
  *out = std::move(graph);
  return report;
}

}  // namespace rankopt
