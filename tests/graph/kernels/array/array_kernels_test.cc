// Array kernels against hand-computed values: ONNX and TF semantics, negative axes and indices,
// empty tensors, and bad values rejected with errors.
#include <cmath>
#include <limits>
#include <numeric>

#include "tests/graph/kernels/array/array_test_util.h"

namespace rankopt {
namespace array_test {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// [[0,1,2],[3,4,5]]
Tensor X() { return F({2, 3}, {0, 1, 2, 3, 4, 5}); }

// t[i][j][k] = 12i + 4j + k, shape [2,3,4].
Tensor T234() {
  std::vector<int32_t> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  return I32({2, 3, 4}, v);
}

TEST_F(ArrayKernelTest, RegistersInBothOpSets) {
  for (const char* op :
       {"Gather",  "Concat",  "Unsqueeze", "Squeeze",   "Shape",    "Expand",   "Cast",
        "Reshape", "Flatten", "Split",     "Transpose", "Identity", "Constant", "ConstantOfShape",
        "Slice",   "Tile",    "Where",     "GatherND",  "Range",    "Pad"}) {
    EXPECT_NE(registry_.Find(OpSet::kOnnx, op), nullptr) << op;
  }
  for (const char* op : {"Identity",
                         "IdentityN",
                         "Reshape",
                         "ExpandDims",
                         "Squeeze",
                         "Shape",
                         "ShapeN",
                         "Size",
                         "Rank",
                         "Cast",
                         "ConcatV2",
                         "Pack",
                         "Unpack",
                         "Split",
                         "SplitV",
                         "Slice",
                         "StridedSlice",
                         "Transpose",
                         "Tile",
                         "Fill",
                         "GatherV2",
                         "Gather",
                         "GatherNd",
                         "OneHot",
                         "Select",
                         "SelectV2",
                         "Where",
                         "Pad",
                         "PadV2",
                         "MirrorPad",
                         "ReverseSequence",
                         "Range",
                         "Unique",
                         "SparseFillEmptyRows",
                         "SparseReshape",
                         "SparseSegmentSum",
                         "SparseSegmentMean",
                         "UnsortedSegmentSum",
                         "ScatterNd",
                         "PlaceholderWithDefault",
                         "StopGradient",
                         "PreventGradient",
                         "CheckNumerics",
                         "Snapshot",
                         "NoOp"}) {
    EXPECT_NE(registry_.Find(OpSet::kTensorFlow, op), nullptr) << op;
  }
}

// ---- Gather ---------------------------------------------------------------------------------

TEST_F(ArrayKernelTest, OnnxGatherNegativeIndexWraps) {
  Node n = MakeNode("Gather");
  n.attrs.Set("axis", int64_t{1});
  ExpectTensor<float>(Onnx1(n, {X(), I64({2}, {-1, 0})}), {2, 2}, {2, 0, 5, 3});
  n.attrs.Set("axis", int64_t{-2});
  ExpectTensor<float>(Onnx1(n, {X(), I32({2, 1}, {1, 0})}), {2, 1, 3}, {3, 4, 5, 0, 1, 2});
}

TEST_F(ArrayKernelTest, GatherOutOfRangeNamesIndex) {
  Node n = MakeNode("Gather");
  n.attrs.Set("axis", int64_t{1});
  ExpectError(Onnx(n, {X(), I64({2}, {0, 3})}), "index 3");
  ExpectError(Onnx(n, {X(), I64({1}, {-4})}), "index -4");
  Node v2 = MakeNode("GatherV2");
  ExpectError(Tf(v2, {X(), I64({1}, {-1}), I32S(0)}), "index -1");  // TF: no wrapping
  ExpectTensor<float>(Tf1(v2, {X(), I32({2}, {1, 1}), I64S(0)}), {2, 3}, {3, 4, 5, 3, 4, 5});
}

TEST_F(ArrayKernelTest, GatherEmptyIndices) {
  Node n = MakeNode("GatherV2");
  ExpectTensor<float>(Tf1(n, {X(), I64({0}, {}), I32S(-1)}), {2, 0}, {});
}

// The examples of ONNX's GatherElements spec, a negative index, and an index out of range.
TEST_F(ArrayKernelTest, GatherElements) {
  Node node = MakeNode("GatherElements");
  node.attrs.Set("axis", int64_t{1});
  ExpectTensor<float>(Onnx1(node, {F({2, 2}, {1, 2, 3, 4}), I64({2, 2}, {0, 0, 1, 0})}), {2, 2},
                      {1, 1, 4, 3});
  node.attrs.Set("axis", int64_t{0});
  ExpectTensor<float>(
      Onnx1(node, {F({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), I32({2, 3}, {1, 2, 0, 2, 0, 0})}),
      {2, 3}, {4, 8, 3, 7, 2, 3});
  node.attrs.Set("axis", int64_t{-1});
  ExpectTensor<int64_t>(Onnx1(node, {I64({1, 2}, {10, 20}), I64({1, 1}, {-1})}), {1, 1}, {20});
  ExpectError(Onnx(node, {F({1, 2}, {1, 2}), I64({1, 1}, {2})}), "index 2");
  ExpectError(Onnx(node, {F({1, 2}, {1, 2}), I64({2}, {0, 1})}), "same rank");
  ExpectError(Onnx(node, {F({1, 2}, {1, 2}), I64({2, 1}, {0, 1})}), "exceed data");
}

// The examples of ONNX's ScatterND and ScatterElements specs, the reductions on a repeated index,
// negative indices and the errors.
TEST_F(ArrayKernelTest, OnnxScatterNd) {
  ExpectTensor<float>(
      Onnx1(MakeNode("ScatterND"),
            {F({8}, {1, 2, 3, 4, 5, 6, 7, 8}), I64({4, 1}, {4, 3, 1, 7}), F({4}, {9, 10, 11, 12})}),
      {8}, {1, 11, 3, 10, 9, 6, 7, 12});
  ExpectTensor<float>(
      Onnx1(MakeNode("ScatterND"), {F({2, 2}, {1, 2, 3, 4}), I64({1, 1}, {-1}), F({1, 2}, {9, 9})}),
      {2, 2}, {1, 2, 9, 9});
  auto reduce = [&](const char* reduction, std::vector<int64_t> updates) {
    Node node = MakeNode("ScatterND");
    node.attrs.Set("reduction", std::string(reduction));
    return Onnx1(node, {I64({3}, {1, 2, 3}), I64({2, 1}, {0, 0}), I64({2}, updates)});
  };
  ExpectTensor<int64_t>(reduce("add", {5, 6}), {3}, {12, 2, 3});
  ExpectTensor<int64_t>(reduce("mul", {5, 6}), {3}, {30, 2, 3});
  ExpectTensor<int64_t>(reduce("max", {0, 7}), {3}, {7, 2, 3});
  ExpectTensor<int64_t>(reduce("min", {0, 7}), {3}, {0, 2, 3});
  ExpectTensor<int64_t>(reduce("none", {0, 7}), {3}, {7, 2, 3});  // the last wins
  ExpectError(Onnx(MakeNode("ScatterND"), {F({3}, {1, 2, 3}), I64({1, 1}, {3}), F({1}, {0})}),
              "index 3");
  ExpectError(Onnx(MakeNode("ScatterND"), {F({3}, {1, 2, 3}), I64({1, 1}, {0}), F({2}, {0, 0})}),
              "expected dims [1]");
  Node bad = MakeNode("ScatterND");
  bad.attrs.Set("reduction", std::string("mean"));
  ExpectError(Onnx(bad, {F({3}, {1, 2, 3}), I64({1, 1}, {0}), F({1}, {0})}), "reduction is 'mean'");
}

TEST_F(ArrayKernelTest, OnnxScatterElements) {
  Node node = MakeNode("ScatterElements");
  ExpectTensor<float>(
      Onnx1(node, {F({3, 3}, std::vector<float>(9, 0)), I64({2, 3}, {1, 0, 2, 0, 2, 1}),
                   F({2, 3}, {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f})}),
      {3, 3}, {2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f});
  node.attrs.Set("axis", int64_t{1});
  ExpectTensor<float>(
      Onnx1(node, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 2}, {1, 3}), F({1, 2}, {1.1f, 2.1f})}),
      {1, 5}, {1, 1.1f, 3, 2.1f, 5});
  ExpectTensor<float>(
      Onnx1(node, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 2}, {-4, -2}), F({1, 2}, {1.1f, 2.1f})}),
      {1, 5}, {1, 1.1f, 3, 2.1f, 5});
  node.attrs.Set("reduction", std::string("add"));
  ExpectTensor<float>(
      Onnx1(node, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 2}, {1, 1}), F({1, 2}, {1.1f, 2.1f})}),
      {1, 5}, {1, 2 + 1.1f + 2.1f, 3, 4, 5});
  ExpectError(Onnx(node, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 1}, {5}), F({1, 1}, {0})}),
              "index 5");
  ExpectError(Onnx(node, {F({1, 5}, {1, 2, 3, 4, 5}), I64({1, 2}, {0, 1}), F({1, 1}, {0})}),
              "one shape");
}

