// One feature's value as its model input, per kind (categorical id, numeric float or bucket id,
// sequence ids, cross input), driven by the feature's Plan. Values come as ValueViews, so a
// FeatureRow's values and a serialized tf.Example's run the same code; FeatureTransformer plans the
// features and assembles the request's columns from these. Internal to features/pipeline.
#ifndef RANKOPT_FEATURES_PIPELINE_FEATURE_VALUES_H_
#define RANKOPT_FEATURES_PIPELINE_FEATURE_VALUES_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

// A vocabulary's word -> index for the hot path: open addressing over a multiply-mix of the
// length and the first and last 8 bytes (no call into a hash library), the words in one buffer.
// Built once per plan; Find is safe for concurrent use.
class VocabularyIndex {
 public:
  // REQUIRES: distinct words (PlanCategorical checks).
  void Build(const std::vector<std::string>& words);
  bool empty() const { return slots_.empty(); }
  // The index of `word`, or -1.
  int64_t Find(absl::string_view word) const {
    if (slots_.empty()) return -1;
    const uint64_t h = Hash(word);
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.index < 0) return -1;
      if (slot.hash == h && slot.size == word.size() &&
          std::memcmp(bytes_.data() + slot.offset, word.data(), word.size()) == 0) {
        return slot.index;
      }
    }
  }

  static uint64_t Hash(absl::string_view s) {
    const size_t n = s.size();
    const char* d = s.data();
    uint64_t a = 0, b = 0;
    if (n >= 8) {
      std::memcpy(&a, d, 8);
      std::memcpy(&b, d + n - 8, 8);
    } else if (n >= 4) {
      uint32_t x, y;
      std::memcpy(&x, d, 4);
      std::memcpy(&y, d + n - 4, 4);
      a = x, b = y;
    } else if (n > 0) {
      a = static_cast<uint8_t>(d[0]) | static_cast<uint64_t>(static_cast<uint8_t>(d[n / 2])) << 8 |
          static_cast<uint64_t>(static_cast<uint8_t>(d[n - 1])) << 16;
    }
    uint64_t h = (a ^ 0x9E3779B97F4A7C15ULL) * 0xC2B2AE3D27D4EB4FULL;
    h ^= (b + n) * 0x165667B19E3779F9ULL;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ULL;
    return h ^ (h >> 29);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    int64_t index = -1;  // -1: empty
  };
  std::string bytes_;
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
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
  VocabularyIndex vocabulary_index;  // the same words; when built, lookups use it
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

// The vocabulary index of `word`, or -1.
inline int64_t VocabularyFind(const Plan& p, absl::string_view word) {
  if (!p.vocabulary_index.empty()) return p.vocabulary_index.Find(word);
  auto it = p.vocabulary.find(word);
  return it == p.vocabulary.end() ? -1 : it->second;
}

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

// How many boundaries are below `v` (<= v, or < v when `strict`): a branchless count that the
// compiler vectorizes, faster than a binary search for the short lists feature columns use.
// REQUIRES: v is not NaN, boundaries strictly increasing.
inline int64_t CountBelow(const float* boundaries, size_t n, float v, bool strict) {
  int64_t count = 0;
  if (strict) {
    for (size_t i = 0; i < n; ++i) count += boundaries[i] < v;
  } else {
    for (size_t i = 0; i < n; ++i) count += boundaries[i] <= v;
  }
  return count;
}

// Boundary lists up to this size are counted linearly (CountBelow), longer ones searched.
inline constexpr size_t kLinearBoundaries = 32;

// The common cases of ComputeFeature without a Status: a finite one-value number, an integer id
// in range, a string in the vocabulary. They write what the general functions below would and
// count nothing (none of these cases counts a stat). False: nothing written; take the general
// path (defaults, OOV hashing, lists, errors).
inline bool FastNumber(const Plan& p, const ValueView& value, double* x) {
  if (value.kind == ValueView::kFloat) {
    *x = value.floats[0];
  } else if (value.kind == ValueView::kInt) {
    *x = static_cast<double>(value.ints[0]);
  } else {
    return false;
  }
  if (!std::isfinite(*x)) return false;
  *x = std::clamp(*x, p.clamp_min, p.clamp_max);
  if (p.normalize) *x = (*x - p.subtract) / p.divide;
  return true;
}
inline bool FastNumericFloat(const Plan& p, const ValueView& value, float* out) {
  double x;
  if (!FastNumber(p, value, &x)) return false;
  const float f = static_cast<float>(x);
  if (!std::isfinite(f)) return false;
  *out = f;
  return true;
}
inline bool FastNumericId(const Plan& p, const ValueView& value, int64_t* id) {
  double x;
  if (!FastNumber(p, value, &x)) return false;
  const float v = static_cast<float>(x);
  if (v != v || p.boundaries.size() > kLinearBoundaries) return false;
  *id = CountBelow(p.boundaries.data(), p.boundaries.size(), v, p.equal_goes_below);
  return true;
}
inline bool FastCategoricalId(const Plan& p, const ValueView& value, int64_t* id) {
  if (value.kind == ValueView::kInt) {
    const int64_t i = value.ints[0];
    if (p.source == CategoricalSpec::Source::kPassthrough ||
        (p.source == CategoricalSpec::Source::kIdentity && i >= 0 && i < p.num_buckets)) {
      *id = i;
      return true;
    }
    return false;
  }
  if (value.kind == ValueView::kString && p.source == CategoricalSpec::Source::kVocabulary &&
      p.replace_values.empty()) {
    const int64_t index = VocabularyFind(p, value.string(0));
    if (index < 0) return false;
    *id = index;
    return true;
  }
  return false;
}

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
