#include "cache/cache_value.h"

#include <utility>

namespace rankopt {
namespace {

// make_shared's control block (two counts + vptr) and two allocator headers (object, payload).
constexpr size_t kAllocationOverheadBytes = 16 + 2 * 16;

}  // namespace

CacheValue::CacheValue(std::vector<float> floats, size_t extra_charge)
    : payload_(std::move(floats)) {
  const auto& v = std::get<std::vector<float>>(payload_);
  charge_ =
      v.capacity() * sizeof(float) + sizeof(CacheValue) + kAllocationOverheadBytes + extra_charge;
}

CacheValue::CacheValue(std::string bytes, size_t extra_charge) : payload_(std::move(bytes)) {
  const auto& s = std::get<std::string>(payload_);
  // Short strings live inside the object (SSO): no heap bytes beyond sizeof(CacheValue).
  const size_t heap = s.capacity() > 15 ? s.capacity() + 1 : 0;
  charge_ = heap + sizeof(CacheValue) + kAllocationOverheadBytes + extra_charge;
}

std::shared_ptr<const CacheValue> CacheValue::FromFloats(absl::Span<const float> floats) {
  return std::make_shared<const CacheValue>(std::vector<float>(floats.begin(), floats.end()));
}

std::shared_ptr<const CacheValue> CacheValue::FromBytes(absl::string_view bytes) {
  return std::make_shared<const CacheValue>(std::string(bytes));
}

absl::string_view CacheValue::bytes() const {
  if (const auto* v = std::get_if<std::vector<float>>(&payload_)) {
    return absl::string_view(reinterpret_cast<const char*>(v->data()), v->size() * sizeof(float));
  }
  return std::get<std::string>(payload_);
}

}  // namespace rankopt
