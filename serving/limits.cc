#include "serving/limits.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// Elements of a list value; 0 for a scalar.
size_t ListSize(const FeatureValue& value) {
  return std::visit(
      [](const auto& v) -> size_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                      std::is_same_v<T, std::vector<double>> ||
                      std::is_same_v<T, std::vector<std::string>>) {
          return v.size();
        } else {
          return 0;
        }
      },
      value);
}

absl::Status CheckRow(const FeatureRow& row, int64_t limit, absl::string_view where) {
  for (const FeatureRow::Entry& entry : row.entries()) {
    const size_t n = ListSize(entry.second);
    if (static_cast<int64_t>(n) > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".", entry.first, " has ", n, " elements; at most ", limit,
                       " are allowed (ModelOptions::max_sequence_length)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCandidateCount(int64_t candidates, const ModelOptions& limits,
                                 const std::string& what) {
  if (candidates <= limits.max_candidates) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " has ", candidates, " candidates; at most ",
                                                 limits.max_candidates,
                                                 " are allowed (ModelOptions::max_candidates)"));
}

absl::Status CheckRequestLimits(const Request& request, const ModelOptions& limits) {
  RANKOPT_RETURN_IF_ERROR(
      CheckCandidateCount(static_cast<int64_t>(request.candidates.size()), limits, "the request"));
  RANKOPT_RETURN_IF_ERROR(CheckRow(request.user, limits.max_sequence_length, "user"));
  RANKOPT_RETURN_IF_ERROR(CheckRow(request.context, limits.max_sequence_length, "context"));
  for (size_t i = 0; i < request.candidates.size(); ++i) {
    RANKOPT_RETURN_IF_ERROR(CheckRow(request.candidates[i], limits.max_sequence_length,
                                     absl::StrCat("candidates[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status CheckModelPath(const std::string& path, const ModelOptions& limits) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
    }
    return absl::UnavailableError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return absl::OkStatus();
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": is not a regular file (a FIFO, socket or device); expected a model "
                     "file, a SavedModel directory or a package"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > limits.max_package_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the file is ", size, " bytes, more than the limit of ",
                     limits.max_package_bytes, " (ModelOptions::max_package_bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
