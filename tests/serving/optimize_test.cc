// OptimizeModel (serving/optimize.h) called as a library on the DIN peer model: the report's
// steps, the package it writes loading in Model and scoring like the executor, the report's text
// and JSON forms, and an error naming the model.
#include "serving/optimize.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "features/transforms/hashing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"
#include "serving/optimize_report_text.h"
#include "serving/package/model_package.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const std::string kData = RANKOPT_TESTDATA_DIR;
const std::string kDin = kData + "/peers/din.onnx";
const std::string kDinConfig = kData + "/../../configs/din.yaml";
const std::string kDinRequests = kData + "/features/requests_din.jsonl";

OptimizeModelOptions DinOptions(const std::string& out_path) {
  OptimizeModelOptions options;
  options.model_path = kDin;
  options.config_path = kDinConfig;
  options.out_path = out_path;
  options.sample_path = kDinRequests;
  options.name = "din";
  options.version = "7";
  options.time_s = 0;  // >= kOptimizeMinTimedRuns runs per graph, no minimum time
  return options;
}

TEST(OptimizeModelTest, ReportsEveryStepAndWritesAPackageThatScores) {
  const std::string out = FreshTempDir("optimize_test") + "/din.rkp";
  absl::StatusOr<OptimizeResult> result = OptimizeModel(DinOptions(out));
  ASSERT_TRUE(result.ok()) << result.status();
  const serving::OptimizeReport& report = result->report;

  std::vector<std::string> names;
  for (const serving::OptimizeStep& step : report.passes()) {
    names.push_back(step.name());
    EXPECT_THAT(step.status(), testing::AnyOf("effective", "not applicable", "skipped"))
        << step.name();
  }
  EXPECT_THAT(names, ElementsAreArray(PassNames(OptLevel::kO2)));
  EXPECT_EQ(report.opt_level(), "O2");
  EXPECT_EQ(report.int8().step().name(), "int8");
  EXPECT_EQ(report.int8().mode(), "auto");
  EXPECT_EQ(report.int8().tables(), report.int8().table_details_size());
  EXPECT_FALSE(result->int8_text.empty());
  EXPECT_THAT(report.outputs(), ElementsAre("prob"));
  EXPECT_THAT(report.request_level_inputs(),
              ElementsAre("user_id", "hist_item_ids", "hist_cate_ids", "hist_len"));
  EXPECT_EQ(report.warmup_requests(), 1);
  EXPECT_GT(report.overall().speedup(), 0);
  EXPECT_GT(report.overall().package_bytes(), 0);
  EXPECT_LT(report.overall().nodes_after(), report.overall().nodes_before());

  absl::StatusOr<ModelPackage> package = ReadModelPackage(out);
  ASSERT_TRUE(package.ok()) << package.status();
  EXPECT_EQ(package->model_name, "din");
  EXPECT_EQ(package->model_version, "7");

  absl::StatusOr<std::vector<RequestLine>> requests = ReadRequestJsonLines(kDinRequests);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_FALSE(requests->empty());
  const Request& request = requests->front().request;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(out);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<Scores> scores = (*model)->Score(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->values.size(), 1u);
  ASSERT_EQ(scores->values[0].size(), request.candidates.size());
  absl::StatusOr<std::vector<std::vector<float>>> reference = ReferenceScores(*package, request);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(scores->values, *reference);
  for (float p : scores->values[0]) EXPECT_TRUE(p > 0 && p < 1) << p;
}

TEST(OptimizeModelTest, ReportPrintsAsTextAndJson) {
  OptimizeModelOptions options = DinOptions(FreshTempDir("optimize_test_text") + "/din.rkp");
  options.level = OptLevel::kO1;
  options.int8 = TableQuantizationMode::kOff;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->int8_text.empty());
  EXPECT_EQ(result->report.int8().step().status(), "skipped");

  const std::string text = FormatOptimizeReport(result->report, result->int8_text);
  EXPECT_THAT(text, HasSubstr(absl::StrCat("rankopt optimize: ", kDin, " -> ", options.out_path)));
  EXPECT_THAT(text, HasSubstr("\noverall: as imported (O0, fp32) -> O1 + int8 off"));

  const std::string json = OptimizeReportToJson(result->report, /*pretty=*/true);
  serving::OptimizeReport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, result->report));
}

