#include "serving/feature_feeds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "features/config/feature_config.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

std::string ConfigPath(const std::string& name) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/../../configs/", name);
}

// Raw feature requests -> feature pipeline -> graph feeds -> executor must reproduce the
// PyTorch outputs the peer reference files hold for the same requests.
void ExpectPipelineMatchesReference(const std::string& model) {
  absl::StatusOr<Graph> graph = LoadModel(TestData(absl::StrCat("peers/", model, ".onnx")));
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(ConfigPath(model + ".yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();
  absl::StatusOr<std::vector<RequestLine>> requests =
      ReadRequestJsonLines(TestData(absl::StrCat("features/requests_", model, ".jsonl")));
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  absl::StatusOr<std::string> ref_text =
      ReadFileToString(TestData(absl::StrCat("peers/", model, "_ref.json")));
  ASSERT_TRUE(ref_text.ok());
  absl::StatusOr<TensorJsonDocument> ref = ParseTensorJson(*ref_text, model);
  ASSERT_TRUE(ref.ok()) << ref.status();

  TransformedRequest transformed;
  ASSERT_TRUE(transformer->Transform((*requests)[0].request, &transformed).ok());
  GraphFeeds feeds;
  absl::Status fed = FeedsFromTransformedRequest(transformed, (*plan)->inputs(), &feeds);
  ASSERT_TRUE(fed.ok()) << fed;
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds.views, &outputs);
  ASSERT_TRUE(run.ok()) << run;
  for (const NamedTensor& expected : ref->reference_outputs) {
    const std::vector<std::string>& names = (*plan)->outputs();
    auto it = std::find(names.begin(), names.end(), expected.name);
    ASSERT_NE(it, names.end()) << expected.name;
    const Tensor& got = outputs[it - names.begin()];
    ASSERT_EQ(got.dims(), expected.tensor.dims());
    for (int64_t i = 0; i < got.num_elements(); ++i) {
      const float r = expected.tensor.values<float>()[i];
      EXPECT_LE(std::abs(got.values<float>()[i] - r), 1e-5 * std::abs(r))
          << model << " " << expected.name << "[" << i << "]";
    }
  }
}

TEST(FeatureFeedsTest, DinRequestsReproducePyTorch) { ExpectPipelineMatchesReference("din"); }
TEST(FeatureFeedsTest, EsmmRequestsReproducePyTorch) { ExpectPipelineMatchesReference("esmm"); }

TransformedRequest OneColumn(DType dtype, std::vector<int64_t> dims, FeatureSide side) {
  TransformedRequest request;
  request.num_candidates = 3;
  FeatureColumn column;
  column.input = "x";
  column.side = side;
  column.dtype = dtype;
  column.dims = std::move(dims);
  request.columns.push_back(column);
  return request;
}

TEST(FeatureFeedsTest, RequestLevelColumnsRepeatIntoEveryRow) {
  TransformedRequest request = OneColumn(DType::kInt64, {1, 2}, FeatureSide::kUser);
  request.columns[0].ids = {7, 8};
  GraphFeeds feeds;
  ASSERT_TRUE(
      FeedsFromTransformedRequest(request, {{"x", DType::kInt32, Shape({-1, 2})}}, &feeds).ok());
  ASSERT_EQ(feeds.views.size(), 1u);
  EXPECT_EQ(feeds.views[0].view.dims, (Dims{3, 2}));
  absl::Span<const int32_t> values = feeds.views[0].view.values<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(values.begin(), values.end()),
            (std::vector<int32_t>{7, 8, 7, 8, 7, 8}));
}

TEST(FeatureFeedsTest, MismatchesAreErrorsNamingTheInput) {
  GraphFeeds feeds;
  TransformedRequest ids = OneColumn(DType::kInt64, {3}, FeatureSide::kItem);
  ids.columns[0].ids = {1, int64_t{1} << 40, 3};
  EXPECT_THAT(
      FeedsFromTransformedRequest(ids, {{"x", DType::kInt32, Shape({-1})}}, &feeds).message(),
      HasSubstr("graph input 'x': id 1099511627776 does not fit"));
  EXPECT_THAT(
      FeedsFromTransformedRequest(ids, {{"y", DType::kInt64, Shape({-1})}}, &feeds).message(),
      HasSubstr("graph input 'y' has no feature in the config"));
  EXPECT_THAT(
      FeedsFromTransformedRequest(ids, {{"x", DType::kInt64, Shape({-1, 4})}}, &feeds).message(),
      HasSubstr("one value per candidate"));
  EXPECT_THAT(
      FeedsFromTransformedRequest(ids, {{"x", DType::kFloat32, Shape({-1})}}, &feeds).message(),
      HasSubstr("is float32 but its features make integer ids"));
}

}  // namespace
}  // namespace rankopt
