// CacheValue: the immutable payload of a cache entry (cache/sharded_cache.h).
//
// Values are shared, never copied: the cache hands out std::shared_ptr<const CacheValue>, so a
// reader keeps using a value after the cache evicted, replaced or cleared it, and nobody can
// change it under a reader (no torn reads, no locks held while reading).
//
// A value is either floats (an embedding, a tower output, a score vector) or bytes (anything
// serialized). Subclasses may add fields (e.g. a typed result); they must be created with
// std::make_shared<Subclass> and are destroyed through the virtual destructor.
//
// Example:
//   std::vector<float> out = ComputeUserTower(...);
//   cache.Insert(key, std::make_shared<const CacheValue>(std::move(out)));  // no copy
//
// Thread-safety: immutable after construction; safe to read from any number of threads.
#ifndef RANKOPT_CACHE_CACHE_VALUE_H_
#define RANKOPT_CACHE_CACHE_VALUE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rankopt {

class CacheValue {
 public:
  // Takes the floats (moved, not copied).
  explicit CacheValue(std::vector<float> floats) : CacheValue(std::move(floats), 0) {}
  // Takes the bytes (moved, not copied).
  explicit CacheValue(std::string bytes) : CacheValue(std::move(bytes), 0) {}

  // Copies `floats` / `bytes` into a new value.
  static std::shared_ptr<const CacheValue> FromFloats(absl::Span<const float> floats);
  static std::shared_ptr<const CacheValue> FromBytes(absl::string_view bytes);

  CacheValue(const CacheValue&) = delete;
  CacheValue& operator=(const CacheValue&) = delete;
  virtual ~CacheValue() = default;

  // The floats; empty for a bytes value.
  absl::Span<const float> floats() const {
    const auto* v = std::get_if<std::vector<float>>(&payload_);
    return v == nullptr ? absl::Span<const float>() : absl::Span<const float>(*v);
  }
  // The payload as bytes (a float value's floats, in host order).
  absl::string_view bytes() const;
  bool is_floats() const { return payload_.index() == 0; }

  // Memory this value holds, for the cache's byte budget: the payload's heap capacity, the
  // object, make_shared's control block and allocator headers, plus a subclass's extra_charge.
  size_t charge() const { return charge_; }

 protected:
  // `extra_charge`: bytes a subclass holds besides the payload.
  CacheValue(std::vector<float> floats, size_t extra_charge);
  CacheValue(std::string bytes, size_t extra_charge);

 private:
  std::variant<std::vector<float>, std::string> payload_;
  size_t charge_;
};

}  // namespace rankopt

#endif  // RANKOPT_CACHE_CACHE_VALUE_H_
