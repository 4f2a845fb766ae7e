#include "graph/passes/fold_batch_norm.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fold_batch_norm";

bool IsBatchNorm(const Node& node, bool onnx) {
  if (onnx) return node.op == "BatchNormalization" && node.domain.empty();
  return node.op == "FusedBatchNorm" || node.op == "FusedBatchNormV2" ||
         node.op == "FusedBatchNormV3";
}

using pass_util::BoolAttr;
using pass_util::FloatAttr;

// A constant float32 vector of n values stored as [n] or [1, n]; nullptr otherwise.
const Tensor* ChannelVector(const Graph& graph, const TensorRef& ref, int64_t n,
                            bool allow_row = true) {
  const Tensor* t = pass_util::ConstValue(graph, ref);
  if (t == nullptr || t->dtype() != DType::kFloat32 || t->num_elements() != n) return nullptr;
  const std::vector<int64_t>& d = t->dims();
  if (d.size() == 1 || (allow_row && d.size() == 2 && d[0] == 1)) return t;
  return nullptr;
}

// The dense layer feeding a BN: x @ W (+ b).
struct Dense {
  const Node* matmul = nullptr;
  const Node* add = nullptr;  // Add/BiasAdd after a MatMul, if any
  TensorRef x;
  const Tensor* weight = nullptr;
  const Tensor* bias = nullptr;
  bool transpose_b = false;
  int64_t n = 0;
};

bool IsAdd(const Node& node, bool onnx) {
  if (onnx) return node.op == "Add" && node.domain.empty();
  if (node.op == "BiasAdd") {
    const std::string* format = node.attrs.Get<std::string>("data_format");
    return format == nullptr || *format == "NHWC";
  }
  return node.op == "Add" || node.op == "AddV2";
}

// The MatMul/Gemm at `ref` with a constant 2-D float32 weight and a 2-D output, or nullopt.
std::optional<Dense> MatchMatMul(const Graph& graph, const ShapeMap& shapes, const TensorRef& ref) {
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  const Node* mm = graph.FindNode(ref.node);
  if (mm == nullptr || ref.port != 0 || mm->inputs.size() < 2 || !mm->domain.empty()) {
    return std::nullopt;
  }
  Dense d;
  d.matmul = mm;
  d.x = mm->inputs[0];
  if (onnx && mm->op == "Gemm") {
    if (BoolAttr(*mm, "transA", false) || FloatAttr(*mm, "alpha", 1.0f) != 1.0f) {
      return std::nullopt;
    }
    d.transpose_b = BoolAttr(*mm, "transB", false);
  } else if (onnx && mm->op == "MatMul") {
    const Shape& xs = LookupInferred(shapes, d.x).shape;
    if (!xs.known_rank() || xs.rank() != 2) return std::nullopt;
  } else if (!onnx && mm->op == "MatMul") {
    if (BoolAttr(*mm, "transpose_a", false)) return std::nullopt;
    d.transpose_b = BoolAttr(*mm, "transpose_b", false);
  } else {
    return std::nullopt;
  }
  d.weight = pass_util::ConstValue(graph, mm->inputs[1]);
  if (d.weight == nullptr || d.weight->dtype() != DType::kFloat32 || d.weight->dims().size() != 2) {
    return std::nullopt;
  }
  d.n = d.weight->dims()[d.transpose_b ? 0 : 1];
  if (mm->op == "Gemm" && mm->inputs.size() > 2 && !mm->inputs[2].empty()) {
    if (FloatAttr(*mm, "beta", 1.0f) != 1.0f) return std::nullopt;
    d.bias = ChannelVector(graph, mm->inputs[2], d.n);
    if (d.bias == nullptr) return std::nullopt;
  }
  return d;
}

}  // namespace