// Trilu keeps j - i >= k (upper) or <= k (lower) of each matrix of the last two dims.
TEST_F(ArrayKernelTest, Trilu) {
  const Tensor x = F({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Node upper = MakeNode("Trilu");
  ExpectTensor<float>(Onnx1(upper, {x}), {3, 4}, {1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12});
  ExpectTensor<float>(Onnx1(upper, {x, I64S(1)}), {3, 4}, {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12});
  Node lower = MakeNode("Trilu");
  lower.attrs.Set("upper", int64_t{0});
  ExpectTensor<float>(Onnx1(lower, {x, I64S(-1)}), {3, 4}, {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0});
  ExpectTensor<int64_t>(
      Onnx1(lower, {I64({2, 1, 2}, {1, 2, 3, 4}), I64S(std::numeric_limits<int64_t>::min())}),
      {2, 1, 2}, {0, 0, 0, 0});
  ExpectError(Onnx(upper, {F({3}, {1, 2, 3})}), "rank < 2");
}

// Inference Dropout: the input, and an all-true mask when asked; training_mode true refused.
TEST_F(ArrayKernelTest, OnnxDropout) {
  const Tensor x = F({2, 2}, {1, -2, 3, 4});
  absl::StatusOr<std::vector<Tensor>> out = Onnx(MakeNode("Dropout", 2), {x, FS(0.5f)});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  ExpectTensor<float>((*out)[0], {2, 2}, {1, -2, 3, 4});
  ExpectBools((*out)[1], {2, 2}, {1, 1, 1, 1});
  ExpectTensor<float>(Onnx1(MakeNode("Dropout"), {x, FS(0.5f), B({}, {0})}), {2, 2}, {1, -2, 3, 4});
  ExpectError(Onnx(MakeNode("Dropout"), {x, FS(0.5f), B({}, {1})}), "training_mode is true");
}

TEST_F(ArrayKernelTest, GatherNd) {
  Node n = MakeNode("GatherND");
  Tensor data = F({2, 2}, {0, 1, 2, 3});
  ExpectTensor<float>(Onnx1(n, {data, I64({2, 2}, {0, 0, 1, 1})}), {2}, {0, 3});
  ExpectTensor<float>(Onnx1(n, {data, I64({2, 1}, {1, 0})}), {2, 2}, {2, 3, 0, 1});
  ExpectTensor<float>(Onnx1(n, {data, I64({1, 2}, {-1, -2})}), {1}, {2});
  ExpectError(Onnx(n, {data, I64({1, 2}, {2, 0})}), "index 2");
  Node tf = MakeNode("GatherNd");
  ExpectError(Tf(tf, {data, I64({1, 2}, {-1, 0})}), "index -1");
  // batch_dims = 1: data [2,2,2] = arange(8), one index per batch.
  n.attrs.Set("batch_dims", int64_t{1});
  ExpectTensor<float>(Onnx1(n, {F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), I64({2, 1}, {1, 0})}),
                      {2, 2}, {2, 3, 4, 5});
}

TEST_F(ArrayKernelTest, ScatterNdAddsDuplicates) {
  Node n = MakeNode("ScatterNd");
  ExpectTensor<float>(Tf1(n, {I64({3, 1}, {1, 3, 1}), F({3}, {10, 20, 30}), I32({1}, {5})}), {5},
                      {0, 40, 0, 20, 0});
  ExpectError(Tf(n, {I64({1, 1}, {5}), F({1}, {1}), I32({1}, {5})}), "index 5");
}

// ---- Concat, Pack, Unpack, Split ---------------------------------------------------------------

TEST_F(ArrayKernelTest, Concat) {
  Node n = MakeNode("Concat");
  n.attrs.Set("axis", int64_t{-1});
  ExpectTensor<float>(Onnx1(n, {F({2, 1}, {9, 8}), X()}), {2, 4}, {9, 0, 1, 2, 8, 3, 4, 5});
  Node v2 = MakeNode("ConcatV2");
  ExpectTensor<float>(Tf1(v2, {X(), F({0, 3}, {}), I32S(0)}), {2, 3}, {0, 1, 2, 3, 4, 5});
  ExpectError(Tf(v2, {X(), F({3, 3}, std::vector<float>(9)), I32S(1)}), "expected equal");
  ExpectError(Tf(v2, {X(), X(), I32S(2)}), "axis 2 is out of range");
}

TEST_F(ArrayKernelTest, PackUnpack) {
  Node pack = MakeNode("Pack");
  pack.attrs.Set("axis", int64_t{1});
  ExpectTensor<float>(Tf1(pack, {F({2}, {1, 2}), F({2}, {3, 4})}), {2, 2}, {1, 3, 2, 4});
  pack.attrs.Set("axis", int64_t{-1});
  ExpectTensor<int64_t>(Tf1(pack, {I64S(7), I64S(8)}), {2}, {7, 8});
  Node unpack = MakeNode("Unpack");
  unpack.attrs.Set("axis", int64_t{1});
  unpack.attrs.Set("num", int64_t{3});
  auto out = Tf(unpack, {X()});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  ExpectTensor<float>((*out)[0], {2}, {0, 3});
  ExpectTensor<float>((*out)[2], {2}, {2, 5});
  unpack.attrs.Set("num", int64_t{2});
  ExpectError(Tf(unpack, {X()}), "expected num = 2");
}

TEST_F(ArrayKernelTest, OnnxSplitForms) {
  Node n = MakeNode("Split", 3);
  n.attrs.Set("axis", int64_t{1});
  auto out = Onnx(n, {X()});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  ExpectTensor<float>((*out)[0], {2, 1}, {0, 3});
  ExpectTensor<float>((*out)[2], {2, 1}, {2, 5});

  Node attr = MakeNode("Split", 2);
  attr.attrs.Set("axis", int64_t{-1});
  attr.attrs.Set("split", std::vector<int64_t>{1, 2});
  out = Onnx(attr, {X()});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectTensor<float>((*out)[1], {2, 2}, {1, 2, 4, 5});

  Node input = MakeNode("Split", 2);
  input.attrs.Set("axis", int64_t{1});
  out = Onnx(input, {X(), I64({2}, {2, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectTensor<float>((*out)[0], {2, 2}, {0, 1, 3, 4});
  ExpectError(Onnx(input, {X(), I64({2}, {2, 2})}), "sum to 4");

  Node uneven = MakeNode("Split", 2);
  uneven.attrs.Set("axis", int64_t{1});
  uneven.attrs.Set("num_outputs", int64_t{2});
  out = Onnx(uneven, {X()});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectTensor<float>((*out)[1], {2, 1}, {2, 5});
  ExpectError(Onnx(MakeNode("Split", 2), {F({3}, {1, 2, 3})}), "equal parts");
}

TEST_F(ArrayKernelTest, TfSplitAndSplitV) {
  Node n = MakeNode("Split");
  n.attrs.Set("num_split", int64_t{3});
  auto out = Tf(n, {I32S(-1), X()});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  ExpectTensor<float>((*out)[1], {2, 1}, {1, 4});
  Node v = MakeNode("SplitV");
  out = Tf(v, {X(), I64({2}, {-1, 1}), I32S(1)});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectTensor<float>((*out)[0], {2, 2}, {0, 1, 3, 4});
  ExpectTensor<float>((*out)[1], {2, 1}, {2, 5});
}

// ---- Shapes ----------------------------------------------------------------------------------

TEST_F(ArrayKernelTest, UnsqueezeAttrAndInputForms) {
  Node attr = MakeNode("Unsqueeze");
  attr.attrs.Set("axes", std::vector<int64_t>{0, -1});
  Tensor out = Onnx1(attr, {X()});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{1, 2, 3, 1}));
  ExpectTensor<float>(out, {1, 2, 3, 1}, {0, 1, 2, 3, 4, 5});
  Node input = MakeNode("Unsqueeze");
  EXPECT_EQ(Onnx1(input, {X(), I64({1}, {1})}).dims(), (std::vector<int64_t>{2, 1, 3}));
  ExpectError(Onnx(input, {X(), I64({2}, {1, -3})}), "repeat");
  ExpectError(Onnx(input, {X()}), "axes");
}

TEST_F(ArrayKernelTest, SqueezeAttrInputAndAll) {
  Tensor t = F({1, 2, 1, 3}, {0, 1, 2, 3, 4, 5});
  Node attr = MakeNode("Squeeze");
  attr.attrs.Set("axes", std::vector<int64_t>{-2});
  EXPECT_EQ(Onnx1(attr, {t}).dims(), (std::vector<int64_t>{1, 2, 3}));
  Node input = MakeNode("Squeeze");
  EXPECT_EQ(Onnx1(input, {t, I64({1}, {0})}).dims(), (std::vector<int64_t>{2, 1, 3}));
  ExpectTensor<float>(Onnx1(input, {t}), {2, 3}, {0, 1, 2, 3, 4, 5});
  ExpectError(Onnx(input, {t, I64({1}, {1})}), "expected 1");
  Node tf = MakeNode("Squeeze");
  tf.attrs.Set("squeeze_dims", std::vector<int64_t>{});
  EXPECT_EQ(Tf1(tf, {t}).dims(), (std::vector<int64_t>{2, 3}));
  tf.attrs.Set("squeeze_dims", std::vector<int64_t>{2});
  EXPECT_EQ(Tf1(tf, {t}).dims(), (std::vector<int64_t>{1, 2, 3}));
}

TEST_F(ArrayKernelTest, ExpandDims) {
  Node n = MakeNode("ExpandDims");
  EXPECT_EQ(Tf1(n, {X(), I32S(-1)}).dims(), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_EQ(Tf1(n, {X(), I64({1}, {0})}).dims(), (std::vector<int64_t>{1, 2, 3}));
  ExpectError(Tf(n, {X(), I32S(3)}), "out of range");
}

TEST_F(ArrayKernelTest, OnnxReshapeZeroAndMinusOne) {
  Node n = MakeNode("Reshape");
  ExpectTensor<float>(Onnx1(n, {X(), I64({2}, {0, -1})}), {2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(Onnx1(n, {X(), I64({1}, {-1})}).dims(), (std::vector<int64_t>{6}));
  EXPECT_EQ(Onnx1(n, {F({2, 3, 4}, std::vector<float>(24)), I64({3}, {0, -1, 2})}).dims(),
            (std::vector<int64_t>{2, 6, 2}));
  ExpectError(Onnx(n, {X(), I64({2}, {3, 0})}), "9 elements");  // 0 copies dim 1 = 3
  ExpectError(Onnx(n, {X(), I64({2}, {-1, -1})}), "more than one -1");
  ExpectError(Onnx(n, {X(), I64({2}, {4, -1})}), "not a whole number");
  Node zero = MakeNode("Reshape");
  zero.attrs.Set("allowzero", int64_t{1});
  EXPECT_EQ(Onnx1(zero, {F({0, 3}, {}), I64({2}, {3, 0})}).dims(), (std::vector<int64_t>{3, 0}));
  Node tf = MakeNode("Reshape");
  EXPECT_EQ(Tf1(tf, {X(), I32({2}, {3, -1})}).dims(), (std::vector<int64_t>{3, 2}));
  ExpectError(Tf(tf, {X(), I32({2}, {0, -1})}), "-1");  // TF: 0 is a literal 0
}

TEST_F(ArrayKernelTest, Flatten) {
  Tensor t = F({2, 3, 4}, std::vector<float>(24));
  Node n = MakeNode("Flatten");
  n.attrs.Set("axis", int64_t{0});
  EXPECT_EQ(Onnx1(n, {t}).dims(), (std::vector<int64_t>{1, 24}));
  n.attrs.Set("axis", int64_t{-1});
  EXPECT_EQ(Onnx1(n, {t}).dims(), (std::vector<int64_t>{6, 4}));
  n.attrs.Set("axis", int64_t{3});
  EXPECT_EQ(Onnx1(n, {t}).dims(), (std::vector<int64_t>{24, 1}));
  n.attrs.Set("axis", int64_t{4});
  ExpectError(Onnx(n, {t}), "out of range");
}

TEST_F(ArrayKernelTest, ShapeSizeRank) {
  Tensor t = F({2, 3, 4}, std::vector<float>(24));
  Node n = MakeNode("Shape");
  ExpectTensor<int64_t>(Onnx1(n, {t}), {3}, {2, 3, 4});
  n.attrs.Set("start", int64_t{1});
  ExpectTensor<int64_t>(Onnx1(n, {t}), {2}, {3, 4});
  n.attrs.Set("start", int64_t{0});
  n.attrs.Set("end", int64_t{-1});
  ExpectTensor<int64_t>(Onnx1(n, {t}), {2}, {2, 3});
  Node tf = MakeNode("Shape");
  ExpectTensor<int32_t>(Tf1(tf, {t}), {3}, {2, 3, 4});
  tf.attrs.Set("out_type", DType::kInt64);
  ExpectTensor<int64_t>(Tf1(tf, {FS(1)}), {0}, {});
  auto shape_n = Tf(MakeNode("ShapeN"), {t, X()});
  ASSERT_TRUE(shape_n.ok()) << shape_n.status();
  ExpectTensor<int32_t>((*shape_n)[1], {2}, {2, 3});
  ExpectTensor<int32_t>(Tf1(MakeNode("Size"), {t}), {}, {24});
  ExpectTensor<int64_t>(Onnx1(MakeNode("Size"), {X()}), {}, {6});
  ExpectTensor<int32_t>(Tf1(MakeNode("Rank"), {t}), {}, {3});
}

TEST_F(ArrayKernelTest, IdentityForwards) {
  ExpectTensor<float>(Onnx1(MakeNode("Identity"), {X()}), {2, 3}, {0, 1, 2, 3, 4, 5});
  auto out = Tf(MakeNode("IdentityN"), {X(), I64S(4)});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  ExpectTensor<int64_t>((*out)[1], {}, {4});
  ExpectTensor<float>(Tf1(MakeNode("PlaceholderWithDefault"), {X()}), {2, 3}, {0, 1, 2, 3, 4, 5});
  ExpectTensor<float>(Tf1(MakeNode("StopGradient"), {FS(2)}), {}, {2});
  auto noop = Tf(MakeNode("NoOp"), {});
  ASSERT_TRUE(noop.ok());
  EXPECT_TRUE(noop->empty());
}

TEST_F(ArrayKernelTest, CheckNumerics) {
  Node n = MakeNode("CheckNumerics");
  n.attrs.Set("message", std::string("bad logits"));
  ExpectTensor<float>(Tf1(n, {F({2}, {1, 2})}), {2}, {1, 2});
  ExpectError(Tf(n, {F({2}, {1, std::nanf("")})}), "bad logits");
}

// ---- Cast ------------------------------------------------------------------------------------

TEST_F(ArrayKernelTest, OnnxCastSaturatesAndRounds) {
  Node n = MakeNode("Cast");
  n.attrs.Set("to", int64_t{7});
  ExpectTensor<int64_t>(Onnx1(n, {F({4}, {3.7f, -2.5f, 1e20f, std::nanf("")})}), {4},
                        {3, -2, kMax, 0});
  n.attrs.Set("to", int64_t{9});
  ExpectBools(Onnx1(n, {F({4}, {0, 0.5f, -1, -0.0f})}), {4}, {0, 1, 1, 0});
  n.attrs.Set("to", int64_t{1});
  ExpectTensor<float>(Onnx1(n, {B({2}, {1, 0})}), {2}, {1, 0});
  n.attrs.Set("to", int64_t{8});  // string
  ExpectError(Onnx(n, {X()}), "not a numeric ONNX type");
}

TEST_F(ArrayKernelTest, CastThroughHalf) {
  Node to_half = MakeNode("Cast");
  to_half.attrs.Set("to", int64_t{10});
  Node to_float = MakeNode("Cast");
  to_float.attrs.Set("to", int64_t{1});
  Tensor h = Onnx1(to_half, {F({5}, {1.0f, 1.0f / 3, 65504.0f, 1e5f, -6e-8f})});
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  // 1/3 -> 0x3555 = 0.333251953125; 1e5 overflows to inf; -6e-8 -> the smallest subnormal.
  ExpectTensor<float>(Onnx1(to_float, {h}), {5},
                      {1.0f, 0.333251953125f, 65504.0f, std::numeric_limits<float>::infinity(),
                       -5.9604644775390625e-8f});
}

TEST_F(ArrayKernelTest, TfCast) {
  Node n = MakeNode("Cast");
  n.attrs.Set("DstT", DType::kFloat32);
  ExpectTensor<float>(Tf1(n, {I32({2}, {1, -2})}), {2}, {1, -2});
  n.attrs.Set("DstT", DType::kInt32);
  ExpectTensor<int32_t>(Tf1(n, {I64({2}, {-1, int64_t{1} << 32})}), {2}, {-1, 0});  // wraps
  ExpectTensor<int32_t>(Tf1(n, {I32({1}, {5})}), {1}, {5});                         // same type
}

// ---- Constants, fills, ranges -------------------------------------------------------------------

TEST_F(ArrayKernelTest, ConstantAndConstantOfShape) {
  Node c = MakeNode("Constant");
  c.attrs.Set("value", X());
  ExpectTensor<float>(Onnx1(c, {}), {2, 3}, {0, 1, 2, 3, 4, 5});
  Node ints = MakeNode("Constant");
  ints.attrs.Set("value_ints", std::vector<int64_t>{4, 5});
  ExpectTensor<int64_t>(Onnx1(ints, {}), {2}, {4, 5});
  Node cos = MakeNode("ConstantOfShape");
  ExpectTensor<float>(Onnx1(cos, {I64({2}, {1, 2})}), {1, 2}, {0, 0});
  cos.attrs.Set("value", I64({1}, {3}));
  ExpectTensor<int64_t>(Onnx1(cos, {I64({2}, {2, 1})}), {2, 1}, {3, 3});
  ExpectError(Onnx(cos, {I64({1}, {-1})}), "negative");
  Node fill = MakeNode("Fill");
  ExpectTensor<int32_t>(Tf1(fill, {I32({2}, {2, 2}), I32S(7)}), {2, 2}, {7, 7, 7, 7});
}

TEST_F(ArrayKernelTest, Range) {
  Node n = MakeNode("Range");
  ExpectTensor<float>(Onnx1(n, {FS(1), FS(2), FS(0.25f)}), {4}, {1, 1.25f, 1.5f, 1.75f});
  ExpectTensor<int64_t>(Onnx1(n, {I64S(10), I64S(4), I64S(-3)}), {2}, {10, 7});
  ExpectTensor<int64_t>(Onnx1(n, {I64S(5), I64S(1), I64S(1)}), {0}, {});
  ExpectError(Onnx(n, {I64S(0), I64S(1), I64S(0)}), "delta");
  ExpectTensor<int32_t>(Tf1(n, {I32S(0), I32S(5), I32S(2)}), {3}, {0, 2, 4});
  ExpectError(Tf(n, {I32S(5), I32S(1), I32S(1)}), "wrong order");
  ExpectError(Tf(n, {I64S(0), I64S(kMax), I64S(1)}), "elements");
}

// ---- Slicing ---------------------------------------------------------------------------------

TEST_F(ArrayKernelTest, OnnxSlice) {
  Node n = MakeNode("Slice");
  ExpectTensor<float>(Onnx1(n, {X(), I64({1}, {1}), I64({1}, {kMax}), I64({1}, {1})}), {2, 2},
                      {1, 2, 4, 5});
  ExpectTensor<float>(
      Onnx1(n, {X(), I64({1}, {-1}), I64({1}, {kMin}), I64({1}, {-1}), I64({1}, {-1})}), {2, 3},
      {2, 1, 0, 5, 4, 3});
  ExpectTensor<float>(
      Onnx1(n, {X(), I64({2}, {0, 0}), I64({2}, {2, 3}), std::nullopt, I64({2}, {1, 2})}), {2, 2},
      {0, 2, 3, 5});
  ExpectTensor<float>(Onnx1(n, {X(), I64({1}, {5}), I64({1}, {9}), I64({1}, {0})}), {0, 3}, {});
  ExpectError(Onnx(n, {X(), I64({1}, {0}), I64({1}, {1}), I64({1}, {0}), I64({1}, {0})}), "step");
  Node attrs = MakeNode("Slice");  // opset < 10
  attrs.attrs.Set("starts", std::vector<int64_t>{0});
  attrs.attrs.Set("ends", std::vector<int64_t>{1});
  ExpectTensor<float>(Onnx1(attrs, {X()}), {1, 3}, {0, 1, 2});
}

TEST_F(ArrayKernelTest, TfSlice) {
  Node n = MakeNode("Slice");
  ExpectTensor<float>(Tf1(n, {X(), I32({2}, {1, 1}), I32({2}, {-1, 2})}), {1, 2}, {4, 5});
  ExpectError(Tf(n, {X(), I32({2}, {1, 2}), I32({2}, {1, 2})}), "outside");
  ExpectError(Tf(n, {X(), I32({2}, {-1, 0}), I32({2}, {1, 1})}), "outside");
}

Node StridedSlice(int64_t begin_mask, int64_t end_mask, int64_t ellipsis, int64_t new_axis,
                  int64_t shrink) {
  Node n = MakeNode("StridedSlice");
  n.attrs.Set("begin_mask", begin_mask);
  n.attrs.Set("end_mask", end_mask);
  n.attrs.Set("ellipsis_mask", ellipsis);
  n.attrs.Set("new_axis_mask", new_axis);
  n.attrs.Set("shrink_axis_mask", shrink);
  return n;
}

TEST_F(ArrayKernelTest, StridedSliceBasicAndReverse) {
  // t[0:2, 1:3]
  ExpectTensor<int32_t>(Tf1(StridedSlice(0, 0, 0, 0, 0),
                            {T234(), I32({2}, {0, 1}), I32({2}, {2, 3}), I32({2}, {1, 1})}),
                        {2, 2, 4}, {4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23});
  Tensor v = I32({6}, {0, 1, 2, 3, 4, 5});
  // v[::-1]
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(1, 1, 0, 0, 0), {v, I32({1}, {0}), I32({1}, {0}), I32({1}, {-1})}), {6},
      {5, 4, 3, 2, 1, 0});
  // v[4:1:-2]
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 0, 0, 0, 0), {v, I32({1}, {4}), I32({1}, {1}), I32({1}, {-2})}), {2},
      {4, 2});
  // v[-2:] and v[5:10] (clamped, empty)
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 1, 0, 0, 0), {v, I32({1}, {-2}), I32({1}, {0}), I32({1}, {1})}), {2},
      {4, 5});
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 0, 0, 0, 0), {v, I32({1}, {5}), I32({1}, {10}), I32({1}, {1})}), {1},
      {5});
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 0, 0, 0, 0), {v, I32({1}, {7}), I32({1}, {10}), I32({1}, {1})}), {0}, {});
}

