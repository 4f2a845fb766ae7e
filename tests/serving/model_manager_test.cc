// ModelManager: the newest version of <root>/<version>/model.rkp is served; newer versions are
// swapped in, corrupt or half-written ones rejected while the old version keeps serving; and hot
// reload under load: 8 threads score while versions are swapped 50 times and a corrupt version is
// offered, with no failed request, every score from a valid version, and every old version freed.
#include "rankopt/model_manager.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

// Two packages of the same model whose scores differ: fp32 tables ("fp32") and int8 ("int8").
class ModelManagerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<DinVersions> v = BuildDinVersions("fp32", "int8");
    ASSERT_TRUE(v.ok()) << v.status();
    fp32_bytes_ = new std::string(v->bytes[0]);
    int8_bytes_ = new std::string(v->bytes[1]);
    for (ModelPackage& p : v->packages) packages_.push_back(new ModelPackage(std::move(p)));
    requests_ = new std::vector<Request>(std::move(v->requests));
    want_ = std::move(v->want);
  }

  static void TearDownTestSuite() {
    delete fp32_bytes_;
    delete int8_bytes_;
    for (ModelPackage* p : packages_) delete p;
    packages_.clear();
    delete requests_;
    want_.clear();
  }

  // Writes version `version` of `bytes` under root, the way a deploy should: a temp file, then
  // rename into place.
  static void Deploy(const std::string& root, int version, const std::string& bytes) {
    const std::string dir = absl::StrCat(root, "/", version);
    std::filesystem::create_directories(dir);
    const std::string tmp = absl::StrCat(dir, "/.model.rkp.tmp");
    std::ofstream(tmp, std::ios::binary) << bytes;
    std::filesystem::rename(tmp, absl::StrCat(dir, "/model.rkp"));
  }

  // Index of the package (0 fp32, 1 int8) a model's version string names.
  static int Which(const Model& model) { return model.package_version() == "fp32" ? 0 : 1; }

  static std::string* fp32_bytes_;
  static std::string* int8_bytes_;
  static std::vector<ModelPackage*> packages_;
  static std::vector<Request>* requests_;
  static std::vector<std::vector<std::vector<std::vector<float>>>> want_;
};
std::string* ModelManagerTest::fp32_bytes_ = nullptr;
std::string* ModelManagerTest::int8_bytes_ = nullptr;
std::vector<ModelPackage*> ModelManagerTest::packages_;
std::vector<Request>* ModelManagerTest::requests_ = nullptr;
std::vector<std::vector<std::vector<std::vector<float>>>> ModelManagerTest::want_;

