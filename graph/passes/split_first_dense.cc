#include "graph/passes/split_first_dense.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/fuse_matmul_bias_activation.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "split_first_dense";

using pass_util::BoolAttr;
using pass_util::FloatAttr;

// A float32 constant of exactly `n` values (a bias or a per-channel slope), or nullptr.
const Tensor* VectorConst(const Graph& graph, const TensorRef& ref, int64_t n) {
  const Node* node = graph.ConstantBehind(ref);
  if (node == nullptr) return nullptr;
  const Tensor* t = node->attrs.Get<Tensor>("value");
  if (t == nullptr || t->dtype() != DType::kFloat32 || t->num_elements() != n) return nullptr;
  for (size_t d = 0; d + 1 < t->dims().size(); ++d) {
    if (t->dims()[d] != 1) return nullptr;
  }
  return t;
}

// One input of the concat, by what its columns are.
struct Part {
  TensorRef ref;
  int64_t width = -1;
  enum Kind { kRequest, kCandidate, kMixed } kind = kCandidate;
  std::vector<int64_t> request_columns;  // kMixed
};

// The two halves a concat splits into, shared by every layer that reads it.
struct SplitConcat {
  std::vector<Part> parts;
  int64_t width = 0;
  TensorRef request;    // u: [1, K_u] after MarkRequestLevel
  TensorRef candidate;  // i: [N, K_i]
  std::vector<int64_t> request_rows;    // rows of W (columns of the concat) u holds, in order
  std::vector<int64_t> candidate_rows;  // rows of W i holds, in order
};

class Splitter {
 public:
  Splitter(const Graph& in, const PassOptions& options)
      : in_(in), options_(options), onnx_(in.format() == ModelFormat::kOnnx),
        names_(pass_util::NodeNames(in)) {}

  absl::StatusOr<PassReport> Run(Graph* out);

 private:
  // The parts of the concat `ref` reads, or nullopt when it is not a last-axis concat of known
  // widths with both kinds of columns.
  std::optional<std::vector<Part>> Parts(const TensorRef& ref, int64_t k) const;
  // Builds (once per concat) the u and i halves; their nodes go to `emitted`.
  const SplitConcat& Split(const std::string& concat, std::vector<Part> parts,
                           std::vector<Node>* emitted);
  Node NewNode(absl::string_view base, absl::string_view op) {
    Node node;
    node.name = pass_util::UniqueName(base, &names_);
    node.op = std::string(op);
    if (onnx_) node.output_names = {node.name};
    return node;
  }
  TensorRef Concat(absl::string_view base, const std::vector<TensorRef>& parts,
                   std::vector<Node>* emitted);
  TensorRef Const(absl::string_view base, Tensor value, std::vector<Node>* emitted) {
    Node node = pass_util::MakeConst(in_, pass_util::UniqueName(base, &names_), std::move(value));
    TensorRef ref{node.name, 0};
    emitted->push_back(std::move(node));
    return ref;
  }

  const Graph& in_;
  const PassOptions& options_;
  const bool onnx_;
  absl::flat_hash_set<std::string> names_;
  ShapeMap shapes_;
  absl::flat_hash_set<TensorRef> request_;
  absl::flat_hash_map<std::string, const RequestLevelInput*> mixed_;  // input -> its columns
  absl::flat_hash_map<std::string, SplitConcat> splits_;
};

