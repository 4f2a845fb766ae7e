#include "graph/analysis/shape_inference.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/analysis/flops.h"
#include "gtest/gtest.h"
#include "tests/graph/analysis/test_graphs.h"

namespace rankopt {

// Readable failure messages for Shape comparisons.
void PrintTo(const Shape& shape, std::ostream* os) { *os << shape.ToString(); }

namespace {

using ::rankopt::testing::AddConstF;
using ::rankopt::testing::AddConstI32;
using ::rankopt::testing::AddConstI64;
using ::rankopt::testing::AddNode;
using ::rankopt::testing::AddOnnxNode;
using ::rankopt::testing::AddPlaceholder;

constexpr int64_t kU = Shape::kUnknownDim;

Shape ShapeOf(const ShapeMap& m, absl::string_view node, int port = 0) {
  return LookupInferred(m, TensorRef{std::string(node), port}).shape;
}
DType DTypeOf(const ShapeMap& m, absl::string_view node, int port = 0) {
  return LookupInferred(m, TensorRef{std::string(node), port}).dtype;
}
std::vector<int64_t> IntValue(const ShapeMap& m, absl::string_view node) {
  const InferredTensor& t = LookupInferred(m, TensorRef{std::string(node), 0});
  if (!t.value) return {};
  std::vector<int64_t> out;
  if (t.value->dtype() == DType::kInt32) {
    for (int32_t v : t.value->values<int32_t>()) out.push_back(v);
  } else if (t.value->dtype() == DType::kInt64) {
    for (int64_t v : t.value->values<int64_t>()) out.push_back(v);
  }
  return out;
}

TEST(ShapeInferenceTest, MatMulKeepsBatchUnknownOrUsesBatchSize) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 784}));
  AddConstF(g, "w", {784, 10});
  AddNode(g, "mm", "MatMul", {"x", "w"});
  auto unknown = InferShapes(g);
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(ShapeOf(*unknown, "x"), Shape({kU, 784}));
  EXPECT_EQ(ShapeOf(*unknown, "mm"), Shape({kU, 10}));
  EXPECT_EQ(DTypeOf(*unknown, "mm"), DType::kFloat32);
  auto b4 = InferShapes(g, 4);
  ASSERT_TRUE(b4.ok());
  EXPECT_EQ(ShapeOf(*b4, "x"), Shape({4, 784}));
  EXPECT_EQ(ShapeOf(*b4, "mm"), Shape({4, 10}));
  NodeFlops f = EstimateNodeFlops(*g.FindNode("mm"), *b4);
  EXPECT_EQ(f.kind, FlopsKind::kCounted);
  EXPECT_EQ(f.flops, 4 * 2 * 784 * 10);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("mm"), *unknown).kind, FlopsKind::kUncounted);
}

TEST(ShapeInferenceTest, MatMulTransposesAndMismatch) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({784, kU}));
  AddConstF(g, "w", {10, 784});
  Node& mm = AddNode(g, "mm", "MatMul", {"x", "w"});
  mm.attrs.Set("transpose_a", true);
  mm.attrs.Set("transpose_b", true);
  AddConstF(g, "bad", {5, 7});
  AddNode(g, "mismatch", "MatMul", {"w", "bad"});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "mm"), Shape({kU, 10}));
  EXPECT_FALSE(ShapeOf(*m, "mismatch").known_rank());
}

TEST(ShapeInferenceTest, BatchMatMulBroadcastsBatchDims) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "a", DType::kFloat32, Shape({kU, 1, 50, 32}));
  AddConstF(g, "b", {3, 16, 32});
  Node& bmm = AddNode(g, "bmm", "BatchMatMulV2", {"a", "b"});
  bmm.attrs.Set("adj_y", true);
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "bmm"), Shape({kU, 3, 50, 16}));
}

