#include "cache/sharded_cache.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

struct ListNode {
  ListNode* prev = this;
  ListNode* next = this;
};

struct Entry : ListNode {
  Entry(const CacheKey& k, std::shared_ptr<const CacheValue> v, size_t c, int64_t t)
      : key(k), value(std::move(v)), charge(c), insert_ns(t) {}

  CacheKey key;
  std::shared_ptr<const CacheValue> value;
  size_t charge;
  int64_t insert_ns;        // Clock reading at Insert; 0 without a TTL.
  bool referenced = false;  // kClock: hit since the hand last passed.
  bool dropped = false;     // Out of the map and list, to be freed (LookupBatch's repeats see it).
};

// Node + malloc header + a flat_hash_map slot (CacheKey, Entry*, control byte) at load >= 1/2.
static_assert(sizeof(Entry) + 16 + 2 * (sizeof(CacheKey) + sizeof(Entry*) + 1) <=
                  ShardedCache::kEntryOverheadBytes,
              "kEntryOverheadBytes no longer covers an entry's bookkeeping");

void Unlink(ListNode* n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
}

void PushFront(ListNode* head, ListNode* n) {
  n->prev = head;
  n->next = head->next;
  head->next->prev = n;
  head->next = n;
}

// Counters are written under the shard's mutex (load + store: no locked instruction needed) and
// read by Stats() without it; an off cache bumps `misses` with fetch_add and never locks.
void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

int64_t CoarseMonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// kClock: referenced entries one Insert may move back to the front before it evicts a
// referenced one anyway (~100 ns each when the entries are cold).
constexpr int kMaxSecondChances = 64;

// Entries to free once the shard's lock is released (freeing a value can be a large free()).
using Garbage = absl::InlinedVector<Entry*, 4>;

void Free(const Garbage& garbage) {
  for (Entry* e : garbage) delete e;
}

}  // namespace

class alignas(64) ShardedCache::Shard {
 public:
  Shard() = default;
  ~Shard() { DeleteList(head_.next); }

  void Init(size_t capacity, int64_t ttl_ns, EvictionPolicy eviction) {
    capacity_ = capacity;
    ttl_ns_ = ttl_ns;
    clock_policy_ = eviction == EvictionPolicy::kClock;
  }
  size_t capacity() const { return capacity_; }

