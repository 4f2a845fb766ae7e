// Registration entry points of the math kernel files, called by RegisterMathKernels.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_MATH_INTERNAL_H_
#define RANKOPT_GRAPH_KERNELS_MATH_MATH_INTERNAL_H_

#include "absl/status/status.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {
namespace math_internal {

absl::Status RegisterBinaryKernels(KernelRegistry* registry);     // binary.cc
absl::Status RegisterUnaryKernels(KernelRegistry* registry);      // unary.cc
absl::Status RegisterMatMulKernels(KernelRegistry* registry);     // matmul.cc
absl::Status RegisterReduceKernels(KernelRegistry* registry);     // reduce.cc
absl::Status RegisterNormalizeKernels(KernelRegistry* registry);  // normalize.cc
absl::Status RegisterEinsumKernels(KernelRegistry* registry);     // einsum.cc

}  // namespace math_internal
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_MATH_INTERNAL_H_
