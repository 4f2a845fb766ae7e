// RowCache (serving/remote/row_cache.h) against a reference: a hit always returns exactly the
// row inserted under that (table, id), never another's, from one thread and from four at once;
// the budget split and the eviction bound.
#include "serving/remote/row_cache.h"

#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rankopt {
namespace {

// The reference row of (table, id): bytes that differ for every (table, id, byte).
void RowOf(int table, int64_t id, size_t row_bytes, uint8_t* out) {
  for (size_t b = 0; b < row_bytes; ++b) {
    out[b] =
        static_cast<uint8_t>((id * 131 + table * 17 + static_cast<int64_t>(b) * 7) ^ (id >> 8));
  }
}

TEST(RowCacheTest, HitsReturnTheRowInsertedAndMissesLeaveRowsAlone) {
  const std::vector<RowCache::TableShape> shapes = {{1000, 24}, {50, 72}};
  absl::StatusOr<std::unique_ptr<RowCache>> cache =
      RowCache::Create(shapes, RowCache::BytesToHoldAll(shapes));
  ASSERT_TRUE(cache.ok()) << cache.status();
  for (int t = 0; t < 2; ++t) {
    std::vector<uint8_t> row(shapes[t].row_bytes);
    for (int64_t id = 0; id < shapes[t].rows; id += 2) {
      RowOf(t, id, row.size(), row.data());
      (*cache)->Insert(t, id, row.data());
    }
  }
  for (int t = 0; t < 2; ++t) {
    const size_t rb = shapes[t].row_bytes;
    std::vector<int64_t> ids;
    for (int64_t id = 0; id < shapes[t].rows; ++id) ids.push_back(id);
    std::vector<uint8_t> rows(ids.size() * rb + 8, 0xAB);  // sentinel past the end
    std::vector<uint8_t> hit(ids.size(), 7);
    (*cache)->LookupBatch(t, ids, rows.data(), absl::MakeSpan(hit));
    std::vector<uint8_t> expected(rb);
    int64_t hits = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] % 2 == 1) {
        EXPECT_EQ(hit[i], 0) << "table " << t << " id " << ids[i] << " was never inserted";
        for (size_t b = 0; b < rb; ++b) ASSERT_EQ(rows[i * rb + b], 0xAB) << "a miss was written";
        continue;
      }
      hits += hit[i];
      if (hit[i] == 0) continue;
      RowOf(t, ids[i], rb, expected.data());
      ASSERT_EQ(std::memcmp(rows.data() + i * rb, expected.data(), rb), 0)
          << "table " << t << " id " << ids[i];
    }
    for (size_t b = ids.size() * rb; b < rows.size(); ++b) EXPECT_EQ(rows[b], 0xAB);
    // Sized to hold everything: (nearly) every inserted row is still there.
    EXPECT_GE(hits, (shapes[t].rows / 2) * 95 / 100) << "table " << t;
  }
  const CacheCounters c = (*cache)->Counters();
  EXPECT_EQ(c.inserts, 525u);
  EXPECT_EQ(c.hits + c.misses, 1050u);
  EXPECT_LE(c.bytes, c.capacity_bytes);
}

TEST(RowCacheTest, BudgetIsSplitByTableBytesAndBoundsWhatIsHeld) {
  // Table 0 is tiny: it is held whole; the rest goes to tables 1 and 2 by their bytes (1:2).
  const std::vector<RowCache::TableShape> shapes = {{100, 16}, {100000, 16}, {100000, 32}};
  const size_t capacity = 600000;
  absl::StatusOr<std::unique_ptr<RowCache>> cache = RowCache::Create(shapes, capacity);
  ASSERT_TRUE(cache.ok());
  EXPECT_GE((*cache)->table_capacity_rows(0), 100u);
  const double r1 = static_cast<double>((*cache)->table_capacity_rows(1)) * (16 + 9);
  const double r2 = static_cast<double>((*cache)->table_capacity_rows(2)) * (32 + 9);
  EXPECT_NEAR(r2 / r1, 2.0, 0.15);
  // Insert far more rows than fit: the cache never holds more than its sets, and the budget.
  std::vector<uint8_t> row(16);
  for (int64_t id = 0; id < 100000; ++id) {
    RowOf(1, id, 16, row.data());
    (*cache)->Insert(1, id, row.data());
  }
  const CacheCounters c = (*cache)->Counters();
  EXPECT_LE(c.bytes, capacity);
  EXPECT_EQ(c.inserts, 100000u);
  EXPECT_EQ(c.entries, (*cache)->table_capacity_rows(1));
  EXPECT_EQ(c.evictions, 100000u - c.entries);
  // Off: nothing is held, every lookup misses.
  absl::StatusOr<std::unique_ptr<RowCache>> off = RowCache::Create(shapes, 0);
  ASSERT_TRUE(off.ok());
  (*off)->Insert(0, 3, row.data());
  std::vector<int64_t> ids = {3};
  std::vector<uint8_t> out(16), hit(1, 1);
  (*off)->LookupBatch(0, ids, out.data(), absl::MakeSpan(hit));
  EXPECT_EQ(hit[0], 0);
  // Bad shapes are refused with the table named.
  const std::vector<RowCache::TableShape> bad = {{10, 8}, {10, 0}};
  absl::StatusOr<std::unique_ptr<RowCache>> refused = RowCache::Create(bad, 1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("table 1"), std::string::npos);
}

TEST(RowCacheTest, ConcurrentLookupsAndInsertsNeverReturnAnotherRow) {
  // A small cache under four threads that insert and look up overlapping ids: constant eviction,
  // and every hit must be exactly its id's row.
  const std::vector<RowCache::TableShape> shapes = {{4096, 40}};
  absl::StatusOr<std::unique_ptr<RowCache>> cache = RowCache::Create(shapes, 20000);
  ASSERT_TRUE(cache.ok());
  std::vector<int64_t> wrong(4, 0), hits(4, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      uint64_t x = 88172645463325252ull + static_cast<uint64_t>(th);
      std::vector<int64_t> ids(32);
      std::vector<uint8_t> rows(ids.size() * 40), hit(ids.size()), expected(40);
      for (int round = 0; round < 3000; ++round) {
        for (int64_t& id : ids) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          id = static_cast<int64_t>(x % 4096);
        }
        (*cache)->LookupBatch(0, ids, rows.data(), absl::MakeSpan(hit));
        for (size_t i = 0; i < ids.size(); ++i) {
          RowOf(0, ids[i], 40, expected.data());
          if (hit[i] != 0) {
            ++hits[th];
            if (std::memcmp(rows.data() + i * 40, expected.data(), 40) != 0) ++wrong[th];
          } else {
            (*cache)->Insert(0, ids[i], expected.data());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int th = 0; th < 4; ++th) {
    EXPECT_EQ(wrong[th], 0) << "thread " << th;
    EXPECT_GT(hits[th], 0) << "thread " << th;
  }
}

}  // namespace
}  // namespace rankopt
