#include "graph/io/model_io.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/onnx/onnx_io.h"
#include "graph/tf/graphdef_io.h"
#include "graph/tf/saved_model_io.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kSavedModelFile = "saved_model.pb";

bool HasTextExtension(const std::string& path) {
  return absl::EndsWith(path, ".pbtxt") || absl::EndsWith(path, ".pbtext") ||
         absl::EndsWith(path, ".txt");
}

// A SavedModel directory, or the directory holding `path` when it names saved_model.pb.
std::string SavedModelDir(const std::string& path) {
  fs::path p(path);
  if (p.filename() == std::string(kSavedModelFile)) return p.parent_path().string();
  return path;
}

absl::StatusOr<ModelFormat> DetectDirectoryFormat(const std::string& path) {
  std::error_code ec;
  if (fs::exists(fs::path(path) / std::string(kSavedModelFile), ec)) {
    return ModelFormat::kTfSavedModel;
  }
  // TF Serving lays out versions as <model>/<version>/saved_model.pb: point at the newest.
  std::string newest;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / std::string(kSavedModelFile), ec)) {
      std::string name = entry.path().string();
      if (newest.empty() || name > newest) newest = name;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": a directory without ", kSavedModelFile, "; expected a SavedModel directory",
      newest.empty() ? "" : absl::StrCat(" such as ", newest)));
}

}  // namespace

absl::StatusOr<ModelFormat> DetectModelFormat(const std::string& path) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  if (fs::is_directory(status)) return DetectDirectoryFormat(path);
  // Before any open: opening a FIFO waits for a writer, and a device never ends.
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": is not a regular file (a FIFO, socket or device); expected a model file (.pb, "
        ".pbtxt, .onnx) or a SavedModel directory"));
  }
  if (fs::path(path).filename() == std::string(kSavedModelFile)) {
    return ModelFormat::kTfSavedModel;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for reading"));
  char first = 0;
  if (!in.get(first)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": empty file; expected a model (.pb, .pbtxt, .onnx or a SavedModel)"));
  }
  if (absl::EndsWith(path, ".onnx")) return ModelFormat::kOnnx;
  if (HasTextExtension(path)) return ModelFormat::kTfGraphDefText;
  // An ONNX ModelProto opens with ir_version (field 1, varint: tag 0x08); a GraphDef with its
  // nodes (field 1, length-delimited: 0x0a), library (0x12), version (0x18) or versions (0x22).
  if (first == 0x08) return ModelFormat::kOnnx;
  return ModelFormat::kTfGraphDef;
}

absl::StatusOr<Graph> LoadModel(const std::string& path) { return LoadModel(path, {}); }

absl::StatusOr<Graph> LoadModel(const std::string& path, const LoadModelOptions& options) {
  RANKOPT_ASSIGN_OR_RETURN(ModelFormat format, DetectModelFormat(path));
  if (!options.saved_model_tags.empty() && format != ModelFormat::kTfSavedModel) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tags ('", options.saved_model_tags,
                     "') pick a SavedModel's MetaGraphDef; this model is not a SavedModel"));
  }
  switch (format) {
    case ModelFormat::kTfSavedModel: {
      SavedModelOptions saved;
      if (!options.saved_model_tags.empty()) saved.tags = options.saved_model_tags;
      return ImportSavedModel(SavedModelDir(path), saved);
    }
    case ModelFormat::kOnnx:
      return ImportOnnxFile(path);
    case ModelFormat::kTfGraphDef:
    case ModelFormat::kTfGraphDefText:
      return ImportGraphDefFile(path);
  }
  return absl::InternalError("unhandled model format");
}

absl::Status SaveModel(const Graph& graph, const std::string& path) {
  switch (graph.format()) {
    case ModelFormat::kTfSavedModel:
      return ExportSavedModel(graph, path);
    case ModelFormat::kOnnx:
      return ExportOnnxFile(graph, path);
    case ModelFormat::kTfGraphDef:
    case ModelFormat::kTfGraphDefText: {
      if (HasTextExtension(path) == (graph.format() == ModelFormat::kTfGraphDefText)) {
        return ExportGraphDefFile(graph, path);
      }
      Graph copy = graph;  // cheap: tensors share storage
      copy.set_format(HasTextExtension(path) ? ModelFormat::kTfGraphDefText
                                             : ModelFormat::kTfGraphDef);
      return ExportGraphDefFile(copy, path);
    }
  }
  return absl::InternalError("unhandled model format");
}

}  // namespace rankopt
