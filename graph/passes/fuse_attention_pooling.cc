#include "graph/passes/fuse_attention_pooling.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "fuse_attention_pooling";

// A constant the rewrite must create (folded Dice parameters, a zero bias, a scalar fill).
struct NewConst {
  std::string name;
  Tensor value;
};

// One dense layer of the attention MLP: x @ w + b, then an activation.
struct Layer {
  TensorRef weight;
  TensorRef bias;                   // empty: `zero_bias` names the constant to create
  std::string activation = "none";  // the kernel's names: none, relu, sigmoid, prelu, dice, swish
  std::vector<TensorRef> params;    // prelu: slope; dice: scale, shift, alpha
  int64_t out = 0;
};

struct Match {
  TensorRef query;
  TensorRef keys;
  TensorRef mask;  // empty: no mask
  std::vector<std::string> terms;
  std::string mask_mode = "mul";
  float fill = 0.0f;
  bool softmax = false;
  std::vector<Layer> layers;  // hidden layers, then the scoring layer (activation "none")
  std::vector<NewConst> consts;
  std::vector<Node> new_nodes;  // e.g. an additive mask rebuilt without the score's shape
};

// Why a candidate did not fuse: the node and the condition.
struct Miss {
  std::string node;
  std::string why;
};

using Result = std::variant<Match, Miss>;

// The matcher. Each step returns nullopt after recording why in miss_ (the first failure).
class Matcher {
 public:
  Matcher(const Graph& graph, absl::flat_hash_set<std::string>* names)
      : graph_(graph), names_(names) {}

  // nullopt: `anchor` is not a pooling over keys at all (no candidate, nothing to report).
  std::optional<Result> MatchAt(const Node& anchor);

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
  const Node* AnyProducer(const TensorRef& ref) const {
    return ref.empty() ? nullptr : graph_.FindNode(ref.node);
  }
  std::string OpOf(const TensorRef& ref) const {
    const Node* n = AnyProducer(ref);
    return n == nullptr ? "?" : n->op;
  }
  bool AxesAre(const Node& node, std::initializer_list<int64_t> accepted) const {
    std::optional<std::vector<int64_t>> axes = pass_util::AxesOf(graph_, node, "axes", 1);
    if (!axes.has_value() || axes->size() != 1) return false;
    for (int64_t a : accepted) {
      if ((*axes)[0] == a) return true;
    }
    return false;
  }
  const Tensor* FloatConst(const TensorRef& ref) const {
    const Node* c = ref.empty() ? nullptr : graph_.ConstantBehind(ref);
    const Tensor* t = c == nullptr ? nullptr : c->attrs.Get<Tensor>("value");
    return t != nullptr && t->dtype() == DType::kFloat32 ? t : nullptr;
  }
  // A scalar float: a one-element float constant, or ConstantOfShape(Shape(`shape_of`)) of a
  // float value (any ConstantOfShape when shape_of is null).
  std::optional<float> ScalarFill(const TensorRef& ref, const TensorRef* shape_of = nullptr) const;
  bool Fail(const Node& at, std::string why) {
    if (!miss_.has_value()) miss_ = Miss{at.name, std::move(why)};
    return false;
  }
  std::string NewName(absl::string_view base) { return pass_util::UniqueName(base, names_); }

  // x @ W + b (MatMul + Add, either order; or MatMul alone) with constant float32 W [in, out].
  bool Dense(const TensorRef& ref, Match* match, TensorRef* x);
  // The activation producing `ref` (or none); *pre receives its input.
  bool Activation(const TensorRef& ref, int64_t width, Layer* layer, Match* match, TensorRef* pre);
  bool Dice(const Node& add, int64_t width, Layer* layer, Match* match, TensorRef* pre);
  // Concat terms of the first layer.
  bool Terms(const TensorRef& ref, Match* match);
  // q from a broadcast of it: Expand/Tile(Unsqueeze(q, 1)) or, inside Sub/Mul, Unsqueeze(q, 1).
  bool Query(const TensorRef& ref, bool allow_bare_unsqueeze, TensorRef* q) const;
  // The mask and softmax around the score; *score receives the score tensor ([B, T]).
  bool Weights(const Node& anchor, const TensorRef& weights, Match* match, TensorRef* score);
  bool Mask(const Node& at, const TensorRef& masked, Match* match, TensorRef* score);
  // True when `ref` is computed from none of `region`'s nodes.
  bool Independent(const TensorRef& ref, const absl::flat_hash_set<std::string>& region) const;

