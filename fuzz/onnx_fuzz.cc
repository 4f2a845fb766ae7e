// Fuzzes ONNX import (the bytes as a .onnx file), then what a user does next with a graph that
// imported (fuzz/graph_follow_up.h).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "fuzz/graph_follow_up.h"
#include "graph/onnx/onnx_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<rankopt::Graph> graph = rankopt::ImportOnnxBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
  if (graph.ok()) rankopt::FuzzGraphFollowUp(*graph);
  return 0;
}