absl::StatusOr<PassReport> FoldBatchNorm(const Graph& in, const PassOptions& options, Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("FoldBatchNorm: `out` is null; pass a Graph to write into");
  }
  PassReport report;
  report.pass = std::string(kPassName);
  const bool onnx = in.format() == ModelFormat::kOnnx;
  RANKOPT_ASSIGN_OR_RETURN(pass_util::Consumers consumers, pass_util::CountConsumers(in, options));
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(in));
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(in);

  std::vector<Node> nodes = in.nodes();
  absl::flat_hash_set<std::string> erased;
  absl::flat_hash_map<std::string, std::vector<Node>> insert_before;  // node name -> new nodes
  int folded = 0;
  for (Node& bn : nodes) {
    if (!IsBatchNorm(bn, onnx) || bn.inputs.size() != 5 || erased.contains(bn.name)) continue;
    if (onnx ? BoolAttr(bn, "training_mode", false) : BoolAttr(bn, "is_training", true)) continue;
    if (!onnx) {
      const std::string* format = bn.attrs.Get<std::string>("data_format");
      if (format != nullptr && *format != "NHWC") continue;
    }
    bool extra_read = false;
    for (int port = 1; port < 6; ++port) {
      const TensorRef ref{bn.name, port};
      extra_read |= consumers.TensorReaders(ref) > 0 || consumers.protected_tensors.contains(ref);
    }
    if (extra_read || !consumers.SingleReader(bn.inputs[0])) continue;

    // The dense layer: MatMul/Gemm, or MatMul followed by a bias Add.
    std::optional<Dense> dense = MatchMatMul(in, shapes, bn.inputs[0]);
    if (!dense.has_value()) {
      const Node* add = in.FindNode(bn.inputs[0].node);
      if (add == nullptr || bn.inputs[0].port != 0 || !IsAdd(*add, onnx) ||
          add->inputs.size() != 2) {
        continue;
      }
      for (int side = 0; side < 2 && !dense.has_value(); ++side) {
        if (add->op == "BiasAdd" && side == 1) break;  // BiasAdd(value, bias) only
        const TensorRef& mm = add->inputs[side];
        if (!consumers.SingleReader(mm)) continue;
        dense = MatchMatMul(in, shapes, mm);
        if (!dense.has_value() || dense->bias != nullptr || dense->matmul->op == "Gemm") {
          dense.reset();
          continue;
        }
        dense->bias = ChannelVector(in, add->inputs[1 - side], dense->n);
        if (dense->bias == nullptr) dense.reset();
      }
      if (!dense.has_value()) continue;
      dense->add = add;
    }
    if (erased.contains(dense->matmul->name)) continue;

    const int64_t n = dense->n;
    const Tensor* params[4];  // scale, offset, mean, var
    bool ok = true;
    for (int i = 0; i < 4; ++i) {
      params[i] = ChannelVector(in, bn.inputs[i + 1], n, /*allow_row=*/false);
      ok &= params[i] != nullptr;
    }
    if (!ok) continue;
    const float eps = FloatAttr(bn, "epsilon", onnx ? 1e-5f : 1e-4f);

    // s = scale / sqrt(var + eps); W' = W * s (per output column); b' = (b - mean) * s + offset.
    const auto scale = params[0]->values<float>(), offset = params[1]->values<float>();
    const auto mean = params[2]->values<float>(), var = params[3]->values<float>();
    std::vector<double> s(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      s[j] = static_cast<double>(scale[j]) / std::sqrt(static_cast<double>(var[j]) + eps);
    }
    const auto w = dense->weight->values<float>();
    std::vector<float> w2(w.size());
    const int64_t rows = dense->weight->dims()[0], cols = dense->weight->dims()[1];
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t j = dense->transpose_b ? r : c;
        w2[r * cols + c] = static_cast<float>(w[r * cols + c] * s[j]);
      }
    }
    std::vector<float> b2(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const double b = dense->bias != nullptr ? dense->bias->values<float>()[j] : 0.0;
      b2[j] = static_cast<float>((b - mean[j]) * s[j] + offset[j]);
    }
    absl::StatusOr<Tensor> w_tensor = Tensor::FromValues<float>(dense->weight->dims(), w2);
    absl::StatusOr<Tensor> b_tensor = Tensor::FromValues<float>({n}, b2);
    if (!w_tensor.ok() || !b_tensor.ok()) continue;

    std::vector<Node>& added = insert_before[bn.name];
    Node w_node = pass_util::MakeConst(
        in, pass_util::UniqueName(absl::StrCat(bn.name, "/folded_weight"), &names), *w_tensor);
    Node b_node = pass_util::MakeConst(
        in, pass_util::UniqueName(absl::StrCat(bn.name, "/folded_bias"), &names), *b_tensor);
    Node replacement;
    replacement.name = bn.name;
    replacement.device = bn.device;
    replacement.control_inputs = bn.control_inputs;
    if (onnx) {
      replacement.op = "Gemm";
      replacement.inputs = {dense->x, TensorRef{w_node.name, 0}, TensorRef{b_node.name, 0}};
      replacement.attrs.Set("transB", static_cast<int64_t>(dense->transpose_b ? 1 : 0));
      replacement.output_names = {bn.output_names.empty() ? bn.name : bn.output_names[0]};
    } else {
      Node matmul;
      matmul.name = pass_util::UniqueName(absl::StrCat(bn.name, "/folded_matmul"), &names);
      matmul.op = "MatMul";
      matmul.device = dense->matmul->device;
      matmul.inputs = {dense->x, TensorRef{w_node.name, 0}};
      matmul.attrs.Set("T", DType::kFloat32);
      matmul.attrs.Set("transpose_a", false);
      matmul.attrs.Set("transpose_b", dense->transpose_b);
      replacement.op = "BiasAdd";
      replacement.inputs = {TensorRef{matmul.name, 0}, TensorRef{b_node.name, 0}};
      replacement.attrs.Set("T", DType::kFloat32);
      replacement.attrs.Set("data_format", std::string("NHWC"));
      added.push_back(std::move(w_node));
      added.push_back(std::move(b_node));
      added.push_back(std::move(matmul));
    }
    if (onnx) {
      added.push_back(std::move(w_node));
      added.push_back(std::move(b_node));
    }
    erased.insert(dense->matmul->name);
    if (dense->add != nullptr) erased.insert(dense->add->name);
    // The old weight goes too when the MatMul was its only reader.
    const TensorRef old_w = dense->matmul->inputs[1];
    if (consumers.SingleReader(old_w)) erased.insert(old_w.node);
    bn = std::move(replacement);
    ++folded;
    report.notes.push_back(absl::StrCat("folded '", bn.name, "' into ", dense->matmul->op, " '",
                                        dense->matmul->name, "' (", n, " channels)"));
  }

  if (folded > 0) {
    std::vector<Node> result;
    result.reserve(nodes.size() + 3 * insert_before.size());
    for (Node& node : nodes) {
      if (erased.contains(node.name)) continue;
      auto added = insert_before.find(node.name);
      if (added != insert_before.end()) {
        for (Node& a : added->second) result.push_back(std::move(a));
      }
      result.push_back(std::move(node));
    }
    Graph graph = in;
    RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
    pass_util::TrimFrozenVariables(&graph);
    RANKOPT_RETURN_IF_ERROR(graph.Validate());
    RecordNodeCounts(in, graph, &report);
    report.changed = true;
    *out = std::move(graph);
  } else {
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
  }
  return report;
}

}  // namespace rankopt
