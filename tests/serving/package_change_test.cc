// A served package file changed under 4 scoring threads, the way careless deploys change it: `cp`
// over it (truncate, then write the other version's bytes), ~900 bytes flipped in place, truncated
// to half. Copied packages (the default) and mapped ones, a Model alone and a ModelManager (a
// version folder and a single file). Every answer must equal the old or the new version's scores
// (computed beforehand without the serving layer), or be an error; never other scores. A copied
// package keeps answering with the old scores; a mapped one answers DATA_LOSS once its file
// changed; the manager swaps in the new bytes when they verify.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "rankopt/model_manager.h"
#include "serving/package/model_package.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

// Answers each case waits for after the fault: fewer under sanitizers, which score ~10x slower.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int64_t kAnswers = 20;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr int64_t kAnswers = 20;
#else
constexpr int64_t kAnswers = 100;
#endif
#else
constexpr int64_t kAnswers = 100;
#endif

enum class Fault { kCopyOver, kFlip, kTruncate };

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kCopyOver:
      return "cp-over";
    case Fault::kFlip:
      return "flip";
    case Fault::kTruncate:
      return "truncate";
  }
  return "?";
}

// What the scoring threads saw; `*_after` counts calls that started after the fault was done.
struct Tally {
  std::atomic<int64_t> old_scores{0}, new_scores{0}, wrong{0}, errors{0}, other_errors{0};
  std::atomic<int64_t> old_after{0}, new_after{0}, errors_after{0};
};

class PackageChangeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Same model and heads, different scores: fp32 tables ("old") and int8 ("new"); the short
    // requests, for many calls per fault.
    absl::StatusOr<DinVersions> v = BuildDinVersions("old", "new", 5);
    ASSERT_TRUE(v.ok()) << v.status();
    bytes_ = std::move(v->bytes);
    packages_ = std::move(v->packages);
    requests_ = std::move(v->requests);
    want_ = std::move(v->want);
  }

  // cp: open with O_TRUNC, then write in 64 KiB pieces.
  static void CopyOver(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    for (size_t at = 0; at < bytes.size(); at += 65536) {
      const size_t n = std::min<size_t>(65536, bytes.size() - at);
      ASSERT_EQ(::write(fd, bytes.data() + at, n), static_cast<ssize_t>(n));
    }
    ::close(fd);
  }

  // 900 bytes spread over the blobs (tables and weights: everything past the first 1/8).
  static void Flip(const std::string& path, size_t size) {
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    for (size_t k = 0; k < 900; ++k) {
      const off_t at = static_cast<off_t>(size / 8 + k * (size - size / 8 - 1) / 900);
      unsigned char c = 0;
      ASSERT_EQ(::pread(fd, &c, 1, at), 1);
      c ^= 0x5a;
      ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
    }
    ::close(fd);
  }

  static void Apply(Fault fault, const std::string& path) {
    switch (fault) {
      case Fault::kCopyOver:
        CopyOver(path, bytes_[1]);
        break;
      case Fault::kFlip:
        Flip(path, bytes_[0].size());
        break;
      case Fault::kTruncate:
        ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(bytes_[0].size() / 2)), 0);
        break;
    }
  }

  // 4 threads score through `current` while `fault` runs once; then they go on until `done`
  // (polled every 10 ms, at most 10 s) says the test has seen what it waits for.
  static void ScoreWhile(const std::string& label,
                         const std::function<std::shared_ptr<const Model>()>& current,
                         const std::function<void()>& fault, const std::function<bool()>& done,
                         Tally* tally) {
    std::atomic<bool> stop{false};
    std::atomic<bool> faulted{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        Scores scores;
        for (size_t i = static_cast<size_t>(t); !stop.load(); ++i) {
          const size_t r = i % requests_.size();
          const bool after = faulted.load();
          std::shared_ptr<const Model> model = current();
          const absl::Status status = model->ScoreInto(requests_[r], {}, &scores);
          if (!status.ok()) {
            tally->errors.fetch_add(1);
            if (after) tally->errors_after.fetch_add(1);
            if (status.code() != absl::StatusCode::kDataLoss) tally->other_errors.fetch_add(1);
          } else if (scores.values == want_[0][r]) {
            tally->old_scores.fetch_add(1);
            if (after) tally->old_after.fetch_add(1);
          } else if (scores.values == want_[1][r]) {
            tally->new_scores.fetch_add(1);
            if (after) tally->new_after.fetch_add(1);
          } else {
            tally->wrong.fetch_add(1);
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fault();
    faulted = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 1000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
    for (std::thread& t : threads) t.join();
    std::cout << "  " << label << ": old " << tally->old_scores << " new " << tally->new_scores
              << " errors " << tally->errors << " wrong " << tally->wrong
              << " (after the fault: old " << tally->old_after << " new " << tally->new_after
              << " errors " << tally->errors_after << ")\n";
  }

  static std::vector<std::string> bytes_;
  static std::vector<ModelPackage> packages_;
  static std::vector<Request> requests_;
  static std::vector<std::vector<std::vector<std::vector<float>>>> want_;  // [version][request]
};
std::vector<std::string> PackageChangeTest::bytes_;
std::vector<ModelPackage> PackageChangeTest::packages_;
std::vector<Request> PackageChangeTest::requests_;
std::vector<std::vector<std::vector<std::vector<float>>>> PackageChangeTest::want_;

// The flipped bytes matter: a model loaded from them without checksums scores differently. (So
// a guard that let them through would show up as wrong answers below.)
TEST_F(PackageChangeTest, FlippedBytesChangeTheScores) {
  const std::string path = absl::StrCat(FreshTempDir("package_change_flip"), "/din.rkp");
  ASSERT_TRUE(WriteStringToFile(path, bytes_[0]).ok());
  Flip(path, bytes_[0].size());
  absl::StatusOr<std::shared_ptr<const Model>> checked = Model::Load(path);
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kDataLoss);
  ModelOptions unchecked;
  unchecked.verify_checksums = false;
  unchecked.warm_up = false;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path, unchecked);
  if (!model.ok()) GTEST_SKIP() << "the flips broke more than tables: " << model.status();
  int differ = 0;
  for (size_t r = 0; r < requests_.size(); ++r) {
    absl::StatusOr<Scores> scores = (*model)->Score(requests_[r]);
    if (!scores.ok() || scores->values != want_[0][r]) ++differ;
  }
  EXPECT_GT(differ, 0);
}

