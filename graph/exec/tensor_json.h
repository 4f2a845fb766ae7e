// Named tensors as JSON, the format of the peer reference files and of `rankopt run --inputs`:
//   {"inputs": {"user_id": {"dtype": "int64", "dims": [16], "data": [472, ...]}, ...},
//    "reference_outputs": {"prob": {"dims": [16, 1], "data": [0.51, ...]}}}
// "dtype" is a DTypeName ("float32", "int64", "bool", "string", ...; float32 when absent);
// "data" is the row-major element list (numbers; booleans may also be true/false; strings).
#ifndef RANKOPT_GRAPH_EXEC_TENSOR_JSON_H_
#define RANKOPT_GRAPH_EXEC_TENSOR_JSON_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "graph/exec/execution_plan.h"

namespace rankopt {

struct NamedTensor {
  std::string name;
  Tensor tensor;
  // kString: views of tensor.strings(), what FeedsOf binds (ParseTensorJson fills it; the
  // tensor's storage is shared, so the views survive copies and moves of this struct).
  std::vector<absl::string_view> string_views;
};

struct TensorJsonDocument {
  std::vector<NamedTensor> inputs;             // in file order
  std::vector<NamedTensor> reference_outputs;  // empty when the document has none
};

// Parses one document. Errors start with `where` (a file name, "file:line") and name the
// tensor and field: a missing "inputs" object, an unknown dtype, data of the wrong length or
// out of the dtype's range.
absl::StatusOr<TensorJsonDocument> ParseTensorJson(absl::string_view json, absl::string_view where);

// One request of an inputs file: its 1-based line, "file" or "file:line", and its JSON text.
struct TensorJsonRequest {
  int line = 1;
  std::string where;
  std::string text;
};

// The requests of a file's `text`: the whole text when it parses as one document (possibly
// pretty-printed), else one per non-blank line (JSON lines). Parse each with ParseTensorJson.
std::vector<TensorJsonRequest> SplitTensorJsonRequests(const std::string& path,
                                                       const std::string& text);

// Views of `tensors` to feed ExecutionPlan::Run; valid while `tensors` lives.
// REQUIRES: every tensor is fixed-width, or a string tensor with its string_views set.
std::vector<NamedTensorView> FeedsOf(const std::vector<NamedTensor>& tensors);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_TENSOR_JSON_H_