std::optional<std::vector<Part>> Splitter::Parts(const TensorRef& ref, int64_t k) const {
  const Node* concat = in_.FindNode(ref.node);
  if (concat == nullptr || ref.port != 0 || !concat->control_inputs.empty()) return std::nullopt;
  std::vector<TensorRef> inputs;
  int64_t axis = 0;
  if (onnx_ && concat->op == "Concat" && concat->domain.empty()) {
    const int64_t* a = concat->attrs.Get<int64_t>("axis");
    axis = a != nullptr ? *a : 0;
    inputs = concat->inputs;
  } else if (!onnx_ && concat->op == "ConcatV2" && concat->inputs.size() >= 2) {
    const Tensor* a = pass_util::ConstValue(in_, concat->inputs.back());
    if (a == nullptr || a->num_elements() != 1) return std::nullopt;
    axis = a->dtype() == DType::kInt32 ? a->values<int32_t>()[0]
           : a->dtype() == DType::kInt64 ? a->values<int64_t>()[0]
                                          : 0;
    inputs.assign(concat->inputs.begin(), concat->inputs.end() - 1);
  } else {
    return std::nullopt;
  }
  if (axis != 1 && axis != -1) return std::nullopt;
  std::vector<Part> parts;
  int unknown = -1;
  int64_t known = 0;
  bool request = false, candidate = false;
  for (const TensorRef& in : inputs) {
    Part part;
    part.ref = in;
    const Shape& s = LookupInferred(shapes_, in).shape;
    if (s.known_rank() && s.rank() != 2) return std::nullopt;
    if (s.known_rank() && s.dim(1) >= 0) {
      part.width = s.dim(1);
      known += part.width;
    } else if (unknown >= 0) {
      return std::nullopt;  // two parts of unknown width
    } else {
      unknown = static_cast<int>(parts.size());
    }
    auto mixed = mixed_.find(in.node);
    if (request_.contains(in)) {
      part.kind = Part::kRequest;
      request = true;
    } else if (mixed != mixed_.end() && in.port == 0) {
      part.kind = Part::kMixed;
      part.request_columns = mixed->second->columns;
      request = candidate = true;
    } else {
      candidate = true;
    }
    parts.push_back(std::move(part));
  }
  if (unknown >= 0) {
    if (k - known <= 0) return std::nullopt;
    parts[unknown].width = k - known;  // the layer's K says what the concat's width is
  } else if (known != k) {
    return std::nullopt;
  }
  for (const Part& p : parts) {
    if (p.kind != Part::kMixed) continue;
    for (int64_t c : p.request_columns) {
      if (c >= p.width) return std::nullopt;
    }
    if (static_cast<int64_t>(p.request_columns.size()) == p.width) return std::nullopt;
  }
  if (!request || !candidate) return std::nullopt;
  return parts;
}

TensorRef Splitter::Concat(absl::string_view base, const std::vector<TensorRef>& parts,
                           std::vector<Node>* emitted) {
  if (parts.size() == 1) return parts[0];
  Node concat = NewNode(base, onnx_ ? "Concat" : "ConcatV2");
  concat.inputs = parts;
  if (onnx_) {
    concat.attrs.Set("axis", int64_t{1});
  } else {
    const int32_t one = 1;
    concat.inputs.push_back(
        Const(absl::StrCat(base, "/axis"),
              *Tensor::FromValues<int32_t>({}, absl::MakeConstSpan(&one, 1)), emitted));
    concat.attrs.Set("N", static_cast<int64_t>(parts.size()));
    concat.attrs.Set("T", DType::kFloat32);
    concat.attrs.Set("Tidx", DType::kInt32);
  }
  TensorRef ref{concat.name, 0};
  emitted->push_back(std::move(concat));
  return ref;
}

const SplitConcat& Splitter::Split(const std::string& concat, std::vector<Part> parts,
                                   std::vector<Node>* emitted) {
  auto it = splits_.find(concat);
  if (it != splits_.end()) return it->second;
  SplitConcat split;
  std::vector<TensorRef> request, candidate;
  int64_t offset = 0;
  for (const Part& p : parts) {
    if (p.kind == Part::kRequest) {
      request.push_back(p.ref);
      for (int64_t c = 0; c < p.width; ++c) split.request_rows.push_back(offset + c);
    } else if (p.kind == Part::kCandidate) {
      candidate.push_back(p.ref);
      for (int64_t c = 0; c < p.width; ++c) split.candidate_rows.push_back(offset + c);
    } else {
      absl::flat_hash_set<int64_t> in_request(p.request_columns.begin(), p.request_columns.end());
      std::vector<int64_t> rest;
      for (int64_t c = 0; c < p.width; ++c) {
        if (!in_request.contains(c)) rest.push_back(c);
      }
      Node row = NewNode(absl::StrCat(p.ref.node, "/request_columns"), kRequestRowOp);
      row.inputs = {p.ref};
      row.attrs.Set("columns", p.request_columns);
      Node select = NewNode(absl::StrCat(p.ref.node, "/candidate_columns"), kSelectColumnsOp);
      select.inputs = {p.ref};
      select.attrs.Set("columns", rest);
      request.push_back(TensorRef{row.name, 0});
      candidate.push_back(TensorRef{select.name, 0});
      for (int64_t c : p.request_columns) split.request_rows.push_back(offset + c);
      for (int64_t c : rest) split.candidate_rows.push_back(offset + c);
      emitted->push_back(std::move(row));
      emitted->push_back(std::move(select));
    }
    offset += p.width;
  }
  split.width = offset;
  split.request = Concat(absl::StrCat(concat, "/request_part"), request, emitted);
  split.candidate = Concat(absl::StrCat(concat, "/candidate_part"), candidate, emitted);
  split.parts = std::move(parts);
  return splits_.emplace(concat, std::move(split)).first->second;
}

