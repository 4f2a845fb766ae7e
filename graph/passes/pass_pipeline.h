// The optimization levels: an explicit, ordered pass list per level (ORT's
// graph_transformer_utils.cc), printable for reports, with passes a user can turn off by name.
//
// Example:
//   Graph optimized(graph.format());
//   RANKOPT_ASSIGN_OR_RETURN(std::vector<PassReport> reports,
//                            OptimizeGraph(graph, OptLevel::kO1, {.outputs = {"prob"}},
//                                          &optimized));
//   for (const PassReport& r : reports) std::cout << FormatPassReport(r);
//
// OptimizeOptions::after_pass sees every intermediate graph (`rankopt optimize` times each one).
#ifndef RANKOPT_GRAPH_PASSES_PASS_PIPELINE_H_
#define RANKOPT_GRAPH_PASSES_PASS_PIPELINE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

enum class OptLevel {
  kO0,  // the graph as imported
  kO1,  // prune, constant folding, BatchNorm folding, MatMul fusion, embedding bags and
        // lookups, prune
  kO2,  // O1 plus the request-level split: attention fused, the user side once per request
};

// "O0", "O1", "O2".
absl::string_view OptLevelName(OptLevel level);
// "0"/"O0"/"o0" -> kO0, ...; an error lists the levels.
absl::StatusOr<OptLevel> ParseOptLevel(absl::string_view text);

// Pass names, in the order the level runs them ("prune", "constant_folding",
// "fold_batch_norm", "fuse_matmul_bias_activation", "embedding_bag", "embedding_lookup",
// "final_prune"; O2 adds "fuse_attention_pooling", "split_first_dense" and "request_level"
// before the MatMul fusion). Names are unique.
std::vector<std::string> PassNames(OptLevel level);

struct OptimizeOptions {
  // Tensors the optimized graph must compute (as Graph::ResolveTensor takes them). Empty: the
  // graph outputs, else the signature outputs, else the nodes nothing reads.
  std::vector<std::string> outputs;
  // Pass names (PassNames) to skip; an unknown name is an error.
  std::vector<std::string> disabled_passes;
  // Constant folding: the largest tensor it writes into the graph.
  int64_t max_constant_bytes = int64_t{64} << 20;
  // Kernels constant folding evaluates with; nullptr: KernelRegistry::Default().
  const KernelRegistry* registry = nullptr;
  // O2: graph inputs that are the same for every candidate of a request (user and context
  // features; see graph/passes/request_level.h). Empty: O2 adds nothing to O1.
  std::vector<RequestLevelInput> request_inputs;
  // Optional observer, called after each pass that reports (in order, the skipped one included)
  // with its report and the graph as that pass left it (valid during the call only). An error
  // stops OptimizeGraph, which returns it with the pass's name leading.
  std::function<absl::Status(const PassReport& report, const Graph& after)> after_pass;
};

// Runs the passes of `level` in order on `in` and writes the result to `out` (which may be
// `&in`; untouched on error). One report per pass run (a disabled pass reports nothing), in
// order. Errors: an unknown disabled pass, an output that does not resolve, a failing pass
// (its name leads the message).
absl::StatusOr<std::vector<PassReport>> OptimizeGraph(const Graph& in, OptLevel level,
                                                      const OptimizeOptions& options, Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_PASS_PIPELINE_H_
