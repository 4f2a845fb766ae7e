// _RankoptFusedMatMul: y = act(x @ w + bias), rows of x flattened, weight packed at build, at
// the node's `precision` (fp32, or bf16 / int8 through gemm_lowp.h).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "graph/kernels/math/fused_kernels.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/gemm_epilogue.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/vector_math.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using math_internal::AttrBool;
using math_internal::AttrString;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;

enum class Activation { kNone, kRelu, kSigmoid, kTanh, kPRelu };

// Inputs: x, w, bias, slope, then the epilogue's operands (at most 16).
constexpr int kEpilogueInput = 4;

class FusedMatMulKernel : public OpKernel {
 public:
  FusedMatMulKernel(bool transpose_b, Activation activation, DensePrecision precision,
                    GemmEpilogue epilogue)
      : transpose_b_(transpose_b),
        activation_(activation),
        precision_(precision),
        epilogue_(std::move(epilogue)) {}

  // bf16 / int8: the constant weight converted (from fp32) or taken as stored (bf16 bits; int8
  // codes with the node's `weight_scales`) and packed. Errors name what does not fit.
  absl::Status PackLowPrecisionWeight(const Node& node, const Tensor* w) {
    const absl::string_view name = DensePrecisionName(precision_);
    if (w == nullptr || w->dims().size() != 2) {
      return NodeError(node, "precision ", name,
                       " needs a constant weight matrix as input 1 (it is packed at load)");
    }
    const int64_t rows = w->dims()[0], cols = w->dims()[1];
    const int64_t k = transpose_b_ ? cols : rows, n = transpose_b_ ? rows : cols;
    const int64_t ks = transpose_b_ ? 1 : cols, ns = transpose_b_ ? cols : 1;
    packed_dims_ = Dims{rows, cols};
    if (precision_ == DensePrecision::kBf16) {
      std::vector<uint16_t> bits;
      const uint16_t* src = nullptr;
      if (w->dtype() == DType::kFloat32) {
        absl::Span<const float> v = w->values<float>();
        bits.resize(v.size());
        for (size_t i = 0; i < v.size(); ++i) bits[i] = FloatToBf16(v[i]);
        src = bits.data();
      } else if (w->dtype() == DType::kBFloat16) {
        src = reinterpret_cast<const uint16_t*>(w->bytes().data());
      } else {
        return NodeError(node, "precision bf16 needs a float32 or bfloat16 weight, got ",
                         DTypeName(w->dtype()));
      }
      packed_bf16_ = PackGemmBBf16(src, k, n, ks, ns);
      return absl::OkStatus();
    }
    std::vector<int8_t> codes;
    std::vector<float> scales(static_cast<size_t>(n));
    const int8_t* q = nullptr;
    if (w->dtype() == DType::kFloat32) {
      codes.resize(static_cast<size_t>(k * n));
      QuantizeWeightsInt8(w->values<float>().data(), k, n, ks, ns, codes.data(), scales.data());
      q = codes.data();
    } else if (w->dtype() == DType::kInt8) {
      const std::vector<float>* stored = node.attrs.Get<std::vector<float>>("weight_scales");
      if (stored == nullptr || static_cast<int64_t>(stored->size()) != n) {
        return NodeError(node, "an int8 weight needs the attr weight_scales with ", n,
                         " values (one per output column), got ",
                         stored == nullptr ? 0 : stored->size());
      }
      scales = *stored;
      q = reinterpret_cast<const int8_t*>(w->bytes().data());
    } else {
      return NodeError(node, "precision int8 needs a float32 or int8 weight, got ",
                       DTypeName(w->dtype()));
    }
    absl::StatusOr<PackedBInt8> packed = PackGemmBInt8(q, scales.data(), k, n, ks, ns);
    if (!packed.ok()) return NodeError(node, packed.status().message());
    packed_int8_ = *std::move(packed);
    return absl::OkStatus();
  }

