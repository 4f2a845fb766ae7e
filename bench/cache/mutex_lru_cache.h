// MutexLruCache: the obvious cache, the baseline ShardedCache (cache/sharded_cache.h) is measured
// against. One std::mutex around a std::unordered_map<CacheKey, list iterator> and a std::list in
// recency order; byte capacity with the same charges as ShardedCache (value->charge() +
// ShardedCache::kEntryOverheadBytes), so at equal capacity both hold the same entries and their
// hit rates compare. Evicted values are released under the lock, as the straightforward code does.
//
// Thread-safety: all methods are safe to call concurrently (one lock serializes them).
#ifndef RANKOPT_BENCH_CACHE_MUTEX_LRU_CACHE_H_
#define RANKOPT_BENCH_CACHE_MUTEX_LRU_CACHE_H_

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "cache/sharded_cache.h"

namespace rankopt {

class MutexLruCache {
 public:
  explicit MutexLruCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The value under `key` or null; a hit moves the entry to the front.
  std::shared_ptr<const CacheValue> Lookup(const CacheKey& key) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = map_.find(key);
    if (it == map_.end()) {
      ++misses_;
      return nullptr;
    }
    list_.splice(list_.begin(), list_, it->second);
    ++hits_;
    return it->second->value;
  }

  // Stores or replaces; evicts from the back until it fits. False when the value alone exceeds
  // the capacity (an entry under `key` is erased then).
  bool Insert(const CacheKey& key, std::shared_ptr<const CacheValue> value) {
    const size_t charge = value->charge() + ShardedCache::kEntryOverheadBytes;
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = map_.find(key); it != map_.end()) {
      usage_ -= it->second->charge;
      list_.erase(it->second);
      map_.erase(it);
    }
    if (charge > capacity_) return false;
    while (usage_ + charge > capacity_) {
      usage_ -= list_.back().charge;
      map_.erase(list_.back().key);
      list_.pop_back();
    }
    list_.push_front(Node{key, std::move(value), charge});
    map_.emplace(key, list_.begin());
    usage_ += charge;
    return true;
  }

  size_t usage() const {
    std::lock_guard<std::mutex> lock(mu_);
    return usage_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }
  size_t hits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }
  size_t misses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return misses_;
  }

 private:
  struct Node {
    CacheKey key;
    std::shared_ptr<const CacheValue> value;
    size_t charge;
  };

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Node> list_;
  std::unordered_map<CacheKey, std::list<Node>::iterator, CacheKeyHash> map_;
  size_t usage_ = 0;
  size_t hits_ = 0;
  size_t misses_ = 0;
};

}  // namespace rankopt

#endif  // RANKOPT_BENCH_CACHE_MUTEX_LRU_CACHE_H_
