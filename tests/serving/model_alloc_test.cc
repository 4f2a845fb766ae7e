// Model::ScoreInto after warm-up asks the heap for nothing (counted by tests/util/counting_new.h):
// the scoring context comes from the model's pool, the transformed request, the feeds and the
// outputs keep their buffers, and the caller's Scores keeps its vectors.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "tests/serving/din_package.h"
#include "tests/util/counting_new.h"

namespace rankopt {
namespace {

TEST(ModelAllocTest, WarmScoreIntoAllocatesNothing) {
  absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kForce, "1");
  ASSERT_TRUE(package.ok()) << package.status();
  const std::string path = absl::StrCat(FreshTempDir("model_alloc_test"), "/din.rkp");
  ASSERT_TRUE(WriteModelPackage(*package, path).ok());
  absl::StatusOr<std::vector<Request>> requests = DinRequests();
  ASSERT_TRUE(requests.ok()) << requests.status();
  for (int threads : {1, 2}) {
    ModelOptions options;
    options.threads = threads;
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path, options);
    ASSERT_TRUE(model.ok()) << model.status();
    Scores scores;
    const ScoreOptions all;
    // Warm-up: every request shape, twice (per-thread executor state grows on first use).
    for (int round = 0; round < 3; ++round) {
      for (const Request& r : *requests) ASSERT_TRUE((*model)->ScoreInto(r, all, &scores).ok());
    }
    for (size_t r = 0; r < requests->size(); ++r) {
      // The fewest of a few tries: with 2 threads, which TBB worker runs which chunk varies, and
      // a worker's executor state grows on the first chunk shape it sees; a steady-state
      // allocation shows in every try.
      int64_t count = -1;
      for (int attempt = 0; attempt < 5 && count != 0; ++attempt) {
        const int64_t n = CountAllocations(
            [&] { (*model)->ScoreInto((*requests)[r], all, &scores).IgnoreError(); });
        count = count < 0 ? n : std::min(count, n);
      }
      EXPECT_EQ(count, 0) << "request " << r << " (" << (*requests)[r].candidates.size()
                          << " candidates), " << threads << " thread(s)";
      if (count != 0) {
        PrintAllocationSites(
            [&] { (*model)->ScoreInto((*requests)[r], all, &scores).IgnoreError(); });
      }
    }
  }
}

}  // namespace
}  // namespace rankopt
