// ONNX external tensor data: initializers whose bytes live in a side file (TensorProto.data_location
// EXTERNAL, external_data {location, offset, length}), as PyTorch 2.x's default exporter writes
// them (`model.onnx` + `model.onnx.data`).
//
// Reading: every location is resolved against the model's directory and must stay inside it (no
// absolute path, no ".."), name a regular file, and hold [offset, offset + length) with length equal
// to the tensor's byte size. Each file is mapped once, read-only; tensors view the mapping (a
// tensor at an offset not aligned to its element size is copied instead).
//
// Writing: ExportOnnxFile keeps external data external (WriteOnnxExternalData).
//
// Thread-safety: an OnnxExternalData is used by one import at a time.
#ifndef RANKOPT_GRAPH_ONNX_ONNX_EXTERNAL_DATA_H_
#define RANKOPT_GRAPH_ONNX_ONNX_EXTERNAL_DATA_H_

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "graph/ir/graph.h"

namespace rankopt {

// Whether `proto` keeps its bytes in an external file.
bool IsOnnxExternal(const onnx::TensorProto& proto);

// The side files of one model, mapped on first use.
class OnnxExternalData {
 public:
  // `model_dir`: the directory of the .onnx file ("" = the current directory).
  explicit OnnxExternalData(std::string model_dir);

  // The value of the external tensor `proto` (IsOnnxExternal). `what` names it in errors
  // ("m.onnx: initializer 'w'"); errors say which field is wrong and what was expected.
  absl::StatusOr<Tensor> Load(const onnx::TensorProto& proto, absl::string_view what);

 private:
  struct File {
    std::shared_ptr<const void> mapping;  // null for an empty file
    uint64_t size = 0;
  };
  absl::StatusOr<const File*> Open(const std::string& location, absl::string_view what);

  std::string dir_;
  absl::flat_hash_map<std::string, File> files_;
};

// Moves the initializer data of `model`, about to be written to `model_path`, into the side file
// `<model_path>.data` (written to a temporary name, then renamed) and points the records at it:
// every record that is external (an unchanged record of an imported model, whose bytes come from
// `graph`'s Const of the same tensor name) and, when there is any such record, every raw_data of
// kMinExternalBytes or more. Does nothing when no record is external. Offsets are 64-byte aligned.
inline constexpr size_t kMinExternalBytes = 1024;
absl::Status WriteOnnxExternalData(const Graph& graph, const std::string& model_path,
                                   onnx::ModelProto* model);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ONNX_ONNX_EXTERNAL_DATA_H_
