// ONNX GRU (opsets 7 and 14: inputs X, W, R, optional B, sequence_lens, initial_h; attributes
// hidden_size, direction, linear_before_reset, layout; float32).
//
// Semantics, per direction d (W, R, B of that direction; gates in ONNX order z, r, h), per
// batch row b of length L_b (sequence_lens, default seq_length), at the steps t of that row in
// processing order (forward: 0 .. L_b-1; reverse: L_b-1 .. 0), from H = initial_h (default 0):
//   z = sigmoid(x_t Wz' + H Rz' + Wbz + Rbz)
//   r = sigmoid(x_t Wr' + H Rr' + Wbr + Rbr)
//   n = tanh(x_t Wh' + (r * H) Rh' + Rbh + Wbh)         linear_before_reset = 0
//   n = tanh(x_t Wh' + r * (H Rh' + Rbh) + Wbh)         linear_before_reset = 1 (PyTorch)
//   H = (1 - z) * n + z * H;   Y[t, d, b] = H
// Y[t, d, b] = 0 for t >= L_b, and Y_h[d, b] is the last H (initial_h when L_b = 0). Layout 0:
// X [seq, batch, input], Y [seq, dirs, batch, hidden], initial_h / Y_h [dirs, batch, hidden];
// layout 1 puts batch first in all of them. Only the default activations (Sigmoid, Tanh) and no
// clip are supported; anything else is an error naming the node.
//
// The input projection of every step is one GEMM (GemmF32, gemm.h) with the W bias and the
// r/z halves of the R bias folded in; each step is then one GEMM h R' per direction, and the
// gates go through the vectorized sigmoid (vector_math.h); tanh(x) = 2 sigmoid(2x) - 1 (its
// absolute error is a few float ulps of 1). Constant W and R are packed once at load.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/nn_kernels.h"
#include "graph/kernels/math/vector_math.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace nn_internal {
namespace {

using math_internal::AttrInt;
using math_internal::AttrString;
using math_internal::CheckInputCount;
using math_internal::DTypeError;
using math_internal::NodeError;

// The attributes of one GRU node, read and checked once at load.
struct GruAttrs {
  int64_t hidden = -1;  // -1: from R
  int dirs = 1;
  bool reverse = false;  // forward-only or reverse-only
  bool linear_before_reset = false;
  bool batch_first = false;  // layout 1
};

absl::StatusOr<GruAttrs> ReadGruAttrs(const Node& node) {
  GruAttrs a;
  const std::string direction = AttrString(node, "direction", "forward");
  if (direction == "bidirectional") {
    a.dirs = 2;
  } else if (direction == "reverse") {
    a.reverse = true;
  } else if (direction != "forward") {
    return NodeError(node, "direction '", direction,
                     "' is not one of forward, reverse, bidirectional");
  }
  a.hidden = AttrInt(node, "hidden_size", -1);
  if (node.attrs.Find("hidden_size") != nullptr && a.hidden <= 0) {
    return NodeError(node, "hidden_size ", a.hidden, " must be positive");
  }
  const int64_t lbr = AttrInt(node, "linear_before_reset", 0);
  if (lbr != 0 && lbr != 1) return NodeError(node, "linear_before_reset ", lbr, " must be 0 or 1");
  a.linear_before_reset = lbr == 1;
  const int64_t layout = AttrInt(node, "layout", 0);
  if (layout != 0 && layout != 1) return NodeError(node, "layout ", layout, " must be 0 or 1");
  a.batch_first = layout == 1;
  if (const auto* acts = node.attrs.Get<std::vector<std::string>>("activations")) {
    std::vector<std::string> expected;
    for (int d = 0; d < a.dirs; ++d) expected.insert(expected.end(), {"Sigmoid", "Tanh"});
    if (*acts != expected) {
      return NodeError(node, "activations [", absl::StrJoin(*acts, ", "),
                       "] are not supported: only the defaults [", absl::StrJoin(expected, ", "),
                       "] (drop the attribute or export with the default activations)");
    }
  } else if (node.attrs.Find("activations") != nullptr) {
    return NodeError(node, "attribute activations must be a list of strings");
  }
  for (const char* name : {"activation_alpha", "activation_beta", "clip"}) {
    if (node.attrs.Find(name) != nullptr) {
      return NodeError(node, "attribute ", name,
                       " is not supported (only the default Sigmoid/Tanh activations without "
                       "clip)");
    }
  }
  return a;
}

// Input size and hidden size, checked against W [dirs, 3H, I], R [dirs, 3H, H], B [dirs, 6H].
struct GruGeometry {
  int64_t input = 0, hidden = 0;
};

absl::StatusOr<GruGeometry> CheckWeights(const Node& node, const GruAttrs& a, const TensorView& w,
                                         const TensorView& r, const TensorView* b) {
  if (w.dtype != DType::kFloat32) return DTypeError(node, 1, w, "float32");
  if (r.dtype != DType::kFloat32) return DTypeError(node, 2, r, "float32");
  if (r.rank() != 3 || r.dims[0] != a.dirs || r.dims[2] <= 0 || r.dims[1] != 3 * r.dims[2]) {
    return NodeError(node, "R (input 2) ", DescribeTensor(r), " must be [", a.dirs,
                     ", 3*hidden_size, hidden_size] with hidden_size > 0");
  }
  GruGeometry g;
  g.hidden = r.dims[2];
  if (a.hidden > 0 && a.hidden != g.hidden) {
    return NodeError(node, "hidden_size ", a.hidden, " does not match R (input 2) ",
                     DescribeTensor(r));
  }
  if (w.rank() != 3 || w.dims[0] != a.dirs || w.dims[1] != 3 * g.hidden || w.dims[2] <= 0) {
    return NodeError(node, "W (input 1) ", DescribeTensor(w), " must be [", a.dirs, ", ",
                     3 * g.hidden, ", input_size] with input_size > 0");
  }
  g.input = w.dims[2];
  if (b != nullptr) {
    if (b->dtype != DType::kFloat32) return DTypeError(node, 3, *b, "float32");
    if (b->rank() != 2 || b->dims[0] != a.dirs || b->dims[1] != 6 * g.hidden) {
      return NodeError(node, "B (input 3) ", DescribeTensor(*b), " must be [", a.dirs, ", ",
                       6 * g.hidden, "]");
    }
  }
  return g;
}

// One direction's weights as the GEMMs read them: W' [I, 3H], R' split into its z/r half
// [H, 2H] and its h part [H, H]; the input-projection bias (Wb, plus Rb for z and r, plus Rbh
// when linear_before_reset = 0) and the h-part bias (Rbh when linear_before_reset = 1).
struct DirWeights {
  GemmB w, rzr, rh;
  const float* xbias = nullptr;
  const float* hbias = nullptr;  // null when linear_before_reset = 0
};

// Floats PackDirection writes for one direction.
int64_t PackedFloats(const GruGeometry& g) {
  const int64_t h = g.hidden;
  return PackedGemmBSize(g.input, 3 * h) + PackedGemmBSize(h, 2 * h) + PackedGemmBSize(h, h) +
         3 * h + h;
}

// The views of one direction's packed block at `p` (PackedFloats(g) floats).
DirWeights ViewDirection(const GruGeometry& g, bool lbr, const float* p) {
  const int64_t h = g.hidden, in = g.input;
  DirWeights out;
  out.w = GemmBFromPackedData(p, in);
  p += PackedGemmBSize(in, 3 * h);
  out.rzr = GemmBFromPackedData(p, h);
  p += PackedGemmBSize(h, 2 * h);
  out.rh = GemmBFromPackedData(p, h);
  p += PackedGemmBSize(h, h);
  out.xbias = p;
  out.hbias = lbr ? p + 3 * h : nullptr;
  return out;
}

// Packs direction d of w, r, b (b may be null) into `dst` (PackedFloats(g) floats).
DirWeights PackDirection(const GruGeometry& g, bool lbr, int d, const float* w, const float* r,
                         const float* b, float* dst) {
  const int64_t h = g.hidden, in = g.input;
  const float* wd = w + d * 3 * h * in;
  const float* rd = r + d * 3 * h * h;
  float* p = dst;
  PackGemmBInto(wd, in, 3 * h, 1, in, p);
  p += PackedGemmBSize(in, 3 * h);
  PackGemmBInto(rd, h, 2 * h, 1, h, p);
  p += PackedGemmBSize(h, 2 * h);
  PackGemmBInto(rd + 2 * h * h, h, h, 1, h, p);
  p += PackedGemmBSize(h, h);
  float* xbias = p;
  float* hbias = p + 3 * h;
  std::fill_n(xbias, 4 * h, 0.0f);
  if (b != nullptr) {
    const float* wb = b + d * 6 * h;
    const float* rb = wb + 3 * h;
    for (int64_t j = 0; j < 2 * h; ++j) xbias[j] = wb[j] + rb[j];
    for (int64_t j = 2 * h; j < 3 * h; ++j) xbias[j] = lbr ? wb[j] : wb[j] + rb[j];
    if (lbr) std::memcpy(hbias, rb + 2 * h, sizeof(float) * h);
  }
  return ViewDirection(g, lbr, dst);
}

class GruKernel : public OpKernel {
 public:
  GruKernel(GruAttrs attrs, std::optional<GruGeometry> geometry, std::vector<float> packed)
      : a_(attrs), geometry_(geometry), packed_(std::move(packed)) {
    if (geometry_.has_value()) {
      for (int d = 0; d < a_.dirs; ++d) {
        dir_[d] = ViewDirection(*geometry_, a_.linear_before_reset,
                                packed_.data() + d * PackedFloats(*geometry_));
      }
    }
  }

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 3, 6));
    const TensorView& x = ctx->input(0);
    if (x.dtype != DType::kFloat32) return DTypeError(node, 0, x, "float32");
    auto optional_input = [&](int i) -> const TensorView* {
      return ctx->num_inputs() > i && ctx->input(i).present() ? &ctx->input(i) : nullptr;
    };
    const TensorView* b = optional_input(3);
    GruGeometry g;
    if (geometry_.has_value()) {
      g = *geometry_;
    } else {
      RANKOPT_ASSIGN_OR_RETURN(g, CheckWeights(node, a_, ctx->input(1), ctx->input(2), b));
    }
    if (x.rank() != 3 || x.dims[2] != g.input) {
      return NodeError(node, "X (input 0) ", DescribeTensor(x), " must be [",
                       a_.batch_first ? "batch, seq_length, " : "seq_length, batch, ", g.input,
                       "] (input_size from W)");
    }
    const int64_t seq = a_.batch_first ? x.dims[1] : x.dims[0];
    const int64_t batch = a_.batch_first ? x.dims[0] : x.dims[1];
    const int64_t h = g.hidden;
    const int dirs = a_.dirs;

    const TensorView* lens_t = optional_input(4);
    const TensorView* init = optional_input(5);
    if (lens_t != nullptr) {
      if (lens_t->dtype != DType::kInt32 && lens_t->dtype != DType::kInt64) {
        return DTypeError(node, 4, *lens_t, "int32/int64");
      }
      if (lens_t->rank() != 1 || lens_t->dims[0] != batch) {
        return NodeError(node, "sequence_lens (input 4) ", DescribeTensor(*lens_t), " must be [",
                         batch, "] (the batch of X ", DescribeTensor(x), ")");
      }
    }
    if (init != nullptr) {
      if (init->dtype != DType::kFloat32) return DTypeError(node, 5, *init, "float32");
      const Dims want = a_.batch_first ? Dims{batch, dirs, h} : Dims{dirs, batch, h};
      if (init->dims != want) {
        return NodeError(node, "initial_h (input 5) ", DescribeTensor(*init), " must be [",
                         DimsString(want), "]");
      }
    }

    // Scratch: row lengths; per run packed weights when not constant; the input projection of
    // one direction [seq*batch, 3H]; h R'zr [batch, 2H]; the h-part GEMM input and output and
    // the candidate [batch, H] each; the state [batch, H].
    const int64_t rows = seq * batch;
    const int64_t packed_floats = geometry_.has_value() ? 0 : PackedFloats(g) * dirs;
    // An ONNX node that lists only Y has no output 1: Y_h then goes to scratch.
    const bool has_y_h = node.output_names.empty() || node.output_names.size() > 1;
    const int64_t floats = packed_floats + rows * 3 * h + batch * 2 * h + 4 * batch * h +
                           (has_y_h ? 0 : dirs * batch * h);
    RANKOPT_ASSIGN_OR_RETURN(void* scratch, ctx->AllocateScratch(sizeof(int64_t) * (batch + 1) +
                                                                 sizeof(float) * floats));
    int64_t* lens = static_cast<int64_t*>(scratch);
    float* fp = reinterpret_cast<float*>(lens + batch + 1);
    int64_t max_len = 0, min_len = seq;
    for (int64_t i = 0; i < batch; ++i) {
      int64_t len = seq;
      if (lens_t != nullptr) {
        len = lens_t->dtype == DType::kInt32 ? lens_t->data_as<int32_t>()[i]
                                             : lens_t->data_as<int64_t>()[i];
        if (len < 0 || len > seq) {
          return NodeError(node, "sequence_lens[", i, "] = ", len, " is outside [0, ", seq,
                           "] (seq_length of X ", DescribeTensor(x), ")");
        }
      }
      lens[i] = len;
      max_len = std::max(max_len, len);
      min_len = std::min(min_len, len);
    }
    DirWeights dir[2];
    if (geometry_.has_value()) {
      dir[0] = dir_[0];
      dir[1] = dir_[1];
    } else {
      const float* wd = static_cast<const float*>(ctx->input(1).data);
      const float* rd = static_cast<const float*>(ctx->input(2).data);
      const float* bd = b != nullptr ? static_cast<const float*>(b->data) : nullptr;
      for (int d = 0; d < dirs; ++d) {
        dir[d] = PackDirection(g, a_.linear_before_reset, d, wd, rd, bd, fp);
        fp += PackedFloats(g);
      }
    }
    float* proj = fp;
    float* hzr = proj + rows * 3 * h;
    float* hh = hzr + batch * 2 * h;
    float* gate_in = hh + batch * h;
    float* cand = gate_in + batch * h;
    float* state = cand + batch * h;

    Dims y_dims = a_.batch_first ? Dims{batch, seq, dirs, h} : Dims{seq, dirs, batch, h};
    Dims yh_dims = a_.batch_first ? Dims{batch, dirs, h} : Dims{dirs, batch, h};
    RANKOPT_ASSIGN_OR_RETURN(TensorView y, ctx->AllocateOutput(0, DType::kFloat32, y_dims));
    float* yd = static_cast<float*>(y.data);
    float* yhd = state + batch * h;
    if (has_y_h) {
      RANKOPT_ASSIGN_OR_RETURN(TensorView y_h, ctx->AllocateOutput(1, DType::kFloat32, yh_dims));
      yhd = static_cast<float*>(y_h.data);
    }
    if (min_len < seq) std::fill_n(yd, y.NumElements(), 0.0f);
    const float* xd = static_cast<const float*>(x.data);
    const float* init_d = init != nullptr ? static_cast<const float*>(init->data) : nullptr;
    // Element offsets of X/projection row (t, b), of Y (t, d, b) and of initial_h/Y_h (d, b).
    auto xrow = [&](int64_t t, int64_t i) { return a_.batch_first ? i * seq + t : t * batch + i; };
    auto yoff = [&](int64_t t, int d, int64_t i) {
      return (a_.batch_first ? (i * seq + t) * dirs + d : (t * dirs + d) * batch + i) * h;
    };
    auto hoff = [&](int d, int64_t i) {
      return (a_.batch_first ? i * dirs + d : d * batch + i) * h;
    };

    for (int d = 0; d < dirs; ++d) {
      const DirWeights& dw = dir[d];
      const bool reverse = dirs == 2 ? d == 1 : a_.reverse;
      if (rows > 0) {
        GemmF32(rows, 3 * h, g.input, xd, g.input, 1, dw.w, dw.xbias, proj, 3 * h);
      }
      for (int64_t i = 0; i < batch; ++i) {
        if (init_d != nullptr) {
          std::memcpy(state + i * h, init_d + hoff(d, i), sizeof(float) * h);
        } else {
          std::fill_n(state + i * h, h, 0.0f);
        }
      }
      for (int64_t s = 0; s < max_len; ++s) {
        // z and r: sigmoid(x W' + bias (in proj) + h R'zr).
        GemmF32(batch, 2 * h, h, state, h, 1, dw.rzr, nullptr, hzr, 2 * h);
        for (int64_t i = 0; i < batch; ++i) {
          if (s >= lens[i]) continue;
          const int64_t t = reverse ? lens[i] - 1 - s : s;
          const float* p = proj + xrow(t, i) * 3 * h;
          float* zr = hzr + i * 2 * h;
          for (int64_t j = 0; j < 2 * h; ++j) zr[j] += p[j];
        }
        SigmoidF32(hzr, hzr, batch * 2 * h);
        if (a_.linear_before_reset) {
          GemmF32(batch, h, h, state, h, 1, dw.rh, dw.hbias, hh, h);
        } else {
          for (int64_t i = 0; i < batch; ++i) {
            const float* r = hzr + i * 2 * h + h;
            for (int64_t j = 0; j < h; ++j) gate_in[i * h + j] = r[j] * state[i * h + j];
          }
          GemmF32(batch, h, h, gate_in, h, 1, dw.rh, nullptr, hh, h);
        }
        // The candidate's pre-activation, doubled: tanh(v) = 2 sigmoid(2v) - 1.
        for (int64_t i = 0; i < batch; ++i) {
          float* c = cand + i * h;
          if (s >= lens[i]) {  // finished: its state stays; keep the sigmoid's input defined
            std::fill_n(c, h, 0.0f);
            continue;
          }
          const int64_t t = reverse ? lens[i] - 1 - s : s;
          const float* p = proj + xrow(t, i) * 3 * h + 2 * h;
          const float* r = hzr + i * 2 * h + h;
          const float* q = hh + i * h;
          if (a_.linear_before_reset) {
            for (int64_t j = 0; j < h; ++j) c[j] = 2.0f * (p[j] + r[j] * q[j]);
          } else {
            for (int64_t j = 0; j < h; ++j) c[j] = 2.0f * (p[j] + q[j]);
          }
        }
        SigmoidF32(cand, cand, batch * h);
        for (int64_t i = 0; i < batch; ++i) {
          if (s >= lens[i]) continue;
          const int64_t t = reverse ? lens[i] - 1 - s : s;
          const float* z = hzr + i * 2 * h;
          const float* c = cand + i * h;
          float* st = state + i * h;
          for (int64_t j = 0; j < h; ++j) {
            const float n = 2.0f * c[j] - 1.0f;
            st[j] = n + z[j] * (st[j] - n);
          }
          std::memcpy(yd + yoff(t, d, i), st, sizeof(float) * h);
        }
      }
      for (int64_t i = 0; i < batch; ++i) {
        std::memcpy(yhd + hoff(d, i), state + i * h, sizeof(float) * h);
      }
    }
    return absl::OkStatus();
  }

 private:
  GruAttrs a_;
  std::optional<GruGeometry> geometry_;  // set when W, R (and B, if given) are constants
  std::vector<float> packed_;            // their packed form, PackedFloats per direction
  DirWeights dir_[2];                    // views into packed_
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeGru(const KernelBuildContext& b) {
  const Node& node = *b.node;
  RANKOPT_RETURN_IF_ERROR(CheckInputCount(b, 3, 6));
  RANKOPT_ASSIGN_OR_RETURN(GruAttrs attrs, ReadGruAttrs(node));
  auto constant = [&](size_t i) -> const Tensor* {
    return i < b.constant_inputs.size() ? b.constant_inputs[i] : nullptr;
  };
  const bool has_b = (node.inputs.size() > 3 && !node.inputs[3].empty()) || constant(3) != nullptr;
  std::optional<GruGeometry> geometry;
  std::vector<float> packed;
  if (constant(1) != nullptr && constant(2) != nullptr && (!has_b || constant(3) != nullptr)) {
    auto view = [](const Tensor* t) {
      return TensorView{t->dtype(), Dims(t->dims().begin(), t->dims().end()),
                        const_cast<char*>(t->bytes().data())};
    };
    const TensorView w = view(constant(1)), r = view(constant(2));
    std::optional<TensorView> bias;
    if (has_b) bias = view(constant(3));
    RANKOPT_ASSIGN_OR_RETURN(GruGeometry g,
                             CheckWeights(node, attrs, w, r, bias ? &*bias : nullptr));
    const int64_t per_dir = PackedFloats(g);
    packed.resize(per_dir * attrs.dirs);
    for (int d = 0; d < attrs.dirs; ++d) {
      PackDirection(g, attrs.linear_before_reset, d, static_cast<const float*>(w.data),
                    static_cast<const float*>(r.data),
                    bias ? static_cast<const float*>(bias->data) : nullptr,
                    packed.data() + d * per_dir);
    }
    geometry = g;
  }
  return std::unique_ptr<OpKernel>(new GruKernel(attrs, geometry, std::move(packed)));
}

}  // namespace
}  // namespace nn_internal

