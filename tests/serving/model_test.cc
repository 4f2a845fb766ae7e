// Model::Load and Score on the DIN package: scores bitwise equal to the executor's for the same
// graph, at 1 and 2 threads and from 8 threads at once; heads, limits, bad requests and stats.
#include "rankopt/model.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

class ModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kForce, "7");
    ASSERT_TRUE(package.ok()) << package.status();
    package_ = new ModelPackage(*std::move(package));
    path_ = new std::string(absl::StrCat(FreshTempDir("model_test"), "/din.rkp"));
    ASSERT_TRUE(WriteModelPackage(*package_, *path_).ok());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok()) << requests.status();
    requests_ = new std::vector<Request>(*std::move(requests));
  }
  static void TearDownTestSuite() {
    delete package_;
    delete path_;
    delete requests_;
  }

  static ModelPackage* package_;
  static std::string* path_;
  static std::vector<Request>* requests_;
};
ModelPackage* ModelTest::package_ = nullptr;
std::string* ModelTest::path_ = nullptr;
std::vector<Request>* ModelTest::requests_ = nullptr;

TEST_F(ModelTest, ScoresEqualTheExecutorBitwise) {
  for (int threads : {1, 2}) {
    ModelOptions options;
    options.threads = threads;
    options.chunk_rows = threads == 1 ? 0 : 7;
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, options);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->name(), "din");
    EXPECT_EQ((*model)->version(), "7");
    ASSERT_EQ((*model)->heads(), package_->outputs);
    for (size_t r = 0; r < requests_->size(); ++r) {
      absl::StatusOr<std::vector<std::vector<float>>> want =
          ReferenceScores(*package_, (*requests_)[r]);
      ASSERT_TRUE(want.ok()) << want.status();
      absl::StatusOr<Scores> got = (*model)->Score((*requests_)[r]);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->values.size(), want->size());
      for (size_t h = 0; h < want->size(); ++h) {
        ASSERT_EQ(got->values[h].size(), (*requests_)[r].candidates.size());
        // Bitwise: the same graph and kernels, chunked or not.
        EXPECT_EQ(got->values[h], (*want)[h]) << "request " << r << " threads " << threads;
      }
    }
  }
}

TEST_F(ModelTest, ConcurrentCallsGiveTheSameScores) {
  ModelOptions options;
  options.threads = 2;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<std::vector<std::vector<float>>> want;
  for (const Request& r : *requests_) {
    absl::StatusOr<std::vector<std::vector<float>>> w = ReferenceScores(*package_, r);
    ASSERT_TRUE(w.ok());
    want.push_back(*std::move(w));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Scores scores;
      for (int i = 0; i < 40; ++i) {
        const size_t r = static_cast<size_t>(t + i) % requests_->size();
        if (!(*model)->ScoreInto((*requests_)[r], {}, &scores).ok() ||
            scores.values != want[r]) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ((*model)->stats().requests(), 8 * 40);
  EXPECT_EQ((*model)->stats().errors(), 0);
}

TEST_F(ModelTest, HeadsAreSelectedByName) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string head = (*model)->heads()[0];
  absl::StatusOr<Scores> all = (*model)->Score((*requests_)[0]);
  ASSERT_TRUE(all.ok());
  absl::StatusOr<Scores> one = (*model)->Score((*requests_)[0], {.heads = {head}});
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->heads, std::vector<std::string>{head});
  EXPECT_EQ(one->values[0], all->values[0]);
  ASSERT_NE(one->Find(head), nullptr);
  EXPECT_EQ(one->Find("nope"), nullptr);

  absl::StatusOr<Scores> bad = (*model)->Score((*requests_)[0], {.heads = {"ctr_typo"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown output head 'ctr_typo'"));
  EXPECT_THAT(bad.status().message(), HasSubstr(head));
}

TEST_F(ModelTest, LimitsGiveClearErrors) {
  ModelOptions options;
  options.max_candidates = 16;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  const Request& big = requests_->back();  // 200 candidates
  absl::StatusOr<Scores> over = (*model)->Score(big);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("200 candidates; at most 16"));
  EXPECT_THAT(over.status().message(), HasSubstr("model 'din' version 7"));

  ModelOptions capped;
  capped.max_request_bytes = 256 << 10;
  capped.warm_up = false;
  model = Model::Load(*path_, capped);
  ASSERT_TRUE(model.ok()) << model.status();
  over = (*model)->Score(big);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*model)->stats().errors(absl::StatusCode::kResourceExhausted), 1);
  // A small request still fits, and the model keeps serving.
  absl::StatusOr<Scores> small = (*model)->Score((*requests_)[1]);
  EXPECT_TRUE(small.ok()) << small.status();

  ModelOptions bad_threads;
  bad_threads.threads = 0;
  EXPECT_EQ(Model::Load(*path_, bad_threads).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelTest, BadRequestsAreErrorsAndCounted) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_);
  ASSERT_TRUE(model.ok()) << model.status();
  Request bad = (*requests_)[1];
  bad.user.Set("user_id", std::string("not a number"));
  absl::StatusOr<Scores> scores = (*model)->Score(bad);
  ASSERT_FALSE(scores.ok());
  EXPECT_THAT(scores.status().message(), HasSubstr("user_id"));
  EXPECT_EQ((*model)->stats().errors(), 1);

  Request empty = (*requests_)[0];
  empty.candidates.clear();
  scores = (*model)->Score(empty);
  ASSERT_TRUE(scores.ok()) << scores.status();
  for (const std::vector<float>& v : scores->values) EXPECT_TRUE(v.empty());
}