TEST_F(ModelManagerTest, ServesTheNewestVersionAndRejectsCorruptOnes) {
  const std::string root = FreshTempDir("model_manager_basic");
  Deploy(root, 1, *fp32_bytes_);
  Deploy(root, 2, *int8_bytes_);
  std::filesystem::create_directories(root + "/not_a_version");
  std::vector<std::string> log;
  ModelManagerOptions options;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  EXPECT_EQ((*manager)->Current()->package_version(), "int8");
  EXPECT_EQ((*manager)->counters().current_version, "2");

  // Nothing newer: a no-op.
  EXPECT_TRUE((*manager)->Reload().ok());
  EXPECT_EQ((*manager)->counters().loads, 1);

  // A truncated version 3 (a copy caught half-way): rejected, version 2 keeps serving.
  Deploy(root, 3, fp32_bytes_->substr(0, fp32_bytes_->size() / 2));
  absl::Status status = (*manager)->Reload();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("version 3 rejected, still serving version 2"));
  EXPECT_EQ((*manager)->Current()->package_version(), "int8");
  EXPECT_EQ((*manager)->counters().rejected, 1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(log[0], HasSubstr("model.rkp"));
  // Unchanged, it is not tried again.
  EXPECT_TRUE((*manager)->Reload().ok());
  EXPECT_EQ((*manager)->counters().rejected, 1);

  // The copy completes: version 3 loads.
  Deploy(root, 3, *fp32_bytes_);
  EXPECT_TRUE((*manager)->Reload().ok());
  EXPECT_EQ((*manager)->Current()->package_version(), "fp32");
  EXPECT_EQ((*manager)->counters().current_version, "3");

  // A flipped byte in a table: the checksum rejects it.
  std::string corrupt = *int8_bytes_;
  corrupt[corrupt.size() - 100] ^= 0x5a;
  Deploy(root, 4, corrupt);
  status = (*manager)->Reload();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ((*manager)->Current()->package_version(), "fp32");

  const std::string metrics = (*manager)->PrometheusText();
  EXPECT_THAT(metrics, HasSubstr("rankopt_model_loads_total{model=\"din\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("rankopt_model_rejected_total{model=\"din\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("rankopt_model_version{model=\"din\"} 3\n"));
}

TEST_F(ModelManagerTest, CreateFailsWithoutALoadableVersion) {
  const std::string root = FreshTempDir("model_manager_empty");
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root);
  ASSERT_FALSE(manager.ok());
  EXPECT_THAT(manager.status().message(), HasSubstr("<root>/<version>/model.rkp"));
  Deploy(root, 5, "not a package");
  manager = ModelManager::Create(root, {.log = [](const std::string&) {}});
  ASSERT_FALSE(manager.ok());
  EXPECT_THAT(manager.status().message(), HasSubstr("version 5 rejected"));
  EXPECT_FALSE(ModelManager::Create(root + "/missing").ok());
}

TEST_F(ModelManagerTest, PollThreadPicksUpNewVersions) {
  const std::string root = FreshTempDir("model_manager_poll");
  Deploy(root, 1, *fp32_bytes_);
  ModelManagerOptions options;
  options.poll_interval_s = 0.02;
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  Deploy(root, 2, *int8_bytes_);
  for (int i = 0; i < 500 && (*manager)->Current()->package_version() != "int8"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ((*manager)->Current()->package_version(), "int8");
}

TEST_F(ModelManagerTest, HotReloadUnderLoad) {
  const std::string root = FreshTempDir("model_manager_load");
  Deploy(root, 1, *fp32_bytes_);
  ModelManagerOptions options;
  options.log = [](const std::string&) {};
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root, options);
  ASSERT_TRUE(manager.ok()) << manager.status();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> scored{0}, failed{0}, wrong{0};
  std::mutex seen_mu;  // std::mutex: TSan sees it (Debian's Abseil is not instrumented)
  std::vector<std::weak_ptr<const Model>> seen;  // every version a call ran on
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Scores scores;
      const Model* last = nullptr;
      for (size_t i = static_cast<size_t>(t); !stop.load(); ++i) {
        const size_t r = i % requests_->size();
        std::shared_ptr<const Model> model = (*manager)->Current();
        if (model.get() != last) {
          last = model.get();
          std::lock_guard<std::mutex> lock(seen_mu);
          seen.push_back(model);
        }
        if (!model->ScoreInto((*requests_)[r], {}, &scores).ok()) {
          failed.fetch_add(1);
        } else if (scores.values != want_[Which(*model)][r]) {
          wrong.fetch_add(1);
        }
        scored.fetch_add(1);
      }
    });
  }
  int rejected = 0;
  for (int v = 2; v <= 51; ++v) {
    if (v == 25) {  // a corrupt version offered in the middle
      std::string corrupt = *int8_bytes_;
      corrupt[200] ^= 0x01;
      Deploy(root, 100 + v, corrupt);
      if (!(*manager)->Reload().ok()) ++rejected;
      std::filesystem::remove_all(absl::StrCat(root, "/", 100 + v));
    }
    Deploy(root, v < 25 ? v : 200 + v, v % 2 == 0 ? *int8_bytes_ : *fp32_bytes_);
    ASSERT_TRUE((*manager)->Reload().ok()) << "version " << v;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop = true;
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(scored.load(), 50);
  EXPECT_EQ(rejected, 1);
  const ModelManagerCounters counters = (*manager)->counters();
  EXPECT_EQ(counters.loads, 51);
  EXPECT_EQ(counters.rejected, 1);
  // No leak: once the calls returned, every version but the current one has been freed.
  const std::shared_ptr<const Model> current = (*manager)->Current();
  int alive = 0;
  for (const std::weak_ptr<const Model>& w : seen) {
    std::shared_ptr<const Model> m = w.lock();
    if (m != nullptr && m != current) ++alive;
  }
  EXPECT_EQ(alive, 0);
  EXPECT_GT(seen.size(), 1u);
}

