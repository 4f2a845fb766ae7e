// ONNX GRU against a direct scalar loop in double written from the ONNX operator spec (below),
// over both linear_before_reset values, forward / reverse / bidirectional, layouts 0 and 1,
// sequence_lens and initial_h, constant and per-run weights; and its errors.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/kernels/math/nn_kernels.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/kernel_test_harness.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

const KernelRegistry& Registry() { return RegistryOf<RegisterNnKernels>(); }

// Deterministic values in [-scale, scale).
std::vector<float> Random(size_t n, uint32_t seed, float scale) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / 8388608.0f - 1.0f);
  }
  return v;
}

Tensor F(std::vector<int64_t> dims, const std::vector<float>& v) {
  absl::StatusOr<Tensor> t = Tensor::FromValues<float>(std::move(dims), v);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// One GRU problem in layout 0 (the kernel's layout-1 inputs are transposed from it).
struct Problem {
  int64_t seq = 4, batch = 3, input = 5, hidden = 7;
  int dirs = 1;
  bool reverse = false;
  bool lbr = false;
  bool with_b = true;
  std::vector<int64_t> lens;  // empty: no sequence_lens
  bool with_init = true;
  std::vector<float> x, w, r, b, init;  // x [seq, batch, input], init [dirs, batch, hidden]

  void Fill(uint32_t seed) {
    x = Random(seq * batch * input, seed, 1.5f);
    w = Random(dirs * 3 * hidden * input, seed + 1, 0.6f);
    r = Random(dirs * 3 * hidden * hidden, seed + 2, 0.6f);
    b = Random(dirs * 6 * hidden, seed + 3, 0.5f);
    init = Random(dirs * batch * hidden, seed + 4, 0.9f);
  }
};

double Sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// The ONNX spec, one scalar at a time: Y [seq, dirs, batch, hidden], Y_h [dirs, batch, hidden].
void Reference(const Problem& p, std::vector<double>* y, std::vector<double>* y_h) {
  const int64_t H = p.hidden, I = p.input;
  y->assign(p.seq * p.dirs * p.batch * H, 0.0);
  y_h->assign(p.dirs * p.batch * H, 0.0);
  for (int d = 0; d < p.dirs; ++d) {
    const bool reverse = p.dirs == 2 ? d == 1 : p.reverse;
    const float* W = p.w.data() + d * 3 * H * I;
    const float* R = p.r.data() + d * 3 * H * H;
    for (int64_t n = 0; n < p.batch; ++n) {
      const int64_t len = p.lens.empty() ? p.seq : p.lens[n];
      std::vector<double> h(H, 0.0);
      if (p.with_init) {
        for (int64_t j = 0; j < H; ++j) h[j] = p.init[(d * p.batch + n) * H + j];
      }
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        const float* xt = p.x.data() + (t * p.batch + n) * I;
        // xw[g][j] = x . W[g*H + j] + Wb; hr[g][j] = h . R[g*H + j] + Rb (g: z, r, h).
        std::vector<double> xw(3 * H), hr(3 * H);
        for (int64_t k = 0; k < 3 * H; ++k) {
          double a = p.with_b ? p.b[d * 6 * H + k] : 0.0;
          for (int64_t i = 0; i < I; ++i) a += double(xt[i]) * W[k * I + i];
          xw[k] = a;
          double c = p.with_b ? p.b[d * 6 * H + 3 * H + k] : 0.0;
          for (int64_t i = 0; i < H; ++i) c += h[i] * R[k * H + i];
          hr[k] = c;
        }
        std::vector<double> z(H), r(H), next(H);
        for (int64_t j = 0; j < H; ++j) {
          z[j] = Sigmoid(xw[j] + hr[j]);
          r[j] = Sigmoid(xw[H + j] + hr[H + j]);
        }
        for (int64_t j = 0; j < H; ++j) {
          double cand;
          if (p.lbr) {
            cand = std::tanh(xw[2 * H + j] + r[j] * hr[2 * H + j]);
          } else {
            double a = p.with_b ? p.b[d * 6 * H + 5 * H + j] : 0.0;  // Rbh
            for (int64_t i = 0; i < H; ++i) a += r[i] * h[i] * R[(2 * H + j) * H + i];
            cand = std::tanh(xw[2 * H + j] + a);
          }
          next[j] = (1 - z[j]) * cand + z[j] * h[j];
        }
        h = next;
        for (int64_t j = 0; j < H; ++j) (*y)[((t * p.dirs + d) * p.batch + n) * H + j] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) (*y_h)[(d * p.batch + n) * H + j] = h[j];
    }
  }
}

