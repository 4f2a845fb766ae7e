// The user-side result cache (ModelOptions::user_cache) and the item cache
// (ModelOptions::item_cache), alone and together: scores bitwise equal with the caches on and off
// for every request (DIN fp32/int8, ESMM; thousands of distinct items), on repeated users and
// items (hits), under 8 concurrent threads, under eviction pressure (capacity far below the
// working set), across a ModelManager version swap under load; prefill; stats and Prometheus
// text; a warm hit allocates nothing.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "rankopt/model_manager.h"
#include "rankopt/request_json.h"
#include "tests/serving/din_package.h"
#include "tests/serving/population.h"
#include "tests/util/counting_new.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

struct Fixture {
  std::string path;
  std::vector<Request> requests;  // the fixture's, then many users x items of a Population
};

// Writes the package and makes its requests: the fixture's, then `users` distinct users (each
// twice, with other candidates) over a population of items.
Fixture Make(absl::StatusOr<ModelPackage> package, absl::StatusOr<std::vector<Request>> base,
             const std::string& name, int users) {
  Fixture f;
  EXPECT_TRUE(package.ok()) << package.status();
  EXPECT_TRUE(base.ok()) << base.status();
  if (!package.ok() || !base.ok()) return f;
  f.path = absl::StrCat(FreshTempDir(absl::StrCat("model_cache_", name)), "/", name, ".rkp");
  EXPECT_TRUE(WriteModelPackage(*package, f.path).ok());
  f.requests = *std::move(base);
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(package->feature_config_yaml, name);
  EXPECT_TRUE(config.ok()) << config.status();
  Population population(*config, /*max_ids=*/1000);
  for (int round = 0; round < 2; ++round) {
    for (int u = 0; u < users; ++u) {
      std::vector<uint64_t> items;
      for (int k = 0; k < 3 + (u * 7 + round * 5) % 40; ++k) {
        items.push_back(Population::Mix(u * 131 + k + round) % 5000);
      }
      Request r;
      population.Fill(static_cast<uint64_t>(u), items, &r);
      f.requests.push_back(std::move(r));
    }
  }
  return f;
}

std::shared_ptr<const Model> LoadModel(const std::string& path, size_t cache_bytes,
                                       int threads = 1, size_t item_cache_bytes = 0) {
  ModelOptions options;
  options.threads = threads;
  options.user_cache.capacity_bytes = cache_bytes;
  options.item_cache.capacity_bytes = item_cache_bytes;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

// Scores of every request with the cache off.
std::vector<std::vector<std::vector<float>>> Uncached(const Fixture& f) {
  std::shared_ptr<const Model> off = LoadModel(f.path, 0);
  EXPECT_FALSE(off->user_cache_enabled());
  EXPECT_FALSE(off->item_cache_enabled());
  std::vector<std::vector<std::vector<float>>> out;
  for (const Request& r : f.requests) {
    absl::StatusOr<Scores> s = off->Score(r);
    EXPECT_TRUE(s.ok()) << s.status();
    out.push_back(s.ok() ? s->values : std::vector<std::vector<float>>{});
  }
  return out;
}

class ModelCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures_ = new std::vector<Fixture>;
    fixtures_->push_back(Make(BuildDinPackage(TableQuantizationMode::kOff, "fp32"),
                              DinRequests(), "din_fp32", 150));
    fixtures_->push_back(Make(BuildDinPackage(TableQuantizationMode::kForce, "int8"),
                              DinRequests(), "din_int8", 150));
    fixtures_->push_back(Make(BuildEsmmPackage(TableQuantizationMode::kOff, "fp32"),
                              EsmmRequests(), "esmm", 150));
    fixtures_->push_back(Make(BuildEsmmPackage(TableQuantizationMode::kForce, "int8"),
                              EsmmRequests(), "esmm_int8", 150));
    want_ = new std::vector<std::vector<std::vector<std::vector<float>>>>;
    for (const Fixture& f : *fixtures_) want_->push_back(Uncached(f));
  }
  static std::vector<Fixture>* fixtures_;
  static std::vector<std::vector<std::vector<std::vector<float>>>>* want_;
};
std::vector<Fixture>* ModelCacheTest::fixtures_ = nullptr;
std::vector<std::vector<std::vector<std::vector<float>>>>* ModelCacheTest::want_ = nullptr;

