// Reductions: ONNX ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum and ArgMax/ArgMin;
// TF Sum/Mean/Max/Min/Prod/All/Any and ArgMax/ArgMin.
//
// Every output element accumulates its inputs in increasing input order, whatever the other
// dims are, so results do not depend on the batch size. Integer sums and products wrap.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

enum class RedOp { kSum, kMean, kMax, kMin, kProd, kAll, kAny, kSumSquare, kL1, kL2, kLogSum };

constexpr bool RedIsBool(RedOp op) { return op == RedOp::kAll || op == RedOp::kAny; }
constexpr bool RedAllowsInt(RedOp op) {
  return !RedIsBool(op) && op != RedOp::kL2 && op != RedOp::kLogSum;
}

template <RedOp kOp, typename T>
T Identity() {
  if constexpr (kOp == RedOp::kMax) {
    return std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                       : std::numeric_limits<T>::lowest();
  }
  if constexpr (kOp == RedOp::kMin) {
    return std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity()
                                       : std::numeric_limits<T>::max();
  }
  if constexpr (kOp == RedOp::kProd || kOp == RedOp::kAll) return T{1};
  return T{0};
}

template <typename T>
T Add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
T Mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// acc (op) x, with the per-element map of SumSquare / L1 / L2 applied to x.
template <RedOp kOp, typename T>
inline T Combine(T acc, T x) {
  if constexpr (kOp == RedOp::kMax) return acc < x ? x : acc;
  if constexpr (kOp == RedOp::kMin) return x < acc ? x : acc;
  if constexpr (kOp == RedOp::kProd) return Mul(acc, x);
  if constexpr (kOp == RedOp::kAll) return static_cast<T>(acc != 0 && x != 0);
  if constexpr (kOp == RedOp::kAny) return static_cast<T>(acc != 0 || x != 0);
  if constexpr (kOp == RedOp::kSumSquare || kOp == RedOp::kL2) return Add(acc, Mul(x, x));
  if constexpr (kOp == RedOp::kL1) return Add(acc, x < 0 ? Mul(T{-1}, x) : x);
  return Add(acc, x);  // kSum, kMean, kLogSum
}

template <RedOp kOp, typename T>
void RunReduce(const TensorView& in, absl::Span<const int64_t> keep_shape, int64_t count,
               const TensorView& out) {
  T* o = static_cast<T*>(out.data);
  const int64_t n_out = out.NumElements();
  std::fill_n(o, n_out, Identity<kOp, T>());
  const T* x = static_cast<const T*>(in.data);
  const int64_t n_in = in.NumElements();
  if (n_in > 0) {
    BroadcastPlan plan = MakeBroadcastPlan(in.dims, {keep_shape});
    const int r = static_cast<int>(plan.dims.size());
    const int64_t inner = plan.dims[r - 1];
    const int64_t so = plan.strides[0][r - 1];
    int64_t outer = 1;
    for (int d = 0; d < r - 1; ++d) outer *= plan.dims[d];
    Dims index(r, 0);
    int64_t off = 0;
    for (int64_t i = 0; i < outer; ++i) {
      const T* px = x + i * inner;
      if (so == 0) {
        T acc = o[off];
        for (int64_t j = 0; j < inner; ++j) acc = Combine<kOp, T>(acc, px[j]);
        o[off] = acc;
      } else {
        T* po = o + off;
        for (int64_t j = 0; j < inner; ++j) po[j] = Combine<kOp, T>(po[j], px[j]);
      }
      for (int d = r - 2; d >= 0; --d) {
        off += plan.strides[0][d];
        if (++index[d] < plan.dims[d]) break;
        off -= plan.strides[0][d] * plan.dims[d];
        index[d] = 0;
      }
    }
  }
  if constexpr (kOp == RedOp::kMean) {
    if (count > 0) {
      for (int64_t i = 0; i < n_out; ++i) o[i] = o[i] / static_cast<T>(count);
    }
  } else if constexpr (kOp == RedOp::kL2) {
    for (int64_t i = 0; i < n_out; ++i) o[i] = std::sqrt(o[i]);
  } else if constexpr (kOp == RedOp::kLogSum) {
    for (int64_t i = 0; i < n_out; ++i) o[i] = std::log(o[i]);
  }
}

