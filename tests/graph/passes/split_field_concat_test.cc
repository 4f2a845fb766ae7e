// SplitFieldConcat on a tiny DeepFM-style graph built inline: three fields (two user, one item,
// interleaved), the FM term 0.5 * sum_d((sum_f v)^2 - sum_f v^2), and Flatten -> Concat(dense)
// -> Gemm. The split graph, marked request-level, must equal the unsplit graph and a hand
// computation; readers without a rule leave the graph unchanged with a near-miss note.
#include "graph/passes/split_field_concat.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/prune.h"
#include "graph/passes/request_level.h"
#include "graph/passes/split_first_dense.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kD = 4, kFields = 3, kDense = 3, kHidden = 5, kBatch = 6;
constexpr int64_t kK = kFields * kD + kDense;

Node Ints(std::string name, std::vector<int64_t> v) {
  return ConstNode(std::move(name),
                   *Tensor::FromValues<int64_t>({static_cast<int64_t>(v.size())}, v), true);
}

Node WithAxis(Node node, int64_t axis, const char* attr = "axis") {
  node.attrs.Set(attr, axis);
  return node;
}

// The fields u1 (user), i1 (item), u2 (user); `extra` nodes read the stacked v [B,3,d].
Graph FieldModel(std::vector<Node> extra = {}, std::vector<std::string> extra_outputs = {}) {
  std::vector<Node> nodes = {
      Input("u1", {-1, kD}, true), Input("i1", {-1, kD}, true), Input("u2", {-1, kD}, true),
      Input("dense", {-1, kDense}, true), Ints("ax1", {1}), Ints("ax2", {2}),
      OnnxOp("su1", "Unsqueeze", {{"u1", 0}, {"ax1", 0}}),
      OnnxOp("si1", "Unsqueeze", {{"i1", 0}, {"ax1", 0}}),
      OnnxOp("su2", "Unsqueeze", {{"u2", 0}, {"ax1", 0}}),
      WithAxis(OnnxOp("v", "Concat", {{"su1", 0}, {"si1", 0}, {"su2", 0}}), 1),
      // FM
      OnnxOp("sum", "ReduceSum", {{"v", 0}, {"ax1", 0}}),
      ConstNode("two", Floats({}, {2.0f}), true), OnnxOp("sq", "Pow", {{"sum", 0}, {"two", 0}}),
      OnnxOp("vv", "Mul", {{"v", 0}, {"v", 0}}),
      OnnxOp("sumsq", "ReduceSum", {{"vv", 0}, {"ax1", 0}}),
      OnnxOp("diff", "Sub", {{"sq", 0}, {"sumsq", 0}}),
      WithAxis(OnnxOp("fm_d", "ReduceSum", {{"diff", 0}, {"ax2", 0}}), 0, "keepdims"),
      ConstNode("half", Floats({}, {0.5f}), true), OnnxOp("fm", "Mul", {{"fm_d", 0}, {"half", 0}}),
      // deep
      OnnxOp("flat", "Flatten", {{"v", 0}}),
      WithAxis(OnnxOp("x", "Concat", {{"flat", 0}, {"dense", 0}}), -1),
      ConstNode("w", Floats({kHidden, kK}, RandomFloats(kHidden * kK, 7)), true),
      ConstNode("b", Floats({kHidden}, RandomFloats(kHidden, 8)), true),
      WithAxis(OnnxOp("gemm", "Gemm", {{"x", 0}, {"w", 0}, {"b", 0}}), 1, "transB"),
      OnnxOp("deep", "Relu", {{"gemm", 0}})};
  for (Node& n : extra) nodes.push_back(std::move(n));
  std::vector<std::string> outputs = {"fm", "deep"};
  for (std::string& o : extra_outputs) outputs.push_back(std::move(o));
  Graph graph = MakeGraph(ModelFormat::kOnnx, std::move(nodes), outputs);
  graph.set_onnx_opset(17);
  return graph;
}

PassOptions Options(const std::string& request_inputs,
                    std::vector<std::string> outputs = {"fm", "deep"}) {
  PassOptions options;
  options.outputs = std::move(outputs);
  if (!request_inputs.empty()) options.request_inputs = *ParseRequestInputs(request_inputs);
  return options;
}

