// SplitRequestGraph on the O2 DIN and ESMM graphs: the boundary and the user-part inputs, and
// user part + candidate part computing the whole graph's outputs bitwise; not applicable below O2;
// errors.
#include "graph/split/split_request_graph.h"

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

std::unique_ptr<const ExecutionPlan> Plan(const Graph& graph) {
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions{});
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

// Runs the user part on `inputs` and the candidate part on its outputs + `inputs` (chunked, as
// the server does, with `threads`), and expects the whole graph's outputs bitwise.
void ExpectSplitRunsWhole(const Model& m, const RequestGraphSplit& split, int threads) {
  std::unique_ptr<const ExecutionPlan> whole = Plan(m.o2);
  std::unique_ptr<const ExecutionPlan> user = Plan(split.user);
  std::unique_ptr<const ExecutionPlan> candidate = Plan(split.candidate);
  ASSERT_TRUE(whole && user && candidate);
  const std::vector<NamedTensorView> feeds = FeedsOf(m.doc.inputs);
  std::vector<Tensor> expected;
  ASSERT_TRUE(whole->Run(feeds, &expected).ok());

  // The user part reads only user_inputs.
  std::vector<NamedTensorView> user_feeds;
  for (const ExecutionPlan::Input& in : user->inputs()) {
    EXPECT_TRUE(std::any_of(split.user_inputs.begin(), split.user_inputs.end(),
                            [&](const RequestLevelInput& u) { return u.name == in.name; }))
        << in.name;
    for (const NamedTensorView& f : feeds) {
      if (f.name == in.name) user_feeds.push_back(f);
    }
  }
  std::vector<Tensor> boundary;
  ASSERT_TRUE(user->Run(user_feeds, &boundary).ok());
  ASSERT_EQ(boundary.size(), split.boundary.size());
  ASSERT_EQ(user->outputs().size(), split.boundary.size());

  std::vector<NamedTensorView> candidate_feeds;
  std::vector<std::string> request_level;
  for (const ExecutionPlan::Input& in : candidate->inputs()) {
    bool found = false;
    for (size_t b = 0; b < split.boundary.size(); ++b) {
      if (split.boundary[b].feed_name != in.name) continue;
      EXPECT_EQ(boundary[b].dims()[0], 1) << in.name;
      EXPECT_EQ(boundary[b].dtype(), split.boundary[b].dtype) << in.name;
      candidate_feeds.push_back({in.name, ViewOf(boundary[b])});
      request_level.push_back(in.name);
      found = true;
    }
    for (const NamedTensorView& f : feeds) {
      if (!found && f.name == in.name) {
        candidate_feeds.push_back(f);
        found = true;
      }
    }
    EXPECT_TRUE(found) << in.name;
  }
  ChunkedRunnerOptions options;
  options.threads = threads;
  options.chunk_rows = 7;
  options.separability = Separability::kAssume;
  options.request_level_inputs = request_level;
  absl::StatusOr<std::unique_ptr<ChunkedRunner>> runner =
      ChunkedRunner::Create(candidate.get(), options);
  ASSERT_TRUE(runner.ok());
  std::vector<Tensor> got;
  ASSERT_TRUE((*runner)->Run(candidate_feeds, &got).ok());
  ASSERT_EQ(candidate->outputs(), whole->outputs());
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual(got[i], expected[i])) << whole->outputs()[i];
  }
}

std::vector<std::string> BoundaryNames(const RequestGraphSplit& split) {
  std::vector<std::string> names;
  for (const RequestBoundary& b : split.boundary) {
    names.push_back(absl::StrCat(b.tensor.node, " ", b.shape.ToString()));
  }
  return names;
}