TEST(ShapeInferenceTest, NumpyBroadcasting) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 50, 32}));
  AddConstF(g, "b", {32});
  AddConstF(g, "c", {50, 1});
  AddConstF(g, "d", {4});
  AddNode(g, "add", "AddV2", {"x", "b"});
  AddNode(g, "mul", "Mul", {"b", "c"});
  AddNode(g, "bad", "Sub", {"b", "d"});
  AddNode(g, "less", "Less", {"x", "b"});
  AddNode(g, "sel", "SelectV2", {"less", "x", "b"});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "add"), Shape({kU, 50, 32}));
  EXPECT_EQ(ShapeOf(*m, "mul"), Shape({50, 32}));
  EXPECT_FALSE(ShapeOf(*m, "bad").known_rank());  // [32] vs [4]
  EXPECT_EQ(DTypeOf(*m, "less"), DType::kBool);
  EXPECT_EQ(ShapeOf(*m, "sel"), Shape({kU, 50, 32}));
  EXPECT_EQ(DTypeOf(*m, "sel"), DType::kFloat32);
}

TEST(ShapeInferenceTest, ReshapeWithMinusOneFromConst) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 50, 32}));
  AddConstI32(g, "target", {2}, {-1, 32});
  AddNode(g, "r", "Reshape", {"x", "target"});
  auto unknown = InferShapes(g);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(ShapeOf(*unknown, "r"), Shape({kU, 32}));
  auto b2 = InferShapes(g, 2);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(ShapeOf(*b2, "r"), Shape({100, 32}));
  EXPECT_EQ(IntValue(*b2, "target"), (std::vector<int64_t>{-1, 32}));
}

TEST(ShapeInferenceTest, ReshapeTargetComputedFromShapeStridedSlicePack) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 50, 32}));
  AddNode(g, "shape", "Shape", {"x"});
  AddConstI32(g, "b", {1}, {0});
  AddConstI32(g, "e", {1}, {1});
  AddConstI32(g, "s", {1}, {1});
  Node& ss = AddNode(g, "batch", "StridedSlice", {"shape", "b", "e", "s"});
  ss.attrs.Set("shrink_axis_mask", int64_t{1});
  AddConstI32(g, "flat", {}, {1600});
  AddNode(g, "pack", "Pack", {"batch", "flat"});
  AddNode(g, "r", "Reshape", {"x", "pack"});

  auto unknown = InferShapes(g);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(ShapeOf(*unknown, "shape"), Shape({3}));
  EXPECT_EQ(DTypeOf(*unknown, "shape"), DType::kInt32);
  EXPECT_FALSE(LookupInferred(*unknown, {"shape", 0}).value.has_value());  // batch unknown
  EXPECT_EQ(ShapeOf(*unknown, "batch"), Shape::Scalar());
  EXPECT_EQ(ShapeOf(*unknown, "pack"), Shape({2}));
  // The partially known target [?, 1600] still resolves the second dim.
  EXPECT_EQ(ShapeOf(*unknown, "r"), Shape({kU, 1600}));

  auto b3 = InferShapes(g, 3);
  ASSERT_TRUE(b3.ok());
  EXPECT_EQ(IntValue(*b3, "shape"), (std::vector<int64_t>{3, 50, 32}));
  EXPECT_EQ(IntValue(*b3, "batch"), (std::vector<int64_t>{3}));
  EXPECT_EQ(IntValue(*b3, "pack"), (std::vector<int64_t>{3, 1600}));
  EXPECT_EQ(ShapeOf(*b3, "r"), Shape({3, 1600}));
}

TEST(ShapeInferenceTest, IntArithmeticAndConcatOfShapes) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 6, 4}));
  AddNode(g, "shape", "Shape", {"x"}).attrs.Set("out_type", DType::kInt64);
  AddConstI64(g, "idx", {2}, {1, 2});
  AddConstI64(g, "axis0", {}, {0});
  AddNode(g, "dims", "GatherV2", {"shape", "idx", "axis0"});
  AddConstI64(g, "two", {}, {2});
  AddNode(g, "twice", "Mul", {"dims", "two"});
  AddConstI64(g, "minus", {1}, {-1});
  AddNode(g, "target", "ConcatV2", {"minus", "twice", "axis0"});
  AddNode(g, "r", "Reshape", {"x", "target"});
  auto m = InferShapes(g, 8);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(IntValue(*m, "dims"), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(IntValue(*m, "twice"), (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(IntValue(*m, "target"), (std::vector<int64_t>{-1, 12, 8}));
  EXPECT_EQ(ShapeOf(*m, "r"), Shape({2, 12, 8}));  // 8*6*4 / 96
}

TEST(ShapeInferenceTest, GemmTransB) {
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 195}));
  AddConstF(g, "w", {256, 195});
  AddConstF(g, "bias", {256});
  AddOnnxNode(g, "fc", "Gemm", {"x", "w", "bias"}, 1).attrs.Set("transB", int64_t{1});
  AddOnnxNode(g, "fc_noc", "Gemm", {"x", "w"}, 1).attrs.Set("transB", int64_t{1});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "fc"), Shape({kU, 256}));
  auto b1 = InferShapes(g, 1);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("fc"), *b1).flops, 2 * 195 * 256 + 256);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("fc_noc"), *b1).flops, 2 * 195 * 256);
}