TEST_F(ModelCacheTest, UncachedScoresAreTheExecutors) {
  // The cache-off model (one-row request-level feeds) against the plain executor.
  for (size_t m = 0; m < 2; ++m) {
    absl::StatusOr<ModelPackage> package =
        m == 0 ? BuildDinPackage(TableQuantizationMode::kOff, "fp32")
               : BuildEsmmPackage(TableQuantizationMode::kOff, "fp32");
    ASSERT_TRUE(package.ok());
    const Fixture& f = (*fixtures_)[m == 0 ? 0 : 2];
    for (size_t r = 0; r < f.requests.size(); r += 7) {
      absl::StatusOr<std::vector<std::vector<float>>> ref = ReferenceScores(*package, f.requests[r]);
      ASSERT_TRUE(ref.ok()) << ref.status();
      EXPECT_EQ((*want_)[m == 0 ? 0 : 2][r], *ref) << "request " << r;
    }
  }
}

TEST_F(ModelCacheTest, ScoresAreBitwiseEqualCacheOnAndOff) {
  for (size_t m = 0; m < fixtures_->size(); ++m) {
    const Fixture& f = (*fixtures_)[m];
    for (int threads : {1, 2}) {
      std::shared_ptr<const Model> on = LoadModel(f.path, size_t{16} << 20, threads);
      ASSERT_TRUE(on->user_cache_enabled()) << f.path;
      for (int pass = 0; pass < 2; ++pass) {  // misses, then hits
        for (size_t r = 0; r < f.requests.size(); ++r) {
          absl::StatusOr<Scores> s = on->Score(f.requests[r]);
          ASSERT_TRUE(s.ok()) << s.status();
          EXPECT_EQ(s->values, (*want_)[m][r]) << f.path << " request " << r << " pass " << pass;
        }
      }
      const auto caches = on->stats().Caches();
      ASSERT_EQ(caches.size(), 1u);
      EXPECT_EQ(caches[0].first, "user");
      EXPECT_GT(caches[0].second.hits, f.requests.size());  // the second pass hits every time
      EXPECT_GT(caches[0].second.misses, 100u);               // 150 distinct users
      EXPECT_GT(caches[0].second.bytes, 0u);
      EXPECT_EQ(caches[0].second.evictions, 0u);
      const std::string text = on->stats().PrometheusText("model=\"m\"");
      EXPECT_THAT(text, HasSubstr(absl::StrCat("rankopt_cache_hits_total{model=\"m\",cache=\"user\"} ",
                                               caches[0].second.hits)));
      EXPECT_THAT(text, HasSubstr("rankopt_cache_bytes{model=\"m\",cache=\"user\"} "));
    }
  }
}

TEST_F(ModelCacheTest, EvictionPressureKeepsScoresEqual) {
  for (size_t m = 0; m < fixtures_->size(); ++m) {
    const Fixture& f = (*fixtures_)[m];
    // A few entries' worth: 150 users cycle through it.
    std::shared_ptr<const Model> on = LoadModel(f.path, size_t{48} << 10, 2);
    ASSERT_TRUE(on->user_cache_enabled());
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t r = 0; r < f.requests.size(); ++r) {
        absl::StatusOr<Scores> s = on->Score(f.requests[r]);
        ASSERT_TRUE(s.ok()) << s.status();
        EXPECT_EQ(s->values, (*want_)[m][r]) << f.path << " request " << r;
      }
    }
    const CacheCounters c = on->stats().Caches()[0].second;
    EXPECT_GT(c.evictions, 100u) << f.path;
    EXPECT_LE(c.bytes, size_t{48} << 10);
  }
}

TEST_F(ModelCacheTest, ConcurrentThreadsGetEqualScores) {
  for (size_t m = 0; m < fixtures_->size(); ++m) {
    const Fixture& f = (*fixtures_)[m];
    for (size_t capacity : {size_t{16} << 20, size_t{64} << 10}) {
      std::shared_ptr<const Model> on = LoadModel(f.path, capacity, 2);
      std::atomic<int64_t> failed{0}, wrong{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
          Scores scores;
          for (size_t i = 0; i < 3 * f.requests.size(); ++i) {
            // Threads walk the requests from different starts: the same users at once.
            const size_t r = (i * (t % 2 == 0 ? 1 : 7) + t * 13) % f.requests.size();
            if (!on->ScoreInto(f.requests[r], {}, &scores).ok()) {
              failed.fetch_add(1);
            } else if (scores.values != (*want_)[m][r]) {
              wrong.fetch_add(1);
            }
          }
        });
      }
      for (std::thread& t : threads) t.join();
      EXPECT_EQ(failed.load(), 0) << f.path;
      EXPECT_EQ(wrong.load(), 0) << f.path;
      EXPECT_GT(on->stats().Caches()[0].second.hits, 0u);
    }
  }
}

