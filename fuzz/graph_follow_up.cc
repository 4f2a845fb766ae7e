#include "fuzz/graph_follow_up.h"

#include <memory>

#include "graph/analysis/graph_summary.h"
#include "graph/analysis/shape_inference.h"
#include "graph/exec/execution_plan.h"

namespace rankopt {

void FuzzGraphFollowUp(const Graph& graph) {
  if (!graph.Validate().ok()) return;  // importers validate; nothing below may assume more
  (void)InferShapes(graph);
  (void)InferShapes(graph, /*batch_size=*/1);
  absl::StatusOr<GraphSummaryProto> summary = SummarizeGraph(graph);
  if (summary.ok()) {
    (void)FormatSummaryText(*summary);
    (void)FormatSummaryJson(*summary);
  }
  // A cap keeps a plan's const folding or arena from asking for gigabytes on a fuzzed shape.
  PlanOptions options;
  options.memory_cap_bytes = size_t{256} << 20;
  (void)ExecutionPlan::Create(graph, options);
}

}  // namespace rankopt
