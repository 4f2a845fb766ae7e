#include "graph/exec/op_kernel.h"
#include "graph/kernels/array/array_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {

absl::Status RegisterArrayKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterShapeKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterReshapeKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterCopyKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterConcatSplitKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterSliceKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterGatherKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterSparseKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterRequestRowKernels(registry));
  RANKOPT_RETURN_IF_ERROR(array_internal::RegisterSourceOps(registry));
  return absl::OkStatus();
}

}  // namespace rankopt
