// SplitItemGraph on the O2 DIN and ESMM graphs: the boundary (ESMM's first-layer item halves,
// DIN's candidate embeddings) and the item-part inputs; item part (run on all rows, row by row and
// on scattered subsets: the kernels are row-deterministic) + cross part computing the whole
// graph's outputs bitwise, also with the cross part split again by SplitRequestGraph (both
// caches); a lookup into a remote table as item-level as its ids; not applicable below O2; errors.
#include "graph/split/split_item_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/request_level.h"
#include "graph/split/split_request_graph.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

constexpr char kDinRequestInputs[] = "user_id,hist_item_ids,hist_cate_ids,hist_len,dense[0:2]";
constexpr char kEsmmRequestInputs[] =
    "user_id,user_age,user_occupation,user_geo,user_segment,hour_of_day,dense[0]";

struct Model {
  std::vector<RequestLevelInput> request_inputs;
  Graph o2{ModelFormat::kOnnx};
  TensorJsonDocument doc;
};

Model Load(const std::string& model, const std::string& ref, const char* request_inputs) {
  Model m;
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return m;
  m.request_inputs = *ParseRequestInputs(request_inputs);
  OptimizeOptions options;
  options.request_inputs = m.request_inputs;
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO2, options, &m.o2);
  EXPECT_TRUE(reports.ok()) << reports.status();
  absl::StatusOr<std::string> text = ReadFileToString(TestData(ref));
  EXPECT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, ref);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (doc.ok()) m.doc = *std::move(doc);
  return m;
}

