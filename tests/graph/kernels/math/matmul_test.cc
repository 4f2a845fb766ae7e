// MatMul / Gemm / BatchMatMul kernels against numpy-computed values.
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/graph/kernels/math/math_test_util.h"

namespace rankopt {
namespace math_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Iota(int n, float start, float step = 1.0f) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + step * i;
  return v;
}

TEST(MatMulTest, OnnxThreeDTimesTwoD) {
  Tensor a = F({2, 2, 3}, Iota(12, -5));
  Tensor b = F({3, 2}, Iota(6, 0, 0.5f));
  for (bool constant : {false, true}) {
    Tensor out = Run1(MakeNode("MatMul"), kOnnx, {a, b}, {false, constant});
    EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 2, 2}));
    EXPECT_THAT(Values<float>(out), ElementsAre(-10, -16, -1, -2.5, 8, 11, 17, 24.5));
  }
}

TEST(MatMulTest, OnnxBatched) {
  // DIN's attention pooling shape: [B,1,T] x [B,T,D].
  Tensor out =
      Run1(MakeNode("MatMul"), kOnnx, {F({2, 1, 3}, Iota(6, 0)), F({2, 3, 2}, Iota(12, -3))});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_THAT(Values<float>(out), ElementsAre(1, 4, 64, 76));
}

TEST(MatMulTest, OnnxBroadcastBatchDims) {
  for (bool constant : {false, true}) {
    Tensor out =
        Run1(MakeNode("MatMul"), kOnnx, {F({2, 1, 2, 3}, Iota(12, 0)), F({3, 3, 2}, Iota(18, -9))},
             {false, constant});
    EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 3, 2, 2}));
    EXPECT_THAT(Values<float>(out),
                ElementsAre(-17, -14, -80, -68, 1, 4, -8, 4, 19, 22, 64, 76, -143, -122, -206, -176,
                            -17, 4, -26, 4, 109, 130, 154, 184));
  }
}

TEST(MatMulTest, OnnxVectors) {
  Tensor m = F({3, 2}, Iota(6, 0));
  Tensor out = Run1(MakeNode("MatMul"), kOnnx, {F({3}, {1, 2, 3}), m});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2}));
  EXPECT_THAT(Values<float>(out), ElementsAre(16, 22));
  // [2,3] x [3] -> [2]
  out = Run1(MakeNode("MatMul"), kOnnx, {F({2, 3}, {0, 2, 4, 1, 3, 5}), F({3}, {1, 2, 3})},
             {false, true});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2}));
  EXPECT_THAT(Values<float>(out), ElementsAre(16, 22));
}

TEST(MatMulTest, InnerDimMismatchIsAnError) {
  absl::Status s =
      RunStatus(MakeNode("MatMul"), kOnnx, {F({2, 3}, Iota(6, 0)), F({2, 2}, Iota(4, 0))});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("inner dimensions differ"));
  s = RunStatus(MakeNode("MatMul"), kTf, {F({2, 1, 3}, Iota(6, 0)), F({3, 2}, Iota(6, 0))});
  EXPECT_THAT(s.message(), HasSubstr("rank 2"));
  s = RunStatus(MakeNode("MatMul"), kOnnx, {I32({1, 1}, {1}), I32({1, 1}, {1})});
  EXPECT_THAT(s.message(), HasSubstr("expected dtype float32"));
  s = RunStatus(MakeNode("MatMul"), kOnnx, {F({}, {1}), F({1}, {1})});
  EXPECT_FALSE(s.ok());
}

TEST(GemmKernelTest, TransposesAlphaBetaAndColumnC) {
  Node node = MakeNode("Gemm");
  node.attrs.Set("transA", int64_t{1});
  node.attrs.Set("transB", int64_t{1});
  node.attrs.Set("alpha", 0.5f);
  node.attrs.Set("beta", 2.0f);
  Tensor a = F({3, 2}, Iota(6, -2));
  Tensor b = F({4, 3}, Iota(12, 0, 0.5f));
  Tensor c = F({2, 1}, {1, 2});
  for (bool constant : {false, true}) {
    Tensor out = Run1(node, kOnnx, {a, b, c}, {false, constant, constant});
    EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 4}));
    EXPECT_THAT(Values<float>(out), ElementsAre(3, 3, 3, 3, 5.75, 8, 10.25, 12.5));
  }
}

