// Elementwise unary ops: activations (Relu, Relu6, Elu, Selu, Celu, LeakyRelu, ThresholdedRelu,
// Sigmoid, Tanh, Softplus, Softsign, HardSigmoid, HardSwish, Gelu, Mish, Erf), math (Exp, Expm1,
// Log, Log1p, Sqrt, Rsqrt, Reciprocal, Neg, Abs, Square, Floor, Ceil, Round, Sign, Sin, Cos, Tan,
// Sinh, Cosh, Asin, Acos, Atan), IsNaN/IsInf/IsFinite, Clip/ClipByValue, LogicalNot,
// ZerosLike/OnesLike.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/kernels/math/vector_math.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

enum class UnOp {
  kRelu,
  kRelu6,
  kElu,
  kSelu,
  kLeakyRelu,
  kSigmoid,
  kHardSigmoid,
  kTanh,
  kExp,
  kLog,
  kLog1p,
  kSqrt,
  kRsqrt,
  kReciprocal,
  kNeg,
  kAbs,
  kSquare,
  kFloor,
  kCeil,
  kRound,
  kSoftplus,
  kSoftsign,
  kErf,
  kSign,
  kNot,
  kCelu,
  kThresholdedRelu,
  kHardSwish,
  kGelu,      // ONNX Gelu, approximate="none": x * Phi(x), with erf
  kGeluTanh,  // approximate="tanh"
  kMish,
  kExpm1,
  kSin,
  kCos,
  kTan,
  kSinh,
  kCosh,
  kAsin,
  kAcos,
  kAtan,
};

// Integer types allowed (wrapping where it could overflow).
constexpr bool UnaryAllowsInt(UnOp op) {
  return op == UnOp::kNeg || op == UnOp::kAbs || op == UnOp::kSquare || op == UnOp::kSign ||
         op == UnOp::kRelu;
}

struct UnaryParams {
  float alpha = 0.0f;
  float beta = 0.0f;   // HardSigmoid
  float gamma = 0.0f;  // Selu
};