std::unique_ptr<const ExecutionPlan> Plan(const Graph& graph,
                                          const std::vector<std::string>& outputs = {}) {
  PlanOptions options;
  options.outputs = outputs;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(graph, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *std::move(plan) : nullptr;
}

TensorView ViewOf(const Tensor& t) {
  TensorView v;
  v.dtype = t.dtype();
  v.dims.assign(t.dims().begin(), t.dims().end());
  v.data = const_cast<char*>(t.bytes().data());
  return v;
}

bool BitwiseEqual(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.dims() == b.dims() && a.bytes() == b.bytes();
}

// Rows `rows` of `t` (leading axis).
Tensor Rows(const Tensor& t, const std::vector<int64_t>& rows) {
  const size_t row_bytes = t.bytes().size() / static_cast<size_t>(t.dims()[0]);
  std::string bytes;
  for (int64_t r : rows) bytes.append(t.bytes().data() + r * row_bytes, row_bytes);
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  dims[0] = static_cast<int64_t>(rows.size());
  return *Tensor::FromBytes(t.dtype(), dims, bytes);
}

// The item part's outputs on rows `rows` of the document's inputs.
std::vector<Tensor> RunItemRows(const ExecutionPlan& item, const TensorJsonDocument& doc,
                                const std::vector<int64_t>& rows) {
  std::vector<Tensor> kept;
  std::vector<NamedTensorView> feeds;
  kept.reserve(item.inputs().size());
  for (const ExecutionPlan::Input& in : item.inputs()) {
    for (const NamedTensor& t : doc.inputs) {
      if (t.name != in.name) continue;
      kept.push_back(Rows(t.tensor, rows));
      feeds.push_back({in.name, ViewOf(kept.back())});
    }
  }
  EXPECT_EQ(feeds.size(), item.inputs().size());
  std::vector<Tensor> out;
  absl::Status status = item.Run(feeds, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// The item part on every row, then row by row and on scattered subsets (each row's bits must not
// depend on the batch), then the cross part (chunked, `threads`) on the rows: the whole graph's
// outputs bitwise. With `split_user`, the cross part is split again at its request-level
// boundary (user cache and item cache together).
void ExpectSplitRunsWhole(const Model& m, const ItemGraphSplit& split, int threads,
                          bool split_user) {
  std::unique_ptr<const ExecutionPlan> whole = Plan(m.o2);
  std::unique_ptr<const ExecutionPlan> item = Plan(split.item);
  ASSERT_TRUE(whole && item);
  std::vector<NamedTensorView> feeds;
  for (const NamedTensor& t : m.doc.inputs) feeds.push_back({t.name, ViewOf(t.tensor)});
  std::vector<Tensor> expected;
  ASSERT_TRUE(whole->Run(feeds, &expected).ok());
  const int64_t n = m.doc.inputs[0].tensor.dims()[0];
  ASSERT_GT(n, 8);

  for (const ExecutionPlan::Input& in : item->inputs()) {
    EXPECT_TRUE(std::any_of(split.item_inputs.begin(), split.item_inputs.end(),
                            [&](const RequestLevelInput& u) { return u.name == in.name; }))
        << in.name;
  }
  std::vector<int64_t> all(n);
  for (int64_t r = 0; r < n; ++r) all[r] = r;
  const std::vector<Tensor> boundary = RunItemRows(*item, m.doc, all);
  ASSERT_EQ(boundary.size(), split.boundary.size());
  for (size_t b = 0; b < boundary.size(); ++b) {
    EXPECT_EQ(boundary[b].dims()[0], n);
    EXPECT_EQ(boundary[b].dtype(), split.boundary[b].dtype);
  }
  // Row-count invariance: one row at a time, and every third row from an offset.
  for (int64_t r = 0; r < n; r += 5) {
    const std::vector<Tensor> one = RunItemRows(*item, m.doc, {r});
    for (size_t b = 0; b < boundary.size(); ++b) {
      EXPECT_TRUE(BitwiseEqual(one[b], Rows(boundary[b], {r}))) << "row " << r << " boundary " << b;
    }
  }
  for (int64_t offset : {0, 1, 2}) {
    std::vector<int64_t> rows;
    for (int64_t r = offset; r < n; r += 3) rows.push_back(r);
    const std::vector<Tensor> some = RunItemRows(*item, m.doc, rows);
    for (size_t b = 0; b < boundary.size(); ++b) {
      EXPECT_TRUE(BitwiseEqual(some[b], Rows(boundary[b], rows))) << "offset " << offset;
    }
  }

  // The cross part's feeds: the boundary rows, the source inputs.
  std::vector<NamedTensorView> cross_feeds = feeds;
  for (size_t b = 0; b < boundary.size(); ++b) {
    cross_feeds.push_back({split.boundary[b].feed_name, ViewOf(boundary[b])});
  }
  auto feed = [&](const std::string& name) -> const NamedTensorView* {
    for (const NamedTensorView& f : cross_feeds) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  Graph cross = split.cross;
  std::vector<Tensor> user_boundary;
  std::vector<std::string> request_level;
  if (split_user) {
    absl::StatusOr<RequestGraphSplit> user_split = SplitRequestGraph(split.cross, m.request_inputs);
    ASSERT_TRUE(user_split.ok()) << user_split.status();
    ASSERT_TRUE(user_split->applicable) << user_split->note;
    std::unique_ptr<const ExecutionPlan> user = Plan(user_split->user);
    ASSERT_TRUE(user);
    std::vector<NamedTensorView> user_feeds;
    for (const ExecutionPlan::Input& in : user->inputs()) {
      ASSERT_NE(feed(in.name), nullptr) << in.name;
      user_feeds.push_back(*feed(in.name));
    }
    ASSERT_TRUE(user->Run(user_feeds, &user_boundary).ok());
    for (size_t b = 0; b < user_boundary.size(); ++b) {
      cross_feeds.push_back({user_split->boundary[b].feed_name, ViewOf(user_boundary[b])});
      request_level.push_back(user_split->boundary[b].feed_name);
    }
    cross = user_split->candidate;
  }
  std::unique_ptr<const ExecutionPlan> cross_plan = Plan(cross);
  ASSERT_TRUE(cross_plan);
  std::vector<NamedTensorView> run_feeds;
  for (const ExecutionPlan::Input& in : cross_plan->inputs()) {
    ASSERT_NE(feed(in.name), nullptr) << in.name;
    run_feeds.push_back(*feed(in.name));
  }
  ChunkedRunnerOptions options;
  options.threads = threads;
  options.chunk_rows = 7;
  options.separability = Separability::kAssume;
  options.request_level_inputs = request_level;
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(cross_plan.get(), options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<Tensor> got;
  absl::Status status = (*runner)->Run(run_feeds, &got);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(cross_plan->outputs(), whole->outputs());
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual(got[i], expected[i])) << whole->outputs()[i];
  }
}

std::vector<std::string> BoundaryNames(const ItemGraphSplit& split) {
  std::vector<std::string> names;
  for (const ItemBoundary& b : split.boundary) {
    names.push_back(absl::StrCat(b.tensor.node, " ", b.shape.ToString()));
  }
  return names;
}

std::vector<std::string> ItemInputs(const ItemGraphSplit& split) {
  std::vector<std::string> names;
  for (const RequestLevelInput& in : split.item_inputs) {
    std::string cols;
    for (int64_t c : in.columns) absl::StrAppend(&cols, cols.empty() ? "" : ",", c);
    names.push_back(in.columns.empty() ? in.name : absl::StrCat(in.name, "[", cols, "]"));
  }
  return names;
}

TEST(SplitItemGraphTest, EsmmMovesBothTowersFirstLayerItemHalves) {
  Model m = Load("peers/esmm.onnx", "exec/esmm_ref_200.json", kEsmmRequestInputs);
  absl::StatusOr<ItemGraphSplit> split = SplitItemGraph(m.o2, m.request_inputs);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_TRUE(split->applicable) << split->note;
  EXPECT_EQ(split->moved_layers, 2);
  EXPECT_THAT(BoundaryNames(*split), ElementsAre("/ctr/ctr.1/Relu/item_term [?,256]",
                                                 "/cvr/cvr.1/Relu/item_term [?,256]"));
  // The item ids, and only the item columns of `dense`.
  EXPECT_THAT(ItemInputs(*split),
              ::testing::UnorderedElementsAre("item_id", "shop_id", "brand_id", "item_cate",
                                              "intention_node", "price_bucket", "dense[1,2]"));
  EXPECT_EQ(pass_test::CountOp(split->cross, "_RankoptFusedMatMul") + 2,
            pass_test::CountOp(m.o2, "_RankoptFusedMatMul"));
  for (int threads : {1, 2}) {
    for (bool split_user : {false, true}) ExpectSplitRunsWhole(m, *split, threads, split_user);
  }
}

TEST(SplitItemGraphTest, DinCachesCandidateEmbeddingsOnlyWhenAsked) {
  Model m = Load("peers/din.onnx", "exec/din_ref_200.json", kDinRequestInputs);
  // By default not applicable: DIN's item part only reads tables.
  absl::StatusOr<ItemGraphSplit> split = SplitItemGraph(m.o2, m.request_inputs);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_FALSE(split->applicable);
  EXPECT_THAT(split->note, HasSubstr("only reads tables"));
  split = SplitItemGraph(m.o2, m.request_inputs, {}, {.cache_lookups = true});
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_TRUE(split->applicable) << split->note;
  // DIN's first layer reads the attention output too (cross), so nothing moves: its candidate
  // half stays one GEMM in the cross part.
  EXPECT_EQ(split->moved_layers, 0);
  for (const ItemBoundary& b : split->boundary) {
    EXPECT_EQ(b.shape.dim(0), -1) << b.tensor.ToString();
  }
  EXPECT_FALSE(split->boundary.empty());
  for (const std::string& name : ItemInputs(*split)) {
    EXPECT_TRUE(name == "item_id" || name == "cate_id" || name == "dense[2,3]") << name;
  }
  // The query (item + category embeddings) and the item columns of `dense`.
  EXPECT_THAT(BoundaryNames(*split),
              ElementsAre("/Concat [?,32]", "dense/candidate_columns [?,2]"));
  for (int threads : {1, 2}) {
    for (bool split_user : {false, true}) ExpectSplitRunsWhole(m, *split, threads, split_user);
  }
}

// item ids -> a remote table's lookup (fetched rows and ids fed whole) -> MatMul W; + user. The
// lookup and product are the item part, which reads the fetched rows whole and keys on the item
// ids alone; item part on a subset of the rows + cross part equal the whole graph bitwise.
TEST(SplitItemGraphTest, RemoteLookupOfItemIdsIsItemLevel) {
  using namespace pass_test;  // NOLINT: test builders
  Node lookup = OnnxOp("i", "_RankoptRemoteEmbeddingLookup",
                       {{"t/remote_rows", 0}, {"item", 0}, {"t/remote_ids", 0}});
  lookup.attrs.Set("table_dim", int64_t{2});
  lookup.attrs.Set("table_rows", int64_t{10});
  Graph graph = MakeGraph(
      ModelFormat::kOnnx,
      {Input("t/remote_rows", {-1, 2}, true), Input("t/remote_ids", {-1}, true, DType::kInt64),
       Input("user", {-1, 2}, true), Input("item", {-1}, true, DType::kInt64), lookup,
       ConstNode("w", Floats({2, 2}, {1, 2, 3, 4}), true),
       OnnxOp("m", "MatMul", {{"i", 0}, {"w", 0}}), OnnxOp("out", "Add", {{"m", 0}, {"user", 0}})},
      {"out"});
  graph.set_onnx_opset(17);
  absl::StatusOr<ItemGraphSplit> split =
      SplitItemGraph(graph, *ParseRequestInputs("user,t/remote_rows,t/remote_ids"));
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_TRUE(split->applicable) << split->note;
  ASSERT_EQ(split->item_inputs.size(), 1u);
  EXPECT_EQ(split->item_inputs[0].name, "item");
  ASSERT_EQ(split->boundary.size(), 1u);
  EXPECT_EQ(split->boundary[0].tensor, (TensorRef{"m", 0}));

  const Tensor rows = Floats({4, 2}, {1, -1, 2, -2, 3, -3, 4, -4});
  const Tensor keys = *Tensor::FromValues<int64_t>({4}, std::vector<int64_t>{1, 3, 5, 7});
  const Tensor user = Floats({3, 2}, {0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f});
  std::vector<Tensor> want = RunGraph(
      graph, {{"t/remote_rows", rows}, {"t/remote_ids", keys}, {"user", user},
              {"item", *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{7, 1, 5})}});
  ASSERT_EQ(want.size(), 1u);
  // Hand: row(7) @ W = [4 - 12, 8 - 16] + user.
  EXPECT_THAT(want[0].values<float>(),
              ElementsAre(-7.5f, -7.75f, -1.5f, -1.75f, -5.5f, -5.75f));
  // The item part on rows 2 and 0 only (ids 5, 7), then the cross part on all three.
  std::vector<Tensor> part = RunGraph(
      split->item, {{"t/remote_rows", rows}, {"t/remote_ids", keys},
                    {"item", *Tensor::FromValues<int64_t>({2}, std::vector<int64_t>{5, 7})}});
  std::vector<Tensor> middle = RunGraph(
      split->item, {{"t/remote_rows", rows}, {"t/remote_ids", keys},
                    {"item", *Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{1})}});
  ASSERT_EQ(part.size(), 1u);
  ASSERT_EQ(middle.size(), 1u);
  const absl::Span<const float> p = part[0].values<float>();
  const absl::Span<const float> q = middle[0].values<float>();
  const Tensor boundary = Floats({3, 2}, {p[2], p[3], q[0], q[1], p[0], p[1]});
  std::vector<Tensor> got =
      RunGraph(split->cross, {{split->boundary[0].feed_name, boundary}, {"user", user}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], want[0]);
}

TEST(SplitItemGraphTest, UnknownInputIsAnError) {
  Model m = Load("peers/din.onnx", "exec/din_ref_200.json", kDinRequestInputs);
  absl::StatusOr<ItemGraphSplit> split = SplitItemGraph(m.o2, {{"no_such_input", {}}});
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(split.status().message(), HasSubstr("no_such_input"));
}

TEST(SplitItemGraphTest, NotApplicableWithoutItemWork) {
  // y = sigmoid(x_item + u): nothing item-level but the input itself.
  const bool onnx = false;
  Graph g = pass_test::MakeGraph(
      ModelFormat::kTfGraphDef,
      {pass_test::Input("item", {-1, 4}, onnx), pass_test::Input("user", {-1, 4}, onnx),
       pass_test::Op("add", "AddV2", {{"item", 0}, {"user", 0}}),
       pass_test::Op("y", "Sigmoid", {{"add", 0}})},
      {"y"});
  absl::StatusOr<ItemGraphSplit> split = SplitItemGraph(g, {{"user", {}}}, {"y"});
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_FALSE(split->applicable);
  EXPECT_THAT(split->note, HasSubstr("not applicable"));
}

}  // namespace
}  // namespace rankopt
