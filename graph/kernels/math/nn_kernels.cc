// RegisterNnKernels: convolution, pooling, top-k, GRU and gradient-reduction kernels.
#include "graph/kernels/math/nn_kernels.h"

#include "rankopt/status_macros.h"

namespace rankopt {

absl::Status RegisterNnKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(nn_internal::RegisterConvKernels(registry));
  RANKOPT_RETURN_IF_ERROR(nn_internal::RegisterPoolKernels(registry));
  RANKOPT_RETURN_IF_ERROR(nn_internal::RegisterTopKKernels(registry));
  RANKOPT_RETURN_IF_ERROR(nn_internal::RegisterGradKernels(registry));
  RANKOPT_RETURN_IF_ERROR(nn_internal::RegisterRnnKernels(registry));
  return absl::OkStatus();
}

}  // namespace rankopt
