// A model to run or benchmark (what `rankopt run` and `rankopt bench` accept as MODEL): a model file or SavedModel directory
// (graph/io/model_io.h), or a model package (.rkp, recognised by its magic, not its name) that
// `rankopt optimize` wrote. A package's graph is used as is (its passes already ran, its tables
// are already quantized), with its output heads, request-level inputs and feature config.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(ModelSource model, LoadModelSource("din.rkp"));
//   if (model.package) { ... model.outputs, model.feature_config ... }
#ifndef RANKOPT_SERVING_MODEL_SOURCE_H_
#define RANKOPT_SERVING_MODEL_SOURCE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "features/config/feature_config.h"
#include "graph/ir/graph.h"
#include "rankopt/model.h"

namespace rankopt {

// The first 8 bytes of every model package.
inline constexpr absl::string_view kModelPackageMagic("RKPKG\0\0\1", 8);

// True when `path` is a regular file that starts with kModelPackageMagic (false for directories,
// unreadable and short files: those are left to LoadModel's errors).
bool IsModelPackageFile(const std::string& path);

// What a package adds to its graph.
struct PackageInfo {
  std::string name;
  std::string version;
  std::string opt_level;  // "O2"
  std::string int8_mode;  // "auto"
  std::string source_path;
};

struct ModelSource {
  std::string path;
  Graph graph{ModelFormat::kOnnx};
  // Set for a package; then the fields below come from it.
  std::optional<PackageInfo> package;
  std::vector<std::string> outputs;               // PlanOptions::outputs (empty: the defaults)
  std::vector<std::string> request_level_inputs;  // ChunkedRunnerOptions::request_level_inputs
  std::optional<FeatureConfig> feature_config;    // the package's config, parsed and validated
  std::vector<std::string> warmup_requests;       // JSON requests

  // "din.rkp (model package din v1: O2, int8 auto)" or just the path.
  std::string Describe() const;
};

// Loads a package (IsModelPackageFile) with ReadModelPackage, or any other model with LoadModel,
// under `limits` (ModelOptions: the file checked before any read by CheckModelPath, serving/
// limits.h; a package's graph nodes and tensor bytes). Errors name the path and what is wrong.
absl::StatusOr<ModelSource> LoadModelSource(const std::string& path,
                                            const ModelOptions& limits = {});

}  // namespace rankopt

#endif  // RANKOPT_SERVING_MODEL_SOURCE_H_