  std::shared_ptr<const CacheValue> Lookup(const CacheKey& key, int64_t now) {
    Garbage garbage;
    std::shared_ptr<const CacheValue> result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = map_.find(key);
      if (it == map_.end()) {
        Bump(misses_);
        return nullptr;
      }
      Entry* e = it->second;
      if (Expired(*e, now)) {
        map_.erase(it);
        Drop(e);
        Bump(expirations_);
        Bump(misses_);
        garbage.push_back(e);
      } else {
        Touch(e);
        Bump(hits_);
        result = e->value;
      }
    }
    Free(garbage);
    return result;
  }

  // values[i] for i in `indices` (all of this shard's keys in the batch).
  void LookupBatch(absl::Span<const CacheKey> keys, absl::Span<const uint32_t> indices, int64_t now,
                   absl::Span<std::shared_ptr<const CacheValue>> values) {
    // Stages of kGroup keys: prefetch map slots; find and prefetch entries; then read entries.
    // (Prefetching the values' shared_ptr control blocks as a third stage measured no faster.)
    constexpr size_t kGroup = 16;
    Entry* found[kGroup];
    Garbage garbage;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t begin = 0; begin < indices.size(); begin += kGroup) {
        const size_t n = std::min(kGroup, indices.size() - begin);
        const uint32_t* idx = indices.data() + begin;
        for (size_t j = 0; j < n; ++j) map_.prefetch(keys[idx[j]]);
        for (size_t j = 0; j < n; ++j) {
          const auto it = map_.find(keys[idx[j]]);
          found[j] = it == map_.end() ? nullptr : it->second;
          if (found[j] != nullptr) __builtin_prefetch(found[j]);
        }
        for (size_t j = 0; j < n; ++j) {
          Entry* e = found[j];
          if (e != nullptr && !e->dropped && Expired(*e, now)) {
            map_.erase(e->key);
            Drop(e);
            Bump(expirations_);
            garbage.push_back(e);
          }
          if (e == nullptr || e->dropped) {
            Bump(misses_);
            values[idx[j]] = nullptr;
            continue;
          }
          Touch(e);
          Bump(hits_);
          values[idx[j]] = e->value;
        }
      }
    }
    Free(garbage);
  }

  // REQUIRES: e->charge <= capacity().
  void Insert(Entry* e, int64_t now) {
    Garbage garbage;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto [it, inserted] = map_.try_emplace(e->key, e);
      if (!inserted) {
        Entry* old = it->second;
        it->second = e;
        Drop(old);
        garbage.push_back(old);
      }
      // Make room before linking `e`, so the sweep never picks the entry being inserted.
      int second_chances = 0;
      while (usage_ + e->charge > capacity_) {
        Entry* victim = static_cast<Entry*>(head_.prev);
        // Bounded, so one Insert never walks a whole shard of referenced entries under the lock.
        if (clock_policy_ && victim->referenced && second_chances < kMaxSecondChances) {
          victim->referenced = false;
          Unlink(victim);
          PushFront(&head_, victim);
          ++second_chances;
          continue;
        }
        map_.erase(victim->key);
        Drop(victim);
        Bump(Expired(*victim, now) ? expirations_ : evictions_);
        garbage.push_back(victim);
      }
      PushFront(&head_, e);
      usage_ += e->charge;
      Bump(inserts_);
      Publish();
    }
    Free(garbage);
  }

  bool Erase(const CacheKey& key) {
    Entry* e = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = map_.find(key);
      if (it == map_.end()) return false;
      e = it->second;
      map_.erase(it);
      Drop(e);
    }
    delete e;
    return true;
  }

  // An Insert that does not fit: counts it and erases what `key` held.
  void Reject(const CacheKey& key) {
    Entry* e = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Bump(rejections_);
      const auto it = map_.find(key);
      if (it == map_.end()) return;
      e = it->second;
      map_.erase(it);
      Drop(e);
    }
    delete e;
  }

  bool Contains(const CacheKey& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.contains(key);
  }

  void Clear() {
    absl::flat_hash_map<CacheKey, Entry*, CacheKeyHash> map;
    ListNode* first = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      map.swap(map_);
      if (head_.next != &head_) {
        first = head_.next;
        head_.prev->next = nullptr;  // The detached chain ends in null.
        head_.prev = head_.next = &head_;
      }
      usage_ = 0;
      Publish();
    }
    DeleteList(first);
  }

  void AddStats(CacheStats& s) const {
    s.hits += hits_.load(std::memory_order_relaxed);
    s.misses += misses_.load(std::memory_order_relaxed);
    s.inserts += inserts_.load(std::memory_order_relaxed);
    s.evictions += evictions_.load(std::memory_order_relaxed);
    s.expirations += expirations_.load(std::memory_order_relaxed);
    s.rejections += rejections_.load(std::memory_order_relaxed);
    s.bytes += bytes_.load(std::memory_order_relaxed);
    s.entries += entries_.load(std::memory_order_relaxed);
  }

  // An off cache's miss: no lock, so an atomic add.
  void CountOffMiss() { misses_.fetch_add(1, std::memory_order_relaxed); }

 private:
  bool Expired(const Entry& e, int64_t now) const {
    return ttl_ns_ != kNoTtl && now - e.insert_ns >= ttl_ns_;
  }

  // A hit: most recently used (kLru) or referenced (kClock).
  void Touch(Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (clock_policy_) {
      if (!e->referenced) e->referenced = true;  // Hot entries: no store, no dirty line.
    } else if (head_.next != e) {
      Unlink(e);
      PushFront(&head_, e);
    }
  }

  // Unlinks `e` (already out of map_) and takes back its charge.
  void Drop(Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    e->dropped = true;
    Unlink(e);
    usage_ -= e->charge;
    Publish();
  }

  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    bytes_.store(usage_, std::memory_order_relaxed);
    entries_.store(map_.size(), std::memory_order_relaxed);
  }

  // Deletes the entries from `n` on, up to a null next or the sentinel.
  void DeleteList(ListNode* n) {
    while (n != nullptr && n != &head_) {
      ListNode* next = n->next;
      delete static_cast<Entry*>(n);
      n = next;
    }
  }

  // The fields a Lookup touches first share one cache line.
  // std::mutex, not absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, so TSan cannot
  // see absl::Mutex's synchronization and flags every access under it; it intercepts pthreads.
  // Uncontended both cost one atomic exchange per lock and per unlock.
  std::mutex mu_;
  absl::flat_hash_map<CacheKey, Entry*, CacheKeyHash> map_ ABSL_GUARDED_BY(mu_);
  ListNode head_ ABSL_GUARDED_BY(mu_);  // next: most recently used/inserted; prev: the oldest.
  size_t usage_ ABSL_GUARDED_BY(mu_) = 0;
  size_t capacity_ = 0;
  int64_t ttl_ns_ = kNoTtl;
  bool clock_policy_ = false;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> inserts_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> expirations_{0};
  std::atomic<uint64_t> rejections_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> entries_{0};
};