template <UnOp kOp, typename T>
inline T ApplyUnary(T x, const UnaryParams& p) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    if constexpr (kOp == UnOp::kNeg) return static_cast<T>(U{0} - static_cast<U>(x));
    if constexpr (kOp == UnOp::kAbs) return x < 0 ? static_cast<T>(U{0} - static_cast<U>(x)) : x;
    if constexpr (kOp == UnOp::kSquare) {
      return static_cast<T>(static_cast<U>(x) * static_cast<U>(x));
    }
    if constexpr (kOp == UnOp::kSign) return static_cast<T>((x > 0) - (x < 0));
    if constexpr (kOp == UnOp::kRelu) return x > 0 ? x : T{0};
  } else {
    if constexpr (kOp == UnOp::kRelu) return x > 0.0f ? x : 0.0f;
    if constexpr (kOp == UnOp::kRelu6) return std::fmin(std::fmax(x, 0.0f), 6.0f);
    if constexpr (kOp == UnOp::kElu) return x < 0.0f ? p.alpha * std::expm1(x) : x;
    if constexpr (kOp == UnOp::kSelu) {
      return x <= 0.0f ? p.gamma * (p.alpha * std::exp(x) - p.alpha) : p.gamma * x;
    }
    if constexpr (kOp == UnOp::kLeakyRelu) return x < 0.0f ? p.alpha * x : x;
    if constexpr (kOp == UnOp::kSigmoid) return 1.0f / (1.0f + std::exp(-x));
    if constexpr (kOp == UnOp::kHardSigmoid) {
      return std::fmax(0.0f, std::fmin(1.0f, p.alpha * x + p.beta));
    }
    if constexpr (kOp == UnOp::kTanh) return std::tanh(x);
    if constexpr (kOp == UnOp::kExp) return std::exp(x);
    if constexpr (kOp == UnOp::kLog) return std::log(x);
    if constexpr (kOp == UnOp::kLog1p) return std::log1p(x);
    if constexpr (kOp == UnOp::kSqrt) return std::sqrt(x);
    if constexpr (kOp == UnOp::kRsqrt) return 1.0f / std::sqrt(x);
    if constexpr (kOp == UnOp::kReciprocal) return 1.0f / x;
    if constexpr (kOp == UnOp::kNeg) return -x;
    if constexpr (kOp == UnOp::kAbs) return std::fabs(x);
    if constexpr (kOp == UnOp::kSquare) return x * x;
    if constexpr (kOp == UnOp::kFloor) return std::floor(x);
    if constexpr (kOp == UnOp::kCeil) return std::ceil(x);
    if constexpr (kOp == UnOp::kRound) return std::nearbyint(x);  // half to even
    // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
    if constexpr (kOp == UnOp::kSoftplus) {
      return std::fmax(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
    }
    if constexpr (kOp == UnOp::kSoftsign) return x / (1.0f + std::fabs(x));
    if constexpr (kOp == UnOp::kErf) return std::erf(x);
    if constexpr (kOp == UnOp::kSign) {
      return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);  // NaN and +-0 pass through
    }
    if constexpr (kOp == UnOp::kCelu) {
      return std::fmax(x, T{0}) + std::fmin(T{0}, p.alpha * std::expm1(x / p.alpha));
    }
    if constexpr (kOp == UnOp::kThresholdedRelu) return x > p.alpha ? x : T{0};
    if constexpr (kOp == UnOp::kHardSwish) {
      return x * std::fmax(T{0}, std::fmin(T{1}, x / T{6} + T{0.5}));
    }
    if constexpr (kOp == UnOp::kGelu) {
      return T{0.5} * x * (T{1} + std::erf(x * T{0.70710678118654752440}));
    }
    if constexpr (kOp == UnOp::kGeluTanh) {
      constexpr T kSqrt2OverPi = T{0.79788456080286535588};
      return T{0.5} * x * (T{1} + std::tanh(kSqrt2OverPi * (x + T{0.044715} * x * x * x)));
    }
    if constexpr (kOp == UnOp::kMish) {
      const T softplus = std::fmax(x, T{0}) + std::log1p(std::exp(-std::fabs(x)));
      return x * std::tanh(softplus);
    }
    if constexpr (kOp == UnOp::kExpm1) return std::expm1(x);
    if constexpr (kOp == UnOp::kSin) return std::sin(x);
    if constexpr (kOp == UnOp::kCos) return std::cos(x);
    if constexpr (kOp == UnOp::kTan) return std::tan(x);
    if constexpr (kOp == UnOp::kSinh) return std::sinh(x);
    if constexpr (kOp == UnOp::kCosh) return std::cosh(x);
    if constexpr (kOp == UnOp::kAsin) return std::asin(x);
    if constexpr (kOp == UnOp::kAcos) return std::acos(x);
    if constexpr (kOp == UnOp::kAtan) return std::atan(x);
  }
  return x;
}

template <UnOp kOp, typename T>
void RunUnary(const TensorView& in, const TensorView& out, const UnaryParams& p) {
  const T* x = static_cast<const T*>(in.data);
  T* y = static_cast<T*>(out.data);
  const int64_t n = in.NumElements();
  for (int64_t i = 0; i < n; ++i) y[i] = ApplyUnary<kOp, T>(x[i], p);
}