// One user (u1, u2 and dense column 0 equal on every row), kBatch items.
std::vector<std::pair<std::string, Tensor>> Feeds() {
  auto tiled = [](int64_t width, uint32_t seed) {
    const std::vector<float> row = RandomFloats(width, seed);
    std::vector<float> v;
    for (int64_t r = 0; r < kBatch; ++r) v.insert(v.end(), row.begin(), row.end());
    return v;
  };
  std::vector<float> dense = RandomFloats(kBatch * kDense, 14);
  for (int64_t r = 0; r < kBatch; ++r) dense[r * kDense] = 0.25f;
  return {{"u1", Floats({kBatch, kD}, tiled(kD, 11))},
          {"i1", Floats({kBatch, kD}, RandomFloats(kBatch * kD, 12))},
          {"u2", Floats({kBatch, kD}, tiled(kD, 13))},
          {"dense", Floats({kBatch, kDense}, dense)}};
}

// The FM term and the deep layer computed by hand from the feeds.
void HandComputed(std::vector<float>* fm, std::vector<float>* deep) {
  const auto feeds = Feeds();
  auto at = [&](int f, int64_t r, int64_t j) {
    return feeds[f].second.values<float>()[r * kD + j];
  };
  const std::vector<float> w = RandomFloats(kHidden * kK, 7), b = RandomFloats(kHidden, 8);
  const int order[kFields] = {0, 1, 2};  // u1, i1, u2 as fed
  for (int64_t r = 0; r < kBatch; ++r) {
    double total = 0;
    for (int64_t j = 0; j < kD; ++j) {
      double s = 0, s2 = 0;
      for (int f : order) {
        s += at(f, r, j);
        s2 += at(f, r, j) * at(f, r, j);
      }
      total += s * s - s2;
    }
    fm->push_back(static_cast<float>(0.5 * total));
    std::vector<float> x;
    for (int f : order) {
      for (int64_t j = 0; j < kD; ++j) x.push_back(at(f, r, j));
    }
    for (int64_t c = 0; c < kDense; ++c)
      x.push_back(feeds[3].second.values<float>()[r * kDense + c]);
    for (int64_t h = 0; h < kHidden; ++h) {
      double acc = b[h];
      for (int64_t k = 0; k < kK; ++k) acc += static_cast<double>(x[k]) * w[h * kK + k];
      deep->push_back(static_cast<float>(std::max(acc, 0.0)));
    }
  }
}

TEST(SplitFieldConcatTest, FmAndFirstLayerSplitIntoUserAndItemParts) {
  const Graph graph = FieldModel();
  const PassOptions options = Options("u1,u2,dense[0:1]");
  Graph split(graph.format());
  absl::StatusOr<PassReport> report = SplitFieldConcat(graph, options, &split);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_THAT(report->notes,
              ElementsAre(HasSubstr("v: 2 of 3 fields request-level, split through 3 ops into 2 "
                                    "field sums and 1 dense layers")));
  // Each field sum becomes a user sum + an item sum; the old stacked tensor is gone.
  EXPECT_EQ(CountOp(graph, "ReduceSum"), 3);
  EXPECT_EQ(CountOp(split, "ReduceSum"), 5);
  EXPECT_EQ(split.FindNode("v"), nullptr);
  EXPECT_EQ(split.FindNode("sum")->op, "Add");

  // The regrouped first layer is then split by split_first_dense: 2 user fields and dense[0].
  Graph dense(graph.format());
  absl::StatusOr<PassReport> dense_report = SplitFirstDense(split, options, &dense);
  ASSERT_TRUE(dense_report.ok()) << dense_report.status();
  EXPECT_THAT(dense_report->notes,
              ElementsAre(HasSubstr(
                  absl::StrCat(2 * kD + 1, " of ", kK, " input columns are request-level"))));
  Graph marked(graph.format());
  ASSERT_TRUE(MarkRequestLevel(dense, options, &marked).ok());
  Graph pruned(graph.format());
  ASSERT_TRUE(PruneGraph(marked, options, &pruned).ok());
  // The user-side sums read one row per request.
  ShapeMap shapes = *InferShapes(pruned);
  const auto request = RequestLevelTensors(pruned, {}, shapes);
  EXPECT_TRUE(request.contains(TensorRef{"sum/request_fields", 0}));
  EXPECT_FALSE(request.contains(TensorRef{"sum/candidate_fields", 0}));

  std::vector<float> fm, deep;
  HandComputed(&fm, &deep);
  const std::vector<Tensor> want = RunGraph(graph, Feeds());
  const std::vector<Tensor> got = RunGraph(pruned, Feeds());
  ASSERT_EQ(want.size(), 2u);
  ASSERT_EQ(got.size(), 2u);
  ExpectNear(want[0], Floats({kBatch, 1}, fm), 1e-5, "unsplit fm vs hand");
  ExpectNear(want[1], Floats({kBatch, kHidden}, deep), 1e-5, "unsplit deep vs hand");
  ExpectNear(got[0], want[0], 1e-5, "fm");
  ExpectNear(got[1], want[1], 1e-5, "deep");
}

