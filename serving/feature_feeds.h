// Graph inputs from a transformed feature request: the bridge between features/ and the
// executor. The graph is the exported training graph, so every input has one row per candidate;
// request-level (user/context) columns are repeated into every row here, except for the inputs
// FeedOptions::one_row_inputs names: an O2 graph reads those only through _RankoptRequestRow
// (row 0), so they are fed with one row and the runner passes them whole to every chunk.
#ifndef RANKOPT_SERVING_FEATURE_FEEDS_H_
#define RANKOPT_SERVING_FEATURE_FEEDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/execution_plan.h"

namespace rankopt {

// The tensors fed for one request; views point into `buffers`. Reuse one across requests of
// the same shape to avoid allocation.
struct GraphFeeds {
  std::vector<std::vector<char>> buffers;
  std::vector<NamedTensorView> views;
};

struct FeedOptions {
  // Inputs fed with one row ([1] or [1, width]: row 0) whatever the candidate count. Only for
  // inputs that user/context features alone make and that the graph reads only through
  // _RankoptRequestRow without `columns` (the whole request-level inputs of an O2 graph).
  std::vector<std::string> one_row_inputs;
};

// Fills `feeds` with one tensor per plan input from the column of the same name: dims [N] or
// [N, width] (N = candidates), the input's dtype (int64 ids narrowed to int32 with a range
// check; float32 values widened to float64 where declared). Errors name the input: no column
// for it, a rank or dtype the column cannot provide, an id that does not fit.
absl::Status FeedsFromTransformedRequest(const TransformedRequest& request,
                                         absl::Span<const ExecutionPlan::Input> inputs,
                                         GraphFeeds* feeds, const FeedOptions& options = {});

}  // namespace rankopt

#endif  // RANKOPT_SERVING_FEATURE_FEEDS_H_
