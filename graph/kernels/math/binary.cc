// Elementwise binary and variadic ops with numpy broadcasting: arithmetic, comparisons, logic,
// PRelu, BiasAdd, AddN and ONNX Max/Min/Sum/Mean.
//
// Integer arithmetic wraps (two's complement) instead of overflowing; integer division and
// modulo by zero are errors. bool tensors are read as bytes (any nonzero byte is true) and
// written as 0/1.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

enum class BinOp {
  kAdd,
  kSub,
  kMul,
  kDiv,       // float division; integer division truncates toward zero
  kDivNoNan,  // a / b, 0 where b == 0 (float only)
  kFloorDiv,  // float floor(a / b); integer division rounds toward -inf
  kFloorMod,  // result has the sign of the divisor (TF FloorMod, ONNX Mod fmod=0)
  kFmod,      // result has the sign of the dividend (C fmod, ONNX Mod fmod=1)
  kMax,
  kMin,
  kPow,
  kSquaredDifference,
  kLess,
  kGreater,
  kEqual,
  kNotEqual,
  kLessEqual,
  kGreaterEqual,
  kAnd,
  kOr,
  kXor,
  kPRelu,  // a < 0 ? b * a : a
};

constexpr bool IsCompare(BinOp op) {
  return op == BinOp::kLess || op == BinOp::kGreater || op == BinOp::kEqual ||
         op == BinOp::kNotEqual || op == BinOp::kLessEqual || op == BinOp::kGreaterEqual;
}
constexpr bool IsLogical(BinOp op) {
  return op == BinOp::kAnd || op == BinOp::kOr || op == BinOp::kXor;
}
constexpr bool AllowsInt(BinOp op) {
  return !(op == BinOp::kPRelu || op == BinOp::kDivNoNan || IsLogical(op));
}
constexpr bool AllowsFloat(BinOp op) { return !IsLogical(op); }
constexpr bool AllowsBool(BinOp op) {
  return IsLogical(op) || op == BinOp::kEqual || op == BinOp::kNotEqual;
}
constexpr bool ChecksZeroDivisor(BinOp op) {
  return op == BinOp::kDiv || op == BinOp::kFloorDiv || op == BinOp::kFloorMod ||
         op == BinOp::kFmod;
}