  const Graph& graph_;
  absl::flat_hash_set<std::string>* names_;
  std::optional<Miss> miss_;
};

std::optional<float> Matcher::ScalarFill(const TensorRef& ref, const TensorRef* shape_of) const {
  if (const Tensor* t = FloatConst(ref)) {
    if (t->num_elements() == 1) return t->values<float>()[0];
    return std::nullopt;
  }
  if (const Node* cos = Producer(ref, "ConstantOfShape")) {
    if (shape_of != nullptr) {
      const Node* shape = cos->inputs.empty() ? nullptr : Producer(cos->inputs[0], "Shape");
      if (shape == nullptr || shape->inputs.empty() || shape->inputs[0] != *shape_of) {
        return std::nullopt;
      }
    }
    const Tensor* v = cos->attrs.Get<Tensor>("value");
    if (v == nullptr) return 0.0f;
    if (v->dtype() == DType::kFloat32 && v->num_elements() == 1) return v->values<float>()[0];
  }
  return std::nullopt;
}

bool Matcher::Dense(const TensorRef& ref, Match* match, TensorRef* x) {
  Layer layer;
  const Node* mm = Producer(ref, "MatMul");
  if (mm == nullptr) {
    const Node* add = Producer(ref, "Add");
    if (add == nullptr || add->inputs.size() != 2) return false;
    for (int side = 0; side < 2 && mm == nullptr; ++side) {
      const Tensor* b = FloatConst(add->inputs[side]);
      const Node* m = Producer(add->inputs[1 - side], "MatMul");
      if (b == nullptr || m == nullptr) continue;
      mm = m;
      layer.bias = add->inputs[side];
    }
    if (mm == nullptr) return false;
  }
  if (mm->inputs.size() != 2) return false;
  const Tensor* w = FloatConst(mm->inputs[1]);
  if (w == nullptr || w->dims().size() != 2) {
    return Fail(*mm, "the MatMul's weight is not a constant float32 matrix");
  }
  layer.weight = mm->inputs[1];
  layer.out = w->dims()[1];
  if (layer.bias.empty()) {
    std::vector<float> zeros(layer.out, 0.0f);
    absl::StatusOr<Tensor> t = Tensor::FromValues<float>({layer.out}, zeros);
    if (!t.ok()) return Fail(*mm, std::string(t.status().message()));
    const std::string name = NewName(absl::StrCat(mm->name, "/zero_bias"));
    match->consts.push_back({name, *std::move(t)});
    layer.bias = TensorRef{name, 0};
  } else {
    const Tensor* b = FloatConst(layer.bias);
    if (b->num_elements() != layer.out) {
      return Fail(
          *mm, absl::StrCat("the bias has ", b->num_elements(), " elements, expected ", layer.out));
    }
  }
  *x = mm->inputs[0];
  match->layers.insert(match->layers.begin(), std::move(layer));
  return true;
}

