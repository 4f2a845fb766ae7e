#include "serving/model_source.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/io/model_io.h"
#include "rankopt/status_macros.h"
#include "serving/limits.h"
#include "serving/package/model_package.h"

namespace rankopt {

bool IsModelPackageFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  if (!in.read(magic, sizeof(magic))) return false;
  return absl::string_view(magic, sizeof(magic)) == kModelPackageMagic;
}

std::string ModelSource::Describe() const {
  if (!package.has_value()) return path;
  return absl::StrCat(path, " (model package ", package->name, " v", package->version, ": ",
                      package->opt_level, ", int8 ", package->int8_mode, ")");
}

absl::StatusOr<ModelSource> LoadModelSource(const std::string& path, const ModelOptions& limits) {
  RANKOPT_RETURN_IF_ERROR(CheckModelPath(path, limits));
  ModelSource source;
  source.path = path;
  if (!IsModelPackageFile(path)) {
    absl::StatusOr<Graph> graph = LoadModel(path);
    if (!graph.ok() && absl::EndsWith(path, ".rkp")) {
      // A package whose first bytes were damaged would otherwise be reported as a bad GraphDef.
      return absl::DataLossError(absl::StrCat(
          path, ": a .rkp file without the model package header (its first 8 bytes are not the "
                "package magic): the package is damaged, or not one; write it again with "
                "`rankopt optimize`"));
    }
    if (!graph.ok()) return graph.status();
    source.graph = *std::move(graph);
    return source;
  }
  ReadPackageOptions read;
  read.max_file_bytes = limits.max_package_bytes;
  read.max_graph_nodes = limits.max_graph_nodes;
  read.max_tensor_bytes = limits.max_tensor_bytes;
  read.verify_checksums = limits.verify_checksums;
  read.copy_below_bytes = limits.copy_package_below_bytes;
  RANKOPT_ASSIGN_OR_RETURN(ModelPackage package, ReadModelPackage(path, read));
  PackageInfo info;
  info.name = package.model_name;
  info.version = package.model_version;
  info.opt_level = package.opt_level;
  info.int8_mode = package.int8_mode;
  info.source_path = package.source_path;
  source.package = std::move(info);
  source.graph = std::move(package.graph);
  source.outputs = std::move(package.outputs);
  source.request_level_inputs = std::move(package.request_level_inputs);
  source.warmup_requests = std::move(package.warmup_requests);
  if (!package.feature_config_yaml.empty()) {
    absl::StatusOr<FeatureConfig> config =
        ParseFeatureConfig(package.feature_config_yaml, absl::StrCat(path, " (feature config)"));
    if (!config.ok()) {
      return absl::Status(config.status().code(),
                          absl::StrCat(path, ": the package's feature config does not load: ",
                                       config.status().message()));
    }
    source.feature_config = *std::move(config);
  }
  return source;
}

}  // namespace rankopt