Node GruNode(const Problem& p, bool layout1) {
  Node node;
  node.name = "gru";
  node.op = "GRU";
  node.inputs = {TensorRef{"x", 0},
                 TensorRef{"w", 0},
                 TensorRef{"r", 0},
                 p.with_b ? TensorRef{"b", 0} : TensorRef{},
                 p.lens.empty() ? TensorRef{} : TensorRef{"lens", 0},
                 p.with_init ? TensorRef{"init", 0} : TensorRef{}};
  node.output_names = {"y", "y_h"};
  node.attrs.Set("hidden_size", p.hidden);
  node.attrs.Set("direction", std::string(p.dirs == 2 ? "bidirectional"
                                          : p.reverse ? "reverse"
                                                      : "forward"));
  node.attrs.Set("linear_before_reset", int64_t{p.lbr ? 1 : 0});
  if (layout1) node.attrs.Set("layout", int64_t{1});
  return node;
}

std::vector<std::optional<Tensor>> GruInputs(const Problem& p, bool layout1) {
  std::vector<float> x = p.x, init = p.init;
  if (layout1) {  // [seq, batch, I] -> [batch, seq, I]; [dirs, batch, H] -> [batch, dirs, H]
    for (int64_t t = 0; t < p.seq; ++t) {
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t i = 0; i < p.input; ++i) {
          x[(n * p.seq + t) * p.input + i] = p.x[(t * p.batch + n) * p.input + i];
        }
      }
    }
    for (int d = 0; d < p.dirs; ++d) {
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t j = 0; j < p.hidden; ++j) {
          init[(n * p.dirs + d) * p.hidden + j] = p.init[(d * p.batch + n) * p.hidden + j];
        }
      }
    }
  }
  std::vector<std::optional<Tensor>> in;
  in.push_back(F(layout1 ? std::vector<int64_t>{p.batch, p.seq, p.input}
                         : std::vector<int64_t>{p.seq, p.batch, p.input},
                 x));
  in.push_back(F({p.dirs, 3 * p.hidden, p.input}, p.w));
  in.push_back(F({p.dirs, 3 * p.hidden, p.hidden}, p.r));
  if (p.with_b) {
    in.push_back(F({p.dirs, 6 * p.hidden}, p.b));
  } else {
    in.push_back(std::nullopt);
  }
  if (!p.lens.empty()) {
    std::vector<int32_t> lens(p.lens.begin(), p.lens.end());
    absl::StatusOr<Tensor> t = Tensor::FromValues<int32_t>({p.batch}, lens);
    EXPECT_TRUE(t.ok());
    in.push_back(*t);
  } else {
    in.push_back(std::nullopt);
  }
  if (p.with_init) {
    in.push_back(F(layout1 ? std::vector<int64_t>{p.batch, p.dirs, p.hidden}
                           : std::vector<int64_t>{p.dirs, p.batch, p.hidden},
                   init));
  } else {
    in.push_back(std::nullopt);
  }
  return in;
}

