// MatMul family: ONNX MatMul (numpy semantics) and Gemm, TF MatMul and BatchMatMul/V2/V3.
// float32: every product runs through the deterministic GemmF32 (gemm.h), so a row of the result
// is bitwise the same whatever the batch size. A constant B is packed at build. float64 2-D
// products (no Gemm) take a plain loop.
#include <cstring>
#include <memory>
#include <vector>

#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

struct MatMulOptions {
  bool trans_a = false;
  bool trans_b = false;
  bool numpy_vectors = false;  // ONNX MatMul: 1-D operands are promoted and the dim removed
  bool require_2d = false;     // TF MatMul, ONNX Gemm
  bool same_batch = false;     // TF BatchMatMul (v1): batch dims must match exactly
  bool gemm = false;           // ONNX Gemm: alpha * AB + beta * C
  float alpha = 1.0f;
  float beta = 1.0f;
};

// Shapes of one call, resolved from the input dims.
struct MatMulShape {
  int64_t m = 0, n = 0, k = 0;
  Dims a_batch, b_batch, out_batch;
  Dims out_dims;
};

class MatMulKernel : public OpKernel {
 public:
  explicit MatMulKernel(const MatMulOptions& options) : options_(options) {}

  // Packs a constant float32 B (every batch matrix) once.
  absl::Status PackConstantB(const Node& node, const Tensor& b) {
    if (b.dtype() != DType::kFloat32 || b.dims().empty()) return absl::OkStatus();
    const std::vector<int64_t>& d = b.dims();
    int64_t rows, cols;  // B as stored: [rows, cols] per batch matrix
    if (d.size() == 1) {
      if (!options_.numpy_vectors) return absl::OkStatus();
      rows = d[0];
      cols = 1;
    } else {
      rows = d[d.size() - 2];
      cols = d[d.size() - 1];
    }
    const int64_t k = options_.trans_b && d.size() > 1 ? cols : rows;
    const int64_t n = options_.trans_b && d.size() > 1 ? rows : cols;
    const int64_t count = rows * cols == 0 ? 0 : b.num_elements() / (rows * cols);
    const float* data = b.values<float>().data();
    packed_dims_.assign(d.begin(), d.end());
    for (int64_t i = 0; i < count; ++i) {
      const float* mat = data + i * rows * cols;
      packed_.push_back(options_.trans_b && d.size() > 1 ? PackGemmB(mat, k, n, 1, cols)
                                                         : PackGemmB(mat, k, n, cols, 1));
    }
    return absl::OkStatus();
  }

