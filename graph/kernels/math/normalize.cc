// Softmax / LogSoftmax (ONNX, TF), ONNX BatchNormalization (inference) and
// LayerNormalization, TF FusedBatchNorm/V2/V3 (is_training = false).
//
// ONNX Softmax/LogSoftmax: from opset 13 `axis` (default -1) is one axis; before it, the input
// is flattened to 2-D at `axis` (default 1) and normalized over everything from `axis` on. The
// model's opset comes from KernelBuildContext::onnx_opset (0, unknown, means opset >= 13).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/kernels/math/vector_math.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

// Max and sum of a row in 16 independent lanes (then the lanes in order): no loop-carried
// dependency per element, and the compiler vectorizes the lanes. NaN is skipped by the max
// (as std::fmax would), and the sum's order is fixed, so results do not depend on the ISA.
inline float RowMax(const float* p, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = -std::numeric_limits<float>::infinity();
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] = p[k + j] > lane[j] ? p[k + j] : lane[j];
  }
  float max = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < kLanes; ++j) max = lane[j] > max ? lane[j] : max;
  for (; k < n; ++k) max = p[k] > max ? p[k] : max;
  return max;
}
inline float RowSum(const float* p, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] += p[k + j];
  }
  float sum = 0.0f;
  for (int j = 0; j < kLanes; ++j) sum += lane[j];
  for (; k < n; ++k) sum += p[k];
  return sum;
}

// Softmax over `rows` contiguous rows of n: the shifted logits of a block of rows are written
// to y, exponentiated by one vectorized ExpF32 call (attention softmaxes have short rows: one
// call per row would cost more than its exps), then each row is divided by its sum.
void SoftmaxRows(const float* x, float* y, int64_t rows, int64_t n) {
  constexpr int64_t kBlockElements = 4096;
  constexpr int64_t kMaxBlockRows = 256;
  const int64_t block_rows =
      std::clamp<int64_t>(kBlockElements / std::max<int64_t>(n, 1), 1, kMaxBlockRows);
  float row_max[kMaxBlockRows];  // on the stack: the hot path allocates nothing
  for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
    const int64_t r1 = std::min(rows, r0 + block_rows);
    for (int64_t r = r0; r < r1; ++r) {
      const float* p = x + r * n;
      float* q = y + r * n;
      const float max = RowMax(p, n);
      row_max[r - r0] = max;
      for (int64_t k = 0; k < n; ++k) q[k] = p[k] - max;
    }
    ExpF32(y + r0 * n, y + r0 * n, (r1 - r0) * n);
    for (int64_t r = r0; r < r1; ++r) {
      const float* p = x + r * n;
      float* q = y + r * n;
      // ExpF32 clamps its argument at -87: a logit further below the row's max (an additive
      // -inf or -1e9 mask) is weighted 0, as std::exp's underflow would leave it.
      const float max = row_max[r - r0];
      for (int64_t k = 0; k < n; ++k) q[k] = p[k] - max < -87.0f ? 0.0f : q[k];
      const float inv = 1.0f / RowSum(q, n);
      for (int64_t k = 0; k < n; ++k) q[k] *= inv;
    }
  }
}