// Runs the kernel (weights constant or not, layout 0 or 1) and compares with Reference.
void ExpectMatches(const Problem& p) {
  std::vector<double> y, y_h;
  Reference(p, &y, &y_h);
  for (bool layout1 : {false, true}) {
    for (bool constant : {false, true}) {
      SCOPED_TRACE(absl::StrCat("layout ", layout1, " constant weights ", constant));
      const Node node = GruNode(p, layout1);
      absl::StatusOr<std::vector<Tensor>> out =
          RunKernel(Registry(), node, ModelFormat::kOnnx, GruInputs(p, layout1),
                    {false, constant, constant, constant, false, false});
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->size(), 2u);
      const std::vector<int64_t> y_dims =
          layout1 ? std::vector<int64_t>{p.batch, p.seq, p.dirs, p.hidden}
                  : std::vector<int64_t>{p.seq, p.dirs, p.batch, p.hidden};
      const std::vector<int64_t> yh_dims = layout1
                                               ? std::vector<int64_t>{p.batch, p.dirs, p.hidden}
                                               : std::vector<int64_t>{p.dirs, p.batch, p.hidden};
      ASSERT_EQ((*out)[0].dims(), y_dims);
      ASSERT_EQ((*out)[1].dims(), yh_dims);
      const float* got_y = (*out)[0].values<float>().data();
      const float* got_h = (*out)[1].values<float>().data();
      for (int64_t t = 0; t < p.seq; ++t) {
        for (int d = 0; d < p.dirs; ++d) {
          for (int64_t n = 0; n < p.batch; ++n) {
            for (int64_t j = 0; j < p.hidden; ++j) {
              const double want = y[((t * p.dirs + d) * p.batch + n) * p.hidden + j];
              const int64_t at = layout1 ? ((n * p.seq + t) * p.dirs + d) * p.hidden + j
                                         : ((t * p.dirs + d) * p.batch + n) * p.hidden + j;
              ASSERT_NEAR(got_y[at], want, 2e-6 + 1e-5 * std::abs(want))
                  << "Y t=" << t << " d=" << d << " b=" << n << " j=" << j;
            }
          }
        }
      }
      for (int d = 0; d < p.dirs; ++d) {
        for (int64_t n = 0; n < p.batch; ++n) {
          for (int64_t j = 0; j < p.hidden; ++j) {
            const double want = y_h[(d * p.batch + n) * p.hidden + j];
            const int64_t at =
                layout1 ? (n * p.dirs + d) * p.hidden + j : (d * p.batch + n) * p.hidden + j;
            ASSERT_NEAR(got_h[at], want, 2e-6 + 1e-5 * std::abs(want))
                << "Y_h d=" << d << " b=" << n << " j=" << j;
          }
        }
      }
    }
  }
}

TEST(GruTest, ForwardBothLinearBeforeReset) {
  for (bool lbr : {false, true}) {
    SCOPED_TRACE(absl::StrCat("linear_before_reset ", lbr));
    Problem p;
    p.lbr = lbr;
    p.Fill(1);
    ExpectMatches(p);
  }
}

TEST(GruTest, ReverseWithSequenceLensAndInitialH) {
  for (bool lbr : {false, true}) {
    SCOPED_TRACE(absl::StrCat("linear_before_reset ", lbr));
    Problem p;
    p.seq = 5;
    p.batch = 4;
    p.reverse = true;
    p.lbr = lbr;
    p.lens = {5, 2, 0, 3};  // a zero-length row keeps initial_h and has Y = 0
    p.Fill(2);
    ExpectMatches(p);
  }
}

TEST(GruTest, ForwardWithSequenceLens) {
  for (bool lbr : {false, true}) {
    Problem p;
    p.seq = 6;
    p.batch = 3;
    p.lbr = lbr;
    p.lens = {1, 6, 4};
    p.Fill(3);
    ExpectMatches(p);
  }
}

TEST(GruTest, BidirectionalWithSequenceLens) {
  for (bool lbr : {false, true}) {
    Problem p;
    p.dirs = 2;
    p.lbr = lbr;
    p.hidden = 17;  // more than one 16-column panel
    p.lens = {4, 3, 1};
    p.Fill(4);
    ExpectMatches(p);
  }
}

TEST(GruTest, DefaultsWithoutOptionalInputs) {
  Problem p;
  p.with_b = false;
  p.with_init = false;
  p.lbr = true;
  p.Fill(5);
  ExpectMatches(p);
}

TEST(GruTest, DienShapes) {  // the zoo's DIEN: 20 steps, input 16, hidden 16, linear_before_reset
  Problem p;
  p.seq = 20;
  p.batch = 2;
  p.input = 16;
  p.hidden = 16;
  p.lbr = true;
  p.Fill(6);
  ExpectMatches(p);
}

// A valid problem's node and inputs, for the error cases to break one thing each.
struct Broken {
  Problem p;
  Node node;
  std::vector<std::optional<Tensor>> in;
  Broken() {
    p.lens = {4, 4, 4};
    p.Fill(7);
    node = GruNode(p, false);
    in = GruInputs(p, false);
  }
  absl::Status Run(bool constant = false) const {
    return RunKernel(Registry(), node, ModelFormat::kOnnx, in,
                     {false, constant, constant, constant, false, false})
        .status();
  }
};