TEST(GemmKernelTest, BiasRowAndOmittedC) {
  Tensor a = F({3, 2}, Iota(6, 0));
  Tensor b = F({2, 4}, Iota(8, 0));
  Tensor out = Run1(MakeNode("Gemm"), kOnnx, {a, b, F({4}, {1, 2, 3, 4})}, {false, true, true});
  EXPECT_THAT(Values<float>(out), ElementsAre(5, 7, 9, 11, 13, 19, 25, 31, 21, 31, 41, 51));
  out = Run1(MakeNode("Gemm"), kOnnx, {a, b, std::nullopt});
  EXPECT_THAT(Values<float>(out), ElementsAre(4, 5, 6, 7, 12, 17, 22, 27, 20, 29, 38, 47));
  Node beta0 = MakeNode("Gemm");
  beta0.attrs.Set("beta", 0.0f);
  out = Run1(beta0, kOnnx, {a, b, F({}, {100})});
  EXPECT_THAT(Values<float>(out), ElementsAre(4, 5, 6, 7, 12, 17, 22, 27, 20, 29, 38, 47));
  absl::Status s = RunStatus(MakeNode("Gemm"), kOnnx, {a, b, F({2}, {1, 2})});
  EXPECT_THAT(s.message(), HasSubstr("broadcasts to [3,4]"));
}

TEST(TfMatMulTest, TransposeFlags) {
  Node node = MakeNode("MatMul");
  node.attrs.Set("transpose_a", true);
  node.attrs.Set("transpose_b", true);
  Tensor out = Run1(node, kTf, {F({3, 2}, Iota(6, -2)), F({4, 3}, Iota(12, 0, 0.5f))});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_THAT(Values<float>(out), ElementsAre(2, 2, 2, 2, 3.5, 8, 12.5, 17));
}

TEST(TfMatMulTest, BatchMatMulAdjointsAndBroadcast) {
  Node adj_x = MakeNode("BatchMatMulV2");
  adj_x.attrs.Set("adj_x", true);
  Tensor out = Run1(adj_x, kTf, {F({2, 3, 2}, Iota(12, 0)), F({1, 3, 2}, Iota(6, -1))});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_THAT(Values<float>(out), ElementsAre(14, 20, 17, 26, 32, 56, 35, 62));
  Node adj_y = MakeNode("BatchMatMulV3");
  adj_y.attrs.Set("adj_y", true);
  Tensor y = F({2, 2, 2}, {0, 1, 2, 3, 6, 7, 8, 9});
  for (bool constant : {false, true}) {
    out = Run1(adj_y, kTf, {F({2, 3, 2}, Iota(12, 0)), y}, {false, constant});
    EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 3, 2}));
    EXPECT_THAT(Values<float>(out), ElementsAre(1, 3, 3, 13, 5, 23, 85, 111, 111, 145, 137, 179));
  }
  absl::Status s = RunStatus(MakeNode("BatchMatMul"), kTf,
                             {F({2, 3, 2}, Iota(12, 0)), F({1, 2, 2}, Iota(4, 0))});
  EXPECT_THAT(s.message(), HasSubstr("batch dims differ"));
}

// Row i of a [B,T,D] x [D,N] product is bitwise the same for any B (chunked scoring).
TEST(MatMulTest, DeterministicAcrossBatchSizes) {
  const int64_t t = 5, d = 40, n = 37, big = 30;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> a(big * t * d), w(d * n);
  for (float& x : a) x = dist(gen);
  for (float& x : w) x = dist(gen);
  Tensor weight = F({d, n}, w);
  Tensor full = Run1(MakeNode("MatMul"), kOnnx, {F({big, t, d}, a), weight}, {false, true});
  for (int64_t batch : {1, 2, 7}) {
    for (int64_t start : {int64_t{0}, big - batch}) {
      std::vector<float> part(a.begin() + start * t * d, a.begin() + (start + batch) * t * d);
      for (bool constant : {false, true}) {
        Tensor out =
            Run1(MakeNode("MatMul"), kOnnx, {F({batch, t, d}, part), weight}, {false, constant});
        ASSERT_EQ(out.num_elements(), batch * t * n);
        EXPECT_EQ(0, std::memcmp(out.bytes().data(), full.bytes().data() + start * t * n * 4,
                                 out.bytes().size()))
            << "batch " << batch << " start " << start;
      }
    }
  }
}