bool Matcher::Dice(const Node& add, int64_t width, Layer* layer, Match* match, TensorRef* pre) {
  // add = Mul(Mul(alpha, Sub(1, p)), x) + Mul(p, x), p = Sigmoid(BN(x) | x * s + b); x may be
  // Transpose(h, [0, 2, 1]) when the caller saw the transpose back.
  for (int side = 0; side < 2; ++side) {
    const Node* neg = Producer(add.inputs[side], "Mul");
    const Node* pos = Producer(add.inputs[1 - side], "Mul");
    if (neg == nullptr || pos == nullptr || neg->inputs.size() != 2 || pos->inputs.size() != 2) {
      continue;
    }
    for (int ps = 0; ps < 2; ++ps) {
      const Node* sig = Producer(pos->inputs[ps], "Sigmoid");
      if (sig == nullptr) continue;
      const TensorRef x = pos->inputs[1 - ps];
      // neg = Mul(Mul(alpha, Sub(1, p)), x) in any operand order.
      const Node* inner = nullptr;
      if (neg->inputs[1] == x) inner = Producer(neg->inputs[0], "Mul");
      if (neg->inputs[0] == x) inner = Producer(neg->inputs[1], "Mul");
      if (inner == nullptr || inner->inputs.size() != 2) continue;
      const Tensor* alpha = nullptr;
      const Node* sub = nullptr;
      TensorRef alpha_ref;
      for (int as = 0; as < 2; ++as) {
        const Tensor* a = FloatConst(inner->inputs[as]);
        const Node* s = Producer(inner->inputs[1 - as], "Sub");
        if (a != nullptr && s != nullptr) {
          alpha = a;
          sub = s;
          alpha_ref = inner->inputs[as];
        }
      }
      if (alpha == nullptr || sub->inputs.size() != 2) continue;
      std::optional<float> one = ScalarFill(sub->inputs[0]);
      if (!one.has_value() || *one != 1.0f || sub->inputs[1] != TensorRef{sig->name, 0}) continue;
      if (alpha->num_elements() != width) {
        return Fail(add, absl::StrCat("Dice alpha has ", alpha->num_elements(),
                                      " elements, expected one per channel (", width, ")"));
      }
      // p's argument: BatchNormalization(x) (eval mode) -> scale, shift.
      std::vector<float> scale(width), shift(width);
      const Node* bn = Producer(sig->inputs[0], "BatchNormalization");
      if (bn == nullptr || bn->inputs.size() < 5 || bn->inputs[0] != x) {
        return Fail(add, absl::StrCat("Dice's sigmoid input is ", OpOf(sig->inputs[0]),
                                      ", expected BatchNormalization of the layer output"));
      }
      const Tensor* p[4];
      for (int i = 0; i < 4; ++i) {
        p[i] = FloatConst(bn->inputs[1 + i]);
        if (p[i] == nullptr || p[i]->num_elements() != width) {
          return Fail(*bn, absl::StrCat("BatchNormalization parameter ", i + 1,
                                        " is not a constant float32 [", width, "]"));
        }
      }
      const float eps = pass_util::FloatAttr(*bn, "epsilon", 1e-5f);
      for (int64_t c = 0; c < width; ++c) {
        const float gamma = p[0]->values<float>()[c], beta = p[1]->values<float>()[c];
        const float mean = p[2]->values<float>()[c], var = p[3]->values<float>()[c];
        scale[c] = gamma / std::sqrt(var + eps);
        shift[c] = beta - mean * scale[c];
      }
      std::vector<TensorRef> refs;
      for (auto* values : {&scale, &shift}) {
        absl::StatusOr<Tensor> t = Tensor::FromValues<float>({width}, *values);
        if (!t.ok()) return Fail(*bn, std::string(t.status().message()));
        const std::string name =
            NewName(absl::StrCat(bn->name, values == &scale ? "/dice_scale" : "/dice_shift"));
        match->consts.push_back({name, *std::move(t)});
        refs.push_back(TensorRef{name, 0});
      }
      refs.push_back(alpha_ref);
      layer->activation = "dice";
      layer->params = std::move(refs);
      *pre = x;
      return true;
    }
  }
  return false;
}

