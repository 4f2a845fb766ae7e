// Reads ONNX models into rankopt's Graph and writes them back. Unchanged parts are written back
// byte-for-byte: importing and exporting an untouched model reproduces the file exactly.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile("esmm.onnx"));
//   ...  // passes edit `graph`
//   RANKOPT_RETURN_IF_ERROR(ExportOnnxFile(graph, "esmm.opt.onnx"));
//
// Thread-safe: the functions share no mutable state. This header does not pull in ONNX's
// generated protobuf headers; include <onnx/onnx_pb.h> to use the in-memory ModelProto forms.
#ifndef RANKOPT_GRAPH_ONNX_ONNX_IO_H_
#define RANKOPT_GRAPH_ONNX_ONNX_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace rankopt {

// The default-domain opsets rankopt reads (inclusive): every released opset up to 21.
inline constexpr int kMinOnnxOpset = 1;
inline constexpr int kMaxOnnxOpset = 21;

// Reads the ONNX model at `path`, and the external data files its initializers name (PyTorch 2.x's
// `model.onnx.data`; graph/onnx/onnx_external_data.h), mapped read-only. Errors (naming the path,
// node and tensor) on a file that is not an ONNX model, an unsupported opset, external data out of
// its file or outside the model's directory, an input nothing produces, a tensor with two
// producers, or a cycle. The graph keeps the model as its source() for export.
absl::StatusOr<Graph> ImportOnnxFile(const std::string& path);

// ImportOnnxFile of bytes already in memory; `where` names them in errors. External data is an
// error here (there is no directory to read it from).
absl::StatusOr<Graph> ImportOnnxBytes(absl::string_view bytes,
                                      absl::string_view where = "<memory>");

// Converts a parsed model (see ImportOnnxFile for the mapping's errors). `where` names the model
// in error messages (a path, "<memory>").
absl::StatusOr<Graph> GraphFromOnnxModel(const onnx::ModelProto& model,
                                         absl::string_view where = "<memory>");

// Builds a ModelProto from `graph`: model-level fields come from the ONNX source the graph was
// imported from (or defaults: ir_version 8, opset 17, when it has none); graph inputs,
// initializers, nodes, outputs and value_info are rebuilt from the IR, reusing each unchanged
// source record as is. Errors when the IR cannot be written as ONNX (a dangling input, two
// producers of one tensor, an attribute type ONNX lacks). Does not run the ONNX checker.
absl::StatusOr<onnx::ModelProto> OnnxModelFromGraph(const Graph& graph);

// OnnxModelFromGraph, then writes the binary model to `path` (replacing it). A model imported with
// external data keeps it external: its data goes to `<path>.data` beside it (initializers of 1 KiB
// or more), as PyTorch writes it. Does not run the ONNX checker; call CheckOnnxModel on
// OnnxModelFromGraph's result to validate.
absl::Status ExportOnnxFile(const Graph& graph, const std::string& path);

// Runs onnx::checker::check_model; its complaint becomes an InvalidArgument error.
absl::Status CheckOnnxModel(const onnx::ModelProto& model);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ONNX_ONNX_IO_H_