struct ReduceOptions {
  bool tf = false;
  bool keepdims = false;
  bool noop_with_empty_axes = false;
  Dims attr_axes;
};

template <RedOp kOp>
class ReduceKernel : public OpKernel {
 public:
  explicit ReduceKernel(ReduceOptions options) : options_(std::move(options)) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, options_.tf ? 2 : 1, 2));
    const TensorView& x = ctx->input(0);
    Dims axes = options_.attr_axes;
    if (ctx->num_inputs() > 1 && ctx->input(1).present()) {
      RANKOPT_ASSIGN_OR_RETURN(axes, ReadIntTensor(node, ctx->input(1), "axes (input 1)"));
    }
    const bool is_int = x.dtype == DType::kInt32 || x.dtype == DType::kInt64;
    if (RedIsBool(kOp) ? x.dtype != DType::kBool
                       : !(x.dtype == DType::kFloat32 || (is_int && RedAllowsInt(kOp)))) {
      return DTypeError(
          node, 0, x,
          RedIsBool(kOp) ? "bool" : (RedAllowsInt(kOp) ? "float32/int32/int64" : "float32"));
    }
    const int rank = x.rank();
    absl::InlinedVector<bool, 8> reduced(rank, false);
    if (axes.empty()) {
      // No axes: ONNX reduces everything unless noop_with_empty_axes; TF reduces nothing.
      if (!options_.tf && !options_.noop_with_empty_axes) {
        std::fill(reduced.begin(), reduced.end(), true);
      }
    } else {
      for (int64_t a : axes) {
        RANKOPT_ASSIGN_OR_RETURN(int axis, NormalizeAxis(node, a, rank));
        reduced[axis] = true;
      }
    }
    Dims keep_shape(x.dims), out_dims;
    int64_t count = 1;
    for (int d = 0; d < rank; ++d) {
      if (reduced[d]) {
        count *= x.dims[d];
        keep_shape[d] = 1;
        if (options_.keepdims) out_dims.push_back(1);
      } else {
        out_dims.push_back(x.dims[d]);
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, out_dims));
    switch (x.dtype) {
      case DType::kFloat32:
        if constexpr (!RedIsBool(kOp)) RunReduce<kOp, float>(x, keep_shape, count, out);
        break;
      case DType::kInt32:
        if constexpr (RedAllowsInt(kOp)) RunReduce<kOp, int32_t>(x, keep_shape, count, out);
        break;
      case DType::kInt64:
        if constexpr (RedAllowsInt(kOp)) RunReduce<kOp, int64_t>(x, keep_shape, count, out);
        break;
      case DType::kBool:
        if constexpr (RedIsBool(kOp)) RunReduce<kOp, uint8_t>(x, keep_shape, count, out);
        break;
      default:
        break;
    }
    return absl::OkStatus();
  }

 private:
  ReduceOptions options_;
};

template <RedOp kOp>
KernelFactory Reduce(bool tf) {
  return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    ReduceOptions o;
    o.tf = tf;
    if (tf) {
      o.keepdims = AttrBool(node, "keep_dims", false);
    } else {
      o.keepdims = AttrInt(node, "keepdims", 1) != 0;
      o.noop_with_empty_axes = AttrInt(node, "noop_with_empty_axes", 0) != 0;
      if (const auto* axes = node.attrs.Get<std::vector<int64_t>>("axes")) {
        o.attr_axes.assign(axes->begin(), axes->end());
      }
    }
    return std::unique_ptr<OpKernel>(new ReduceKernel<kOp>(std::move(o)));
  };
}

