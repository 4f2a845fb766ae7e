// CacheKey: the 128-bit key of the result caches (cache/sharded_cache.h).
//
// A key is XXH3_128bits of the bytes that determine a cached result, seeded with the model
// version. 128 bits because a collision silently returns another entry's value, i.e. a wrong
// score: at 10^5 lookups/s against 10^7 live keys, 64-bit keys would collide about once in 200
// days; 128-bit keys, about once in 10^19 years. Seeding with the version puts every model
// version in its own key space, so a version swap never reads the previous version's results
// (they age out of the LRU, or Clear() drops them at once).
//
// Keys are for one process: they depend on the host byte order and are not meant to be stored.
//
// Example:
//   CacheKeyBuilder b(model_version);
//   b.AddString("user");          // a namespace, when one cache holds several kinds of result
//   b.AddInt64(user_id);
//   b.AddFloats(dense_features);
//   CacheKey key = b.Build();
//
// Thread-safety: CacheKey is a value type; MakeCacheKey is safe to call concurrently; a
// CacheKeyBuilder is not shared between threads without external locking.
#ifndef RANKOPT_CACHE_CACHE_KEY_H_
#define RANKOPT_CACHE_CACHE_KEY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rankopt {

// A 128-bit hash; equal keys mean equal inputs (up to a ~2^-128 chance per pair).
struct CacheKey {
  uint64_t lo = 0;
  uint64_t hi = 0;

  friend bool operator==(const CacheKey& a, const CacheKey& b) {
    return a.lo == b.lo && a.hi == b.hi;
  }
  friend bool operator!=(const CacheKey& a, const CacheKey& b) { return !(a == b); }

  // For absl::Hash (absl::flat_hash_map<CacheKey, V> works as is).
  template <typename H>
  friend H AbslHashValue(H h, const CacheKey& key) {
    return H::combine(std::move(h), key.lo, key.hi);
  }
};

// The cheapest good hasher for containers keyed by CacheKey: its bits are already uniform, so
// `lo` serves as is. ShardedCache picks shards from `hi`, so the two never correlate.
struct CacheKeyHash {
  size_t operator()(const CacheKey& key) const { return static_cast<size_t>(key.lo); }
};

// XXH3_128bits(bytes) seeded with `model_version`.
CacheKey MakeCacheKey(uint64_t model_version, absl::string_view bytes);

// Builds a key from several fields. Each field is written with a one-byte type tag, and
// variable-length fields with their length first, so different field sequences never encode to
// the same bytes: ("ab", "c") != ("a", "bc"), AddInt64(1) != AddUint64(1) != AddFloat(...).
// Floats are hashed by their bits: -0.0f != 0.0f, and NaNs with different payloads differ (a
// cache must not merge inputs a model could tell apart).
// Build() is MakeCacheKey(model_version, <the encoded fields>); up to 208 encoded bytes stay on
// the stack (no allocation for a typical key).
class CacheKeyBuilder {
 public:
  explicit CacheKeyBuilder(uint64_t model_version) : model_version_(model_version) {}
  CacheKeyBuilder(const CacheKeyBuilder&) = delete;
  CacheKeyBuilder& operator=(const CacheKeyBuilder&) = delete;

  CacheKeyBuilder& AddInt64(int64_t v) { return AddFixed(kInt64, &v, sizeof(v)); }
  CacheKeyBuilder& AddUint64(uint64_t v) { return AddFixed(kUint64, &v, sizeof(v)); }
  CacheKeyBuilder& AddFloat(float v) { return AddFixed(kFloat, &v, sizeof(v)); }
  CacheKeyBuilder& AddDouble(double v) { return AddFixed(kDouble, &v, sizeof(v)); }
  CacheKeyBuilder& AddString(absl::string_view s) { return AddSized(kString, s.data(), s.size()); }
  CacheKeyBuilder& AddInt64s(absl::Span<const int64_t> v) {
    return AddSized(kInt64s, v.data(), v.size() * sizeof(int64_t));
  }
  CacheKeyBuilder& AddFloats(absl::Span<const float> v) {
    return AddSized(kFloats, v.data(), v.size() * sizeof(float));
  }
  // An already computed key as one field (e.g. the user key inside a user x item key).
  CacheKeyBuilder& AddKey(const CacheKey& key) {
    const uint64_t words[2] = {key.lo, key.hi};
    return AddFixed(kKey, words, sizeof(words));
  }

  // The key of the fields added so far; the builder can go on adding.
  CacheKey Build() const { return MakeCacheKey(model_version_, absl::string_view(data_, size_)); }

  // Forgets the fields (keeps the version and the buffer's memory).
  void Reset() { size_ = 0; }

 private:
  enum Tag : char {
    kInt64 = 1,
    kUint64,
    kFloat,
    kDouble,
    kString,
    kInt64s,
    kFloats,
    kKey,
  };

  CacheKeyBuilder& AddFixed(Tag tag, const void* data, size_t size) {
    Append(&tag, 1);
    Append(data, size);
    return *this;
  }
  CacheKeyBuilder& AddSized(Tag tag, const void* data, size_t size) {
    Append(&tag, 1);
    const uint64_t length = size;
    Append(&length, sizeof(length));
    Append(data, size);
    return *this;
  }
  void Append(const void* data, size_t size) {
    if (size == 0) return;  // An empty span's data() may be null: memcpy must not see it.
    if (size > capacity_ - size_) Grow(size);
    std::memcpy(data_ + size_, data, size);
    size_ += size;
  }
  void Grow(size_t more);

  uint64_t model_version_;
  char* data_ = inline_;  // inline_, or heap_ once the fields outgrow it.
  size_t size_ = 0;
  size_t capacity_ = sizeof(inline_);
  std::unique_ptr<char[]> heap_;
  char inline_[208];
};

}  // namespace rankopt

#endif  // RANKOPT_CACHE_CACHE_KEY_H_
