// _RankoptEmbeddingBagOffsets against a hand computation: sum / mean / max, empty bags, sample
// weights, negative ids, and every bad offset or id a clear error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "graph/kernels/embedding/embedding_kernels.h"
#include "tests/graph/kernels/kernel_test_harness.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

const KernelRegistry& Registry() { return RegistryOf<RegisterEmbeddingKernels>(); }

Node BagNode(const std::string& mode) {
  Node node;
  node.name = "bag";
  node.op = std::string(kOffsetsEmbeddingBagOp);
  node.attrs.Set("mode", mode);
  return node;
}

// 4 rows of dim 2: row r = (r + 1, -(r + 1) * 10).
Tensor Weight() {
  return *Tensor::FromValues<float>({4, 2}, std::vector<float>{1, -10, 2, -20, 3, -30, 4, -40});
}

Tensor Ids(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return *Tensor::FromValues<int64_t>({n}, v);
}

absl::StatusOr<std::vector<Tensor>> RunBag(const std::string& mode, std::vector<int64_t> ids,
                                           std::vector<int64_t> offsets,
                                           std::optional<std::vector<float>> scale = std::nullopt) {
  std::vector<std::optional<Tensor>> inputs = {Weight(), Ids(std::move(ids)),
                                               Ids(std::move(offsets))};
  if (scale.has_value()) {
    const int64_t n = static_cast<int64_t>(scale->size());
    inputs.push_back(*Tensor::FromValues<float>({n}, *scale));
  }
  return RunKernel(Registry(), BagNode(mode), ModelFormat::kOnnx, inputs, {true});
}

void ExpectValues(const absl::StatusOr<std::vector<Tensor>>& out, std::vector<int64_t> dims,
                  const std::vector<float>& want) {
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.dtype(), DType::kFloat32);
  ASSERT_EQ(y.dims(), dims);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_FLOAT_EQ(y.values<float>()[i], want[i]) << "element " << i;
  }
}

// Bags: {0, 2}, {} (empty), {3, 3, 1}; ids 0..3 are rows 1..4 in the first column.
TEST(OffsetsBagTest, SumWithEmptyBag) {
  ExpectValues(RunBag("sum", {0, 2, 3, 3, 1}, {0, 2, 2, 5}), {3, 2},
               {1 + 3, -10 - 30, 0, 0, 4 + 4 + 2, -40 - 40 - 20});
}

TEST(OffsetsBagTest, MeanWithEmptyBagIsZeros) {
  ExpectValues(RunBag("mean", {0, 2, 3, 3, 1}, {0, 2, 2, 5}), {3, 2},
               {2, -20, 0, 0, 10.0f / 3, -100.0f / 3});
}

TEST(OffsetsBagTest, MaxWithEmptyBagIsMinusInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  ExpectValues(RunBag("max", {0, 2, 3, 3, 1}, {0, 2, 2, 5}), {3, 2}, {3, -10, -inf, -inf, 4, -20});
}

TEST(OffsetsBagTest, PerSampleWeightsAndNegativeIds) {
  // id -1 is row 3 (ONNX Gather counts negative ids from the end).
  ExpectValues(RunBag("sum", {-1, 0, 1}, {0, 1, 3}, std::vector<float>{0.5f, 2, -1}), {2, 2},
               {2, -20, 2 * 1 - 2, 2 * -10 + 20});
}

TEST(OffsetsBagTest, OffsetsNeedNotStartAtZeroAndNoBags) {
  ExpectValues(RunBag("sum", {3, 0, 1}, {1, 3}), {1, 2}, {3, -30});
  ExpectValues(RunBag("sum", {3, 0, 1}, {2}), {0, 2}, {});
  ExpectValues(RunBag("sum", {3, 0, 1}, {}), {0, 2}, {});
}

TEST(OffsetsBagTest, EveryOutputValueIsWritten) {
  // The harness poisons outputs with 0xCD; every element must have been written.
  absl::StatusOr<std::vector<Tensor>> out = RunBag("mean", {1, 1}, {0, 0, 0, 2});
  ExpectValues(out, {3, 2}, {0, 0, 0, 0, 2, -20});
}