template <UnOp kOp>
class UnaryKernel : public OpKernel {
 public:
  explicit UnaryKernel(UnaryParams params) : params_(params) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if constexpr (kOp == UnOp::kNot) {
      if (x.dtype != DType::kBool) return DTypeError(node, 0, x, "bool");
      RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kBool, x.dims));
      const uint8_t* in = static_cast<const uint8_t*>(x.data);
      uint8_t* o = static_cast<uint8_t*>(out.data);
      for (int64_t i = 0; i < x.NumElements(); ++i) o[i] = in[i] == 0 ? 1 : 0;
      return absl::OkStatus();
    } else {
      const bool is_int = x.dtype == DType::kInt32 || x.dtype == DType::kInt64;
      if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat64 &&
          !(is_int && UnaryAllowsInt(kOp))) {
        return DTypeError(node, 0, x,
                          UnaryAllowsInt(kOp) ? "float32/float64/int32/int64" : "float32/float64");
      }
      RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
      if (x.dtype == DType::kFloat64) {
        RunUnary<kOp, double>(x, out, params_);  // the scalar formulas, in double
      } else if (x.dtype == DType::kFloat32) {
        if constexpr (kOp == UnOp::kSigmoid) {
          SigmoidF32(x.data_as<float>(), out.data_as<float>(), x.NumElements());
        } else {
          RunUnary<kOp, float>(x, out, params_);
        }
      } else if constexpr (UnaryAllowsInt(kOp)) {
        if (x.dtype == DType::kInt32) {
          RunUnary<kOp, int32_t>(x, out, params_);
        } else {
          RunUnary<kOp, int64_t>(x, out, params_);
        }
      }
      return absl::OkStatus();
    }
  }

 private:
  UnaryParams params_;
};

// IsNaN / IsInf (ONNX; attrs detect_negative, detect_positive) and TF IsNan / IsInf / IsFinite:
// a float input, a bool output of its shape.
class FloatPredicateKernel : public OpKernel {
 public:
  enum class Test { kNaN, kInf, kFinite };
  FloatPredicateKernel(Test test, bool negative, bool positive)
      : test_(test), negative_(negative), positive_(positive) {}

  absl::Status Compute(KernelContext* ctx) const override {
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat64) {
      return DTypeError(ctx->node(), 0, x, "float32/float64");
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kBool, x.dims));
    uint8_t* o = static_cast<uint8_t*>(out.data);
    const int64_t n = x.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      const double v = x.dtype == DType::kFloat32 ? static_cast<double>(x.data_as<float>()[i])
                                                  : x.data_as<double>()[i];
      bool r = false;
      switch (test_) {
        case Test::kNaN:
          r = std::isnan(v);
          break;
        case Test::kInf:
          r = std::isinf(v) && ((v > 0 && positive_) || (v < 0 && negative_));
          break;
        case Test::kFinite:
          r = std::isfinite(v);
          break;
      }
      o[i] = r ? 1 : 0;
    }
    return absl::OkStatus();
  }

 private:
  Test test_;
  bool negative_, positive_;
};

KernelFactory FloatPredicate(FloatPredicateKernel::Test test) {
  return [test](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const bool negative = AttrInt(*b.node, "detect_negative", 1) != 0;
    const bool positive = AttrInt(*b.node, "detect_positive", 1) != 0;
    return std::unique_ptr<OpKernel>(new FloatPredicateKernel(test, negative, positive));
  };
}

void PredicateShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kBool, ctx->In(n, 0).shape);
}

// ZerosLike / OnesLike: same dtype and dims, filled.
class FillLikeKernel : public OpKernel {
 public:
  explicit FillLikeKernel(bool ones) : ones_(ones) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 1));
    const TensorView& x = ctx->input(0);
    if (!IsFixedWidth(x.dtype)) return DTypeError(node, 0, x, "a numeric or bool type");
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    const int64_t n = out.NumElements();
    std::memset(out.data, 0, out.ByteSize());
    if (!ones_) return absl::OkStatus();
    switch (x.dtype) {
      case DType::kFloat32:
        std::fill_n(out.data_as<float>(), n, 1.0f);
        break;
      case DType::kFloat64:
        std::fill_n(out.data_as<double>(), n, 1.0);
        break;
      case DType::kInt32:
        std::fill_n(out.data_as<int32_t>(), n, 1);
        break;
      case DType::kInt64:
        std::fill_n(out.data_as<int64_t>(), n, 1);
        break;
      case DType::kBool:
      case DType::kInt8:
      case DType::kUInt8:
        std::memset(out.data, 1, out.ByteSize());
        break;
      default:
        return DTypeError(node, 0, x, "float32/float64/int32/int64/bool/int8/uint8");
    }
    return absl::OkStatus();
  }

 private:
  bool ones_;
};

