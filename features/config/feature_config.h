// The feature config: which raw request values a model takes, how each becomes the ids or floats
// its graph inputs expect, and which embedding tables they index. Loaded from YAML (format and a
// complete example: configs/README.md) and fully validated on load, so later stages never
// re-check it.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(FeatureConfig config, LoadFeatureConfig("configs/din.yaml"));
//   const FeatureSpec* item = config.FindFeature("item_id");
//
// A FeatureConfig is a plain value: immutable after load, safe to read from many threads.
#ifndef RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_H_
#define RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "features/transforms/hash_function.h"

namespace rankopt {

// Who sends a feature: user and context values come once per request, item values once per
// candidate. Only item features vary across the candidates of one request.
enum class FeatureSide { kUser, kContext, kItem };

// What a feature's raw value is and what it becomes.
enum class FeatureKind {
  kCategorical,     // one string or integer -> one id
  kNumeric,         // one number -> a float (maybe normalized), or an id when bucketized
  kSequence,        // a list of categorical values -> max_len ids, padded/truncated
  kCross,           // two or more features' values hashed together -> one id
  kSequenceLength,  // the valid length of a sequence feature after truncation (not sent)
};

// A scalar `default:` from the YAML: an integer, a float, or a (quoted or non-numeric) string.
using ConfigValue = std::variant<int64_t, double, std::string>;

// Where something was written in the config, for error messages.
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0: unknown
  int column = 0;  // 1-based; 0: unknown

  // "file:line:col" (or just "file" when the line is unknown).
  std::string ToString() const;
};

// How a categorical value (or each sequence element, or a cross) becomes an id.
struct CategoricalSpec {
  // kPassthrough: any integer used as is, unchecked (a TF graph that reads raw int64 values).
  enum class Source { kHash, kVocabulary, kIdentity, kPassthrough };
  Source source = Source::kHash;
  int64_t hash_buckets = 0;                  // kHash (and kCross): ids in [0, hash_buckets)
  HashFunction hash = HashFunction::kXxh64;  // kHash, kCross, and kVocabulary's OOV buckets
  uint64_t seed = 0;                         // xxh64 seed (tf_fingerprint64 is unseeded)
  bool hash_integers_as_decimal = false;     // TF hashed columns over ints hash the decimal string
  std::vector<std::string> vocabulary;       // kVocabulary: value -> its index
  std::string vocabulary_file;  // kVocabulary: where `vocabulary` came from (resolved path);
                                // empty when it was given inline
  int64_t oov_buckets = 1;      // kVocabulary: unknown values -> vocab.size() + hash % oov_buckets
  // kVocabulary with oov_buckets 0: the id of unknown and missing values, as TF's lookup table
  // default_value (often -1: OneHot makes zeros of it). Unset: the `default` value's id, or 0.
  std::optional<int64_t> default_id;
  // kHash, kVocabulary: string values replaced before the transform, e.g. {"", "__empty__"}
  // (BigQuery ML exports map the empty string to a vocabulary token this way).
  std::vector<std::pair<std::string, std::string>> replace_values;
  int64_t num_buckets = 0;  // kIdentity: integer ids used as is, valid in [0, num_buckets)

  // The ids this spec produces lie in [0, NumIds()).
  int64_t NumIds() const;
};

// How a numeric value becomes a float, or an id when `boundaries` is set.
struct NumericSpec {
  // Non-empty: bucketize (TF Bucketize: id = number of boundaries <= value), ids in
  // [0, boundaries.size()]. Strictly increasing, finite.
  std::vector<float> boundaries;
  // Where a value equal to a boundary goes. kAbove (default): TF Bucketize / UpperBound, id =
  // #boundaries <= value. kBelow: TF LowerBound, id = #boundaries < value.
  enum class BoundaryEqual { kAbove, kBelow };
  BoundaryEqual boundary_equal = BoundaryEqual::kAbove;
  enum class Normalize { kNone, kStandard, kMinMax };
  Normalize normalize = Normalize::kNone;  // kStandard: (x - mean) / stddev;
  double mean = 0, stddev = 1;             //   stddev > 0
  double min = 0, max = 1;                 // kMinMax: (x - min) / (max - min); max > min
  bool from_string = false;  // the value arrives as a string ("23"), parsed as a number
  // Optional clamps of the raw value, before normalizing or bucketizing (YAML `clamp_min`,
  // `clamp_max`): an outlier (a price of 1e30) is held at the bound the model was trained on.
  std::optional<double> clamp_min, clamp_max;
};