  void PackConstantWeight(const Tensor& w) {
    if (w.dtype() != DType::kFloat32 || w.dims().size() != 2) return;
    const int64_t rows = w.dims()[0], cols = w.dims()[1];
    const float* data = w.values<float>().data();
    packed_ =
        transpose_b_ ? PackGemmB(data, cols, rows, 1, cols) : PackGemmB(data, rows, cols, cols, 1);
    packed_dims_ = Dims{rows, cols};
    has_packed_ = true;
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, kEpilogueInput + 16));
    const TensorView& x = ctx->input(0);
    const TensorView& w = ctx->input(1);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    const bool lowp = precision_ != DensePrecision::kFp32;
    if (!lowp && w.dtype != DType::kFloat32) return DTypeError(node, 1, w, "float32");
    if (x.rank() < 2 || w.rank() != 2) {
      return NodeError(node, "inputs are ", DescribeTensor(x), " and ", DescribeTensor(w),
                       ", expected x of rank >= 2 and a matrix w");
    }
    const int64_t k = x.dims.back();
    const int64_t kb = transpose_b_ ? w.dims[1] : w.dims[0];
    const int64_t n = transpose_b_ ? w.dims[0] : w.dims[1];
    if (k != kb) {
      return NodeError(node, "inner dimensions differ: x ", DescribeTensor(x), " has K = ", k,
                       ", w ", DescribeTensor(w), transpose_b_ ? " (transposed)" : "",
                       " has K = ", kb);
    }
    const float* bias = nullptr;
    if (ctx->num_inputs() > 2 && ctx->input(2).present()) {
      const TensorView& b = ctx->input(2);
      if (b.dtype != DType::kFloat32) return DTypeError(node, 2, b, "float32");
      if (b.NumElements() != n) {
        return NodeError(node, "bias is ", DescribeTensor(b), ", expected ", n, " values");
      }
      bias = b.data_as<float>();
    }
    const float* slope = nullptr;
    int64_t slope_count = 0;
    if (activation_ == Activation::kPRelu) {
      if (ctx->num_inputs() < 4 || !ctx->input(3).present()) {
        return NodeError(node, "activation 'prelu' needs the slope as input 3");
      }
      const TensorView& s = ctx->input(3);
      if (s.dtype != DType::kFloat32) return DTypeError(node, 3, s, "float32");
      slope_count = s.NumElements();
      if (slope_count != 1 && slope_count != n) {
        return NodeError(node, "slope is ", DescribeTensor(s), ", expected 1 or ", n, " values");
      }
      slope = s.data_as<float>();
    }
    Dims out_dims(x.dims.begin(), x.dims.end() - 1);
    out_dims.push_back(n);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, out_dims));
    const int64_t total = out.NumElements();
    if (total == 0) return absl::OkStatus();
    int64_t m = 1;
    for (int d = 0; d + 1 < x.rank(); ++d) m *= x.dims[d];
    float* y = out.data_as<float>();
    if (lowp) {
      if (w.dims != packed_dims_) {
        return NodeError(node, "weight is ", DescribeTensor(w), ", but the ",
                         DensePrecisionName(precision_), " weight was packed at load as ",
                         "[", absl::StrJoin(packed_dims_, ","), "]");
      }
      const bool relu = activation_ == Activation::kRelu;
      if (precision_ == DensePrecision::kInt8) {
        RANKOPT_ASSIGN_OR_RETURN(
            void* scratch, ctx->AllocateScratch(static_cast<size_t>(GemmInt8ScratchBytes(k))));
        GemmInt8(m, x.data_as<float>(), k, packed_int8_, bias, relu, y, n, scratch);
      } else {
        RANKOPT_ASSIGN_OR_RETURN(
            void* scratch, ctx->AllocateScratch(static_cast<size_t>(GemmBf16ScratchBytes(k))));
        GemmBf16(m, x.data_as<float>(), k, packed_bf16_, bias, relu, y, n, scratch);
      }
      if (activation_ != Activation::kRelu) ApplyActivation(y, m, n, slope, slope_count);
      return RunEpilogue(ctx, out.dims, y, m, n);
    }

    GemmB b_view;
    if (has_packed_ && w.dims == packed_dims_) {
      b_view = GemmBFromPacked(packed_);
    } else if (!transpose_b_) {
      b_view = GemmBFromRowMajor(w.data_as<float>(), n);
    } else {
      RANKOPT_ASSIGN_OR_RETURN(
          void* p,
          ctx->AllocateScratch(static_cast<size_t>(PackedGemmBSize(k, n)) * sizeof(float)));
      PackGemmBInto(w.data_as<float>(), k, n, 1, k, static_cast<float*>(p));
      b_view = GemmBFromPackedData(static_cast<const float*>(p), k);
    }
    GemmF32(m, n, k, x.data_as<float>(), k, 1, b_view, bias, y, n);
    ApplyActivation(y, m, n, slope, slope_count);
    return RunEpilogue(ctx, out.dims, y, m, n);
  }

  std::string KernelName() const override {
    return std::string(DenseKernelName(precision_));
  }

 private:
  // The epilogue (gemm_epilogue.h) on y [m, n] (dims y_dims), its operands inputs
  // kEpilogueInput.. (float32: 1 or n values, or y's shape).
  absl::Status RunEpilogue(KernelContext* ctx, const Dims& y_dims, float* y, int64_t m,
                           int64_t n) const {
    if (epilogue_.empty()) return absl::OkStatus();
    const int count = std::max(0, ctx->num_inputs() - kEpilogueInput);
    const float* operands[16];
    int64_t sizes[16];
    for (int j = 0; j < count; ++j) {
      const TensorView& v = ctx->input(kEpilogueInput + j);
      if (v.dtype != DType::kFloat32) {
        return DTypeError(ctx->node(), kEpilogueInput + j, v, "float32");
      }
      sizes[j] = v.NumElements();
      const bool whole = v.dims == y_dims;
      const bool row = sizes[j] == n && (v.rank() == 0 || v.dims.back() == n);
      if (sizes[j] != 1 && !row && !whole) {
        return NodeError(ctx->node(), "epilogue operand c", j, " (input ", kEpilogueInput + j,
                         ") is ", DescribeTensor(v), ", expected 1 or ", n,
                         " values (one per output column) or the output's shape [",
                         absl::StrJoin(y_dims, ","), "]");
      }
      operands[j] = v.data_as<float>();
    }
    RANKOPT_ASSIGN_OR_RETURN(
        void* scratch, ctx->AllocateScratch(static_cast<size_t>(epilogue_.ScratchFloats(n, count)) *
                                            sizeof(float)));
    epilogue_.Run(y, m, n, operands, sizes, count, static_cast<float*>(scratch));
    return absl::OkStatus();
  }

  // The same element math as the Relu, Sigmoid, Tanh and PRelu kernels, in place on y [m, n].
  void ApplyActivation(float* y, int64_t m, int64_t n, const float* slope,
                       int64_t slope_count) const {
    const int64_t total = m * n;
    switch (activation_) {
      case Activation::kNone:
        break;
      case Activation::kRelu:
        for (int64_t i = 0; i < total; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
      case Activation::kSigmoid:
        SigmoidF32(y, y, total);
        break;
      case Activation::kTanh:
        for (int64_t i = 0; i < total; ++i) y[i] = std::tanh(y[i]);
        break;
      case Activation::kPRelu:
        for (int64_t r = 0; r < m; ++r) {
          float* row = y + r * n;
          for (int64_t j = 0; j < n; ++j) {
            const float a = row[j];
            const float b = slope[slope_count == 1 ? 0 : j];
            row[j] = a < 0 ? b * a : a;
          }
        }
        break;
    }
  }

  bool transpose_b_;
  Activation activation_;
  DensePrecision precision_;
  GemmEpilogue epilogue_;
  bool has_packed_ = false;
  PackedB packed_;
  Dims packed_dims_;
  PackedBInt8 packed_int8_;
  PackedBBf16 packed_bf16_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeFusedMatMul(const KernelBuildContext& build) {
  const Node& node = *build.node;
  const std::vector<std::string>* program = node.attrs.Get<std::vector<std::string>>("epilogue");
  RANKOPT_RETURN_IF_ERROR(CheckInputCount(build, 2, program == nullptr ? 4 : kEpilogueInput + 16));
  GemmEpilogue epilogue;
  if (program != nullptr) {
    const int operands =
        std::max(0, static_cast<int>(build.constant_inputs.size()) - kEpilogueInput);
    absl::StatusOr<GemmEpilogue> parsed = GemmEpilogue::Parse(*program, operands);
    if (!parsed.ok()) return NodeError(node, parsed.status().message());
    epilogue = *std::move(parsed);
  }
  const std::string name = AttrString(node, "activation", "none");
  Activation activation;
  if (name == "none") {
    activation = Activation::kNone;
  } else if (name == "relu") {
    activation = Activation::kRelu;
  } else if (name == "sigmoid") {
    activation = Activation::kSigmoid;
  } else if (name == "tanh") {
    activation = Activation::kTanh;
  } else if (name == "prelu") {
    activation = Activation::kPRelu;
  } else {
    return NodeError(node, "activation '", name,
                     "' is not supported (none, relu, sigmoid, tanh, prelu)");
  }
  absl::StatusOr<DensePrecision> precision =
      ParseDensePrecision(AttrString(node, "precision", "fp32"));
  if (!precision.ok()) return NodeError(node, precision.status().message());
  auto kernel = std::make_unique<FusedMatMulKernel>(AttrBool(node, "transpose_b", false),
                                                    activation, *precision, std::move(epilogue));
  const Tensor* weight =
      build.constant_inputs.size() > 1 ? build.constant_inputs[1] : nullptr;
  if (*precision != DensePrecision::kFp32) {
    RANKOPT_RETURN_IF_ERROR(kernel->PackLowPrecisionWeight(node, weight));
  } else if (weight != nullptr) {
    kernel->PackConstantWeight(*weight);
  }
  return std::unique_ptr<OpKernel>(std::move(kernel));
}

}  // namespace

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

// x [..., K] times w ([K, N], or [N, K] with transpose_b) -> [..., N].
void FusedMatMulShape(const Node& n, ShapeContext* ctx) {
  const Shape x = ctx->In(n, 0).shape;
  const Shape w = ctx->In(n, 1).shape;
  const DType dtype = ctx->InDType(n, 0);
  if (!x.known_rank() || x.rank() < 2 || !w.known_rank() || w.rank() != 2) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = x.dims();
  out.back() = w.dim(AttrBool(n, "transpose_b", false) ? 0 : 1);
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

}  // namespace
}  // namespace shape_fn

absl::Status RegisterFusedKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(
      registry->RegisterOpInfo("_RankoptFusedMatMul", {shape_fn::FusedMatMulShape, nullptr}));
  for (OpSet set : {OpSet::kTensorFlow, OpSet::kOnnx}) {
    RANKOPT_RETURN_IF_ERROR(registry->Register(set, "_RankoptFusedMatMul", MakeFusedMatMul));
  }
  return RegisterAttentionPoolingKernel(registry);
}

}  // namespace rankopt