// ArgMax / ArgMin along one axis; ties pick the first index (or the last with ONNX
// select_last_index = 1).
template <bool kMax>
class ArgKernel : public OpKernel {
 public:
  ArgKernel(bool tf, int64_t axis, bool keepdims, bool last, DType out_type)
      : tf_(tf), axis_(axis), keepdims_(keepdims), last_(last), out_type_(out_type) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, tf_ ? 2 : 1, tf_ ? 2 : 1));
    const TensorView& x = ctx->input(0);
    int64_t axis = axis_;
    if (tf_) {
      RANKOPT_ASSIGN_OR_RETURN(Dims v, ReadIntTensor(node, ctx->input(1), "dimension (input 1)"));
      if (v.size() != 1) return NodeError(node, "dimension (input 1) must hold one value");
      axis = v[0];
    }
    RANKOPT_ASSIGN_OR_RETURN(int a, NormalizeAxis(node, axis, x.rank()));
    if (x.dims[a] == 0) {
      return NodeError(node, "cannot take the arg", kMax ? "max" : "min", " over an empty axis ", a,
                       " of ", DescribeTensor(x));
    }
    Dims out_dims;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
      if (d < a) outer *= x.dims[d];
      if (d > a) inner *= x.dims[d];
      if (d != a) {
        out_dims.push_back(x.dims[d]);
      } else if (keepdims_) {
        out_dims.push_back(1);
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, out_type_, out_dims));
    switch (x.dtype) {
      case DType::kFloat32:
        Run<float>(x, a, outer, inner, out);
        break;
      case DType::kFloat64:
        Run<double>(x, a, outer, inner, out);
        break;
      case DType::kInt32:
        Run<int32_t>(x, a, outer, inner, out);
        break;
      case DType::kInt64:
        Run<int64_t>(x, a, outer, inner, out);
        break;
      default:
        return DTypeError(node, 0, x, "float32/float64/int32/int64");
    }
    return absl::OkStatus();
  }

 private:
  template <typename T>
  void Run(const TensorView& x, int a, int64_t outer, int64_t inner, const TensorView& out) const {
    const T* in = static_cast<const T*>(x.data);
    const int64_t n = x.dims[a];
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T* p = in + o * n * inner + i;
        T best = p[0];
        int64_t best_index = 0;
        for (int64_t k = 1; k < n; ++k) {
          const T v = p[k * inner];
          const bool better =
              kMax ? (v > best || (last_ && v == best)) : (v < best || (last_ && v == best));
          if (better) {
            best = v;
            best_index = k;
          }
        }
        const int64_t at = o * inner + i;
        if (out_type_ == DType::kInt32) {
          out.data_as<int32_t>()[at] = static_cast<int32_t>(best_index);
        } else {
          out.data_as<int64_t>()[at] = best_index;
        }
      }
    }
  }

  bool tf_;
  int64_t axis_;
  bool keepdims_;
  bool last_;
  DType out_type_;
};

