// O2: the request-level passes (fuse_attention_pooling, split_first_dense, request_level) on DIN
// and ESMM against O0 and PyTorch, chunked runs bitwise equal to whole runs, the errors a user
// sees, the boundary broadcast on a small graph, and lookups into a remote table (request-level
// when their ids are).
#include "graph/passes/request_level.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/fuse_attention_pooling.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/split_first_dense.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

// The request-level inputs configs/din.yaml and configs/esmm.yaml declare.
constexpr char kDinRequestInputs[] = "user_id,hist_item_ids,hist_cate_ids,hist_len,dense[0:2]";
constexpr char kEsmmRequestInputs[] =
    "user_id,user_age,user_occupation,user_geo,user_segment,hour_of_day,dense[0]";

TEST(ParseRequestInputsTest, NamesRangesAndLists) {
  absl::StatusOr<std::vector<RequestLevelInput>> inputs =
      ParseRequestInputs("user_id, dense[0:2],ctx[1;3]");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->size(), 3u);
  EXPECT_EQ((*inputs)[0].name, "user_id");
  EXPECT_TRUE((*inputs)[0].columns.empty());
  EXPECT_EQ((*inputs)[1].name, "dense");
  EXPECT_THAT((*inputs)[1].columns, ElementsAre(0, 1));
  EXPECT_THAT((*inputs)[2].columns, ElementsAre(1, 3));
  for (const char* bad : {"", "dense[2:1]", "dense[a]", "dense[0:2", "[0]"}) {
    absl::StatusOr<std::vector<RequestLevelInput>> r = ParseRequestInputs(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_THAT(ParseRequestInputs("dense[x]").status().message(), HasSubstr("NAME[a:b]"));
}

struct Loaded {
  TensorJsonDocument doc;
  Graph o0{ModelFormat::kOnnx};
  Graph o2{ModelFormat::kOnnx};
  std::vector<PassReport> reports;
};

Loaded Load(const std::string& model, const std::string& ref, const char* request_inputs) {
  Loaded l;
  absl::StatusOr<Graph> graph = LoadModel(TestData(model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return l;
  l.o0 = *graph;
  OptimizeOptions options;
  options.request_inputs = *ParseRequestInputs(request_inputs);
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO2, options, &l.o2);
  EXPECT_TRUE(reports.ok()) << reports.status();
  if (reports.ok()) l.reports = *reports;
  absl::StatusOr<std::string> text = ReadFileToString(TestData(ref));
  EXPECT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, ref);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (doc.ok()) l.doc = *std::move(doc);
  return l;
}

// The first `rows` rows of every tensor.
std::vector<NamedTensor> FirstRows(const std::vector<NamedTensor>& tensors, int64_t rows) {
  std::vector<NamedTensor> out;
  for (const NamedTensor& t : tensors) {
    std::vector<int64_t> dims = t.tensor.dims();
    const size_t row_bytes = t.tensor.bytes().size() / static_cast<size_t>(dims[0]);
    dims[0] = rows;
    out.push_back({t.name, *Tensor::FromBytes(t.tensor.dtype(), dims,
                                              t.tensor.bytes().substr(0, row_bytes * rows))});
  }
  return out;
}

std::vector<Tensor> RunPlan(const Graph& graph, const std::vector<NamedTensor>& inputs,
                        std::vector<std::string>* names, absl::Status* status = nullptr) {
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions{});
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  std::vector<Tensor> out;
  absl::Status s = (*plan)->Run(FeedsOf(inputs), &out);
  if (status != nullptr) {
    *status = s;
  } else {
    EXPECT_TRUE(s.ok()) << s;
  }
  *names = (*plan)->outputs();
  return out;
}

// max |x - ref| / |ref|.
double MaxRelativeError(const Tensor& got, const Tensor& ref) {
  EXPECT_EQ(got.dims(), ref.dims());
  double worst = 0;
  for (int64_t i = 0; i < got.num_elements() && i < ref.num_elements(); ++i) {
    const double x = got.values<float>()[i], r = ref.values<float>()[i];
    const double err = std::abs(x - r) / std::abs(r);
    if (!(err <= worst)) worst = err;
  }
  return worst;
}