// int64 ids in range take embedding/'s vectorized Bag; int32 ids the plain loop. Both pool in
// order, so they agree bit for bit (random bags, some empty, dims that leave vector tails).
TEST(OffsetsBagTest, FastPathEqualsPlainLoopExactly) {
  std::mt19937 gen(3);
  for (int64_t dim : {1, 7, 16, 37}) {
    const int64_t rows = 50;
    std::vector<float> w(static_cast<size_t>(rows * dim));
    std::uniform_real_distribution<float> value(-2.0f, 2.0f);
    for (float& x : w) x = value(gen);
    std::vector<int64_t> offsets = {0};
    std::vector<int64_t> ids64;
    std::uniform_int_distribution<int64_t> len(0, 9), id(0, rows - 1);
    for (int b = 0; b < 30; ++b) {
      const int64_t l = len(gen) < 2 ? 0 : len(gen);
      for (int64_t t = 0; t < l; ++t) ids64.push_back(id(gen));
      offsets.push_back(static_cast<int64_t>(ids64.size()));
    }
    const std::vector<int32_t> ids32(ids64.begin(), ids64.end());
    const int64_t n = static_cast<int64_t>(ids64.size());
    const Tensor weight = *Tensor::FromValues<float>({rows, dim}, w);
    for (const char* mode : {"sum", "mean"}) {
      absl::StatusOr<std::vector<Tensor>> fast =
          RunKernel(Registry(), BagNode(mode), ModelFormat::kOnnx,
                    {weight, *Tensor::FromValues<int64_t>({n}, ids64), Ids(offsets)}, {true});
      absl::StatusOr<std::vector<Tensor>> plain =
          RunKernel(Registry(), BagNode(mode), ModelFormat::kOnnx,
                    {weight, *Tensor::FromValues<int32_t>({n}, ids32), Ids(offsets)}, {true});
      ASSERT_TRUE(fast.ok()) << fast.status();
      ASSERT_TRUE(plain.ok()) << plain.status();
      EXPECT_EQ((*fast)[0], (*plain)[0]) << mode << " dim " << dim;
      // And the first bag with ids against a hand sum.
      for (size_t b = 0; b + 1 < offsets.size(); ++b) {
        if (offsets[b + 1] == offsets[b]) continue;
        float acc = 0;
        for (int64_t t = offsets[b]; t < offsets[b + 1]; ++t) acc += w[ids64[t] * dim];
        if (std::string(mode) == "mean") acc /= static_cast<float>(offsets[b + 1] - offsets[b]);
        EXPECT_EQ((*fast)[0].values<float>()[b * dim], acc) << mode << " bag " << b;
        break;
      }
    }
  }
}

TEST(OffsetsBagTest, BadOffsetsAndIdsAreErrorsNamingTheNode) {
  absl::StatusOr<std::vector<Tensor>> out = RunBag("sum", {0, 1, 2}, {0, 2, 1, 3});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("node 'bag'"));
  EXPECT_THAT(out.status().message(), HasSubstr("offsets decrease at position 2"));

  out = RunBag("sum", {0, 1, 2}, {0, 4});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("offsets[1] = 4 is outside [0, 3]"));

  out = RunBag("sum", {0, 1, 2}, {-1, 2});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("offsets[0] = -1"));

  out = RunBag("max", {0, 4, 2}, {0, 1, 3});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("id 4 at indices position 1"));
  EXPECT_THAT(out.status().message(), HasSubstr("[0, 4)"));

  out = RunBag("sum", {0, -5}, {0, 2});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("id -5"));

  out = RunBag("sum", {0, 1}, {0, 2}, std::vector<float>{1});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("per_sample_weights"));

  out = RunBag("median", {0}, {0, 1});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("expected sum, mean or max"));

  // 2-D indices and a 1-D weight are rejected, not read.
  Node node = BagNode("sum");
  out = RunKernel(
      Registry(), node, ModelFormat::kOnnx,
      {Weight(), *Tensor::FromValues<int64_t>({1, 2}, std::vector<int64_t>{0, 1}), Ids({0, 2})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("indices (input 1)"));
  out =
      RunKernel(Registry(), node, ModelFormat::kOnnx,
                {*Tensor::FromValues<float>({2}, std::vector<float>{1, 2}), Ids({0}), Ids({0, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("weight (input 0)"));
}

}  // namespace
}  // namespace rankopt