TEST(GruTest, RejectsBadShapes) {
  {
    Broken c;
    ASSERT_TRUE(c.Run().ok()) << c.Run();
  }
  for (bool constant : {false, true}) {
    SCOPED_TRACE(absl::StrCat("constant weights ", constant));
    {
      Broken c;
      c.in[1] = F({1, 20, 5}, Random(100, 1, 1));  // 3 * hidden is 21
      EXPECT_THAT(c.Run(constant).message(), HasSubstr("W (input 1)"));
    }
    {
      Broken c;
      c.in[2] = F({1, 21, 6}, Random(126, 1, 1));
      EXPECT_THAT(c.Run(constant).message(), HasSubstr("R (input 2)"));
    }
    {
      Broken c;
      c.in[3] = F({1, 21}, Random(21, 1, 1));
      EXPECT_THAT(c.Run(constant).message(), HasSubstr("B (input 3)"));
    }
    {
      Broken c;
      c.node.attrs.Set("hidden_size", int64_t{8});
      EXPECT_THAT(c.Run(constant).message(), HasSubstr("hidden_size 8 does not match"));
    }
    {
      Broken c;  // bidirectional needs two directions of weights
      c.node.attrs.Set("direction", std::string("bidirectional"));
      EXPECT_THAT(c.Run(constant).message(), HasSubstr("must be [2,"));
    }
  }
  {
    Broken c;
    c.in[0] = F({4, 3, 6}, Random(72, 1, 1));
    absl::Status s = c.Run();
    EXPECT_THAT(s.message(), HasSubstr("X (input 0)"));
    EXPECT_THAT(s.message(), HasSubstr("gru"));
  }
  {
    Broken c;
    c.in[0] = F({4, 15}, Random(60, 1, 1));
    EXPECT_THAT(c.Run().message(), HasSubstr("X (input 0)"));
  }
  {
    Broken c;
    c.in[5] = F({1, 2, 7}, Random(14, 1, 1));
    EXPECT_THAT(c.Run().message(), HasSubstr("initial_h (input 5)"));
  }
  {
    Broken c;
    c.in[4] = *Tensor::FromValues<int32_t>({3}, {4, 5, 1});
    EXPECT_THAT(c.Run().message(), HasSubstr("sequence_lens[1] = 5 is outside [0, 4]"));
  }
  {
    Broken c;
    c.in[4] = *Tensor::FromValues<int32_t>({3}, {4, -1, 1});
    EXPECT_THAT(c.Run().message(), HasSubstr("sequence_lens[1] = -1"));
  }
  {
    Broken c;
    c.in[4] = *Tensor::FromValues<int32_t>({2}, {4, 4});
    EXPECT_THAT(c.Run().message(), HasSubstr("sequence_lens (input 4)"));
  }
  {
    Broken c;
    c.in[4] = F({3}, {4, 4, 4});
    EXPECT_THAT(c.Run().message(), HasSubstr("int32/int64"));
  }
  {
    Broken c;
    c.in[0] = *Tensor::FromValues<int32_t>({4, 3, 5}, std::vector<int32_t>(60, 1));
    EXPECT_THAT(c.Run().message(), HasSubstr("float32"));
  }
}

TEST(GruTest, RejectsUnsupportedAttributes) {
  {
    Broken c;
    c.node.attrs.Set("activations", std::vector<std::string>{"Relu", "Tanh"});
    absl::Status s = c.Run();
    EXPECT_THAT(s.message(), HasSubstr("activations [Relu, Tanh] are not supported"));
    EXPECT_THAT(s.message(), HasSubstr("gru"));
  }
  {
    Broken c;  // the defaults spelled out are fine
    c.node.attrs.Set("activations", std::vector<std::string>{"Sigmoid", "Tanh"});
    EXPECT_TRUE(c.Run().ok()) << c.Run();
  }
  {
    Broken c;
    c.node.attrs.Set("clip", 3.0f);
    EXPECT_THAT(c.Run().message(), HasSubstr("clip is not supported"));
  }
  {
    Broken c;
    c.node.attrs.Set("direction", std::string("sideways"));
    EXPECT_THAT(c.Run().message(), HasSubstr("direction 'sideways'"));
  }
  {
    Broken c;
    c.node.attrs.Set("layout", int64_t{2});
    EXPECT_THAT(c.Run().message(), HasSubstr("layout 2"));
  }
  {
    Broken c;
    c.node.attrs.Set("linear_before_reset", int64_t{3});
    EXPECT_THAT(c.Run().message(), HasSubstr("linear_before_reset 3"));
  }
}

}  // namespace
}  // namespace rankopt