// Clip (ONNX: min/max as attributes before opset 11, optional inputs 1 and 2 after) and TF
// ClipByValue (t, clip_value_min, clip_value_max; scalars or t's shape).
class ClipKernel : public OpKernel {
 public:
  ClipKernel(float attr_min, float attr_max, bool tf) : min_(attr_min), max_(attr_max), tf_(tf) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, tf_ ? 3 : 1, 3));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    const TensorView* bounds[2] = {nullptr, nullptr};
    for (int i = 1; i < ctx->num_inputs(); ++i) {
      const TensorView& t = ctx->input(i);
      if (!t.present()) continue;
      if (t.dtype != DType::kFloat32) return DTypeError(node, i, t, "float32");
      if (t.NumElements() != 1 && !(tf_ && t.dims == x.dims)) {
        return NodeError(node, "input ", i, " is ", DescribeTensor(t), ", expected a scalar",
                         tf_ ? " or the shape of input 0" : "");
      }
      bounds[i - 1] = &t;
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    const float* in = x.data_as<float>();
    float* o = out.data_as<float>();
    const int64_t n = x.NumElements();
    auto bound = [](const TensorView* t, float fallback, int64_t i) {
      if (t == nullptr) return fallback;
      const float* d = t->data_as<float>();
      return t->NumElements() == 1 ? d[0] : d[i];
    };
    for (int64_t i = 0; i < n; ++i) {
      const float lo = bound(bounds[0], min_, i);
      const float hi = bound(bounds[1], max_, i);
      float v = in[i];
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      o[i] = v;
    }
    return absl::OkStatus();
  }

 private:
  float min_, max_;
  bool tf_;
};

template <UnOp kOp>
KernelFactory Unary(float default_alpha = 0.0f) {
  return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    UnaryParams p;
    p.alpha = AttrFloat(*b.node, "alpha", default_alpha);
    if constexpr (kOp == UnOp::kHardSigmoid) p.beta = AttrFloat(*b.node, "beta", 0.5f);
    if constexpr (kOp == UnOp::kSelu) p.gamma = AttrFloat(*b.node, "gamma", 1.0507009873554805f);
    if constexpr (kOp == UnOp::kCelu) {
      if (!(p.alpha != 0.0f))
        return NodeError(*b.node, "attribute alpha is 0 or NaN, expected nonzero");
    }
    return std::unique_ptr<OpKernel>(new UnaryKernel<kOp>(p));
  };
}

// ONNX Gelu (opset 20): approximate "none" (erf) or "tanh".
absl::StatusOr<std::unique_ptr<OpKernel>> MakeGelu(const KernelBuildContext& b) {
  const std::string approximate = AttrString(*b.node, "approximate", "none");
  if (approximate == "none") return std::unique_ptr<OpKernel>(new UnaryKernel<UnOp::kGelu>({}));
  if (approximate == "tanh") {
    return std::unique_ptr<OpKernel>(new UnaryKernel<UnOp::kGeluTanh>({}));
  }
  return NodeError(*b.node, "attribute approximate is \"", approximate,
                   "\", expected \"none\" or \"tanh\"");
}

}  // namespace

