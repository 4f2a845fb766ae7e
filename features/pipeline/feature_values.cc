// One feature's value as its model input, per kind (feature_values.h).
#include "features/pipeline/feature_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "features/transforms/bucketize.h"
#include "features/transforms/hashing.h"
#include "features/transforms/numeric.h"
#include "rankopt/status_macros.h"

namespace rankopt::transformer_internal {
namespace {

absl::Status TypeError(const FeatureSpec& spec, Where where, const ValueView& value,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("feature '", spec.name, "' in ", where.ToString(),
                                                 ": expected ", expected, ", got ",
                                                 value.TypeName()));
}

// Decimal text of an integer, as TF's AsString writes it.
absl::string_view Decimal(int64_t value, char (&buf)[24]) {
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value);
  return absl::string_view(buf, static_cast<size_t>(r.ptr - buf));
}

// Categorical id of a string. `stats` may be null (values re-read for a cross).
absl::Status IdOfString(const Plan& p, absl::string_view s, Where where, FeatureStats* stats,
                        int64_t* id) {
  for (const auto& [from, to] : p.replace_values) {
    if (s == from) {
      s = to;
      break;
    }
  }
  switch (p.source) {
    case CategoricalSpec::Source::kHash:
      *id = HashToBucket(HashBytes(s, p.hash, p.seed), p.hash_buckets);
      return absl::OkStatus();
    case CategoricalSpec::Source::kVocabulary: {
      const int64_t index = VocabularyFind(p, s);
      if (index >= 0) {
        *id = index;
      } else if (p.oov_buckets > 0) {
        *id = p.vocabulary_size + HashToBucket(HashBytes(s, p.hash, p.seed), p.oov_buckets);
      } else {
        *id = p.default_id;
        Count(&FeatureStats::defaults_applied, stats);
      }
      return absl::OkStatus();
    }
    case CategoricalSpec::Source::kIdentity:
    case CategoricalSpec::Source::kPassthrough:
      return absl::InvalidArgumentError(absl::StrCat(
          "feature '", p.spec->name, "' in ", where.ToString(), ": expected an integer id (",
          p.source == CategoricalSpec::Source::kIdentity ? "identity" : "passthrough",
          " feature), got a string"));
  }
  return absl::InternalError("unknown categorical source");
}

int64_t IdOfInteger(const Plan& p, int64_t value, FeatureStats* stats) {
  switch (p.source) {
    case CategoricalSpec::Source::kHash:
      return HashToBucket(HashInteger(value, p.hash, p.seed, p.as_decimal), p.hash_buckets);
    case CategoricalSpec::Source::kVocabulary: {
      char buf[24];
      const absl::string_view text = Decimal(value, buf);
      const int64_t index = VocabularyFind(p, text);
      if (index >= 0) return index;
      if (p.oov_buckets > 0) {
        return p.vocabulary_size + HashToBucket(HashBytes(text, p.hash, p.seed), p.oov_buckets);
      }
      Count(&FeatureStats::defaults_applied, stats);
      return p.default_id;
    }
    case CategoricalSpec::Source::kIdentity:
      if (value >= 0 && value < p.num_buckets) return value;
      Count(&FeatureStats::out_of_range, stats);
      return p.default_id;
    case CategoricalSpec::Source::kPassthrough:
      return value;
  }
  return p.default_id;
}

}  // namespace

void VocabularyIndex::Build(const std::vector<std::string>& words) {
  bytes_.clear();
  size_t capacity = 4;
  while (capacity < 2 * words.size()) capacity *= 2;  // at most half full
  slots_.assign(words.empty() ? 0 : capacity, Slot());
  mask_ = capacity - 1;
  for (size_t w = 0; w < words.size(); ++w) {
    const uint64_t h = Hash(words[w]);
    uint64_t i = h & mask_;
    while (slots_[i].index >= 0) i = (i + 1) & mask_;
    slots_[i] = {h, bytes_.size(), words[w].size(), static_cast<int64_t>(w)};
    bytes_ += words[w];
  }
}

absl::Status CategoricalId(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                           int64_t* id) {
  switch (value.kind) {
    case ValueView::kMissing:
      Count(&FeatureStats::defaults_applied, stats);
      *id = p.default_id;
      return absl::OkStatus();
    case ValueView::kInt:
      *id = IdOfInteger(p, value.ints[0], stats);
      return absl::OkStatus();
    case ValueView::kString:
      return IdOfString(p, value.string(0), where, stats, id);
    default:
      break;
  }
  return TypeError(*p.spec, where, value,
                   p.source == CategoricalSpec::Source::kIdentity ||
                           p.source == CategoricalSpec::Source::kPassthrough
                       ? "an integer id"
                       : "a string or an integer");
}

int64_t BucketOf(const Plan& p, float v) {
  if (v == v && p.boundaries.size() <= kLinearBoundaries) {
    return CountBelow(p.boundaries.data(), p.boundaries.size(), v, p.equal_goes_below);
  }
  if (!p.equal_goes_below) return Bucketize(v, p.boundaries);
  // #boundaries < v (tf.Transform's apply_buckets, LowerBound).
  return std::lower_bound(p.boundaries.begin(), p.boundaries.end(), v) - p.boundaries.begin();
}

double Normalized(const Plan& p, double x) { return p.normalize ? (x - p.subtract) / p.divide : x; }

