#include "cache/sharded_cache.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

constexpr int kFloats = 16;

CacheKey Key(int64_t i) { return CacheKeyBuilder(1).AddInt64(i).Build(); }

std::shared_ptr<const CacheValue> Value(float fill, int n = kFloats) {
  return std::make_shared<const CacheValue>(std::vector<float>(n, fill));
}

// What one entry of a kFloats-float value charges.
size_t EntryCharge() { return Value(0)->charge() + ShardedCache::kEntryOverheadBytes; }

struct FakeClock {
  int64_t now_ns = 0;
  std::function<int64_t()> Fn() {
    return [this] { return now_ns; };
  }
};

std::unique_ptr<ShardedCache> MakeCache(size_t capacity_bytes, int shard_bits = 0,
                                        EvictionPolicy eviction = EvictionPolicy::kLru) {
  ShardedCacheOptions options;
  options.capacity_bytes = capacity_bytes;
  options.shard_bits = shard_bits;
  options.eviction = eviction;
  absl::StatusOr<std::unique_ptr<ShardedCache>> cache = ShardedCache::Create(options);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return *std::move(cache);
}

// The value's first float, or -1 on a miss.
float Get(ShardedCache& cache, int64_t i) {
  std::shared_ptr<const CacheValue> v = cache.Lookup(Key(i));
  return v == nullptr ? -1.0f : v->floats()[0];
}

TEST(CacheValueTest, FloatsAndBytes) {
  const std::vector<float> f = {1.5f, -2.0f};
  auto fv = CacheValue::FromFloats(f);
  EXPECT_TRUE(fv->is_floats());
  EXPECT_EQ(std::vector<float>(fv->floats().begin(), fv->floats().end()), f);
  EXPECT_EQ(fv->bytes().size(), 2 * sizeof(float));
  EXPECT_GE(fv->charge(), 2 * sizeof(float) + sizeof(CacheValue));

  const std::string blob(1000, 'x');
  auto bv = CacheValue::FromBytes(blob);
  EXPECT_FALSE(bv->is_floats());
  EXPECT_TRUE(bv->floats().empty());
  EXPECT_EQ(bv->bytes(), blob);
  EXPECT_GE(bv->charge(), 1000 + sizeof(CacheValue));
  EXPECT_LT(bv->charge(), 1000 + sizeof(CacheValue) + 128);
}

TEST(ShardedCacheTest, CreateRejectsBadOptions) {
  ShardedCacheOptions options;
  options.capacity_bytes = 1 << 20;
  options.shard_bits = 17;
  EXPECT_THAT(ShardedCache::Create(options).status().message(), HasSubstr("shard_bits is 17"));
  options.shard_bits = -2;
  EXPECT_FALSE(ShardedCache::Create(options).ok());
  options.shard_bits = 0;
  options.ttl = absl::ZeroDuration();
  EXPECT_THAT(ShardedCache::Create(options).status().message(), HasSubstr("ttl is 0"));
}

TEST(ShardedCacheTest, AutomaticShardCount) {
  ShardedCacheOptions options;
  options.capacity_bytes = size_t{16} << 20;
  EXPECT_EQ(ShardedCache::Create(options).value()->num_shards(), 16);
  options.capacity_bytes = size_t{1} << 20;  // 4 shards of 256 KiB.
  EXPECT_EQ(ShardedCache::Create(options).value()->num_shards(), 4);
  options.capacity_bytes = 100 << 10;
  EXPECT_EQ(ShardedCache::Create(options).value()->num_shards(), 1);
  options.capacity_bytes = 0;
  EXPECT_EQ(ShardedCache::Create(options).value()->num_shards(), 16);
  options.capacity_bytes = size_t{1} << 30;
  options.shard_bits = 6;
  EXPECT_EQ(ShardedCache::Create(options).value()->num_shards(), 64);
}