// Einsum against numpy.einsum (float64) on the same operands.
std::vector<float> Einsum(const std::string& equation, std::vector<std::optional<Tensor>> inputs) {
  AttrMap attrs;
  attrs.Set("equation", equation);
  return Values<float>(Run1(MakeNode("Einsum", attrs), kOnnx, inputs));
}

TEST(EinsumTest, MatchesNumpy) {
  const Tensor x = F({2, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor y = F({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_THAT(Einsum("ij,jk", {x, y}), ElementsAre(20, 23, 26, 29, 56, 68, 80, 92));
  EXPECT_THAT(Einsum("ij,jk->ki", {x, y}), ElementsAre(20, 56, 23, 68, 26, 80, 29, 92));
  EXPECT_THAT(Einsum("ba", {x}), ElementsAre(0, 3, 1, 4, 2, 5));  // implicit: sorted labels
  EXPECT_THAT(
      Einsum("bnd,nd->bn", {F({1, 2, 3}, {1, 2, 3, 4, 5, 6}), F({2, 3}, {1, 0, -1, 2, 1, 0})}),
      ElementsAre(-2, 13));
  const Tensor m = F({3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_THAT(Einsum("ii->i", {m}), ElementsAre(0, 4, 8));  // a diagonal
  EXPECT_THAT(Einsum("ii", {m}), ElementsAre(12));          // the trace
  EXPECT_THAT(Einsum("...d,d->...",
                     {F({2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), F({3}, {1, 2, 3})}),
              ElementsAre(8, 26, 44, 62));
  // "..." dims broadcast: [2, 1] with [4] -> [2, 4].
  const std::vector<float> b =
      Einsum("...d,...d->...",
             {F({2, 1, 3}, {0, 1, 2, 3, 4, 5}), F({4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})});
  EXPECT_THAT(b, ElementsAre(5, 14, 23, 32, 14, 50, 86, 122));
  AttrMap int_eq;
  int_eq.Set("equation", std::string("i,i->"));
  EXPECT_THAT(Values<int64_t>(Run1(MakeNode("Einsum", int_eq), kOnnx,
                                   {I64({3}, {1, 2, 3}), I64({3}, {4, 5, 6})})),
              ElementsAre(32));
}

TEST(EinsumTest, BadEquationsSayWhy) {
  const Tensor x = F({2, 3}, {0, 1, 2, 3, 4, 5});
  auto error = [&](const std::string& equation, std::vector<std::optional<Tensor>> inputs) {
    AttrMap attrs;
    attrs.Set("equation", equation);
    return std::string(RunStatus(MakeNode("Einsum", attrs), kOnnx, inputs).message());
  };
  EXPECT_THAT(error("ij,jk->ik", {x, x}), HasSubstr("label 'j' is 3 in one place and 2"));
  EXPECT_THAT(error("ijk->i", {x}), HasSubstr("input 0 has rank 2"));
  EXPECT_THAT(error("ij->iz", {x}), HasSubstr("output label 'z' is in no operand"));
  EXPECT_THAT(error("ij->ii", {x}), HasSubstr("repeats"));
  EXPECT_THAT(error("i1->i", {x}), HasSubstr("not a letter"));
  EXPECT_THAT(error("ij,jk", {x}), HasSubstr("2 operand terms for 1 inputs"));
  EXPECT_THAT(error("..i..->i", {x}), HasSubstr("stray '.'"));
  EXPECT_THAT(error("...j->j", {F({2, 2, 3}, std::vector<float>(12, 1))}),
              HasSubstr("'...' dims are missing"));
  EXPECT_THAT(error("ij,ij->i", {x, I64({2, 3}, {0, 0, 0, 0, 0, 0})}), HasSubstr("float32"));
  // 4096^4 multiply-adds (and an overflowing count with more operands) are refused, not run.
  const Tensor big = F({4096}, std::vector<float>(4096, 1));
  EXPECT_THAT(error("a,b,c,d->", {big, big, big, big}), HasSubstr("multiply-adds"));
  EXPECT_THAT(error("a,b,c,d,e,f->", {big, big, big, big, big, big}), HasSubstr("multiply-adds"));
}

}  // namespace
}  // namespace math_test
}  // namespace rankopt
