// SplitFirstDense on tiny inline dense layers over concat(user, item): op counts before/after
// and the executor's numbers against the unsplit graph; layers that must not split.
#include "graph/passes/split_first_dense.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph/passes/fuse_matmul_bias_activation.h"
#include "graph/passes/prune.h"
#include "graph/passes/request_level.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kUser = 3, kItem = 4, kOut = 5, kBatch = 4;

// relu(concat(user [B,3], item [B,4]) @ w [7,5] + b) on `axis` of the concat.
Graph Dense(int64_t axis = 1) {
  Node cat = OnnxOp("cat", "Concat", {{"user", 0}, {"item", 0}});
  cat.attrs.Set("axis", axis);
  Graph graph = MakeGraph(
      ModelFormat::kOnnx,
      {Input("user", {-1, kUser}, true), Input("item", {-1, kItem}, true), cat,
       ConstNode("w", Floats({kUser + kItem, kOut}, RandomFloats((kUser + kItem) * kOut, 31)),
                 true),
       ConstNode("b", Floats({kOut}, RandomFloats(kOut, 32)), true),
       OnnxOp("mm", "MatMul", {{"cat", 0}, {"w", 0}}), OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}),
       OnnxOp("out", "Relu", {{"add", 0}})},
      {"out"});
  graph.set_onnx_opset(17);
  return graph;
}

PassOptions Options(const std::string& request_inputs) {
  PassOptions options;
  options.outputs = {"out"};
  if (!request_inputs.empty()) options.request_inputs = *ParseRequestInputs(request_inputs);
  return options;
}

// One user (every row equal) and kBatch different items.
std::vector<std::pair<std::string, Tensor>> Feeds() {
  std::vector<float> user;
  const std::vector<float> row = RandomFloats(kUser, 41);
  for (int64_t r = 0; r < kBatch; ++r) user.insert(user.end(), row.begin(), row.end());
  return {{"user", Floats({kBatch, kUser}, user)},
          {"item", Floats({kBatch, kItem}, RandomFloats(kBatch * kItem, 42))}};
}

TEST(SplitFirstDenseTest, UserHalfBecomesTheRuntimeBiasWithEqualResults) {
  const Graph graph = Dense();
  EXPECT_EQ(CountOp(graph, "MatMul"), 1);
  EXPECT_EQ(CountOp(graph, "Add"), 1);
  EXPECT_EQ(CountOp(graph, "Relu"), 1);
  const PassOptions options = Options("user");
  Graph split(graph.format());
  absl::StatusOr<PassReport> report = SplitFirstDense(graph, options, &split);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_THAT(report->notes, ElementsAre(HasSubstr("3 of 7 input columns are request-level")));
  // The user term and the candidate layer (bias and Relu fused into it).
  EXPECT_EQ(CountOp(split, std::string(kFusedMatMulOp)), 2);
  EXPECT_EQ(CountOp(split, "MatMul") + CountOp(split, "Add") + CountOp(split, "Relu"), 0);
  ASSERT_NE(split.FindNode("out"), nullptr);
  EXPECT_EQ(split.FindNode("out")->op, kFusedMatMulOp);

  // The runtime bias has one row per request only once the graph is marked (the pipeline order).
  Graph marked(graph.format());
  ASSERT_TRUE(MarkRequestLevel(split, options, &marked).ok());
  Graph pruned(graph.format());
  ASSERT_TRUE(PruneGraph(marked, options, &pruned).ok());
  EXPECT_EQ(CountOp(pruned, "Concat"), 0);
  EXPECT_EQ(CountOp(pruned, std::string(kFusedMatMulOp)), 2);

  const std::vector<Tensor> want = RunGraph(graph, Feeds());
  const std::vector<Tensor> got = RunGraph(pruned, Feeds());
  ASSERT_EQ(want.size(), 1u);
  ASSERT_EQ(got.size(), 1u);
  ExpectNear(got[0], want[0], 1e-5, "out");
}

TEST(SplitFirstDenseTest, NoRequestLevelColumnsIsNotApplicable) {
  const Graph graph = Dense();
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = SplitFirstDense(graph, Options(""), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes, ElementsAre(HasSubstr("not applicable")));
  EXPECT_EQ(CountOp(out, std::string(kFusedMatMulOp)), 0);
  EXPECT_EQ(out.num_nodes(), graph.num_nodes());
}

TEST(SplitFirstDenseTest, ConcatOverTheBatchAxisIsNotSplit) {
  const Graph graph = Dense(/*axis=*/0);
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = SplitFirstDense(graph, Options("user"), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(CountOp(out, std::string(kFusedMatMulOp)), 0);
  EXPECT_EQ(CountOp(out, "MatMul"), 1);
}

TEST(SplitFirstDenseTest, OnlyRequestLevelColumnsAreNotSplit) {
  const Graph graph = Dense();
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = SplitFirstDense(graph, Options("user,item"), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(CountOp(out, std::string(kFusedMatMulOp)), 0);
}

}  // namespace
}  // namespace rankopt
