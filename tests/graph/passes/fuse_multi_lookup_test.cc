// fuse_multi_lookup: field embeddings (lookups -> Unsqueeze -> Concat) as one _RankoptMultiLookup,
// bitwise equal to the nodes it replaces, over fp32 and quantized tables; near misses named.
#include "graph/passes/fuse_multi_lookup.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "graph/io/model_io.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/embedding_lookup.h"
#include "graph/passes/pass_pipeline.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders

Tensor Ids(std::vector<int64_t> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return *Tensor::FromValues<int64_t>({n}, values);
}

Node Unsqueeze(const std::string& name, const std::string& in, const std::string& axes) {
  return OnnxOp(name, "Unsqueeze", {{in, 0}, {axes, 0}});
}

// Three stacked fields ([B, 3, 4] -> Flatten) and their first-order weights ([B, 3]), as DeepFM
// exports them; `extra` adds a dense input between the second and third first-order weights.
Graph Fields(bool extra) {
  std::vector<Node> nodes = {ConstNode("axes", *Tensor::FromValues<int64_t>({1}, {1}), true)};
  const int64_t rows[3] = {10, 7, 5};
  std::vector<TensorRef> stacked, first_order;
  for (int f = 0; f < 3; ++f) {
    const std::string i = std::to_string(f);
    nodes.push_back(Input("id" + i, {-1}, true, DType::kInt64));
    nodes.push_back(ConstNode("t" + i, Floats({rows[f], 4}, RandomFloats(rows[f] * 4, f)), true));
    nodes.push_back(ConstNode("w" + i, Floats({rows[f], 1}, RandomFloats(rows[f], 10 + f)), true));
    nodes.push_back(OnnxOp("g" + i, "Gather", {{"t" + i, 0}, {"id" + i, 0}}));
    nodes.push_back(Unsqueeze("u" + i, "g" + i, "axes"));
    nodes.push_back(OnnxOp("lin" + i, "Gather", {{"w" + i, 0}, {"id" + i, 0}}));
    stacked.push_back({"u" + i, 0});
    first_order.push_back({"lin" + i, 0});
  }
  if (extra) {
    nodes.push_back(Input("dense", {-1, 2}, true));
    first_order.insert(first_order.begin() + 2, TensorRef{"dense", 0});
  }
  Node stack = OnnxOp("stack", "Concat", stacked);
  stack.attrs.Set("axis", int64_t{1});
  Node first = OnnxOp("first", "Concat", first_order);
  first.attrs.Set("axis", int64_t{-1});
  nodes.push_back(stack);
  nodes.push_back(first);
  nodes.push_back(OnnxOp("flat", "Flatten", {{"stack", 0}}));
  return MakeGraph(ModelFormat::kOnnx, nodes, {"flat", "first"});
}

std::vector<std::pair<std::string, Tensor>> Feeds(bool extra) {
  // Negative ids wrap (ONNX Gather): -1 is the last row.
  std::vector<std::pair<std::string, Tensor>> feeds = {{"id0", Ids({0, 9, 3, -1, 5})},
                                                       {"id1", Ids({6, 0, -7, 2, 1})},
                                                       {"id2", Ids({4, 4, 0, 1, -2})}};
  if (extra) feeds.push_back({"dense", Floats({5, 2}, RandomFloats(10, 20))});
  return feeds;
}

Graph Lookups(const Graph& graph) {
  Graph out(graph.format());
  EXPECT_TRUE(EmbeddingLookupPass(graph, {}, &out).ok());
  return out;
}

std::string Notes(const PassReport& report) { return absl::StrJoin(report.notes, "\n"); }

TEST(FuseMultiLookupTest, StackedFieldsAndFirstOrderWeightsBecomeTwoLookups) {
  const Graph graph = Fields(false);
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMultiLookup(Lookups(graph), {}, &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed) << Notes(*report);
  EXPECT_EQ(CountOp(fused, std::string(kMultiLookupOp)), 2);
  for (const char* op : {"Concat", "Unsqueeze", "Gather"}) EXPECT_EQ(CountOp(fused, op), 0) << op;
  EXPECT_EQ(CountOp(fused, std::string(kEmbeddingLookupOp)), 0);
  const Node* stack = fused.FindNode("stack");
  ASSERT_NE(stack, nullptr);
  EXPECT_EQ(*stack->attrs.Get<std::vector<int64_t>>("out_dims"), (std::vector<int64_t>{-1, 3, 4}));
  EXPECT_EQ(RunGraph(fused, Feeds(false)), RunGraph(graph, Feeds(false)));
}

