// 8 threads hammer one ShardedCache whose capacity is far below the working set: lookups (single
// and batched) with insert on miss, replacements, erases, oversized inserts, Stats() and the odd
// Clear(). Every value
// is a deterministic function of its key and every hit is checked in full, so a wrong, torn or
// freed value fails; values count themselves, so a leak or a double free fails too. Labelled
// "concurrency" for the TSan job.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "bench/cache/zipf.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "cache/sharded_cache.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

constexpr int kThreads = 8;
#if defined(__SANITIZE_THREAD__)
#define RANKOPT_CACHE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RANKOPT_CACHE_TSAN 1
#endif
#endif

#ifdef RANKOPT_CACHE_TSAN
constexpr int kOpsPerThread = 20000;  // TSan is ~20x slower; this still runs every path often.
#else
constexpr int kOpsPerThread = 50000;
#endif
constexpr int kKeys = 20000;
constexpr size_t kCapacity = size_t{1} << 20;  // ~1/7 of the working set.

std::atomic<int64_t> g_live_values{0};

class CountedValue : public CacheValue {
 public:
  explicit CountedValue(std::vector<float> floats) : CacheValue(std::move(floats)) {
    g_live_values.fetch_add(1, std::memory_order_relaxed);
  }
  ~CountedValue() override { g_live_values.fetch_sub(1, std::memory_order_relaxed); }
};

CacheKey Key(int64_t id) { return CacheKeyBuilder(11).AddInt64(id).Build(); }

int Length(int64_t id) { return 4 + static_cast<int>(id % 61); }
float Element(int64_t id, int j) { return static_cast<float>(id) + 0.5f * static_cast<float>(j); }

std::shared_ptr<const CacheValue> MakeValue(int64_t id, int length) {
  std::vector<float> v(length);
  for (int j = 0; j < length; ++j) v[j] = Element(id, j);
  return std::make_shared<const CountedValue>(std::move(v));
}

// True when `v` is exactly id's value.
bool Correct(const CacheValue& v, int64_t id) {
  const absl::Span<const float> f = v.floats();
  if (static_cast<int>(f.size()) != Length(id)) return false;
  for (int j = 0; j < Length(id); ++j) {
    if (f[j] != Element(id, j)) return false;
  }
  return true;
}

struct ThreadTotals {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stored = 0;
  uint64_t rejected = 0;
  uint64_t wrong = 0;
  uint64_t stats_over_capacity = 0;
};

struct Variant {
  EvictionPolicy eviction;
  bool ttl;
};

class ShardedCacheConcurrencyTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ShardedCacheConcurrencyTest, HitsAreExactAndNothingLeaks) {
  ASSERT_EQ(g_live_values.load(), 0);
  std::atomic<int64_t> fake_now{0};
  ShardedCacheOptions options;
  options.capacity_bytes = kCapacity;
  options.shard_bits = 3;
  options.eviction = GetParam().eviction;
  if (GetParam().ttl) {
    // Each op advances the clock 1 us, far from the TTL: entries leave by eviction. Every 4000th
    // op of thread 0 jumps it past the TTL: whatever is cached then expires, so both paths run.
    options.ttl = absl::Seconds(1);
    options.clock = [&fake_now] { return fake_now.load(std::memory_order_relaxed); };
  }
  std::unique_ptr<ShardedCache> cache = ShardedCache::Create(options).value();
  const size_t oversized = cache->capacity_bytes() / cache->num_shards() / sizeof(float);