// O2 against O0 and against PyTorch, within 1e-5 relative, at 1, 16 and every row.
void ExpectO2Matches(const Loaded& l) {
  const int64_t total = l.doc.inputs[0].tensor.dims()[0];
  for (int64_t rows : {int64_t{1}, int64_t{16}, total}) {
    if (rows > total) continue;
    std::vector<NamedTensor> inputs = FirstRows(l.doc.inputs, rows);
    std::vector<NamedTensor> expected = FirstRows(l.doc.reference_outputs, rows);
    std::vector<std::string> names0, names2;
    std::vector<Tensor> o0 = RunPlan(l.o0, inputs, &names0);
    std::vector<Tensor> o2 = RunPlan(l.o2, inputs, &names2);
    ASSERT_EQ(names0, names2);
    for (const NamedTensor& ref : expected) {
      auto it = std::find(names2.begin(), names2.end(), ref.name);
      ASSERT_NE(it, names2.end()) << ref.name;
      const size_t i = it - names2.begin();
      EXPECT_LE(MaxRelativeError(o2[i], o0[i]), 1e-5) << ref.name << " rows " << rows;
      EXPECT_LE(MaxRelativeError(o2[i], ref.tensor), 1e-5) << ref.name << " rows " << rows;
    }
  }
}

const PassReport* Report(const Loaded& l, const std::string& pass) {
  for (const PassReport& r : l.reports) {
    if (r.pass == pass) return &r;
  }
  return nullptr;
}

TEST(RequestLevelModelsTest, DinO2MatchesO0AndPyTorch) {
  for (const char* ref : {"peers/din_ref.json", "exec/din_ref_200.json"}) {
    Loaded l = Load("peers/din.onnx", ref, kDinRequestInputs);
    ASSERT_FALSE(l.doc.inputs.empty());
    EXPECT_EQ(CountOp(l.o2, std::string(kAttentionPoolingOp)), 1);
    EXPECT_EQ(CountOp(l.o2, std::string(kRequestRowOp)), 5);  // 4 inputs + dense[0:2]
    // Nothing is broadcast back: the attention takes the keys and mask with one row, and the
    // first layer's user half is its runtime bias.
    EXPECT_EQ(CountOp(l.o2, std::string(kBroadcastRowsOp)), 0);
    ASSERT_NE(Report(l, "split_first_dense"), nullptr);
    EXPECT_THAT(Report(l, "split_first_dense")->notes,
                ElementsAre(HasSubstr("18 of 84 input columns are request-level")));
    // The split copies fc1's rows into two halves; the final prune drops the original, and the
    // four axes constants of the attention block's Squeeze/Unsqueeze nodes.
    const PassReport* final_prune = Report(l, "final_prune");
    ASSERT_NE(final_prune, nullptr);
    EXPECT_EQ(final_prune->params_before - final_prune->params_after, 84 * 200 + 4);
    ExpectO2Matches(l);
  }
}

TEST(RequestLevelModelsTest, EsmmO2MatchesO0AndPyTorch) {
  for (const char* ref : {"peers/esmm_ref.json", "exec/esmm_ref_200.json"}) {
    Loaded l = Load("peers/esmm.onnx", ref, kEsmmRequestInputs);
    ASSERT_FALSE(l.doc.inputs.empty());
    // Both towers' first layers split; they share one user half and one item half.
    ASSERT_NE(Report(l, "split_first_dense"), nullptr);
    EXPECT_THAT(Report(l, "split_first_dense")->notes,
                ElementsAre(HasSubstr("97 of 195 input columns"),
                            HasSubstr("97 of 195 input columns")));
    EXPECT_EQ(CountOp(l.o2, std::string(kSelectColumnsOp)), 1);
    ExpectO2Matches(l);
  }
}

// Candidate chunks each read the user rows again; their scores are bitwise those of one run.
TEST(RequestLevelModelsTest, ChunkedO2IsBitwiseIdentical) {
  Loaded l = Load("peers/din.onnx", "exec/din_ref_200.json", kDinRequestInputs);
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(l.o2, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::vector<NamedTensorView> feeds = FeedsOf(l.doc.inputs);
  std::vector<Tensor> whole;
  ASSERT_TRUE((*plan)->Run(feeds, &whole).ok());
  for (int64_t chunk : {1, 7, 64}) {
    for (int threads : {1, 2}) {
      ChunkedRunnerOptions options;
      options.chunk_rows = chunk;
      options.threads = threads;
      absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
          ChunkedRunner::Create(plan->get(), options);
      ASSERT_TRUE(runner.ok()) << runner.status();
      std::vector<Tensor> chunked;
      ASSERT_TRUE((*runner)->Run(feeds, &chunked).ok());
      ASSERT_EQ(chunked.size(), whole.size());
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_EQ(chunked[i], whole[i]) << "chunk " << chunk << " threads " << threads;
      }
    }
  }
}

// A request whose user rows differ cannot be computed once: a clear error, not a wrong score.
TEST(RequestLevelModelsTest, DifferentUsersInOneRequestAreAnError) {
  Loaded l = Load("peers/din.onnx", "peers/din_ref.json", kDinRequestInputs);
  std::vector<NamedTensor> inputs = l.doc.inputs;
  for (NamedTensor& t : inputs) {
    if (t.name != "user_id") continue;
    std::vector<int64_t> ids(t.tensor.values<int64_t>().begin(), t.tensor.values<int64_t>().end());
    ids[3] += 1;
    t.tensor = *Tensor::FromValues<int64_t>(t.tensor.dims(), ids);
  }
  std::vector<std::string> names;
  absl::Status status;
  RunPlan(l.o2, inputs, &names, &status);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("row 3"));
  EXPECT_THAT(status.message(), HasSubstr("request-level"));
}

