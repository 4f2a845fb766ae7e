// RowCache: remote tables' rows kept local, compactly, in front of the Redis Cluster.
//
// Why not cache/sharded_cache.h: it charges ~250 bytes of bookkeeping per entry (list node, map
// slot, shared_ptr control block, the value object) and a hit bumps a shared reference count that
// two scoring threads bounce between cores. An embedding row is 24-140 bytes, so a byte budget
// there held ~10x fewer rows than its payload suggests. Here a row costs its bytes plus its 8-byte
// id (and 1/8 of an 8-byte set header): a 10% budget holds ~8% of an int8 dim-16 table's rows.
//
// Layout: per table, an array of 8-way sets; a set is one header (a spin lock, 8 reference bits,
// a CLOCK hand), 8 ids (-1: empty) and 8 rows inline. An id's set is a multiplicative hash of the
// id. Lookup copies the row out under the set's lock (one atomic exchange, uncontended unless two
// threads want the same set at once); Insert fills an empty way, else evicts the first way whose
// reference bit is clear, clearing bits as the hand passes (CLOCK within the set: a row hit since
// the hand last passed survives one more sweep).
//
// Budget: small tables first are held whole (with slack for uneven sets) while each costs no more
// than an equal share of what is left: few rows, each read by many requests. The rest is split
// over the other tables in proportion to their bytes (rows * row_bytes), none getting more than
// what holds all its rows; what a capped table leaves goes to the others the same way.
//
// Thread-safety: all methods are safe to call concurrently.
#ifndef RANKOPT_SERVING_REMOTE_ROW_CACHE_H_
#define RANKOPT_SERVING_REMOTE_ROW_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "rankopt/model_stats.h"

namespace rankopt {

class RowCache {
 public:
  struct TableShape {
    int64_t rows = 0;      // ids are in [0, rows)
    size_t row_bytes = 0;  // > 0
  };
  static constexpr int kWays = 8;

  // Errors (InvalidArgument) for a table with row_bytes 0 or rows < 0. capacity_bytes 0: every
  // lookup misses and nothing is stored.
  static absl::StatusOr<std::unique_ptr<RowCache>> Create(absl::Span<const TableShape> tables,
                                                          size_t capacity_bytes);
  ~RowCache();
  RowCache(const RowCache&) = delete;
  RowCache& operator=(const RowCache&) = delete;

  // The bytes a cache needs to hold every row of `tables` (what a "100%" cache is).
  static size_t BytesToHoldAll(absl::Span<const TableShape> tables);

  // For each i: when (table, ids[i]) is cached, copies its row to rows + i * row_bytes and sets
  // hit[i] = 1; else hit[i] = 0 and that row is left alone. REQUIRES: 0 <= ids[i] < rows,
  // hit.size() == ids.size(), `rows` holds ids.size() rows.
  void LookupBatch(int table, absl::Span<const int64_t> ids, uint8_t* rows,
                   absl::Span<uint8_t> hit);
  // Stores `row` (row_bytes of table) under (table, id), replacing any copy there.
  void Insert(int table, int64_t id, const uint8_t* row);

  CacheCounters Counters() const;
  size_t table_capacity_rows(int table) const;

 private:
  struct Table;
  RowCache() = default;

  std::vector<std::unique_ptr<Table>> tables_;
  size_t capacity_bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0}, entries_{0};
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_REMOTE_ROW_CACHE_H_
