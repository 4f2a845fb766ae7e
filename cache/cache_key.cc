#include "cache/cache_key.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

// Header-only xxHash: short keys hash without a call into the shared library.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace rankopt {

CacheKey MakeCacheKey(uint64_t model_version, absl::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits_withSeed(bytes.data(), bytes.size(), model_version);
  return CacheKey{h.low64, h.high64};
}

void CacheKeyBuilder::Grow(size_t more) {
  const size_t capacity = std::max(2 * capacity_, size_ + more);
  auto heap = std::make_unique<char[]>(capacity);
  std::memcpy(heap.get(), data_, size_);
  heap_ = std::move(heap);
  data_ = heap_.get();
  capacity_ = capacity;
}

}  // namespace rankopt