TEST(ShardedCacheTest, LookupInsertAndExactCounters) {
  auto cache = MakeCache(10 * EntryCharge());
  EXPECT_EQ(cache->Lookup(Key(1)), nullptr);
  EXPECT_TRUE(cache->Insert(Key(1), Value(1)));
  EXPECT_TRUE(cache->Insert(Key(2), Value(2)));
  EXPECT_EQ(Get(*cache, 1), 1);
  EXPECT_EQ(Get(*cache, 2), 2);
  EXPECT_EQ(Get(*cache, 1), 1);
  EXPECT_EQ(Get(*cache, 3), -1);

  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.expirations, 0u);
  EXPECT_EQ(s.rejections, 0u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, 2 * EntryCharge());
  EXPECT_EQ(s.capacity_bytes, 10 * EntryCharge());
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.6);
}

TEST(ShardedCacheTest, EvictsLeastRecentlyUsed) {
  auto cache = MakeCache(3 * EntryCharge());
  cache->Insert(Key(1), Value(1));
  cache->Insert(Key(2), Value(2));
  cache->Insert(Key(3), Value(3));
  EXPECT_EQ(Get(*cache, 1), 1);  // 1 is now the most recent; 2 the least.
  cache->Insert(Key(4), Value(4));
  EXPECT_EQ(Get(*cache, 2), -1);
  EXPECT_EQ(Get(*cache, 1), 1);
  EXPECT_EQ(Get(*cache, 3), 3);
  EXPECT_EQ(Get(*cache, 4), 4);
  cache->Insert(Key(5), Value(5));  // Order now 4, 3, 1 from oldest: 1 goes.
  EXPECT_EQ(Get(*cache, 1), -1);

  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.bytes, 3 * EntryCharge());
}

TEST(ShardedCacheTest, ClockGivesReferencedEntriesASecondChance) {
  auto cache = MakeCache(3 * EntryCharge(), 0, EvictionPolicy::kClock);
  cache->Insert(Key(1), Value(1));
  cache->Insert(Key(2), Value(2));
  cache->Insert(Key(3), Value(3));
  EXPECT_EQ(Get(*cache, 1), 1);     // Referenced.
  cache->Insert(Key(4), Value(4));  // 1 gets a second chance, 2 goes.
  cache->Insert(Key(5), Value(5));  // 3 is now the oldest unreferenced: it goes.
  EXPECT_EQ(Get(*cache, 2), -1);
  EXPECT_EQ(Get(*cache, 3), -1);
  EXPECT_EQ(Get(*cache, 1), 1);
  EXPECT_EQ(Get(*cache, 4), 4);
  EXPECT_EQ(Get(*cache, 5), 5);
  EXPECT_EQ(cache->Stats().evictions, 2u);
}

TEST(ShardedCacheTest, ClockNeverEvictsTheEntryBeingInserted) {
  auto cache = MakeCache(2 * EntryCharge(), 0, EvictionPolicy::kClock);
  cache->Insert(Key(1), Value(1));
  cache->Insert(Key(2), Value(2));
  Get(*cache, 1);
  Get(*cache, 2);
  cache->Insert(Key(3), Value(3));
  EXPECT_EQ(Get(*cache, 3), 3);
  EXPECT_EQ(cache->Stats().entries, 2u);
}

TEST(ShardedCacheTest, ClockSecondChancesPerInsertAreBounded) {
  auto cache = MakeCache(200 * EntryCharge(), 0, EvictionPolicy::kClock);
  for (int i = 0; i < 200; ++i) cache->Insert(Key(i), Value(i));
  for (int i = 0; i < 200; ++i) ASSERT_EQ(Get(*cache, i), i);  // All referenced.
  cache->Insert(Key(200), Value(200));
  // The 64 oldest were moved to the front; the 65th oldest went, referenced or not.
  EXPECT_EQ(Get(*cache, 64), -1);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(Get(*cache, i), i);
  EXPECT_EQ(Get(*cache, 200), 200);
}

TEST(ShardedCacheTest, ByteCapacityBoundsMixedSizes) {
  const size_t capacity = 64 << 10;
  auto cache = MakeCache(capacity, 2);
  size_t stored = 0;
  for (int i = 0; i < 2000; ++i) {
    auto v = Value(static_cast<float>(i), 1 + (i * 37) % 500);
    stored += cache->Insert(Key(i), v) ? 1 : 0;
    const CacheStats s = cache->Stats();
    ASSERT_LE(s.bytes, capacity);
  }
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.inserts, stored);
  EXPECT_EQ(s.inserts - s.evictions, s.entries);
  EXPECT_GT(s.bytes, capacity / 2);  // Not trivially empty.
}