TEST_F(ArrayKernelTest, StridedSliceMasks) {
  // t[..., 1]
  ExpectTensor<int32_t>(Tf1(StridedSlice(0, 0, 1, 0, 2),
                            {T234(), I32({2}, {0, 1}), I32({2}, {0, 2}), I32({2}, {1, 1})}),
                        {2, 3}, {1, 5, 9, 13, 17, 21});
  // t[:, tf.newaxis, 0:2]
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(1, 1, 0, 2, 0),
          {T234(), I32({3}, {0, 0, 0}), I32({3}, {0, 0, 2}), I32({3}, {1, 1, 1})}),
      {2, 1, 2, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19});
  // t[-1]
  Tensor last =
      Tf1(StridedSlice(0, 0, 0, 0, 1), {T234(), I64({1}, {-1}), I64({1}, {0}), I64({1}, {1})});
  ExpectTensor<int32_t>(last, {3, 4}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  // t[1, -2:, ::2]
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 6, 0, 0, 1),
          {T234(), I32({3}, {1, -2, 0}), I32({3}, {2, 0, 0}), I32({3}, {1, 1, 2})}),
      {2, 2}, {16, 18, 20, 22});
  // t[tf.newaxis, ..., 3] with the ellipsis in the middle
  ExpectTensor<int32_t>(
      Tf1(StridedSlice(0, 0, 2, 1, 4),
          {T234(), I32({3}, {0, 0, 3}), I32({3}, {0, 0, 4}), I32({3}, {1, 1, 1})}),
      {1, 2, 3}, {3, 7, 11, 15, 19, 23});
}