TEST(SplitFieldConcatTest, AReaderOfTheConcatWithoutARuleKeepsItWhileTheRestSplits) {
  Node softmax = WithAxis(OnnxOp("att", "Softmax", {{"v", 0}}), 1);
  const Graph graph = FieldModel({softmax}, {"att"});
  const PassOptions options = Options("u1,u2", {"fm", "deep", "att"});
  Graph split(graph.format());
  absl::StatusOr<PassReport> report = SplitFieldConcat(graph, options, &split);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_THAT(report->notes,
              ElementsAre(AllOf(HasSubstr("v: 2 of 3 fields request-level"),
                                HasSubstr("the concat stays for node att (Softmax) reads it"))));
  ASSERT_NE(split.FindNode("v"), nullptr);
  EXPECT_EQ(split.FindNode("sum")->op, "Add");
  Graph marked(graph.format());
  ASSERT_TRUE(MarkRequestLevel(split, options, &marked).ok());
  const std::vector<Tensor> want = RunGraph(graph, Feeds());
  const std::vector<Tensor> got = RunGraph(marked, Feeds());
  ASSERT_EQ(want.size(), 3u);
  ASSERT_EQ(got.size(), 3u);
  for (int o = 0; o < 3; ++o) ExpectNear(got[o], want[o], 1e-5, absl::StrCat("output ", o));
}

TEST(SplitFieldConcatTest, AReaderWithoutARuleBelowTheConcatIsANearMiss) {
  Node softmax = WithAxis(OnnxOp("att", "Softmax", {{"vv", 0}}), 1);
  const Graph graph = FieldModel({softmax}, {"att"});
  Graph out(graph.format());
  absl::StatusOr<PassReport> report =
      SplitFieldConcat(graph, Options("u1,u2", {"fm", "deep", "att"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes, ElementsAre(AllOf(HasSubstr("near miss: v "),
                                               HasSubstr("node att (Softmax) reads it"))));
  EXPECT_EQ(out.num_nodes(), graph.num_nodes());
}

TEST(SplitFieldConcatTest, AConstantVaryingAlongFieldsIsANearMiss) {
  const Graph graph =
      FieldModel({ConstNode("field_w", Floats({1, kFields, 1}, {1.0f, 2.0f, 3.0f}), true),
                  OnnxOp("weighted", "Mul", {{"vv", 0}, {"field_w", 0}})},
                 {"weighted"});
  Graph out(graph.format());
  absl::StatusOr<PassReport> report =
      SplitFieldConcat(graph, Options("u1,u2", {"fm", "deep", "weighted"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes,
              ElementsAre(HasSubstr("node weighted (Mul) has a constant that varies along the "
                                    "field axis")));
}

TEST(SplitFieldConcatTest, AWeightOfTheWrongHeightIsNotRegrouped) {
  // A malformed layer (K = 13 for 12 columns) keeps reading the unsplit tensor; never a read
  // past the weight.
  const Graph graph = FieldModel(
      {ConstNode("w_bad", Floats({kFields * kD + 1, 2}, RandomFloats((kFields * kD + 1) * 2, 9)),
                 true),
       OnnxOp("bad", "MatMul", {{"flat", 0}, {"w_bad", 0}})},
      {"bad"});
  Graph out(graph.format());
  absl::StatusOr<PassReport> report =
      SplitFieldConcat(graph, Options("u1,u2", {"fm", "deep", "bad"}), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->notes,
              ElementsAre(HasSubstr("node bad (MatMul) has a weight whose rows do not match")));
  ASSERT_NE(out.FindNode("bad"), nullptr);
  EXPECT_EQ(out.FindNode("bad")->inputs[0].node, "flat");
}

TEST(SplitFieldConcatTest, NoUserFieldsIsNotApplicable) {
  const Graph graph = FieldModel();
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = SplitFieldConcat(graph, Options("dense[0:1]"), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes, ElementsAre(HasSubstr("not applicable")));
  report = SplitFieldConcat(graph, Options(""), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
}

}  // namespace
}  // namespace rankopt