template <typename T>
T WrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T>
T WrapSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T>
T WrapMul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
// REQUIRES: b != 0. min / -1 wraps to min.
template <typename T>
T TruncDiv(T a, T b) {
  if (b == -1) return WrapSub<T>(0, a);
  return a / b;
}
template <typename T>
T FloorDivInt(T a, T b) {
  if (b == -1) return WrapSub<T>(0, a);
  T q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
template <typename T>
T FloorModInt(T a, T b) {
  if (b == -1) return 0;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Elements are T (float, int32, int64) or uint8_t (bool).
template <BinOp kOp, typename T>
inline auto Apply(T a, T b) {
  constexpr bool kFloat = std::is_floating_point_v<T>;
  if constexpr (kOp == BinOp::kAdd) {
    if constexpr (kFloat)
      return a + b;
    else
      return WrapAdd(a, b);
  } else if constexpr (kOp == BinOp::kSub) {
    if constexpr (kFloat)
      return a - b;
    else
      return WrapSub(a, b);
  } else if constexpr (kOp == BinOp::kMul) {
    if constexpr (kFloat)
      return a * b;
    else
      return WrapMul(a, b);
  } else if constexpr (kOp == BinOp::kDiv) {
    if constexpr (kFloat)
      return a / b;
    else
      return TruncDiv(a, b);
  } else if constexpr (kOp == BinOp::kDivNoNan) {
    return b == 0 ? T{0} : a / b;
  } else if constexpr (kOp == BinOp::kFloorDiv) {
    if constexpr (kFloat)
      return std::floor(a / b);
    else
      return FloorDivInt(a, b);
  } else if constexpr (kOp == BinOp::kFloorMod) {
    if constexpr (kFloat) {
      T r = std::fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else {
      return FloorModInt(a, b);
    }
  } else if constexpr (kOp == BinOp::kFmod) {
    if constexpr (kFloat)
      return std::fmod(a, b);
    else
      return b == -1 ? T{0} : T(a % b);
  } else if constexpr (kOp == BinOp::kMax) {
    return a < b ? b : a;
  } else if constexpr (kOp == BinOp::kMin) {
    return b < a ? b : a;
  } else if constexpr (kOp == BinOp::kPow) {
    if constexpr (kFloat) {
      return std::pow(a, b);
    } else {
      // Square-and-multiply with wrap-around, as TF's integer Pow; negative exponents were
      // rejected before the loop (CheckDivisor).
      T result = 1, base = a;
      for (T e = b; e > 0; e >>= 1) {
        if (e & 1) result = WrapMul(result, base);
        base = WrapMul(base, base);
      }
      return result;
    }
  } else if constexpr (kOp == BinOp::kSquaredDifference) {
    if constexpr (kFloat) {
      return (a - b) * (a - b);
    } else {
      T d = WrapSub(a, b);
      return WrapMul(d, d);
    }
  } else if constexpr (kOp == BinOp::kPRelu) {
    return a < 0 ? b * a : a;
  } else if constexpr (kOp == BinOp::kLess) {
    return static_cast<uint8_t>(a < b);
  } else if constexpr (kOp == BinOp::kGreater) {
    return static_cast<uint8_t>(a > b);
  } else if constexpr (kOp == BinOp::kLessEqual) {
    return static_cast<uint8_t>(a <= b);
  } else if constexpr (kOp == BinOp::kGreaterEqual) {
    return static_cast<uint8_t>(a >= b);
  } else if constexpr (kOp == BinOp::kEqual) {
    if constexpr (std::is_same_v<T, uint8_t>) {
      return static_cast<uint8_t>((a != 0) == (b != 0));
    } else {
      return static_cast<uint8_t>(a == b);
    }
  } else if constexpr (kOp == BinOp::kNotEqual) {
    if constexpr (std::is_same_v<T, uint8_t>) {
      return static_cast<uint8_t>((a != 0) != (b != 0));
    } else {
      return static_cast<uint8_t>(a != b);
    }
  } else if constexpr (kOp == BinOp::kAnd) {
    return static_cast<uint8_t>(a != 0 && b != 0);
  } else if constexpr (kOp == BinOp::kOr) {
    return static_cast<uint8_t>(a != 0 || b != 0);
  } else {
    static_assert(kOp == BinOp::kXor);
    return static_cast<uint8_t>((a != 0) != (b != 0));
  }
}

// out[i] = Apply(a[...], b[...]) over the plan (operand 0 = a, operand 1 = b; out contiguous).
template <BinOp kOp, typename T, typename TOut>
void RunPlan(const BroadcastPlan& plan, const T* a, const T* b, TOut* out) {
  const int r = static_cast<int>(plan.dims.size());
  const int64_t inner = plan.dims[r - 1];
  const int64_t sa = plan.strides[0][r - 1];
  const int64_t sb = plan.strides[1][r - 1];
  int64_t outer = 1;
  for (int d = 0; d < r - 1; ++d) outer *= plan.dims[d];
  Dims index(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const T* pa = a + oa;
    const T* pb = b + ob;
    TOut* po = out + o * inner;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < inner; ++j) po[j] = Apply<kOp, T>(pa[j], pb[j]);
    } else if (sa == 0 && sb == 1) {
      const T va = pa[0];
      for (int64_t j = 0; j < inner; ++j) po[j] = Apply<kOp, T>(va, pb[j]);
    } else if (sa == 1 && sb == 0) {
      const T vb = pb[0];
      for (int64_t j = 0; j < inner; ++j) po[j] = Apply<kOp, T>(pa[j], vb);
    } else {
      for (int64_t j = 0; j < inner; ++j) po[j] = Apply<kOp, T>(pa[j * sa], pb[j * sb]);
    }
    // Advance the odometer over the outer dims.
    for (int d = r - 2; d >= 0; --d) {
      oa += plan.strides[0][d];
      ob += plan.strides[1][d];
      if (++index[d] < plan.dims[d]) break;
      oa -= plan.strides[0][d] * plan.dims[d];
      ob -= plan.strides[1][d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

template <typename T>
bool HasZero(const TensorView& t) {
  for (T v : t.values<T>()) {
    if (v == 0) return true;
  }
  return false;
}

template <typename T>
bool HasNegative(const TensorView& t) {
  for (T v : t.values<T>()) {
    if (v < 0) return true;
  }
  return false;
}

// Computes out = a (op) b, where out has dims `out_dims` (already allocated, contiguous).
template <BinOp kOp, typename T>
void Compute2(const TensorView& a, const TensorView& b, const TensorView& out) {
  BroadcastPlan plan = MakeBroadcastPlan(out.dims, {a.dims, b.dims});
  using TOut = std::conditional_t<IsCompare(kOp) || IsLogical(kOp), uint8_t, T>;
  RunPlan<kOp, T, TOut>(plan, static_cast<const T*>(a.data), static_cast<const T*>(b.data),
                        static_cast<TOut*>(out.data));
}

template <BinOp kOp>
absl::Status CheckDTypes(const Node& node, const TensorView& a, const TensorView& b, int bi) {
  const DType t = a.dtype;
  const bool ok = ((t == DType::kFloat32 || t == DType::kFloat64) && AllowsFloat(kOp)) ||
                  ((t == DType::kInt32 || t == DType::kInt64) && AllowsInt(kOp)) ||
                  (t == DType::kBool && AllowsBool(kOp));
  if (!ok) {
    std::string accepted;
    if (AllowsFloat(kOp)) accepted += "float32/float64";
    if (AllowsInt(kOp)) accepted += accepted.empty() ? "int32/int64" : "/int32/int64";
    if (AllowsBool(kOp)) accepted += accepted.empty() ? "bool" : "/bool";
    return DTypeError(node, 0, a, accepted);
  }
  if (b.dtype != t) {
    return NodeError(node, "input ", bi, " is ", DescribeTensor(b), " but input 0 is ",
                     DescribeTensor(a), "; both must have the same dtype");
  }
  return absl::OkStatus();
}

template <BinOp kOp>
absl::Status CheckDivisor(const Node& node, const TensorView& b, int bi) {
  if constexpr (ChecksZeroDivisor(kOp)) {
    const bool zero = (b.dtype == DType::kInt32 && HasZero<int32_t>(b)) ||
                      (b.dtype == DType::kInt64 && HasZero<int64_t>(b));
    if (zero) return NodeError(node, "integer division by zero (input ", bi, ")");
  }
  if constexpr (kOp == BinOp::kPow) {
    const bool negative = (b.dtype == DType::kInt32 && HasNegative<int32_t>(b)) ||
                          (b.dtype == DType::kInt64 && HasNegative<int64_t>(b));
    if (negative) {
      return NodeError(node, "integers to negative integer powers are not allowed (input ", bi,
                       ")");
    }
  }
  return absl::OkStatus();
}

// Dispatches on dtype; REQUIRES: CheckDTypes passed.
template <BinOp kOp>
void Dispatch2(const TensorView& a, const TensorView& b, const TensorView& out) {
  switch (a.dtype) {
    case DType::kFloat32:
      if constexpr (AllowsFloat(kOp)) Compute2<kOp, float>(a, b, out);
      break;
    case DType::kFloat64:
      if constexpr (AllowsFloat(kOp)) Compute2<kOp, double>(a, b, out);
      break;
    case DType::kInt32:
      if constexpr (AllowsInt(kOp)) Compute2<kOp, int32_t>(a, b, out);
      break;
    case DType::kInt64:
      if constexpr (AllowsInt(kOp)) Compute2<kOp, int64_t>(a, b, out);
      break;
    case DType::kBool:
      if constexpr (AllowsBool(kOp)) Compute2<kOp, uint8_t>(a, b, out);
      break;
    default:
      break;
  }
}

template <BinOp kOp>
DType OutDType(DType in) {
  return IsCompare(kOp) || IsLogical(kOp) ? DType::kBool : in;
}

// A binary op with numpy broadcasting.
template <BinOp kOp>
class BinaryKernel : public OpKernel {
 public:
  // unidirectional: the output has input 0's shape (PRelu's slope broadcasts to x).
  explicit BinaryKernel(bool unidirectional = false) : unidirectional_(unidirectional) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 2));
    TensorView a = ctx->input(0);
    TensorView b = ctx->input(1);
    if constexpr (kOp == BinOp::kPow) {
      // ONNX Pow allows an integer exponent with a float base: convert it in scratch.
      if (a.dtype == DType::kFloat32 && (b.dtype == DType::kInt32 || b.dtype == DType::kInt64)) {
        const int64_t count = b.NumElements();
        RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                                 ctx->AllocateScratch(static_cast<size_t>(count) * sizeof(float)));
        float* converted = static_cast<float*>(scratch);
        for (int64_t i = 0; i < count; ++i) {
          converted[i] = b.dtype == DType::kInt32 ? static_cast<float>(b.data_as<int32_t>()[i])
                                                  : static_cast<float>(b.data_as<int64_t>()[i]);
        }
        b.dtype = DType::kFloat32;
        b.data = converted;
      }
    }
    RANKOPT_RETURN_IF_ERROR(CheckDTypes<kOp>(node, a, b, 1));
    RANKOPT_RETURN_IF_ERROR(CheckDivisor<kOp>(node, b, 1));
    RANKOPT_ASSIGN_OR_RETURN(Dims dims, BroadcastDims(node, a.dims, b.dims));
    if (unidirectional_ && dims != a.dims) {
      return NodeError(node, "input 1 ", DescribeTensor(b), " must broadcast to input 0 ",
                       DescribeTensor(a), " without changing its shape");
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, OutDType<kOp>(a.dtype), dims));
    if (out.NumElements() == 0) return absl::OkStatus();
    Dispatch2<kOp>(a, b, out);
    return absl::OkStatus();
  }

 private:
  bool unidirectional_;
};