TEST(SplitRequestGraphTest, DinBoundaryAndBitwiseEqualRuns) {
  Model m = Load("peers/din.onnx", "exec/din_ref_200.json", kDinRequestInputs);
  absl::StatusOr<RequestGraphSplit> split = SplitRequestGraph(m.o2, m.request_inputs);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_TRUE(split->applicable) << split->note;
  // The attention's keys (history item+cate embeddings) and mask, and the first layer's user
  // half (its runtime bias): each one row, read by the candidate side.
  for (const RequestBoundary& b : split->boundary) {
    ASSERT_TRUE(b.shape.known_rank()) << b.tensor.ToString();
    EXPECT_EQ(b.shape.dim(0), 1) << b.tensor.ToString();
    const Node* reader = nullptr;
    for (const Node& n : split->candidate.nodes()) {
      for (const TensorRef& in : n.inputs) {
        if (in.node == b.feed_name) reader = &n;
      }
    }
    ASSERT_NE(reader, nullptr) << b.feed_name;
  }
  EXPECT_THAT(BoundaryNames(*split),
              ElementsAre("/Concat_1 [1,50,32]", "/Cast [1,50]", "/fc1/Gemm/request_term [1,200]"));
  EXPECT_EQ(pass_test::CountOp(split->candidate, std::string(kRequestRowOp)), 0);
  EXPECT_EQ(pass_test::CountOp(split->candidate, "_RankoptAttentionPooling"), 1);
  // Row 0 of the user inputs, and only the user columns of `dense`.
  std::vector<std::string> user_inputs;
  for (const RequestLevelInput& in : split->user_inputs) {
    user_inputs.push_back(absl::StrCat(in.name, in.columns.empty() ? "" : "[cols]"));
    if (in.name == "dense") {
      EXPECT_THAT(in.columns, ElementsAre(0, 1));
    }
  }
  EXPECT_THAT(user_inputs, ::testing::UnorderedElementsAre("user_id", "hist_item_ids",
                                                           "hist_cate_ids", "hist_len",
                                                           "dense[cols]"));
  for (int threads : {1, 2}) ExpectSplitRunsWhole(m, *split, threads);
}

TEST(SplitRequestGraphTest, EsmmBitwiseEqualRuns) {
  Model m = Load("peers/esmm.onnx", "exec/esmm_ref_200.json", kEsmmRequestInputs);
  absl::StatusOr<RequestGraphSplit> split = SplitRequestGraph(m.o2, m.request_inputs);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_TRUE(split->applicable) << split->note;
  // The user half of both towers' first layer.
  EXPECT_THAT(BoundaryNames(*split), ElementsAre("/ctr/ctr.0/Gemm/request_term [1,256]",
                                                 "/cvr/cvr.0/Gemm/request_term [1,256]"));
  for (const RequestLevelInput& in : split->user_inputs) {
    if (in.name == "dense") {
      EXPECT_THAT(in.columns, ElementsAre(0));
    }
  }
  for (int threads : {1, 2}) ExpectSplitRunsWhole(m, *split, threads);
}

TEST(SplitRequestGraphTest, NotApplicableWithoutRequestRows) {
  absl::StatusOr<Graph> o0 = LoadModel(TestData("peers/din.onnx"));
  ASSERT_TRUE(o0.ok());
  absl::StatusOr<RequestGraphSplit> split =
      SplitRequestGraph(*o0, *ParseRequestInputs(kDinRequestInputs));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_FALSE(split->applicable);
  EXPECT_THAT(split->note, HasSubstr("not applicable"));
  split = SplitRequestGraph(*o0, {});
  ASSERT_TRUE(split.ok());
  EXPECT_FALSE(split->applicable);
}

TEST(SplitRequestGraphTest, UnknownInputIsAnError) {
  Model m = Load("peers/din.onnx", "exec/din_ref_200.json", kDinRequestInputs);
  absl::StatusOr<RequestGraphSplit> split = SplitRequestGraph(m.o2, {{"no_such_input", {}}});
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(split.status().message(), HasSubstr("no_such_input"));
}

}  // namespace
}  // namespace rankopt
