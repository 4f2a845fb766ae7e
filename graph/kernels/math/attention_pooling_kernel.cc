// _RankoptAttentionPooling(q, keys, mask, W1, b1, ..., Wn, bn, activation parameters...): the
// OpKernel around AttentionPooling (attention_pooling.h); weights folded and packed at build.
// Attributes: "activations" (one per hidden layer: none, relu, sigmoid, prelu, dice, swish),
// optional "terms" (the first layer's input: q, k, q-k, k-q, q*k; default [q, k, q-k, q*k]),
// "mask_mode" (mul, add, where, where_not; default mul), "fill" (where's fill score), "softmax"
// (0/1), optional "precisions" (one per layer: fp32, bf16, int8; the score layer fp32; set by the
// accuracy gate, serving/dense_precision.h). After the last bias come the activation parameters in
// layer order: prelu its slope
// ([h] or one value), dice its scale, shift and alpha ([h] each). The mask is float32, or bool
// for where / where_not.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/kernels/math/attention_pooling.h"
#include "graph/kernels/math/fused_kernels.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using math_internal::DTypeError;
using math_internal::NodeError;

constexpr int kFirstWeight = 3;

class AttentionPoolingKernel : public OpKernel {
 public:
  AttentionPoolingKernel(AttentionPooling attention, bool accepts_bool_mask)
      : attention_(std::move(attention)), accepts_bool_mask_(accepts_bool_mask) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    const TensorView& q = ctx->input(0);
    const TensorView& keys = ctx->input(1);
    const int64_t d = attention_.dim();
    if (q.dtype != DType::kFloat32) return DTypeError(node, 0, q, "float32");
    if (keys.dtype != DType::kFloat32) return DTypeError(node, 1, keys, "float32");
    if (q.rank() != 2 || q.dims[1] != d) {
      return NodeError(node, "query is ", DescribeTensor(q), ", expected [candidates, ", d, "]");
    }
    const int64_t batch = q.dims[0];
    if (keys.rank() != 3 || keys.dims[2] != d || (keys.dims[0] != 1 && keys.dims[0] != batch)) {
      return NodeError(node, "keys are ", DescribeTensor(keys), ", expected [1 or ", batch,
                       ", length, ", d, "]");
    }
    const int64_t seq_len = keys.dims[1];
    const float* mask = nullptr;
    int64_t mask_batch = 1;
    bool bool_mask = false;
    if (ctx->input(2).present()) {
      const TensorView& m = ctx->input(2);
      bool_mask = m.dtype == DType::kBool && accepts_bool_mask_;
      if (m.dtype != DType::kFloat32 && !bool_mask) {
        return DTypeError(node, 2, m, accepts_bool_mask_ ? "float32 or bool" : "float32");
      }
      if (m.rank() != 2 || m.dims[1] != seq_len || (m.dims[0] != 1 && m.dims[0] != batch)) {
        return NodeError(node, "mask is ", DescribeTensor(m), ", expected [1 or ", batch, ", ",
                         seq_len, "]");
      }
      mask = bool_mask ? nullptr : m.data_as<float>();
      mask_batch = m.dims[0];
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                             ctx->AllocateOutput(0, DType::kFloat32, Dims{batch, d}));
    if (batch == 0) return absl::OkStatus();
    const int64_t scratch_floats = attention_.ScratchFloats(batch, seq_len);
    const int64_t mask_floats = bool_mask ? mask_batch * seq_len : 0;
    RANKOPT_ASSIGN_OR_RETURN(
        void* scratch,
        ctx->AllocateScratch(static_cast<size_t>(scratch_floats + mask_floats + 16) * 4));
    float* work = static_cast<float*>(scratch);
    if (bool_mask) {  // the condition as 1.0 / 0.0, after the kernel's scratch
      float* converted = work + (scratch_floats + 15) / 16 * 16;
      const bool* cond = ctx->input(2).data_as<bool>();
      for (int64_t i = 0; i < mask_floats; ++i) converted[i] = cond[i] ? 1.0f : 0.0f;
      mask = converted;
    }
    return attention_.Run(batch, q.data_as<float>(), keys.data_as<float>(), keys.dims[0], seq_len,
                          mask, mask_batch, out.data_as<float>(), work);
  }

  std::string KernelName() const override {
    return absl::StrCat("attention[", attention_.KernelName(), "]");
  }

 private:
  AttentionPooling attention_;
  bool accepts_bool_mask_;
};