// One Model, its file changed under it.
TEST_F(PackageChangeTest, ModelUnderFourThreads) {
  for (bool mapped : {false, true}) {
    for (Fault fault : {Fault::kCopyOver, Fault::kFlip, Fault::kTruncate}) {
      const std::string label =
          absl::StrCat("Model, ", mapped ? "mapped, " : "copied, ", FaultName(fault));
      SCOPED_TRACE(label);
      const std::string path = absl::StrCat(
          FreshTempDir(absl::StrCat("package_change_model_", mapped, "_", FaultName(fault))),
          "/din.rkp");
      ASSERT_TRUE(WriteStringToFile(path, bytes_[0]).ok());
      ModelOptions options;
      if (mapped) options.copy_package_below_bytes = 0;
      absl::StatusOr<std::shared_ptr<const Model>> loaded = Model::Load(path, options);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      const std::shared_ptr<const Model> model = *loaded;
      ASSERT_EQ(model->package_mapped(), mapped);
      Tally tally;
      ScoreWhile(
          label, [&] { return model; }, [&] { Apply(fault, path); },
          [&] { return tally.old_after + tally.new_after + tally.errors_after > 2 * kAnswers; },
          &tally);
      EXPECT_EQ(tally.wrong.load(), 0);
      EXPECT_EQ(tally.other_errors.load(), 0);
      EXPECT_GT(tally.old_scores.load(), 0);
      if (!mapped) {
        // The verified copy is what is served, whatever happens to the file.
        EXPECT_EQ(tally.errors.load(), 0);
        EXPECT_GT(tally.old_after.load(), 0);
        EXPECT_TRUE(model->CheckPackage(uint64_t{1} << 30).ok());
      } else {
        // Every call after the change is refused, with the change named.
        EXPECT_EQ(tally.old_after.load() + tally.new_after.load(), 0);
        EXPECT_GT(tally.errors_after.load(), 0);
        const absl::Status check = model->CheckPackage(0);
        EXPECT_EQ(check.code(), absl::StatusCode::kDataLoss);
        EXPECT_THAT(check.message(), HasSubstr("overwritten in place"));
      }
    }
  }
}