class SoftmaxKernel : public OpKernel {
 public:
  // flatten: the pre-opset-13 rule, normalizing over dims [axis, rank) as one.
  SoftmaxKernel(int64_t axis, bool log, bool flatten = false)
      : axis_(axis), log_(log), flatten_(flatten) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    if (x.rank() == 0) return NodeError(node, "input 0 is a scalar, expected rank >= 1");
    RANKOPT_ASSIGN_OR_RETURN(int a, NormalizeAxis(node, axis_, x.rank()));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    int64_t outer = 1, inner = 1, n = x.dims[a];
    for (int d = 0; d < a; ++d) outer *= x.dims[d];
    for (int d = a + 1; d < x.rank(); ++d) (flatten_ ? n : inner) *= x.dims[d];
    const float* in = x.data_as<float>();
    float* y = out.data_as<float>();
    if (inner == 1 && !log_) {
      SoftmaxRows(in, y, outer, n);
      return absl::OkStatus();
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const float* p = in + o * n * inner + i;
        float* q = y + o * n * inner + i;
        float max = -std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < n; ++k) max = std::fmax(max, p[k * inner]);
        float sum = 0.0f;
        for (int64_t k = 0; k < n; ++k) {
          const float e = std::exp(p[k * inner] - max);
          if (!log_) q[k * inner] = e;
          sum += e;
        }
        if (log_) {
          const float log_sum = std::log(sum);
          for (int64_t k = 0; k < n; ++k) q[k * inner] = p[k * inner] - max - log_sum;
        } else {
          for (int64_t k = 0; k < n; ++k) q[k * inner] /= sum;
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_;
  bool log_;
  bool flatten_;
};

// y = x * a[c] + b[c] with a = scale / sqrt(var + eps), b = offset - mean * a.
class BatchNormKernel : public OpKernel {
 public:
  BatchNormKernel(float epsilon, bool tf, bool channels_last, int extra_outputs)
      : epsilon_(epsilon), tf_(tf), channels_last_(channels_last), extra_outputs_(extra_outputs) {}

  // Folds constant parameters once.
  void Precompute(const std::vector<const Tensor*>& constants) {
    if (constants.size() < 5) return;
    for (int i = 1; i < 5; ++i) {
      if (constants[i] == nullptr || constants[i]->dtype() != DType::kFloat32 ||
          constants[i]->dims().size() != 1 ||
          constants[i]->num_elements() != constants[1]->num_elements()) {
        return;
      }
    }
    Fold(constants[1]->values<float>().data(), constants[2]->values<float>().data(),
         constants[3]->values<float>().data(), constants[4]->values<float>().data(),
         constants[1]->num_elements(), &a_, &b_);
    folded_ = true;
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 5, 5));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    const int min_rank = tf_ ? 4 : 2;
    if (x.rank() < min_rank && !(tf_ && channels_last_ && x.rank() >= 1)) {
      return NodeError(node, "input 0 is ", DescribeTensor(x), ", expected rank >= ", min_rank);
    }
    const int cdim = channels_last_ ? x.rank() - 1 : 1;
    const int64_t c = x.dims[cdim];
    for (int i = 1; i < 5; ++i) {
      const TensorView& t = ctx->input(i);
      if (t.dtype != DType::kFloat32 || t.rank() != 1 || t.dims[0] != c) {
        return NodeError(node, "input ", i, " is ", DescribeTensor(t), ", expected [", c,
                         "] float32 (one value per channel of ", DescribeTensor(x), ")");
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    std::vector<float> a_local, b_local;
    const std::vector<float>* a = &a_;
    const std::vector<float>* b = &b_;
    if (!folded_ || static_cast<int64_t>(a_.size()) != c) {
      Fold(ctx->input(1).data_as<float>(), ctx->input(2).data_as<float>(),
           ctx->input(3).data_as<float>(), ctx->input(4).data_as<float>(), c, &a_local, &b_local);
      a = &a_local;
      b = &b_local;
    }
    const float* in = x.data_as<float>();
    float* y = out.data_as<float>();
    int64_t inner = 1;
    for (int d = cdim + 1; d < x.rank(); ++d) inner *= x.dims[d];
    const int64_t outer = c == 0 ? 0 : x.NumElements() / (c * inner);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float av = (*a)[ch], bv = (*b)[ch];
        const int64_t base = (o * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) y[base + i] = in[base + i] * av + bv;
      }
    }
    // TF's batch_mean, batch_variance and reserve spaces: in inference the inputs unchanged.
    for (int i = 0; i < extra_outputs_; ++i) {
      const TensorView& src = ctx->input(i % 2 == 0 ? 3 : 4);
      const bool empty = i == 4;  // FusedBatchNormV3 reserve_space_3
      const int64_t dim = empty ? 0 : c;
      RANKOPT_ASSIGN_OR_RETURN(TensorView extra,
                               ctx->AllocateOutput(i + 1, DType::kFloat32, {dim}));
      if (!empty && c > 0) std::memcpy(extra.data, src.data, c * sizeof(float));
    }
    return absl::OkStatus();
  }

 private:
  void Fold(const float* scale, const float* offset, const float* mean, const float* var, int64_t c,
            std::vector<float>* a, std::vector<float>* b) const {
    a->resize(c);
    b->resize(c);
    for (int64_t i = 0; i < c; ++i) {
      (*a)[i] = scale[i] / std::sqrt(var[i] + epsilon_);
      (*b)[i] = offset[i] - mean[i] * (*a)[i];
    }
  }

  float epsilon_;
  bool tf_;
  bool channels_last_;
  int extra_outputs_;
  bool folded_ = false;
  std::vector<float> a_, b_;
};

