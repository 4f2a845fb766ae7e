// OptimizeModel (serving/optimize.h) called as a library on the DIN peer model: the report's
// steps, the package it writes loading in Model and scoring like the executor, the report's text
// and JSON forms, and an error naming the model.
#include "serving/optimize.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace rankopt