TEST_F(ModelCacheTest, PrefillFromHotRequests) {
  const Fixture& f = (*fixtures_)[0];
  ModelOptions options;
  options.user_cache.capacity_bytes = size_t{16} << 20;
  for (size_t r = 10; r < 20; ++r) {
    absl::StatusOr<std::string> json = RequestToJson(f.requests[r]);
    ASSERT_TRUE(json.ok());
    options.user_cache.prefill_requests.push_back(*json);
  }
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(f.path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  // The 10 hot users and the package's warm-up request (whose user was then hit by warm-up).
  CacheCounters c = (*model)->stats().Caches()[0].second;
  EXPECT_EQ(c.entries, 11u);
  const uint64_t hits = c.hits;
  for (size_t r = 10; r < 20; ++r) {
    absl::StatusOr<Scores> s = (*model)->Score(f.requests[r]);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->values, (*want_)[0][r]);
  }
  c = (*model)->stats().Caches()[0].second;
  EXPECT_EQ(c.hits, hits + 10);
  EXPECT_EQ(c.entries, 11u);

  // A bad hot request fails the load with its index.
  options.user_cache.prefill_requests = {"{not json"};
  model = Model::Load(f.path, options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("prefill: request 0"));
}

TEST_F(ModelCacheTest, WarmHitAllocatesNothing) {
  const Fixture& f = (*fixtures_)[1];
  for (int threads : {1, 2}) {
    std::shared_ptr<const Model> on = LoadModel(f.path, size_t{16} << 20, threads);
    Scores scores;
    for (int round = 0; round < 3; ++round) {
      for (size_t r = 0; r < 7; ++r) ASSERT_TRUE(on->ScoreInto(f.requests[r], {}, &scores).ok());
    }
    for (size_t r = 0; r < 7; ++r) {
      int64_t count = -1;
      for (int attempt = 0; attempt < 5 && count != 0; ++attempt) {
        const int64_t n =
            CountAllocations([&] { on->ScoreInto(f.requests[r], {}, &scores).IgnoreError(); });
        count = count < 0 ? n : std::min(count, n);
      }
      EXPECT_EQ(count, 0) << "request " << r << ", " << threads << " thread(s)";
    }
  }
}

// fp32 and int8 versions of DIN alternate under 8 scoring threads, each with its own caches.
// `first`: the fp32 fixture's index; first + 1 its int8 version's.
void ExpectSwapsUnderLoadKeepScoresEqual(
    const std::vector<Fixture>* fixtures_,
    const std::vector<std::vector<std::vector<std::vector<float>>>>* want_, size_t first,
    size_t user_bytes, size_t item_bytes, const std::string& name) {
  const std::string root = FreshTempDir(name);
  auto deploy = [&](int version, const std::string& from) {
    const std::string dir = absl::StrCat(root, "/", version);
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(from, absl::StrCat(dir, "/.tmp"));
    std::filesystem::rename(absl::StrCat(dir, "/.tmp"), absl::StrCat(dir, "/model.rkp"));
  };
  const Fixture& fp32 = (*fixtures_)[first];
  const Fixture& int8 = (*fixtures_)[first + 1];
  deploy(1, fp32.path);
  ModelManagerOptions options;
  options.log = [](const std::string&) {};
  options.model.threads = 2;
  options.model.user_cache.capacity_bytes = user_bytes;  // some eviction too
  options.model.item_cache.capacity_bytes = item_bytes;
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(root, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> scored{0}, failed{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Scores scores;
      for (size_t i = static_cast<size_t>(t) * 11; !stop.load(); ++i) {
        const size_t r = i % fp32.requests.size();
        std::shared_ptr<const Model> model = (*manager)->Current();
        const size_t which = first + (model->package_version() == "fp32" ? 0 : 1);
        if (!model->ScoreInto(fp32.requests[r], {}, &scores).ok()) {
          failed.fetch_add(1);
        } else if (scores.values != (*want_)[which][r]) {
          wrong.fetch_add(1);
        }
        scored.fetch_add(1);
      }
    });
  }
  for (int v = 2; v <= 21; ++v) {
    deploy(v, v % 2 == 0 ? int8.path : fp32.path);
    ASSERT_TRUE((*manager)->Reload().ok()) << "version " << v;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(scored.load(), 100);
  if (user_bytes > 0) EXPECT_THAT((*manager)->PrometheusText(), HasSubstr("cache=\"user\""));
  if (item_bytes > 0) EXPECT_THAT((*manager)->PrometheusText(), HasSubstr("cache=\"item\""));
}