absl::StatusOr<std::unique_ptr<ShardedCache>> ShardedCache::Create(ShardedCacheOptions options) {
  int bits = options.shard_bits;
  if (bits < -1 || bits > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShardedCacheOptions.shard_bits is ", bits,
                     "; expected -1 (automatic) or 0..16 (1 to 65536 shards)"));
  }
  if (options.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShardedCacheOptions.ttl is ", absl::FormatDuration(options.ttl),
                     "; expected a positive duration, or absl::InfiniteDuration() for no TTL"));
  }
  if (bits == -1) {
    bits = 4;
    // An off cache keeps 16 shards: they spread its miss counters.
    while (options.capacity_bytes > 0 && bits > 0 &&
           (options.capacity_bytes >> bits) < kMinAutoShardBytes) {
      --bits;
    }
  }
  if (options.clock == nullptr) options.clock = CoarseMonotonicNanos;
  return std::unique_ptr<ShardedCache>(new ShardedCache(options, bits));
}

ShardedCache::ShardedCache(const ShardedCacheOptions& options, int shard_bits)
    : capacity_bytes_(options.capacity_bytes),
      shard_mask_((uint64_t{1} << shard_bits) - 1),
      ttl_ns_(options.ttl == absl::InfiniteDuration() ? kNoTtl
                                                      : absl::ToInt64Nanoseconds(options.ttl)),
      clock_(options.clock),
      shards_(new Shard[size_t{1} << shard_bits]) {
  for (size_t i = 0; i <= shard_mask_; ++i) {
    shards_[i].Init(capacity_bytes_ >> shard_bits, ttl_ns_, options.eviction);
  }
}

ShardedCache::~ShardedCache() = default;

ShardedCache::Shard& ShardedCache::ShardFor(const CacheKey& key) const {
  return shards_[(key.hi >> 32) & shard_mask_];
}

std::shared_ptr<const CacheValue> ShardedCache::Lookup(const CacheKey& key) {
  Shard& shard = ShardFor(key);
  if (capacity_bytes_ == 0) {
    shard.CountOffMiss();
    return nullptr;
  }
  return shard.Lookup(key, Now());
}

void ShardedCache::LookupBatch(absl::Span<const CacheKey> keys,
                               absl::Span<std::shared_ptr<const CacheValue>> values) {
  const size_t n = keys.size();
  if (capacity_bytes_ == 0) {
    for (size_t i = 0; i < n; ++i) {
      ShardFor(keys[i]).CountOffMiss();
      values[i] = nullptr;
    }
    return;
  }
  // Whatever the caller left in `values` is released here, not under a shard's lock.
  for (std::shared_ptr<const CacheValue>& v : values) v.reset();
  // Counting sort of the key indices by shard; each shard's run is then looked up under one lock.
  const size_t shards = shard_mask_ + 1;
  absl::InlinedVector<uint32_t, 512> shard_of(n);
  absl::InlinedVector<uint32_t, 512> order(n);
  absl::InlinedVector<uint32_t, 65> start(shards + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    shard_of[i] = static_cast<uint32_t>((keys[i].hi >> 32) & shard_mask_);
    ++start[shard_of[i] + 1];
  }
  for (size_t s = 0; s < shards; ++s) start[s + 1] += start[s];
  absl::InlinedVector<uint32_t, 65> next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < n; ++i) order[next[shard_of[i]]++] = static_cast<uint32_t>(i);
  const int64_t now = Now();
  for (size_t s = 0; s < shards; ++s) {
    if (start[s] == start[s + 1]) continue;
    shards_[s].LookupBatch(
        keys, absl::Span<const uint32_t>(order.data() + start[s], start[s + 1] - start[s]), now,
        values);
  }
}

bool ShardedCache::Insert(const CacheKey& key, std::shared_ptr<const CacheValue> value) {
  if (capacity_bytes_ == 0 || value == nullptr) return false;
  Shard& shard = ShardFor(key);
  const size_t charge = value->charge() + kEntryOverheadBytes;
  if (charge > shard.capacity()) {
    shard.Reject(key);
    return false;
  }
  // Allocated before taking the lock.
  auto* e = new Entry(key, std::move(value), charge, Now());
  shard.Insert(e, e->insert_ns);
  return true;
}

bool ShardedCache::Erase(const CacheKey& key) {
  if (capacity_bytes_ == 0) return false;
  return ShardFor(key).Erase(key);
}

void ShardedCache::Clear() {
  for (size_t i = 0; i <= shard_mask_; ++i) shards_[i].Clear();
}

absl::StatusOr<size_t> ShardedCache::Prefill(
    absl::Span<const CacheKey> keys,
    absl::FunctionRef<absl::StatusOr<std::shared_ptr<const CacheValue>>(size_t i)> compute) {
  size_t stored = 0;
  if (capacity_bytes_ == 0) return stored;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (ShardFor(keys[i]).Contains(keys[i])) continue;
    absl::StatusOr<std::shared_ptr<const CacheValue>> value = compute(i);
    if (!value.ok()) return value.status();
    if (Insert(keys[i], *std::move(value))) ++stored;
  }
  return stored;
}

CacheStats ShardedCache::Stats() const {
  CacheStats s;
  s.capacity_bytes = capacity_bytes_;
  for (size_t i = 0; i <= shard_mask_; ++i) shards_[i].AddStats(s);
  return s;
}

}  // namespace rankopt