const std::string kEsmm = kData + "/peers/esmm.onnx";
const std::string kEsmmConfig = kData + "/../../configs/esmm.yaml";
const std::string kEsmmRequests = kData + "/features/requests_esmm.jsonl";

OptimizeModelOptions EsmmOptions(const std::string& out_path, PrecisionMode precision) {
  OptimizeModelOptions options = DinOptions(out_path);
  options.model_path = kEsmm;
  options.config_path = kEsmmConfig;
  options.sample_path = kEsmmRequests;
  options.name = "esmm";
  options.int8 = TableQuantizationMode::kOff;  // the dense layers alone
  options.precision = precision;
  return options;
}

Scores ScoreWith(const std::string& package, int threads, int64_t chunk_rows,
                 const Request& request) {
  ModelOptions options;
  options.threads = threads;
  options.chunk_rows = chunk_rows;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(package, options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  absl::StatusOr<Scores> scores = (*model)->Score(request);
  EXPECT_TRUE(scores.ok()) << scores.status();
  return scores.ok() ? *std::move(scores) : Scores();
}

TEST(OptimizeModelTest, Int8DenseLayersShrinkEsmmAndScoreBitwiseAlikeAtEveryThreadCount) {
  const std::string dir = FreshTempDir("optimize_test_precision");
  absl::StatusOr<OptimizeResult> int8 =
      OptimizeModel(EsmmOptions(dir + "/int8.rkp", PrecisionMode::kInt8));
  ASSERT_TRUE(int8.ok()) << int8.status();
  const serving::DensePrecisionReport& dense = int8->report.precision();
  EXPECT_EQ(dense.mode(), "int8");
  EXPECT_EQ(dense.step().status(), "effective");
  ASSERT_GT(dense.layers_size(), 0);
  EXPECT_EQ(dense.reduced(), dense.layers_size());
  EXPECT_LT(dense.weight_bytes_stored() * 3, dense.weight_bytes_fp32());  // int8 + scales
  absl::StatusOr<OptimizeResult> fp32 =
      OptimizeModel(EsmmOptions(dir + "/fp32.rkp", PrecisionMode::kFp32));
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ(fp32->report.precision().reduced(), 0);
  EXPECT_LT(int8->report.overall().package_bytes(), fp32->report.overall().package_bytes());
  EXPECT_THAT(FormatOptimizeReport(int8->report, int8->int8_text),
              HasSubstr("dense layers (--precision int8)"));

  absl::StatusOr<std::vector<RequestLine>> requests = ReadRequestJsonLines(kEsmmRequests);
  ASSERT_TRUE(requests.ok()) << requests.status();
  Request request = requests->front().request;
  const size_t sent = request.candidates.size();
  for (size_t i = sent; i < 101; ++i) request.candidates.push_back(request.candidates[i % sent]);
  const Scores base = ScoreWith(dir + "/int8.rkp", 1, 0, request);
  ASSERT_EQ(base.values.size(), 2u);  // the pctr and pctcvr heads
  for (int threads : {1, 2, 3}) {
    for (int64_t chunk : {int64_t{1}, int64_t{7}, int64_t{32}}) {
      EXPECT_EQ(ScoreWith(dir + "/int8.rkp", threads, chunk, request).values, base.values)
          << threads << " threads, chunks of " << chunk;
    }
  }
  // The item and user caches split the first layers (item half moved out of the fused layer):
  // the same bits at every precision.
  for (const char* pkg : {"/int8.rkp", "/fp32.rkp"}) {
    ModelOptions cached;
    cached.item_cache.capacity_bytes = 8 << 20;
    cached.user_cache.capacity_bytes = 8 << 20;
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(dir + pkg, cached);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_TRUE((*model)->item_cache_enabled()) << pkg;
    for (int pass = 0; pass < 2; ++pass) {  // misses, then hits
      absl::StatusOr<Scores> scores = (*model)->Score(request);
      ASSERT_TRUE(scores.ok()) << scores.status();
      EXPECT_EQ(scores->values, ScoreWith(dir + pkg, 1, 0, request).values) << pkg << " " << pass;
    }
  }
  const Scores reference = ScoreWith(dir + "/fp32.rkp", 1, 0, request);
  ASSERT_EQ(reference.values.size(), base.values.size());
  for (size_t h = 0; h < base.values.size(); ++h) {
    for (size_t i = 0; i < base.values[h].size(); ++i) {
      EXPECT_NEAR(base.values[h][i], reference.values[h][i], 2e-2) << "head " << h << " " << i;
    }
  }
}

TEST(OptimizeModelTest, PrecisionAutoJudgesLabelledCandidatesAndStaysWithinTheGate) {
  const std::string dir = FreshTempDir("optimize_test_precision_auto");
  absl::StatusOr<std::vector<RequestLine>> requests = ReadRequestJsonLines(kDinRequests);
  ASSERT_TRUE(requests.ok()) << requests.status();
  Request request = requests->front().request;
  for (size_t i = 0; i < request.candidates.size(); ++i) request.labels.push_back(i % 3 == 0);
  absl::StatusOr<std::string> json = RequestToJson(request);
  ASSERT_TRUE(json.ok()) << json.status();
  const std::string sample = dir + "/labelled.jsonl";
  {
    std::ofstream out(sample);
    out << *json << "\n";
  }
  OptimizeModelOptions options = DinOptions(dir + "/din.rkp");
  options.sample_path = sample;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  const serving::DensePrecisionReport& dense = result->report.precision();
  EXPECT_EQ(dense.mode(), "auto");
  EXPECT_GT(dense.layers_size(), 0);
  EXPECT_THAT(dense.labels(), HasSubstr("AUC"));
  EXPECT_THAT(result->report.int8().labels(), HasSubstr("AUC"));
  ASSERT_TRUE(dense.has_gate_max_abs_diff());
  EXPECT_THAT(dense.gate_result(), testing::StartsWith("passed"));
  EXPECT_LE(dense.gate_max_abs_diff(), 1e-3);
  EXPECT_TRUE(dense.has_auc_delta());
  EXPECT_LE(std::abs(dense.auc_delta()), 1e-4);
  for (const serving::DenseLayer& layer : dense.layers()) {
    EXPECT_FALSE(layer.kernel().empty()) << layer.node();
    EXPECT_FALSE(layer.reason().empty()) << layer.node();
  }
}

TEST(OptimizeModelTest, UnknownOutputNamesTheModel) {
  OptimizeModelOptions options = DinOptions(FreshTempDir("optimize_test_error") + "/din.rkp");
  options.outputs = {"no_such_tensor"};
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr(absl::StrCat(kDin, ": --outputs 'no_such_tensor'")));
}