  std::vector<ThreadTotals> totals(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ThreadTotals& my = totals[t];
      ZipfGenerator zipf(kKeys, 0.9, /*seed=*/1000 + t);
      SplitMix64 rng(77 + t);
      std::vector<std::pair<int64_t, std::shared_ptr<const CacheValue>>> held;
      for (int op = 0; op < kOpsPerThread; ++op) {
        fake_now.fetch_add(1000, std::memory_order_relaxed);
        if (t == 0 && op % 4000 == 3999) {
          fake_now.fetch_add(2'000'000'000, std::memory_order_relaxed);
        }
        const int64_t id = static_cast<int64_t>(zipf.Next()) - 1;
        const CacheKey key = Key(id);
        const uint64_t r = rng.Next() % 1000;
        if (r < 100) {
          // A batch of 8 (this key and 7 more), as a request's candidates.
          int64_t ids[8] = {id};
          CacheKey keys[8] = {key};
          for (int j = 1; j < 8; ++j) {
            ids[j] = static_cast<int64_t>(zipf.Next()) - 1;
            keys[j] = Key(ids[j]);
          }
          std::shared_ptr<const CacheValue> values[8];
          cache->LookupBatch(keys, absl::MakeSpan(values));
          for (int j = 0; j < 8; ++j) {
            if (values[j] != nullptr) {
              ++my.hits;
              my.wrong += Correct(*values[j], ids[j]) ? 0 : 1;
            } else {
              ++my.misses;
              my.stored += cache->Insert(keys[j], MakeValue(ids[j], Length(ids[j]))) ? 1 : 0;
            }
          }
        } else if (r < 800) {
          std::shared_ptr<const CacheValue> v = cache->Lookup(key);
          if (v != nullptr) {
            ++my.hits;
            my.wrong += Correct(*v, id) ? 0 : 1;
            if (r < 20) held.emplace_back(id, std::move(v));  // Read again after the run.
          } else {
            ++my.misses;
            my.stored += cache->Insert(key, MakeValue(id, Length(id))) ? 1 : 0;
          }
        } else if (r < 900) {
          my.stored += cache->Insert(key, MakeValue(id, Length(id))) ? 1 : 0;
        } else if (r < 960) {
          cache->Erase(key);
        } else if (r < 970) {
          // Larger than a shard: rejected, and erases the key's entry.
          auto big = std::make_shared<const CountedValue>(std::vector<float>(oversized));
          if (!cache->Insert(key, std::move(big))) ++my.rejected;
        } else if (r < 999) {
          const CacheStats s = cache->Stats();
          my.stats_over_capacity += s.bytes > kCapacity ? 1 : 0;
        } else if (rng.Next() % 50 == 0) {
          cache->Clear();
        }
      }
      for (const auto& [hid, v] : held) my.wrong += Correct(*v, hid) ? 0 : 1;
    });
  }
  for (std::thread& th : threads) th.join();

  ThreadTotals sum;
  for (const ThreadTotals& t : totals) {
    sum.hits += t.hits;
    sum.misses += t.misses;
    sum.stored += t.stored;
    sum.rejected += t.rejected;
    sum.wrong += t.wrong;
    sum.stats_over_capacity += t.stats_over_capacity;
  }
  EXPECT_EQ(sum.wrong, 0u);
  EXPECT_EQ(sum.stats_over_capacity, 0u);
  EXPECT_GT(sum.hits, 0u);
  EXPECT_GT(sum.misses, 0u);

  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.hits, sum.hits);
  EXPECT_EQ(s.misses, sum.misses);
  EXPECT_EQ(s.inserts, sum.stored);
  EXPECT_EQ(s.rejections, sum.rejected);
  EXPECT_GT(s.evictions, 0u);
  if (GetParam().ttl) {
    EXPECT_GT(s.expirations, 0u);
  }
  EXPECT_LE(s.bytes, kCapacity);
  // The cache holds the only references now: one live value per entry.
  EXPECT_EQ(g_live_values.load(), static_cast<int64_t>(s.entries));
  cache.reset();
  EXPECT_EQ(g_live_values.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, ShardedCacheConcurrencyTest,
    ::testing::Values(Variant{EvictionPolicy::kLru, false}, Variant{EvictionPolicy::kLru, true},
                      Variant{EvictionPolicy::kClock, false},
                      Variant{EvictionPolicy::kClock, true}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return std::string(info.param.eviction == EvictionPolicy::kLru ? "Lru" : "Clock") +
             (info.param.ttl ? "Ttl" : "");
    });

}  // namespace
}  // namespace rankopt