bool Matcher::Activation(const TensorRef& ref, int64_t width, Layer* layer, Match* match,
                         TensorRef* pre) {
  *pre = ref;
  layer->activation = "none";
  if (const Node* n = Producer(ref, "Sigmoid")) {
    layer->activation = "sigmoid";
    *pre = n->inputs[0];
  } else if (const Node* relu = Producer(ref, "Relu")) {
    layer->activation = "relu";
    *pre = relu->inputs[0];
  } else if (const Node* prelu = Producer(ref, "PRelu")) {
    const Tensor* slope = prelu->inputs.size() == 2 ? FloatConst(prelu->inputs[1]) : nullptr;
    if (slope == nullptr) return Fail(*prelu, "the PRelu slope is not a float32 constant");
    const int64_t n = slope->num_elements();
    bool last_axis_only = true;  // [h], [1, h], [1, 1, h] broadcast along the channels
    for (size_t i = 0; i + 1 < slope->dims().size(); ++i) last_axis_only &= slope->dims()[i] == 1;
    if (!(n == 1 || (n == width && last_axis_only))) {
      return Fail(*prelu,
                  absl::StrCat("the PRelu slope has shape [", absl::StrJoin(slope->dims(), ","),
                               "], expected one value or one per channel (", width, ")"));
    }
    layer->activation = "prelu";
    layer->params = {prelu->inputs[1]};
    *pre = prelu->inputs[0];
  } else if (const Node* mul = Producer(ref, "Mul")) {
    // x * sigmoid(x)
    for (int side = 0; side < 2 && mul->inputs.size() == 2; ++side) {
      const Node* sig = Producer(mul->inputs[side], "Sigmoid");
      if (sig != nullptr && sig->inputs[0] == mul->inputs[1 - side]) {
        layer->activation = "swish";
        *pre = sig->inputs[0];
      }
    }
  } else if (const Node* back = Producer(ref, "Transpose")) {
    // Dice over [B, C, T]: Transpose(dice(Transpose(h)))
    const auto* perm = back->attrs.Get<std::vector<int64_t>>("perm");
    const Node* add = Producer(back->inputs[0], "Add");
    if (perm == nullptr || *perm != std::vector<int64_t>{0, 2, 1} || add == nullptr ||
        add->inputs.size() != 2) {
      return true;  // not an activation; the caller reports what it expected
    }
    TensorRef x;
    if (!Dice(*add, width, layer, match, &x)) return miss_.has_value() ? false : true;
    const Node* fwd = Producer(x, "Transpose");
    const auto* fperm = fwd == nullptr ? nullptr : fwd->attrs.Get<std::vector<int64_t>>("perm");
    if (fperm == nullptr || *fperm != std::vector<int64_t>{0, 2, 1}) {
      return Fail(*add, "Dice over [B, C, T] does not read Transpose(h, [0, 2, 1])");
    }
    *pre = fwd->inputs[0];
  }
  return true;
}

bool Matcher::Query(const TensorRef& ref, bool allow_bare_unsqueeze, TensorRef* q) const {
  const Node* unsqueeze = nullptr;
  if (const Node* expand = Producer(ref, "Expand")) {
    unsqueeze = Producer(expand->inputs[0], "Unsqueeze");
  } else if (const Node* tile = Producer(ref, "Tile")) {
    unsqueeze = Producer(tile->inputs[0], "Unsqueeze");
  } else if (allow_bare_unsqueeze) {
    unsqueeze = Producer(ref, "Unsqueeze");
  }
  if (unsqueeze == nullptr || !AxesAre(*unsqueeze, {1})) return false;
  *q = unsqueeze->inputs[0];
  return true;
}

