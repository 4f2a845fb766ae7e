// The limits every entry point applies to untrusted models and requests, all taken from the one
// set in ModelOptions (rankopt/model.h): Model::Load and Score, `rankopt run`, `rankopt bench`
// and `rankopt serve` call these, so a limit means the same wherever a request comes in.
//
// Example:
//   ModelOptions limits;  // the defaults
//   RANKOPT_RETURN_IF_ERROR(CheckRequestLimits(request, limits));
#ifndef RANKOPT_SERVING_LIMITS_H_
#define RANKOPT_SERVING_LIMITS_H_

#include <string>

#include "absl/status/status.h"
#include "rankopt/model.h"
#include "rankopt/request.h"

namespace rankopt {

// Candidates per request (max_candidates) and elements per list value (max_sequence_length),
// checked before any work. InvalidArgument naming the limit and where it was exceeded.
absl::Status CheckRequestLimits(const Request& request, const ModelOptions& limits);

// Candidates (rows) of one request given as graph inputs, or asked of a benchmark: at most
// max_candidates. `what` names them in the error ("--candidates", "the request").
absl::Status CheckCandidateCount(int64_t candidates, const ModelOptions& limits,
                                 const std::string& what);

// A model path before anything reads it: a regular file of at most max_package_bytes, or a
// directory (a SavedModel; its files are read by the importer). InvalidArgument for a FIFO, a
// device or a socket (refused at once, without opening it) and for an oversized file; NotFound.
absl::Status CheckModelPath(const std::string& path, const ModelOptions& limits);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_LIMITS_H_
