// Kernels of TensorFlow's feature-column and tf.Transform ops, run in the graph when a model's
// feature transforms are not lifted into the feature config: string ops (AsString, StringJoin,
// Substr, StringToHashBucketFast), vocabulary tables (HashTableV2 + LookupTableFindV2/SizeV2,
// filled at import from assets or constants: graph/tf/table_init.h), numeric bucketing
// (Bucketize, BoostedTreesBucketize), sparse ops feature columns use (SparseToDense,
// SparseCross/SparseCrossHashed) and tf.Example parsing (ParseExample, ParseExampleV2,
// ParseSingleExample). Semantics follow TensorFlow's kernels; each file states them.
#ifndef RANKOPT_GRAPH_KERNELS_FEATURES_FEATURE_KERNELS_H_
#define RANKOPT_GRAPH_KERNELS_FEATURES_FEATURE_KERNELS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "graph/exec/op_kernel.h"
#include "graph/ir/table_attrs.h"

namespace rankopt {

// Registers every kernel of this family (TF op set) and their shape/FLOP entries.
absl::Status RegisterFeatureColumnKernels(KernelRegistry* registry);

namespace feature_internal {
absl::Status RegisterStringKernels(KernelRegistry* registry);
absl::Status RegisterTableKernels(KernelRegistry* registry);
absl::Status RegisterBucketKernels(KernelRegistry* registry);
absl::Status RegisterExampleKernels(KernelRegistry* registry);

// Output i as a string tensor of `dims` holding `values` (copied into the run's memory).
absl::Status OutputStrings(KernelContext* ctx, int i, absl::Span<const int64_t> dims,
                           absl::Span<const std::string> values);
}  // namespace feature_internal

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_FEATURES_FEATURE_KERNELS_H_