TEST(OptimizeModelTest, RefusesToOverwriteTheModelAndEmptyNames) {
  absl::StatusOr<OptimizeResult> result = OptimizeModel(DinOptions(kDin));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr(absl::StrCat(kDin, ": refusing to overwrite the input model")));

  const std::string dir = FreshTempDir("optimize_test_names");
  OptimizeModelOptions options = DinOptions(dir + "/din.rkp");
  options.name = "";
  result = OptimizeModel(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("name"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/din.rkp"));
}

TEST(OptimizeModelTest, DefaultModelNameIsTheFileStem) {
  EXPECT_EQ(DefaultModelName("models/din.onnx"), "din");
  EXPECT_EQ(DefaultModelName("/models/1593253204/"), "1593253204");
  EXPECT_EQ(DefaultModelName("esmm"), "esmm");
  EXPECT_EQ(DefaultModelName(""), "model");
}

// Without a feature config a TF graph's own transforms are lifted (rankopt lift) into the
// package's config: the package hashes and normalizes natively, as the graph did.
constexpr char kHashedGraph[] = R"(
node { name: "item" op: "Placeholder"
  attr { key: "dtype" value { type: DT_STRING } }
  attr { key: "shape" value { shape { dim { size: -1 } } } } }
node { name: "ids" op: "StringToHashBucketFast" input: "item"
  attr { key: "num_buckets" value { i: 5 } } }
node { name: "emb" op: "Const"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value { tensor { dtype: DT_FLOAT
    tensor_shape { dim { size: 5 } dim { size: 1 } }
    float_val: 0.1 float_val: 0.2 float_val: 0.3 float_val: 0.4 float_val: 0.5 } } } }