TEST(RequestLevelTest, NotApplicableWithoutRequestInputs) {
  absl::StatusOr<Graph> graph = LoadModel(TestData("peers/esmm.onnx"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  Graph out(graph->format());
  absl::StatusOr<PassReport> report = MarkRequestLevel(*graph, {}, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes, ElementsAre(HasSubstr("not applicable")));
  PassOptions options;
  options.request_inputs = *ParseRequestInputs("usr_id");
  report = MarkRequestLevel(*graph, options, &out);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("'usr_id' is not a graph input"));
}

// user [B,2] -> Relu -> ReduceSum over the batch axis (not row-wise: it needs every row) and
// -> Mul with item [B,2] (broadcasts as is). The reduction gets the rows back first.
TEST(RequestLevelTest, BroadcastsAtTheBoundary) {
  Node axes = ConstNode("axes", *Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{0}), true);
  Node sum = OnnxOp("sum", "ReduceSum", {{"relu", 0}, {"axes", 0}});
  sum.attrs.Set("keepdims", int64_t{1});
  Graph graph = MakeGraph(ModelFormat::kOnnx,
                          {Input("user", {-1, 2}, true), Input("item", {-1, 2}, true),
                           OnnxOp("relu", "Relu", {{"user", 0}}),
                           OnnxOp("mul", "Mul", {{"relu", 0}, {"item", 0}}), axes, sum,
                           OnnxOp("out", "Add", {{"mul", 0}, {"sum", 0}})},
                          {"out"});
  graph.set_onnx_opset(17);
  PassOptions options;
  options.request_inputs = *ParseRequestInputs("user");
  Graph marked(graph.format());
  absl::StatusOr<PassReport> report = MarkRequestLevel(graph, options, &marked);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_EQ(CountOp(marked, std::string(kRequestRowOp)), 1);
  EXPECT_EQ(CountOp(marked, std::string(kBroadcastRowsOp)), 1);
  const Node* reduce = marked.FindNode("sum");
  ASSERT_NE(reduce, nullptr);
  EXPECT_EQ(marked.FindNode(reduce->inputs[0].node)->op, kBroadcastRowsOp);
  EXPECT_EQ(marked.FindNode("mul")->inputs[0], (TensorRef{"relu", 0}));

  const std::vector<float> user = {1, -2, 1, -2, 1, -2};
  const std::vector<float> item = {1, 2, 3, 4, 5, 6};
  std::vector<std::pair<std::string, Tensor>> feeds = {{"user", Floats({3, 2}, user)},
                                                       {"item", Floats({3, 2}, item)}};
  std::vector<Tensor> want = RunGraph(graph, feeds);
  std::vector<Tensor> got = RunGraph(marked, feeds);
  ASSERT_EQ(want.size(), 1u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], want[0]);  // [[4, 0], [6, 0], [8, 0]]
  EXPECT_THAT(want[0].values<float>(), ElementsAre(4, 0, 6, 0, 8, 0));
}


// A remote table (serving/remote/remote_graph.h): its fetched rows and ids are fed whole, one row
// per fetched id. rows [4,2] for table ids keys {1,3,5,7}; user [B] ids, item [B] ids.
Node RemoteLookup(std::string name, std::string ids) {
  Node n = OnnxOp(std::move(name), "_RankoptRemoteEmbeddingLookup",
                  {{"t/remote_rows", 0}, {std::move(ids), 0}, {"t/remote_ids", 0}});
  n.attrs.Set("table_dim", int64_t{2});
  n.attrs.Set("table_rows", int64_t{10});
  return n;
}

Graph RemoteLookupGraph() {
  // The fetched rows come first: they must not be taken for the candidate-count reference.
  Graph graph = MakeGraph(ModelFormat::kOnnx,
                          {Input("t/remote_rows", {-1, 2}, true),
                           Input("t/remote_ids", {-1}, true, DType::kInt64),
                           Input("user", {-1}, true, DType::kInt64),
                           Input("item", {-1}, true, DType::kInt64), RemoteLookup("u", "user"),
                           RemoteLookup("i", "item"), OnnxOp("relu", "Relu", {{"u", 0}}),
                           OnnxOp("out", "Mul", {{"relu", 0}, {"i", 0}})},
                          {"out"});
  graph.set_onnx_opset(17);
  return graph;
}

