#include "graph/kernels/features/feature_kernels.h"

#include <cstring>

#include "graph/kernels/array/array_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace feature_internal {

absl::Status OutputStrings(KernelContext* ctx, int i, absl::Span<const int64_t> dims,
                           absl::Span<const std::string> values) {
  RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(i, DType::kString, dims));
  if (out.NumElements() != static_cast<int64_t>(values.size())) {
    return NodeError(ctx->node(), "output ", i, " has ", out.NumElements(), " elements but ",
                     values.size(), " strings were made");
  }
  size_t total = 0;
  for (const std::string& s : values) total += s.size();
  char* bytes = nullptr;
  if (total > 0) {
    RANKOPT_ASSIGN_OR_RETURN(bytes, ctx->AllocateStringBytes(total));
  }
  auto* dst = out.data_as<absl::string_view>();
  size_t at = 0;
  for (size_t k = 0; k < values.size(); ++k) {
    if (!values[k].empty()) std::memcpy(bytes + at, values[k].data(), values[k].size());
    dst[k] = absl::string_view(values[k].empty() ? "" : bytes + at, values[k].size());
    at += values[k].size();
  }
  return absl::OkStatus();
}

}  // namespace feature_internal

absl::Status RegisterFeatureColumnKernels(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(feature_internal::RegisterStringKernels(registry));
  RANKOPT_RETURN_IF_ERROR(feature_internal::RegisterTableKernels(registry));
  RANKOPT_RETURN_IF_ERROR(feature_internal::RegisterBucketKernels(registry));
  RANKOPT_RETURN_IF_ERROR(feature_internal::RegisterExampleKernels(registry));
  return absl::OkStatus();
}

}  // namespace rankopt