TEST(ShapeInferenceTest, OnnxDinAttentionChain) {
  // DIN's export: q [B,32] is unsqueezed and expanded to the sequence's shape [B,50,32].
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "hist", DType::kInt64, Shape({kU, 50}));
  AddPlaceholder(g, "item", DType::kInt64, Shape({kU}));
  AddConstF(g, "emb", {1000, 32});
  AddOnnxNode(g, "k", "Gather", {"emb", "hist"}, 1);
  AddOnnxNode(g, "q", "Gather", {"emb", "item"}, 1);
  AddConstI64(g, "one", {1}, {1});
  AddOnnxNode(g, "q1", "Unsqueeze", {"q", "one"}, 1);
  AddOnnxNode(g, "kshape", "Shape", {"k"}, 1);
  AddOnnxNode(g, "qx", "Expand", {"q1", "kshape"}, 1);
  AddOnnxNode(g, "diff", "Sub", {"qx", "k"}, 1);
  AddOnnxNode(g, "prod", "Mul", {"qx", "k"}, 1);
  AddOnnxNode(g, "cat", "Concat", {"qx", "k", "diff", "prod"}, 1).attrs.Set("axis", int64_t{-1});
  AddConstF(g, "w", {128, 80});
  AddOnnxNode(g, "att", "MatMul", {"cat", "w"}, 1);
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "k"), Shape({kU, 50, 32}));
  EXPECT_EQ(ShapeOf(*m, "q1"), Shape({kU, 1, 32}));
  EXPECT_EQ(DTypeOf(*m, "kshape"), DType::kInt64);
  EXPECT_EQ(ShapeOf(*m, "qx"), Shape({kU, 50, 32}));
  EXPECT_EQ(ShapeOf(*m, "cat"), Shape({kU, 50, 128}));
  EXPECT_EQ(ShapeOf(*m, "att"), Shape({kU, 50, 80}));
  auto b1 = InferShapes(g, 1);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(IntValue(*b1, "kshape"), (std::vector<int64_t>{1, 50, 32}));
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("att"), *b1).flops, 2 * 50 * 128 * 80);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("diff"), *b1).flops, 50 * 32);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("cat"), *b1).kind, FlopsKind::kDataMovement);
}

TEST(ShapeInferenceTest, SplitOnnxAndTf) {
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 10}));
  AddConstI64(g, "sizes", {2}, {4, 6});
  AddOnnxNode(g, "split", "Split", {"x", "sizes"}, 2).attrs.Set("axis", int64_t{1});
  AddOnnxNode(g, "halves", "Split", {"x"}, 2).attrs.Set("axis", int64_t{-1});
  AddConstI32(g, "dim", {}, {1});
  AddNode(g, "tf_split", "Split", {"dim", "x"}).attrs.Set("num_split", int64_t{5});
  AddConstI32(g, "sv", {3}, {3, -1, 2});
  Node& sv = AddNode(g, "tf_splitv", "SplitV", {"x", "sv", "dim"});
  sv.attrs.Set("num_split", int64_t{3});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "split", 0), Shape({kU, 4}));
  EXPECT_EQ(ShapeOf(*m, "split", 1), Shape({kU, 6}));
  EXPECT_EQ(ShapeOf(*m, "halves", 0), Shape({kU, 5}));
  EXPECT_EQ(ShapeOf(*m, "halves", 1), Shape({kU, 5}));
  for (int p = 0; p < 5; ++p) EXPECT_EQ(ShapeOf(*m, "tf_split", p), Shape({kU, 2}));
  EXPECT_EQ(ShapeOf(*m, "tf_splitv", 1), Shape({kU, 5}));
  EXPECT_EQ(ShapeOf(*m, "tf_splitv", 2), Shape({kU, 2}));
  EXPECT_EQ(DTypeOf(*m, "tf_splitv", 2), DType::kFloat32);
}

