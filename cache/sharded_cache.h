// ShardedCache: a concurrent cache of immutable values under a byte budget.
//
// What it is for: a ranking request scores one user against hundreds of candidates, and many
// requests repeat the same users and items. User-side results (looked up by a key of the user
// features) and item-side embeddings / tower outputs (by item key) are computed once and served
// from here until evicted.
//
// Design (LevelDB's ShardedLRUCache, adapted):
//  - 2^shard_bits shards, chosen by bits 32.. of CacheKey::hi (the hash map uses `lo`). Each shard
//    is one std::mutex, an absl::flat_hash_map<CacheKey, Entry*> and an intrusive doubly linked
//    list in insertion/recency order; shards sit on their own cache lines. Two threads contend
//    only when they hit one shard at one moment: the hottest Zipf keys spread over the shards too.
//    std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which
//    then cannot see absl::Mutex's ordering and reports every guarded access (it does intercept
//    pthread mutexes); uncontended, both cost an atomic per lock and per unlock.
//  - Values are std::shared_ptr<const CacheValue>: a hit copies the pointer under the lock and
//    the caller reads the value without any lock, for as long as it likes; eviction only drops the
//    cache's reference. Evicted/replaced entries are freed after the shard's lock is released.
//  - Byte budget: an entry charges value->charge() + kEntryOverheadBytes (node + map slot), so
//    the budget bounds real memory, not only payload bytes. Each shard gets capacity >> shard_bits;
//    a value whose charge exceeds that is not cached (counted in `rejections`).
//  - Eviction: CLOCK (default) or LRU, see EvictionPolicy for the measurement.
//  - LookupBatch: a request's keys at once, one lock per shard, map slots and entries prefetched
//    a group at a time so their cache misses overlap: 1.2-4.3x the ops/s of Lookup one by one on
//    200-key batches (median 2.1x; more the larger the cache; bench/cache/cache_bench.cc).
//  - TTL (optional, per cache): an entry older than `ttl` since its Insert is a miss; Lookup drops
//    it. Expired entries that nobody looks up leave as ordinary victims of eviction (counted as
//    expirations). The clock is injectable for tests.
//  - Version invalidation: keys carry the model version (cache/cache_key.h), so a new version
//    never sees old results; Clear() drops them at once when memory matters more.
//  - Off: capacity 0. Lookup is a counted miss without a lock; Insert stores nothing.
//  - Counters are relaxed atomics per shard (a global counter would be the one cache line every
//    thread writes); Stats() sums them.
//
// Example:
//   ShardedCacheOptions options;
//   options.capacity_bytes = 256 << 20;
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<ShardedCache> cache, ShardedCache::Create(options));
//   std::shared_ptr<const CacheValue> v = cache->Lookup(key);
//   if (v == nullptr) {
//     v = std::make_shared<const CacheValue>(ComputeUserTower(request));
//     cache->Insert(key, v);
//   }
//   Use(v->floats());
//
// Thread-safety: all methods are safe to call concurrently. Values returned are immutable.
#ifndef RANKOPT_CACHE_SHARDED_CACHE_H_
#define RANKOPT_CACHE_SHARDED_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"

namespace rankopt {

// How a full shard picks the entry to drop.
//
// kClock (default): second chance. A hit only sets the entry's reference bit (no store when it is
//   already set); an Insert into a full shard looks at the oldest entry: referenced ones lose the
//   bit and go to the front, up to 64 per Insert (a bound on the time under the lock), and the
//   first unreferenced one (or the 65th) is evicted.
// kLru: the least recently used entry. A hit moves the entry to the front of its shard's list,
//   which writes the entry and its two list neighbours: two more cold cache lines per hit once the
//   shard outgrows the CPU caches.
//
// Why CLOCK: measured side by side (bench/cache/cache_bench.cc, Paired/: all caches in one run,
// same keys; 2 shared cores; Zipf(1.1) over 1M keys and Zipf(1.0) over 500k, 256 B and 1 KiB
// values, 16 MB / 128 MB / 1 GB, 1 and 2 threads, lookup then insert on miss), CLOCK did
// 1.18-1.72x the ops/s of LRU in all 24 cells (median 1.29x; the gap grows with the cache, as
// the neighbour misses do), and its hit rate was 0.1-0.9 points higher in all 24 (median +0.43):
// under Zipf, an entry hit once since the last sweep is worth keeping over a cold one just
// inserted, which LRU's strict recency order cannot tell apart.
enum class EvictionPolicy { kLru, kClock };

struct ShardedCacheOptions {
  // Byte budget over all shards (entry charges: value->charge() + kEntryOverheadBytes).
  // 0 turns the cache off.
  size_t capacity_bytes = 0;
  // log2 of the shard count, 0..16; -1 picks 4 (16 shards), fewer when a shard would get less
  // than ShardedCache::kMinAutoShardBytes (a shard must hold many values, and a value larger than
  // a shard is not cached).
  int shard_bits = -1;
  // Entries older than this since their Insert are misses. InfiniteDuration(): no TTL.
  absl::Duration ttl = absl::InfiniteDuration();
  // Monotonic nanoseconds; read only when ttl is finite. Null: CLOCK_MONOTONIC_COARSE (~5 ns a
  // read, ~4 ms resolution, plenty for TTLs of seconds). Tests inject a fake.
  std::function<int64_t()> clock;
  EvictionPolicy eviction = EvictionPolicy::kClock;
};

// A snapshot of the counters. Sums over shards read one after the other, so while other threads
// run it is not one instant (each number is exact for some moment near the call).
struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;       // Lookups that returned null, expired entries included.
  uint64_t inserts = 0;      // Values stored (replacements included).
  uint64_t evictions = 0;    // Entries dropped to make room (unexpired).
  uint64_t expirations = 0;  // Entries dropped because their TTL had passed.
  uint64_t rejections = 0;   // Inserts not stored: charge larger than a shard's capacity.
  uint64_t bytes = 0;        // Charge held now.
  uint64_t entries = 0;      // Entries held now.
  uint64_t capacity_bytes = 0;