TEST(ShardedCacheTest, InsertReplacesAndReadersKeepOldValues) {
  auto cache = MakeCache(10 * EntryCharge());
  cache->Insert(Key(1), Value(1));
  std::shared_ptr<const CacheValue> held = cache->Lookup(Key(1));
  const std::weak_ptr<const CacheValue> watch = held;

  EXPECT_TRUE(cache->Insert(Key(1), Value(2, 2 * kFloats)));
  EXPECT_EQ(Get(*cache, 1), 2);
  EXPECT_EQ(held->floats()[0], 1);  // The reader's value is intact.
  EXPECT_EQ(held.use_count(), 1);   // The cache dropped its reference.
  held.reset();
  EXPECT_TRUE(watch.expired());

  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.bytes, Value(2, 2 * kFloats)->charge() + ShardedCache::kEntryOverheadBytes);
}

TEST(ShardedCacheTest, Erase) {
  auto cache = MakeCache(10 * EntryCharge());
  cache->Insert(Key(1), Value(1));
  cache->Insert(Key(2), Value(2));
  EXPECT_TRUE(cache->Erase(Key(1)));
  EXPECT_FALSE(cache->Erase(Key(1)));
  EXPECT_FALSE(cache->Erase(Key(9)));
  EXPECT_EQ(Get(*cache, 1), -1);
  EXPECT_EQ(Get(*cache, 2), 2);
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, EntryCharge());
}

TEST(ShardedCacheTest, ClearDropsEverythingButReadersKeepTheirs) {
  auto cache = MakeCache(100 * EntryCharge(), 2);
  for (int i = 0; i < 50; ++i) cache->Insert(Key(i), Value(i));
  std::shared_ptr<const CacheValue> held = cache->Lookup(Key(7));
  cache->Clear();
  EXPECT_EQ(held->floats()[0], 7);
  EXPECT_EQ(held.use_count(), 1);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get(*cache, i), -1);
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.inserts, 50u);
  // Usable after Clear.
  cache->Insert(Key(1), Value(1));
  EXPECT_EQ(Get(*cache, 1), 1);
}

TEST(ShardedCacheTest, VersionInKeySeparatesModels) {
  auto cache = MakeCache(10 * EntryCharge());
  const CacheKey v1 = CacheKeyBuilder(1).AddInt64(42).Build();
  const CacheKey v2 = CacheKeyBuilder(2).AddInt64(42).Build();
  cache->Insert(v1, Value(1));
  EXPECT_EQ(cache->Lookup(v2), nullptr);
  EXPECT_NE(cache->Lookup(v1), nullptr);
}

TEST(ShardedCacheTest, TtlWithFakeClock) {
  FakeClock clock;
  ShardedCacheOptions options;
  options.capacity_bytes = 10 * EntryCharge();
  options.shard_bits = 0;
  options.ttl = absl::Seconds(10);
  options.clock = clock.Fn();
  auto cache = ShardedCache::Create(options).value();

  cache->Insert(Key(1), Value(1));
  clock.now_ns = absl::ToInt64Nanoseconds(absl::Seconds(10)) - 1;
  EXPECT_EQ(Get(*cache, 1), 1);
  clock.now_ns += 1;  // Exactly ttl old: expired.
  EXPECT_EQ(Get(*cache, 1), -1);
  CacheStats s = cache->Stats();
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);

  // Re-inserting starts a new life; a hit does not extend it.
  cache->Insert(Key(1), Value(1));
  clock.now_ns += absl::ToInt64Nanoseconds(absl::Seconds(9));
  EXPECT_EQ(Get(*cache, 1), 1);
  clock.now_ns += absl::ToInt64Nanoseconds(absl::Seconds(1));
  EXPECT_EQ(Get(*cache, 1), -1);
  EXPECT_EQ(cache->Stats().expirations, 2u);
}