node { name: "axis" op: "Const"
  attr { key: "dtype" value { type: DT_INT32 } }
  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
node { name: "gathered" op: "GatherV2" input: "emb" input: "ids" input: "axis"
  attr { key: "Tparams" value { type: DT_FLOAT } }
  attr { key: "Tindices" value { type: DT_INT64 } }
  attr { key: "Taxis" value { type: DT_INT32 } } }
node { name: "price" op: "Placeholder"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "shape" value { shape { dim { size: -1 } } } } }
node { name: "mean" op: "Const"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 10 } } } }
node { name: "sd" op: "Const"
  attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 4 } } } }
node { name: "centered" op: "Sub" input: "price" input: "mean"
  attr { key: "T" value { type: DT_FLOAT } } }
node { name: "z" op: "RealDiv" input: "centered" input: "sd"
  attr { key: "T" value { type: DT_FLOAT } } }
node { name: "shape" op: "Const"
  attr { key: "dtype" value { type: DT_INT32 } }
  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } }
    int_val: -1 int_val: 1 } } } }
node { name: "z2" op: "Reshape" input: "z" input: "shape"
  attr { key: "T" value { type: DT_FLOAT } }
  attr { key: "Tshape" value { type: DT_INT32 } } }
node { name: "logit" op: "AddV2" input: "gathered" input: "z2"
  attr { key: "T" value { type: DT_FLOAT } } }
node { name: "out" op: "Sigmoid" input: "logit"
  attr { key: "T" value { type: DT_FLOAT } } }
)";

TEST(OptimizeModelTest, WithoutFeaturesLiftsTheGraphsTransformsIntoThePackage) {
  const std::string dir = FreshTempDir("optimize_test_lift");
  const std::string model_path = dir + "/hashed.pbtxt";
  { std::ofstream(model_path) << kHashedGraph; }
  OptimizeModelOptions options;
  options.model_path = model_path;
  options.out_path = dir + "/hashed.rkp";
  options.outputs = {"out"};
  options.name = "hashed";
  options.version = "1";
  options.time_s = 0;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->report.feature_config(), HasSubstr("lifted from the model: 2 feature(s)"));
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
  ASSERT_TRUE(model.ok()) << model.status();
  Request request;
  const char* items[] = {"a", "b", "shoes", ""};
  const double prices[] = {12, 2, 10, -30};
  for (int i = 0; i < 4; ++i) {
    request.candidates.push_back(
        FeatureRow({{"item", std::string(items[i])}, {"price", prices[i]}}));
  }
  absl::StatusOr<Scores> scores = (*model)->Score(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->values.size(), 1u);
  const float emb[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  for (int i = 0; i < 4; ++i) {
    // The graph's own arithmetic, by hand: emb[Fingerprint64(item) % 5] + (price - 10) / 4.
    const float logit =
        emb[StringToHashBucketFast(items[i], 5)] + (static_cast<float>(prices[i]) - 10.0f) / 4.0f;
    EXPECT_NEAR(scores->values[0][i], 1.0f / (1.0f + std::exp(-logit)), 1e-6) << items[i];
  }
  // A graph whose inputs cannot all be lifted needs --features, and says why.
  const std::string kept_path = dir + "/kept.pbtxt";
  {
    std::string text = kHashedGraph;
    text.replace(text.find("op: \"StringToHashBucketFast\""),
                 std::string("op: \"StringToHashBucketFast\"").size(),
                 "op: \"StringToHashBucketStrong\"");
    std::ofstream(kept_path) << text;
  }
  options.model_path = kept_path;
  options.out_path = dir + "/kept.rkp";
  result = OptimizeModel(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("StringToHashBucketStrong"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("--features"));
}

}  // namespace
}  // namespace rankopt
