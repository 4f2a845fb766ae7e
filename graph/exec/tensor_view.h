// A tensor during execution: dtype, dims and a pointer to dense row-major element bytes owned
// elsewhere (the run's arena, a graph constant, or the caller's feed). A string tensor's elements
// are absl::string_view (their bytes live in the run's arena, a constant or the feed, at least as
// long as the view); a resource (a TF table handle) is one pointer to an object its kernel owns.
#ifndef RANKOPT_GRAPH_EXEC_TENSOR_VIEW_H_
#define RANKOPT_GRAPH_EXEC_TENSOR_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace rankopt {

using Dims = absl::InlinedVector<int64_t, 6>;

// Bytes per element while executing: DTypeSize, sizeof(absl::string_view) for kString, a pointer
// for kResource; 0 for kVariant and kInvalid.
inline size_t ExecElementSize(DType dtype) {
  if (dtype == DType::kString) return sizeof(absl::string_view);
  if (dtype == DType::kResource) return sizeof(const void*);
  return DTypeSize(dtype);
}

struct TensorView {
  DType dtype = DType::kInvalid;  // kInvalid: an omitted optional input (ONNX "")
  Dims dims;
  void* data = nullptr;

  bool present() const { return dtype != DType::kInvalid; }
  int rank() const { return static_cast<int>(dims.size()); }
  // Product of dims (1 for a scalar). Dims were checked for overflow when the tensor was made.
  int64_t NumElements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  size_t ByteSize() const { return static_cast<size_t>(NumElements()) * ExecElementSize(dtype); }
  // REQUIRES: dtype == DTypeOf<T>().
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data);
  }
  template <typename T>
  absl::Span<const T> values() const {
    return absl::Span<const T>(static_cast<const T*>(data), static_cast<size_t>(NumElements()));
  }
  // REQUIRES: dtype == DType::kString.
  absl::Span<const absl::string_view> strings() const { return values<absl::string_view>(); }
};

// "[2,50,32] float32", for error messages.
std::string DescribeTensor(const TensorView& t);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_TENSOR_VIEW_H_