// A ModelManager over a version folder (and over a single package file): the serving version's
// file is changed; the poll notices and loads it again. Copied over with a package that verifies,
// the new bytes are swapped in (still labelled with the version folder); flipped or truncated, the
// new bytes are rejected and a copied package keeps serving its old scores.
TEST_F(PackageChangeTest, ManagerUnderFourThreads) {
  for (bool single_file : {false, true}) {
    for (bool mapped : {false, true}) {
      for (Fault fault : {Fault::kCopyOver, Fault::kFlip, Fault::kTruncate}) {
        const std::string label =
            absl::StrCat("ModelManager, ", single_file ? "file, " : "folder, ",
                         mapped ? "mapped, " : "copied, ", FaultName(fault));
        SCOPED_TRACE(label);
        const std::string root = FreshTempDir(
            absl::StrCat("package_change_manager_", single_file, mapped, "_", FaultName(fault)));
        std::string path = absl::StrCat(root, "/din.rkp");
        if (!single_file) {
          std::filesystem::create_directories(root + "/1");
          path = root + "/1/model.rkp";
        }
        ASSERT_TRUE(WriteStringToFile(path, bytes_[0]).ok());
        // Older than any write below by far more than a clock tick.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::vector<std::string> log;
        std::mutex log_mu;
        ModelManagerOptions options;
        options.poll_interval_s = 0.05;
        options.log = [&](const std::string& line) {
          std::lock_guard<std::mutex> lock(log_mu);
          log.push_back(line);
        };
        if (mapped) options.model.copy_package_below_bytes = 0;
        absl::StatusOr<std::unique_ptr<ModelManager>> manager =
            ModelManager::Create(single_file ? path : root, options);
        ASSERT_TRUE(manager.ok()) << manager.status();
        EXPECT_EQ((*manager)->Current()->version(), single_file ? "old" : "1");
        Tally tally;
        ScoreWhile(
            label, [&] { return (*manager)->Current(); }, [&] { Apply(fault, path); },
            [&] {
              const ModelManagerCounters c = (*manager)->counters();
              return fault == Fault::kCopyOver
                         ? tally.new_after > kAnswers
                         : c.rejected > 0 && tally.errors_after + tally.old_after > kAnswers;
            },
            &tally);
        EXPECT_EQ(tally.wrong.load(), 0);
        EXPECT_EQ(tally.other_errors.load(), 0);
        const ModelManagerCounters counters = (*manager)->counters();
        EXPECT_GE(counters.package_changes, 1);
        if (fault == Fault::kCopyOver) {
          EXPECT_GT(tally.new_after.load(), kAnswers);
          EXPECT_EQ(counters.loads, 2);
          EXPECT_EQ((*manager)->Current()->package_version(), "new");
          EXPECT_EQ((*manager)->Current()->version(), single_file ? "new" : "1");
          if (!mapped) {
            EXPECT_EQ(tally.errors.load(), 0);
          }
        } else {
          EXPECT_EQ(counters.loads, 1);
          EXPECT_GE(counters.rejected, 1);
          EXPECT_EQ(tally.new_scores.load(), 0);
          if (!mapped) {
            EXPECT_EQ(tally.errors.load(), 0);
            EXPECT_GT(tally.old_after.load(), kAnswers);
          } else {
            EXPECT_GT(tally.errors_after.load(), 0);
          }
        }
        std::lock_guard<std::mutex> lock(log_mu);
        EXPECT_FALSE(log.empty());
        if (!log.empty()) {
          EXPECT_THAT(log[0], HasSubstr("changed under it"));
        }
      }
    }
  }
}

// The scrub finds a blob whose bytes no longer match its checksum, by name.
TEST_F(PackageChangeTest, ScrubNamesTheBlobThatNoLongerVerifies) {
  const std::string path = absl::StrCat(FreshTempDir("package_change_scrub"), "/din.rkp");
  ASSERT_TRUE(WriteStringToFile(path, bytes_[0]).ok());
  ReadPackageOptions mapped;
  mapped.copy_below_bytes = 0;
  absl::StatusOr<ModelPackage> package = ReadModelPackage(path, mapped);
  ASSERT_TRUE(package.ok()) << package.status();
  ASSERT_NE(package->mapped_file, nullptr);
  MappedPackageFile& file = *package->mapped_file;
  ASSERT_TRUE(file.Scrub(uint64_t{1} << 30).ok());
  EXPECT_EQ(file.scrubbed_bytes() > 0, true);
  EXPECT_GE(file.scrub_passes(), 1u);
  // A slice at a time: 1000 bytes per call still gets round.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(file.Scrub(1000).ok());
  const uint64_t last_byte = bytes_[0].size() - 1;  // inside the last blob
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const char c = static_cast<char>(bytes_[0][last_byte] ^ 1);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(last_byte)), 1);
  ::close(fd);
  const absl::Status scrub = file.Scrub(uint64_t{1} << 30);
  EXPECT_EQ(scrub.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(scrub.message(), HasSubstr("xxh64 mismatch on scrub"));
  EXPECT_TRUE(file.Changed());
}

// A package copied at load is refused while it is not a regular file; a FIFO does not hang.
TEST_F(PackageChangeTest, FifoAndDevicesAreRefusedAtOnce) {
  const std::string fifo = absl::StrCat(FreshTempDir("package_change_fifo"), "/din.rkp");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero")}) {
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().message(), HasSubstr("not a regular file"));
  }
}

}  // namespace
}  // namespace rankopt