bool Matcher::Terms(const TensorRef& ref, Match* match) {
  const Node* concat = Producer(ref, "Concat");
  if (concat == nullptr) {
    return Fail(*AnyProducer(ref),
                absl::StrCat("the first dense layer reads ", OpOf(ref),
                             ", expected a Concat of q, k, q-k, k-q, q*k terms"));
  }
  const int64_t* axis = concat->attrs.Get<int64_t>("axis");
  if (axis == nullptr || (*axis != -1 && *axis != 2)) {
    return Fail(*concat, "the first-layer Concat is not over the last axis");
  }
  auto same_query = [&](const TensorRef& q) {
    if (match->query.empty()) match->query = q;
    return match->query == q;
  };
  for (size_t i = 0; i < concat->inputs.size(); ++i) {
    const TensorRef& in = concat->inputs[i];
    std::string term;
    TensorRef q;
    if (in == match->keys) {
      term = "k";
    } else if (Query(in, false, &q)) {
      if (!same_query(q))
        return Fail(*concat, absl::StrCat("term ", i, " broadcasts another query"));
      term = "q";
    } else if (const Node* sub = Producer(in, "Sub")) {
      if (sub->inputs.size() == 2 && sub->inputs[1] == match->keys &&
          Query(sub->inputs[0], true, &q)) {
        term = "q-k";
      } else if (sub->inputs.size() == 2 && sub->inputs[0] == match->keys &&
                 Query(sub->inputs[1], true, &q)) {
        term = "k-q";
      }
      if (!term.empty() && !same_query(q)) {
        return Fail(*concat, absl::StrCat("term ", i, " broadcasts another query"));
      }
    } else if (const Node* mul = Producer(in, "Mul")) {
      for (int side = 0; side < 2 && term.empty() && mul->inputs.size() == 2; ++side) {
        if (mul->inputs[side] == match->keys && Query(mul->inputs[1 - side], true, &q)) {
          term = "q*k";
        }
      }
      if (!term.empty() && !same_query(q)) {
        return Fail(*concat, absl::StrCat("term ", i, " broadcasts another query"));
      }
    }
    if (term.empty()) {
      return Fail(*concat, absl::StrCat("first-layer input Concat has term ", i, " ('",
                                        in.ToString(), "', ", OpOf(in),
                                        ") that is neither q, k, q-k, k-q nor q*k of the pooled "
                                        "keys and one query"));
    }
    match->terms.push_back(term);
  }
  if (match->query.empty()) {
    return Fail(*concat, "the first-layer Concat has no query term (only the keys)");
  }
  return true;
}

bool Matcher::Independent(const TensorRef& ref,
                          const absl::flat_hash_set<std::string>& region) const {
  std::vector<std::string> stack = {ref.node};
  absl::flat_hash_set<std::string> seen;
  while (!stack.empty()) {
    std::string name = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(name).second) continue;
    if (region.contains(name)) return false;
    if (seen.size() > 10000) return false;  // a huge ancestry: do not guess
    const Node* node = graph_.FindNode(name);
    if (node == nullptr) continue;
    for (const TensorRef& in : node->inputs) {
      if (!in.empty()) stack.push_back(in.node);
    }
  }
  return true;
}