  // hits / (hits + misses); 0 when there were no lookups.
  double hit_rate() const {
    const uint64_t lookups = hits + misses;
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
  }
};

class ShardedCache {
 public:
  // Charged per entry on top of the value's charge: the list node (links, key, value pointer,
  // charge, time: 72 bytes) with its allocator header, and a hash map slot (25 bytes) at a load
  // of 1/2 or more.
  static constexpr size_t kEntryOverheadBytes = 144;
  // The automatic shard count keeps shards at least this large.
  static constexpr size_t kMinAutoShardBytes = size_t{256} << 10;

  // Errors (InvalidArgument) for shard_bits outside -1..16 or a ttl <= 0.
  static absl::StatusOr<std::unique_ptr<ShardedCache>> Create(ShardedCacheOptions options);

  ShardedCache(const ShardedCache&) = delete;
  ShardedCache& operator=(const ShardedCache&) = delete;
  ~ShardedCache();

  // The value under `key`, or null (a miss: absent, expired, or the cache is off). A hit makes
  // the entry most recently used (kLru) or referenced (kClock).
  std::shared_ptr<const CacheValue> Lookup(const CacheKey& key);

  // values[i] = Lookup(keys[i]) for every i, with the same effects and counters, but each shard is
  // locked once per batch and its hash map slots and entries are prefetched a group of keys at a
  // time, so the cache misses of many keys overlap (a request's candidates, say). Keys may repeat.
  // What `values` held before is released first. REQUIRES: values.size() == keys.size().
  void LookupBatch(absl::Span<const CacheKey> keys,
                   absl::Span<std::shared_ptr<const CacheValue>> values);

  // Stores `value` under `key`, replacing any entry there, evicting from the key's shard until it
  // fits. Returns whether it was stored: false when the cache is off, `value` is null, or its
  // charge exceeds a shard's capacity (a rejection; an entry under `key` is then erased, so the
  // cache never serves a value the caller meant to replace).
  bool Insert(const CacheKey& key, std::shared_ptr<const CacheValue> value);

  // Removes the entry under `key`; returns whether there was one.
  bool Erase(const CacheKey& key);

  // Removes every entry (e.g. right after a model version swap, to free the old version's
  // results at once). Counters other than bytes/entries keep counting.
  void Clear();

  // Warm start: for each key without an entry, inserts compute(i) (i = its index in `keys`).
  // Present keys are skipped and not counted as lookups. compute runs without any lock held.
  // Stops at the first error from compute and returns it (earlier inserts stay). Returns the
  // number of values stored. Prefilling more than the capacity evicts the earlier keys.
  absl::StatusOr<size_t> Prefill(
      absl::Span<const CacheKey> keys,
      absl::FunctionRef<absl::StatusOr<std::shared_ptr<const CacheValue>>(size_t i)> compute);

  CacheStats Stats() const;

  bool enabled() const { return capacity_bytes_ > 0; }
  size_t capacity_bytes() const { return capacity_bytes_; }
  int num_shards() const { return static_cast<int>(shard_mask_ + 1); }

 private:
  class Shard;

  ShardedCache(const ShardedCacheOptions& options, int shard_bits);

  // Bits 32.. of `hi`, independent of the shard map's hash (`lo`).
  Shard& ShardFor(const CacheKey& key) const;
  int64_t Now() const { return ttl_ns_ == kNoTtl ? 0 : clock_(); }

  static constexpr int64_t kNoTtl = INT64_MAX;

  const size_t capacity_bytes_;
  const uint64_t shard_mask_;
  const int64_t ttl_ns_;  // kNoTtl when the cache has no TTL.
  const std::function<int64_t()> clock_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace rankopt

#endif  // RANKOPT_CACHE_SHARDED_CACHE_H_
