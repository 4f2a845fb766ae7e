// Helpers shared by the math kernels: error messages, attribute lookup with defaults, numpy
// broadcasting and axis normalization. Internal to graph/kernels/math/.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_KERNEL_UTIL_H_
#define RANKOPT_GRAPH_KERNELS_MATH_KERNEL_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "graph/exec/kernel_errors.h"
#include "graph/exec/op_kernel.h"
#include "graph/exec/tensor_view.h"

namespace rankopt {
namespace math_internal {

// NodeError, DimsString and BroadcastDims: graph/exec/kernel_errors.h, shared with the array
// kernels.
using ::rankopt::BroadcastDims;
using ::rankopt::DimsString;
using ::rankopt::NodeError;

// Integer attribute (int64 or bool), else `fallback`.
int64_t AttrInt(const Node& node, absl::string_view name, int64_t fallback);
// Float attribute (float or int64), else `fallback`.
float AttrFloat(const Node& node, absl::string_view name, float fallback);
// Bool attribute (bool or int64 != 0), else `fallback`.
bool AttrBool(const Node& node, absl::string_view name, bool fallback);
// String attribute, else `fallback`.
std::string AttrString(const Node& node, absl::string_view name, absl::string_view fallback);

// Checks that the context has between min and max present inputs (the first `min` present).
absl::Status CheckInputCount(const KernelContext& ctx, int min, int max);
// Checks the build context's input count the same way.
absl::Status CheckInputCount(const KernelBuildContext& build, int min, int max);

// An error naming input `i`, its dtype and the accepted list.
absl::Status DTypeError(const Node& node, int i, const TensorView& t, absl::string_view accepted);

// `axis` in [-rank, rank) -> [0, rank), else an error.
absl::StatusOr<int> NormalizeAxis(const Node& node, int64_t axis, int rank);

// Reads an int32/int64 tensor (axes, reduction indices) into int64 values (inline storage: no
// heap allocation for up to 6 values).
absl::StatusOr<Dims> ReadIntTensor(const Node& node, const TensorView& t, absl::string_view what);

// Strides of dims (row-major, in elements).
Dims RowMajorStrides(absl::Span<const int64_t> dims);

// An iteration plan over an output of dims `out` for an input of dims `in` broadcast to it
// (numpy rules, `in` right-aligned): adjacent dims are merged where the broadcast pattern
// allows. The innermost dim is the last. Built per call on the hot path, so it lives on the
// stack: no heap allocation for up to kMaxInlineOperands operands of rank <= 6.
struct BroadcastPlan {
  static constexpr size_t kMaxInlineOperands = 2;
  Dims dims;  // merged output dims (at least one)
  // Per operand, element strides per merged dim (0 = broadcast).
  absl::InlinedVector<Dims, kMaxInlineOperands> strides;
};
// REQUIRES: every input broadcasts to `out` (checked by BroadcastDims).
// Example: MakeBroadcastPlan(out.dims, {a.dims, b.dims}).
BroadcastPlan MakeBroadcastPlan(absl::Span<const int64_t> out,
                                absl::Span<const absl::Span<const int64_t>> inputs);

}  // namespace math_internal
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_KERNEL_UTIL_H_