TEST(ShapeInferenceTest, SqueezeUnsqueezeExpandDimsPackUnpack) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 1, 8}));
  AddNode(g, "sq", "Squeeze", {"x"}).attrs.Set("squeeze_dims", std::vector<int64_t>{-2});
  AddConstI32(g, "ax", {}, {-1});
  AddNode(g, "ed", "ExpandDims", {"sq", "ax"});
  Node& pack = AddNode(g, "pack", "Pack", {"sq", "sq", "sq"});
  pack.attrs.Set("axis", int64_t{1});
  Node& un = AddNode(g, "un", "Unpack", {"pack"});
  un.attrs.Set("num", int64_t{3});
  un.attrs.Set("axis", int64_t{1});
  AddOnnxNode(g, "unsq", "Unsqueeze", {"sq"}, 1).attrs.Set("axes", std::vector<int64_t>{0, 3});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "sq"), Shape({kU, 8}));
  EXPECT_EQ(ShapeOf(*m, "ed"), Shape({kU, 8, 1}));
  EXPECT_EQ(ShapeOf(*m, "pack"), Shape({kU, 3, 8}));
  EXPECT_EQ(ShapeOf(*m, "un", 2), Shape({kU, 8}));
  EXPECT_EQ(ShapeOf(*m, "unsq"), Shape({1, kU, 8, 1}));
}

TEST(ShapeInferenceTest, ReductionsTransposeTileFillOneHotFlatten) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 50, 32}));
  AddConstI32(g, "ax1", {}, {1});
  AddNode(g, "mean", "Mean", {"x", "ax1"});
  AddNode(g, "sum_keep", "Sum", {"x", "ax1"}).attrs.Set("keep_dims", true);
  AddOnnxNode(g, "rs", "ReduceSum", {"x"}, 1).attrs.Set("axes", std::vector<int64_t>{-1});
  AddOnnxNode(g, "rm_all", "ReduceMean", {"x"}, 1).attrs.Set("keepdims", int64_t{0});
  AddConstI32(g, "perm", {3}, {2, 0, 1});
  AddNode(g, "tr", "Transpose", {"x", "perm"});
  AddConstI32(g, "mult", {3}, {1, 2, 3});
  AddNode(g, "tile", "Tile", {"x", "mult"});
  AddConstI32(g, "dims", {2}, {4, 5});
  AddConstF(g, "zero", {});
  AddNode(g, "fill", "Fill", {"dims", "zero"});
  AddPlaceholder(g, "ids", DType::kInt32, Shape({kU}));
  AddConstI32(g, "depth", {}, {7});
  AddConstF(g, "on", {});
  AddNode(g, "oh", "OneHot", {"ids", "depth", "on", "on"});
  AddOnnxNode(g, "flat", "Flatten", {"x"}, 1);
  AddNode(g, "sm", "Softmax", {"x"});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "mean"), Shape({kU, 32}));
  EXPECT_EQ(ShapeOf(*m, "sum_keep"), Shape({kU, 1, 32}));
  EXPECT_EQ(ShapeOf(*m, "rs"), Shape({kU, 50, 1}));
  EXPECT_EQ(ShapeOf(*m, "rm_all"), Shape::Scalar());
  EXPECT_EQ(ShapeOf(*m, "tr"), Shape({32, kU, 50}));
  EXPECT_EQ(ShapeOf(*m, "tile"), Shape({kU, 100, 96}));
  EXPECT_EQ(ShapeOf(*m, "fill"), Shape({4, 5}));
  EXPECT_EQ(ShapeOf(*m, "oh"), Shape({kU, 7}));
  EXPECT_EQ(DTypeOf(*m, "oh"), DType::kFloat32);
  EXPECT_EQ(ShapeOf(*m, "flat"), Shape({kU, 1600}));
  auto b2 = InferShapes(g, 2);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("sm"), *b2).flops, 5 * 2 * 50 * 32);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("mean"), *b2).flops, 2 * 50 * 32);
}