TEST_F(ModelTest, StatsCountRequestsAndExportPrometheusText) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, {.warm_up = false});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->Score((*requests_)[0]).ok());
  ASSERT_TRUE((*model)->Score((*requests_)[1]).ok());
  const ModelStats& stats = (*model)->stats();
  EXPECT_EQ(stats.requests(), 2);
  EXPECT_EQ(stats.candidates(),
            static_cast<int64_t>((*requests_)[0].candidates.size() + 1));
  EXPECT_EQ(stats.LatencyCumulative().back(), 2);
  const std::string text = stats.PrometheusText("model=\"din\"");
  EXPECT_THAT(text, HasSubstr("# TYPE rankopt_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("rankopt_requests_total{model=\"din\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rankopt_request_latency_seconds_bucket{model=\"din\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rankopt_request_latency_seconds_count{model=\"din\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rankopt_feature_defaults_total{model=\"din\",feature=\"user_id\"}"));
  EXPECT_EQ(PrometheusLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST_F(ModelTest, LoadErrorsNameTheFile) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load("/nonexistent/din.rkp");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("/nonexistent/din.rkp"));
}

}  // namespace
}  // namespace rankopt

namespace rankopt {
namespace {

// Determinism: the same request gives bitwise the same scores on every run, at every thread
// count and chunk size (kernels are row-deterministic; chunks never mix rows).
TEST_F(ModelTest, ScoresAreBitwiseTheSameAtEveryThreadCount) {
  std::vector<std::vector<Scores>> runs;  // per configuration, per request
  for (int threads : {1, 2, 4, 8}) {
    for (int64_t chunk : {int64_t{0}, int64_t{1}, int64_t{13}}) {
      ModelOptions options;
      options.threads = threads;
      options.chunk_rows = chunk;
      absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, options);
      ASSERT_TRUE(model.ok()) << model.status();
      std::vector<Scores> per_request;
      for (int repeat = 0; repeat < 2; ++repeat) {
        for (const Request& r : *requests_) {
          absl::StatusOr<Scores> s = (*model)->Score(r);
          ASSERT_TRUE(s.ok()) << s.status();
          per_request.push_back(*std::move(s));
        }
      }
      runs.push_back(std::move(per_request));
    }
  }
  for (size_t c = 1; c < runs.size(); ++c) {
    ASSERT_EQ(runs[c].size(), runs[0].size());
    for (size_t r = 0; r < runs[c].size(); ++r) {
      EXPECT_EQ(runs[c][r].values, runs[0][r].values) << "configuration " << c << " request " << r;
    }
  }
}

// Limits at the boundary: max_candidates admits exactly that many.
TEST_F(ModelTest, MaxCandidatesIsInclusive) {
  ModelOptions options;
  options.max_candidates = 33;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(*path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  Request request = requests_->back();
  request.candidates.resize(33);
  EXPECT_TRUE((*model)->Score(request).ok());
  request.candidates.push_back(request.candidates[0]);
  absl::StatusOr<Scores> over = (*model)->Score(request);
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.status().message(), HasSubstr("34 candidates; at most 33"));
}

}  // namespace
}  // namespace rankopt
