// The one scorer assembly (serving/scorer.h): the feature-request path and the graph-feeds path
// give the same bits, and the one-row rule picks exactly the O2 graph's whole request-level
// inputs.
#include "serving/scorer.h"

#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "graph/tf/graphdef_io.h"
#include "gtest/gtest.h"
#include "serving/feature_feeds.h"
#include "serving/request_level_inputs.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

FeatureConfig ConfigOf(const ModelPackage& package) {
  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig(package.feature_config_yaml, "package config");
  EXPECT_TRUE(config.ok()) << config.status();
  return *std::move(config);
}

bool SameBits(const TensorView& a, const Tensor& b) {
  return a.dtype == b.dtype() && std::vector<int64_t>(a.dims.begin(), a.dims.end()) == b.dims() &&
         a.ByteSize() == b.bytes().size() &&
         (a.ByteSize() == 0 || std::memcmp(a.data, b.bytes().data(), a.ByteSize()) == 0);
}

TEST(ScorerTest, RequestPathEqualsGraphFeedsPathBitwise) {
  absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
  ASSERT_TRUE(package.ok()) << package.status();
  absl::StatusOr<std::vector<Request>> requests = DinRequests();
  ASSERT_TRUE(requests.ok()) << requests.status();
  const FeatureConfig config = ConfigOf(*package);
  ScorerOptions options;
  options.outputs = package->outputs;
  options.threads = 2;
  options.request_level_inputs = package->request_level_inputs;
  absl::StatusOr<std::unique_ptr<Scorer>> scorer = Scorer::Create(&package->graph, config, options);
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();

  ScorerContext context;
  for (size_t r = 0; r < requests->size(); ++r) {
    SCOPED_TRACE(r);
    const Request& request = (*requests)[r];
    ASSERT_TRUE((*scorer)->Score(request, &context).ok());
    // The graph-level path: every input with one row per candidate, run by the same scorer.
    TransformedRequest transformed;
    ASSERT_TRUE(transformer->Transform(request, &transformed).ok());
    GraphFeeds feeds;
    ASSERT_TRUE(FeedsFromTransformedRequest(transformed, (*scorer)->plan().inputs(), &feeds).ok());
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*scorer)->Run(feeds.views, &outputs).ok());
    const absl::Span<const TensorView> views = context.outputs.views();
    ASSERT_EQ(views.size(), outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) EXPECT_TRUE(SameBits(views[k], outputs[k])) << k;
    // And both are the unchunked reference.
    absl::StatusOr<std::vector<std::vector<float>>> reference = ReferenceScores(*package, request);
    ASSERT_TRUE(reference.ok()) << reference.status();
    for (size_t k = 0; k < outputs.size(); ++k) {
      const absl::Span<const float> got = views[k].values<float>();
      ASSERT_EQ(got.size(), (*reference)[k].size());
      EXPECT_EQ(std::memcmp(got.data(), (*reference)[k].data(), got.size() * sizeof(float)), 0);
    }
  }
}

TEST(ScorerTest, OneRowInputsAreTheWholeRequestLevelInputsReadOnlyAsRowZero) {
  absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
  ASSERT_TRUE(package.ok()) << package.status();
  const std::vector<RequestLevelInput> request_inputs = RequestLevelInputsOf(ConfigOf(*package));
  const std::vector<std::string> one_row = OneRowInputs(package->graph, request_inputs);
  ASSERT_FALSE(one_row.empty());
  absl::flat_hash_set<std::string> whole;
  for (const RequestLevelInput& in : request_inputs) {
    if (in.columns.empty()) whole.insert(in.name);
  }
  for (const std::string& name : one_row) EXPECT_TRUE(whole.contains(name)) << name;

  // Column inputs (DIN's `dense`) are never fed with one row, and with no request-level inputs
  // nothing is.
  std::vector<RequestLevelInput> as_columns = request_inputs;
  for (RequestLevelInput& in : as_columns) {
    if (in.columns.empty()) in.columns = {0};
  }
  EXPECT_TRUE(OneRowInputs(package->graph, as_columns).empty());
  EXPECT_TRUE(OneRowInputs(package->graph, {}).empty());

  // The scorer feeds exactly those with one row, and never splits them.
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      Scorer::Create(&package->graph, ConfigOf(*package), {});
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  EXPECT_EQ((*scorer)->feed_options().one_row_inputs, one_row);
  const std::vector<std::string>& never_split = (*scorer)->runner_options().request_level_inputs;
  for (const std::string& name : one_row) {
    EXPECT_NE(std::find(never_split.begin(), never_split.end(), name), never_split.end()) << name;
  }
}

// x [B, 4] -> MatMul with a [4, n] constant -> Sum over axis 1: about 4n + 4 bytes a row.
Graph WideRowGraph(int64_t n) {
  const std::string text = absl::StrCat(R"(
node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "shape" value { shape { dim { size: -1 } dim { size: 4 } } } } }
node { name: "w" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value { tensor { dtype: DT_FLOAT
    tensor_shape { dim { size: 4 } dim { size: )", n, R"( } } float_val: 0.5 } } } }
node { name: "h" op: "MatMul" input: "x" input: "w" attr { key: "T" value { type: DT_FLOAT } } }
node { name: "axis" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 1 } } } }
node { name: "y" op: "Sum" input: "h" input: "axis" attr { key: "T" value { type: DT_FLOAT } }
  attr { key: "Tidx" value { type: DT_INT32 } } }
)");
  absl::StatusOr<Graph> graph = ImportGraphDefBytes(text, GraphDefEncoding::kText, "wide");
  EXPECT_TRUE(graph.ok()) << graph.status();
  return *std::move(graph);
}

// The automatic chunk follows the graph's per-row tensor bytes: a narrow graph runs 512
// candidates in one chunk on one thread (one chunk per thread on two), a graph of 512 KB a row
// keeps chunks of 64.
TEST(ScorerTest, AutomaticChunkRowsFollowTheGraphsBytesPerRow) {
  for (const auto& [n, one_thread, two_threads] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{16, 512, 256}, {131072, 64, 64}}) {
    SCOPED_TRACE(n);
    const Graph graph = WideRowGraph(n);
    for (const int threads : {1, 2}) {
      ScorerOptions options;
      options.outputs = {"y"};
      options.threads = threads;
      absl::StatusOr<std::unique_ptr<Scorer>> scorer =
          Scorer::Create(&graph, std::nullopt, options);
      ASSERT_TRUE(scorer.ok()) << scorer.status();
      EXPECT_EQ((*scorer)->runner().ChunkRowsFor(512), threads == 1 ? one_thread : two_threads)
          << threads << " thread(s)";
    }
  }
}

TEST(ScorerTest, FeedWithoutFeatureConfigIsAnError) {
  absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
  ASSERT_TRUE(package.ok()) << package.status();
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      Scorer::Create(&package->graph, std::nullopt, {});
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  EXPECT_EQ((*scorer)->transformer(), nullptr);
  absl::StatusOr<std::vector<Request>> requests = DinRequests();
  ASSERT_TRUE(requests.ok()) << requests.status();
  ScorerContext context;
  EXPECT_EQ((*scorer)->Feed(requests->front(), &context).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace rankopt