TEST(ShapeInferenceTest, RangeFromKnownAndUnknownLimits) {
  Graph g(ModelFormat::kTfGraphDef);
  AddConstI32(g, "zero", {}, {0});
  AddConstI32(g, "one", {}, {1});
  AddConstI32(g, "ten", {}, {10});
  AddConstI32(g, "minus3", {}, {-3});
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 5, 8}));
  AddNode(g, "shape", "Shape", {"x"}).attrs.Set("out_type", DType::kInt32);
  AddConstI32(g, "b1", {1}, {1});
  AddConstI32(g, "e2", {1}, {2});
  AddConstI32(g, "s1", {1}, {1});
  AddNode(g, "maxlen", "StridedSlice", {"shape", "b1", "e2", "s1"})
      .attrs.Set("shrink_axis_mask", int64_t{1});
  AddNode(g, "iota", "Range", {"zero", "maxlen", "one"});  // tf.sequence_mask's
  AddNode(g, "down", "Range", {"ten", "zero", "minus3"});  // 10, 7, 4, 1
  AddNode(g, "empty", "Range", {"ten", "zero", "one"});
  AddPlaceholder(g, "n", DType::kInt32, Shape::Scalar());
  AddNode(g, "dynamic", "Range", {"zero", "n", "one"});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ShapeOf(*m, "iota"), Shape({5}));
  EXPECT_EQ(DTypeOf(*m, "iota"), DType::kInt32);
  EXPECT_EQ(IntValue(*m, "iota"), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(IntValue(*m, "down"), (std::vector<int64_t>{10, 7, 4, 1}));
  EXPECT_EQ(ShapeOf(*m, "empty"), Shape({0}));
  EXPECT_EQ(ShapeOf(*m, "dynamic"), Shape({kU}));
}

// The ops rankopt's passes create: fused dense layers and embedding lookups / bags.
TEST(ShapeInferenceTest, RankoptInternalOps) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 7}));
  AddPlaceholder(g, "x3", DType::kFloat32, Shape({kU, 4, 7}));
  AddConstF(g, "w", {7, 9});
  AddConstF(g, "wt", {9, 7});
  AddConstF(g, "b", {9});
  AddNode(g, "fused", "_RankoptFusedMatMul", {"x", "w", "b"})
      .attrs.Set("activation", std::string("relu"));
  AddNode(g, "fused_t", "_RankoptFusedMatMul", {"x3", "wt"}).attrs.Set("transpose_b", true);
  AddConstF(g, "table", {50, 10});
  AddPlaceholder(g, "ids", DType::kInt32, Shape({kU, 5}));
  AddPlaceholder(g, "one_row", DType::kInt64, Shape({1, 5}));
  AddPlaceholder(g, "four_rows", DType::kInt64, Shape({4, 5}));
  AddPlaceholder(g, "lengths", DType::kInt32, Shape({kU}));
  AddConstI32(g, "five", {1}, {5});
  AddConstI32(g, "three", {3, 1}, {1, 2, 3});
  AddNode(g, "lookup", "_RankoptEmbeddingLookup", {"table", "ids"});
  AddNode(g, "bag", "_RankoptEmbeddingBag", {"table", "ids", "lengths"});
  AddNode(g, "bag_one_length", "_RankoptEmbeddingBag", {"table", "ids", "five"});
  AddNode(g, "bag_three_lengths", "_RankoptEmbeddingBag", {"table", "one_row", "three"});
  AddNode(g, "bag_four_rows", "_RankoptEmbeddingBag", {"table", "four_rows", "lengths"});
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ShapeOf(*m, "fused"), Shape({kU, 9}));
  EXPECT_EQ(DTypeOf(*m, "fused"), DType::kFloat32);
  EXPECT_EQ(ShapeOf(*m, "fused_t"), Shape({kU, 4, 9}));
  EXPECT_EQ(ShapeOf(*m, "lookup"), Shape({kU, 5, 10}));
  EXPECT_EQ(DTypeOf(*m, "lookup"), DType::kFloat32);
  EXPECT_EQ(ShapeOf(*m, "bag"), Shape({kU, 10}));
  EXPECT_EQ(DTypeOf(*m, "bag"), DType::kFloat32);
  EXPECT_EQ(ShapeOf(*m, "bag_one_length"), Shape({kU, 10}));
  EXPECT_EQ(ShapeOf(*m, "bag_three_lengths"), Shape({3, 10}));
  EXPECT_EQ(ShapeOf(*m, "bag_four_rows"), Shape({4, 10}));
  auto b2 = InferShapes(g, 2);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(ShapeOf(*b2, "bag"), Shape({2, 10}));
}