// The float32 vector constant `index` of the build, or nullptr.
const Tensor* FloatConst(const KernelBuildContext& build, int index) {
  if (index < 0 || index >= static_cast<int>(build.constant_inputs.size())) return nullptr;
  const Tensor* t = build.constant_inputs[index];
  return t != nullptr && t->dtype() == DType::kFloat32 ? t : nullptr;
}

bool ParseActivation(const std::string& text, AttentionActivation* act, int* params) {
  static const struct {
    const char* name;
    AttentionActivation act;
    int params;
  } kActs[] = {
      {"none", AttentionActivation::kNone, 0},       {"relu", AttentionActivation::kRelu, 0},
      {"sigmoid", AttentionActivation::kSigmoid, 0}, {"prelu", AttentionActivation::kPRelu, 1},
      {"dice", AttentionActivation::kDice, 3},       {"swish", AttentionActivation::kSwish, 0}};
  for (const auto& a : kActs) {
    if (text == a.name) {
      *act = a.act;
      *params = a.params;
      return true;
    }
  }
  return false;
}

// The form attributes (terms, mask_mode, fill, softmax) of the node.
absl::StatusOr<AttentionOptions> ParseOptions(const Node& node) {
  AttentionOptions options;
  if (const auto* terms = node.attrs.Get<std::vector<std::string>>("terms")) {
    options.terms.clear();
    for (const std::string& text : *terms) {
      AttentionTerm term;
      if (!ParseAttentionTerm(text, &term)) {
        return NodeError(node, "term '", text,
                         "' of attribute `terms` is not one of q, k, q-k, "
                         "k-q, q*k");
      }
      options.terms.push_back(term);
    }
  }
  if (const auto* mode = node.attrs.Get<std::string>("mask_mode")) {
    static const std::pair<const char*, AttentionMask> kModes[] = {
        {"mul", AttentionMask::kMultiply},
        {"add", AttentionMask::kAdd},
        {"where", AttentionMask::kSelect},
        {"where_not", AttentionMask::kSelectNot}};
    bool found = false;
    for (const auto& [name, value] : kModes) {
      if (*mode == name) {
        options.mask = value;
        found = true;
      }
    }
    if (!found) {
      return NodeError(node, "mask_mode '", *mode, "' is not one of mul, add, where, where_not");
    }
  }
  if (const float* fill = node.attrs.Get<float>("fill")) options.fill = *fill;
  if (const int64_t* softmax = node.attrs.Get<int64_t>("softmax")) options.softmax = *softmax != 0;
  return options;
}