// A numeric value as the model sees it: a float, or its bucket id. `*missing` when the default
// applies (absent, NaN/Inf, or out of float range after normalizing).
absl::Status NumericValue(const Plan& p, const ValueView& value, Where where, double* x,
                          bool* missing) {
  *missing = false;
  switch (value.kind) {
    case ValueView::kMissing:
      *missing = true;
      return absl::OkStatus();
    case ValueView::kInt:
      *x = static_cast<double>(value.ints[0]);
      break;
    case ValueView::kFloat:
      *x = value.floats[0];
      break;
    case ValueView::kString:
      if (!p.from_string) {
        return TypeError(*p.spec, where, value,
                         "a number (declare `from_string: true` in the config to parse numbers "
                         "sent as text)");
      }
      if (!ParseNumber(value.string(0), x)) {
        return absl::InvalidArgumentError(
            absl::StrCat("feature '", p.spec->name, "' in ", where.ToString(), ": '",
                         value.string(0).substr(0, 40), "' is not a number"));
      }
      break;
    default:
      return TypeError(*p.spec, where, value, "a number");
  }
  if (!IsFiniteNumber(*x)) {
    *missing = true;
  } else {
    *x = std::clamp(*x, p.clamp_min, p.clamp_max);
  }
  return absl::OkStatus();
}

absl::Status NumericId(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                       int64_t* id) {
  double x = 0;
  bool missing;
  RANKOPT_RETURN_IF_ERROR(NumericValue(p, value, where, &x, &missing));
  if (missing) {
    Count(&FeatureStats::defaults_applied, stats);
    *id = p.default_id;
  } else {
    *id = BucketOf(p, static_cast<float>(Normalized(p, x)));
  }
  return absl::OkStatus();
}

absl::Status NumericFloat(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                          float* out) {
  double x = 0;
  bool missing;
  RANKOPT_RETURN_IF_ERROR(NumericValue(p, value, where, &x, &missing));
  const float f = missing ? 0.0f : static_cast<float>(Normalized(p, x));
  if (missing || !std::isfinite(f)) {
    Count(&FeatureStats::defaults_applied, stats);
    *out = p.default_value;
  } else {
    *out = f;
  }
  return absl::OkStatus();
}

// Writes max_len ids to `out`; returns the valid length through `length`.
absl::Status SequenceIds(const Plan& p, const ValueView& value, Where where, FeatureStats* stats,
                         int64_t* out, int64_t* length) {
  int64_t n = 0;
  const bool ints = value.kind == ValueView::kIntList;
  const bool strings = value.kind == ValueView::kStringList;
  if (value.missing()) {
    Count(&FeatureStats::defaults_applied, stats);
  } else if (ints || strings) {
    n = static_cast<int64_t>(value.size);
  } else if (value.kind != ValueView::kFloatList || value.size != 0) {
    return TypeError(*p.spec, where, value, "a list of integers or strings");
  }
  // Only the surviving elements are transformed: the last max_len (keep_last) or the first.
  const int64_t k = std::min(n, p.max_len);
  const int64_t start = p.keep_last ? n - k : 0;
  if (n > p.max_len) Count(&FeatureStats::truncated, stats);
  if (ints) {
    for (int64_t j = 0; j < k; ++j) out[j] = IdOfInteger(p, value.ints[start + j], stats);
  } else if (strings) {
    for (int64_t j = 0; j < k; ++j) {
      RANKOPT_RETURN_IF_ERROR(IdOfString(p, value.string(start + j), where, stats, &out[j]));
    }
  }
  for (int64_t j = k; j < p.max_len; ++j) out[j] = p.padding_id;
  *length = k;
  return absl::OkStatus();
}

// The 64-bit value a crossed feature contributes (TF sparse_cross: Fingerprint64 of strings,
// integers cast; ids for features that are not raw hashed categoricals). `*missing` if absent.
absl::Status CrossInput(const Plan& cross, const Plan& p, const ValueView& value, Where where,
                        uint64_t* out, bool* missing) {
  *missing = value.missing();
  if (*missing) return absl::OkStatus();
  const bool tf = cross.hash == HashFunction::kTfFingerprint64;
  if (p.kind == FeatureKind::kCategorical && p.source == CategoricalSpec::Source::kHash) {
    if (value.kind == ValueView::kInt) {
      const int64_t i = value.ints[0];
      *out = tf ? static_cast<uint64_t>(i)
                : HashInteger(i, HashFunction::kXxh64, cross.seed, cross.as_decimal);
      return absl::OkStatus();
    }
    if (value.kind == ValueView::kString) {
      const absl::string_view s = value.string(0);
      *out = tf ? TfFingerprint64(s) : Xxh64(s, cross.seed);
      return absl::OkStatus();
    }
    return TypeError(*p.spec, where, value, "a string or an integer");
  }
  int64_t id = 0;
  if (p.kind == FeatureKind::kCategorical) {
    RANKOPT_RETURN_IF_ERROR(CategoricalId(p, value, where, nullptr, &id));
  } else {
    RANKOPT_RETURN_IF_ERROR(NumericId(p, value, where, nullptr, &id));
  }
  *out = static_cast<uint64_t>(id);
  return absl::OkStatus();
}

}  // namespace rankopt::transformer_internal
