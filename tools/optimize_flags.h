// The optimization flags `rankopt run` and `rankopt bench` share: -O LEVEL, for O2 which graph
// inputs are request-level (--request-inputs, or the user/context features of --config), and
// --int8 (which embedding tables are stored int8, applied after the passes).
#ifndef RANKOPT_TOOLS_OPTIMIZE_FLAGS_H_
#define RANKOPT_TOOLS_OPTIMIZE_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/passes/pass_pipeline.h"
#include "serving/model_source.h"
#include "serving/table_quantization.h"
#include "tools/command_line.h"

namespace rankopt {

// FlagSpecs for "opt-level" (-O), "request-inputs", "int8" and, when `with_config`, "config".
std::vector<FlagSpec> OptimizeFlagSpecs(absl::string_view default_level, bool with_config);

struct OptimizeFlags {
  OptLevel level = OptLevel::kO0;
  std::vector<RequestLevelInput> request_inputs;
  std::string request_inputs_source;  // "--request-inputs", "CONFIG (user/context features)", ""
  // --int8: off (default), auto (the tables the accuracy gate accepts) or force (every table).
  TableQuantizationMode int8 = TableQuantizationMode::kOff;
};

// Reads the flags; errors on a bad level, a bad --request-inputs list, an unreadable config or a
// bad --int8 mode.
absl::StatusOr<OptimizeFlags> ReadOptimizeFlags(const CommandLine& line,
                                                absl::string_view default_level);

// Errors (InvalidArgument) when `source` is a package and `line` has any of `flags` (names
// without dashes): the package has already fixed what they choose. The message says what the
// package holds and how to change it (`rankopt optimize` again, or the source model).
absl::Status CheckNoFlagsForPackage(const ModelSource& source, const CommandLine& line,
                                    const std::vector<std::string>& flags);

}  // namespace rankopt

#endif  // RANKOPT_TOOLS_OPTIMIZE_FLAGS_H_