// The request-level boundary ops and the fused attention (graph/passes/request_level.h).
TEST(ShapeInferenceTest, RankoptRequestLevelOps) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "ids", DType::kInt64, Shape({kU, 50}));
  AddPlaceholder(g, "dense", DType::kFloat32, Shape({kU, 4}));
  AddPlaceholder(g, "q", DType::kFloat32, Shape({kU, 32}));
  AddNode(g, "row", "_RankoptRequestRow", {"ids"});
  AddNode(g, "user_cols", "_RankoptRequestRow", {"dense"})
      .attrs.Set("columns", std::vector<int64_t>{0, 1});
  AddNode(g, "item_cols", "_RankoptSelectColumns", {"dense"})
      .attrs.Set("columns", std::vector<int64_t>{2, 3, 1});
  AddNode(g, "back", "_RankoptBroadcastRows", {"row", "q"});
  AddNode(g, "pooled", "_RankoptAttentionPooling", {"q", "row"});
  // An int8 row-wise table: 16 codes + scale + bias = 24 bytes a row, served as float32.
  AddNode(g, "q8", "Const", {}).attrs.Set(
      "value", *Tensor::FromValues<uint8_t>({100, 24}, std::vector<uint8_t>(2400, 0)));
  Node& lookup = AddNode(g, "lookup8", "_RankoptEmbeddingLookup", {"q8", "ids"});
  lookup.attrs.Set("table_dtype", std::string("int8"));
  lookup.attrs.Set("table_dim", int64_t{16});
  auto m = InferShapes(g, /*batch_size=*/7);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ShapeOf(*m, "lookup8"), Shape({7, 50, 16}));
  EXPECT_EQ(DTypeOf(*m, "lookup8"), DType::kFloat32);
  EXPECT_EQ(ShapeOf(*m, "row"), Shape({1, 50}));
  EXPECT_EQ(DTypeOf(*m, "row"), DType::kInt64);
  EXPECT_EQ(ShapeOf(*m, "user_cols"), Shape({1, 2}));
  EXPECT_EQ(ShapeOf(*m, "item_cols"), Shape({7, 3}));
  EXPECT_EQ(ShapeOf(*m, "back"), Shape({7, 50}));
  EXPECT_EQ(ShapeOf(*m, "pooled"), Shape({7, 32}));
}

TEST(ShapeInferenceTest, Conv2DAndBatchNorm) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 8, 8, 3}));
  AddConstF(g, "f", {3, 3, 3, 16});
  Node& same = AddNode(g, "same", "Conv2D", {"x", "f"});
  same.attrs.Set("padding", std::string("SAME"));
  same.attrs.Set("strides", std::vector<int64_t>{1, 1, 1, 1});
  Node& valid = AddNode(g, "valid", "Conv2D", {"x", "f"});
  valid.attrs.Set("padding", std::string("VALID"));
  valid.attrs.Set("strides", std::vector<int64_t>{1, 2, 2, 1});
  AddConstF(g, "c16", {16});
  AddNode(g, "bn", "FusedBatchNormV3", {"same", "c16", "c16", "c16", "c16"});
  auto m = InferShapes(g, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(ShapeOf(*m, "same"), Shape({1, 8, 8, 16}));
  EXPECT_EQ(ShapeOf(*m, "valid"), Shape({1, 3, 3, 16}));  // (8 - 2 - 1) / 2 + 1
  EXPECT_EQ(ShapeOf(*m, "bn"), Shape({1, 8, 8, 16}));
  EXPECT_EQ(ShapeOf(*m, "bn", 1), Shape({16}));
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("same"), *m).flops, 2 * 27 * 8 * 8 * 16);
}

