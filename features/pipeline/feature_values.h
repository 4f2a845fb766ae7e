// One feature's value as its model input, per kind (categorical id, numeric float or bucket id,
// sequence ids, cross input), driven by the feature's Plan. Values come as ValueViews, so a
// FeatureRow's values and a serialized tf.Example's run the same code; FeatureTransformer plans the
// features and assembles the request's columns from these. Internal to features/pipeline.
#ifndef RANKOPT_FEATURES_PIPELINE_FEATURE_VALUES_H_
#define RANKOPT_FEATURES_PIPELINE_FEATURE_VALUES_H_

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/pipeline/value_view.h"
#include "features/transforms/hashing.h"
#include "rankopt/request.h"

namespace rankopt::transformer_internal {

inline int SideIndex(FeatureSide side) { return static_cast<int>(side); }

// Where a value came from, formatted only when an error needs it.
struct Where {
  int side;           // SideIndex
  int64_t candidate;  // for the item side

  std::string ToString() const {
    if (side == SideIndex(FeatureSide::kItem)) return absl::StrCat("candidates[", candidate, "]");
    return side == SideIndex(FeatureSide::kUser) ? "user" : "context";
  }
};

// One feature, planned: everything Transform needs without looking at the config again.
struct Plan {
  const FeatureSpec* spec = nullptr;
  int side = 0;
  FeatureKind kind = FeatureKind::kCategorical;
  bool produces_ids = true;
  // Destination: column, offset within a row, and whether a request-level value is broadcast into
  // every row of an item column.
  int column = 0;
  int64_t offset = 0;
  bool broadcast = false;

  // Categorical (also sequence elements and crosses).
  CategoricalSpec::Source source = CategoricalSpec::Source::kHash;
  HashFunction hash = HashFunction::kXxh64;
  uint64_t seed = 0;
  bool as_decimal = false;
  int64_t hash_buckets = 0;
  absl::flat_hash_map<std::string, int64_t> vocabulary;
  int64_t vocabulary_size = 0;
  int64_t oov_buckets = 0;
  int64_t num_buckets = 0;
  int64_t default_id = 0;
  std::vector<std::pair<std::string, std::string>> replace_values;  // applied to strings first

  // Numeric.
  absl::Span<const float> boundaries;
  bool equal_goes_below = false;  // NumericSpec::BoundaryEqual::kBelow
  bool normalize = false;
  double subtract = 0, divide = 1;
  bool from_string = false;
  double clamp_min = -std::numeric_limits<double>::infinity();  // the raw value's bounds
  double clamp_max = std::numeric_limits<double>::infinity();
  float default_value = 0;  // the default, transformed (kFloat32 output)

  // Sequence.
  int64_t max_len = 0;
  int64_t padding_id = 0;
  bool keep_last = true;

  // Derived.
  int length_of = -1;
  std::vector<int> crossed;
};

// Adds one to `stats->*field` unless `stats` is null.
inline void Count(int64_t FeatureStats::*field, FeatureStats* stats) {
  if (stats != nullptr) ++(stats->*field);
}

// The categorical id of `value` (hashed, looked up or taken as is); the default when it is
// missing, out of range or not in the vocabulary. `stats` may be null.
absl::Status CategoricalId(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                           int64_t* id);

// `x` after the feature's normalization (none, standard or min-max).
double Normalized(const Plan& p, double x);

// A numeric value as the model sees it, before normalizing. `*missing` when the default applies
// (absent, NaN/Inf).
absl::Status NumericValue(const Plan& p, const ValueView& value, Where where, double* x,
                          bool* missing);

// The bucket of a finite float under p's boundaries and boundary_equal.
int64_t BucketOf(const Plan& p, float v);

// The bucket id of a numeric value (with boundaries); the default when it is missing.
absl::Status NumericId(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                       int64_t* id);

// The normalized float of a numeric value; the default when it is missing or not finite.
absl::Status NumericFloat(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                          float* out);

// Writes max_len ids to `out` (truncated, then padded); returns the valid length through `length`.
absl::Status SequenceIds(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                         int64_t* out, int64_t* length);

// The 64-bit value crossed feature `p` contributes to `cross` (TF sparse_cross semantics).
// `*missing` if absent.
absl::Status CrossInput(const Plan& cross, const Plan& p, const ValueView& value, Where where,
                        uint64_t* out, bool* missing);

}  // namespace rankopt::transformer_internal

#endif  // RANKOPT_FEATURES_PIPELINE_FEATURE_VALUES_H_