bool Matcher::Mask(const Node& at, const TensorRef& masked, Match* match, TensorRef* score) {
  *score = masked;
  if (Producer(masked, "Squeeze") != nullptr) return true;  // no mask
  // Squeeze of a dense layer's output (a mask may be a Squeeze too).
  auto is_score = [&](const TensorRef& r) {
    const Node* squeeze = Producer(r, "Squeeze");
    return squeeze != nullptr && (Producer(squeeze->inputs[0], "Add") != nullptr ||
                                  Producer(squeeze->inputs[0], "MatMul") != nullptr);
  };
  if (const Node* mul = Producer(masked, "Mul")) {
    for (int side = 0; side < 2 && mul->inputs.size() == 2; ++side) {
      if (!is_score(mul->inputs[side])) continue;
      *score = mul->inputs[side];
      match->mask = mul->inputs[1 - side];
      match->mask_mode = "mul";
      return true;
    }
    return Fail(*mul, "the weights are a Mul whose operands are not Squeeze(score) and a mask");
  }
  if (const Node* where = Producer(masked, "Where")) {
    if (where->inputs.size() != 3) return Fail(*where, "Where without 3 inputs");
    for (int side = 1; side < 3; ++side) {
      if (!is_score(where->inputs[side])) continue;
      std::optional<float> fill = ScalarFill(where->inputs[3 - side], &where->inputs[side]);
      if (!fill.has_value()) {
        return Fail(*where,
                    absl::StrCat("the Where's other branch (", OpOf(where->inputs[3 - side]),
                                 ") is not a scalar constant or ConstantOfShape"));
      }
      *score = where->inputs[side];
      match->mask = where->inputs[0];
      match->mask_mode = side == 1 ? "where" : "where_not";
      match->fill = *fill;
      return true;
    }
    return Fail(*where, "neither branch of the Where is Squeeze(score)");
  }
  if (const Node* add = Producer(masked, "Add")) {
    for (int side = 0; side < 2 && add->inputs.size() == 2; ++side) {
      if (!is_score(add->inputs[side])) continue;
      *score = add->inputs[side];
      const TensorRef m = add->inputs[1 - side];
      match->mask = m;
      match->mask_mode = "add";
      // Where(c, a, b) with scalar branches (e.g. masked_fill(zeros_like(score), ~c, -inf)):
      // -inf and 0 -> a where/where_not with fill -inf; other values -> the same Where over
      // scalar constants, without the score's shape.
      const Node* where = Producer(m, "Where");
      if (where == nullptr || where->inputs.size() != 3) return true;
      std::optional<float> a = ScalarFill(where->inputs[1], score);
      std::optional<float> b = ScalarFill(where->inputs[2], score);
      if (!a.has_value() || !b.has_value()) return true;
      const float inf = std::numeric_limits<float>::infinity();
      if ((*a == -inf && *b == 0.0f) || (*a == 0.0f && *b == -inf)) {
        match->mask = where->inputs[0];
        match->mask_mode = *a == -inf ? "where_not" : "where";
        match->fill = -inf;
        return true;
      }
      Node rebuilt = *where;
      rebuilt.name = NewName(absl::StrCat(where->name, "/scalar"));
      rebuilt.output_names = {rebuilt.name};
      rebuilt.source_index = -1;
      for (int i = 1; i < 3; ++i) {
        const float v = i == 1 ? *a : *b;
        absl::StatusOr<Tensor> t = Tensor::FromValues<float>({}, absl::MakeConstSpan(&v, 1));
        if (!t.ok()) return Fail(*where, std::string(t.status().message()));
        const std::string name = NewName(absl::StrCat(where->name, "/branch", i));
        match->consts.push_back({name, *std::move(t)});
        rebuilt.inputs[i] = TensorRef{name, 0};
      }
      match->mask = TensorRef{rebuilt.name, 0};
      match->new_nodes.push_back(std::move(rebuilt));
      return true;
    }
    return Fail(*add, "the weights are an Add whose operands are not Squeeze(score) and a mask");
  }
  return Fail(at, absl::StrCat("the pooling weights come from ", OpOf(masked),
                               ", expected Squeeze(score) [masked by Mul, Where or Add] "
                               "[then Softmax]"));
}

bool Matcher::Weights(const Node& anchor, const TensorRef& weights, Match* match,
                      TensorRef* score) {
  TensorRef masked = weights;
  if (const Node* softmax = Producer(weights, "Softmax")) {
    const int64_t* axis = softmax->attrs.Get<int64_t>("axis");
    const int64_t a = axis == nullptr ? (graph_.onnx_opset() >= 13 ? -1 : 1) : *axis;
    if (a != -1 && a != 1) {
      return Fail(*softmax, absl::StrCat("Softmax over axis ", a, ", expected the sequence axis"));
    }
    match->softmax = true;
    masked = softmax->inputs[0];
  }
  return Mask(anchor, masked, match, score);
}

