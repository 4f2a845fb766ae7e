// Loading and saving models in any supported format: the one entry point tools and services use,
// so that callers never branch on formats themselves.
#ifndef RANKOPT_GRAPH_IO_MODEL_IO_H_
#define RANKOPT_GRAPH_IO_MODEL_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"

namespace rankopt {

// The format of the model at `path`: a SavedModel directory (or its saved_model.pb), an ONNX file,
// a binary or text GraphDef. Decided by what the path is and by the file's first bytes, with the
// extension as a tie-breaker. Errors for missing, empty or unreadable paths.
absl::StatusOr<ModelFormat> DetectModelFormat(const std::string& path);

// Reads and validates the model at `path` (format detected as above).
absl::StatusOr<Graph> LoadModel(const std::string& path);

struct LoadModelOptions {
  // A SavedModel's MetaGraphDef: the one whose tags include every comma-separated tag here, like
  // saved_model_cli's --tag_set ("" = "serve"). Set for another kind of model: InvalidArgument.
  std::string saved_model_tags;
};

// LoadModel with options.
absl::StatusOr<Graph> LoadModel(const std::string& path, const LoadModelOptions& options);

// Writes `graph` to `path` in graph.format(), so it loads where the source loaded: a file for
// GraphDef and ONNX (a GraphDef goes out as text when `path` ends in .pbtxt), a directory for a
// SavedModel.
absl::Status SaveModel(const Graph& graph, const std::string& path);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_IO_MODEL_IO_H_