TEST(ShapeInferenceTest, UnknownOpMakesConsumersUnknownWithoutFailing) {
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 4}));
  AddNode(g, "fancy", "FancyCustomOp", {"x"});
  AddNode(g, "relu", "Relu", {"fancy"});
  AddNode(g, "relu2", "Relu", {"fancy:3"});  // a port nobody declared
  auto m = InferShapes(g, 1);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->contains(TensorRef{"fancy", 0}));
  EXPECT_FALSE(ShapeOf(*m, "fancy").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "relu").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "relu2").known_rank());
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("fancy"), *m).kind, FlopsKind::kUncounted);
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("relu"), *m).kind, FlopsKind::kUncounted);
}

TEST(ShapeInferenceTest, HostileAxesAndDimsDoNotCrash) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Graph g(ModelFormat::kTfGraphDef);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 4, 5}));
  AddPlaceholder(g, "huge", DType::kFloat32, Shape({kMax / 2, 4}));
  AddConstI32(g, "ax7", {}, {7});
  AddNode(g, "concat", "ConcatV2", {"x", "x", "ax7"});
  AddConstI32(g, "axm1", {}, {-1});
  AddNode(g, "concat_ok", "ConcatV2", {"x", "x", "axm1"});
  AddNode(g, "squeeze", "Squeeze", {"x"}).attrs.Set("squeeze_dims", std::vector<int64_t>{-5});
  AddOnnxNode(g, "gather", "Gather", {"x", "ax7"}, 1).attrs.Set("axis", int64_t{99});
  AddOnnxNode(g, "unsq", "Unsqueeze", {"x"}, 1).attrs.Set("axes", std::vector<int64_t>{kMin});
  AddOnnxNode(g, "tr", "Transpose", {"x"}, 1).attrs.Set("perm", std::vector<int64_t>{0, 0, 1});
  AddNode(g, "pack", "Pack", {"x"}).attrs.Set("axis", int64_t{1000});
  AddNode(g, "split", "Split", {"ax7", "x"}).attrs.Set("num_split", int64_t{0});
  AddNode(g, "split_neg", "Split", {"axm1", "x"}).attrs.Set("num_split", int64_t{-3});
  AddConstI64(g, "two_infer", {2}, {-1, -1});
  AddNode(g, "reshape", "Reshape", {"x", "two_infer"});
  AddConstI64(g, "mult", {2}, {kMax, 3});
  AddNode(g, "tile", "Tile", {"huge", "mult"});
  AddNode(g, "flops_overflow", "Relu", {"tile"});
  AddConstI64(g, "b", {1}, {kMin + 1});
  AddConstI64(g, "e", {1}, {kMax});
  AddConstI64(g, "s", {1}, {kMin});
  AddNode(g, "ss", "StridedSlice", {"x", "b", "e", "s"});
  AddConstI64(g, "s2", {1}, {-1});
  AddNode(g, "ss_rev", "StridedSlice", {"x", "b", "e", "s2"});
  AddConstI64(g, "depth", {}, {kMax});
  AddNode(g, "oh", "OneHot", {"x", "depth", "x", "x"}).attrs.Set("axis", int64_t{-9});
  AddOnnxNode(g, "flat", "Flatten", {"huge"}, 1).attrs.Set("axis", int64_t{kMin});
  AddOnnxNode(g, "rs", "ReduceSum", {"x"}, 1).attrs.Set("axes", std::vector<int64_t>{3});
  Node& conv = AddNode(g, "conv", "Conv2D", {"x", "x"});
  conv.attrs.Set("padding", std::string("VALID"));
  conv.attrs.Set("strides", std::vector<int64_t>{0});
  AddNode(g, "add_ints", "Mul", {"mult", "mult"});  // overflowing int arithmetic
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(ShapeOf(*m, "concat").known_rank());
  EXPECT_EQ(ShapeOf(*m, "concat_ok"), Shape({kU, 4, 10}));
  EXPECT_FALSE(ShapeOf(*m, "squeeze").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "gather").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "unsq").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "tr").known_rank());
  EXPECT_FALSE(ShapeOf(*m, "pack").known_rank());
  EXPECT_EQ(ShapeOf(*m, "split_neg"), Shape());
  EXPECT_FALSE(ShapeOf(*m, "reshape").IsFullyDefined());
  EXPECT_EQ(ShapeOf(*m, "tile"), Shape({kU, 12}));  // kMax/2 * kMax overflows -> unknown
  EXPECT_FALSE(ShapeOf(*m, "ss").known_rank());     // zero-ish / INT64_MIN stride
  EXPECT_EQ(ShapeOf(*m, "ss_rev"), Shape({kU, 4, 5}));
  EXPECT_FALSE(ShapeOf(*m, "oh").known_rank());
  EXPECT_EQ(ShapeOf(*m, "flat"), Shape({kU, kU}));
  EXPECT_FALSE(ShapeOf(*m, "rs").known_rank());
  EXPECT_EQ(ShapeOf(*m, "add_ints"), Shape({2}));
  EXPECT_FALSE(LookupInferred(*m, {"add_ints", 0}).value.has_value());  // kMax*kMax overflowed
  auto b1 = InferShapes(g, 1);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(EstimateNodeFlops(*g.FindNode("flops_overflow"), *b1).kind, FlopsKind::kUncounted);
}

