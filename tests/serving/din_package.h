// Test fixture: the DIN peer model of tests/data/peers as a model package, built in process the
// way `rankopt optimize` builds it (O2 with configs/din.yaml's request-level inputs, optionally
// int8 tables), and requests for it derived from tests/data/features/requests_din.jsonl.
#ifndef RANKOPT_TESTS_SERVING_DIN_PACKAGE_H_
#define RANKOPT_TESTS_SERVING_DIN_PACKAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rankopt/request.h"
#include "serving/package/model_package.h"
#include "serving/table_quantization.h"

namespace rankopt {

// The DIN package with `int8` tables (kOff or kForce), named "din", of `version`.
absl::StatusOr<ModelPackage> BuildDinPackage(TableQuantizationMode int8,
                                             const std::string& version);

// The ESMM peer model (tests/data/peers/esmm.onnx, configs/esmm.yaml) the same way, named "esmm".
absl::StatusOr<ModelPackage> BuildEsmmPackage(TableQuantizationMode int8,
                                              const std::string& version);
// Requests for ESMM: every request of tests/data/features/requests_esmm.jsonl, the first one's
// first 1 and 7 candidates, another user id, and 200 candidates (its rows tiled).
absl::StatusOr<std::vector<Request>> EsmmRequests();

// Requests for DIN: the fixture's request, its first 1, 7 and 33 candidates, the same with another
// user id and a shorter history, and one with 200 candidates (the fixture's rows tiled).
absl::StatusOr<std::vector<Request>> DinRequests();

// The graph's scores for `request`, computed without the serving layer: the package's feature
// config, FeedsFromTransformedRequest and one unchunked ExecutionPlan::Run per head.
absl::StatusOr<std::vector<std::vector<float>>> ReferenceScores(const ModelPackage& package,
                                                                const Request& request);

// Two versions of the DIN package that score differently, for the tests of version changes: [0]
// with fp32 tables (version `fp32_version`), [1] with int8 tables (`int8_version`).
struct DinVersions {
  std::vector<ModelPackage> packages;
  std::vector<std::string> bytes;  // each package as WriteModelPackage writes it
  std::vector<Request> requests;   // the first `max_requests` of DinRequests()
  // want[v][r]: ReferenceScores(packages[v], requests[r]), per head.
  std::vector<std::vector<std::vector<std::vector<float>>>> want;
};
// Fails when the two versions score the first request alike (they must be told apart).
absl::StatusOr<DinVersions> BuildDinVersions(const std::string& fp32_version,
                                             const std::string& int8_version,
                                             size_t max_requests = SIZE_MAX);

// A fresh empty directory under the test temp dir.
std::string FreshTempDir(const std::string& name);

}  // namespace rankopt

#endif  // RANKOPT_TESTS_SERVING_DIN_PACKAGE_H_