namespace shape_fn {
namespace {

// Y [seq, dirs, batch, H] and Y_h [dirs, batch, H] (layout 1: batch first).
void GruShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor x = ctx->In(n, 0);
  const Shape w = ctx->In(n, 1).shape;
  const Shape r = ctx->In(n, 2).shape;
  const std::string direction = AttrString(n, "direction");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  int64_t hidden = AttrInt(n, "hidden_size").value_or(kUnknownDim);
  if (hidden < 0 && r.known_rank() && r.rank() == 3) hidden = r.dim(2);
  if (hidden < 0 && w.known_rank() && w.rank() == 3 && w.dim(1) >= 0) hidden = w.dim(1) / 3;
  const bool batch_first = AttrInt(n, "layout").value_or(0) == 1;
  int64_t seq = kUnknownDim, batch = kUnknownDim;
  if (x.shape.known_rank() && x.shape.rank() == 3) {
    seq = x.shape.dim(batch_first ? 1 : 0);
    batch = x.shape.dim(batch_first ? 0 : 1);
  }
  const DType dtype = x.dtype != DType::kInvalid ? x.dtype : DType::kFloat32;
  ctx->Set(n, 0, dtype,
           Shape(batch_first ? Dims{batch, seq, dirs, hidden} : Dims{seq, dirs, batch, hidden}));
  ctx->Set(n, 1, dtype, Shape(batch_first ? Dims{batch, dirs, hidden} : Dims{dirs, batch, hidden}));
}

// 2 * (input + hidden) * 3 * hidden per step, row and direction (the two GEMMs).
NodeFlops GruFlops(const Node& node, const ShapeMap& shapes) {
  const Shape& x = flops::InputShape(node, 0, shapes);
  const Shape& w = flops::InputShape(node, 1, shapes);
  const Shape& r = flops::InputShape(node, 2, shapes);
  if (!x.IsFullyDefined() || !w.IsFullyDefined() || !r.IsFullyDefined() || x.rank() != 3 ||
      w.rank() != 3 || r.rank() != 3) {
    return NodeFlops{};
  }
  std::optional<int64_t> per = flops::Mul(2, flops::Mul(w.dim(1), flops::Add(w.dim(2), r.dim(2))));
  return flops::Counted(flops::Mul(per, flops::Mul(w.dim(0), flops::Mul(x.dim(0), x.dim(1)))));
}

}  // namespace
}  // namespace shape_fn

namespace nn_internal {

absl::Status RegisterRnnKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("GRU", {shape_fn::GruShape, shape_fn::GruFlops}));
  RANKOPT_RETURN_IF_ERROR(r->Register(OpSet::kOnnx, "GRU", MakeGru));
  return absl::OkStatus();
}

}  // namespace nn_internal
}  // namespace rankopt