TEST_F(ArrayKernelTest, StridedSliceErrors) {
  ExpectError(
      Tf(StridedSlice(0, 0, 0, 0, 1), {T234(), I32({1}, {2}), I32({1}, {3}), I32({1}, {1})}),
      "out of bounds");
  ExpectError(
      Tf(StridedSlice(0, 0, 0, 0, 0), {T234(), I32({1}, {0}), I32({1}, {1}), I32({1}, {0})}),
      "stride");
  ExpectError(Tf(StridedSlice(0, 0, 0, 0, 0),
                 {T234(), I32({4}, {0, 0, 0, 0}), I32({4}, {1, 1, 1, 1}), I32({4}, {1, 1, 1, 1})}),
              "out of bounds");
  ExpectError(
      Tf(StridedSlice(0, 0, 0, 0, 0), {T234(), I32({2}, {0, 0}), I32({1}, {1}), I32({1}, {1})}),
      "equal lengths");
}

// ---- Transpose, Tile, Expand, Where ------------------------------------------------------------

TEST_F(ArrayKernelTest, Transpose) {
  ExpectTensor<float>(Onnx1(MakeNode("Transpose"), {X()}), {3, 2}, {0, 3, 1, 4, 2, 5});
  Tensor t = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Node n = MakeNode("Transpose");
  n.attrs.Set("perm", std::vector<int64_t>{2, 0, 1});
  ExpectTensor<float>(Onnx1(n, {t}), {2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  ExpectTensor<float>(Tf1(MakeNode("Transpose"), {t, I32({3}, {1, 0, 2})}), {2, 2, 2},
                      {0, 1, 4, 5, 2, 3, 6, 7});
  ExpectError(Tf(MakeNode("Transpose"), {t, I32({3}, {1, 1, 2})}), "repeats");
  ExpectTensor<float>(Tf1(MakeNode("Transpose"), {F({0, 2}, {}), I32({2}, {1, 0})}), {2, 0}, {});
}

// Every permutation of ranks 1-5, with size-1 axes and axes that move together (the merged
// fast path) and element sizes 1, 2, 4 and 8 (its typed loops), against an index computation.
template <typename T, typename Run>
void CheckAllPermutations(const Run& run, const std::vector<int64_t>& dims) {
  const int64_t r = static_cast<int64_t>(dims.size());
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<T> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = static_cast<T>(i * 7 + 3);
  Tensor x = *Tensor::FromValues<T>(dims, values);
  std::vector<int64_t> perm(static_cast<size_t>(r));
  std::iota(perm.begin(), perm.end(), 0);
  do {
    Node n = MakeNode("Transpose");
    n.attrs.Set("perm", perm);
    std::vector<int64_t> out_dims(static_cast<size_t>(r));
    for (int64_t a = 0; a < r; ++a) out_dims[a] = dims[perm[a]];
    std::vector<int64_t> in_stride(static_cast<size_t>(r), 1);
    for (int64_t a = r - 2; a >= 0; --a) in_stride[a] = in_stride[a + 1] * dims[a + 1];
    std::vector<T> expected;
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    for (int64_t o = 0; o < count; ++o) {
      int64_t src = 0;
      for (int64_t a = 0; a < r; ++a) src += idx[a] * in_stride[perm[a]];
      expected.push_back(values[src]);
      for (int64_t a = r - 1; a >= 0; --a) {
        if (++idx[a] < out_dims[a]) break;
        idx[a] = 0;
      }
    }
    SCOPED_TRACE(::testing::PrintToString(perm) + " of " + ::testing::PrintToString(dims));
    ExpectTensor<T>(run(n, x), out_dims, expected);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST_F(ArrayKernelTest, TransposeEveryPermutation) {
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{
           {5}, {3, 4}, {2, 1, 3}, {2, 3, 4, 5}, {3, 1, 2, 1, 4}, {1, 1}, {4, 10, 2, 8}}) {
    const auto run = [this](const Node& n, const Tensor& x) { return Onnx1(n, {x}); };
    CheckAllPermutations<float>(run, dims);
    CheckAllPermutations<int64_t>(run, dims);
    CheckAllPermutations<uint8_t>(run, dims);
    CheckAllPermutations<uint16_t>(run, dims);
  }
}

TEST_F(ArrayKernelTest, Tile) {
  Node n = MakeNode("Tile");
  ExpectTensor<float>(Onnx1(n, {X(), I64({2}, {2, 1})}), {4, 3},
                      {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
  ExpectTensor<int32_t>(Tf1(n, {I32({1, 2}, {1, 2}), I32({2}, {2, 2})}), {2, 4},
                        {1, 2, 1, 2, 1, 2, 1, 2});
  ExpectTensor<float>(Tf1(n, {X(), I32({2}, {0, 1})}), {0, 3}, {});
  ExpectError(Tf(n, {X(), I32({1}, {2})}), "rank");
  ExpectError(Tf(n, {X(), I32({2}, {-1, 1})}), ">= 0");
}

TEST_F(ArrayKernelTest, ExpandAndBroadcastTo) {
  Tensor col = F({3, 1}, {1, 2, 3});
  ExpectTensor<float>(Onnx1(MakeNode("Expand"), {col, I64({3}, {2, 1, 2})}), {2, 3, 2},
                      {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  ExpectTensor<float>(Tf1(MakeNode("BroadcastTo"), {col, I32({2}, {3, 2})}), {3, 2},
                      {1, 1, 2, 2, 3, 3});
  ExpectError(Tf(MakeNode("BroadcastTo"), {col, I32({2}, {1, 2})}), "cannot broadcast");
  ExpectError(Onnx(MakeNode("Expand"), {col, I64({2}, {2, 2})}), "do not broadcast");
}

TEST_F(ArrayKernelTest, WhereAndSelect) {
  ExpectTensor<float>(Onnx1(MakeNode("Where"), {B({2, 1}, {1, 0}), F({1, 3}, {1, 2, 3}), FS(9)}),
                      {2, 3}, {1, 2, 3, 9, 9, 9});
  Tensor e = F({2, 3}, {0, 10, 20, 30, 40, 50});
  ExpectTensor<float>(Tf1(MakeNode("Select"), {B({2}, {0, 1}), X(), e}), {2, 3},
                      {0, 10, 20, 3, 4, 5});
  ExpectTensor<float>(Tf1(MakeNode("Select"), {B({2, 3}, {1, 0, 1, 0, 1, 0}), X(), e}), {2, 3},
                      {0, 10, 2, 30, 4, 50});
  ExpectTensor<float>(Tf1(MakeNode("SelectV2"), {B({3}, {0, 0, 1}), X(), FS(-1)}), {2, 3},
                      {-1, -1, 2, -1, -1, 5});
  ExpectError(Tf(MakeNode("Select"), {B({3}, {0, 0, 1}), X(), e}), "condition");
  ExpectError(Tf(MakeNode("SelectV2"), {F({1}, {1}), X(), e}), "expected bool");
}

// ---- Pad -------------------------------------------------------------------------------------

TEST_F(ArrayKernelTest, OnnxPadModes) {
  Node n = MakeNode("Pad");
  ExpectTensor<float>(Onnx1(n, {X(), I64({4}, {0, 1, 1, 0}), FS(9)}), {3, 4},
                      {9, 0, 1, 2, 9, 3, 4, 5, 9, 9, 9, 9});
  ExpectTensor<float>(Onnx1(n, {X(), I64({4}, {0, -1, 0, 0})}), {2, 2}, {1, 2, 4, 5});
  Tensor v = F({3}, {1, 2, 3});
  n.attrs.Set("mode", std::string("reflect"));
  ExpectTensor<float>(Onnx1(n, {v, I64({2}, {2, 2})}), {7}, {3, 2, 1, 2, 3, 2, 1});
  n.attrs.Set("mode", std::string("edge"));
  ExpectTensor<float>(Onnx1(n, {v, I64({2}, {2, 2})}), {7}, {1, 1, 1, 2, 3, 3, 3});
  n.attrs.Set("mode", std::string("circle"));
  ExpectError(Onnx(n, {v, I64({2}, {2, 2})}), "not supported");
  Node old = MakeNode("Pad");  // opset < 11: attributes
  old.attrs.Set("pads", std::vector<int64_t>{1, 0});
  old.attrs.Set("value", 1.5f);
  ExpectTensor<float>(Onnx1(old, {v}), {4}, {1.5f, 1, 2, 3});
  ExpectError(Onnx(MakeNode("Pad"), {v, I64({2}, {-2, -2})}), "negative");
}

TEST_F(ArrayKernelTest, TfPadFamily) {
  Tensor v = I32({1, 3}, {1, 2, 3});
  Tensor pads = I32({2, 2}, {0, 0, 2, 2});
  ExpectTensor<int32_t>(Tf1(MakeNode("Pad"), {v, pads}), {1, 7}, {0, 0, 1, 2, 3, 0, 0});
  ExpectTensor<int32_t>(Tf1(MakeNode("PadV2"), {v, pads, I32S(-1)}), {1, 7},
                        {-1, -1, 1, 2, 3, -1, -1});
  Node mirror = MakeNode("MirrorPad");
  mirror.attrs.Set("mode", std::string("REFLECT"));
  ExpectTensor<int32_t>(Tf1(mirror, {v, pads}), {1, 7}, {3, 2, 1, 2, 3, 2, 1});
  ExpectError(Tf(mirror, {v, I32({2, 2}, {0, 0, 3, 0})}), "must be in [0, 2]");
  mirror.attrs.Set("mode", std::string("SYMMETRIC"));
  ExpectTensor<int32_t>(Tf1(mirror, {v, pads}), {1, 7}, {2, 1, 1, 2, 3, 3, 2});
  ExpectError(Tf(MakeNode("Pad"), {v, I32({2, 2}, {0, 0, -1, 0})}), "must be in");
}

// ---- OneHot, ReverseSequence
// ---------------------------------------------------------------------

TEST_F(ArrayKernelTest, OneHot) {
  Node n = MakeNode("OneHot");
  ExpectTensor<float>(Tf1(n, {I32({4}, {0, 2, -1, 5}), I32S(3), FS(1), FS(0)}), {4, 3},
                      {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  n.attrs.Set("axis", int64_t{0});
  ExpectTensor<float>(Tf1(n, {I64({2}, {0, 2}), I32S(3), FS(1), FS(0)}), {3, 2},
                      {1, 0, 0, 0, 0, 1});
  Node onnx = MakeNode("OneHot");
  ExpectTensor<int64_t>(Onnx1(onnx, {I64({2}, {-1, 1}), I64S(3), I64({2}, {0, 5})}), {2, 3},
                        {0, 0, 5, 0, 5, 0});
}

TEST_F(ArrayKernelTest, ReverseSequence) {
  Node n = MakeNode("ReverseSequence");
  n.attrs.Set("seq_dim", int64_t{1});
  n.attrs.Set("batch_dim", int64_t{0});
  Tensor t = F({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  ExpectTensor<float>(Tf1(n, {t, I64({2}, {3, 1})}), {2, 4}, {2, 1, 0, 3, 4, 5, 6, 7});
  ExpectError(Tf(n, {t, I64({2}, {5, 1})}), "seq_lengths[0] = 5");
  Node onnx = MakeNode("ReverseSequence");  // time_axis 0, batch_axis 1
  ExpectTensor<float>(Onnx1(onnx, {F({3, 2}, {0, 1, 2, 3, 4, 5}), I64({2}, {2, 3})}), {3, 2},
                      {2, 5, 0, 3, 4, 1});
}

// The request-level boundary ops (graph/passes/request_level.h): one row per request, the
// candidate rows back, and column selection; malformed inputs are errors naming the problem.
TEST_F(ArrayKernelTest, RequestRowBroadcastRowsSelectColumns) {
  const Tensor same = I64({3, 2}, {7, 8, 7, 8, 7, 8});
  ExpectTensor<int64_t>(Onnx1(MakeNode("_RankoptRequestRow"), {same}), {1, 2}, {7, 8});
  ExpectError(Onnx(MakeNode("_RankoptRequestRow"), {I64({3, 2}, {7, 8, 7, 8, 7, 9})}),
              "row 2 of [3,2] int64 differs from row 0");
  Node user_columns = MakeNode("_RankoptRequestRow");
  user_columns.attrs.Set("columns", std::vector<int64_t>{1});
  // Only the named columns must agree: column 0 differs, column 1 does not.
  const Tensor mixed = F({3, 2}, {1, 5, 2, 5, 3, 5});
  ExpectTensor<float>(Onnx1(user_columns, {mixed}), {1, 1}, {5});
  user_columns.attrs.Set("columns", std::vector<int64_t>{0});
  ExpectError(Onnx(user_columns, {mixed}), "differs from row 0");
  user_columns.attrs.Set("columns", std::vector<int64_t>{2});
  ExpectError(Onnx(user_columns, {mixed}), "column 2 is out of range");
  ExpectError(Onnx(user_columns, {F({2}, {1, 2})}), "expected a matrix");
  ExpectError(Onnx(MakeNode("_RankoptRequestRow"), {FS(1)}), "scalar");

  const Tensor row = F({1, 2}, {1, 2});
  ExpectTensor<float>(Onnx1(MakeNode("_RankoptBroadcastRows"), {row, I64({3}, {0, 0, 0})}), {3, 2},
                      {1, 2, 1, 2, 1, 2});
  ExpectError(Onnx(MakeNode("_RankoptBroadcastRows"), {mixed, I64({3}, {0, 0, 0})}),
              "expected one row");
  ExpectError(Onnx(MakeNode("_RankoptBroadcastRows"), {row, I64S(3)}), "expected rows");

  Node select = MakeNode("_RankoptSelectColumns");
  select.attrs.Set("columns", std::vector<int64_t>{1, 0});
  ExpectTensor<float>(Onnx1(select, {mixed}), {3, 2}, {5, 1, 5, 2, 5, 3});
  select.attrs.Set("columns", std::vector<int64_t>{-1});
  ExpectError(Onnx(select, {mixed}), "column -1 is out of range");
  ExpectError(Onnx(MakeNode("_RankoptSelectColumns"), {mixed}), "`columns` attribute");
}

}  // namespace
}  // namespace array_test
}  // namespace rankopt