TEST_F(ModelCacheTest, ModelSwapUnderLoadKeepsScoresEqual) {
  ExpectSwapsUnderLoadKeepScoresEqual(fixtures_, want_, 0, size_t{256} << 10, 0,
                                      "model_cache_swap");
}

TEST_F(ModelCacheTest, ModelSwapUnderLoadKeepsScoresEqualWithItemCache) {
  // ESMM fp32 and int8: the item cache alone, then with the user cache; small enough to evict.
  ExpectSwapsUnderLoadKeepScoresEqual(fixtures_, want_, 2, 0, size_t{64} << 10,
                                      "model_cache_swap_item");
  ExpectSwapsUnderLoadKeepScoresEqual(fixtures_, want_, 2, size_t{256} << 10, size_t{64} << 10,
                                      "model_cache_swap_both");
}

// The cache named `name` in `model`'s stats.
CacheCounters CountersOf(const Model& model, const std::string& name) {
  for (const auto& [cache, counters] : model.stats().Caches()) {
    if (cache == name) return counters;
  }
  ADD_FAILURE() << "no cache '" << name << "'";
  return CacheCounters{};
}

// The ESMM fixtures (fp32, int8): DIN's item part only reads tables, which is not worth caching
// (graph/split/split_item_graph.h), so its item cache stays off.
constexpr size_t kEsmmFixtures[] = {2, 3};

TEST_F(ModelCacheTest, ItemCacheIsOffWhereOnlyTablesAreRead) {
  for (size_t m : {0, 1}) {
    const Fixture& f = (*fixtures_)[m];
    std::shared_ptr<const Model> on = LoadModel(f.path, 0, 1, size_t{16} << 20);
    EXPECT_FALSE(on->item_cache_enabled()) << f.path;
    EXPECT_TRUE(on->stats().Caches().empty());
    for (size_t r = 0; r < f.requests.size(); r += 11) {
      absl::StatusOr<Scores> s = on->Score(f.requests[r]);
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->values, (*want_)[m][r]) << f.path << " request " << r;
    }
  }
}

TEST_F(ModelCacheTest, ItemCacheScoresAreBitwiseEqual) {
  for (size_t m : kEsmmFixtures) {
    const Fixture& f = (*fixtures_)[m];
    for (size_t user_bytes : {size_t{0}, size_t{16} << 20}) {
      for (int threads : {1, 2}) {
        std::shared_ptr<const Model> on = LoadModel(f.path, user_bytes, threads, size_t{16} << 20);
        ASSERT_TRUE(on->item_cache_enabled()) << f.path;
        EXPECT_EQ(on->user_cache_enabled(), user_bytes > 0);
        for (int pass = 0; pass < 2; ++pass) {  // misses, then hits
          for (size_t r = 0; r < f.requests.size(); ++r) {
            absl::StatusOr<Scores> s = on->Score(f.requests[r]);
            ASSERT_TRUE(s.ok()) << s.status();
            EXPECT_EQ(s->values, (*want_)[m][r]) << f.path << " request " << r << " pass " << pass;
          }
        }
        const CacheCounters c = CountersOf(*on, "item");
        EXPECT_GT(c.misses, 1000u) << f.path;  // thousands of distinct items
        EXPECT_GT(c.hits, c.misses) << f.path;
        EXPECT_GT(c.bytes, 0u);
        EXPECT_EQ(c.evictions, 0u);
        EXPECT_EQ(on->stats().Caches().size(), user_bytes > 0 ? 2u : 1u);
        const std::string text = on->stats().PrometheusText("model=\"m\"");
        EXPECT_THAT(text, HasSubstr(absl::StrCat(
                              "rankopt_cache_hits_total{model=\"m\",cache=\"item\"} ", c.hits)));
      }
    }
  }
}

