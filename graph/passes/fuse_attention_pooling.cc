#include "graph/passes/fuse_attention_pooling.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fuse_attention_pooling";

// One dense layer of the attention MLP: x @ w + b, then an activation.
struct Layer {
  TensorRef weight;
  TensorRef bias;
  std::string activation;  // "sigmoid", "relu", "none"
};

struct Match {
  TensorRef query;
  TensorRef keys;
  TensorRef mask;  // empty: no mask
  std::vector<Layer> layers;  // hidden layers, then the scoring layer (activation "none")
};

class Matcher {
 public:
  explicit Matcher(const Graph& graph) : graph_(graph) {}

  std::optional<Match> MatchAt(const Node& squeeze) const;

 private:
  // The producer of `ref` when it is port 0 of a default-domain node of op `op`.
  const Node* Producer(const TensorRef& ref, absl::string_view op) const {
    if (ref.empty() || ref.port != 0) return nullptr;
    const Node* node = graph_.FindNode(ref.node);
    if (node == nullptr || node->op != op || !node->domain.empty() ||
        !node->control_inputs.empty()) {
      return nullptr;
    }
    return node;
  }
  bool AxesAre(const Node& node, std::initializer_list<int64_t> accepted) const {
    std::optional<std::vector<int64_t>> axes = pass_util::AxesOf(graph_, node, "axes", 1);
    if (!axes.has_value() || axes->size() != 1) return false;
    for (int64_t a : accepted) {
      if ((*axes)[0] == a) return true;
    }
    return false;
  }
  // x @ W + b with constant float32 W [in, out] and b [out]; `x` receives the layer's input.
  std::optional<Layer> Dense(const TensorRef& ref, TensorRef* x) const;

  const Graph& graph_;
};

std::optional<Layer> Matcher::Dense(const TensorRef& ref, TensorRef* x) const {
  const Node* add = Producer(ref, "Add");
  if (add == nullptr || add->inputs.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const Node* mm = Producer(add->inputs[1 - side], "MatMul");
    const Tensor* b = pass_util::ConstValue(graph_, add->inputs[side]);
    if (mm == nullptr || b == nullptr || mm->inputs.size() != 2) continue;
    const Tensor* w = pass_util::ConstValue(graph_, mm->inputs[1]);
    if (w == nullptr || w->dtype() != DType::kFloat32 || w->dims().size() != 2) continue;
    if (b->dtype() != DType::kFloat32 || b->num_elements() != w->dims()[1]) continue;
    *x = mm->inputs[0];
    return Layer{mm->inputs[1], add->inputs[side], "none"};
  }
  return std::nullopt;
}

