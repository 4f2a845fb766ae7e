// RegisterMathKernels: elementwise, activations, MatMul/Gemm/BatchMatMul, reductions, softmax
// and normalization kernels, for both op sets.
#include "graph/exec/op_kernel.h"
#include "graph/kernels/math/math_internal.h"
#include "rankopt/status_macros.h"

namespace rankopt {

absl::Status RegisterMathKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterBinaryKernels(registry));
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterUnaryKernels(registry));
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterMatMulKernels(registry));
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterReduceKernels(registry));
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterNormalizeKernels(registry));
  RANKOPT_RETURN_IF_ERROR(math_internal::RegisterEinsumKernels(registry));
  return absl::OkStatus();
}

}  // namespace rankopt
