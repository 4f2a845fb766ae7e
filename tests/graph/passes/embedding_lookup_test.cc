#include "graph/passes/embedding_lookup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/kernels/embedding/embedding_kernels.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

int CountOp(const Graph& graph, absl::string_view op) {
  int n = 0;
  for (const Node& node : graph.nodes()) n += node.op == op;
  return n;
}

std::vector<Tensor> RunGraph(const Graph& graph, const std::vector<NamedTensorView>& feeds) {
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions());
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds, &outputs);
  EXPECT_TRUE(run.ok()) << run;
  return outputs;
}

TEST(EmbeddingLookupPassTest, DinGathersBecomeLookupsWithBitwiseEqualScores) {
  absl::StatusOr<Graph> graph = LoadModel(TestData("peers/din.onnx"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  Graph rewritten(ModelFormat::kOnnx);
  absl::StatusOr<PassReport> report = EmbeddingLookupPass(*graph, PassOptions(), &rewritten);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_EQ(CountOp(*graph, "Gather"), 5);
  EXPECT_EQ(CountOp(rewritten, "Gather"), 0);
  EXPECT_EQ(CountOp(rewritten, kEmbeddingLookupOp), 5);

  absl::StatusOr<std::string> text = ReadFileToString(TestData("peers/din_ref.json"));
  ASSERT_TRUE(text.ok());
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, "din_ref.json");
  ASSERT_TRUE(doc.ok()) << doc.status();
  std::vector<Tensor> before = RunGraph(*graph, FeedsOf(doc->inputs));
  std::vector<Tensor> after = RunGraph(rewritten, FeedsOf(doc->inputs));
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(before[0], after[0]);  // same dtype, dims and bytes
}

// A one-Gather ONNX graph: out = Gather(table [4, 2], ids, axis).
Graph GatherGraph(int64_t axis, bool constant_table) {
  Graph g(ModelFormat::kOnnx);
  Node table;
  table.name = "table";
  table.output_names = {"table"};
  if (constant_table) {
    table.op = std::string(kConstOp);
    std::vector<float> values = {0, 1, 10, 11, 20, 21, 30, 31};
    table.attrs.Set("value", *Tensor::FromValues<float>({4, 2}, values));
  } else {
    table.op = std::string(kPlaceholderOp);
    table.attrs.Set("dtype", DType::kFloat32);
    table.attrs.Set("shape", Shape({4, 2}));
  }
  EXPECT_TRUE(g.AddNode(table).ok());
  Node ids;
  ids.name = "ids";
  ids.op = std::string(kPlaceholderOp);
  ids.output_names = {"ids"};
  ids.attrs.Set("dtype", DType::kInt64);
  ids.attrs.Set("shape", Shape({-1}));
  EXPECT_TRUE(g.AddNode(ids).ok());
  Node gather;
  gather.name = "gather";
  gather.op = "Gather";
  gather.inputs = {{"table", 0}, {"ids", 0}};
  gather.output_names = {"out"};
  gather.attrs.Set("axis", axis);
  EXPECT_TRUE(g.AddNode(gather).ok());
  g.mutable_outputs()->push_back({"out", {"gather", 0}});
  return g;
}

TEST(EmbeddingLookupPassTest, OnlyAxisZeroGathersOfConstantTablesAreRewritten) {
  for (const auto& [axis, constant] : {std::pair{1, true}, std::pair{0, false}}) {
    Graph g = GatherGraph(axis, constant);
    Graph out(ModelFormat::kOnnx);
    absl::StatusOr<PassReport> report = EmbeddingLookupPass(g, PassOptions(), &out);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->changed) << "axis " << axis << " constant " << constant;
    EXPECT_EQ(CountOp(out, "Gather"), 1);
  }
}

TEST(EmbeddingLookupPassTest, NegativeIdsWrapLikeOnnxAndBadIdsAreErrors) {
  Graph g = GatherGraph(0, true);
  Graph out(ModelFormat::kOnnx);
  ASSERT_TRUE(EmbeddingLookupPass(g, PassOptions(), &out).ok());
  Tensor ids = *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{2, -1, 0});
  TensorView view{DType::kInt64, Dims{3}, const_cast<char*>(ids.bytes().data())};
  std::vector<Tensor> before = RunGraph(g, {{"ids", view}});
  std::vector<Tensor> after = RunGraph(out, {{"ids", view}});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(before[0], after[0]);
  absl::Span<const float> rows = after[0].values<float>();
  EXPECT_EQ(std::vector<float>(rows.begin(), rows.end()),
            (std::vector<float>{20, 21, 30, 31, 0, 1}));

  Tensor bad = *Tensor::FromValues<int64_t>({2}, std::vector<int64_t>{1, 4});
  TensorView bad_view{DType::kInt64, Dims{2}, const_cast<char*>(bad.bytes().data())};
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(out, PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run({{"ids", bad_view}}, &outputs);
  EXPECT_THAT(run.message(), HasSubstr("id 4 at position 1 is outside the table's rows [0, 4)"));
}

}  // namespace
}  // namespace rankopt