std::optional<Match> Matcher::MatchAt(const Node& squeeze) const {
  // pooled = Squeeze(MatMul(Unsqueeze(weights, 1), keys), 1)
  if (squeeze.op != "Squeeze" || !squeeze.domain.empty() || !AxesAre(squeeze, {1})) {
    return std::nullopt;
  }
  const Node* pool = Producer(squeeze.inputs[0], "MatMul");
  if (pool == nullptr || pool->inputs.size() != 2) return std::nullopt;
  const Node* unsqueeze = Producer(pool->inputs[0], "Unsqueeze");
  if (unsqueeze == nullptr || !AxesAre(*unsqueeze, {1})) return std::nullopt;
  Match match;
  match.keys = pool->inputs[1];
  // weights = Squeeze(score, -1) [* mask]
  TensorRef weights = unsqueeze->inputs[0];
  const Node* score_squeeze = Producer(weights, "Squeeze");
  if (score_squeeze == nullptr) {
    const Node* mul = Producer(weights, "Mul");
    if (mul == nullptr || mul->inputs.size() != 2) return std::nullopt;
    for (int side = 0; side < 2 && score_squeeze == nullptr; ++side) {
      score_squeeze = Producer(mul->inputs[side], "Squeeze");
      if (score_squeeze != nullptr) match.mask = mul->inputs[1 - side];
    }
    if (score_squeeze == nullptr) return std::nullopt;
  }
  if (!AxesAre(*score_squeeze, {2, -1})) return std::nullopt;
  // score = h @ w_out + b_out, h = act(h' @ W + b) ...
  TensorRef x;
  std::optional<Layer> scoring = Dense(score_squeeze->inputs[0], &x);
  if (!scoring.has_value()) return std::nullopt;
  std::vector<Layer> layers = {*scoring};
  for (;;) {
    std::string activation = "none";
    TensorRef pre = x;
    if (const Node* act = Producer(x, "Sigmoid")) {
      activation = "sigmoid";
      pre = act->inputs[0];
    } else if (const Node* relu = Producer(x, "Relu")) {
      activation = "relu";
      pre = relu->inputs[0];
    }
    TensorRef below;
    std::optional<Layer> layer = Dense(pre, &below);
    if (!layer.has_value()) break;
    layer->activation = activation;
    layers.insert(layers.begin(), *layer);
    x = below;
  }
  if (layers.size() < 2) return std::nullopt;
  // The first layer's input: Concat(e, k, e - k, e * k) on the last axis.
  const Node* concat = Producer(x, "Concat");
  if (concat == nullptr || concat->inputs.size() != 4) return std::nullopt;
  const int64_t* axis = concat->attrs.Get<int64_t>("axis");
  if (axis == nullptr || (*axis != -1 && *axis != 2)) return std::nullopt;
  const TensorRef& e = concat->inputs[0];
  if (concat->inputs[1] != match.keys) return std::nullopt;
  const Node* sub = Producer(concat->inputs[2], "Sub");
  const Node* mul = Producer(concat->inputs[3], "Mul");
  if (sub == nullptr || mul == nullptr || sub->inputs.size() != 2 || mul->inputs.size() != 2) {
    return std::nullopt;
  }
  if (sub->inputs[0] != e || sub->inputs[1] != match.keys) return std::nullopt;
  const bool mul_ok = (mul->inputs[0] == e && mul->inputs[1] == match.keys) ||
                      (mul->inputs[1] == e && mul->inputs[0] == match.keys);
  if (!mul_ok) return std::nullopt;
  // e = Expand(Unsqueeze(q, 1), shape)
  const Node* expand = Producer(e, "Expand");
  if (expand == nullptr || expand->inputs.size() != 2) return std::nullopt;
  const Node* q_unsqueeze = Producer(expand->inputs[0], "Unsqueeze");
  if (q_unsqueeze == nullptr || !AxesAre(*q_unsqueeze, {1})) return std::nullopt;
  match.query = q_unsqueeze->inputs[0];
  // Layer shapes: 4d -> ... -> 1.
  const Tensor* w1 = pass_util::ConstValue(graph_, layers[0].weight);
  if (w1->dims()[0] % 4 != 0) return std::nullopt;
  for (size_t i = 1; i < layers.size(); ++i) {
    const Tensor* prev = pass_util::ConstValue(graph_, layers[i - 1].weight);
    const Tensor* w = pass_util::ConstValue(graph_, layers[i].weight);
    if (w->dims()[0] != prev->dims()[1]) return std::nullopt;
  }
  if (pass_util::ConstValue(graph_, layers.back().weight)->dims()[1] != 1) return std::nullopt;
  match.layers = std::move(layers);
  return match;
}

}  // namespace

absl::StatusOr<PassReport> FuseAttentionPooling(const Graph& in, const PassOptions& options,
                                                Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError(
        "FuseAttentionPooling: `out` is null; pass a Graph to write into");
  }
  PassReport report;
  report.pass = std::string(kPassName);
  Graph graph = in;
  if (in.format() == ModelFormat::kOnnx) {
    Matcher matcher(in);
    std::vector<Node> nodes = in.nodes();
    for (Node& node : nodes) {
      std::optional<Match> match = matcher.MatchAt(node);
      if (!match.has_value()) continue;
      Node fused;
      fused.name = node.name;
      fused.op = std::string(kAttentionPoolingOp);
      fused.output_names = node.output_names;
      fused.inputs = {match->query, match->keys, match->mask};
      std::vector<std::string> activations;
      for (size_t i = 0; i < match->layers.size(); ++i) {
        fused.inputs.push_back(match->layers[i].weight);
        fused.inputs.push_back(match->layers[i].bias);
        if (i + 1 < match->layers.size()) activations.push_back(match->layers[i].activation);
      }
      fused.attrs.Set("activations", activations);
      const Tensor* w1 = pass_util::ConstValue(in, match->layers[0].weight);
      report.notes.push_back(absl::StrCat(
          node.name, ": attention over ", match->keys.ToString(), " (d = ", w1->dims()[0] / 4,
          ", ", match->layers.size() - 1, " hidden layers", match->mask.empty() ? "" : ", masked",
          ") fused"));
      node = std::move(fused);
    }
    if (!report.notes.empty()) {
      RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(nodes)));
      RANKOPT_RETURN_IF_ERROR(graph.Validate());
      report.changed = true;
    }
  }
  (void)options;
  if (!report.changed) {
    report.notes.push_back("not applicable: no DIN attention block (ONNX, as PyTorch exports it)");
  }
  RecordNodeCounts(in, graph, &report);
  *out = std::move(graph);
  return report;
}

}  // namespace rankopt
