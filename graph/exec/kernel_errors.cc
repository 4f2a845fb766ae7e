#include "graph/exec/kernel_errors.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace rankopt {

std::string DimsString(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

absl::StatusOr<Dims> BroadcastDims(const Node& node, absl::Span<const int64_t> a,
                                   absl::Span<const int64_t> b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      return NodeError(node, "shapes ", DimsString(a), " and ", DimsString(b),
                       " do not broadcast (numpy rules: dims must match or be 1)");
    }
  }
  return out;
}

}  // namespace rankopt