TEST(RequestLevelTest, RemoteTableInputsAreNeitherRequestNorCandidateLevel) {
  const Graph graph = RemoteLookupGraph();
  const Node& lookup = graph.nodes()[4];
  ASSERT_EQ(lookup.name, "u");
  EXPECT_TRUE(IsRemoteTableInput(lookup, 0));
  EXPECT_FALSE(IsRemoteTableInput(lookup, 1));
  EXPECT_TRUE(IsRemoteTableInput(lookup, 2));
  Node bag = OnnxOp("bag", "_RankoptRemoteEmbeddingBag",
                    {{"t/remote_rows", 0}, {"ids", 0}, {"lengths", 0}, {"t/remote_ids", 0}});
  EXPECT_TRUE(IsRemoteTableInput(bag, 0));
  EXPECT_FALSE(IsRemoteTableInput(bag, 1));
  EXPECT_FALSE(IsRemoteTableInput(bag, 2));
  EXPECT_TRUE(IsRemoteTableInput(bag, 3));
  Node local = OnnxOp("local", "_RankoptEmbeddingLookup", {{"table", 0}, {"ids", 0}});
  EXPECT_FALSE(IsRemoteTableInput(local, 0));
  EXPECT_FALSE(IsRemoteTableInput(local, 1));
}

// The remote lookup of the user's ids runs once per request, like a local one; the item's stays
// per candidate; the scores are bitwise those of the unmarked graph.
TEST(RequestLevelTest, RemoteLookupOfRequestLevelIdsIsRequestLevel) {
  const Graph graph = RemoteLookupGraph();
  PassOptions options;
  options.request_inputs = *ParseRequestInputs("user");
  Graph marked(graph.format());
  absl::StatusOr<PassReport> report = MarkRequestLevel(graph, options, &marked);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed);
  EXPECT_EQ(CountOp(marked, std::string(kRequestRowOp)), 1);
  EXPECT_EQ(CountOp(marked, std::string(kBroadcastRowsOp)), 0);  // Mul broadcasts [1,2] as is
  const Node* u = marked.FindNode("u");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(marked.FindNode(u->inputs[1].node)->op, kRequestRowOp);
  EXPECT_EQ(u->inputs[0], (TensorRef{"t/remote_rows", 0}));  // fed whole, as before
  EXPECT_EQ(marked.FindNode("i")->inputs[1], (TensorRef{"item", 0}));

  absl::StatusOr<ShapeMap> shapes = InferShapes(marked);
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  const absl::flat_hash_set<TensorRef> request = RequestLevelTensors(marked, {}, *shapes);
  EXPECT_TRUE(request.contains((TensorRef{"u", 0})));
  EXPECT_TRUE(request.contains((TensorRef{"relu", 0})));
  EXPECT_FALSE(request.contains((TensorRef{"i", 0})));
  EXPECT_FALSE(request.contains((TensorRef{"out", 0})));
  EXPECT_FALSE(request.contains((TensorRef{"t/remote_rows", 0})));
  // Seeded by the graph input instead of request rows: the same answer on the unmarked graph.
  absl::StatusOr<ShapeMap> source_shapes = InferShapes(graph);
  ASSERT_TRUE(source_shapes.ok());
  const absl::flat_hash_set<TensorRef> from_input =
      RequestLevelTensors(graph, *ParseRequestInputs("user"), *source_shapes);
  EXPECT_TRUE(from_input.contains((TensorRef{"u", 0})));
  EXPECT_FALSE(from_input.contains((TensorRef{"i", 0})));
  // Not request-level when the rows are seeded as a whole input but the ids are not.
  const absl::flat_hash_set<TensorRef> rows_only = RequestLevelTensors(
      graph, *ParseRequestInputs("t/remote_rows,t/remote_ids"), *source_shapes);
  EXPECT_FALSE(rows_only.contains((TensorRef{"u", 0})));
  EXPECT_FALSE(rows_only.contains((TensorRef{"i", 0})));

  std::vector<std::pair<std::string, Tensor>> feeds = {
      {"t/remote_rows", Floats({4, 2}, {1, -1, 2, -2, 3, -3, 4, -4})},
      {"t/remote_ids", *Tensor::FromValues<int64_t>({4}, std::vector<int64_t>{1, 3, 5, 7})},
      {"user", *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{3, 3, 3})},
      {"item", *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{1, 5, 7})}};
  std::vector<Tensor> want = RunGraph(graph, feeds);
  std::vector<Tensor> got = RunGraph(marked, feeds);
  ASSERT_EQ(want.size(), 1u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], want[0]);
  // Hand: relu(row of id 3) = [2, 0]; times the rows of ids 1, 5, 7.
  EXPECT_THAT(got[0].values<float>(), ElementsAre(2, -0.0f, 6, -0.0f, 8, -0.0f));
}

}  // namespace
}  // namespace rankopt
