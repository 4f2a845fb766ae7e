// `rankopt features`: the table, --json lines, and errors with line numbers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class FeaturesCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshTestDir("rankopt_features_cli"); }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult Run(const std::string& args) { return RunRankopt(dir_, "features " + args); }

  fs::path dir_;
  const std::string configs_ = std::string(RANKOPT_TESTDATA_DIR) + "/../../configs/";
  const std::string data_ = std::string(RANKOPT_TESTDATA_DIR) + "/features/";
};

TEST_F(FeaturesCliTest, PrintsTable) {
  RunResult r =
      Run(absl::StrCat("--config ", configs_, "din.yaml --requests ", data_, "requests_din.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("request at line 1: 16 candidates"), HasSubstr("hist_len"),
                           HasSubstr("candidate 15:"), HasSubstr("item_id=795"),
                           HasSubstr("defaults applied: none"), HasSubstr("broadcast")));
}

TEST_F(FeaturesCliTest, JsonIsOneObjectPerLineAndErrorsKeepGoing) {
  const fs::path requests = dir_ / "requests.jsonl";
  {
    std::ofstream out(requests);
    out << R"({"user": {"user_id": 1}, "candidates": [{"item_id": 2}]})"
        << "\n\n"
        << R"({"user": {"user_id": 1}, "candidates": [{"item_id": "x"}]})"
        << "\n"
        << R"({"candidates": []})"
        << "\n";
  }
  RunResult r = Run(
      absl::StrCat("--config ", configs_, "esmm.yaml --requests ", requests.string(), " --json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("requests.jsonl:3: feature 'item_id' in candidates[0]"),
                           HasSubstr("integer id")));
  std::vector<std::string> lines;
  std::stringstream stream(r.out);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], AllOf(HasSubstr(R"("line":1)"), HasSubstr(R"("num_candidates":1)"),
                              HasSubstr(R"("feature":"shop_id","defaults_applied":"1")")));
  EXPECT_THAT(lines[1], AllOf(HasSubstr(R"("line":3)"), HasSubstr(R"("error":)")));
  EXPECT_THAT(lines[2],
              AllOf(HasSubstr(R"("line":4)"), HasSubstr(R"("dims":[0])"), Not(HasSubstr("error"))));
}

TEST_F(FeaturesCliTest, UsageAndMissingFiles) {
  EXPECT_EQ(Run("--config x.yaml").exit_code, 2);
  RunResult r = Run(absl::StrCat("--config ", configs_, "din.yaml --requests /nonexistent.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.jsonl"));
  r = Run(absl::StrCat("--config /nonexistent.yaml --requests ", data_, "requests_din.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.yaml"));
}

}  // namespace
}  // namespace rankopt