TEST_F(ModelCacheTest, ItemCacheEvictionPressureKeepsScoresEqual) {
  for (size_t m : kEsmmFixtures) {
    const Fixture& f = (*fixtures_)[m];
    // About 25 items: thousands of distinct items cycle through it.
    std::shared_ptr<const Model> on = LoadModel(f.path, 0, 2, size_t{64} << 10);
    ASSERT_TRUE(on->item_cache_enabled());
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t r = 0; r < f.requests.size(); ++r) {
        absl::StatusOr<Scores> s = on->Score(f.requests[r]);
        ASSERT_TRUE(s.ok()) << s.status();
        EXPECT_EQ(s->values, (*want_)[m][r]) << f.path << " request " << r;
      }
    }
    const CacheCounters c = CountersOf(*on, "item");
    EXPECT_GT(c.evictions, 1000u) << f.path;
    EXPECT_LE(c.bytes, size_t{64} << 10);
  }
}

TEST_F(ModelCacheTest, ItemCacheConcurrentThreadsGetEqualScores) {
  for (size_t m : kEsmmFixtures) {
    const Fixture& f = (*fixtures_)[m];
    for (size_t user_bytes : {size_t{0}, size_t{64} << 10}) {
      for (size_t item_bytes : {size_t{16} << 20, size_t{64} << 10}) {
        std::shared_ptr<const Model> on = LoadModel(f.path, user_bytes, 2, item_bytes);
        ASSERT_TRUE(on->item_cache_enabled());
        std::atomic<int64_t> failed{0}, wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
          threads.emplace_back([&, t] {
            Scores scores;
            for (size_t i = 0; i < 2 * f.requests.size(); ++i) {
              // Threads walk the requests from different starts: the same items at once.
              const size_t r = (i * (t % 2 == 0 ? 1 : 7) + t * 13) % f.requests.size();
              if (!on->ScoreInto(f.requests[r], {}, &scores).ok()) {
                failed.fetch_add(1);
              } else if (scores.values != (*want_)[m][r]) {
                wrong.fetch_add(1);
              }
            }
          });
        }
        for (std::thread& t : threads) t.join();
        EXPECT_EQ(failed.load(), 0) << f.path;
        EXPECT_EQ(wrong.load(), 0) << f.path;
        EXPECT_GT(CountersOf(*on, "item").hits, 0u);
      }
    }
  }
}

TEST_F(ModelCacheTest, ItemCachePrefillFromHotRequests) {
  const Fixture& f = (*fixtures_)[2];
  ModelOptions options;
  options.item_cache.capacity_bytes = size_t{16} << 20;
  options.item_cache.prefill_from_warmup_requests = false;
  options.warm_up = false;
  for (size_t r = 10; r < 20; ++r) {
    absl::StatusOr<std::string> json = RequestToJson(f.requests[r]);
    ASSERT_TRUE(json.ok());
    options.item_cache.prefill_requests.push_back(*json);
  }
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(f.path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  CacheCounters c = CountersOf(**model, "item");
  EXPECT_GT(c.entries, 10u);
  const uint64_t misses = c.misses;
  for (size_t r = 10; r < 20; ++r) {
    absl::StatusOr<Scores> s = (*model)->Score(f.requests[r]);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->values, (*want_)[2][r]);
  }
  EXPECT_EQ(CountersOf(**model, "item").misses, misses);  // every item was prefilled

  options.item_cache.prefill_requests = {"{not json"};
  model = Model::Load(f.path, options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("item cache prefill: request 0"));
}

TEST_F(ModelCacheTest, ItemCacheWarmHitAllocatesNothing) {
  const Fixture& f = (*fixtures_)[2];
  std::shared_ptr<const Model> on = LoadModel(f.path, size_t{16} << 20, 1, size_t{16} << 20);
  Scores scores;
  for (int round = 0; round < 3; ++round) {
    for (size_t r = 0; r < 7; ++r) ASSERT_TRUE(on->ScoreInto(f.requests[r], {}, &scores).ok());
  }
  for (size_t r = 0; r < 7; ++r) {
    int64_t count = -1;
    for (int attempt = 0; attempt < 5 && count != 0; ++attempt) {
      const int64_t n =
          CountAllocations([&] { on->ScoreInto(f.requests[r], {}, &scores).IgnoreError(); });
      count = count < 0 ? n : std::min(count, n);
    }
    EXPECT_EQ(count, 0) << "request " << r;
  }
}

}  // namespace
}  // namespace rankopt