// Answers and metadata name the version folder, not the --model-version written in the package.
TEST_F(ModelManagerTest, VersionIsTheFolder) {
  const std::string root = FreshTempDir("model_manager_label");
  Deploy(root, 22, *fp32_bytes_);
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root);
  ASSERT_TRUE(manager.ok()) << manager.status();
  EXPECT_EQ((*manager)->Current()->version(), "22");
  EXPECT_EQ((*manager)->Current()->package_version(), "fp32");
  absl::StatusOr<Scores> scores = (*manager)->Current()->Score((*requests_)[0]);
  ASSERT_TRUE(scores.ok());
  EXPECT_THAT((*manager)->PrometheusText(),
              HasSubstr("rankopt_requests_total{model=\"din\",version=\"22\"} 1"));
  // A Model loaded on its own reports the package's version.
  absl::StatusOr<std::shared_ptr<const Model>> model =
      Model::Load(absl::StrCat(root, "/22/model.rkp"));
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->version(), "fp32");
}

// An ESMM package dropped into the DIN directory, or a DIN with other heads: rejected, counted and
// logged, DIN keeps serving; allowed on purpose with allow_model_change.
TEST_F(ModelManagerTest, AnotherModelOrOtherHeadsAreRejected) {
  absl::StatusOr<ModelPackage> esmm = BuildEsmmPackage(TableQuantizationMode::kOff, "1");
  ASSERT_TRUE(esmm.ok()) << esmm.status();
  const std::string dir = FreshTempDir("model_manager_identity_packages");
  ASSERT_TRUE(WriteModelPackage(*esmm, dir + "/esmm.rkp").ok());
  esmm->model_name = "din";  // the right name, but ESMM's heads
  ASSERT_TRUE(WriteModelPackage(*esmm, dir + "/esmm_as_din.rkp").ok());
  absl::StatusOr<std::string> esmm_bytes = ReadFileToString(dir + "/esmm.rkp");
  absl::StatusOr<std::string> esmm_as_din = ReadFileToString(dir + "/esmm_as_din.rkp");
  ASSERT_TRUE(esmm_bytes.ok() && esmm_as_din.ok());

  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "allowed" : "default");
    const std::string root = FreshTempDir(absl::StrCat("model_manager_identity_", allow));
    Deploy(root, 21, *fp32_bytes_);
    std::vector<std::string> log;
    ModelManagerOptions options;
    options.allow_model_change = allow;
    options.log = [&log](const std::string& line) { log.push_back(line); };
    absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root, options);
    ASSERT_TRUE(manager.ok()) << manager.status();

    Deploy(root, 22, *esmm_bytes);
    absl::Status status = (*manager)->Reload();
    if (allow) {
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ((*manager)->Current()->name(), "esmm");
      EXPECT_EQ((*manager)->counters().identity_rejected, 0);
      continue;
    }
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(status.message(), HasSubstr("version 22 rejected, still serving version 21"));
    EXPECT_THAT(status.message(), HasSubstr("the package is model 'esmm' but 'din' is served"));
    EXPECT_EQ((*manager)->Current()->name(), "din");
    EXPECT_EQ((*manager)->Current()->version(), "21");

    Deploy(root, 23, *esmm_as_din);
    status = (*manager)->Reload();
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(status.message(), HasSubstr("output heads are ["));
    EXPECT_EQ((*manager)->Current()->version(), "21");
    const ModelManagerCounters counters = (*manager)->counters();
    EXPECT_EQ(counters.identity_rejected, 2);
    EXPECT_EQ(counters.rejected, 2);
    ASSERT_EQ(log.size(), 2u);
    EXPECT_THAT(log[0], HasSubstr("model 'esmm'"));
    EXPECT_THAT((*manager)->PrometheusText(),
                HasSubstr("rankopt_model_identity_rejected_total{model=\"din\"} 2\n"));
    // Scores still come from DIN.
    absl::StatusOr<Scores> scores = (*manager)->Current()->Score((*requests_)[0]);
    ASSERT_TRUE(scores.ok());
    EXPECT_EQ(scores->values, want_[0][0]);
  }
}

}  // namespace
}  // namespace rankopt