// Variadic: out = in0 op in1 op ... with all inputs broadcast together (ONNX Max/Min/Sum/Mean,
// TF AddN). kMean divides the sum by the input count.
template <BinOp kOp>
class VariadicKernel : public OpKernel {
 public:
  explicit VariadicKernel(bool mean, bool same_shape) : mean_(mean), same_shape_(same_shape) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    const int n = ctx->num_inputs();
    if (n < 1) return NodeError(node, "needs at least one input");
    const TensorView& first = ctx->input(0);
    Dims dims = first.dims;
    for (int i = 0; i < n; ++i) {
      const TensorView& in = ctx->input(i);
      if (!in.present()) return NodeError(node, "input ", i, " is omitted");
      RANKOPT_RETURN_IF_ERROR(CheckDTypes<kOp>(node, first, in, i));
      if (same_shape_ && in.dims != first.dims) {
        return NodeError(node, "input ", i, " is ", DescribeTensor(in), " but input 0 is ",
                         DescribeTensor(first), "; all inputs must have the same shape");
      }
      RANKOPT_ASSIGN_OR_RETURN(dims, BroadcastDims(node, dims, in.dims));
    }
    if (mean_ && first.dtype != DType::kFloat32) {
      return DTypeError(node, 0, first, "float32");
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, first.dtype, dims));
    if (out.NumElements() == 0) return absl::OkStatus();
    if (n == 1) {
      std::memcpy(out.data, first.data, out.ByteSize());  // dims == first.dims
    } else {
      Dispatch2<kOp>(first, ctx->input(1), out);
      for (int i = 2; i < n; ++i) Dispatch2<kOp>(out, ctx->input(i), out);
    }
    if (mean_) {
      float* p = out.data_as<float>();
      const float inv = static_cast<float>(n);
      for (int64_t i = 0; i < out.NumElements(); ++i) p[i] /= inv;
    }
    return absl::OkStatus();
  }

 private:
  bool mean_;
  bool same_shape_;
};