template <bool kMax>
KernelFactory Arg(bool tf) {
  return [=](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *b.node;
    if (tf) {
      DType out_type = DType::kInt64;
      if (const DType* t = node.attrs.Get<DType>("output_type")) out_type = *t;
      if (out_type != DType::kInt64 && out_type != DType::kInt32) {
        return NodeError(node, "output_type ", DTypeName(out_type),
                         " is not supported (int32, int64)");
      }
      return std::unique_ptr<OpKernel>(new ArgKernel<kMax>(true, 0, false, false, out_type));
    }
    return std::unique_ptr<OpKernel>(
        new ArgKernel<kMax>(false, AttrInt(node, "axis", 0), AttrInt(node, "keepdims", 1) != 0,
                            AttrInt(node, "select_last_index", 0) != 0, DType::kInt64));
  };
}

}  // namespace

}  // namespace math_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void ReduceShape(const Node& n, ShapeContext* ctx, std::optional<Dims> axes, bool axes_known,
                 bool keep, bool empty_means_all) {
  const InferredTensor in = ctx->In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    ctx->Set(n, 0, in.dtype, Shape());
    return;
  }
  if (!axes_known || !axes) {
    ctx->Set(n, 0, in.dtype, keep ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  std::vector<bool> reduced(s.rank(), false);
  if (axes->empty()) {
    if (!empty_means_all) {
      ctx->Set(n, 0, in.dtype, s);
      return;
    }
    reduced.assign(s.rank(), true);
  }
  for (int64_t a : *axes) {
    std::optional<int> ax = NormalizeAxis(a, s.rank());
    if (!ax) {
      ctx->Set(n, 0, in.dtype, Shape());
      return;
    }
    reduced[*ax] = true;
  }
  Dims out;
  for (int i = 0; i < s.rank(); ++i) {
    if (!reduced[i]) {
      out.push_back(s.dim(i));
    } else if (keep) {
      out.push_back(1);
    }
  }
  ctx->Set(n, 0, in.dtype, Shape(std::move(out)));
}

// TF reductions: Sum/Mean/Max/Min/Prod/All/Any(input, axes; keep_dims).
void TfReduceShape(const Node& n, ShapeContext* ctx) {
  std::optional<Dims> axes = ctx->InInts(n, 1);
  ReduceShape(n, ctx, axes, axes.has_value(), AttrBool(n, "keep_dims", false), false);
}

// ONNX Reduce*: axes as an attribute (opset < 18) or an input; keepdims defaults to 1.
void OnnxReduceShape(const Node& n, ShapeContext* ctx) {
  const bool keep = AttrBool(n, "keepdims", true);
  const bool noop = AttrBool(n, "noop_with_empty_axes", false);
  if (n.attrs.Find("axes") != nullptr) {
    std::optional<Dims> axes = AttrInts(n, "axes");
    ReduceShape(n, ctx, axes, axes.has_value(), keep, true);
  } else if (ctx->HasInput(n, 1)) {
    std::optional<Dims> axes = ctx->InInts(n, 1);
    ReduceShape(n, ctx, axes, axes.has_value(), keep, !noop);
  } else {
    ReduceShape(n, ctx, Dims{}, true, keep, !noop);
  }
}

// Sum/Max/Min/Mean: variadic elementwise ops in ONNX, reductions in TF.
void SumMaxMinMeanShape(const Node& n, ShapeContext* ctx) {
  if (IsOnnxNode(n)) {
    ElementwiseShape(n, ctx, DType::kInvalid);
  } else {
    TfReduceShape(n, ctx);
  }
}

NodeFlops SumMaxMinMeanFlops(const Node& n, const ShapeMap& shapes) {
  return IsOnnxNode(n) ? flops::Elementwise(n, shapes) : flops::Reduction(n, shapes);
}

}  // namespace
}  // namespace shape_fn

namespace math_internal {
namespace {

// ONNX CumSum(x, axis; exclusive, reverse) and TF Cumsum (same inputs and attrs): running sums
// along `axis` in element order (from the end with reverse); exclusive leaves each element out
// of its own sum. float32/float64/int32/int64 (integers wrap).
class CumSumKernel : public OpKernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, 2));
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(Dims axis_values, ReadIntTensor(node, ctx->input(1), "axis"));
    if (axis_values.size() != 1 || ctx->input(1).rank() > 1) {
      return NodeError(node, "axis is ", DescribeTensor(ctx->input(1)), "; expected one integer");
    }
    if (x.rank() == 0) return NodeError(node, "input 0 is a scalar; expected rank >= 1");
    RANKOPT_ASSIGN_OR_RETURN(int axis, NormalizeAxis(node, axis_values[0], x.rank()));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, x.dtype, x.dims));
    const int64_t outer = std::accumulate(x.dims.begin(), x.dims.begin() + axis, int64_t{1},
                                          std::multiplies<int64_t>());
    const int64_t len = x.dims[axis];
    const int64_t inner = std::accumulate(x.dims.begin() + axis + 1, x.dims.end(), int64_t{1},
                                          std::multiplies<int64_t>());
    auto run = [&]<typename T, typename Acc>() {
      const T* in = x.data_as<T>();
      T* o = out.data_as<T>();
      for (int64_t a = 0; a < outer; ++a) {
        for (int64_t c = 0; c < inner; ++c) {
          Acc sum = 0;
          for (int64_t k = 0; k < len; ++k) {
            const int64_t j = reverse_ ? len - 1 - k : k;
            const int64_t at = (a * len + j) * inner + c;
            const Acc v = static_cast<Acc>(in[at]);
            if (exclusive_) {
              o[at] = static_cast<T>(sum);
              sum = Add(sum, v);
            } else {
              sum = Add(sum, v);
              o[at] = static_cast<T>(sum);
            }
          }
        }
      }
    };
    switch (x.dtype) {
      case DType::kFloat32:
        run.template operator()<float, float>();
        break;
      case DType::kFloat64:
        run.template operator()<double, double>();
        break;
      case DType::kInt32:
        run.template operator()<int32_t, uint32_t>();
        break;
      case DType::kInt64:
        run.template operator()<int64_t, uint64_t>();
        break;
      default:
        return DTypeError(node, 0, x, "float32/float64/int32/int64");
    }
    return absl::OkStatus();
  }

 private:
  // Unsigned accumulators wrap (defined); floats add.
  template <typename Acc>
  static Acc Add(Acc a, Acc b) {
    return a + b;
  }

  bool exclusive_, reverse_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeCumSum(const KernelBuildContext& b) {
  return std::unique_ptr<OpKernel>(
      new CumSumKernel(AttrInt(*b.node, "exclusive", 0) != 0, AttrInt(*b.node, "reverse", 0) != 0));
}

}  // namespace

