// The benchmark baseline (bench/cache/mutex_lru_cache.h) must be a correct LRU with the same
// charges as ShardedCache, or the bench's hit rates would not compare.
#include "bench/cache/mutex_lru_cache.h"

#include <memory>
#include <vector>

#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "cache/sharded_cache.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

CacheKey Key(int64_t i) { return CacheKeyBuilder(1).AddInt64(i).Build(); }

std::shared_ptr<const CacheValue> Value(float fill) {
  return std::make_shared<const CacheValue>(std::vector<float>(16, fill));
}

TEST(MutexLruCacheTest, LruOrderCapacityAndReplace) {
  const size_t entry = Value(0)->charge() + ShardedCache::kEntryOverheadBytes;
  MutexLruCache cache(3 * entry);
  cache.Insert(Key(1), Value(1));
  cache.Insert(Key(2), Value(2));
  cache.Insert(Key(3), Value(3));
  ASSERT_NE(cache.Lookup(Key(1)), nullptr);
  cache.Insert(Key(4), Value(4));
  EXPECT_EQ(cache.Lookup(Key(2)), nullptr);
  EXPECT_EQ(cache.Lookup(Key(1))->floats()[0], 1);
  cache.Insert(Key(1), Value(10));
  EXPECT_EQ(cache.Lookup(Key(1))->floats()[0], 10);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.usage(), 3 * entry);
  EXPECT_EQ(cache.hits(), 3u);
  EXPECT_EQ(cache.misses(), 1u);
  MutexLruCache tiny(entry - 1);
  EXPECT_FALSE(tiny.Insert(Key(1), Value(1)));
  EXPECT_EQ(tiny.usage(), 0u);
}

}  // namespace
}  // namespace rankopt