absl::StatusOr<PassReport> Splitter::Run(Graph* out) {
  PassReport report;
  report.pass = std::string(kPassName);
  RANKOPT_ASSIGN_OR_RETURN(pass_util::Consumers consumers,
                           pass_util::CountConsumers(in_, options_));
  RANKOPT_ASSIGN_OR_RETURN(shapes_, InferShapes(in_));
  request_ = RequestLevelTensors(in_, options_.request_inputs, shapes_);
  for (const RequestLevelInput& input : options_.request_inputs) {
    if (!input.columns.empty()) mixed_[input.name] = &input;
  }
  absl::flat_hash_map<std::string, std::vector<int>> readers;
  for (size_t i = 0; i < in_.num_nodes(); ++i) {
    for (const TensorRef& ref : in_.nodes()[i].inputs) {
      if (!ref.empty()) readers[ref.node].push_back(static_cast<int>(i));
    }
  }
  auto sole_reader = [&](const TensorRef& ref) -> const Node* {
    if (!consumers.SingleReader(ref)) return nullptr;
    auto it = readers.find(ref.node);
    if (it == readers.end() || it->second.size() != 1) return nullptr;
    const Node* node = &in_.nodes()[it->second[0]];
    return node->control_inputs.empty() ? node : nullptr;
  };

  absl::flat_hash_set<std::string> erased;
  absl::flat_hash_map<std::string, std::vector<Node>> replacement;  // tail node -> new nodes
  std::vector<std::string> notes;
  for (const Node& mm : in_.nodes()) {
    if (!mm.domain.empty() || mm.inputs.size() < 2 || !mm.control_inputs.empty()) continue;
    const bool gemm = onnx_ && mm.op == "Gemm";
    if (mm.op != "MatMul" && !gemm) continue;
    bool transpose_b = false;
    if (gemm) {
      if (BoolAttr(mm, "transA", false) || FloatAttr(mm, "alpha", 1.0f) != 1.0f) continue;
      transpose_b = BoolAttr(mm, "transB", false);
    } else if (!onnx_) {
      if (BoolAttr(mm, "transpose_a", false)) continue;
      transpose_b = BoolAttr(mm, "transpose_b", false);
    }
    const Tensor* w = pass_util::ConstValue(in_, mm.inputs[1]);
    if (w == nullptr || w->dtype() != DType::kFloat32 || w->dims().size() != 2) continue;
    const int64_t k = w->dims()[transpose_b ? 1 : 0];
    const int64_t n = w->dims()[transpose_b ? 0 : 1];
    std::optional<std::vector<Part>> parts = Parts(mm.inputs[0], k);
    if (!parts.has_value()) continue;

    // The chain this layer replaces: bias, then an activation.
    std::vector<const Node*> chain = {&mm};
    TensorRef tail{mm.name, 0};
    TensorRef bias;
    if (gemm && mm.inputs.size() > 2 && !mm.inputs[2].empty()) {
      if (FloatAttr(mm, "beta", 1.0f) != 1.0f || VectorConst(in_, mm.inputs[2], n) == nullptr) {
        continue;
      }
      bias = mm.inputs[2];
    } else if (const Node* add = sole_reader(tail);
               add != nullptr && add->inputs.size() == 2 && add->domain.empty() &&
               (add->op == "Add" || (!onnx_ && (add->op == "AddV2" || add->op == "BiasAdd")))) {
      const int side = add->inputs[0] == tail ? 1 : 0;
      if (add->inputs[1 - side] == tail && (add->op != "BiasAdd" || side == 1) &&
          VectorConst(in_, add->inputs[side], n) != nullptr) {
        bias = add->inputs[side];
        chain.push_back(add);
        tail = TensorRef{add->name, 0};
      }
    }
    std::string activation = "none";
    TensorRef slope;
    if (const Node* act = sole_reader(tail);
        act != nullptr && act->domain.empty() && !act->inputs.empty() && act->inputs[0] == tail) {
      if (act->op == "Relu" || act->op == "Sigmoid" || act->op == "Tanh") {
        activation = act->op == "Relu" ? "relu" : act->op == "Sigmoid" ? "sigmoid" : "tanh";
      } else if (act->op == "PRelu" && onnx_ && act->inputs.size() == 2 &&
                 (VectorConst(in_, act->inputs[1], n) || VectorConst(in_, act->inputs[1], 1))) {
        activation = "prelu";
        slope = act->inputs[1];
      }
      if (activation != "none") {
        chain.push_back(act);
        tail = TensorRef{act->name, 0};
      }
    }
    bool taken = false;
    for (const Node* node : chain) taken |= erased.contains(node->name);
    if (taken) continue;

    std::vector<Node> emitted;
    const SplitConcat& split = Split(mm.inputs[0].node, *parts, &emitted);
    // W's rows for each half, row-major [K_half, n].
    const float* wv = w->values<float>().data();
    auto rows_of = [&](const std::vector<int64_t>& rows) {
      std::vector<float> v(rows.size() * n);
      for (size_t r = 0; r < rows.size(); ++r) {
        for (int64_t j = 0; j < n; ++j) {
          v[r * n + j] = transpose_b ? wv[j * k + rows[r]] : wv[rows[r] * n + j];
        }
      }
      return *Tensor::FromValues<float>({static_cast<int64_t>(rows.size()), n}, v);
    };
    const TensorRef w_request =
        Const(absl::StrCat(mm.name, "/request_weight"), rows_of(split.request_rows), &emitted);
    const TensorRef w_candidate =
        Const(absl::StrCat(mm.name, "/candidate_weight"), rows_of(split.candidate_rows), &emitted);
    Node user = NewNode(absl::StrCat(mm.name, "/request_term"), kFusedMatMulOp);
    user.inputs = {split.request, w_request, bias};
    user.attrs.Set("transpose_b", false);
    user.attrs.Set("activation", std::string("none"));
    if (!onnx_) user.attrs.Set("T", DType::kFloat32);
    const Node& last = *chain.back();
    Node fused;
    fused.name = last.name;
    fused.op = std::string(kFusedMatMulOp);
    fused.device = mm.device;
    fused.inputs = {split.candidate, w_candidate, TensorRef{user.name, 0}};
    if (!slope.empty()) fused.inputs.push_back(slope);
    fused.attrs.Set("transpose_b", false);
    fused.attrs.Set("activation", activation);
    if (!onnx_) fused.attrs.Set("T", DType::kFloat32);
    if (onnx_) fused.output_names = {last.output_names.empty() ? last.name : last.output_names[0]};
    emitted.push_back(std::move(user));
    emitted.push_back(std::move(fused));
    for (const Node* node : chain) erased.insert(node->name);
    replacement[last.name] = std::move(emitted);
    notes.push_back(absl::StrCat(mm.name, ": ", split.request_rows.size(), " of ", k,
                                 " input columns are request-level, computed once per request (",
                                 split.candidate_rows.size(), " per candidate)"));
  }
  if (replacement.empty()) {
    report.notes.push_back(
        "not applicable: no dense layer reads a concat of request-level and candidate-level "
        "columns");
    RecordNodeCounts(in_, in_, &report);
    if (out != &in_) *out = in_;
    return report;
  }
  std::vector<Node> result;
  result.reserve(in_.num_nodes() + 8 * replacement.size());
  for (const Node& node : in_.nodes()) {
    auto it = replacement.find(node.name);
    if (it != replacement.end()) {
      for (Node& n : it->second) result.push_back(std::move(n));
    } else if (!erased.contains(node.name)) {
      result.push_back(node);
    }
  }
  Graph graph = in_;
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(result)));
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  RecordNodeCounts(in_, graph, &report);
  report.changed = true;
  report.notes = std::move(notes);
  *out = std::move(graph);
  return report;
}

}  // namespace

absl::StatusOr<PassReport> SplitFirstDense(const Graph& in, const PassOptions& options,
                                           Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("SplitFirstDense: `out` is null; pass a Graph to write into");
  }
  Splitter splitter(in, options);
  return splitter.Run(out);
}

}  // namespace rankopt