absl::Status RegisterReduceKernels(KernelRegistry* r) {
  for (const char* op : {"Sum", "Max", "Min", "Mean"}) {
    RANKOPT_RETURN_IF_ERROR(
        r->RegisterOpInfo(op, {shape_fn::SumMaxMinMeanShape, shape_fn::SumMaxMinMeanFlops}));
  }
  for (const char* op : {"CumSum", "Cumsum"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::UnaryShape, flops::Elementwise}));
  }
  for (const char* op : {"Prod", "All", "Any"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::TfReduceShape, flops::Reduction}));
  }
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::OnnxReduceShape, flops::Reduction}));
  }
  constexpr OpSet kTf = OpSet::kTensorFlow;
  constexpr OpSet kOnnx = OpSet::kOnnx;
  struct Entry {
    OpSet set;
    const char* op;
    KernelFactory factory;
  };
  const Entry entries[] = {
      {kOnnx, "ReduceSum", Reduce<RedOp::kSum>(false)},
      {kOnnx, "ReduceMean", Reduce<RedOp::kMean>(false)},
      {kOnnx, "ReduceMax", Reduce<RedOp::kMax>(false)},
      {kOnnx, "ReduceMin", Reduce<RedOp::kMin>(false)},
      {kOnnx, "ReduceProd", Reduce<RedOp::kProd>(false)},
      {kOnnx, "ReduceSumSquare", Reduce<RedOp::kSumSquare>(false)},
      {kOnnx, "ReduceL1", Reduce<RedOp::kL1>(false)},
      {kOnnx, "ReduceL2", Reduce<RedOp::kL2>(false)},
      {kOnnx, "ReduceLogSum", Reduce<RedOp::kLogSum>(false)},
      {kOnnx, "ArgMax", Arg<true>(false)},
      {kOnnx, "ArgMin", Arg<false>(false)},
      {kTf, "Sum", Reduce<RedOp::kSum>(true)},
      {kTf, "Mean", Reduce<RedOp::kMean>(true)},
      {kTf, "Max", Reduce<RedOp::kMax>(true)},
      {kTf, "Min", Reduce<RedOp::kMin>(true)},
      {kTf, "Prod", Reduce<RedOp::kProd>(true)},
      {kTf, "All", Reduce<RedOp::kAll>(true)},
      {kTf, "Any", Reduce<RedOp::kAny>(true)},
      {kTf, "ArgMax", Arg<true>(true)},
      {kTf, "ArgMin", Arg<false>(true)},
      {kOnnx, "CumSum", MakeCumSum},
      {kTf, "Cumsum", MakeCumSum},
  };
  for (const Entry& e : entries) RANKOPT_RETURN_IF_ERROR(r->Register(e.set, e.op, e.factory));
  return absl::OkStatus();
}

}  // namespace math_internal
}  // namespace rankopt