  // float64 2-D products (BigQuery ML's exported logistic regressions): the plain triple loop,
  // accumulated in double in k order.
  absl::Status ComputeF64(KernelContext* ctx, const TensorView& a, const TensorView& b) const {
    const Node& node = ctx->node();
    if (a.rank() != 2 || b.rank() != 2) {
      return NodeError(node, "float64 MatMul takes 2-D operands, got ", DescribeTensor(a), " and ",
                       DescribeTensor(b));
    }
    const int64_t m = options_.trans_a ? a.dims[1] : a.dims[0];
    const int64_t k = options_.trans_a ? a.dims[0] : a.dims[1];
    const int64_t kb = options_.trans_b ? b.dims[1] : b.dims[0];
    const int64_t n = options_.trans_b ? b.dims[0] : b.dims[1];
    if (k != kb) {
      return NodeError(node, "inner dimensions differ: ", DescribeTensor(a), " x ",
                       DescribeTensor(b));
    }
    const int64_t dims[2] = {m, n};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat64, dims));
    const double* x = a.data_as<const double>();
    const double* w = b.data_as<const double>();
    double* y = out.data_as<double>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += x[options_.trans_a ? p * m + i : i * k + p] *
                 w[options_.trans_b ? j * k + p : p * n + j];
        }
        y[i * n + j] = acc;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 2, options_.gemm ? 3 : 2));
    const TensorView& a = ctx->input(0);
    const TensorView& b = ctx->input(1);
    if (a.dtype == DType::kFloat64 && b.dtype == DType::kFloat64 && !options_.gemm) {
      return ComputeF64(ctx, a, b);
    }
    if (a.dtype != DType::kFloat32) return DTypeError(node, 0, a, "float32");
    if (b.dtype != DType::kFloat32) return DTypeError(node, 1, b, "float32");
    RANKOPT_ASSIGN_OR_RETURN(MatMulShape s, ResolveShape(node, a, b));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, s.out_dims));
    const TensorView* c = nullptr;
    if (options_.gemm && ctx->num_inputs() > 2 && ctx->input(2).present()) {
      c = &ctx->input(2);
      RANKOPT_RETURN_IF_ERROR(CheckGemmC(node, *c, s.m, s.n));
    }
    if (out.NumElements() == 0) return absl::OkStatus();

    float* y = out.data_as<float>();
    const float* a_data = a.data_as<float>();
    const float* b_data = b.data_as<float>();
    const int64_t a_rs = options_.trans_a ? 1 : s.k;
    const int64_t a_cs = options_.trans_a ? s.m : 1;
    const bool use_packed = !packed_.empty() && b.dims == packed_dims_;
    // Bias fast path: Gemm with alpha = beta = 1 and C of shape [N] / [1,N] (same bits as the
    // epilogue below: acc + c).
    const float* bias = nullptr;
    if (c != nullptr && options_.alpha == 1.0f && options_.beta == 1.0f &&
        c->NumElements() == s.n && (c->rank() == 1 || (c->rank() == 2 && c->dims[0] == 1)) &&
        s.n != 1) {
      bias = c->data_as<float>();
    }

    int64_t b_count = 1;
    for (int64_t d : s.b_batch) b_count *= d;
    int64_t out_count = 1;
    for (int64_t d : s.out_batch) out_count *= d;
    float* scratch = nullptr;
    if (!use_packed && options_.trans_b) {
      RANKOPT_ASSIGN_OR_RETURN(
          void* p,
          ctx->AllocateScratch(static_cast<size_t>(PackedGemmBSize(s.k, s.n) * sizeof(float))));
      scratch = static_cast<float*>(p);
    }
    auto b_view = [&](int64_t index) -> GemmB {
      if (use_packed) return GemmBFromPacked(packed_[index]);
      const float* mat = b_data + index * s.k * s.n;
      if (!options_.trans_b) return GemmBFromRowMajor(mat, s.n);
      PackGemmBInto(mat, s.k, s.n, 1, s.k, scratch);
      return GemmBFromPackedData(scratch, s.k);
    };

    if (b_count == 1 && !options_.trans_a) {
      // One B for every batch: fold the batch into M (DIN's [B,50,128] x [128,80]).
      GemmF32(out_count * s.m, s.n, s.k, a_data, a_rs, a_cs, b_view(0), bias, y, s.n);
    } else {
      BroadcastPlan plan = MakeBroadcastPlan(s.out_batch, {s.a_batch, s.b_batch});
      const int r = static_cast<int>(plan.dims.size());
      Dims index(r, 0);
      int64_t ia = 0, ib = 0;
      for (int64_t o = 0; o < out_count; ++o) {
        GemmF32(s.m, s.n, s.k, a_data + ia * s.m * s.k, a_rs, a_cs, b_view(ib), bias,
                y + o * s.m * s.n, s.n);
        for (int d = r - 1; d >= 0; --d) {
          ia += plan.strides[0][d];
          ib += plan.strides[1][d];
          if (++index[d] < plan.dims[d]) break;
          ia -= plan.strides[0][d] * plan.dims[d];
          ib -= plan.strides[1][d] * plan.dims[d];
          index[d] = 0;
        }
      }
    }
    if (options_.gemm && bias == nullptr) Epilogue(c, s.m, s.n, y);
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<MatMulShape> ResolveShape(const Node& node, const TensorView& a,
                                           const TensorView& b) const {
    MatMulShape s;
    const bool a_vec = a.rank() == 1 && options_.numpy_vectors;
    const bool b_vec = b.rank() == 1 && options_.numpy_vectors;
    const int min_rank = options_.numpy_vectors ? 1 : 2;
    if (a.rank() < min_rank || b.rank() < min_rank ||
        (options_.require_2d && (a.rank() != 2 || b.rank() != 2))) {
      return NodeError(
          node, "inputs are ", DescribeTensor(a), " and ", DescribeTensor(b), ", expected ",
          options_.require_2d ? "two matrices (rank 2)" : "rank >= 2 (or 1-D vectors)");
    }
    Dims ad = a.dims, bd = b.dims;
    if (a_vec) ad.insert(ad.begin(), 1);  // [K] -> [1,K]
    if (b_vec) bd.push_back(1);           // [K] -> [K,1]
    const size_t ar = ad.size(), br = bd.size();
    s.m = options_.trans_a ? ad[ar - 1] : ad[ar - 2];
    s.k = options_.trans_a ? ad[ar - 2] : ad[ar - 1];
    const int64_t kb = options_.trans_b ? bd[br - 1] : bd[br - 2];
    s.n = options_.trans_b ? bd[br - 2] : bd[br - 1];
    if (s.k != kb) {
      return NodeError(node, "inner dimensions differ: A ", DescribeTensor(a),
                       options_.trans_a ? " (transposed)" : "", " has K = ", s.k, ", B ",
                       DescribeTensor(b), options_.trans_b ? " (transposed)" : "", " has K = ", kb);
    }
    s.a_batch.assign(ad.begin(), ad.end() - 2);
    s.b_batch.assign(bd.begin(), bd.end() - 2);
    if (options_.same_batch && s.a_batch != s.b_batch) {
      return NodeError(node, "batch dims differ: ", DescribeTensor(a), " vs ", DescribeTensor(b),
                       " (BatchMatMul requires equal batch dims)");
    }
    RANKOPT_ASSIGN_OR_RETURN(s.out_batch, BroadcastDims(node, s.a_batch, s.b_batch));
    s.out_dims = s.out_batch;
    if (!a_vec) s.out_dims.push_back(s.m);
    if (!b_vec) s.out_dims.push_back(s.n);
    return s;
  }

  absl::Status CheckGemmC(const Node& node, const TensorView& c, int64_t m, int64_t n) const {
    if (c.dtype != DType::kFloat32) return DTypeError(node, 2, c, "float32");
    const int64_t cm = c.rank() == 2 ? c.dims[0] : 1;
    const int64_t cn = c.rank() >= 1 ? c.dims[c.rank() - 1] : 1;
    if (c.rank() > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n)) {
      return NodeError(node, "C is ", DescribeTensor(c), ", expected a shape that broadcasts to [",
                       m, ",", n, "]");
    }
    return absl::OkStatus();
  }

  // y = alpha * y + beta * C (C broadcast to [m, n]).
  void Epilogue(const TensorView* c, int64_t m, int64_t n, float* y) const {
    const float alpha = options_.alpha, beta = options_.beta;
    if (alpha != 1.0f) {
      for (int64_t i = 0; i < m * n; ++i) y[i] *= alpha;
    }
    if (c == nullptr || beta == 0.0f) return;
    const float* cd = c->data_as<float>();
    const int64_t cm = c->rank() == 2 ? c->dims[0] : 1;
    const int64_t cn = c->rank() >= 1 ? c->dims[c->rank() - 1] : 1;
    for (int64_t i = 0; i < m; ++i) {
      const float* crow = cd + (cm == 1 ? 0 : i * cn);
      float* yrow = y + i * n;
      for (int64_t j = 0; j < n; ++j) {
        const float cv = crow[cn == 1 ? 0 : j];
        yrow[j] += beta == 1.0f ? cv : beta * cv;
      }
    }
  }

  MatMulOptions options_;
  std::vector<PackedB> packed_;
  Dims packed_dims_;
};

