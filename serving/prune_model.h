// `rankopt prune` as a library call: load a model file, keep what the named outputs need
// (graph/passes/prune.h), and write it back in the format it came from.
//
// Example:
//   PassOptions options;
//   options.outputs = {"Sigmoid"};
//   RANKOPT_ASSIGN_OR_RETURN(PruneModelResult result,
//                            PruneModelFile("model.pb", options, "pruned.pb"));
//   std::cout << FormatPassReport(result.report);
#ifndef RANKOPT_SERVING_PRUNE_MODEL_H_
#define RANKOPT_SERVING_PRUNE_MODEL_H_

#include <string>

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

struct PruneModelResult {
  PassReport report;
  ModelFormat format = ModelFormat::kOnnx;  // of the model read and written
};

// Loads `in_path` (a GraphDef, SavedModel or ONNX file), prunes it to options.outputs (cut at
// options.inputs) and saves it to `out_path` in the same format. Errors (nothing written): out_path
// names in_path, a model that does not load, an unknown output or input (prefixed with in_path),
// a failed write.
absl::StatusOr<PruneModelResult> PruneModelFile(const std::string& in_path,
                                                const PassOptions& options,
                                                const std::string& out_path);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_PRUNE_MODEL_H_
