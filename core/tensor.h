// An immutable, fully shaped tensor value: graph constants, checkpoint variables, test data.
#ifndef RANKOPT_CORE_TENSOR_H_
#define RANKOPT_CORE_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace rankopt {

// Copies share the same immutable storage, so a graph with large constants copies cheaply.
// Fixed-width types are stored as little-endian bytes (owned, or external memory kept alive by an
// owner); strings as a vector of byte strings.
// Thread-safe for concurrent reads.
class Tensor {
 public:
  // An empty tensor of DType::kInvalid.
  Tensor() = default;

  // A tensor of `dtype` and `dims` whose elements are the raw bytes `bytes`.
  // Errors when dims are negative, overflow, or bytes.size() != elements * DTypeSize(dtype).
  static absl::StatusOr<Tensor> FromBytes(DType dtype, std::vector<int64_t> dims,
                                          absl::string_view bytes);
  // A fixed-width tensor viewing `bytes` without copying them (a mapped model package, say);
  // `keepalive` owns that memory and is held as long as any copy of the tensor lives (nullptr:
  // the caller guarantees the memory outlives every copy). bytes().data() is bytes.data().
  // Errors as FromBytes.
  static absl::StatusOr<Tensor> FromExternal(DType dtype, std::vector<int64_t> dims,
                                             absl::string_view bytes,
                                             std::shared_ptr<const void> keepalive);
  // A string tensor; errors when values.size() does not match the element count of dims.
  static absl::StatusOr<Tensor> FromStrings(std::vector<int64_t> dims,
                                            std::vector<std::string> values);
  // A tensor of T; errors when values.size() does not match the element count of dims.
  template <typename T>
  static absl::StatusOr<Tensor> FromValues(std::vector<int64_t> dims, absl::Span<const T> values) {
    return FromBytes(
        DTypeOf<T>(), std::move(dims),
        absl::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
  }

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t num_elements() const { return num_elements_; }

  // Raw element bytes; empty for string tensors.
  absl::string_view bytes() const;
  // Typed view. REQUIRES: dtype() == DTypeOf<T>().
  template <typename T>
  absl::Span<const T> values() const {
    absl::string_view b = bytes();
    return absl::Span<const T>(reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T));
  }
  // REQUIRES: dtype() == DType::kString.
  absl::Span<const std::string> strings() const;

  // Bytes held: element bytes, or the summed length of the strings.
  size_t ByteSize() const;

  // Same dtype, dims and element bytes.
  friend bool operator==(const Tensor& a, const Tensor& b);
  friend bool operator!=(const Tensor& a, const Tensor& b) { return !(a == b); }

 private:
  DType dtype_ = DType::kInvalid;
  std::vector<int64_t> dims_;
  int64_t num_elements_ = 0;
  // Fixed-width types: size_ element bytes at data_, which shares ownership of whatever holds
  // them (an owned string, or FromExternal's keepalive).
  std::shared_ptr<const char> data_;
  size_t size_ = 0;
  std::shared_ptr<const std::vector<std::string>> strings_;  // kString
};

}  // namespace rankopt

#endif  // RANKOPT_CORE_TENSOR_H_