// TF BiasAdd: value + bias along the channel dim (last for NHWC, 1 for NCHW).
class BiasAddKernel : public OpKernel {
 public:
  explicit BiasAddKernel(bool nchw) : nchw_(nchw) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 2));
    const TensorView& x = ctx->input(0);
    TensorView bias = ctx->input(1);
    RANKOPT_RETURN_IF_ERROR(CheckDTypes<BinOp::kAdd>(node, x, bias, 1));
    const int channel_dim = nchw_ ? 1 : x.rank() - 1;
    if (x.rank() < (nchw_ ? 3 : 2) || bias.rank() != 1 || bias.dims[0] != x.dims[channel_dim]) {
      return NodeError(node, "expected value of rank >= ", nchw_ ? 3 : 2,
                       " and a 1-D bias of its channel dim ", channel_dim, ", got value ",
                       DescribeTensor(x), " and bias ", DescribeTensor(bias));
    }
    if (nchw_) bias.dims.resize(x.rank() - 1, 1);  // [C] -> [C,1,...,1]
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    if (out.NumElements() == 0) return absl::OkStatus();
    Dispatch2<BinOp::kAdd>(x, bias, out);
    return absl::OkStatus();
  }

 private:
  bool nchw_;
};

// TF Equal/NotEqual over strings (T = string): equal dims, or one side a single element.
class StringCompareKernel final : public OpKernel {
 public:
  explicit StringCompareKernel(bool not_equal) : not_equal_(not_equal) {}
  absl::Status Compute(KernelContext* ctx) const override {
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 2));
    const TensorView& x = ctx->input(0);
    const TensorView& y = ctx->input(1);
    if (x.dtype != DType::kString || y.dtype != DType::kString) {
      return NodeError(ctx->node(), "compares ", DescribeTensor(x), " with ", DescribeTensor(y),
                       "; expected two string tensors");
    }
    const int64_t nx = x.NumElements(), ny = y.NumElements();
    const bool same = x.dims == y.dims;
    if (!same && nx != 1 && ny != 1) {
      return NodeError(ctx->node(), "string operands ", DescribeTensor(x), " and ",
                       DescribeTensor(y),
                       " must have equal shapes or one of them a single element");
    }
    const TensorView& big = same || ny == 1 ? x : y;
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kBool, big.dims));
    const absl::string_view* a = x.data_as<const absl::string_view>();
    const absl::string_view* b = y.data_as<const absl::string_view>();
    bool* dst = out.data_as<bool>();
    const int64_t n = out.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = (a[nx == 1 ? 0 : i] == b[ny == 1 ? 0 : i]) != not_equal_;
    }
    return absl::OkStatus();
  }

 private:
  bool not_equal_;
};

