// What a user does with a model that imported (rankopt summarize, planning it for a service),
// done by every model fuzz target so the analyses and the planner see fuzzed graphs too.
#ifndef RANKOPT_FUZZ_GRAPH_FOLLOW_UP_H_
#define RANKOPT_FUZZ_GRAPH_FOLLOW_UP_H_

#include "graph/ir/graph.h"

namespace rankopt {

// Graph::Validate, shape inference (unknown batch and batch 1), the summary in both report
// forms, and ExecutionPlan::Create for the default outputs. Errors are expected and ignored;
// only crashes, leaks and UB count.
void FuzzGraphFollowUp(const Graph& graph);

}  // namespace rankopt

#endif  // RANKOPT_FUZZ_GRAPH_FOLLOW_UP_H_