absl::Status RegisterUnaryKernels(KernelRegistry* r) {
  // Unary ops keep their input's shape; 1 FLOP per element where the model counts them.
  for (const char* op :
       {"Relu",        "Relu6",       "Elu",       "Selu", "Sigmoid", "Tanh",   "Exp",
        "Log",         "Sqrt",        "Rsqrt",     "Neg",  "Abs",     "Square", "LeakyRelu",
        "Softplus",    "Softsign",    "Floor",     "Ceil", "Round",   "Erf",    "Clip",
        "ClipByValue", "Reciprocal",  "Inv",       "Sign", "Sin",     "Cos",    "Log1p",
        "Expm1",       "HardSigmoid", "HardSwish", "Gelu", "Mish",    "Celu",   "ThresholdedRelu",
        "Not",         "LogicalNot"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, flops::Elementwise}));
  }
  for (const char* op : {"Shrink", "Sinh", "Cosh", "Tan", "Asin", "Acos", "Atan"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, nullptr}));
  }
  for (const char* op : {"IsNaN", "IsNan", "IsInf", "IsFinite"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {PredicateShape, flops::Elementwise}));
  }
  for (const char* op : {"ZerosLike", "OnesLike"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {nullptr, flops::DataMovement}));
  }
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  constexpr float kSeluAlpha = 1.6732632423543772f;
  struct Entry {
    OpSet set;
    const char* op;
    KernelFactory factory;
  };
  const Entry entries[] = {
      {kOnnx, "Relu", Unary<UnOp::kRelu>()},
      {kOnnx, "Elu", Unary<UnOp::kElu>(1.0f)},
      {kOnnx, "Selu", Unary<UnOp::kSelu>(kSeluAlpha)},
      {kOnnx, "LeakyRelu", Unary<UnOp::kLeakyRelu>(0.01f)},
      {kOnnx, "Sigmoid", Unary<UnOp::kSigmoid>()},
      {kOnnx, "HardSigmoid", Unary<UnOp::kHardSigmoid>(0.2f)},
      {kOnnx, "Tanh", Unary<UnOp::kTanh>()},
      {kOnnx, "Exp", Unary<UnOp::kExp>()},
      {kOnnx, "Log", Unary<UnOp::kLog>()},
      {kOnnx, "Sqrt", Unary<UnOp::kSqrt>()},
      {kOnnx, "Reciprocal", Unary<UnOp::kReciprocal>()},
      {kOnnx, "Neg", Unary<UnOp::kNeg>()},
      {kOnnx, "Abs", Unary<UnOp::kAbs>()},
      {kOnnx, "Floor", Unary<UnOp::kFloor>()},
      {kOnnx, "Ceil", Unary<UnOp::kCeil>()},
      {kOnnx, "Round", Unary<UnOp::kRound>()},
      {kOnnx, "Softplus", Unary<UnOp::kSoftplus>()},
      {kOnnx, "Softsign", Unary<UnOp::kSoftsign>()},
      {kOnnx, "Erf", Unary<UnOp::kErf>()},
      {kOnnx, "Sign", Unary<UnOp::kSign>()},
      {kOnnx, "Not", Unary<UnOp::kNot>()},
      {kOnnx, "Celu", Unary<UnOp::kCelu>(1.0f)},
      {kOnnx, "ThresholdedRelu", Unary<UnOp::kThresholdedRelu>(1.0f)},
      {kOnnx, "HardSwish", Unary<UnOp::kHardSwish>()},
      {kOnnx, "Gelu", MakeGelu},
      {kOnnx, "Mish", Unary<UnOp::kMish>()},
      {kOnnx, "Sin", Unary<UnOp::kSin>()},
      {kOnnx, "Cos", Unary<UnOp::kCos>()},
      {kOnnx, "Tan", Unary<UnOp::kTan>()},
      {kOnnx, "Sinh", Unary<UnOp::kSinh>()},
      {kOnnx, "Cosh", Unary<UnOp::kCosh>()},
      {kOnnx, "Asin", Unary<UnOp::kAsin>()},
      {kOnnx, "Acos", Unary<UnOp::kAcos>()},
      {kOnnx, "Atan", Unary<UnOp::kAtan>()},
      {kOnnx, "IsNaN", FloatPredicate(FloatPredicateKernel::Test::kNaN)},
      {kOnnx, "IsInf", FloatPredicate(FloatPredicateKernel::Test::kInf)},
      {kTf, "Relu", Unary<UnOp::kRelu>()},
      {kTf, "Relu6", Unary<UnOp::kRelu6>()},
      {kTf, "Elu", Unary<UnOp::kElu>(1.0f)},
      {kTf, "Selu", Unary<UnOp::kSelu>(kSeluAlpha)},
      {kTf, "LeakyRelu", Unary<UnOp::kLeakyRelu>(0.2f)},
      {kTf, "Sigmoid", Unary<UnOp::kSigmoid>()},
      {kTf, "Tanh", Unary<UnOp::kTanh>()},
      {kTf, "Exp", Unary<UnOp::kExp>()},
      {kTf, "Log", Unary<UnOp::kLog>()},
      {kTf, "Log1p", Unary<UnOp::kLog1p>()},
      {kTf, "Sqrt", Unary<UnOp::kSqrt>()},
      {kTf, "Rsqrt", Unary<UnOp::kRsqrt>()},
      {kTf, "Reciprocal", Unary<UnOp::kReciprocal>()},
      {kTf, "Inv", Unary<UnOp::kReciprocal>()},
      {kTf, "Neg", Unary<UnOp::kNeg>()},
      {kTf, "Abs", Unary<UnOp::kAbs>()},
      {kTf, "Square", Unary<UnOp::kSquare>()},
      {kTf, "Floor", Unary<UnOp::kFloor>()},
      {kTf, "Ceil", Unary<UnOp::kCeil>()},
      {kTf, "Round", Unary<UnOp::kRound>()},
      {kTf, "Softplus", Unary<UnOp::kSoftplus>()},
      {kTf, "Softsign", Unary<UnOp::kSoftsign>()},
      {kTf, "Erf", Unary<UnOp::kErf>()},
      {kTf, "Sign", Unary<UnOp::kSign>()},
      {kTf, "LogicalNot", Unary<UnOp::kNot>()},
      {kTf, "Expm1", Unary<UnOp::kExpm1>()},
      {kTf, "Sin", Unary<UnOp::kSin>()},
      {kTf, "Cos", Unary<UnOp::kCos>()},
      {kTf, "Tan", Unary<UnOp::kTan>()},
      {kTf, "Sinh", Unary<UnOp::kSinh>()},
      {kTf, "Cosh", Unary<UnOp::kCosh>()},
      {kTf, "Asin", Unary<UnOp::kAsin>()},
      {kTf, "Acos", Unary<UnOp::kAcos>()},
      {kTf, "Atan", Unary<UnOp::kAtan>()},
      {kTf, "IsInf", FloatPredicate(FloatPredicateKernel::Test::kInf)},
      {kTf, "IsFinite", FloatPredicate(FloatPredicateKernel::Test::kFinite)},
  };
  for (const Entry& e : entries) RANKOPT_RETURN_IF_ERROR(r->Register(e.set, e.op, e.factory));

  auto fill = [](bool ones) -> KernelFactory {
    return [=](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
      return std::unique_ptr<OpKernel>(new FillLikeKernel(ones));
    };
  };
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "ZerosLike", fill(false)));
  RANKOPT_RETURN_IF_ERROR(r->Register(kTf, "OnesLike", fill(true)));
  RANKOPT_RETURN_IF_ERROR(r->Register(
      kOnnx, "Clip", [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
        const float lo = AttrFloat(*b.node, "min", -std::numeric_limits<float>::infinity());
        const float hi = AttrFloat(*b.node, "max", std::numeric_limits<float>::infinity());
        return std::unique_ptr<OpKernel>(new ClipKernel(lo, hi, false));
      }));
  RANKOPT_RETURN_IF_ERROR(
      r->Register(kTf, "ClipByValue",
                  [](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                    return std::unique_ptr<OpKernel>(new ClipKernel(0.0f, 0.0f, true));
                  }));
  return absl::OkStatus();
}

}  // namespace math_internal
}  // namespace rankopt