// Equal/NotEqual: the string kernel when the node's T is string, else the numeric one.
template <BinOp kOp>
KernelFactory CompareFactory() {
  return [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const DType* t = b.node->attrs.Get<DType>("T");
    if (t != nullptr && *t == DType::kString) {
      return std::unique_ptr<OpKernel>(new StringCompareKernel(kOp == BinOp::kNotEqual));
    }
    return std::unique_ptr<OpKernel>(new BinaryKernel<kOp>());
  };
}

template <typename K, typename... Args>
KernelFactory Simple(Args... args) {
  return [=](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(new K(args...));
  };
}

}  // namespace

}  // namespace math_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void BinaryIntValueShape(const Node& n, ShapeContext* ctx, DType dtype) {
  const IntValue* a = ctx->InInt(n, 0);
  const IntValue* b = ctx->InInt(n, 1);
  if (a == nullptr || b == nullptr || n.inputs.size() != 2) return;
  Shape out_shape = Broadcast(Shape(a->dims), Shape(b->dims));
  if (!out_shape.IsFullyDefined()) return;
  std::optional<int64_t> count = out_shape.NumElements();
  if (!count || *count > kMaxInferredValueElements) return;
  const int r = out_shape.rank();
  auto index_into = [&](const IntValue& v, int64_t linear) {
    // Walk the output index from the last axis, mapping broadcast axes of v to 0.
    int64_t idx = 0, stride = 1;
    const int rv = static_cast<int>(v.dims.size());
    for (int axis = r - 1; axis >= 0; --axis) {
      const int64_t coord = linear % out_shape.dim(axis);
      linear /= out_shape.dim(axis);
      const int va = axis - (r - rv);
      if (va < 0) continue;
      if (v.dims[va] != 1) idx += coord * stride;
      stride *= v.dims[va];
    }
    return idx;
  };
  IntValue out{out_shape.dims(), {}};
  for (int64_t i = 0; i < *count; ++i) {
    const int64_t x = a->elems[index_into(*a, i)];
    const int64_t y = b->elems[index_into(*b, i)];
    std::optional<int64_t> r2;
    if (x != kUnknownElem && y != kUnknownElem) {
      if (n.op == "Add" || n.op == "AddV2") {
        r2 = CheckedAdd(x, y);
      } else if (n.op == "Sub") {
        r2 = CheckedSub(x, y);
      } else if (n.op == "Mul") {
        r2 = CheckedMul(x, y);
      } else if (n.op == "FloorDiv" && y != 0) {  // x != INT64_MIN (that is kUnknownElem)
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        r2 = q;
      }
    }
    out.elems.push_back(r2.value_or(kUnknownElem));
  }
  ctx->SetInt(n, 0, dtype, std::move(out));
}

