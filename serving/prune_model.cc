#include "serving/prune_model.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "graph/io/model_io.h"
#include "graph/passes/prune.h"

namespace rankopt {
namespace {

// True when `a` and `b` name the same existing file or directory.
bool SamePath(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

}  // namespace

absl::StatusOr<PruneModelResult> PruneModelFile(const std::string& in_path,
                                                const PassOptions& options,
                                                const std::string& out_path) {
  if (SamePath(in_path, out_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(out_path, ": refusing to overwrite the input model; pick another -o"));
  }
  absl::StatusOr<Graph> graph = LoadModel(in_path);
  if (!graph.ok()) return graph.status();
  Graph pruned(graph->format());
  absl::StatusOr<PassReport> report = PruneGraph(*graph, options, &pruned);
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(in_path, ": ", report.status().message()));
  }
  if (absl::Status saved = SaveModel(pruned, out_path); !saved.ok()) return saved;
  return PruneModelResult{*std::move(report), pruned.format()};
}

}  // namespace rankopt