// ONNX LayerNormalization: normalizes over dims [axis, rank).
class LayerNormKernel : public OpKernel {
 public:
  LayerNormKernel(int64_t axis, float epsilon, bool stats)
      : axis_(axis), epsilon_(epsilon), stats_(stats) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 3));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    RANKOPT_ASSIGN_OR_RETURN(int a, NormalizeAxis(node, axis_, x.rank()));
    int64_t outer = 1, n = 1;
    for (int d = 0; d < x.rank(); ++d) (d < a ? outer : n) *= x.dims[d];
    const TensorView* params[2] = {&ctx->input(1), nullptr};
    if (ctx->num_inputs() > 2 && ctx->input(2).present()) params[1] = &ctx->input(2);
    for (int i = 0; i < 2; ++i) {
      const TensorView* t = params[i];
      if (t == nullptr) continue;
      if (t->dtype != DType::kFloat32 || (t->NumElements() != n && t->NumElements() != 1)) {
        return NodeError(node, "input ", i + 1, " is ", DescribeTensor(*t),
                         ", expected float32 with the normalized shape of ", DescribeTensor(x),
                         " from axis ", a, " (", n, " elements)");
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    float* mean_out = nullptr;
    float* inv_out = nullptr;
    if (stats_) {
      Dims sd(x.dims);
      for (int d = a; d < x.rank(); ++d) sd[d] = 1;
      RANKOPT_ASSIGN_OR_RETURN(TensorView m, ctx->AllocateOutput(1, DType::kFloat32, sd));
      RANKOPT_ASSIGN_OR_RETURN(TensorView s, ctx->AllocateOutput(2, DType::kFloat32, sd));
      mean_out = m.data_as<float>();
      inv_out = s.data_as<float>();
    }
    const float* scale = params[0]->data_as<float>();
    const bool scale_scalar = params[0]->NumElements() == 1;
    const float* bias = params[1] ? params[1]->data_as<float>() : nullptr;
    const bool bias_scalar = params[1] && params[1]->NumElements() == 1;
    const float* in = x.data_as<float>();
    float* y = out.data_as<float>();
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = in + o * n;
      float* q = y + o * n;
      float sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) sum += p[j];
      const float mean = n > 0 ? sum / static_cast<float>(n) : 0.0f;
      float sq = 0.0f;
      for (int64_t j = 0; j < n; ++j) sq += (p[j] - mean) * (p[j] - mean);
      const float var = n > 0 ? sq / static_cast<float>(n) : 0.0f;
      const float inv = 1.0f / std::sqrt(var + epsilon_);
      for (int64_t j = 0; j < n; ++j) {
        float v = (p[j] - mean) * inv * scale[scale_scalar ? 0 : j];
        if (bias != nullptr) v += bias[bias_scalar ? 0 : j];
        q[j] = v;
      }
      if (stats_) {
        mean_out[o] = mean;
        inv_out[o] = inv;
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t axis_;
  float epsilon_;
  bool stats_;
};

}  // namespace

}  // namespace math_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// FusedBatchNorm*: y like x, then batch mean/variance (and reserve spaces) of [C].
void FusedBatchNormShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor x = ctx->In(n, 0);
  ctx->Set(n, 0, x.dtype, x.shape);
  int64_t c = kUnknownDim;
  if (x.shape.known_rank() && x.shape.rank() == 4) {
    c = x.shape.dim(AttrString(n, "data_format") == "NCHW" ? 1 : 3);
  }
  const int extra = n.op == "FusedBatchNormV3" ? 5 : 4;
  for (int p = 1; p <= extra; ++p) ctx->Set(n, p, DType::kFloat32, Shape({c}));
}