KernelFactory MatMulFactory(MatMulOptions base, const char* trans_a_attr,
                            const char* trans_b_attr) {
  return [=](const KernelBuildContext& build) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const Node& node = *build.node;
    MatMulOptions options = base;
    if (trans_a_attr != nullptr) options.trans_a = AttrBool(node, trans_a_attr, false);
    if (trans_b_attr != nullptr) options.trans_b = AttrBool(node, trans_b_attr, false);
    if (options.gemm) {
      options.alpha = AttrFloat(node, "alpha", 1.0f);
      options.beta = AttrFloat(node, "beta", 1.0f);
    }
    auto kernel = std::make_unique<MatMulKernel>(options);
    if (build.constant_inputs.size() > 1 && build.constant_inputs[1] != nullptr) {
      RANKOPT_RETURN_IF_ERROR(kernel->PackConstantB(node, *build.constant_inputs[1]));
    }
    return std::unique_ptr<OpKernel>(std::move(kernel));
  };
}

}  // namespace

}  // namespace math_internal

namespace shape_fn {
namespace {

// Shape functions and FLOP counts, registered with the kernels below.

void MatMulShape(const Node& n, ShapeContext* ctx, bool ta, bool tb) {
  const Shape a = ctx->In(n, 0).shape;
  const Shape b = ctx->In(n, 1).shape;
  DType dtype = n.op == "BatchMatMulV3" ? AttrDType(n, "Tout") : DType::kInvalid;
  if (dtype == DType::kInvalid) dtype = ctx->InDType(n, 0);
  if (!a.known_rank() || !b.known_rank() || a.rank() == 0 || b.rank() == 0) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims ad = a.dims(), bd = b.dims();
  const bool drop_m = ad.size() == 1, drop_n = bd.size() == 1;
  if (drop_m) ad.insert(ad.begin(), 1);
  if (drop_n) bd.push_back(1);
  const size_t ra = ad.size(), rb = bd.size();
  const int64_t m = ta ? ad[ra - 1] : ad[ra - 2];
  const int64_t ka = ta ? ad[ra - 2] : ad[ra - 1];
  const int64_t kb = tb ? bd[rb - 1] : bd[rb - 2];
  const int64_t nn = tb ? bd[rb - 2] : bd[rb - 1];
  if (ka >= 0 && kb >= 0 && ka != kb) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Shape batch =
      Broadcast(Shape(Dims(ad.begin(), ad.end() - 2)), Shape(Dims(bd.begin(), bd.end() - 2)));
  if (!batch.known_rank()) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = batch.dims();
  if (!drop_m) out.push_back(m);
  if (!drop_n) out.push_back(nn);
  ctx->Set(n, 0, dtype, Shape(std::move(out)));
}

void GemmShape(const Node& n, ShapeContext* ctx) {
  const Shape a = ctx->In(n, 0).shape;
  const Shape b = ctx->In(n, 1).shape;
  const DType dtype = ctx->InDType(n, 0);
  if (!a.known_rank() || !b.known_rank() || a.rank() != 2 || b.rank() != 2) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  const bool ta = AttrBool(n, "transA", false), tb = AttrBool(n, "transB", false);
  const int64_t ka = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0);
  if (ka >= 0 && kb >= 0 && ka != kb) {
    ctx->Set(n, 0, dtype, Shape());
    return;
  }
  ctx->Set(n, 0, dtype, Shape({ta ? a.dim(1) : a.dim(0), tb ? b.dim(0) : b.dim(1)}));
}

void MatMulOpShape(const Node& n, ShapeContext* ctx) {
  if (n.op == "MatMul") {
    MatMulShape(n, ctx, AttrBool(n, "transpose_a", false), AttrBool(n, "transpose_b", false));
  } else {
    MatMulShape(n, ctx, AttrBool(n, "adj_x", false), AttrBool(n, "adj_y", false));
  }
}

// 2*M*K*N.
NodeFlops MatMulFlops(const Node& node, const ShapeMap& shapes) {
  const bool ta = flops::AttrTrue(node, node.op == "MatMul" ? "transpose_a" : "adj_x");
  return flops::Counted(
      flops::Mul(2, flops::Mul(flops::ContractingDim(flops::InputShape(node, 0, shapes), ta),
                               flops::OutputElements(node, shapes))));
}

// 2*M*K*N, plus M*N when C is given.
NodeFlops GemmFlops(const Node& node, const ShapeMap& shapes) {
  const Shape& a = flops::InputShape(node, 0, shapes);
  if (!a.known_rank() || a.rank() != 2) return NodeFlops{};
  const std::optional<int64_t> out_elems = flops::OutputElements(node, shapes);
  std::optional<int64_t> f = flops::Mul(
      2, flops::Mul(flops::ContractingDim(a, flops::AttrTrue(node, "transA")), out_elems));
  const bool has_c = node.inputs.size() > 2 && !node.inputs[2].empty();
  return flops::Counted(has_c ? flops::Add(f, out_elems) : f);
}

}  // namespace
}  // namespace shape_fn