TEST(ShapeInferenceTest, CastAndConstantValues) {
  Graph g(ModelFormat::kOnnx);
  AddPlaceholder(g, "x", DType::kFloat32, Shape({kU, 3}));
  AddOnnxNode(g, "shape", "Shape", {"x"}, 1);
  AddOnnxNode(g, "cast", "Cast", {"shape"}, 1).attrs.Set("to", int64_t{6});  // INT32
  AddOnnxNode(g, "castf", "Cast", {"x"}, 1).attrs.Set("to", int64_t{11});    // DOUBLE
  Node c;
  c.name = "constant";
  c.op = "Constant";
  c.output_names = {"constant_out"};
  c.attrs.Set("value", *Tensor::FromValues<int64_t>({2}, std::vector<int64_t>{0, 3}));
  ASSERT_TRUE(g.AddNode(std::move(c)).ok());
  AddOnnxNode(g, "r", "Reshape", {"x", "constant"}, 1);  // ONNX 0 = copy the input dim
  auto m = InferShapes(g, 5);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(DTypeOf(*m, "cast"), DType::kInt32);
  EXPECT_EQ(IntValue(*m, "cast"), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(DTypeOf(*m, "castf"), DType::kFloat64);
  EXPECT_EQ(ShapeOf(*m, "castf"), Shape({5, 3}));
  EXPECT_EQ(ShapeOf(*m, "r"), Shape({5, 3}));
}

// Identity copies its input's integer value into the same map it reads it from; the copy must
// survive the map growing (a use-after-free under ASan before, found by tf_graphdef_fuzz).
TEST(ShapeInferenceTest, IdentityChainsKeepIntValuesWhileTheMapGrows) {
  Graph g(ModelFormat::kTfGraphDef);
  AddConstI32(g, "c", {2}, {3, 4});
  std::string previous = "c";
  for (int i = 0; i < 200; ++i) {
    const std::string name = "id" + std::to_string(i);
    AddNode(g, name, i % 2 == 0 ? "Identity" : "IdentityN", {previous});
    previous = name;
  }
  auto m = InferShapes(g);
  ASSERT_TRUE(m.ok()) << m.status();
  for (int i = 0; i < 200; ++i) {
    const std::string name = "id" + std::to_string(i);
    EXPECT_EQ(IntValue(*m, name), (std::vector<int64_t>{3, 4})) << name;
  }
}

TEST(ShapeInferenceTest, CycleIsAnError) {
  Graph g(ModelFormat::kTfGraphDef);
  AddNode(g, "a", "Relu", {"b"});
  AddNode(g, "b", "Relu", {"a"});
  EXPECT_FALSE(InferShapes(g).ok());
}

}  // namespace
}  // namespace rankopt
