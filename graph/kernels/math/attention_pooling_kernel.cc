// _RankoptAttentionPooling(q, keys, mask, W1, b1, ..., Wn, bn): the OpKernel around
// AttentionPooling (attention_pooling.h); weights folded and packed at build.
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  explicit AttentionPoolingKernel(AttentionPooling attention) : attention_(std::move(attention)) {}

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
    if (ctx->input(2).present()) {
      const TensorView& m = ctx->input(2);
      if (m.dtype != DType::kFloat32) return DTypeError(node, 2, m, "float32");
      if (m.rank() != 2 || m.dims[1] != seq_len || (m.dims[0] != 1 && m.dims[0] != batch)) {
        return NodeError(node, "mask is ", DescribeTensor(m), ", expected [1 or ", batch, ", ",
                         seq_len, "]");
      }
      mask = m.data_as<float>();
      mask_batch = m.dims[0];
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out,
                             ctx->AllocateOutput(0, DType::kFloat32, Dims{batch, d}));
    if (batch == 0) return absl::OkStatus();
    const int64_t scratch_floats = attention_.ScratchFloats(batch, seq_len);
    RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                             ctx->AllocateScratch(static_cast<size_t>(scratch_floats) * 4));
    return attention_.Run(batch, q.data_as<float>(), keys.data_as<float>(), keys.dims[0], seq_len,
                          mask, mask_batch, out.data_as<float>(), static_cast<float*>(scratch));
  }

 private:
  AttentionPooling attention_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeAttentionPooling(const KernelBuildContext& build) {
  const Node& node = *build.node;
  const int inputs = static_cast<int>(node.inputs.size());
  if (inputs < kFirstWeight + 4 || (inputs - kFirstWeight) % 2 != 0) {
    return NodeError(node, "has ", inputs,
                     " inputs, expected query, keys, mask, then (weight, bias) per layer, at "
                     "least two layers");
  }
  const int num_layers = (inputs - kFirstWeight) / 2;
  const auto* activations = node.attrs.Get<std::vector<std::string>>("activations");
  if (activations == nullptr || static_cast<int>(activations->size()) != num_layers - 1) {
    return NodeError(node, "attribute `activations` must list one activation per hidden layer (",
                     num_layers - 1, ")");
  }
  std::vector<AttentionLayer> layers;
  int64_t dim = 0;
  for (int i = 0; i < num_layers; ++i) {
    const int wi = kFirstWeight + 2 * i;
    const Tensor* w =
        wi < static_cast<int>(build.constant_inputs.size()) ? build.constant_inputs[wi] : nullptr;
    const Tensor* b = wi + 1 < static_cast<int>(build.constant_inputs.size())
                          ? build.constant_inputs[wi + 1]
                          : nullptr;
    if (w == nullptr || b == nullptr || w->dtype() != DType::kFloat32 ||
        b->dtype() != DType::kFloat32 || w->dims().size() != 2) {
      return NodeError(node, "layer ", i,
                       ": weight and bias must be float32 constants, the weight a matrix");
    }
    AttentionLayer layer;
    layer.in = w->dims()[0];
    layer.out = w->dims()[1];
    layer.weight.assign(w->values<float>().begin(), w->values<float>().end());
    layer.bias.assign(b->values<float>().begin(), b->values<float>().end());
    if (i + 1 < num_layers) {
      const std::string& act = (*activations)[i];
      if (act == "sigmoid") {
        layer.act = AttentionActivation::kSigmoid;
      } else if (act == "relu") {
        layer.act = AttentionActivation::kRelu;
      } else if (act == "none") {
        layer.act = AttentionActivation::kNone;
      } else {
        return NodeError(node, "activation '", act, "' of layer ", i,
                         " is not supported (sigmoid, relu, none)");
      }
    }
    if (i == 0) dim = layer.in / 4;
    layers.push_back(std::move(layer));
  }
  absl::StatusOr<AttentionPooling> attention = AttentionPooling::Create(dim, std::move(layers));
  if (!attention.ok()) return NodeError(node, attention.status().message());
  return std::unique_ptr<OpKernel>(std::make_unique<AttentionPoolingKernel>(*std::move(attention)));
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