absl::StatusOr<std::unique_ptr<OpKernel>> MakeAttentionPooling(const KernelBuildContext& build) {
  const Node& node = *build.node;
  const int inputs = static_cast<int>(node.inputs.size());
  const auto* activations = node.attrs.Get<std::vector<std::string>>("activations");
  if (activations == nullptr) {
    return NodeError(node, "attribute `activations` (one per hidden layer) is missing");
  }
  const int num_layers = static_cast<int>(activations->size()) + 1;
  std::vector<AttentionActivation> acts;
  int param_inputs = 0;
  for (int i = 0; i + 1 < num_layers; ++i) {
    AttentionActivation act;
    int params = 0;
    if (!ParseActivation((*activations)[i], &act, &params)) {
      return NodeError(node, "activation '", (*activations)[i], "' of layer ", i,
                       " is not supported (none, relu, sigmoid, prelu, dice, swish)");
    }
    acts.push_back(act);
    param_inputs += params;
  }
  acts.push_back(AttentionActivation::kNone);
  if (num_layers < 2 || inputs != kFirstWeight + 2 * num_layers + param_inputs) {
    return NodeError(node, "has ", inputs,
                     " inputs, expected query, keys, mask, then (weight, "
                     "bias) per layer (",
                     num_layers, " layers from `activations`), then ", param_inputs,
                     " activation parameters");
  }
  RANKOPT_ASSIGN_OR_RETURN(AttentionOptions options, ParseOptions(node));
  std::vector<AttentionLayer> layers;
  int64_t dim = 0;
  int next_param = kFirstWeight + 2 * num_layers;
  auto param = [&](std::vector<float>* values) {
    const Tensor* t = FloatConst(build, next_param++);
    if (t == nullptr) return false;
    values->assign(t->values<float>().begin(), t->values<float>().end());
    return true;
  };
  for (int i = 0; i < num_layers; ++i) {
    const int wi = kFirstWeight + 2 * i;
    const Tensor* w = FloatConst(build, wi);
    const Tensor* b = FloatConst(build, wi + 1);
    if (w == nullptr || b == nullptr || w->dims().size() != 2) {
      return NodeError(node, "layer ", i,
                       ": weight and bias must be float32 constants, the weight a matrix");
    }
    AttentionLayer layer;
    layer.in = w->dims()[0];
    layer.out = w->dims()[1];
    layer.weight.assign(w->values<float>().begin(), w->values<float>().end());
    layer.bias.assign(b->values<float>().begin(), b->values<float>().end());
    layer.act = acts[i];
    bool params_ok = true;
    if (layer.act == AttentionActivation::kPRelu) params_ok = param(&layer.slope);
    if (layer.act == AttentionActivation::kDice) {
      params_ok = param(&layer.dice_scale) && param(&layer.dice_shift) && param(&layer.dice_alpha);
    }
    if (!params_ok) {
      return NodeError(node, "layer ", i, ": the ", (*activations)[i],
                       " parameters must be float32 constants");
    }
    if (i == 0) {
      const int64_t terms = static_cast<int64_t>(options.terms.size());
      if (terms == 0 || layer.in % terms != 0) {
        return NodeError(node, "layer 0 has ", layer.in, " inputs, not a multiple of the ", terms,
                         " first-layer terms");
      }
      dim = layer.in / terms;
    }
    layers.push_back(std::move(layer));
  }
  std::vector<DensePrecision> precisions;
  if (const auto* names = node.attrs.Get<std::vector<std::string>>("precisions")) {
    if (static_cast<int>(names->size()) != num_layers) {
      return NodeError(node, "attribute `precisions` has ", names->size(), " entries, expected ",
                       num_layers, " (one per layer)");
    }
    for (const std::string& name : *names) {
      absl::StatusOr<DensePrecision> p = ParseDensePrecision(name);
      if (!p.ok()) return NodeError(node, "attribute `precisions`: ", p.status().message());
      precisions.push_back(*p);
    }
  }
  const bool accepts_bool_mask =
      options.mask == AttentionMask::kSelect || options.mask == AttentionMask::kSelectNot;
  absl::StatusOr<AttentionPooling> attention =
      AttentionPooling::Create(dim, std::move(layers), std::move(options), std::move(precisions));
  if (!attention.ok()) return NodeError(node, attention.status().message());
  return std::unique_ptr<OpKernel>(
      std::make_unique<AttentionPoolingKernel>(*std::move(attention), accepts_bool_mask));
}

}  // namespace

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// _RankoptAttentionPooling (graph/passes/fuse_attention_pooling.h): q [B, d] -> pooled [B, d].
void AttentionPoolingShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor q = ctx->In(n, 0);
  ctx->Set(n, 0, q.dtype, q.shape.known_rank() && q.shape.rank() == 2 ? q.shape : Shape());
}

}  // namespace
}  // namespace shape_fn

absl::Status RegisterAttentionPoolingKernel(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo("_RankoptAttentionPooling",
                                                   {shape_fn::AttentionPoolingShape, nullptr}));
  for (OpSet set : {OpSet::kTensorFlow, OpSet::kOnnx}) {
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, "_RankoptAttentionPooling", MakeAttentionPooling));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