// ONNX normalizations: y like x (values not carried).
void NormalizationShape(const Node& n, ShapeContext* ctx) {
  ctx->PassThrough(n, 0, 0);
  ctx->DropValue(n, 0);
}

// Max, subtract, exp, sum, divide: 5 per element.
NodeFlops SoftmaxFlops(const Node& n, const ShapeMap& shapes) {
  return flops::Counted(flops::Mul(5, flops::OutputElements(n, shapes)));
}

// Inference batch norm: scale and shift, 2 per element.
NodeFlops BatchNormFlops(const Node& n, const ShapeMap& shapes) {
  return flops::Counted(flops::Mul(2, flops::OutputElements(n, shapes)));
}

}  // namespace
}  // namespace shape_fn

namespace math_internal {

absl::Status RegisterNormalizeKernels(KernelRegistry* r) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, shape_fn::SoftmaxFlops}));
  }
  for (const char* op : {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"}) {
    RANKOPT_RETURN_IF_ERROR(
        r->RegisterOpInfo(op, {shape_fn::FusedBatchNormShape, shape_fn::BatchNormFlops}));
  }
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(
      "BatchNormalization", {shape_fn::NormalizationShape, shape_fn::BatchNormFlops}));
  for (const char* op : {"LayerNormalization", "InstanceNormalization", "LRN"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::NormalizationShape, nullptr}));
  }
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  auto softmax = [](bool tf, bool log) -> KernelFactory {
    return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
      const bool legacy = !tf && b.onnx_opset > 0 && b.onnx_opset < 13;
      const int64_t axis = tf ? -1 : AttrInt(*b.node, "axis", legacy ? 1 : -1);
      return std::unique_ptr<OpKernel>(new SoftmaxKernel(axis, log, legacy));
    };
  };
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "Softmax", softmax(false, false)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kOnnx, "LogSoftmax", softmax(false, true)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "Softmax", softmax(true, false)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "LogSoftmax", softmax(true, true)));

  RANKOPT_RETURN_IF_ERROR(r->Register(
      kOnnx, "BatchNormalization",
      [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
        const Node& node = *b.node;
        if (AttrInt(node, "training_mode", 0) != 0) {
          return NodeError(node,
                           "training_mode = 1 is not supported; export the model in eval "
                           "mode");
        }
        RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 5, 5));
        auto kernel =
            std::make_unique<BatchNormKernel>(AttrFloat(node, "epsilon", 1e-5f), false, false, 0);
        kernel->Precompute(b.constant_inputs);
        return std::unique_ptr<OpKernel>(std::move(kernel));
      }));
  for (const char* op : {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"}) {
    const int extra = std::string(op) == "FusedBatchNormV3" ? 5 : 4;
    RANKOPT_RETURN_IF_ERROR(r->Register(
        kTf, op, [extra](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
          const Node& node = *b.node;
          if (AttrBool(node, "is_training", true)) {
            return NodeError(node,
                             "is_training = true is not supported; freeze the inference "
                             "graph (is_training = false)");
          }
          const std::string format = AttrString(node, "data_format", "NHWC");
          if (format != "NHWC" && format != "NCHW") {
            return NodeError(node, "data_format '", format, "' is not supported (NHWC, NCHW)");
          }
          RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 5, 5));
          auto kernel = std::make_unique<BatchNormKernel>(AttrFloat(node, "epsilon", 1e-4f), true,
                                                          format == "NHWC", extra);
          kernel->Precompute(b.constant_inputs);
          return std::unique_ptr<OpKernel>(std::move(kernel));
        }));
  }
  RANKOPT_RETURN_IF_ERROR(r->Register(
      kOnnx, "LayerNormalization",
      [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
        const Node& node = *b.node;
        return std::unique_ptr<OpKernel>(new LayerNormKernel(AttrInt(node, "axis", -1),
                                                             AttrFloat(node, "epsilon", 1e-5f),
                                                             node.output_names.size() > 1));
      }));
  return absl::OkStatus();
}

}  // namespace math_internal
}  // namespace rankopt