std::optional<Result> Matcher::MatchAt(const Node& anchor) {
  miss_.reset();
  if (!anchor.domain.empty() || anchor.inputs.empty()) return std::nullopt;
  // pooled = Squeeze(MatMul(Unsqueeze(weights, 1), keys), 1), or
  // pooled = ReduceSum(Unsqueeze(weights, -1) * keys, axes [1], keepdims 0)
  const Node* unsqueeze = nullptr;
  TensorRef keys;
  if (anchor.op == "Squeeze" && AxesAre(anchor, {1})) {
    const Node* pool = Producer(anchor.inputs[0], "MatMul");
    if (pool == nullptr || pool->inputs.size() != 2) return std::nullopt;
    unsqueeze = Producer(pool->inputs[0], "Unsqueeze");
    if (unsqueeze == nullptr || !AxesAre(*unsqueeze, {1})) return std::nullopt;
    keys = pool->inputs[1];
  } else if (anchor.op == "ReduceSum" && AxesAre(anchor, {1}) &&
             pass_util::BoolAttr(anchor, "keepdims", true) == false) {
    const Node* mul = Producer(anchor.inputs[0], "Mul");
    for (int side = 0; side < 2 && mul != nullptr && mul->inputs.size() == 2; ++side) {
      const Node* u = Producer(mul->inputs[side], "Unsqueeze");
      if (u != nullptr && AxesAre(*u, {2, -1})) {
        unsqueeze = u;
        keys = mul->inputs[1 - side];
        break;
      }
    }
    if (unsqueeze == nullptr) return std::nullopt;
  } else {
    return std::nullopt;
  }

  // From here on the block is a candidate: a failure is a near miss.
  auto miss = [&]() -> std::optional<Result> {
    if (!miss_.has_value()) miss_ = Miss{anchor.name, "unrecognized structure"};
    return Result(*miss_);
  };
  Match match;
  match.keys = keys;
  TensorRef score;
  if (!Weights(anchor, unsqueeze->inputs[0], &match, &score)) return miss();
  const Node* score_squeeze = Producer(score, "Squeeze");
  if (!AxesAre(*score_squeeze, {2, -1})) {
    Fail(*score_squeeze, "the score Squeeze is not over the last axis");
    return miss();
  }
  // score = h @ w_out + b_out, h = act(h' @ W + b) ...
  TensorRef x;
  if (!Dense(score_squeeze->inputs[0], &match, &x)) {
    Fail(*score_squeeze, absl::StrCat("the score is ", OpOf(score_squeeze->inputs[0]),
                                      ", expected a dense layer (MatMul [+ Add]) with one output"));
    return miss();
  }
  for (;;) {
    Layer act;
    TensorRef pre;
    const int64_t width = FloatConst(match.layers.front().weight)->dims()[0];
    if (!Activation(x, width, &act, &match, &pre)) return miss();
    TensorRef below;
    if (!Dense(pre, &match, &below)) {
      if (miss_.has_value()) return miss();
      break;
    }
    match.layers.front().activation = act.activation;
    match.layers.front().params = act.params;
    x = below;
    if (match.layers.size() > 16) break;
  }
  if (match.layers.size() < 2) {
    Fail(*AnyProducer(x), absl::StrCat("the score layer reads ", OpOf(x),
                                       ", expected an activation or dense layer of the attention "
                                       "MLP"));
    return miss();
  }
  // The first layer's input: Concat of terms of q and k.
  if (!Terms(x, &match)) return miss();
  // Layer shapes: terms * d -> ... -> 1.
  const Tensor* w1 = FloatConst(match.layers[0].weight);
  const int64_t num_terms = static_cast<int64_t>(match.terms.size());
  if (w1->dims()[0] % num_terms != 0) {
    Fail(*AnyProducer(x), absl::StrCat("the first layer has ", w1->dims()[0],
                                       " inputs, not a multiple of its ", num_terms, " terms"));
    return miss();
  }
  for (size_t i = 1; i < match.layers.size(); ++i) {
    const Tensor* w = FloatConst(match.layers[i].weight);
    if (w->dims()[0] != match.layers[i - 1].out) {
      Fail(*AnyProducer(match.layers[i].weight), "layer widths do not chain");
      return miss();
    }
  }
  if (match.layers.back().out != 1) {
    Fail(*score_squeeze,
         absl::StrCat("the score layer has ", match.layers.back().out, " outputs, expected 1"));
    return miss();
  }
  // The mask must not be computed from the MLP (its nodes go away).
  if (!match.mask.empty()) {
    absl::flat_hash_set<std::string> region = {score_squeeze->name};
    std::vector<std::string> stack = {score_squeeze->inputs[0].node};
    while (!stack.empty()) {
      std::string name = std::move(stack.back());
      stack.pop_back();
      if (!region.insert(name).second || name == x.node) continue;
      const Node* n = graph_.FindNode(name);
      if (n == nullptr) continue;
      for (const TensorRef& in : n->inputs) {
        if (!in.empty() && graph_.ConstantBehind(in) == nullptr) stack.push_back(in.node);
      }
    }
    region.erase(match.keys.node);
    region.erase(match.query.node);
    const TensorRef mask = match.new_nodes.empty() ? match.mask : match.new_nodes[0].inputs[0];
    if (!Independent(mask, region)) {
      Fail(*AnyProducer(mask), "the mask is computed from the attention scores");
      return miss();
    }
  }
  return Result(std::move(match));
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
  std::vector<std::string> near_misses;
  int fused_count = 0;
  if (in.format() == ModelFormat::kOnnx) {
    absl::flat_hash_set<std::string> names = pass_util::NodeNames(in);
    Matcher matcher(in, &names);
    std::vector<Node> nodes = in.nodes();
    std::vector<Node> added;
    for (Node& node : nodes) {
      std::optional<Result> result = matcher.MatchAt(node);
      if (!result.has_value()) continue;
      if (const Miss* m = std::get_if<Miss>(&*result)) {
        near_misses.push_back(absl::StrCat("near miss at node '", m->node, "' (pooling '",
                                           node.name, "'): ", m->why));
        continue;
      }
      Match& match = std::get<Match>(*result);
      Node fused;
      fused.name = node.name;
      fused.op = std::string(kAttentionPoolingOp);
      fused.output_names = node.output_names;
      fused.inputs = {match.query, match.keys, match.mask};
      std::vector<std::string> activations;
      std::vector<TensorRef> params;
      for (size_t i = 0; i < match.layers.size(); ++i) {
        fused.inputs.push_back(match.layers[i].weight);
        fused.inputs.push_back(match.layers[i].bias);
        if (i + 1 < match.layers.size()) activations.push_back(match.layers[i].activation);
        for (const TensorRef& p : match.layers[i].params) params.push_back(p);
      }
      fused.inputs.insert(fused.inputs.end(), params.begin(), params.end());
      fused.attrs.Set("activations", activations);
      const bool default_form = match.terms == std::vector<std::string>{"q", "k", "q-k", "q*k"} &&
                                match.mask_mode == "mul" && !match.softmax;
      if (!default_form) {
        fused.attrs.Set("terms", match.terms);
        fused.attrs.Set("mask_mode", match.mask_mode);
        fused.attrs.Set("fill", match.fill);
        fused.attrs.Set("softmax", int64_t{match.softmax ? 1 : 0});
      }
      for (NewConst& c : match.consts) {
        added.push_back(pass_util::MakeConst(in, c.name, std::move(c.value)));
      }
      for (Node& n : match.new_nodes) added.push_back(std::move(n));
      const Tensor* w1 = pass_util::ConstValue(in, match.layers[0].weight);
      const Node* w1_node = in.ConstantBehind(match.layers[0].weight);
      if (w1 == nullptr && w1_node != nullptr) w1 = w1_node->attrs.Get<Tensor>("value");
      const int64_t d =
          w1 == nullptr ? 0 : w1->dims()[0] / static_cast<int64_t>(match.terms.size());
      std::string mask_text = "no mask";
      if (!match.mask.empty()) {
        mask_text = absl::StrCat("mask ", match.mask_mode,
                                 match.mask_mode == "where" || match.mask_mode == "where_not"
                                     ? absl::StrCat(" fill ", match.fill)
                                     : "");
      }
      report.notes.push_back(absl::StrCat(node.name, ": attention over ", match.keys.ToString(),
                                          " fused ([", absl::StrJoin(match.terms, ", "),
                                          "], d = ", d, ", ", match.layers.size() - 1,
                                          " hidden layers ", absl::StrJoin(activations, "/"), ", ",
                                          mask_text, match.softmax ? ", softmax" : "", ")"));
      node = std::move(fused);
      ++fused_count;
    }
    if (fused_count > 0) {
      for (Node& n : added) nodes.push_back(std::move(n));
      RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(nodes)));
      RANKOPT_RETURN_IF_ERROR(graph.Validate());
      report.changed = true;
    }
  }
  (void)options;
  if (!report.changed) {
    AddNotApplicableNotes(
        "no target attention block (ONNX: pooling MatMul over keys weighted by an MLP score)",
        "target attention block(s) did not fuse", &near_misses, &report);
  }
  for (std::string& m : near_misses) report.notes.push_back(std::move(m));
  RecordNodeCounts(in, graph, &report);
  *out = std::move(graph);
  return report;
}

}  // namespace rankopt