// The embedding table a feature's ids index. Several features may name the same table (shared).
struct EmbeddingSpec {
  std::string table;
  int64_t dim = 0;  // always filled after load (from the feature or from the table entry)
};

// Which end of an over-long sequence survives. Sequences are oldest-first.
enum class Truncation {
  kKeepLast,   // keep the most recent max_len elements (default)
  kKeepFirst,  // keep the oldest max_len elements
};

// One input feature.
struct FeatureSpec {
  std::string name;
  FeatureSide side = FeatureSide::kUser;
  FeatureKind kind = FeatureKind::kCategorical;
  std::string input;      // the graph input it feeds (default: name)
  int input_column = -1;  // >= 0: column of a [B, C] input several features share (DIN's `dense`)
  CategoricalSpec categorical;  // kCategorical, kSequence elements, kCross
  NumericSpec numeric;          // kNumeric
  int64_t max_len = 0;  // kSequence: output length, >= 1; kSequenceLength: copied from the sequence
  int64_t padding_id = 0;                         // kSequence: id written after the valid elements
  Truncation truncation = Truncation::kKeepLast;  // kSequence
  std::vector<std::string> crossed;  // kCross: the features crossed (hash of their values), >= 2
  std::string
      length_of;  // kSequenceLength: the sequence whose valid length this is (DIN's hist_len)
  // For a missing/NaN/Inf/out-of-range value. Numeric: always a double. Identity: an int64 id in
  // range. Absent: id 0 / number 0.0. Never set for kSequence, kCross, kSequenceLength.
  std::optional<ConfigValue> default_value;
  std::optional<EmbeddingSpec> embedding;
  SourceLocation location;  // the feature's entry in the YAML

  // True when the feature produces int64 ids (categorical, sequence, cross, bucketized numeric,
  // sequence_length); false when it produces floats (numeric without boundaries).
  bool ProducesIds() const;
  // Ids produced lie in [0, NumIds()); 0 for float features; max_len + 1 for kSequenceLength.
  int64_t NumIds() const;
};

// An embedding table: shape [rows, dim] and where its weights come from.
struct TableSpec {
  std::string name;
  int64_t rows = 0;  // 0: taken from the weights (mini and full models differ only in rows)
  int64_t dim = 0;   // always filled after load
  DType dtype = DType::kFloat32;  // kFloat32 / kFloat16 / kInt8 (int8 row-wise)
  enum class Source { kGraphConstant, kNpy };
  Source source = Source::kGraphConstant;
  std::string source_name;  // kGraphConstant: the constant/initializer name; kNpy: resolved path
  SourceLocation location;
};

// A whole model's features and tables, as loaded and validated.
struct FeatureConfig {
  std::string path;   // the file it was loaded from (the source name for parsed text)
  std::string model;  // free-form model name ("din")
  bool ignore_unknown_features = false;  // request features not listed here: ignored, not an error
  std::vector<FeatureSpec> features;     // in file order
  std::vector<TableSpec> tables;         // in file order

  // The feature or table with that name; nullptr if none.
  const FeatureSpec* FindFeature(absl::string_view name) const;
  const TableSpec* FindTable(absl::string_view name) const;
};

// Lower-case YAML spellings ("user", "sequence_length", "keep_last", "fp16", ...).
absl::string_view FeatureSideName(FeatureSide side);
absl::string_view FeatureKindName(FeatureKind kind);
absl::string_view TruncationName(Truncation truncation);

// Reads and validates a YAML feature config. Relative paths in it (vocabulary_file, npy weights)
// are relative to the file's folder. Errors (InvalidArgument; NotFound for unreadable files) name
// file:line:column and say what was expected. Never throws.
absl::StatusOr<FeatureConfig> LoadFeatureConfig(const std::string& path);

// Like LoadFeatureConfig, from text. `source_name` names the text in errors and becomes
// FeatureConfig::path; relative paths resolve against `base_dir` ("" = current directory).
absl::StatusOr<FeatureConfig> ParseFeatureConfig(absl::string_view yaml_text,
                                                 const std::string& source_name,
                                                 const std::string& base_dir = "");

// A YAML text that ParseFeatureConfig reads back into an equal config (vocabularies inline,
// paths as resolved). For model packages, which must not depend on files next to the config.
// With `vocabulary_files`, a vocabulary whose vocabulary_file is set is written as that path
// instead (the caller writes the file; `rankopt lift` does).
std::string FeatureConfigToYaml(const FeatureConfig& config, bool vocabulary_files = false);

}  // namespace rankopt

#endif  // RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_H_