namespace math_internal {

absl::Status RegisterMatMulKernels(KernelRegistry* r) {
  for (const char* op : {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"}) {
    RANKOPT_RETURN_IF_ERROR(
        r->RegisterOpInfo(op, {shape_fn::MatMulOpShape, shape_fn::MatMulFlops}));
  }
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Gemm", {shape_fn::GemmShape, shape_fn::GemmFlops}));
  MatMulOptions onnx_matmul;
  onnx_matmul.numpy_vectors = true;
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kOnnx, "MatMul", MatMulFactory(onnx_matmul, nullptr, nullptr)));
  MatMulOptions gemm;
  gemm.require_2d = true;
  gemm.gemm = true;
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kOnnx, "Gemm", MatMulFactory(gemm, "transA", "transB")));
  MatMulOptions tf_matmul;
  tf_matmul.require_2d = true;
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kTensorFlow, "MatMul",
                                      MatMulFactory(tf_matmul, "transpose_a", "transpose_b")));
  MatMulOptions bmm_v1;
  bmm_v1.same_batch = true;
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kTensorFlow, "BatchMatMul", MatMulFactory(bmm_v1, "adj_x", "adj_y")));
  MatMulOptions bmm;
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kTensorFlow, "BatchMatMulV2", MatMulFactory(bmm, "adj_x", "adj_y")));
  RANKOPT_RETURN_IF_ERROR(
      r->Register(OpSet::kTensorFlow, "BatchMatMulV3", MatMulFactory(bmm, "adj_x", "adj_y")));
  return absl::OkStatus();
}

}  // namespace math_internal
}  // namespace rankopt