TEST(ShardedCacheTest, ExpiredVictimsCountAsExpirations) {
  FakeClock clock;
  ShardedCacheOptions options;
  options.capacity_bytes = 2 * EntryCharge();
  options.shard_bits = 0;
  options.ttl = absl::Seconds(10);
  options.clock = clock.Fn();
  auto cache = ShardedCache::Create(options).value();

  cache->Insert(Key(1), Value(1));  // t = 0
  clock.now_ns = absl::ToInt64Nanoseconds(absl::Seconds(5));
  cache->Insert(Key(2), Value(2));  // t = 5
  clock.now_ns = absl::ToInt64Nanoseconds(absl::Seconds(12));
  cache->Insert(Key(3), Value(3));  // 1 (expired) is the victim.
  cache->Insert(Key(4), Value(4));  // 2 (alive) is the victim.
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(Get(*cache, 3), 3);
  EXPECT_EQ(Get(*cache, 4), 4);
}

TEST(ShardedCacheTest, CapacityZeroIsOff) {
  auto cache = MakeCache(0, -1);
  EXPECT_FALSE(cache->enabled());
  EXPECT_FALSE(cache->Insert(Key(1), Value(1)));
  EXPECT_EQ(cache->Lookup(Key(1)), nullptr);
  EXPECT_EQ(cache->Lookup(Key(2)), nullptr);
  EXPECT_FALSE(cache->Erase(Key(1)));
  int computed = 0;
  const std::vector<CacheKey> keys = {Key(1), Key(2)};
  absl::StatusOr<size_t> n = cache->Prefill(keys, [&](size_t i) {
    ++computed;
    return Value(static_cast<float>(i));
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(computed, 0);
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.inserts, 0u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
}

TEST(ShardedCacheTest, NullValueIsNotStored) {
  auto cache = MakeCache(10 * EntryCharge());
  EXPECT_FALSE(cache->Insert(Key(1), nullptr));
  EXPECT_EQ(cache->Stats().inserts, 0u);
}

TEST(ShardedCacheTest, OversizedValueIsRejectedAndErasesTheOldEntry) {
  // 4 shards of 4 KiB.
  auto cache = MakeCache(16 << 10, 2);
  cache->Insert(Key(1), Value(1));
  EXPECT_EQ(Get(*cache, 1), 1);
  // 1024 floats = 4 KiB of payload alone: larger than a shard, though the cache is 16 KiB.
  EXPECT_FALSE(cache->Insert(Key(1), Value(2, 1024)));
  EXPECT_EQ(Get(*cache, 1), -1);
  EXPECT_FALSE(cache->Insert(Key(2), Value(2, 1024)));
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.rejections, 2u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  // A value exactly a shard's size fits.
  const size_t shard = (16 << 10) / 4;
  auto v = std::make_shared<const CacheValue>(std::string(shard, 'x'));
  const size_t over = v->charge() + ShardedCache::kEntryOverheadBytes - shard;
  EXPECT_TRUE(
      cache->Insert(Key(3), std::make_shared<const CacheValue>(std::string(shard - over, 'x'))));
  EXPECT_EQ(cache->Stats().bytes, shard);
}

TEST(ShardedCacheTest, Prefill) {
  auto cache = MakeCache(100 * EntryCharge(), 1);
  cache->Insert(Key(3), Value(300));
  std::vector<CacheKey> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(Key(i));
  std::vector<size_t> computed;
  absl::StatusOr<size_t> n = cache->Prefill(keys, [&](size_t i) {
    computed.push_back(i);
    return Value(static_cast<float>(i));
  });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 9u);
  EXPECT_EQ(computed, (std::vector<size_t>{0, 1, 2, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(Get(*cache, 3), 300);  // Present keys are left alone.
  for (int i = 0; i < 10; ++i) {
    if (i == 3) continue;
    EXPECT_EQ(Get(*cache, i), i);
  }
  const CacheStats s = cache->Stats();
  EXPECT_EQ(s.misses, 0u);  // Prefill's presence checks are not lookups.
  EXPECT_EQ(s.inserts, 10u);
  EXPECT_EQ(s.entries, 10u);
}

TEST(ShardedCacheTest, PrefillStopsAtFirstError) {
  auto cache = MakeCache(100 * EntryCharge());
  std::vector<CacheKey> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(Key(i));
  absl::StatusOr<size_t> n =
      cache->Prefill(keys, [&](size_t i) -> absl::StatusOr<std::shared_ptr<const CacheValue>> {
        if (i == 4) return absl::InternalError("model failed on key 4");
        return Value(static_cast<float>(i));
      });
  EXPECT_EQ(n.status().message(), "model failed on key 4");
  EXPECT_EQ(cache->Stats().entries, 4u);
  EXPECT_EQ(Get(*cache, 3), 3);
  EXPECT_EQ(Get(*cache, 5), -1);
}

// LookupBatch against one-by-one Lookup on two identical caches: same values, same counters.
TEST(ShardedCacheTest, LookupBatchMatchesLookup) {
  for (EvictionPolicy eviction : {EvictionPolicy::kLru, EvictionPolicy::kClock}) {
    FakeClock clock;
    ShardedCacheOptions options;
    options.capacity_bytes = 16 * 40 * EntryCharge();
    options.shard_bits = 4;
    options.eviction = eviction;
    options.ttl = absl::Seconds(10);
    options.clock = clock.Fn();
    auto batch = ShardedCache::Create(options).value();
    auto single = ShardedCache::Create(options).value();
    for (int i = 0; i < 300; ++i) {
      clock.now_ns = i < 100 ? 0 : absl::ToInt64Nanoseconds(absl::Seconds(5));
      const auto v = Value(i);  // One object in both caches.
      batch->Insert(Key(i), v);
      single->Insert(Key(i), v);
    }
    clock.now_ns = absl::ToInt64Nanoseconds(absl::Seconds(12));  // Keys 0..99 have expired.
    std::vector<CacheKey> keys;
    for (int i = 0; i < 500; i += 3) keys.push_back(Key(i));
    for (int i = 0; i < 40; ++i) keys.push_back(Key(i * 7));  // Repeats, expired ones included.
    std::vector<std::shared_ptr<const CacheValue>> values(keys.size(), Value(-5));
    batch->LookupBatch(keys, absl::MakeSpan(values));
    size_t hits = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::shared_ptr<const CacheValue> want = single->Lookup(keys[i]);
      ASSERT_EQ(values[i] == nullptr, want == nullptr) << i;
      if (want == nullptr) continue;
      ++hits;
      EXPECT_EQ(values[i], want) << i;  // The very same object.
    }
    EXPECT_GT(hits, 50u);
    const CacheStats a = batch->Stats();
    const CacheStats b = single->Stats();
    EXPECT_EQ(a.hits, b.hits);
    EXPECT_EQ(a.misses, b.misses);
    EXPECT_EQ(a.expirations, b.expirations);
    EXPECT_GT(a.expirations, 0u);
    EXPECT_EQ(a.entries, b.entries);
    EXPECT_EQ(a.bytes, b.bytes);
    // The batch touched entries as Lookup did: the same ones survive the next evictions.
    for (int i = 1000; i < 1300; ++i) {
      batch->Insert(Key(i), Value(i));
      single->Insert(Key(i), Value(i));
    }
    for (int i = 0; i < 500; ++i) {
      EXPECT_EQ(Get(*batch, i), Get(*single, i)) << i;
    }
  }
}

TEST(ShardedCacheTest, LookupBatchOnAnOffCacheAndEmptyBatch) {
  auto off = MakeCache(0, -1);
  std::vector<CacheKey> keys = {Key(1), Key(2), Key(1)};
  std::vector<std::shared_ptr<const CacheValue>> values(3, Value(1));
  off->LookupBatch(keys, absl::MakeSpan(values));
  for (const auto& v : values) EXPECT_EQ(v, nullptr);
  EXPECT_EQ(off->Stats().misses, 3u);

  auto on = MakeCache(10 * EntryCharge());
  on->LookupBatch({}, {});
  EXPECT_EQ(on->Stats().misses, 0u);
}

TEST(ShardedCacheTest, ShardsShareTheCapacity) {
  const size_t capacity = 16 * 50 * EntryCharge();
  auto cache = MakeCache(capacity, 4);
  EXPECT_EQ(cache->num_shards(), 16);
  for (int i = 0; i < 5000; ++i) cache->Insert(Key(i), Value(i));
  const CacheStats s = cache->Stats();
  EXPECT_LE(s.bytes, capacity);
  // Every shard is full (holds 50 or, where remainders fall, a little less).
  EXPECT_GE(s.entries, 16u * 49);
  EXPECT_EQ(s.inserts - s.evictions, s.entries);
}

}  // namespace
}  // namespace rankopt
