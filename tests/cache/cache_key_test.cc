#include "cache/cache_key.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

TEST(MakeCacheKeyTest, DeterministicAndSeededByVersion) {
  EXPECT_EQ(MakeCacheKey(7, "user:42"), MakeCacheKey(7, "user:42"));
  EXPECT_NE(MakeCacheKey(7, "user:42"), MakeCacheKey(8, "user:42"));
  EXPECT_NE(MakeCacheKey(7, "user:42"), MakeCacheKey(7, "user:43"));
  EXPECT_NE(MakeCacheKey(7, ""), MakeCacheKey(8, ""));
  // Both halves carry information.
  const CacheKey a = MakeCacheKey(1, "a");
  const CacheKey b = MakeCacheKey(1, "b");
  EXPECT_NE(a.lo, b.lo);
  EXPECT_NE(a.hi, b.hi);
}

TEST(MakeCacheKeyTest, ManyKeysAreDistinctInBothHalves) {
  absl::flat_hash_set<uint64_t> lo;
  absl::flat_hash_set<uint64_t> hi;
  absl::flat_hash_set<CacheKey> keys;
  constexpr int kKeys = 200000;
  for (int i = 0; i < kKeys; ++i) {
    const CacheKey k =
        MakeCacheKey(3, absl::string_view(reinterpret_cast<const char*>(&i), sizeof(i)));
    lo.insert(k.lo);
    hi.insert(k.hi);
    keys.insert(k);
  }
  EXPECT_EQ(lo.size(), kKeys);
  EXPECT_EQ(hi.size(), kKeys);
  EXPECT_EQ(keys.size(), kKeys);
}

TEST(CacheKeyBuilderTest, LengthPrefixSeparatesStrings) {
  const CacheKey ab_c = CacheKeyBuilder(1).AddString("ab").AddString("c").Build();
  const CacheKey a_bc = CacheKeyBuilder(1).AddString("a").AddString("bc").Build();
  const CacheKey abc = CacheKeyBuilder(1).AddString("abc").Build();
  const CacheKey abc_empty = CacheKeyBuilder(1).AddString("abc").AddString("").Build();
  EXPECT_NE(ab_c, a_bc);
  EXPECT_NE(ab_c, abc);
  EXPECT_NE(abc, abc_empty);
  EXPECT_EQ(ab_c, CacheKeyBuilder(1).AddString("ab").AddString("c").Build());
}

TEST(CacheKeyBuilderTest, ListsAreLengthPrefixed) {
  const std::vector<float> f12 = {1, 2};
  const std::vector<float> f3 = {3};
  const std::vector<float> f1 = {1};
  const std::vector<float> f23 = {2, 3};
  EXPECT_NE(CacheKeyBuilder(1).AddFloats(f12).AddFloats(f3).Build(),
            CacheKeyBuilder(1).AddFloats(f1).AddFloats(f23).Build());
  const std::vector<int64_t> empty;
  EXPECT_NE(CacheKeyBuilder(1).AddInt64s(empty).Build(), CacheKeyBuilder(1).Build());
}

TEST(CacheKeyBuilderTest, TypesAndVersionsAreDistinct) {
  const CacheKey i64 = CacheKeyBuilder(1).AddInt64(1).Build();
  EXPECT_NE(i64, CacheKeyBuilder(1).AddUint64(1).Build());
  EXPECT_NE(i64, CacheKeyBuilder(1).AddDouble(1.0).Build());
  EXPECT_NE(i64, CacheKeyBuilder(2).AddInt64(1).Build());
  EXPECT_NE(CacheKeyBuilder(1).AddFloat(1.0f).Build(),
            CacheKeyBuilder(1).AddFloats(std::vector<float>{1.0f}).Build());
  // An int64 field is not a string of its 8 bytes.
  const int64_t one = 1;
  EXPECT_NE(i64, CacheKeyBuilder(1)
                     .AddString(absl::string_view(reinterpret_cast<const char*>(&one), 8))
                     .Build());
  // Nor a builder key the plain MakeCacheKey of the same bytes.
  EXPECT_NE(CacheKeyBuilder(1).AddString("x").Build(), MakeCacheKey(1, "x"));
}

TEST(CacheKeyBuilderTest, FloatsAreHashedBitwise) {
  EXPECT_NE(CacheKeyBuilder(1).AddFloat(0.0f).Build(), CacheKeyBuilder(1).AddFloat(-0.0f).Build());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(CacheKeyBuilder(1).AddFloat(nan).Build(), CacheKeyBuilder(1).AddFloat(nan).Build());
  EXPECT_NE(CacheKeyBuilder(1).AddFloat(1.0f).Build(),
            CacheKeyBuilder(1).AddFloat(std::nextafter(1.0f, 2.0f)).Build());
}

TEST(CacheKeyBuilderTest, ResetBuildAndLongFields) {
  CacheKeyBuilder b(5);
  b.AddInt64(42).AddString("user");
  const CacheKey first = b.Build();
  EXPECT_EQ(first, b.Build());  // Build does not consume.
  b.Reset();
  EXPECT_EQ(b.AddInt64(42).AddString("user").Build(), first);

  // Past the inline buffer.
  const std::string long_a(10000, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  EXPECT_NE(CacheKeyBuilder(5).AddString(long_a).Build(),
            CacheKeyBuilder(5).AddString(long_b).Build());
  EXPECT_EQ(CacheKeyBuilder(5).AddString(long_a).Build(),
            CacheKeyBuilder(5).AddString(long_a).Build());
}

TEST(CacheKeyBuilderTest, AddKeyNestsKeys) {
  const CacheKey user = CacheKeyBuilder(1).AddInt64(7).Build();
  const CacheKey other = CacheKeyBuilder(1).AddInt64(8).Build();
  EXPECT_NE(CacheKeyBuilder(1).AddKey(user).AddInt64(99).Build(),
            CacheKeyBuilder(1).AddKey(other).AddInt64(99).Build());
}

TEST(CacheKeyTest, WorksAsAbslAndCustomHashKey) {
  absl::flat_hash_map<CacheKey, int> by_absl;
  absl::flat_hash_map<CacheKey, int, CacheKeyHash> by_lo;
  for (int i = 0; i < 1000; ++i) {
    const CacheKey k = CacheKeyBuilder(1).AddInt64(i).Build();
    by_absl[k] = i;
    by_lo[k] = i;
  }
  for (int i = 0; i < 1000; ++i) {
    const CacheKey k = CacheKeyBuilder(1).AddInt64(i).Build();
    EXPECT_EQ(by_absl.at(k), i);
    EXPECT_EQ(by_lo.at(k), i);
  }
}

}  // namespace
}  // namespace rankopt
