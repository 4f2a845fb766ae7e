#include "graph/exec/default_kernels.h"

#include "absl/strings/str_cat.h"
#include "graph/exec/op_kernel.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/kernels/features/feature_kernels.h"
#include "graph/kernels/math/fused_kernels.h"
#include "graph/kernels/math/nn_kernels.h"

namespace rankopt {
namespace {

struct DefaultKernels {
  KernelRegistry registry;
  absl::Status status;
};

const DefaultKernels& GetDefaultKernels() {
  // Built once, thread-safely (a function-local static), never destroyed: plans may outlive
  // static destruction order.
  static const DefaultKernels* const kernels = [] {
    auto* k = new DefaultKernels;
    if (absl::Status s = RegisterMathKernels(&k->registry); !s.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in math kernels failed to register: ", s.message()));
    }
    if (absl::Status s = RegisterArrayKernels(&k->registry); !s.ok() && k->status.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in array kernels failed to register: ", s.message()));
    }
    if (absl::Status s = RegisterEmbeddingKernels(&k->registry); !s.ok() && k->status.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in embedding kernels failed to register: ", s.message()));
    }
    if (absl::Status s = RegisterNnKernels(&k->registry); !s.ok() && k->status.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in conv/pool/top-k kernels failed to register: ", s.message()));
    }
    if (absl::Status s = RegisterFusedKernels(&k->registry); !s.ok() && k->status.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in fused kernels failed to register: ", s.message()));
    }
    if (absl::Status s = RegisterFeatureColumnKernels(&k->registry); !s.ok() && k->status.ok()) {
      k->status = absl::InternalError(
          absl::StrCat("the built-in feature-column kernels failed to register: ", s.message()));
    }
    return k;
  }();
  return *kernels;
}

}  // namespace

const KernelRegistry& KernelRegistry::Default() { return GetDefaultKernels().registry; }

absl::Status DefaultKernelsStatus() { return GetDefaultKernels().status; }

}  // namespace rankopt
