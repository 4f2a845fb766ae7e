// Requests made up for `rankopt optimize` without --sample and `rankopt bench` without
// --requests: from a feature config, one user (+ context) and N candidates whose every sent
// feature has a value its kind accepts, so the feature pipeline and the model run as on real
// traffic; without one, graph inputs from the plan's declared dtypes and shapes.
#ifndef RANKOPT_SERVING_SYNTHETIC_REQUESTS_H_
#define RANKOPT_SERVING_SYNTHETIC_REQUESTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "features/config/feature_config.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_json.h"
#include "graph/ir/graph.h"
#include "rankopt/request.h"
#include "serving/scorer.h"

namespace rankopt {

// Config table name -> rows, for the tables whose rows are known: TableSpec::rows, else the
// rows of the graph constant it names (after -O 2 and int8 too: a table keeps its name and rows).
absl::flat_hash_map<std::string, int64_t> TableRowsOf(const FeatureConfig& config,
                                                      const Graph& graph);

// One request with `candidates` candidates (deterministic: the same arguments give the same
// request). Values by kind, k counting candidates (0 for user/context features):
//   categorical/sequence elements: hash -> the string "v<k>"; vocabulary -> a vocabulary entry;
//     identity -> an integer in [1, bound), bound = min(num_buckets, the table's rows when known,
//     else 10) (0 when bound < 2);
//   numeric: bucketized -> between the first and last boundary (midpoints of consecutive
//     boundaries); standard-normalized -> mean +- stddev; min-max -> inside [min, max]; else in
//     [-1, 1]; sent as a string when from_string;
//   sequence: ceil(3/4 max_len) elements (the user has some history, not a full one);
//   cross and sequence_length features are computed, never sent.
Request SynthesizeFeatureRequest(const FeatureConfig& config,
                                 const absl::flat_hash_map<std::string, int64_t>& table_rows,
                                 int64_t candidates);

// SynthesizeFeatureRequest's request with `candidates` candidates fed through `scorer` (its
// feature config and one-row rule: what Model::Score feeds), as owned graph inputs. Errors: the
// scorer has no feature config, or the request does not transform or feed.
absl::StatusOr<std::vector<NamedTensor>> SynthesizeScorerInputs(
    const Scorer& scorer, const absl::flat_hash_map<std::string, int64_t>& table_rows,
    int64_t candidates);

// Graph inputs for a model without feature config, from the declared dtypes and shapes of
// `inputs`: unknown leading dims are `candidates`, other unknown dims 1; integers 1..9 (small
// ids, in range of any vocabulary of >= 10 rows), floats 0.5. Errors name an input of a dtype
// other than float32/64, int32/64 and bool.
absl::StatusOr<std::vector<NamedTensor>> SynthesizeGraphInputs(
    absl::Span<const ExecutionPlan::Input> inputs, int64_t candidates);

// Rows to tile into requests of any size: `rankopt bench --requests`.
struct RequestTemplate {
  std::vector<NamedTensor> tensors;  // the inputs `plan` reads, as in the file
  int64_t rows = 0;                  // candidate rows of the template
};

// The first request of `path` (a `rankopt run --inputs` JSON file, or JSON lines: its first
// line), keeping the inputs `plan` reads. Errors: unreadable, not tensor JSON, a non-numeric input,
// no input with candidate rows.
absl::StatusOr<RequestTemplate> LoadRequestTemplate(const std::string& path,
                                                    const ExecutionPlan& plan);

// Rows 0..n-1 of the template, row r taken from template row r % rows (inputs without candidate
// rows as they are). REQUIRES: `t` came from LoadRequestTemplate with the same plan.
absl::StatusOr<std::vector<NamedTensor>> TileRequest(const RequestTemplate& t,
                                                     const ExecutionPlan& plan, int64_t n);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_SYNTHETIC_REQUESTS_H_
