// The C ABI (rankopt/c.h): load, score JSON, heads, errors with codes and messages,
// the manager and its metrics; and the header compiles and links as C.
#include "rankopt/c.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"
#include "tests/serving/din_package.h"

extern "C" int rankopt_c_header_check(const char* path, float* scores, size_t capacity,
                                      size_t* count);

namespace rankopt {
namespace {

using ::testing::HasSubstr;

class RankoptCTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "3");
    ASSERT_TRUE(package.ok()) << package.status();
    root_ = FreshTempDir("rankopt_c_test");
    std::filesystem::create_directories(root_ + "/3");
    path_ = root_ + "/3/model.rkp";
    ASSERT_TRUE(WriteModelPackage(*package, path_).ok());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok());
    request_ = (*requests)[0];
    absl::StatusOr<std::string> json = RequestToJson(request_);
    ASSERT_TRUE(json.ok());
    json_ = *json;
    absl::StatusOr<std::vector<std::vector<float>>> want = ReferenceScores(*package, request_);
    ASSERT_TRUE(want.ok());
    want_ = (*want)[0];
    heads_ = package->outputs;
  }

  std::string root_, path_, json_;
  Request request_;
  std::vector<float> want_;
  std::vector<std::string> heads_;
};

TEST_F(RankoptCTest, ScoresJsonRequests) {
  rankopt_model* model = nullptr;
  ASSERT_EQ(rankopt_model_load(path_.c_str(), 2, &model), RANKOPT_OK) << rankopt_last_error();
  EXPECT_STREQ(rankopt_model_name(model), "din");
  EXPECT_STREQ(rankopt_model_version(model), "3");
  ASSERT_EQ(rankopt_model_num_heads(model), heads_.size());
  EXPECT_EQ(rankopt_model_head(model, 0), heads_[0]);
  EXPECT_EQ(rankopt_model_head(model, heads_.size()), nullptr);

  std::vector<float> scores(want_.size());
  size_t count = 0;
  ASSERT_EQ(rankopt_model_score_json(model, json_.data(), json_.size(), nullptr, scores.data(),
                                     scores.size(), &count),
            RANKOPT_OK)
      << rankopt_last_error();
  ASSERT_EQ(count, want_.size());
  EXPECT_EQ(scores, want_);
  EXPECT_EQ(rankopt_model_score_json(model, json_.data(), json_.size(), heads_[0].c_str(),
                                     scores.data(), scores.size(), &count),
            RANKOPT_OK);

  // Too small a buffer: OUT_OF_RANGE and the size needed.
  EXPECT_EQ(rankopt_model_score_json(model, json_.data(), json_.size(), nullptr, scores.data(), 1,
                                     &count),
            RANKOPT_OUT_OF_RANGE);
  EXPECT_EQ(count, want_.size());
  // Bad JSON, unknown head, NULL arguments: codes and messages.
  EXPECT_EQ(rankopt_model_score_json(model, "{", 1, nullptr, scores.data(), scores.size(), &count),
            RANKOPT_INVALID_ARGUMENT);
  EXPECT_STRNE(rankopt_last_error(), "");
  EXPECT_EQ(rankopt_model_score_json(model, json_.data(), json_.size(), "nope", scores.data(),
                                     scores.size(), &count),
            RANKOPT_INVALID_ARGUMENT);
  EXPECT_THAT(rankopt_last_error(), HasSubstr("unknown output head 'nope'"));
  EXPECT_EQ(rankopt_model_score_json(nullptr, json_.data(), json_.size(), nullptr, scores.data(),
                                     scores.size(), &count),
            RANKOPT_INVALID_ARGUMENT);
  EXPECT_STREQ(rankopt_status_name(RANKOPT_OUT_OF_RANGE), "OUT_OF_RANGE");
  rankopt_model_destroy(model);
}

TEST_F(RankoptCTest, LoadErrorsCarryCodeAndMessage) {
  rankopt_model* model = reinterpret_cast<rankopt_model*>(1);
  const std::string missing = root_ + "/missing.rkp";
  EXPECT_NE(rankopt_model_load(missing.c_str(), 1, &model), RANKOPT_OK);
  EXPECT_EQ(model, nullptr);
  EXPECT_THAT(rankopt_last_error(), HasSubstr("missing.rkp"));
  EXPECT_EQ(rankopt_model_load(nullptr, 1, &model), RANKOPT_INVALID_ARGUMENT);
}

TEST_F(RankoptCTest, ManagerScoresAndExportsMetrics) {
  rankopt_manager* manager = nullptr;
  ASSERT_EQ(rankopt_manager_create(root_.c_str(), 1, 0, &manager), RANKOPT_OK)
      << rankopt_last_error();
  std::vector<float> scores(want_.size());
  size_t count = 0;
  ASSERT_EQ(rankopt_manager_score_json(manager, json_.data(), json_.size(), nullptr,
                                       scores.data(), scores.size(), &count),
            RANKOPT_OK);
  EXPECT_EQ(scores, want_);
  // Errors before and after the JSON parses are both counted, by reason.
  EXPECT_EQ(
      rankopt_manager_score_json(manager, "{", 1, nullptr, scores.data(), scores.size(), &count),
      RANKOPT_INVALID_ARGUMENT);
  EXPECT_EQ(rankopt_manager_score_json(manager, json_.data(), json_.size(), "nope", scores.data(),
                                       scores.size(), &count),
            RANKOPT_INVALID_ARGUMENT);
  EXPECT_EQ(rankopt_manager_reload(manager), RANKOPT_OK);
  size_t size = 0;
  EXPECT_EQ(rankopt_manager_metrics(manager, nullptr, 0, &size), RANKOPT_OUT_OF_RANGE);
  std::vector<char> text(size);
  ASSERT_EQ(rankopt_manager_metrics(manager, text.data(), text.size(), &size), RANKOPT_OK);
  EXPECT_THAT(std::string(text.data()),
              HasSubstr("rankopt_requests_total{model=\"din\",version=\"3\"} 1\n"));
  EXPECT_THAT(
      std::string(text.data()),
      HasSubstr("rankopt_errors_total{model=\"din\",version=\"3\",code=\"invalid_argument\","
                "reason=\"bad_json\"} 1\n"));
  EXPECT_THAT(
      std::string(text.data()),
      HasSubstr("rankopt_errors_total{model=\"din\",version=\"3\",code=\"invalid_argument\","
                "reason=\"score\"} 1\n"));
  rankopt_manager_destroy(manager);
}

TEST_F(RankoptCTest, HeaderWorksFromC) {
  float scores[4];
  size_t count = 7;
  EXPECT_EQ(rankopt_c_header_check(path_.c_str(), scores, 4, &count), RANKOPT_OK)
      << rankopt_last_error();
  EXPECT_EQ(count, 0u);
}

}  // namespace
}  // namespace rankopt