// Broadcast of the inputs; integer Add/Sub/Mul/FloorDiv also compute small values (shape
// arithmetic).
void BinaryShape(const Node& n, ShapeContext* ctx) {
  ElementwiseShape(n, ctx, DType::kInvalid);
  const DType dtype = ctx->Inferred(TensorRef{n.name, 0}).dtype;
  if (IsIntType(dtype) && OneOf(n.op, {"Add", "AddV2", "Sub", "Mul", "FloorDiv"})) {
    BinaryIntValueShape(n, ctx, dtype);
  }
}

void ComparisonShape(const Node& n, ShapeContext* ctx) { ElementwiseShape(n, ctx, DType::kBool); }

// AddN: N-1 additions per output element.
NodeFlops AddNFlops(const Node& node, const ShapeMap& shapes) {
  const int64_t n = static_cast<int64_t>(node.inputs.size());
  return flops::Counted(flops::Mul(n > 0 ? n - 1 : 0, flops::OutputElements(node, shapes)));
}

}  // namespace
}  // namespace shape_fn

namespace math_internal {

absl::Status RegisterBinaryKernels(KernelRegistry* r) {
  for (const char* op : {"BiasAdd", "BiasAddV1"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, flops::Elementwise}));
  }
  for (const char* op : {"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum",
                         "Pow", "SquaredDifference", "FloorDiv", "FloorMod", "Mod", "TruncateDiv",
                         "PRelu", "DivNoNan", "MulNoNan"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::BinaryShape, flops::Elementwise}));
  }
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("AddN", {shape_fn::BinaryShape, shape_fn::AddNFlops}));
  for (const char* op : {"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::BinaryShape, nullptr}));
  }
  for (const char* op : {"Less", "Greater", "Equal", "LessEqual", "GreaterEqual", "NotEqual",
                         "LogicalAnd", "LogicalOr", "And", "Or", "Xor"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::ComparisonShape, flops::Elementwise}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ApproximateEqual", {shape_fn::ComparisonShape, nullptr}));
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  struct Entry {
    OpSet set;
    const char* op;
    KernelFactory factory;
  };
  const Entry entries[] = {
      // ONNX
      {kOnnx, "Add", Simple<BinaryKernel<BinOp::kAdd>>()},
      {kOnnx, "Sub", Simple<BinaryKernel<BinOp::kSub>>()},
      {kOnnx, "Mul", Simple<BinaryKernel<BinOp::kMul>>()},
      {kOnnx, "Div", Simple<BinaryKernel<BinOp::kDiv>>()},
      {kOnnx, "Pow", Simple<BinaryKernel<BinOp::kPow>>()},
      {kOnnx, "Less", Simple<BinaryKernel<BinOp::kLess>>()},
      {kOnnx, "Greater", Simple<BinaryKernel<BinOp::kGreater>>()},
      {kOnnx, "Equal", Simple<BinaryKernel<BinOp::kEqual>>()},
      {kOnnx, "LessOrEqual", Simple<BinaryKernel<BinOp::kLessEqual>>()},
      {kOnnx, "GreaterOrEqual", Simple<BinaryKernel<BinOp::kGreaterEqual>>()},
      {kOnnx, "And", Simple<BinaryKernel<BinOp::kAnd>>()},
      {kOnnx, "Or", Simple<BinaryKernel<BinOp::kOr>>()},
      {kOnnx, "Xor", Simple<BinaryKernel<BinOp::kXor>>()},
      {kOnnx, "PRelu", Simple<BinaryKernel<BinOp::kPRelu>>(true)},
      {kOnnx, "Max", Simple<VariadicKernel<BinOp::kMax>>(false, false)},
      {kOnnx, "Min", Simple<VariadicKernel<BinOp::kMin>>(false, false)},
      {kOnnx, "Sum", Simple<VariadicKernel<BinOp::kAdd>>(false, false)},
      {kOnnx, "Mean", Simple<VariadicKernel<BinOp::kAdd>>(true, false)},
      {kOnnx, "Mod",
       [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
         if (AttrInt(*b.node, "fmod", 0) != 0) {
           return std::unique_ptr<OpKernel>(new BinaryKernel<BinOp::kFmod>());
         }
         return std::unique_ptr<OpKernel>(new BinaryKernel<BinOp::kFloorMod>());
       }},
      // TensorFlow
      {kTf, "Add", Simple<BinaryKernel<BinOp::kAdd>>()},
      {kTf, "AddV2", Simple<BinaryKernel<BinOp::kAdd>>()},
      {kTf, "Sub", Simple<BinaryKernel<BinOp::kSub>>()},
      {kTf, "Mul", Simple<BinaryKernel<BinOp::kMul>>()},
      {kTf, "RealDiv", Simple<BinaryKernel<BinOp::kDiv>>()},
      {kTf, "Div", Simple<BinaryKernel<BinOp::kDiv>>()},
      {kTf, "DivNoNan", Simple<BinaryKernel<BinOp::kDivNoNan>>()},
      {kTf, "FloorDiv", Simple<BinaryKernel<BinOp::kFloorDiv>>()},
      {kTf, "FloorMod", Simple<BinaryKernel<BinOp::kFloorMod>>()},
      {kTf, "Maximum", Simple<BinaryKernel<BinOp::kMax>>()},
      {kTf, "Minimum", Simple<BinaryKernel<BinOp::kMin>>()},
      {kTf, "Pow", Simple<BinaryKernel<BinOp::kPow>>()},
      {kTf, "SquaredDifference", Simple<BinaryKernel<BinOp::kSquaredDifference>>()},
      {kTf, "Less", Simple<BinaryKernel<BinOp::kLess>>()},
      {kTf, "Greater", Simple<BinaryKernel<BinOp::kGreater>>()},
      {kTf, "Equal", CompareFactory<BinOp::kEqual>()},
      {kTf, "NotEqual", CompareFactory<BinOp::kNotEqual>()},
      {kTf, "LessEqual", Simple<BinaryKernel<BinOp::kLessEqual>>()},
      {kTf, "GreaterEqual", Simple<BinaryKernel<BinOp::kGreaterEqual>>()},
      {kTf, "LogicalAnd", Simple<BinaryKernel<BinOp::kAnd>>()},
      {kTf, "LogicalOr", Simple<BinaryKernel<BinOp::kOr>>()},
      {kTf, "AddN", Simple<VariadicKernel<BinOp::kAdd>>(false, true)},
      {kTf, "BiasAdd",
       [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
         const std::string format = AttrString(*b.node, "data_format", "NHWC");
         if (format != "NHWC" && format != "NCHW") {
           return NodeError(*b.node, "data_format '", format, "' is not supported (NHWC, NCHW)");
         }
         return std::unique_ptr<OpKernel>(new BiasAddKernel(format == "NCHW"));
       }},
      {kTf, "BiasAddV1", Simple<BiasAddKernel>(false)},
  };
  for (const Entry& e : entries) {
    RANKOPT_RETURN_IF_ERROR(r->Register(e.set, e.op, e.factory));
  }
  return absl::OkStatus();
}

}  // namespace math_internal
}  // namespace rankopt
