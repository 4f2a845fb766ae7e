// Shared pieces of the array kernels (graph/kernels/array/): attribute and input readers that
// validate untrusted values, dtype dispatch, and one strided copy engine that Transpose, Slice,
// StridedSlice, Tile, Expand and Pad all reduce to. Internal to the array kernel library.
#ifndef RANKOPT_GRAPH_KERNELS_ARRAY_ARRAY_UTIL_H_
#define RANKOPT_GRAPH_KERNELS_ARRAY_ARRAY_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "graph/exec/kernel_errors.h"
#include "graph/exec/op_kernel.h"
#include "graph/exec/tensor_view.h"
#include "graph/ir/graph.h"

namespace rankopt {
namespace array_internal {

// Each file of the library registers its ops in both op sets where they exist.
absl::Status RegisterShapeKernels(KernelRegistry* registry);
absl::Status RegisterReshapeKernels(KernelRegistry* registry);
absl::Status RegisterCopyKernels(KernelRegistry* registry);
absl::Status RegisterConcatSplitKernels(KernelRegistry* registry);
absl::Status RegisterSliceKernels(KernelRegistry* registry);
absl::Status RegisterGatherKernels(KernelRegistry* registry);
absl::Status RegisterSparseKernels(KernelRegistry* registry);
// Graph inputs, constants and variables: shape functions and FLOP counts only (source_ops.cc).
absl::Status RegisterSourceOps(KernelRegistry* registry);
// _RankoptRequestRow, _RankoptBroadcastRows, _RankoptSelectColumns (request_rows.cc).
absl::Status RegisterRequestRowKernels(KernelRegistry* registry);

// A kernel whose Compute is `fn`; attributes parsed at build time ride in its captures.
// `fn` must be safe for concurrent calls (capture by value, mutate nothing).
using ComputeFn = std::function<absl::Status(KernelContext*)>;
absl::StatusOr<std::unique_ptr<OpKernel>> MakeKernel(ComputeFn fn);

// Registers `factory` under `op` in `set`.
absl::Status Add(KernelRegistry* registry, OpSet set, const char* op, KernelFactory factory);

// NodeError, DimsString and BroadcastDims: graph/exec/kernel_errors.h, shared with the math
// kernels.
using ::rankopt::BroadcastDims;
using ::rankopt::DimsString;
using ::rankopt::NodeError;

// Errors unless min <= num_inputs <= max (max < 0: unbounded).
absl::Status CheckNumInputs(const KernelContext& ctx, int min, int max);
// Errors unless input i exists and is present (not an omitted optional input).
absl::StatusOr<const TensorView*> RequiredInput(const KernelContext& ctx, int i);
// True when input i exists and is present.
bool HasInput(const KernelContext& ctx, int i);

// True for the integer dtypes (signed and unsigned, not bool).
bool IsIntegerDType(DType dtype);
bool IsFloatDType(DType dtype);  // float16, bfloat16, float32, float64

// Element i of an integer tensor as int64. REQUIRES: IsIntegerDType(t.dtype), i in range.
// uint64 values above INT64_MAX saturate to INT64_MAX.
int64_t IntAt(const TensorView& t, int64_t i);

// The values of integer input `i` (`what` names it in errors): a scalar or 1-D tensor.
absl::Status ReadIntVector(const KernelContext& ctx, int i, absl::string_view what, Dims* out);
// An integer scalar (or one-element tensor) input.
absl::StatusOr<int64_t> ReadIntScalar(const KernelContext& ctx, int i, absl::string_view what);

// Integer attribute (int64 or bool), `fallback` when absent.
int64_t AttrInt(const Node& node, absl::string_view name, int64_t fallback);
// Integer-list attribute; nullopt when absent.
std::optional<std::vector<int64_t>> AttrInts(const Node& node, absl::string_view name);
// DType attribute; nullopt when absent.
std::optional<DType> AttrDType(const Node& node, absl::string_view name);

// `axis` in [-rank, rank) mapped to [0, rank); an error naming `what` otherwise.
absl::StatusOr<int64_t> NormalizeAxis(const Node& node, int64_t axis, int64_t rank,
                                      absl::string_view what);

// Row-major element strides of `dims`.
Dims ElementStrides(absl::Span<const int64_t> dims);

inline int64_t ClampI(int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); }

// Copies `bytes` bytes; rows of up to 64 bytes (an embedding row, an attention head) are copied
// inline, without a library call each.
inline void CopyRowBytes(char* dst, const char* src, size_t bytes) {
  if (bytes > 64) {
    std::memcpy(dst, src, bytes);
    return;
  }
  size_t b = 0;
  for (; b + 16 <= bytes; b += 16) std::memcpy(dst + b, src + b, 16);
  for (; b + 4 <= bytes; b += 4) std::memcpy(dst + b, src + b, 4);
  for (; b < bytes; ++b) dst[b] = src[b];
}

inline const char* Bytes(const TensorView& t) { return static_cast<const char*>(t.data); }
inline char* MutableBytes(const TensorView& t) { return static_cast<char*>(t.data); }

// Byte strides of a dense row-major tensor.
inline Dims ByteStrides(const TensorView& t) {
  Dims s = ElementStrides(t.dims);
  for (int64_t& v : s) v *= static_cast<int64_t>(ExecElementSize(t.dtype));
  return s;
}
// Product of dims[begin, end).
int64_t Product(absl::Span<const int64_t> dims, size_t begin, size_t end);

// One output axis of a strided copy: output index o along this axis reads source index
// `index[o]` (or the fill value when index[o] < 0) at `src_stride` bytes per source index.
struct AxisMap {
  int64_t src_stride = 0;     // bytes
  absl::Span<int64_t> index;  // scratch of the running kernel (AllocateAxisMaps)
};
using AxisMaps = absl::InlinedVector<AxisMap, 6>;

// One AxisMap per output axis, maps[a].index of out_dims[a] uninitialized entries, all taken
// from ctx's scratch (valid until Compute returns): no heap allocation per call.
absl::StatusOr<AxisMaps> AllocateAxisMaps(KernelContext* ctx, absl::Span<const int64_t> out_dims);

// index[o] = start + o * step.
void FillIota(absl::Span<int64_t> index, int64_t start = 0, int64_t step = 1);

// dst[o_0, ..., o_n] = src[sum_a maps[a].src_stride * maps[a].index[o_a]], or `fill` (esize
// bytes; nullptr means zeros) where any index is negative. The output is dense row-major with
// dims maps[a].index.size(). REQUIRES: every non-negative index keeps the read inside src
// (callers validate); esize > 0.
void CopyByAxisMaps(absl::Span<const AxisMap> maps, const char* src, char* dst, size_t esize,
                    const char* fill);

// The status a Visit* call returns for a dtype it does not visit: `fallback()` when it is
// callable, so that an error message is built only on that path, else `fallback` itself.
template <typename Fallback>
absl::Status VisitFallback(Fallback&& fallback) {
  if constexpr (std::is_invocable_v<Fallback&&>) {
    return std::forward<Fallback>(fallback)();
  } else {
    return absl::Status(std::forward<Fallback>(fallback));
  }
}

// Calls f.template operator()<T>() for the C++ type of a numeric dtype; returns its result.
// `fallback` (a Status, or a callable returning one) for other dtypes (string, float16, ...).
// Example: VisitNumeric(t.dtype, visitor, [&] { return NodeError(node, "..."); }).
template <typename F, typename Fallback>
absl::Status VisitNumeric(DType dtype, F&& f, Fallback&& fallback) {
  switch (dtype) {
    case DType::kFloat32:
      return f.template operator()<float>();
    case DType::kFloat64:
      return f.template operator()<double>();
    case DType::kInt8:
      return f.template operator()<int8_t>();
    case DType::kUInt8:
      return f.template operator()<uint8_t>();
    case DType::kInt16:
      return f.template operator()<int16_t>();
    case DType::kUInt16:
      return f.template operator()<uint16_t>();
    case DType::kInt32:
      return f.template operator()<int32_t>();
    case DType::kUInt32:
      return f.template operator()<uint32_t>();
    case DType::kInt64:
      return f.template operator()<int64_t>();
    case DType::kUInt64:
      return f.template operator()<uint64_t>();
    default:
      return VisitFallback(std::forward<Fallback>(fallback));
  }
}

// IEEE half and bfloat16 conversions (round to nearest even), for Cast and fills.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);

// Element types of float16 and bfloat16 tensors, for VisitAll.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// VisitNumeric plus bool, Half and BFloat16: every fixed-width dtype.
template <typename F, typename Fallback>
absl::Status VisitAll(DType dtype, F&& f, Fallback&& fallback) {
  switch (dtype) {
    case DType::kBool:
      return f.template operator()<bool>();
    case DType::kFloat16:
      return f.template operator()<Half>();
    case DType::kBFloat16:
      return f.template operator()<BFloat16>();
    default:
      return VisitNumeric(dtype, std::forward<F>(f), std::forward<Fallback>(fallback));
  }
}

// Converts one element between any two VisitAll types without undefined behaviour: floats to
// integers saturate (NaN -> 0), anything to bool is `!= 0`, half types go through float.
template <typename To, typename From>
To ConvertValue(From v) {
  if constexpr (std::is_same_v<From, Half>) {
    return ConvertValue<To>(HalfToFloat(v.bits));
  } else if constexpr (std::is_same_v<From, BFloat16>) {
    return ConvertValue<To>(BFloat16ToFloat(v.bits));
  } else if constexpr (std::is_same_v<To, Half>) {
    return Half{FloatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return BFloat16{FloatToBFloat16(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (!(v == v)) return To(0);
    if (v <= static_cast<From>(std::numeric_limits<To>::min())) {
      return std::numeric_limits<To>::min();
    }
    // 2^digits is exact in From; anything at or above it saturates.
    const From limit =
        static_cast<From>(2.0) * static_cast<From>(std::numeric_limits<To>::max() / 2 + 1);
    if (v >= limit) return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// a + b for numeric T; integers wrap (two's complement) instead of overflowing.
template <typename T>
T WrappingAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

// Element i of a fixed-width tensor converted to T.
template <typename T>
T ValueAt(const TensorView& t, int64_t i) {
  T out{};
  (void)VisitAll(
      t.dtype,
      [&]<typename S>() {
        S s;
        std::memcpy(&s, static_cast<const char*>(t.data) + i * sizeof(S), sizeof(S));
        out = ConvertValue<T>(s);
        return absl::OkStatus();
      },
      absl::OkStatus());
  return out;
}

}  // namespace array_internal
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_ARRAY_ARRAY_UTIL_H_