TEST(FuseMultiLookupTest, ARunBesideOtherConcatInputsIsFused) {
  const Graph graph = Fields(true);
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMultiLookup(Lookups(graph), {}, &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  // first = Concat(multi(lin0, lin1), dense, lin2): the lone last lookup stays.
  EXPECT_EQ(CountOp(fused, std::string(kMultiLookupOp)), 2);
  EXPECT_EQ(CountOp(fused, std::string(kEmbeddingLookupOp)), 1);
  ASSERT_NE(fused.FindNode("first"), nullptr);
  EXPECT_EQ(fused.FindNode("first")->inputs.size(), 3u);
  EXPECT_EQ(RunGraph(fused, Feeds(true)), RunGraph(graph, Feeds(true)));
}

// SplitMultiLookups (for per-lookup code: remote tables) gives back per-field lookups, same bits.
TEST(FuseMultiLookupTest, SplitGivesBackPerFieldLookups) {
  const Graph graph = Fields(true);
  Graph fused(graph.format());
  ASSERT_TRUE(FuseMultiLookup(Lookups(graph), {}, &fused).ok());
  Graph split = fused;
  ASSERT_TRUE(SplitMultiLookups(&split).ok());
  EXPECT_EQ(CountOp(split, std::string(kMultiLookupOp)), 0);
  EXPECT_EQ(CountOp(split, std::string(kEmbeddingLookupOp)), 6);
  ASSERT_NE(split.FindNode("stack"), nullptr);
  EXPECT_EQ(split.FindNode("stack")->op, "Reshape");
  EXPECT_EQ(RunGraph(split, Feeds(true)), RunGraph(graph, Feeds(true)));
}

TEST(FuseMultiLookupTest, TwoIdsPerRowIsANearMiss) {
  // ids [B, 2]: the gathered [B, 2, 4] holds two rows per concat row.
  Graph graph =
      MakeGraph(ModelFormat::kOnnx,
                {Input("a", {-1}, true, DType::kInt64), Input("b", {-1, 2}, true, DType::kInt64),
                 ConstNode("axes", *Tensor::FromValues<int64_t>({1}, {1}), true),
                 ConstNode("ta", Floats({6, 4}, RandomFloats(24, 1)), true),
                 ConstNode("tb", Floats({6, 4}, RandomFloats(24, 2)), true),
                 OnnxOp("ga", "Gather", {{"ta", 0}, {"a", 0}}), Unsqueeze("ua", "ga", "axes"),
                 OnnxOp("gb", "Gather", {{"tb", 0}, {"b", 0}}),
                 [] {
                   Node c = OnnxOp("c", "Concat", {{"ua", 0}, {"gb", 0}});
                   c.attrs.Set("axis", int64_t{1});
                   return c;
                 }()},
                {"c"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseMultiLookup(Lookups(graph), {}, &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_TRUE(absl::StrContains(Notes(*report), "near miss at node 'gb' (concat 'c')"))
      << Notes(*report);
  EXPECT_TRUE(absl::StrContains(Notes(*report), "not one table row of 4")) << Notes(*report);
}

TEST(FuseMultiLookupTest, AnIdOutsideItsTableIsAnError) {
  const Graph graph = Fields(false);
  Graph fused(graph.format());
  ASSERT_TRUE(FuseMultiLookup(Lookups(graph), {}, &fused).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(fused, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<Tensor> keep;
  std::vector<NamedTensorView> views;
  auto feeds = Feeds(false);
  feeds[1].second = Ids({6, 0, 7, 2, 1});  // table 1 has 7 rows
  for (const auto& [name, t] : feeds) {
    TensorView v;
    v.dtype = t.dtype();
    v.dims.assign(t.dims().begin(), t.dims().end());
    v.data = const_cast<char*>(t.bytes().data());
    views.push_back({name, v});
  }
  std::vector<Tensor> out;
  const absl::Status s = (*plan)->Run(views, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "id 7 of field 1")) << s;
  // Fields with different id counts.
  feeds = Feeds(false);
  feeds[2].second = Ids({1, 2});
  views.clear();
  for (const auto& [name, t] : feeds) {
    TensorView v;
    v.dtype = t.dtype();
    v.dims.assign(t.dims().begin(), t.dims().end());
    v.data = const_cast<char*>(t.bytes().data());
    views.push_back({name, v});
  }
  EXPECT_FALSE((*plan)->Run(views, &out).ok());
}

// fp16 tables (as table quantization stores them): the fused node carries each table's storage
// and reads the same values as the per-field lookups.
TEST(FuseMultiLookupTest, QuantizedTablesKeepTheirStorage) {
  Graph graph = Lookups(Fields(false));
  std::vector<Node> nodes = graph.nodes();
  for (Node& n : nodes) {
    if (n.op != kEmbeddingLookupOp || n.name.rfind("g", 0) != 0) continue;
    Node* table = nullptr;
    for (Node& t : nodes) {
      if (t.name == n.inputs[0].node) table = &t;
    }
    ASSERT_NE(table, nullptr);
    const Tensor value = *table->attrs.Get<Tensor>("value");
    // fp16 rows: the half of each value (values in [-1, 1), so the top 16 bits of a float are a
    // valid bfloat16, not half; build halves exactly instead: small integers / 8 are exact).
    const int64_t rows = value.dims()[0];
    std::vector<uint8_t> bytes(static_cast<size_t>(rows * 4 * 2));
    for (int64_t i = 0; i < rows * 4; ++i) {
      const uint16_t half = static_cast<uint16_t>(0x3c00 + (i % 7) * 0x40);  // 1.0 .. 1.375
      std::memcpy(&bytes[2 * i], &half, 2);
    }
    table->attrs.Set("value", *Tensor::FromValues<uint8_t>({rows, 8}, bytes));
    n.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string("fp16"));
    n.attrs.Set(std::string(kEmbeddingTableDimAttr), int64_t{4});
  }
  ASSERT_TRUE(graph.SetNodes(nodes).ok());
  Graph fused(graph.format());
  ASSERT_TRUE(FuseMultiLookup(graph, {}, &fused).ok());
  const Node* stack = fused.FindNode("stack");
  ASSERT_NE(stack, nullptr);
  ASSERT_EQ(stack->op, kMultiLookupOp);
  ASSERT_NE(stack->attrs.Get<std::vector<std::string>>("table_dtypes"), nullptr);
  const std::vector<Tensor> got = RunGraph(fused, Feeds(false));
  EXPECT_EQ(got, RunGraph(graph, Feeds(false)));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].values<float>()[0], 1.0f);  // row 0, column 0 of table 0: half 0x3c00
  Graph split = fused;
  ASSERT_TRUE(SplitMultiLookups(&split).ok());
  EXPECT_EQ(RunGraph(split, Feeds(false)), got);
}

// The zoo's DeepFM at O2: every field lookup is in a multi-table lookup, and the scores equal O2
// without this pass, bit for bit.
TEST(FuseMultiLookupTest, ZooDeepFmAtO2) {
  absl::StatusOr<Graph> model =
      LoadModel(std::string(RANKOPT_TESTDATA_DIR) + "/zoo/deepfm_op17.onnx");
  ASSERT_TRUE(model.ok()) << model.status();
  Graph on(model->format()), off(model->format());
  OptimizeOptions options;
  ASSERT_TRUE(OptimizeGraph(*model, OptLevel::kO2, options, &on).ok());
  options.disabled_passes = {"fuse_multi_lookup"};
  ASSERT_TRUE(OptimizeGraph(*model, OptLevel::kO2, options, &off).ok());
  EXPECT_EQ(CountOp(on, std::string(kEmbeddingLookupOp)), 0);
  EXPECT_GE(CountOp(off, std::string(kEmbeddingLookupOp)), 20);
  EXPECT_GE(CountOp(on, std::string(kMultiLookupOp)), 2);
  EXPECT_EQ(CountOp(on, "Unsqueeze"), 0);
  std::vector<std::pair<std::string, Tensor>> feeds;
  const int64_t b = 6;
  for (const Node& n : model->nodes()) {
    if (n.op != "Placeholder") continue;
    const DType* dtype = n.attrs.Get<DType>("dtype");
    const Shape* shape = n.attrs.Get<Shape>("shape");
    ASSERT_TRUE(dtype != nullptr && shape != nullptr) << n.name;
    std::vector<int64_t> dims = shape->dims();
    dims[0] = b;
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    const std::string name = n.output_names.empty() ? n.name : n.output_names[0];
    if (*dtype == DType::kInt64) {
      std::vector<int64_t> ids(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) ids[i] = i % 3;
      feeds.push_back({name, *Tensor::FromValues<int64_t>(dims, ids)});
    } else {
      feeds.push_back({name, Floats(dims, RandomFloats(count, 9))});
    }
  }
  const std::vector<Tensor> got = RunGraph(on, feeds);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got, RunGraph(off, feeds));
}

}  // namespace
}  // namespace rankopt
