#include "tools/optimize_flags.h"

#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "graph/passes/request_level.h"
#include "serving/request_level_inputs.h"

namespace rankopt {

std::vector<FlagSpec> OptimizeFlagSpecs(absl::string_view default_level, bool with_config) {
  std::vector<FlagSpec> flags = {
      {"opt-level", "O", true, "LEVEL",
       absl::StrCat("optimization level (default ", default_level,
                    "): 0 the graph as is; 1 folding and fusion; 2 also the request-level "
                    "split (user side once per request, fused DIN attention)")},
      {"request-inputs", "", true, "LIST",
       "O2: graph inputs that are the same for every candidate, e.g. "
       "user_id,hist_item_ids,dense[0:2] (columns 0-1 of a mixed input); default: the "
       "user/context features of --config"},
      {"int8", "", true, "off|auto|force",
       "embedding tables read only by embedding lookups (-O 1 and up) stored int8 row-wise: "
       "off (default); auto: each table whose int8 predictions stay within the accuracy gate "
       "(max abs diff 1e-2) on the sample requests, alone and together; force: every table"},
  };
  if (with_config) {
    flags.push_back({"config", "", true, "CONFIG",
                     "the feature config (YAML): its user/context features are request-level"});
  }
  return flags;
}

absl::StatusOr<OptimizeFlags> ReadOptimizeFlags(const CommandLine& line,
                                                absl::string_view default_level) {
  OptimizeFlags flags;
  absl::StatusOr<OptLevel> level = ParseOptLevel(line.Get("opt-level", std::string(default_level)));
  if (!level.ok()) return level.status();
  flags.level = *level;
  if (line.Has("request-inputs")) {
    absl::StatusOr<std::vector<RequestLevelInput>> inputs =
        ParseRequestInputs(line.Get("request-inputs"));
    if (!inputs.ok()) return inputs.status();
    flags.request_inputs = *std::move(inputs);
    flags.request_inputs_source = "--request-inputs";
  } else if (line.Has("config")) {
    absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(line.Get("config"));
    if (!config.ok()) return config.status();
    flags.request_inputs = RequestLevelInputsOf(*config);
    flags.request_inputs_source = absl::StrCat(line.Get("config"), " (user/context features)");
  }
  absl::StatusOr<TableQuantizationMode> int8 = ParseTableQuantizationMode(line.Get("int8", "off"));
  if (!int8.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--int8: ", int8.status().message()));
  }
  flags.int8 = *int8;
  return flags;
}

absl::Status CheckNoFlagsForPackage(const ModelSource& source, const CommandLine& line,
                                    const std::vector<std::string>& flags) {
  if (!source.package.has_value()) return absl::OkStatus();
  for (const std::string& flag : flags) {
    if (!line.Has(flag)) continue;
    const std::string shown = flag == "opt-level" ? "-O" : absl::StrCat("--", flag);
    return absl::InvalidArgumentError(absl::StrCat(
        shown, " does not apply to ", source.Describe(),
        ": its passes, int8 tables, request-level inputs and feature config were fixed by "
        "`rankopt optimize`; drop ",
        shown,
        ", or run `rankopt optimize` again (or pass the "
        "source model",
        source.package->source_path.empty() ? "" : absl::StrCat(" ", source.package->source_path),
        ")"));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
