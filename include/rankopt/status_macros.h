// RANKOPT_RETURN_IF_ERROR / RANKOPT_ASSIGN_OR_RETURN: Debian's Abseil (20220623) predates its own
// status macros, so we carry the two we need.
#ifndef RANKOPT_INCLUDE_RANKOPT_STATUS_MACROS_H_
#define RANKOPT_INCLUDE_RANKOPT_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RANKOPT_STATUS_CONCAT_INNER_(a, b) a##b
#define RANKOPT_STATUS_CONCAT_(a, b) RANKOPT_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RANKOPT_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status rankopt_status_ = (expr);           \
    if (!rankopt_status_.ok()) return rankopt_status_; \
  } while (false)

// `lhs = value of (expr)`, or returns the error status of `expr` (an absl::StatusOr<T>).
// Example: RANKOPT_ASSIGN_OR_RETURN(Graph graph, LoadModel(path));
#define RANKOPT_ASSIGN_OR_RETURN(lhs, expr) \
  RANKOPT_ASSIGN_OR_RETURN_IMPL_(RANKOPT_STATUS_CONCAT_(rankopt_statusor_, __LINE__), lhs, expr)

#define RANKOPT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // RANKOPT_INCLUDE_RANKOPT_STATUS_MACROS_H_
