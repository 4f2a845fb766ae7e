// What every kernel library shares for its error messages and shape checks: one NodeError
// format, dims as text, numpy broadcasting of two shapes. (Kernel libraries keep their own
// internal helpers on top; these are the pieces that were written twice.)
#ifndef RANKOPT_GRAPH_EXEC_KERNEL_ERRORS_H_
#define RANKOPT_GRAPH_EXEC_KERNEL_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "graph/exec/tensor_view.h"
#include "graph/ir/graph.h"

namespace rankopt {

// InvalidArgument "<op> node '<name>': <args...>".
template <typename... Args>
absl::Status NodeError(const Node& node, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(node.op, " node '", node.name, "': ", args...));
}

// "[2,3]".
std::string DimsString(absl::Span<const int64_t> dims);

// Numpy broadcast of two shapes; an error names the node and both shapes.
absl::StatusOr<Dims> BroadcastDims(const Node& node, absl::Span<const int64_t> a,
                                   absl::Span<const int64_t> b);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_KERNEL_ERRORS_H_
